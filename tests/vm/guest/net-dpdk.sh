#!/bin/sh
# tests/vm/guest/net-dpdk.sh - guest side of tests/vm/net-dpdk.sh (busybox
# sh): pvio_net.ko on a pviod net device whose host side is a DPDK port.
#
# TAP on the console: the interface comes up as 10.78.0.2/24; ping the host
# end (10.78.0.1, the port's tap interface in the test's namespace); the
# device offers no large receive (no LRO on the port) and, on net_tap,
# no TSO, but checksum offload; verified TCP streams both ways with offloads on and
# off; the link follows "pvioctl net-link"; both queue pairs carry tx;
# a guest-requested reset (rx-gro-hw toggle) under the poll thread; a
# worker crash in the middle of a transfer; a clean kernel log.  Exit
# status: number of failures.  The host acts on "PVIO-SYNC ..." lines as
# in tests/vm/guest/net.sh (host-recv, host-send, link-down, link-up,
# kill-worker).
set -u

HOST=10.78.0.1
ME=10.78.0.2
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }

wait_if() { w=0; while ! IF=$(pvio_net_if) && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done; [ -n "${IF:-}" ]; }
carrier() { cat "/sys/class/net/$IF/carrier" 2>/dev/null; }
wait_carrier() { w=0; while [ "$(carrier)" != "$1" ] && [ $w -lt "${2:-100}" ]; do sleep 0.1; w=$((w + 1)); done; [ "$(carrier)" = "$1" ]; }
to_host() {
	sync_host host-recv "$1" "$2" "$3"
	pvnet_xfer send "$HOST" "$1" "$2" "$3" --timeout 300 >/tmp/xfer.out 2>&1
	rc=$?
	sed 's/^/# guest: /' /tmp/xfer.out
	return $rc
}
from_host() {
	pvnet_xfer recv "$1" "$2" "$3" --timeout 300 >/tmp/xfer.out 2>&1 &
	p=$!
	sync_host host-send "$1" "$2" "$3"
	wait $p
	rc=$?
	sed 's/^/# guest: /' /tmp/xfer.out
	return $rc
}
stat() { ethtool -S "$IF" | awk -v k="$1:" '$1 == k { print $2 }'; }
features() { echo $(($(cat "/sys/class/net/$IF/device/features"))); }
# CSUM (0), GUEST_CSUM (1), MRG_RXBUF (9); HOST_TSO4/6 (4, 5) not with
# net_tap (its TSO refuses MTU-sized segments); GUEST_TSO4/6 (7, 8) never
WANT=$(((1 << 0) | (1 << 1) | (1 << 9)))
NOT=$(((1 << 4) | (1 << 5) | (1 << 7) | (1 << 8)))

MIB=1048576
check "modprobe pvio_net (pulls in pvio)" modprobe pvio_net
check "a pvio_net interface appears" wait_if
IF=${IF:-none}
check "$IF up as $ME/24" sh -c "ip addr add $ME/24 dev $IF && ip link set $IF up"
check "$IF has carrier" wait_carrier 1
check "ping -c 3 $HOST through the DPDK port" ping -c 3 -W 5 "$HOST"
f=$(features)
check "features $(printf '%#x' "$f"): CSUM, GUEST_CSUM, MRG_RXBUF; no TSO either way (net_tap, no LRO)" \
	[ $((f & WANT)) = $WANT -a $((f & NOT)) = 0 ]

check "64 MiB guest -> host (host verifies)" to_host 5101 $((64 * MIB)) 31
check "64 MiB host -> guest, every byte verified" from_host 5102 $((64 * MIB)) 32

check "ethtool -K $IF tx off sg off tso off" ethtool -K "$IF" tx off sg off tso off
check "16 MiB guest -> host without offloads" to_host 5103 $((16 * MIB)) 33
check "16 MiB host -> guest without offloads" from_host 5104 $((16 * MIB)) 34
ethtool -K "$IF" tx on sg on tso on

# A device reset while the poll thread runs: rx-gro-hw makes the driver
# renegotiate (reset, features, DRIVER_OK).
ethtool -K "$IF" rx-gro-hw off >/dev/null 2>&1
wait_carrier 1
check "traffic after a device reset: 8 MiB guest -> host" to_host 5105 $((8 * MIB)) 35

sync_host link-down
check "link down from pviod: carrier 0" wait_carrier 0
sync_host link-up
check "link up again: carrier 1" wait_carrier 1
check "ping after the link came back" ping -c 2 -W 5 "$HOST"

echo 1 >"/sys/class/net/$IF/queues/tx-0/xps_cpus" 2>/dev/null
echo 2 >"/sys/class/net/$IF/queues/tx-1/xps_cpus" 2>/dev/null
t0=$(stat tx0_packets)
t1=$(stat tx1_packets)
sync_host host-recv 5107 $((8 * MIB)) 37
sync_host host-recv 5108 $((8 * MIB)) 38
taskset -c 0 pvnet_xfer send "$HOST" 5107 $((8 * MIB)) 37 --timeout 300 >/tmp/c0.out 2>&1 &
p0=$!
taskset -c 1 pvnet_xfer send "$HOST" 5108 $((8 * MIB)) 38 --timeout 300 >/tmp/c1.out 2>&1 &
p1=$!
wait $p0
r0=$?
wait $p1
r1=$?
sed 's/^/# guest cpu0: /' /tmp/c0.out
sed 's/^/# guest cpu1: /' /tmp/c1.out
d0=$(($(stat tx0_packets) - t0))
d1=$(($(stat tx1_packets) - t1))
check "two concurrent 8 MiB transfers on both queue pairs (+$d0, +$d1 packets)" \
	[ "$r0$r1" = 00 -a "$d0" -gt 100 -a "$d1" -gt 100 ]

# The worker dies: the supervisor's next worker sets up EAL and the port
# again (the port's tap interface is re-created; the host re-addresses it)
# and asks the driver to reset; TCP retransmits what was lost.
sync_host host-recv 5111 $((64 * MIB)) 41
pvnet_xfer send "$HOST" 5111 $((64 * MIB)) 41 --timeout 300 >/tmp/k.out 2>&1 &
p=$!
sleep 1
sync_host kill-worker
wait_or_dump $p 60 net_dump "$IF"
r=$?
sed 's/^/# guest: /' /tmp/k.out
check "64 MiB guest -> host across a pviod worker crash" [ $r = 0 ]

check "rmmod pvio_net pvio" sh -c 'rmmod pvio_net && rmmod pvio'
dmesg_clean
echo "1..$n"
exit "$fail"
