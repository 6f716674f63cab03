#!/bin/sh
# tests/vm/guest/demo.sh - what "make demo" shows inside the guest.
set -u
step() { echo; echo "guest\$ $*"; "$@"; }

echo "== pvio demo guest: Linux $(uname -r), $(nproc) vCPUs"
echo
echo "guest\$ grep -l 0x1110 /sys/bus/pci/devices/*/device    # the ivshmem-doorbell device"
grep -l 0x1110 /sys/bus/pci/devices/*/device
step modprobe pvio_echo
w=0
while [ ! -e /dev/pvio-echo0 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
step lsmod
for d in /sys/bus/pvio/devices/*; do
	echo
	echo "guest\$ cat $d/{type,state,features,generation}"
	echo "$(cat "$d/type") $(cat "$d/state") features=$(cat "$d/features") generation=$(cat "$d/generation")"
done
echo
echo "guest\$ transport_test quick 1000    # 1000 echo round trips, 1..65536 random bytes each, verified"
if transport_test quick 1000; then echo "1000 round trips verified"; else echo "ECHO FAILED"; exit 1; fi
echo
echo "guest\$ grep pvio /proc/interrupts"
grep pvio /proc/interrupts
echo
echo "guest\$ dmesg | grep pvio"
dmesg | grep pvio
