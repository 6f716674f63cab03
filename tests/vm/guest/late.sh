#!/bin/sh
# tests/vm/guest/late.sh - guest side of "tests/vm/transport.sh late": the
# backend publishes its window READY only seconds after the guest booted.
# pvio.ko must bind, wait, and bring the devices up once READY appears.
set -u

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh

check "modprobe pvio_echo while the backend is not ready" modprobe pvio_echo
check "pvio.ko bound and said it is waiting" sh -c 'dmesg | grep -q "backend not ready yet: waiting"'
check "no pvio device before the backend is ready" [ ! -e /dev/pvio-echo0 ]
w=0
while [ ! -e /dev/pvio-echo0 ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
check "device appears once the backend is ready (after ${w}00 ms)" [ -e /dev/pvio-echo0 ]
check "echo works" transport_test quick 50
dmesg | grep pvio | sed 's/^/# dmesg: /'
echo "1..$n"
exit "$fail"
