#!/bin/bash
# tests/vm/memory.sh - pviod's host-wide memory policy with two guests
# (issue 19; backend/balloon/hostpolicy.h, backend/core/hostmem.h).
#
#  +-- host ---------------------------------------------------------+
#  |  pviod: guest_memory_max = 700M, memory_policy_ms = 1000         |
#  |   idle  512 MiB, RAM /dev/shm/pvio-vmmem-PID-idle, policy host   |
#  |   busy  512 MiB, RAM /dev/shm/pvio-vmmem-PID-busy, policy host   |
#  +-----------------------------------------------------------------+
#
# Both guests (tests/vm/guest/memory.sh) start with all their RAM; the
# policy takes back what they do not use; then the busy one grows by
# 384 MiB while the idle one idles.  The guests check: the idle one gave
# back >= 256 MiB, the busy one got >= 256 MiB more as it grew, held
# pattern intact, nobody OOM-killed.  The host checks, when the busy one
# has grown: pviod's "balloon policy" shows both balloons, the guests
# together hold no more than guest_memory_max (and a chunk each), the idle
# guest's balloon is the larger; the idle guest's RAM file has given
# >= 200 MiB back to the host in holes that are whole, aligned 2 MiB
# chunks (the driver's 2 MiB path); pviod logged the policy's moves;
# then it ends the run (the idle balloon set to 0 by hand, which also
# takes it off the policy) and pviod stops cleanly.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
TMP=$(mktemp -d /tmp/pvio-vmmem.XXXXXX)
CTL=$TMP/control.sock
LIMIT=700
ram() { echo "/dev/shm/pvio-vmmem-$$-$1"; }
VM_IDLE=
VM_BUSY=
POLICY=
n=0
rc=0

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$VM_IDLE" ] && kill "$VM_IDLE" 2>/dev/null && wait "$VM_IDLE" 2>/dev/null
	[ -n "$VM_BUSY" ] && kill "$VM_BUSY" 2>/dev/null && wait "$VM_BUSY" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/memory-pviod.log"
	rm -rf "$TMP" "$(ram idle)" "$(ram busy)"
}
trap cleanup EXIT

# Holes in a file that are whole, 2 MiB-aligned chunks: "COUNT MIB".
chunk_holes() {
	perl -e '
		use Fcntl qw(SEEK_SET);
		my ($f) = @ARGV; open(my $h, "<", $f) or die "$f: $!";
		my $size = -s $f; my ($SEEK_DATA, $SEEK_HOLE) = (3, 4);
		my ($off, $n, $bytes, $C) = (0, 0, 0, 2 << 20);
		while ($off < $size) {
			my $hole = sysseek($h, $off, $SEEK_HOLE); last unless defined $hole && $hole < $size;
			my $data = sysseek($h, $hole, $SEEK_DATA); $data = $size unless defined $data;
			my ($a, $b) = (int(($hole + $C - 1) / $C) * $C, int($data / $C) * $C);
			if ($b > $a) { $n += ($b - $a) / $C; $bytes += $b - $a; }
			$off = $data;
		}
		printf "%d %d\n", $n, $bytes >> 20;' "$1"
}

act() {
	local what=$1
	shift
	case $what in
	gave-back) echo "# host: the $1 guest gave memory back" ;;
	grown)
		POLICY=$("$O/pvioctl" -s "$CTL" --json balloon policy 2>&1 || true)
		"$O/pvioctl" -s "$CTL" balloon policy 2>&1 | sed 's/^/# host: /' || true
		read -r HOLES HOLE_MIB <<<"$(chunk_holes "$(ram idle)")"
		echo "# host: the idle guest's RAM file: $HOLE_MIB MiB in $HOLES whole 2 MiB holes"
		# The end: the idle guest's balloon to 0 by hand.
		"$O/pvioctl" -s "$CTL" balloon idle bal0 set 0 | sed 's/^/# host: /' ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl" \
	"$O/vm/pvbal_mem"; do
	[ -f "$f" ] || { echo "not ok - memory: $f not built (make all modules)"; exit 1; }
