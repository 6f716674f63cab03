#!/bin/sh
# tests/vm/guest/upgrade.sh - guest side of tests/vm/upgrade.sh (busybox sh).
#
# pvio_blk's disk (pvda), pvio_net's interface (10.77.10.2) and a
# balloon of 64 MiB under load while the host replaces pviod ten times: a loop of fio jobs, each
# writing 32 MiB at random with crc32c and verifying it (verify_fatal),
# one after the other; one TCP stream to the host (pvnet_xfer, paced to
# 40 Mbit/s, open-ended until /tmp/stop), which the host verifies byte
# for byte.  For each upgrade: block writes and transmitted bytes moved
# (or read back by fio's verify) in the 0.2 s before it was asked for,
# the devices' generation moved
# (the upgrade landed with I/O under way), all three devices are live
# again and MemTotal is what the balloon left.
# Then: no fio job failed, no I/O error in the kernel log, requests in
# flight went round again, the stream ended on its one connection (the
# host compares the byte counts: "# sent: ..."), 16 MiB written last are
# read back ("# image sha: ...", the host compares it with the image).
#
# Host requests (console lines):
#   PVIO-SYNC host-recv PORT SEED   an open-ended verifying receiver
#   PVIO-SYNC balloon-set SIZE      pvioctl balloon vm bal0 set SIZE --wait
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
# shellcheck source-path=SCRIPTDIR source=handover.sh
. /tests/handover.sh

modprobe pvio_blk
modprobe pvio_net
modprobe pvio_balloon free_page_reporting=0
wait_devices balloon
net_up $ME $HOST

# ---- the balloon ------------------------------------------------------------
T0=$(memtotal)
sync_host balloon-set 64M
w=0
while [ $((T0 - $(memtotal))) -lt 65536 ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
T1=$(memtotal)
check "the balloon took 64 MiB (MemTotal $((T0 / 1024)) -> $((T1 / 1024)) MiB)" [ $((T0 - T1)) -ge 65536 ]

# ---- the load --------------------------------------------------------------
rm -f /tmp/stop
fio_loop up 4 32 --size=32M &
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
	wait_flowing 0 $fpid $xpid
	c0=$(now)
	sync_host upgrade $i
	w=0
	while [ "$(gen)" = "$g0" ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
	g1=$(gen)
	while { [ "$(blk_state)" != live ] || [ "$(net_state)" != live ] ||
		[ "$(bal_state)" != live ]; } && [ $w -lt 900 ]; do
		sleep 0.1
		w=$((w + 1))
	done
	c1=$(now)
	# A balloon the new pviod got wrong moves within a statistics round.
	sleep 1
	T2=$(memtotal)
	echo "# upgrade $i: I/O under way before it: $flowing ($(((s1 - s0) / 2)) KiB read and written, $((t1 - t0)) bytes sent in the 0.2 s before); generation $g0 -> $g1; disk '$(blk_state)', nic '$(net_state)', balloon '$(bal_state)' after $(((c1 - c0) / 100)).$(((c1 - c0) % 100 / 10)) s; MemTotal $((T2 / 1024)) MiB"
	[ "$flowing" = yes ] && [ "$g1" != "$g0" ] && [ "$(blk_state)" = live ] &&
		[ "$(net_state)" = live ] && [ "$(bal_state)" = live ] && [ "$T2" = "$T1" ] &&
		landed=$((landed + 1))
done
check "each of the 10 upgrades landed with block I/O and the TCP stream under way, all devices live after, the balloon as it was (got $landed of 10)" \
	[ $landed = 10 ]

# ---- the verdict -------------------------------------------------------------
touch /tmp/stop
# The job under way at the last upgrade ran to its end and verified too.
fio_verdict $fpid 1 "wrote and verified its 32 MiB through the upgrades"
wait $xpid
xr=$?
sed 's/^/# sent: /' /tmp/xfer.out
check "the TCP stream ran on one connection through every upgrade (sender rc $xr)" [ $xr = 0 ]
no_io_errors
requeued=$(requeued)
check "requests in flight at the upgrades went round again ($requeued requeued in all)" [ "$requeued" -gt 0 ]
since | grep -E 'pvio' | grep -E 'restored|requeued|failing' | tail -n 6 | sed 's/^/# /'
check "MemTotal is what the balloon left ($(($(memtotal) / 1024)) MiB, $((T1 / 1024)) before the upgrades)" [ "$(memtotal)" = "$T1" ]
last_write "after the upgrades"
dmesg_clean
echo "1..$n"
exit "$fail"
