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
# shellcheck source-path=SCRIPTDIR source=handover.sh
. /tests/handover.sh
# wait_total KB SECONDS: until MemTotal is KB (within 2 MiB)
wait_total() {
	w=0
	while [ $w -lt $(($2 * 10)) ]; do
		d=$(($(memtotal) - $1))
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
wait_devices balloon
T0=$(memtotal)
net_up $ME $HOST
SIZE0=$(cat /sys/block/$D/size)

# ---- the load --------------------------------------------------------------
rm -f /tmp/stop /tmp/go
# 4096 writes into 8 MiB: most blocks are written more than once, never
# twice at once (serialize_overlap); the last write of each is verified.
fio_loop kl 8 8 --size=8M --number_ios=4096 --norandommap=1 --serialize_overlap=1 &
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
fio_verdict $fpid 2 "verified the last write of each block it overwrote through the kills"
wait $xpid
xr=$?
sed 's/^/# sent: /' /tmp/xfer.out
check "the TCP stream ran on one connection through every kill (sender rc $xr)" [ $xr = 0 ]
wait $hpid
hr=$?
sed 's/^/# hold: /' /tmp/hold.out
check "the 128 MiB held through the kills and the balloon's moves are intact (rc $hr)" [ $hr = 0 ]
no_io_errors
requeued=$(requeued)
check "block requests in flight at the kills went round again ($requeued requeued in all)" [ "$requeued" -gt 0 ]
since | grep -E 'pvio' | grep -vE 'requeued|dirty' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/# /'

# ---- the balloon's accounting after it all -----------------------------------
sync_host balloon 64M
wait_total $((T0 - 65536)) 60
check "a balloon of 64 MiB takes 64 MiB from MemTotal ($((T0 / 1024)) -> $(($(memtotal) / 1024)) MiB)" \
	wait_total $((T0 - 65536)) 1
sync_host balloon 0
wait_total "$T0" 60
check "a balloon of 0 gives it all back (MemTotal $(($(memtotal) / 1024)) MiB, $((T0 / 1024)) before)" \
	wait_total "$T0" 1

last_write "after the kills"
dmesg_clean
echo "1..$n"
exit "$fail"
