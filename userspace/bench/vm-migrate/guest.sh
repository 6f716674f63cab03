#!/bin/sh
# userspace/bench/vm-migrate/guest.sh - guest side of run.sh (busybox sh).
#
# pvio_bench.mode=pvio: pvio_blk, pvio_net, pvio_balloon; =virtio:
# virtio-blk, virtio-net, virtio-balloon.  One fio job writes 4 KiB with
# O_DIRECT at queue depth 1, 100 times a second, for 25 s; 5 s in, the
# guest asks the host to migrate it.  The longest write is the I/O stall
# the guest saw; a ping every 0.2 s to the host counts what the network
# lost.  Prints "BENCH mode=M stall_us=N writes=N ping_lost=N".
set -u
mode=$(sed -n 's/.*pvio_bench\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
case $mode in
pvio)
	modprobe pvio_blk
	modprobe pvio_net
	modprobe pvio_balloon free_page_reporting=0
	disk=/dev/pvda ;;
*)
	modprobe virtio_pci
	modprobe virtio_blk
	modprobe virtio_net
	modprobe virtio_balloon
	disk=/dev/vda ;;
esac
w=0
while [ ! -b $disk ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
IF=
for i in /sys/class/net/*; do
	case ${i##*/} in lo) ;; *) IF=${i##*/} ;; esac
done
ip addr add 10.77.13.2/24 dev "$IF"
ip link set "$IF" up
w=0
while ! ping -c 1 -W 1 10.77.13.1 >/dev/null 2>&1 && [ $w -lt 20 ]; do w=$((w + 1)); done
fio --name=stall --filename=$disk --ioengine=libaio --direct=1 --rw=randwrite --bs=4k \
	--iodepth=1 --size=64M --rate_iops=100 --time_based --runtime=25 \
	--output-format=json >/tmp/fio.json 2>&1 &
fpid=$!
ping -i 0.2 -c 125 -W 1 10.77.13.1 >/tmp/ping.out 2>&1 &
ppid=$!
sleep 5
echo "PVIO-SYNC migrate"
wait $fpid
wait $ppid
stall=$(awk '/"write" : \{/ { w = 1 } w && /"lat_ns" : \{/ { l = 1 }
	l && /"max"/ { gsub(/[^0-9]/, ""); print int($0 / 1000); exit }' /tmp/fio.json)
n=$(awk '/"write" : \{/ { w = 1 } w && /"total_ios"/ { gsub(/[^0-9]/, ""); print; exit }' /tmp/fio.json)
sent=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/\1 \2/p' /tmp/ping.out)
echo "BENCH mode=$mode stall_us=${stall:-0} writes=${n:-0} ping_lost=$(( ${sent% *} - ${sent#* } ))"
