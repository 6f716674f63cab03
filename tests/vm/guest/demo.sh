#!/bin/sh
# tests/vm/guest/demo.sh - what "make demo" shows inside the guest: the
# echo device's round trips, the NIC pinging the host (when the host gave
# one, demo.net=1), the disk written and read back, the balloon.
set -u
step() { echo; echo "guest\$ $*"; "$@"; }
waitfor() { w=0; while [ ! -e "$1" ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done; [ -e "$1" ]; }
NET=
grep -q 'demo.net=1' /proc/cmdline && NET=1
rc=0

echo "== pvio demo guest: Linux $(uname -r), $(nproc) vCPUs"
echo
echo "guest\$ grep -l 0x1110 /sys/bus/pci/devices/*/device    # the ivshmem-doorbell device"
grep -l 0x1110 /sys/bus/pci/devices/*/device
step grep MemTotal /proc/meminfo
MEM0=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
step modprobe -a pvio_echo pvio_blk pvio_balloon ${NET:+pvio_net}
waitfor /dev/pvio-echo0
waitfor /dev/pvda
step lsmod
for d in /sys/bus/pvio/devices/*; do
	echo
	echo "guest\$ cat $d/{type,state,features,generation}"
	echo "$(cat "$d/type") $(cat "$d/state") features=$(cat "$d/features") generation=$(cat "$d/generation")"
done

echo
echo "== echo: the transport"
echo "guest\$ transport_test quick 1000    # 1000 echo round trips, 1..65536 random bytes each, verified"
if transport_test quick 1000; then echo "1000 round trips verified"; else echo "ECHO FAILED"; rc=1; fi

echo
echo "== pvio_blk: /dev/pvda"
echo "guest\$ cat /sys/block/pvda/{size,serial,queue/rotational,queue/write_cache}"
echo "$(cat /sys/block/pvda/size) sectors, serial $(cat /sys/block/pvda/serial), rotational $(cat /sys/block/pvda/queue/rotational), $(cat /sys/block/pvda/queue/write_cache)"
dd if=/dev/urandom of=/tmp/pat bs=1M count=16 2>/dev/null
echo "guest\$ dd if=/tmp/pat of=/dev/pvda bs=1M oflag=direct conv=fsync; dd if=/dev/pvda bs=1M count=16 iflag=direct | sha256sum"
dd if=/tmp/pat of=/dev/pvda bs=1M oflag=direct conv=fsync 2>&1 | tail -n 1
want=$(sha256sum </tmp/pat | cut -d' ' -f1)
got=$(dd if=/dev/pvda bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
echo "wrote $want"
echo "read  $got"
if [ "$want" = "$got" ]; then echo "16 MiB written and read back through pviod, identical"; else echo "DISK DATA MISMATCH"; rc=1; fi

if [ -n "$NET" ]; then
	echo
	echo "== pvio_net"
	IF=
	w=0
	while [ -z "$IF" ] && [ $w -lt 100 ]; do
		for d in /sys/class/net/*; do
			case $(readlink "$d/device/driver" 2>/dev/null) in */pvio_net) IF=${d##*/} ;; esac
		done
		[ -z "$IF" ] && sleep 0.1
		w=$((w + 1))
	done
	ip addr add 10.78.0.2/24 dev "$IF"
	ip link set "$IF" up
	step ethtool -i "$IF"
	step ethtool -l "$IF"
	w=0
	until ping -c 1 -W 1 10.78.0.1 >/dev/null 2>&1 || [ $w -ge 20 ]; do w=$((w + 1)); done
	if ! step ping -c 3 10.78.0.1; then echo "PING FAILED"; rc=1; fi
fi

echo
echo "== pvio_balloon: the host asked for 64 MiB back (target = 64M)"
memtotal() { sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo; }
w=0
while [ $((MEM0 - $(memtotal))) -lt 65536 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
step grep -E 'MemTotal|MemAvailable' /proc/meminfo
echo "MemTotal went from $MEM0 kB to $(memtotal) kB: $(((MEM0 - $(memtotal)) / 1024)) MiB are back with the host"

echo
echo "guest\$ grep pvio /proc/interrupts"
grep pvio /proc/interrupts
echo
echo "guest\$ dmesg | grep pvio"
dmesg | grep pvio
exit $rc
