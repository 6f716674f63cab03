#!/bin/sh
# tests/vm/guest/kills.sh - guest side of tests/vm/kills.sh (busybox sh).
#
# pvio_blk's disk (pvda), pvio_net's interface (10.77.11.2) and
# pvio_balloon under load while the host kills pviod's worker again and
# again: a loop of fio jobs, each writing 4096 random 4 KiB blocks into
# 8 MiB with crc32c (so most blocks are written more than once; never two
# writes to one block in flight at once) and verifying the last write of
# each (verify_fatal); one TCP stream to the host (pvnet_xfer, paced to
# 40 Mbit/s, open-ended until /tmp/stop), which the host verifies byte for
# byte; 128 MiB of memory filled with a pattern (pvbal_mem hold) while the
# host moves the balloon.  The campaign is the host's; it ends by growing
# the disk to 260 MiB, which tells this script to stop the load.  Then:
# no fio job failed, the stream ended on its one connection (the host
# compares the byte counts: "# sent: ..."), no I/O error in the kernel
# log, requests in flight went round again, the held pattern is intact,
# MemTotal follows a balloon of 64 MiB and of 0 exactly, 16 MiB written
# last are read back ("# image sha: ...", the host compares it with the
# image), a clean kernel log.
#
# Host requests (console lines):
#   PVIO-SYNC host-recv PORT SEED   an open-ended verifying receiver
#   PVIO-SYNC campaign              the kills (tests/vm/kills.sh)
#   PVIO-SYNC balloon SIZE          set the balloon's target, --wait
set -u

HOST=10.77.11.1
ME=10.77.11.2
D=pvda
B=/dev/$D
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }	# kB
# wait_total KB SECONDS: until MemTotal is KB (within 2 MiB)
wait_total() {
	w=0
	while [ $w -lt $(($2 * 10)) ]; do
		d=$(($(meminfo MemTotal) - $1))
		[ $d -lt 0 ] && d=$((-d))
		[ $d -le 2048 ] && return 0
		sleep 0.1
		w=$((w + 1))
	done
	return 1
}

modprobe pvio_blk
modprobe pvio_net
modprobe pvio_balloon free_page_reporting=0
w=0
IF=
while { [ ! -b $B ] || ! IF=$(pvio_net_if) || ! dmesg | grep -q 'balloon: features'; } &&
	[ $w -lt 100 ]; do
	sleep 0.1
	w=$((w + 1))
done
if [ ! -b $B ] || [ -z "$IF" ] || ! dmesg | grep -q 'balloon: features'; then
	nok "pvio_blk's disk, pvio_net's interface and pvio_balloon are there"
	dmesg | grep pvio | tail -n 10 | sed 's/^/# /'
	echo "1..$n"
	exit "$fail"
fi
ok "pvio_blk's disk $D, pvio_net's interface $IF and pvio_balloon are there"
T0=$(meminfo MemTotal)
ip addr add "$ME/24" dev "$IF"
ip link set "$IF" up
w=0
while ! ping -c 1 -W 1 "$HOST" >/dev/null 2>&1 && [ $w -lt 20 ]; do w=$((w + 1)); done
check "pvio_net's interface $IF reaches the host" ping -c 1 -W 2 "$HOST"
SIZE0=$(cat /sys/block/$D/size)

