#!/bin/sh
# tests/vm/guest/ring-selftest.sh - guest side of tests/vm/smoke.sh (busybox sh).
#
# Prints TAP on the console: the guest kernel booted, then pvio_ring_selftest.ko
# (in /lib/modules/KVER/extra/) loads, which it does only if every ring check
# passes in kernel context ("all checks passed"; "FAIL (err)" otherwise).  The
# module's dmesg lines follow as TAP comments.  Exit status: failures seen.
set -u

ko=/lib/modules/$(uname -r)/extra/pvio_ring_selftest.ko
fail=0

kmsg() { dmesg | grep pvio_ring_selftest | sed 's/^/# /'; }

echo "1..2"
echo "ok 1 guest kernel booted ($(uname -r))"

if out=$(insmod "$ko" 2>&1) && dmesg | grep -q 'pvio_ring_selftest: all checks passed'; then
	echo "ok 2 pvio_ring_selftest loaded"
else
	echo "not ok 2 pvio_ring_selftest loaded"
	echo "# insmod $ko: ${out:-loaded, but no 'all checks passed' in dmesg}"
	fail=$((fail + 1))
fi
kmsg
exit "$fail"