done
mkdir -p "$BUILD"
"$VM/mkinitramfs.sh" "$BUILD/memory.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--bin "$O/vm/pvbal_mem" --file "$HERE/guest/memory.sh:/tests/memory.sh" 2>/dev/null

cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100
host_reserve = 256M
guest_memory_max = ${LIMIT}M
memory_policy_ms = 1000
INI
for r in idle busy; do
	cat >>"$TMP/pviod.ini" <<INI

[guest $r]
socket = $TMP/$r.sock
ram = $(ram $r)
ram_size = 512M
machine = pc

[device $r bal0]
type = balloon
stats_interval_ms = 500
policy = host
headroom = 64M
INI
done
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"

for r in idle busy; do
	rm -f "$BUILD/memory-$r.log"
	"$VM/vm.sh" run --initrd "$BUILD/memory.cpio.gz" --script /tests/memory.sh \
		--mem 512 --smp 1 --timeout "${PVIO_VM_TIMEOUT:-600}" --log "$BUILD/memory-$r.log" \
		--ram-file "$(ram $r)" --append "loglevel=3 pvmem.role=$r" \
		--qemu-extra "-chardev socket,path=$TMP/$r.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" &
	if [ $r = idle ]; then VM_IDLE=$!; else VM_BUSY=$!; fi
done
# The busy guest asks for "grown", which ends the idle one's run.
vm_follow "$VM_BUSY" "$BUILD/memory-busy.log"
brc=0
wait "$VM_BUSY" || brc=$?
VM_BUSY=
vm_follow "$VM_IDLE" "$BUILD/memory-idle.log"
irc=0
wait "$VM_IDLE" || irc=$?
VM_IDLE=

for r in busy idle; do
	vm_guest_results_tagged $r "$BUILD/memory-$r.log"
	vm_klog_check "$BUILD/memory-$r.log"
done
host "both guests ran to their end (vm.sh: busy $brc, idle $irc)" "[ $brc = 0 ] && [ $irc = 0 ]"
jb() { perl -MJSON::PP -e 'my $j = eval { decode_json($ARGV[0]) } or exit;
	for my $b (@{$j->{balloons}}) { print $b->{$ARGV[2]} // "" if $b->{guest} eq $ARGV[1] }' "$POLICY" "$1" "$2"; }
ib=$(jb idle actual_bytes)
bb=$(jb busy actual_bytes)
host "pviod's balloon policy listed both guests when the busy one had grown (idle balloon ${ib:-?}, busy ${bb:-?} bytes)" \
	"[ -n '$ib' ] && [ -n '$bb' ]"
held=$(((1024 << 20) - ${ib:-0} - ${bb:-0}))
host "the guests held $((held >> 20)) MiB together, at most guest_memory_max $LIMIT MiB (+4 MiB)" \
	"[ $held -le $(((LIMIT + 4) << 20)) ]"
host "the idle guest's balloon ($((${ib:-0} >> 20)) MiB) is larger than the busy one's ($((${bb:-0} >> 20)) MiB)" \
	"[ '${ib:-0}' -gt '${bb:-0}' ]"
host "the idle guest's RAM file gave ${HOLE_MIB:-0} MiB back in ${HOLES:-0} whole, aligned 2 MiB holes (want >= 200 MiB)" \
	"[ '${HOLE_MIB:-0}' -ge 200 ]"
host "pviod logged the policy's moves ($(grep -c 'memory: .*: balloon' "$TMP/pviod.log") of them)" \
	"grep -q 'memory: idle/bal0: balloon' '$TMP/pviod.log' && grep -q 'memory: busy/bal0: balloon' '$TMP/pviod.log'"
grep 'memory: ' "$TMP/pviod.log" | tail -n 12 | sed 's/^/# pviod: /'
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
vm_pviod_calm "$TMP/pviod.log"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
exit $rc
