#!/bin/sh
# Guest side of userspace/bench/vm-blk/run.sh (busybox sh): load the disk
# driver under test, wait for its disk, run the fio jobs against it
# (O_DIRECT, libaio) and print each fio JSON result between PVIO-JSON
# markers for the host to parse.
set -u
DUR=10
MOD=
for a in $(cat /proc/cmdline); do case $a in bench.dur=*) DUR=${a#bench.dur=} ;; bench.mod=*) MOD=${a#bench.mod=} ;; esac; done
case $MOD in
ahci) modprobe ahci && modprobe sd_mod; DEV=sda ;;
virtio_blk) modprobe virtio_pci && modprobe virtio_blk; DEV=vda ;;
pvio_blk) modprobe pvio_blk; DEV=pvda ;;
*) echo "unknown bench.mod '$MOD'"; exit 1 ;;
esac
w=0
while [ ! -b /dev/$DEV ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
[ -b /dev/$DEV ] || { echo "no /dev/$DEV appeared"; exit 1; }
echo "# $MOD: /dev/$DEV, $(cat /sys/block/$DEV/size) sectors, $(ls /sys/block/$DEV/mq | wc -l) hw queue(s), nr_requests $(cat /sys/block/$DEV/queue/nr_requests)"
echo none >/sys/block/$DEV/queue/scheduler 2>/dev/null
run() {
	name=$1
	shift
	echo "PVIO-JSON-BEGIN $name"
	fio --name="$name" --filename=/dev/$DEV --ioengine=libaio --direct=1 \
		--time_based --runtime="$DUR" --ramp_time=1 --output-format=json "$@" | tr -d '\n'
	echo
	echo "PVIO-JSON-END $name"
}
run randread_4k_qd1 --rw=randread --bs=4k --iodepth=1
run randread_4k_qd32 --rw=randread --bs=4k --iodepth=32
run randwrite_4k_qd32 --rw=randwrite --bs=4k --iodepth=32
run read_128k --rw=read --bs=128k --iodepth=8
run write_128k --rw=write --bs=128k --iodepth=8
grep -E 'pvio|virtio|ahci' /proc/interrupts | sed 's/^/# irq: /'
