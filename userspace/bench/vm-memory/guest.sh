#!/bin/sh
# userspace/bench/vm-memory/guest.sh - guest half of run.sh (busybox sh).
#
# bench.mod= names the balloon driver to load (virtio_balloon,
# pvio_balloon, or none).  The guest first reads bench.cache= MiB from a
# file on its disk (ext4 on /dev/vda, kept mounted) into its page cache,
# then plays the working set bench.role= names for bench.secs= seconds
# (S), in pieces of 64 MiB held with a pattern
# (pvbal_mem hold; a piece ends, verified, when its file appears):
#   idle       48 MiB, held throughout
#   growing    a piece every S/8 s, five of them (320 MiB), held
#   shrinking  five pieces at once, then one fewer every S/8 s
#   spike      nothing for S/3 s, then 256 MiB for S/3 s, then nothing
# The time each piece took to fill (ms, "grow") tells how soon the guest
# got its memory.  At the end:
#   BENCH guest ROLE oom_kills N major_faults N grow_max_ms N bad N uptime_ms N
set -u
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

MOD=$(arg bench.mod)
ROLE=$(arg bench.role)
S=$(arg bench.secs)
C=$(arg bench.cache)
modprobe virtio_pci
modprobe virtio_blk
case $MOD in
virtio_balloon) modprobe virtio_balloon ;;
pvio_balloon) modprobe pvio; modprobe pvio_balloon ;;
esac
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
modprobe crc32c_generic
modprobe ext4
mkdir -p /mnt
if mount -t ext4 -o ro /dev/vda /mnt; then
	cat /mnt/data >/dev/null
	echo "# read $C MiB from the disk: $(awk '$1 == "Cached:" { print int($2 / 1024) }' /proc/meminfo) MiB cached"
else
	echo "# no disk to read"
fi
echo 1 >/proc/sys/vm/overcommit_memory
oom0=$(vmstat oom_kill)
maj0=$(vmstat pgmajfault)
grow_max=0
bad=0
pieces=0

# piece MIB: hold MIB MiB until /tmp/p$pieces exists; records its fill time.
piece() {
	pieces=$((pieces + 1))
	t0=$(now_ms)
	pvbal_mem hold "$1" "/tmp/p$pieces" >"/tmp/p$pieces.out" 2>&1 &
	w=0
	while [ ! -f "/tmp/p$pieces.filled" ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w + 1)); done
	t=$(($(now_ms) - t0))
	[ $t -gt $grow_max ] && grow_max=$t
	echo "# $ROLE: piece $pieces of $1 MiB filled in $t ms"
}
release() { touch "/tmp/p$1"; }
step=$((S / 8))
case $ROLE in
idle)
	piece 48
	sleep "$S"
	release 1 ;;
growing)
	sleep "$step"
	for i in 1 2 3 4 5; do piece 64; sleep "$step"; done
	sleep $((S - 6 * step))
	for i in 1 2 3 4 5; do release $i; done ;;
shrinking)
	for i in 1 2 3 4 5; do piece 64; done
	for i in 1 2 3 4 5; do sleep "$step"; release $i; done
	sleep $((S - 5 * step)) ;;
spike)
	sleep $((S / 3))
	piece 256
	sleep $((S / 3))
	release 1
	sleep $((S - 2 * (S / 3))) ;;
esac
wait
for f in /tmp/p*.out; do
	[ -f "$f" ] || continue
	grep -q 'verified' "$f" || { bad=$((bad + 1)); sed 's/^/# /' "$f"; }
done
echo "BENCH guest $ROLE oom_kills $(($(vmstat oom_kill) - oom0)) major_faults $(($(vmstat pgmajfault) - maj0)) grow_max_ms $grow_max bad $bad uptime_ms $(now_ms)"
exit 0