# ---- the load --------------------------------------------------------------
rm -f /tmp/stop /tmp/fio.rc /tmp/go
fio_loop() {
	i=0
	while [ ! -f /tmp/stop ] && [ -b $B ]; do
		i=$((i + 1))
		fio --name=kl$i --filename=$B --ioengine=libaio --direct=1 --rw=randwrite \
			--bs=4k --iodepth=16 --offset=$((64 + i % 8 * 8))M --size=8M --number_ios=4096 \
			--norandommap=1 --randrepeat=0 --serialize_overlap=1 \
			--rate_iops=,1500 --verify=crc32c --do_verify=1 \
			--verify_fatal=1 --output-format=terse --terse-version=3 >/tmp/fio$i.out 2>&1
		r=$?
		echo "$i $r" >>/tmp/fio.rc
		[ $r = 0 ] || sed "s/^/# fio job $i: /" /tmp/fio$i.out | tail -n 6
	done
}
fio_loop &
fpid=$!
sync_host host-recv 5311 13
pvnet_xfer send "$HOST" 5311 0 13 --rate 40 --until /tmp/stop --timeout 3500 >/tmp/xfer.out 2>&1 &
xpid=$!
pvbal_mem hold 128 /tmp/go >/tmp/hold.out 2>&1 &
hpid=$!
w=0
while [ ! -f /tmp/go.filled ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
check "128 MiB of memory hold a pattern" [ -f /tmp/go.filled ]
sleep 1
mark=$(dmesg | wc -l)

# ---- the campaign: the host's, until it grows the disk ---------------------
sync_host campaign
w=0
while [ "$(cat /sys/block/$D/size)" = "$SIZE0" ] && [ $w -lt 36000 ]; do sleep 0.1; w=$((w + 1)); done
check "the host said the campaign is over (the disk grew: $SIZE0 -> $(cat /sys/block/$D/size) sectors)" \
	[ "$(cat /sys/block/$D/size)" != "$SIZE0" ]

# ---- the verdict -------------------------------------------------------------
touch /tmp/stop /tmp/go
w=0
while kill -0 $fpid 2>/dev/null && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
kill -0 $fpid 2>/dev/null && echo "# the fio loop did not stop within 120 s"
jobs=$(wc -l </tmp/fio.rc)
bad=$(awk '$2 != 0' /tmp/fio.rc | wc -l)
good=0
[ "$jobs" -ge 2 ] && [ "$bad" = 0 ] && ! kill -0 $fpid 2>/dev/null && good=1
check "every fio job verified the last write of each block it overwrote through the kills ($jobs jobs, $bad failed)" [ $good = 1 ]
wait $xpid
xr=$?
sed 's/^/# sent: /' /tmp/xfer.out
check "the TCP stream ran on one connection through every kill (sender rc $xr)" [ $xr = 0 ]
wait $hpid
hr=$?
sed 's/^/# hold: /' /tmp/hold.out
check "the 128 MiB held through the kills and the balloon's moves are intact (rc $hr)" [ $hr = 0 ]
since() { dmesg | tail -n +$((mark + 1)); }
ioerr=$(since | grep -c 'I/O error')
check "no I/O error in the kernel log (got $ioerr)" [ "$ioerr" = 0 ]
requeued=$(since | sed -n 's/.*after reset: \([0-9]*\) request(s) requeued.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
check "block requests in flight at the kills went round again ($requeued requeued in all)" [ "$requeued" -gt 0 ]
since | grep -E 'pvio' | grep -vE 'requeued|dirty' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/# /'

# ---- the balloon's accounting after it all -----------------------------------
sync_host balloon 64M
wait_total $((T0 - 65536)) 60
check "a balloon of 64 MiB takes 64 MiB from MemTotal ($((T0 / 1024)) -> $(($(meminfo MemTotal) / 1024)) MiB)" \
	wait_total $((T0 - 65536)) 1
sync_host balloon 0
wait_total "$T0" 60
check "a balloon of 0 gives it all back (MemTotal $(($(meminfo MemTotal) / 1024)) MiB, $((T0 / 1024)) before)" \
	wait_total "$T0" 1

dd if=/dev/urandom of=/tmp/last bs=1M count=16 2>/dev/null
dd if=/tmp/last of=$B bs=1M count=16 oflag=direct conv=fsync 2>/dev/null
rsha=$(dd if=$B bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
check "16 MiB written after the kills read back intact" [ "$rsha" = "$(sha256sum </tmp/last | cut -d' ' -f1)" ]
echo "# image sha: $rsha"
dmesg_clean
echo "1..$n"
exit "$fail"
