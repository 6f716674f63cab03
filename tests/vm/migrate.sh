#!/bin/bash
# tests/vm/migrate.sh - a guest live-migrated between two pviods and two
# QEMUs on this machine, there and back, under load (issue 16;
# backend/core/migrate.c).
#
#  +-- host --------------------------------------------------------------+
#  |  pviod A (control a.sock)          pviod B (control b.sock)           |
#  |   guest vm: ram A, TAP pvma$$       guest vm: ram B, TAP pvmb$$       |
#  |   both: disk0 = the one image (cache = none), bridge pvmgbr$$         |
#  |  QEMU 1 (A) --migrate--> QEMU 2 (B) --migrate--> QEMU 3 (A)           |
#  |  namespace pvmg-$$: bridge 10.77.12.1/24, the TAPs its ports;         |
#  |  pvnet_xfer recv (guest -> host), pvnet_xfer send (host -> guest)     |
#  +----------------------------------------------------------------------+
#
# The guest (tests/vm/guest/migrate.sh) keeps verified fio jobs and two
# verified TCP streams going, sets a balloon, and asks for two
# migrations.  For each, the host: migrate-in at the destination pviod;
# the destination QEMU started with -incoming; migrate-out at the source
# pviod (the guest's I/O pauses; its answer is the state); QMP migrate
# on the source QEMU until it completes; migrate-finish with the state at
# the destination, then "cont" there (it starts with -S: the guest must
# not run on the migrated window before pviod has taken it over); quit
# the source QEMU.  The guest's console moves with
# it: the three QEMUs' logs, in order, are one console.  The host checks
# both migrations completed, the destination took over each time, the
# balloon target moved with the guest, both streams arrived whole, the
# image holds what the guest wrote last, and neither pviod logged a
# sanitizer report.  It records QEMU's downtime and total time and the
# guest's I/O pause (migrate-out to migrate-finish) as "# MIGRATION"
# lines.  Everything started here is stopped by PID.
#
# The QEMUs are bookworm-backports' (tools/qemu-backports.sh, which
# tools/deps.sh runs): Debian 12's own QEMU 7.2 under TCG loses some of
# a migrating guest's own writes (docs/operations.md 8.2), and the guest
# crashed in 3 of 13 runs of this test.  PVIO_QEMU chooses another.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
# shellcheck source-path=SCRIPTDIR source=../../tools/vm/migrate.sh
. "$VM/migrate.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
if [ -z "${PVIO_QEMU:-}" ]; then
	PVIO_QEMU=$("$REPO/tools/qemu-backports.sh" --print) || {
		echo "not ok 1 - QEMU from bookworm-backports: tools/qemu-backports.sh failed (run tools/deps.sh as root)"
		echo "1..1"
		exit 1
	}
fi
export PVIO_QEMU
echo "# QEMU: $("$PVIO_QEMU" --version | head -n 1)"
TMP=$(mktemp -d /tmp/pvio-vmmg.XXXXXX)
NS=pvmg-$$
BR=pvmgbr$$
LOG=$BUILD/migrate.log
MEM=512
declare -A PV=()	# each side's pviod
VM_PIDS=()
XMIT_PID=
RECV_PID=
NS_MADE=
MIGRATED=0
n=0
rc=0

# Side X (a or b): its control socket, guest socket, RAM file, TAP.
ctl() { echo "$TMP/$1.ctl"; }
sock() { echo "$TMP/$1.sock"; }
ram() { echo "/dev/shm/pvio-vmmg-$$-$1"; }

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local p
	for p in "${VM_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$XMIT_PID" ] && kill "$XMIT_PID" 2>/dev/null
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	vm_pviod_stop_all
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" "$(ram a)" "$(ram b)"
}
trap cleanup EXIT


# guest_migration SIDE: the guest's migration state at pviod SIDE ("" none).
guest_migration() {
	"$O/pvioctl" -s "$(ctl "$1")" --json list 2>/dev/null |
		sed -n 's/.*"migration":"\([^"]*\)".*/\1/p'
}

