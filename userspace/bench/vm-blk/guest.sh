#!/bin/sh
# Guest side of userspace/bench/vm-blk/run.sh (busybox sh): load the disk
# driver under test, wait for its disk, run the fio jobs against it
# (O_DIRECT, libaio) and print each fio JSON result between PVIO-JSON
# markers for the host to parse.
#
# With bench.count=1 (the host's counting boot) each job is also bracketed
# by writes to I/O port 0x80 (N before job N, 0x80 + N after it), which
# the host finds in QEMU's trace of every MMIO and port access, and the
# guest counts for each job its driver's notifications (a kprobe on the
# function that rings the doorbell: vp_notify, pvio_ring_doorbell; both
# are ioeventfd writes that QEMU's trace does not see) and the device's
# interrupts (/proc/interrupts), printed as "PVIO-COUNT JOB NOTIFY IRQS".
set -u
DUR=10
MOD=
COUNT=0
for a in $(cat /proc/cmdline); do
	case $a in
	bench.dur=*) DUR=${a#bench.dur=} ;;
	bench.mod=*) MOD=${a#bench.mod=} ;;
	bench.count=*) COUNT=${a#bench.count=} ;;
	esac
done
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
case $MOD in
virtio_blk) NOTIFY=vp_notify IRQ='virtio' ;;
pvio_blk) NOTIFY=pvio_ring_doorbell IRQ='pvio' ;;
*) NOTIFY='' IRQ='ahci' ;;
esac
# shellcheck source-path=SCRIPTDIR source=../common/guest-count.sh
. /tests/count.sh
count_setup
# The counting boot counts every I/O fio does: no ramp time.
RAMP=1
[ "$COUNT" = 1 ] && RAMP=0
job=0
run() {
	name=$1
	shift
	job=$((job + 1))
	if [ "$COUNT" = 1 ]; then
		n0=$(notifies)
		i0=$(irqs)
		port80 $job
	fi
	echo "PVIO-JSON-BEGIN $name"
	fio --name="$name" --filename=/dev/$DEV --ioengine=libaio --direct=1 \
		--time_based --runtime="$DUR" --ramp_time=$RAMP --output-format=json "$@" | tr -d '\n'
	echo
	echo "PVIO-JSON-END $name"
	if [ "$COUNT" = 1 ]; then
		port80 $((128 + job))
		echo "PVIO-COUNT $name $(($(notifies) - n0)) $(($(irqs) - i0))"
	fi
}
run randread_4k_qd1 --rw=randread --bs=4k --iodepth=1
run randread_4k_qd32 --rw=randread --bs=4k --iodepth=32
run randwrite_4k_qd32 --rw=randwrite --bs=4k --iodepth=32
run read_128k --rw=read --bs=128k --iodepth=8
run write_128k --rw=write --bs=128k --iodepth=8
grep -E 'pvio|virtio|ahci' /proc/interrupts | sed 's/^/# irq: /'
