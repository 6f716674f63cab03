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
sync_host() { echo "PVIO-SYNC $*"; }
now() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; }	# centiseconds
gen() { cat "/sys/block/$D/device/generation"; }
iosect() { awk '{ print $3 + $7 }' "/sys/block/$D/stat"; }
txb() { cat "/sys/class/net/$IF/statistics/tx_bytes"; }
rxb() { cat "/sys/class/net/$IF/statistics/rx_bytes"; }
blk_state() { cat "/sys/block/$D/device/state" 2>/dev/null; }
net_state() { cat "/sys/class/net/$IF/device/state" 2>/dev/null; }
bal_state() {
	for d in /sys/bus/pvio/devices/*; do
		[ "$(cat "$d/type" 2>/dev/null)" = balloon ] && { cat "$d/state"; return 0; }
	done
	echo none
}
memtotal() { awk '/^MemTotal:/ { print $2 }' /proc/meminfo; }

modprobe pvio_blk
modprobe pvio_net
modprobe pvio_balloon free_page_reporting=0
w=0
while [ ! -b $B ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
check "pvio_blk's disk $D is there" [ -b $B ]
w=0
IF=
while ! IF=$(pvio_net_if) && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
w=0
while [ "$(bal_state)" != live ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
check "pvio_balloon's device is live (got '$(bal_state)')" [ "$(bal_state)" = live ]
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

# ---- the balloon ------------------------------------------------------------
T0=$(memtotal)
sync_host balloon-set 64M
w=0
while [ $((T0 - $(memtotal))) -lt 65536 ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
T1=$(memtotal)
check "the balloon took 64 MiB (MemTotal $((T0 / 1024)) -> $((T1 / 1024)) MiB)" [ $((T0 - T1)) -ge 65536 ]

# ---- the load --------------------------------------------------------------
rm -f /tmp/stop /tmp/fio.rc
fio_loop() {
	i=0
	while [ ! -f /tmp/stop ] && [ -b $B ]; do
		i=$((i + 1))
		fio --name=mg$i --filename=$B --ioengine=libaio --direct=1 --rw=randwrite \
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
	flowing=no
	w=0
	while [ $flowing = no ] && [ $w -lt 50 ]; do
		s0=$(iosect)
		t0=$(txb)
		r0=$(rxb)
		sleep 0.2
		s1=$(iosect)
		t1=$(txb)
		r1=$(rxb)
		[ "$s1" -gt "$s0" ] && [ "$t1" -gt "$t0" ] && [ "$r1" -gt "$r0" ] &&
			kill -0 $fpid 2>/dev/null && kill -0 $xpid 2>/dev/null &&
			kill -0 $rpid 2>/dev/null && flowing=yes
		w=$((w + 1))
	done
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
w=0
while kill -0 $fpid 2>/dev/null && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
kill -0 $fpid 2>/dev/null && echo "# the fio loop did not stop within 120 s"
jobs=$(wc -l </tmp/fio.rc)
bad=$(awk '$2 != 0' /tmp/fio.rc | wc -l)
good=0
[ "$jobs" -ge 1 ] && [ "$bad" = 0 ] && ! kill -0 $fpid 2>/dev/null && good=1
check "every fio job wrote and verified its 32 MiB through the migrations ($jobs jobs, $bad failed)" [ $good = 1 ]
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
since() { dmesg | tail -n +$((mark + 1)); }
ioerr=$(since | grep -c 'I/O error')
check "no I/O error in the kernel log (got $ioerr)" [ "$ioerr" = 0 ]
requeued=$(since | sed -n 's/.*after reset: \([0-9]*\) request(s) requeued.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
echo "# block requests in flight at the migrations, sent again: $requeued"
# Reaps the stop cut in two (protocol 6.4): how often it happened, not a check.
echo "# completions taken as the guest moved, not used: $(since | grep -c 'taken as the guest moved')"
since | grep -E 'pvio' | grep -E 'restarted|restored|requeued|failing' | tail -n 8 | sed 's/^/# /'
sync_host balloon-status
check "MemTotal is what the balloon left ($(($(memtotal) / 1024)) MiB, $((T1 / 1024)) before the migrations)" [ "$(memtotal)" = "$T1" ]
dd if=/dev/urandom of=/tmp/last bs=1M count=16 2>/dev/null
dd if=/tmp/last of=$B bs=1M count=16 oflag=direct conv=fsync 2>/dev/null
rsha=$(dd if=$B bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
check "16 MiB written after the migrations read back intact" [ "$rsha" = "$(sha256sum </tmp/last | cut -d' ' -f1)" ]
echo "# image sha: $rsha"
dmesg_clean
echo "1..$n"
exit "$fail"
