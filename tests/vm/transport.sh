#!/bin/bash
# tests/vm/transport.sh - pvio.ko end to end: pviod on the host, a QEMU
# guest with the ivshmem-doorbell device and shared RAM, the guest-side
# transport tests (tests/vm/guest/transport.sh).
#
#      host                                      guest (TCG)
#   +-----------------+   unix socket   +------------------------------+
#   | pviod           |<--------------->| ivshmem-doorbell 1af4:1110   |
#   |  supervisor     |  window memfd   |   pvio.ko  -> pvio bus       |
#   |  `- worker  <---+-- eventfds ---->|   pvio_echo.ko -> /dev/...   |
#   |      |          |                 |   transport_test (TAP)       |
#   |      `-- maps --+-- /dev/shm/RAM -+-- guest RAM (share=on)       |
#   +-----------------+                 +------------------------------+
#
# "transport.sh late": pviod publishes the window READY only 8 s after
# QEMU connects (ready_delay_ms), and the guest loads pvio.ko before that
# (tests/vm/guest/late.sh).
#
# Mid-run the guest prints "PVIO-SYNC kill-worker"; we SIGKILL pviod's
# worker then, and the guest checks it recovers.  Prints the guest's TAP
# plus host-side checks; exits non-zero on any failure.  Everything this
# script starts is stopped by PID, and its files are removed, on every exit.
set -eu

MODE=${1:-main}
case $MODE in
main) GSCRIPT=transport.sh DELAY= ;;
late) GSCRIPT=late.sh DELAY="ready_delay_ms = 8000" ;;
*) echo "usage: $0 [main|late]" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}	# guest modules (default: make modules output)
PVIOD=${PVIOD:-$O/pviod}
TMP=$(mktemp -d /tmp/pvio-vmtest.XXXXXX)
RAM=/dev/shm/pvio-vmtest-$$
SOCK=$TMP/guest.sock
CTL=$TMP/control.sock
LOG=$BUILD/transport-$MODE.log
VM_PID=

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/transport-$MODE-pviod.log"
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

for f in "$KMOD/frontend/pvio.ko" "$KMOD/tests/kmod/pvio_echo.ko" "$PVIOD" "$O/pvioctl" "$O/vm/transport_test"; do
	[ -f "$f" ] || { echo "not ok - transport: $f not built (make all modules)"; exit 1; }
done
mkdir -p "$BUILD"
rm -f "$LOG"
"$VM/mkinitramfs.sh" "$BUILD/transport-$MODE.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/tests/kmod/pvio_echo.ko" \
	--bin "$O/vm/transport_test" \
	--file "$HERE/guest/$GSCRIPT:/tests/$GSCRIPT" 2>/dev/null

cat > "$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 512M
machine = pc
$DELAY

[device vm echo0]
type = echo
queues = 2
queue_size = 256
INI
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"

"$VM/vm.sh" run --initrd "$BUILD/transport-$MODE.cpio.gz" --script "/tests/$GSCRIPT" \
	--mem 512 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-400}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" &
VM_PID=$!

killed=0
while kill -0 "$VM_PID" 2>/dev/null; do
	if [ $killed = 0 ] && grep -q "PVIO-SYNC kill-worker" "$LOG" 2>/dev/null; then
		wpid=$("$O/pvioctl" -s "$CTL" worker-pid)
		kill -KILL "$wpid"
		echo "# host: killed pviod worker $wpid"
		killed=1
	fi
	sleep 0.2
done
rc=0
wait "$VM_PID" || rc=$?
VM_PID=

vm_guest_results "$LOG"
if [ "$MODE" = main ]; then
	host "pviod's supervisor replaced the killed worker" "grep -q 'worker .* started (restart 1[,)]' '$TMP/pviod.log'"
	host "the new worker took over the window" "grep -q 'took over window' '$TMP/pviod.log'"
fi
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
host "pviod still answers after the run" "'$O/pvioctl' -s '$CTL' list >/dev/null"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# guest rc $rc; console log $LOG; pviod log follows"
	tail -n 30 "$TMP/pviod.log" | sed 's/^/# pviod: /'
	exit 1
fi
