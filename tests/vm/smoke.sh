#!/bin/bash
# tests/vm/smoke.sh - first guest test: boot the guest kernel under QEMU and
# load the ring self-test module (pvio_ring_selftest.ko) in it.
#
#   tests/vm/smoke.sh            (env: PVIO_VM_TIMEOUT, default 300 s)
#
# Builds the module if missing (make modules), builds build/vm/smoke.cpio.gz
# with the module and tests/vm/guest/ring-selftest.sh, boots it with vm.sh
# (console log: build/vm/smoke.log) and prints the guest's TAP lines on
# stdout; vm.sh's timing line goes to stderr.  Exits non-zero if the guest
# fails, times out, or reports fewer results than planned.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$REPO/build/vm
KO=$REPO/build/kmod-generic/tests/kmod/pvio_ring_selftest.ko
INITRD=$BUILD/smoke.cpio.gz
LOG=$BUILD/smoke.log

count() { grep -cE "$1" "$2" || true; }

if [ ! -f "$KO" ]; then make -C "$REPO" --no-print-directory modules >&2; fi
"$HERE/mkinitramfs.sh" "$INITRD" --module "$KO" \
	--file "$HERE/guest/ring-selftest.sh:/tests/ring-selftest.sh"

rc=0
"$HERE/vm.sh" run --initrd "$INITRD" --script /tests/ring-selftest.sh \
	--timeout "${PVIO_VM_TIMEOUT:-300}" --log "$LOG" || rc=$?

TAP=$BUILD/smoke.tap
"$HERE/vm.sh" tap "$LOG" | tee "$TAP"
planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$TAP" | head -n 1)
passed=$(count '^ok [0-9]+' "$TAP")
failed=$(count '^not ok [0-9]+' "$TAP")

if [ "$rc" -ne 0 ]; then
	echo "# smoke: vm.sh run exited $rc (console log: $LOG)"
	exit 1
fi
if [ -z "$planned" ] || [ "$failed" -ne 0 ] || [ "$passed" -ne "$planned" ]; then
	echo "# smoke: $passed passed, $failed failed of ${planned:-?} planned (console log: $LOG)"
	exit 1
fi
