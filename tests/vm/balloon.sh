#!/bin/bash
# tests/vm/balloon.sh - pvio_balloon.ko end to end: pviod's balloon device,
# a QEMU guest of 1 GiB whose RAM is a file in /dev/shm (memory-backend-file,
# share=on) and the ivshmem-doorbell device; the guest half is
# tests/vm/guest/balloon.sh (inflate, deflate, integrity over 10 cycles,
# pressure, a target too big, free page reporting, reload).
#
#   guest RAM  /dev/shm/pvio-vmbal-PID   1 GiB, the host's view of it
#   bal0       floor 128M, statistics every 500 ms, reporting offered
#
# The guest asks for the host's half with "PVIO-SYNC ..." console lines:
# "balloon-set SIZE [LABEL]" runs "pvioctl balloon vm bal0 set SIZE --wait"
# and samples the RAM file's allocated blocks (st_blocks * 512) before and
# after; "host-blocks LABEL" samples them once.  The host then checks:
# inflating 256 MiB gave back >= 99% of 256 MiB; free page reporting gave
# back memory with no target change; the guest's statistics, its pressure
# deflation and the direct reclaim the pressure caused reached pviod; no
# device broke; no sanitizer report.
# Everything started here is stopped by PID; files are removed on exit.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
TMP=$(mktemp -d /tmp/pvio-vmbal.XXXXXX)
RAM=/dev/shm/pvio-vmbal-$$
SOCK=$TMP/guest.sock
CTL=$TMP/control.sock
LOG=$BUILD/balloon.log
VM_PID=
STALLED=
STALL_PID=
declare -A BLOCKS=()

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	if [ -n "$STALL_PID" ]; then
		kill -CONT "$STALLED" 2>/dev/null
		wait "$STALL_PID" 2>/dev/null
	fi
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/balloon-pviod.log"
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

blocks() { echo $(($(stat -c %b "$RAM") * $(stat -c %B "$RAM"))); }
mib() { echo $(($1 >> 20)); }

# act LINE: the host's half of one "PVIO-SYNC ..." line.
act() {
	local what=$1 before after
	shift
	case $what in
	balloon-set)
		before=$(blocks)
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$1" --wait --timeout 180 2>&1 | sed 's/^/# host: /' || true
		after=$(blocks)
		echo "# host: set $1: RAM file $(mib "$before") -> $(mib "$after") MiB allocated"
		if [ $# -ge 2 ]; then BLOCKS[$2-before]=$before; BLOCKS[$2-after]=$after; fi ;;
	balloon-target)
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$1" 2>&1 | sed 's/^/# host: /' || true ;;
	balloon-stall)
		# A target, then the worker stopped for $2 s: the guest's first
		# inflate request waits for an answer meanwhile.
		STALLED=$("$O/pvioctl" -s "$CTL" worker-pid)
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$1" 2>&1 | sed 's/^/# host: /' || true
		kill -STOP "$STALLED"
		echo "# host: worker $STALLED stopped for $2 s"
		(sleep "$2"; kill -CONT "$STALLED") &
		STALL_PID=$! ;;
	host-blocks)
		BLOCKS[$1]=$(blocks)
		"$O/pvioctl" -s "$CTL" --json balloon vm bal0 status >"$TMP/status-$1" 2>&1 || true
		echo "# host: RAM file $(mib "${BLOCKS[$1]}") MiB allocated ($1)" ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl" \
	"$O/vm/pvbal_mem"; do
	[ -f "$f" ] || { echo "not ok - balloon: $f not built (make all modules)"; exit 1; }
done
mkdir -p "$BUILD"
rm -f "$LOG"
"$VM/mkinitramfs.sh" "$BUILD/balloon.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--bin "$O/vm/pvbal_mem" --file "$HERE/guest/balloon.sh:/tests/balloon.sh" \
	--file "$REPO/tools/guest/pvio-psi-agent:/bin/pvio-psi-agent" 2>/dev/null

cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 1024M
machine = pc

[device vm bal0]
type = balloon
floor = 128M
stats_interval_ms = 500
INI
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"

"$VM/vm.sh" run --initrd "$BUILD/balloon.cpio.gz" --script /tests/balloon.sh \
	--mem 1024 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-900}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" &
VM_PID=$!

vm_follow "$VM_PID" "$LOG"
rc=0
wait "$VM_PID" || rc=$?
VM_PID=

vm_guest_results "$LOG"
get() { echo "${BLOCKS[$1]:-0}"; }
want=$((256 << 20))
drop=$(($(get inflate256-before) - $(get inflate256-after)))
host "inflating 256 MiB released $(mib $drop) MiB of the RAM file (want >= 99% of 256 MiB)" \
	"[ $drop -ge $((want * 99 / 100)) ]"
rdrop=$(($(get report-filled) - $(get report-after)))
host "free page reporting released $(mib $rdrop) MiB with no target change (filled $(mib "$(get report-filled)") MiB -> $(mib "$(get report-after)") MiB; want >= 256 MiB)" \
	"[ $rdrop -ge $((256 << 20)) ]"
status=$("$O/pvioctl" -s "$CTL" --json balloon vm bal0 status || true)
"$O/pvioctl" -s "$CTL" balloon vm bal0 status | sed 's/^/# /' || true
jnum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$status"; }
host "pviod read the guest's statistics (total_bytes $(jnum total_bytes))" "[ '$(jnum total_bytes)' -gt 0 ]"
pressure=$(sed -n 's/.*"deflated_on_pressure":\([0-9]*\).*/\1/p' "$TMP/status-pressure" 2>/dev/null)
host "the guest told pviod it deflated under pressure (${pressure:-no} pages)" "[ '${pressure:-0}' -gt 0 ]"
# Its reclaim activity, before and after the allocation that forced it:
# direct reclaim, always; pages scanned only where there is something to
# scan (this initramfs guest has neither swap nor a disk's page cache).
snum() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$TMP/status-$1" 2>/dev/null; }
host "the guest's statistics show the direct reclaim the pressure caused: stalls $(snum before-pressure allocstall) -> $(snum pressure allocstall) (pages scanned $(snum before-pressure pgscan) -> $(snum pressure pgscan), refaults $(snum pressure refaults))" \
	"[ '$(snum pressure allocstall)' -gt '$(snum before-pressure allocstall)' ]"
host "the guest's agent-written PSI reached pviod (some/full avg10: want 1234/506, got $(snum psi psi_some_avg10)/$(snum psi psi_full_avg10))" \
	"[ '$(snum psi psi_some_avg10)' = 1234 ] && [ '$(snum psi psi_full_avg10)' = 506 ]"
host "pviod counted reported pages ($(jnum reported_pages))" "[ '$(jnum reported_pages)' -gt 0 ]"
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
vm_pviod_calm "$TMP/pviod.log"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# guest rc $rc; console log $LOG; pviod log follows"
	tail -n 30 "$TMP/pviod.log" | sed 's/^/# pviod: /'
	exit 1
fi
