#!/bin/bash
# tests/vm/smoke.sh - first guest test: boot the guest kernel under QEMU and
# load the ring self-test module (pvio_ring_selftest.ko) in it.
#
#   tests/vm/smoke.sh            (env: PVIO_VM_TIMEOUT, default 300 s)
#
# Builds the module if missing (make modules; or takes it from KMOD),
# builds $O/vm/smoke.cpio.gz with the module and
# tests/vm/guest/ring-selftest.sh, boots it with vm.sh (console log:
# $O/vm/smoke.log) and prints the guest's TAP lines on stdout, then the
# host's checks (host.sh: the plan, the guest's kernel log); vm.sh's
# timing line goes to stderr.  Exits non-zero if the guest fails, times
# out, reports fewer results than planned, or its kernel log has a report.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-}		# guest modules (default: make modules output)
KO=${KMOD:-$O/kmod-generic}/tests/kmod/pvio_ring_selftest.ko
INITRD=$BUILD/smoke.cpio.gz
LOG=$BUILD/smoke.log

if [ ! -f "$KO" ]; then
	[ -z "$KMOD" ] || { echo "not ok - smoke: $KO not built"; exit 1; }
	make -C "$REPO" --no-print-directory O="$O" modules >&2
fi
"$VM/mkinitramfs.sh" "$INITRD" --module "$KO" \
	--file "$HERE/guest/ring-selftest.sh:/tests/ring-selftest.sh"

rc=0
"$VM/vm.sh" run --initrd "$INITRD" --script /tests/ring-selftest.sh \
	--timeout "${PVIO_VM_TIMEOUT:-300}" --log "$LOG" || rc=$?

vm_guest_results "$LOG"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# smoke: failed (guest rc or a host check; console log: $LOG)"
	exit 1
fi
