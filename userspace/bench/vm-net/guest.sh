#!/bin/sh
# Guest side of userspace/bench/vm-net/run.sh (busybox sh): bring up the NIC
# under test, run iperf3 against the host end (10.77.0.1, inside the
# benchmark's own network namespace), ping it and run sockperf ping-pong
# against it; print each iperf3 result as JSON between PVIO-JSON markers,
# and the others on PVIO-PING / PVIO-RR lines, for the host to parse.
#
# With bench.count=1 (the host's counting boot) each test is bracketed by
# writes to I/O port 0x80 (N before test N, 0x80 + N after it), which the
# host finds in QEMU's trace of every MMIO and port access, and the guest
# prints per test "PVIO-COUNT TEST NOTIFY IRQS PACKETS BYTES": its
# driver's doorbell calls (a kprobe on vp_notify or pvio_ring_doorbell:
# ioeventfd writes, which QEMU's trace does not see), the NIC's interrupts
# and the packets and bytes it sent and received.
set -u
DUR=${DUR:-10}
PERF=
COUNT=0
for a in $(cat /proc/cmdline); do
	case $a in
	bench.dur=*) DUR=${a#bench.dur=} ;;
	bench.mod=*) MOD=${a#bench.mod=} ;;
	bench.perf=1) PERF=1 ;;
	bench.count=*) COUNT=${a#bench.count=} ;;
	esac
done
[ "$MOD" = virtio_net ] && modprobe virtio_pci   # no udev here to load it
modprobe "$MOD" || { echo "modprobe $MOD failed"; exit 1; }
w=0
IF=
while [ -z "$IF" ] && [ $w -lt 100 ]; do
	for n in /sys/class/net/*; do
		case ${n##*/} in lo) ;; *) IF=${n##*/} ;; esac
	done
	[ -z "$IF" ] && sleep 0.1
	w=$((w + 1))
done
[ -n "$IF" ] || { echo "no NIC appeared"; exit 1; }
ip link set lo up
ip addr add 10.77.0.2/24 dev "$IF"
ip link set "$IF" up
w=0
until ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; do
	w=$((w + 1))
	[ $w -lt 30 ] || { echo "# $MOD: $IF: no answer from 10.77.0.1 after 30 pings"; exit 1; }
done
echo "# $MOD: $IF up after $w pings; driver $(basename "$(readlink /sys/class/net/$IF/device/driver)")"
case $MOD in
virtio_net) NOTIFY=vp_notify IRQ='virtio' ;;
pvio_net) NOTIFY=pvio_ring_doorbell IRQ='pvio' ;;
*) NOTIFY='' IRQ="$IF" ;;
esac
# shellcheck source-path=SCRIPTDIR source=../common/guest-count.sh
. /tests/count.sh
count_setup
packets() {
	echo $(($(cat /sys/class/net/$IF/statistics/rx_packets) + $(cat /sys/class/net/$IF/statistics/tx_packets)))
}
bytes() {
	echo $(($(cat /sys/class/net/$IF/statistics/rx_bytes) + $(cat /sys/class/net/$IF/statistics/tx_bytes)))
}
job=0
count_begin() {
	[ "$COUNT" = 1 ] || return 0
	job=$((job + 1))
	n0=$(notifies)
	i0=$(irqs)
	p0=$(packets)
	b0=$(bytes)
	port80 $job
}
count_end() {
	[ "$COUNT" = 1 ] || return 0
	port80 $((128 + job))
	echo "PVIO-COUNT $1 $(($(notifies) - n0)) $(($(irqs) - i0)) $(($(packets) - p0)) $(($(bytes) - b0))"
}
run() {
	name=$1
	shift
	count_begin
	echo "PVIO-JSON-BEGIN $name"
	if [ -n "$PERF" ]; then
		perf record -q -e cpu-clock -a -o "/tmp/perf.$name" -- iperf3 -c 10.77.0.1 -t "$DUR" -J "$@" | tr -d '\n'
	else
		iperf3 -c 10.77.0.1 -t "$DUR" -J "$@" | tr -d '\n'
	fi
	echo
	echo "PVIO-JSON-END $name"
	count_end "$name"
	# Cumulative packet and notification counters after each test.
	ethtool -S "$IF" 2>/dev/null | grep -E 'packets|kicks' | grep -vE ': 0$' | tr -s ' \t' ' ' |
		tr '\n' ' ' | sed "s/^/# counters after $name:/"
	awk -v n="$(nproc)" '/pvio|virtio|eth/ { s = 0; for (i = 2; i <= n + 1; i++) s += $i; printf " %s=%d", $NF, s }' /proc/interrupts
	echo
	# Profile (PROFILE=1 on the host): where the guest's vCPUs spent the run.
	[ -n "$PERF" ] && perf report -q -i "/tmp/perf.$name" --stdio --sort sym 2>/dev/null |
		grep -v '^$' | head -n 40 | sed "s/^/# perf $name: /"
}
run tcp_g2h
run tcp_h2g -R
run udp64_g2h -u -b 0 -l 18
echo "PVIO-PING $(ping -q -c 200 -i 0.01 10.77.0.1 | tail -n 1)"
# Request/response back to back: UDP 64 B ping-pong, round-trip percentiles.
count_begin
sockperf ping-pong -i 10.77.0.1 -p 11111 -m 64 -t "$DUR" --full-rtt --no-rdtsc 2>&1 |
	grep -E 'percentile (50|99)\.000|avg-rtt|Summary' | sed 's/^/PVIO-RR /'
count_end rr

# Diagnostics: packets, notifications and interrupts behind the figures.
ethtool -S "$IF" 2>/dev/null | grep -vE ': 0$' | sed 's/^/# ethtool: /'
# The guest's TCP receive side (drops, pruning, out-of-order): nonzero TcpExt.
awk '$1 == "TcpExt:" { if (!h) { split($0, k); h = 1 } else { for (i = 2; i <= NF; i++) if ($i != 0) printf "%s=%s ", k[i], $i; print "" } }' \
	/proc/net/netstat | sed 's/^/# tcpext: /'
grep -E 'pvio|virtio|eth' /proc/interrupts | sed 's/^/# irq: /'