# boot SIDE LOG [INCOMING]: a QEMU for the guest at pviod SIDE (vm.sh).
boot() {
	local extra
	extra="-chardev socket,path=$(sock "$1"),id=pv0"
	extra+=" -device ivshmem-doorbell,chardev=pv0,vectors=${VECS:-6},master=on"
	extra+=" -qmp unix:$TMP/qmp-$N_QEMU.sock,server=on,wait=off"
	# Incoming: paused (-S) until pviod has taken the window over.
	[ $# -ge 3 ] && extra+=" -S -incoming unix:$3"
	# oops=panic: a guest that oopses after a migration ends (panic=-1,
	# -no-reboot) and fails the test now, not at the timeout.
	"$VM/vm.sh" run --initrd "$BUILD/migrate.cpio" --script /tests/migrate.sh \
		--mem $MEM --smp 2 --timeout "${PVIO_VM_TIMEOUT:-900}" --log "$2" \
		--ram-file "$(ram "$1")" --append "loglevel=3 oops=panic" --qemu-extra "$extra" &
	VM_PIDS+=($!)
}

N_QEMU=1
SIDE=a
LOGS=("$BUILD/migrate-1.log")

# migrate I: the guest from SIDE to the other pviod, in a new QEMU.  The
# first migration logs (migrate-track: the guest marks the pages pviod
# wrote, pviod pauses only at QEMU's pre-switchover); the second pauses
# for all of it (migrate-out before QMP migrate).
migrate() {
	local from=$SIDE to qfrom qto st out mq how
	[ "$from" = a ] && to=b || to=a
	[ "$1" = 1 ] && how=logged || how=paused
	qfrom=$TMP/qmp-$N_QEMU.sock
	N_QEMU=$((N_QEMU + 1))
	qto=$TMP/qmp-$N_QEMU.sock
	LOGS+=("$BUILD/migrate-$N_QEMU.log")
	out=$("$O/pvioctl" -s "$(ctl $to)" migrate-in vm 2>&1) ||
		{ echo "# host: migrate-in at $to: $out"; return 1; }
	boot $to "${LOGS[-1]}" "$TMP/mig-$N_QEMU.sock"
	# The destination QEMU is up once pviod holds its connection.
	for _ in $(seq 300); do
		[ "$(guest_migration $to)" = "incoming, QEMU connected" ] && [ -S "$qto" ] && break
		sleep 0.1
	done
	st=$(guest_migration $to)
	[ "$st" = "incoming, QEMU connected" ] || { echo "# host: destination QEMU not connected to pviod $to ('$st')"; return 1; }
	vm_migrate $how "$qfrom" "$qto" "unix:$TMP/mig-$N_QEMU.sock" "$(ctl "$from")" "$(ctl $to)" vm ||
		{ echo "# host: migration $1 ($how) from $from to $to failed"; return 1; }
	mq=$VM_MIG_QUERY
	SIDE=$to
	MIGRATED=$((MIGRATED + 1))
	printf '# MIGRATION %s %s->%s (%s): total_ms %s downtime_ms %s io_pause_ms %d (migrate-out %d ms), %s MiB moved in %s passes, destination still loading for %d ms\n' \
		"$1" "$from" "$to" $how "$(sed -n 's/.*"total-time": *\([0-9]*\).*/\1/p' <<<"$mq")" \
		"$(sed -n 's/.*"downtime": *\([0-9]*\).*/\1/p' <<<"$mq")" \
		$(((VM_MIG_T2 - VM_MIG_T0) / 1000000)) $(((VM_MIG_T1 - VM_MIG_T0) / 1000000)) \
		"$(( $(sed -n 's/.*"transferred": *\([0-9]*\).*/\1/p' <<<"$mq" | head -n 1) >> 20 ))" \
		"$(sed -n 's/.*"dirty-sync-count": *\([0-9]*\).*/\1/p' <<<"$mq")" \
		"$VM_MIG_LOADING" | tee -a "$TMP/migrations"
}

stop_vms() {
	local p
	for p in "${VM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

# act LINE: the host's half of one "PVIO-SYNC ..." line.
act() {
	local what=$1
	shift
	case $what in
	host-recv)
		ip netns exec "$NS" "$O/vm/pvnet_xfer" recv "$1" 0 "$2" --timeout 900 \
			>"$TMP/recv.out" 2>&1 &
		RECV_PID=$!
		echo "# host: receiving on port $1" ;;
	host-send)
		ip netns exec "$NS" "$O/vm/pvnet_xfer" send 10.77.12.2 "$1" 0 "$2" --rate 40 \
			--until "$TMP/stop-send" --timeout 900 >"$TMP/send.out" 2>&1 &
		XMIT_PID=$!
		echo "# host: sending to port $1" ;;
	host-send-stop)
		touch "$TMP/stop-send" ;;
	balloon-set)
		"$O/pvioctl" -s "$(ctl "$SIDE")" balloon vm bal0 set "$1" --wait --timeout 120 2>&1 |
			sed 's/^/# host: /' || true ;;
	balloon-status)
		"$O/pvioctl" -s "$(ctl "$SIDE")" --json balloon vm bal0 status >"$TMP/balloon" 2>&1 || true ;;
	migrate)
		# A failed migration ends the run: every QEMU is stopped.
		migrate "$1" || { echo "# host: migration $1 failed: stopping the guest"; stop_vms; } ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

