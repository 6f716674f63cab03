#!/bin/sh
# tests/vm/guest/migrate.sh - guest side of tests/vm/migrate.sh (busybox sh).
#
# pvio_blk's disk (pvda), pvio_net's interface (10.77.12.2) and
# pvio_balloon under load while the host live-migrates this guest from
# one QEMU and pviod to another and back: a loop of fio jobs, each
# writing 32 MiB at random with crc32c and reading it back to verify it;
# one TCP stream to the host and one from it (pvnet_xfer, paced to
# 40 Mbit/s each, open-ended), each byte checked by its receiver; a
# balloon of 64 MiB set before the first migration.  What the backends
# wrote into this guest's memory around each switch-over (block reads,
# received frames) is verified: one lost write fails fio or the stream.
# For each migration: block I/O and both streams moved in the 0.2 s
# before it was asked for, the devices' generation moved (the
# destination took over), all three devices are live again and MemTotal
# is what the balloon left.  Then: no fio job failed, no I/O error, both
# streams ended whole on their one connection (the host compares the
# byte counts: "# sent: ...", "# received: ..."), 16 MiB written last
# read back ("# image sha: ...").
#
# Host requests (console lines):
#   PVIO-SYNC host-recv PORT SEED   an open-ended verifying receiver
#   PVIO-SYNC host-send PORT SEED   an open-ended sender to this guest
#   PVIO-SYNC host-send-stop        the host's sender stops
#   PVIO-SYNC balloon-set SIZE      pvioctl balloon vm bal0 set SIZE --wait
#   PVIO-SYNC migrate I             migration I of 2 (to the second pviod
#                                   and QEMU, then back to the first)
#   PVIO-SYNC balloon-status        the host records the balloon's status
set -u

HOST=10.77.12.1
ME=10.77.12.2
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
fio_loop mg 4 32 --size=32M &
fpid=$!
# Reads the backend writes into this guest's memory, all the time: 16 MiB
# written once, then read back and verified again and again.
fio --name=pre --filename=$B --ioengine=libaio --direct=1 --rw=write --bs=4k \
	--offset=0 --size=16M --verify=crc32c --do_verify=0 --randseed=5 >/tmp/pre.out 2>&1 ||
	sed 's/^/# fio pre: /' /tmp/pre.out | tail -n 6
read_loop() {
	i=0
	while [ ! -f /tmp/stop ] && [ -b $B ]; do
		i=$((i + 1))
		fio --name=pre --filename=$B --ioengine=libaio --direct=1 --rw=write --bs=4k \
			--iodepth=8 --offset=0 --size=16M --verify=crc32c --verify_only \
			--verify_fatal=1 --randseed=5 --output-format=terse --terse-version=3 \
			>/tmp/rd$i.out 2>&1
		r=$?
		echo "$i $r" >>/tmp/rd.rc
		[ $r = 0 ] || sed "s/^/# fio read pass $i: /" /tmp/rd$i.out | tail -n 6
	done
}
rm -f /tmp/rd.rc
read_loop &
rpl=$!
sync_host host-recv 5330 21
pvnet_xfer send "$HOST" 5330 0 21 --rate 40 --until /tmp/stop --timeout 850 >/tmp/xfer.out 2>&1 &
xpid=$!
pvnet_xfer recv 5331 0 22 --timeout 850 >/tmp/rx.out 2>&1 &
rpid=$!
sync_host host-send 5331 22
sleep 2
mark=$(dmesg | wc -l)

# ---- two migrations: there and back -----------------------------------------
landed=0
for i in 1 2; do
	g0=$(gen)
	# Asked for only once all three moved in the last 0.2 s.
	wait_flowing 1 $fpid $xpid $rpid
	c0=$(now)
	sync_host migrate $i
	w=0
	while [ "$(gen)" = "$g0" ] && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
	g1=$(gen)
	while { [ "$(blk_state)" != live ] || [ "$(net_state)" != live ] ||
		[ "$(bal_state)" != live ]; } && [ $w -lt 1500 ]; do
		sleep 0.1
		w=$((w + 1))
	done
	c1=$(now)
	T2=$(memtotal)
	sleep 2	# I/O on the new side before the next step
	echo "# migration $i: I/O under way before it: $flowing ($(((s1 - s0) / 2)) KiB read and written, $((t1 - t0)) bytes sent, $((r1 - r0)) received in the 0.2 s before); generation $g0 -> $g1; disk '$(blk_state)', nic '$(net_state)', balloon '$(bal_state)' after $(((c1 - c0) / 100)).$(((c1 - c0) % 100 / 10)) s; MemTotal $((T2 / 1024)) MiB"
	[ "$flowing" = yes ] && [ "$g1" != "$g0" ] && [ "$(blk_state)" = live ] &&
		[ "$(net_state)" = live ] && [ "$(bal_state)" = live ] && [ "$T2" = "$T1" ] &&
		landed=$((landed + 1))
done
check "both migrations landed with block I/O and both streams under way; every device live after, the balloon as it was (got $landed of 2)" \
	[ $landed = 2 ]

# ---- the verdict -------------------------------------------------------------
touch /tmp/stop
sync_host host-send-stop
fio_verdict $fpid 1 "wrote and verified its 32 MiB through the migrations"
w=0
while kill -0 $rpl 2>/dev/null && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
passes=$(wc -l </tmp/rd.rc)
rbad=$(awk '$2 != 0' /tmp/rd.rc | wc -l)
rgood=0
[ "$passes" -ge 2 ] && [ "$rbad" = 0 ] && ! kill -0 $rpl 2>/dev/null && rgood=1
check "every read pass verified the 16 MiB written first ($passes passes, $rbad failed)" [ $rgood = 1 ]
wait $xpid
xr=$?
sed 's/^/# sent: /' /tmp/xfer.out
check "the TCP stream to the host ran on one connection through both migrations (sender rc $xr)" [ $xr = 0 ]
wait $rpid
rr=$?
sed 's/^/# received: /' /tmp/rx.out
check "the TCP stream from the host arrived on one connection, every byte verified (receiver rc $rr)" [ $rr = 0 ]
no_io_errors
requeued=$(requeued)
echo "# block requests in flight at the migrations, sent again: $requeued"
# Reaps the stop cut in two (protocol 6.4): how often it happened, not a check.
echo "# completions taken as the guest moved, not used: $(since | grep -c 'taken as the guest moved')"
since | grep -E 'pvio' | grep -E 'restarted|restored|requeued|failing' | tail -n 8 | sed 's/^/# /'
sync_host balloon-status
check "MemTotal is what the balloon left ($(($(memtotal) / 1024)) MiB, $((T1 / 1024)) before the migrations)" [ "$(memtotal)" = "$T1" ]
last_write "after the migrations"
dmesg_clean
echo "1..$n"
exit "$fail"
