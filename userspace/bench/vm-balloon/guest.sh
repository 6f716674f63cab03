#!/bin/sh
# userspace/bench/vm-balloon/guest.sh - guest half of run.sh (busybox sh).
#
# Loads the balloon driver named by bench.mod= (virtio_balloon or
# pvio_balloon), then for each size in bench.sizes= (MiB): touches almost
# all free memory (so that the host has backed it and an inflation really
# returns memory), asks the host to inflate by SIZE ("PVIO-SYNC inflate
# SIZE"), times until MemTotal has dropped by SIZE, and reports wall time
# and the guest's CPU time (all CPUs, busy ticks in /proc/stat) as
#   BENCH inflate SIZE wall_ms N cpu_ms N
# then asks for everything back ("PVIO-SYNC deflate") and waits for it.
set -u
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# wait_total KB: until MemTotal is within 4 MiB of KB (about 3 minutes at most)
wait_total() {
	w=0
	while [ $w -lt 3600 ]; do
		d=$(($(meminfo MemTotal) - $1))
		[ $d -lt 0 ] && d=$((-d))
		[ $d -le 4096 ] && return 0
		sleep 0.05
		w=$((w + 1))
	done
	return 1
}

MOD=$(arg bench.mod)
SIZES=$(arg bench.sizes | tr , ' ')
HZ=100
# virtio_balloon needs the PCI transport, which no dependency pulls in.
[ "$MOD" = virtio_balloon ] && modprobe virtio_pci
modprobe "$MOD" || { echo "BENCH error modprobe $MOD"; exit 1; }
sleep 2
T0=$(meminfo MemTotal)
echo "# $MOD: MemTotal $((T0 / 1024)) MiB"
echo 1 >/proc/sys/vm/overcommit_memory
for s in $SIZES; do
	pvbal_mem touch $(($(meminfo MemFree) / 1024 - 160)) >/dev/null
	sleep 1
	c0=$(busy)
	t0=$(now_ms)
	echo "PVIO-SYNC inflate $s"
	if ! wait_total $((T0 - s * 1024)); then
		echo "BENCH error inflate $s: MemTotal $(($(meminfo MemTotal) / 1024)) MiB"
		exit 1
	fi
	t1=$(now_ms)
	c1=$(busy)
	echo "BENCH inflate $s wall_ms $((t1 - t0)) cpu_ms $(((c1 - c0) * 1000 / HZ))"
	echo "PVIO-SYNC deflate"
	wait_total "$T0" || { echo "BENCH error deflate"; exit 1; }
done
exit 0