# follow: act on every new sync line of the console, which moves from
# QEMU to QEMU with the guest, until the guest's last QEMU exits.
follow() {
	local handled=0 alive syncs
	while :; do
		alive=0
		kill -0 "${VM_PIDS[-1]}" 2>/dev/null && alive=1
		mapfile -t syncs < <(cat "${LOGS[@]}" 2>/dev/null | perl -ne 's/\r//g; print if /^PVIO-SYNC .*\n\z/' || true)
		while [ "$handled" -lt "${#syncs[@]}" ]; do
			# shellcheck disable=SC2086 # split the line into words on purpose
			act ${syncs[$handled]#PVIO-SYNC } || echo "# host: '${syncs[$handled]}' failed"
			handled=$((handled + 1))
		done
		[ $alive = 1 ] || break
		sleep 0.1
	done
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$KMOD/frontend/pvio_blk.ko" \
	"$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl" "$O/vm/pvnet_xfer" /usr/bin/fio; do
	[ -f "$f" ] || { echo "not ok - migrate: $f not built or not installed (make all modules; tools/deps.sh)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP migrate: needs root (network namespace, TAP, bridge)"; echo "1..1"; exit 0; }
mkdir -p "$BUILD"
rm -f "$LOG" "$BUILD"/migrate-[0-9].log
PVIO_INITRD_RAW=1 "$VM/mkinitramfs.sh" "$BUILD/migrate.cpio" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_blk.ko" \
	--module "$KMOD/frontend/pvio_net.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--kmod crc32c_generic --bin /usr/bin/fio --bin "$O/vm/pvnet_xfer" \
	--file "$HERE/guest/handover.sh:/tests/handover.sh" \
	--file "$HERE/guest/migrate.sh:/tests/migrate.sh" 2>/dev/null
truncate -s 256M "$TMP/disk0.img"
# The RAM files exist before QEMU: vm.sh leaves them to us.
truncate -s ${MEM}M "$(ram a)" "$(ram b)"
ip netns add "$NS"
NS_MADE=1
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link add "$BR" type bridge
ip netns exec "$NS" ip addr add 10.77.12.1/24 dev "$BR"
ip netns exec "$NS" ip link set "$BR" up
for s in a b; do
	cat >"$TMP/$s.ini" <<INI
[pviod]
control = $(ctl $s)
heartbeat_ms = 100

[guest vm]
socket = $(sock $s)
ram = $(ram $s)
ram_size = ${MEM}M
machine = pc

[device vm disk0]
type = blk
path = $TMP/disk0.img
cache = none
serial = disk0

[device vm net0]
type = net
tap = pvm$s$$
bridge = $BR

[device vm bal0]
type = balloon
floor = 128M
INI
	vm_pviod_start "$TMP/$s.ini" "$TMP/pviod-$s.log" "$NS"
	PV[$s]=$PVIOD_PID
done
VECS=$(sed -n 's/.*QEMU: vectors=\([0-9]*\).*/\1/p' "$TMP/pviod-a.log" | head -n 1)
boot a "${LOGS[0]}"
follow
vrc=0
wait "${VM_PIDS[-1]}" || vrc=$?
# The sources' QEMUs quit after their migration (or, after a failed one,
# are stopped here).
stop_vms
for p in "${VM_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
VM_PIDS=()
cat "${LOGS[@]}" >"$LOG"
vm_guest_results "$LOG"
host "the guest ran to its end in its third QEMU, without a reboot (vm.sh: $vrc; 124 is a timeout, 125 a crash)" "[ $vrc -lt 124 ] && [ ${#LOGS[@]} = 3 ]"
host "the guest asked for 2 migrations and both completed (got $MIGRATED)" "[ $MIGRATED = 2 ]"
for s in a b; do
	host "pviod $s: the destination took the migrated window over once ($(grep -c 'vm: migrate-finish' "$TMP/pviod-$s.log") migrate-finish, $(grep -c 'vm: took over window' "$TMP/pviod-$s.log") takeover)" \
		"[ $(grep -c 'vm: migrate-finish' "$TMP/pviod-$s.log") = 1 ] && [ $(grep -c 'vm: took over window' "$TMP/pviod-$s.log") = 1 ]"
done
bal=$(cat "$TMP/balloon" 2>/dev/null || true)
tgt=$(sed -n 's/.*"target_bytes":\([0-9]*\).*/\1/p' <<<"$bal")
act_b=$(sed -n 's/.*"actual_bytes":\([0-9]*\).*/\1/p' <<<"$bal")
host "the balloon came back with the guest: 64 MiB (pviod $SIDE, as the guest asked: target ${tgt:-?}, actual ${act_b:-?})" \
	"[ '${tgt:-0}' = $((64 << 20)) ] && [ '${act_b:-0}' = $((64 << 20)) ]"
# The streams end with the guest's: a guest that died mid-stream (a
# crash after a migration) leaves them waiting on a peer that is gone, so
# they get 60 s, then are killed (rc 124), and the run goes on to say why.
rrc=0 xrc=0
touch "$TMP/stop-send"
[ -n "$RECV_PID" ] && { vm_wait_bounded "$RECV_PID" 60 || rrc=$?; }
[ -n "$XMIT_PID" ] && { vm_wait_bounded "$XMIT_PID" 60 || xrc=$?; }
RECV_PID=
XMIT_PID=
sed 's/^/# host recv: /' "$TMP/recv.out" 2>/dev/null || true
sed 's/^/# host send: /' "$TMP/send.out" 2>/dev/null || true
sent=$(sed -n 's/^# sent: pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
got=$(sed -n 's/^pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$TMP/recv.out" 2>/dev/null)
host "the stream to the host arrived whole and verified: sent ${sent:-?} bytes, received ${got:-?} (receiver rc $rrc)" \
	"[ $rrc = 0 ] && [ -n '$got' ] && [ '${sent:-x}' = '$got' ]"
hsent=$(sed -n 's/^pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$TMP/send.out" 2>/dev/null)
grecv=$(sed -n 's/^# received: pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
host "the stream to the guest arrived whole and verified: sent ${hsent:-?} bytes, received ${grecv:-?} (sender rc $xrc)" \
	"[ $xrc = 0 ] && [ -n '$hsent' ] && [ '${grecv:-x}' = '$hsent' ]"
want=$(sed -n 's/^# image sha: \([0-9a-f]*\).*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
have=$(dd if="$TMP/disk0.img" bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
host "the image holds what the guest last wrote and read back (guest ${want:-?}, image $have)" "[ '${want:-x}' = '$have' ]"
vm_pviod_clean "$TMP/pviod-a.log" "[a]" "${PV[a]}"
vm_pviod_clean "$TMP/pviod-b.log" "[b]" "${PV[b]}"
sed 's/^/# /' "$TMP/migrations" 2>/dev/null || true
cp "$TMP/pviod-a.log" "$BUILD/migrate-pviod-a.log"
cp "$TMP/pviod-b.log" "$BUILD/migrate-pviod-b.log"
if [ "$rc" != 0 ] || [ "$vrc" != 0 ]; then
	for s in a b; do
		grep -E 'migrat|error|took over|peer' "$TMP/pviod-$s.log" | tail -n 20 | sed "s/^/# pviod $s: /"
	done
fi
echo "1..$n"
exit $rc
