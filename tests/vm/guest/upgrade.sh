#!/bin/sh
# tests/vm/guest/upgrade.sh - guest side of tests/vm/upgrade.sh (busybox sh).
#
# pvio_blk's disk (pvda) and pvio_net's interface (10.77.10.2) under
# load while the host replaces pviod ten times: a loop of fio jobs, each
# writing 32 MiB at random with crc32c and verifying it (verify_fatal),
# one after the other; one TCP stream to the host (pvnet_xfer, paced to
# 40 Mbit/s, open-ended until /tmp/stop), which the host verifies byte
# for byte.  For each upgrade: block writes and transmitted bytes moved
# (or read back by fio's verify) in the 0.2 s before it was asked for,
# the devices' generation moved
# (the upgrade landed with I/O under way), both devices are live again.
# Then: no fio job failed, no I/O error in the kernel log, requests in
# flight went round again, the stream ended on its one connection (the
# host compares the byte counts: "# sent: ..."), 16 MiB written last are
# read back ("# image sha: ...", the host compares it with the image).
#
# Host requests (console lines):
#   PVIO-SYNC host-recv PORT SEED   an open-ended verifying receiver
#   PVIO-SYNC upgrade I             hand-over I of 10: an exec, a
#                                   restart or a crash of pviod (the
#                                   host's half says which)
set -u

HOST=10.77.10.1
ME=10.77.10.2
D=pvda
B=/dev/$D
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
now() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; }	# centiseconds
gen() { cat "/sys/block/$D/device/generation"; }
# sectors read and written: fio verifies (reads) after each job's writes
iosect() { awk '{ print $3 + $7 }' "/sys/block/$D/stat"; }
txb() { cat "/sys/class/net/$IF/statistics/tx_bytes"; }
blk_state() { cat "/sys/block/$D/device/state" 2>/dev/null; }
net_state() { cat "/sys/class/net/$IF/device/state" 2>/dev/null; }

modprobe pvio_blk
modprobe pvio_net
w=0
while [ ! -b $B ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
check "pvio_blk's disk $D is there" [ -b $B ]
w=0
IF=
while ! IF=$(pvio_net_if) && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
if [ ! -b $B ] || [ -z "$IF" ]; then
	nok "pvio_net's interface is there"
	dmesg | grep pvio | tail -n 10 | sed 's/^/# /'
	echo "1..$n"
	exit "$fail"
fi
ip addr add "$ME/24" dev "$IF"
ip link set "$IF" up
w=0
while ! ping -c 1 -W 1 "$HOST" >/dev/null 2>&1 && [ $w -lt 20 ]; do w=$((w + 1)); done
check "pvio_net's interface $IF reaches the host" ping -c 1 -W 2 "$HOST"

# ---- the load --------------------------------------------------------------
rm -f /tmp/stop /tmp/fio.rc
fio_loop() {
	i=0
	while [ ! -f /tmp/stop ] && [ -b $B ]; do
		i=$((i + 1))
		fio --name=up$i --filename=$B --ioengine=libaio --direct=1 --rw=randwrite \
			--bs=4k --iodepth=16 --offset=$((64 + i % 4 * 32))M --size=32M \
			--rate_iops=,1500 --randseed=$i --verify=crc32c --do_verify=1 \
			--verify_fatal=1 --output-format=terse --terse-version=3 >/tmp/fio$i.out 2>&1
		r=$?
		echo "$i $r" >>/tmp/fio.rc
		[ $r = 0 ] || sed "s/^/# fio job $i: /" /tmp/fio$i.out | tail -n 6
	done
}
fio_loop &
fpid=$!
sync_host host-recv 5310 11
pvnet_xfer send "$HOST" 5310 0 11 --rate 40 --until /tmp/stop --timeout 850 >/tmp/xfer.out 2>&1 &
xpid=$!
sleep 2
mark=$(dmesg | wc -l)

# ---- ten upgrades, one at a time ------------------------------------------
landed=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	g0=$(gen)
	# Asked for only once both moved in the last 0.2 s (between two fio
	# jobs the disk rests a moment), at most 10 s of waiting.
	flowing=no
	w=0
	while [ $flowing = no ] && [ $w -lt 50 ]; do
		s0=$(iosect)
		t0=$(txb)
		sleep 0.2
		s1=$(iosect)
		t1=$(txb)
		[ "$s1" -gt "$s0" ] && [ "$t1" -gt "$t0" ] && kill -0 $fpid 2>/dev/null &&
			kill -0 $xpid 2>/dev/null && flowing=yes
		w=$((w + 1))
	done
	c0=$(now)
	sync_host upgrade $i
	w=0
	while [ "$(gen)" = "$g0" ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
	g1=$(gen)
	while { [ "$(blk_state)" != live ] || [ "$(net_state)" != live ]; } && [ $w -lt 900 ]; do
		sleep 0.1
		w=$((w + 1))
	done
	c1=$(now)
	echo "# upgrade $i: I/O under way before it: $flowing ($(((s1 - s0) / 2)) KiB read and written, $((t1 - t0)) bytes sent in the 0.2 s before); generation $g0 -> $g1; disk '$(blk_state)', nic '$(net_state)' after $(((c1 - c0) / 100)).$(((c1 - c0) % 100 / 10)) s"
	[ "$flowing" = yes ] && [ "$g1" != "$g0" ] && [ "$(blk_state)" = live ] &&
		[ "$(net_state)" = live ] && landed=$((landed + 1))
done
check "each of the 10 upgrades landed with block I/O and the TCP stream under way, both devices live after (got $landed of 10)" \
	[ $landed = 10 ]

# ---- the verdict -------------------------------------------------------------
touch /tmp/stop
w=0
while kill -0 $fpid 2>/dev/null && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
kill -0 $fpid 2>/dev/null && echo "# the fio loop did not stop within 120 s"
jobs=$(wc -l </tmp/fio.rc)
bad=$(awk '$2 != 0' /tmp/fio.rc | wc -l)
# The job under way at the last upgrade ran to its end and verified too.
good=0
[ "$jobs" -ge 1 ] && [ "$bad" = 0 ] && ! kill -0 $fpid 2>/dev/null && good=1
check "every fio job wrote and verified its 32 MiB through the upgrades ($jobs jobs, $bad failed)" [ $good = 1 ]
wait $xpid
xr=$?
sed 's/^/# sent: /' /tmp/xfer.out
check "the TCP stream ran on one connection through every upgrade (sender rc $xr)" [ $xr = 0 ]
since() { dmesg | tail -n +$((mark + 1)); }
ioerr=$(since | grep -c 'I/O error')
check "no I/O error in the kernel log (got $ioerr)" [ "$ioerr" = 0 ]
requeued=$(since | sed -n 's/.*after reset: \([0-9]*\) request(s) requeued.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
check "requests in flight at the upgrades went round again ($requeued requeued in all)" [ "$requeued" -gt 0 ]
since | grep -E 'pvio' | grep -E 'restored|requeued|failing' | tail -n 6 | sed 's/^/# /'
dd if=/dev/urandom of=/tmp/last bs=1M count=16 2>/dev/null
dd if=/tmp/last of=$B bs=1M count=16 oflag=direct conv=fsync 2>/dev/null
rsha=$(dd if=$B bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
check "16 MiB written after the upgrades read back intact" [ "$rsha" = "$(sha256sum </tmp/last | cut -d' ' -f1)" ]
echo "# image sha: $rsha"
dmesg_clean
echo "1..$n"
exit "$fail"
