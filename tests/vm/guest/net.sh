#!/bin/sh
# tests/vm/guest/net.sh - guest side of tests/vm/net.sh (busybox sh).
#
# TAP on the console: pvio_net.ko loads and its interface comes up as
# 10.77.0.2/24; ping the host end (10.77.0.1, the TAP inside the test's
# namespace); the driver took large receive (MRG_RXBUF, GUEST_TSO4/6) and
# host->guest TCP arrives in packets over several rx buffers; verified TCP
# streams both ways at MTU 1500, at MTU 9000 and with offloads off (large
# receive too, through ethtool -K rx-gro-hw off); the link follows "pvioctl net-link" on the host;
# two queue pairs both carry traffic; a worker crash mid-transfer; an MTU
# change while pviod's worker is stopped (SIGSTOP): the reset is not
# acknowledged, so the driver keeps every buffer the backend was handed
# and comes back only once the continued worker has served the reset;
# 20 unload/load cycles of pvio_net under traffic; a clean kernel log.
# Exit status: number of failures.
#
# The host does its half when it reads a console line
#   PVIO-SYNC host-recv PORT BYTES SEED   start a verifying receiver
#   PVIO-SYNC host-send PORT BYTES SEED   send a stream to 10.77.0.2:PORT
#   PVIO-SYNC host-mtu MTU                set the TAP's MTU
#   PVIO-SYNC link-down | link-up         pvioctl net-link ... down|up
#   PVIO-SYNC kill-worker                 SIGKILL pviod's worker
#   PVIO-SYNC stop-worker | cont-worker   SIGSTOP it | SIGCONT it
#   PVIO-SYNC sink-start PORT SEED | sink-stop
#                                         a receiver that restarts after
#                                         every broken connection
# pvnet_xfer retries its connect, so neither side waits for the other.
set -u

HOST=10.77.0.1
ME=10.77.0.2
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }

# The interface pvio_net drives (its device's driver link ends in pvio_net).
wait_if() { w=0; while ! IF=$(pvio_net_if) && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done; [ -n "${IF:-}" ]; }
carrier() { cat "/sys/class/net/$IF/carrier" 2>/dev/null; }
# state: the pvio device's state (live, backend-gone, broken N, ...)
state() { cat "/sys/class/net/$IF/device/state" 2>/dev/null; }
# wait_carrier 0|1 [tenths]: until /sys/class/net/IF/carrier reads $1
wait_carrier() { w=0; while [ "$(carrier)" != "$1" ] && [ $w -lt "${2:-100}" ]; do sleep 0.1; w=$((w + 1)); done; [ "$(carrier)" = "$1" ]; }
if_up() { wait_if && ip addr add "$ME/24" dev "$IF" && ip link set "$IF" up && wait_carrier 1; }

# to_host PORT BYTES SEED: guest -> host; the host verifies (host check).
to_host() {
	sync_host host-recv "$1" "$2" "$3"
	pvnet_xfer send "$HOST" "$1" "$2" "$3" --timeout 300 >/tmp/xfer.out 2>&1
	rc=$?
	sed 's/^/# guest: /' /tmp/xfer.out
	return $rc
}
# from_host PORT BYTES SEED: host -> guest; we verify.
from_host() {
	pvnet_xfer recv "$1" "$2" "$3" --timeout 300 >/tmp/xfer.out 2>&1 &
	p=$!
	sync_host host-send "$1" "$2" "$3"
	wait $p
	rc=$?
	sed 's/^/# guest: /' /tmp/xfer.out
	return $rc
}
# stat NAME: one of pvio_net's ethtool -S counters (e.g. tx1_packets)
stat() { ethtool -S "$IF" | awk -v k="$1:" '$1 == k { print $2 }'; }
# multibuf: rx packets that spanned several buffers, all queue pairs
multibuf() { ethtool -S "$IF" | awk '$1 ~ /^rx[0-9]+_multibuf:$/ { n += $2 } END { print n + 0 }'; }
# features: the device's negotiated feature bits (pvio bus sysfs)
features() { echo $(($(cat "/sys/class/net/$IF/device/features"))); }
# Large receive: GUEST_CSUM (bit 1), GUEST_TSO4/6 (7, 8), MRG_RXBUF (9).
LARGE_RX=$(((1 << 1) | (1 << 7) | (1 << 8) | (1 << 9)))

MIB=1048576
check "modprobe pvio_net (pulls in pvio)" modprobe pvio_net
check "a pvio_net interface appears" wait_if
IF=${IF:-none}
echo "# interface $IF, $(ethtool -i "$IF" 2>/dev/null | head -n 1)"
check "$IF up as $ME/24 with carrier" sh -c "ip addr add $ME/24 dev $IF && ip link set $IF up"
check "$IF has carrier" wait_carrier 1
check "ping -c 3 $HOST" ping -c 3 -W 5 "$HOST"

# ---- bulk data at the default MTU ----------------------------------------
check "64 MiB guest -> host (host verifies)" to_host 5001 $((64 * MIB)) 11
f=$(features)
check "negotiated features $(printf '%#x' "$f") include MRG_RXBUF, GUEST_TSO4/6, GUEST_CSUM" \
	[ $((f & LARGE_RX)) = $LARGE_RX ]
ethtool -k "$IF" | grep -E '^(rx-checksumming|rx-gro-hw|generic-receive-offload):' | sed 's/^/# /'
check "ethtool -k: rx-gro-hw on" sh -c "ethtool -k $IF | grep -q '^rx-gro-hw: on'"
m0=$(multibuf)
check "64 MiB host -> guest, every byte verified" from_host 5002 $((64 * MIB)) 12
m1=$(multibuf)
echo "# rx packets over several buffers during the transfer: $((m1 - m0)); rx: $(ethtool -S "$IF" | awk '$1 ~ /^rx[0-9]+_(packets|multibuf):$/' | tr -s ' \n' ' ')"
check "host -> guest TCP arrived in large packets over several rx buffers (+$((m1 - m0)))" [ $((m1 - m0)) -gt 0 ]
# The rx kicks ethtool shows are the driver's real doorbells (they read 0).
rk=$(ethtool -S "$IF" | awk '$1 ~ /^rx[0-9]+_kicks:$/ { n += $2 } END { print n + 0 }')
check "ethtool -S counts rx doorbells (rx*_kicks: $rk)" [ "$rk" -gt 0 ]
# tx bytes are the frame's, as rx counts them: one 98-byte ping frame
# (14 + 20 + 8 + 56), not 110 with pvio's header.  The kernel's own frames
# (an IPv6 router solicitation, 70 bytes, once fell in) are not the
# ping's: a sample with more than one packet is taken again, up to 5 times.
ping -c 1 -W 5 "$HOST" >/dev/null 2>&1
for _ in 1 2 3 4 5; do
	t0=$(cat "/sys/class/net/$IF/statistics/tx_bytes"); p0=$(cat "/sys/class/net/$IF/statistics/tx_packets")
	ping -c 1 -W 5 "$HOST" >/dev/null 2>&1
	t1=$(cat "/sys/class/net/$IF/statistics/tx_bytes"); p1=$(cat "/sys/class/net/$IF/statistics/tx_packets")
	[ $((p1 - p0)) -gt 1 ] || break
	echo "# tx sample of one ping held $((p1 - p0)) packets ($((t1 - t0)) bytes): again"
done
check "tx_bytes counts the frame only (one ping: expected 98 bytes in 1 packet, got $((t1 - t0)) in $((p1 - p0)))" \
	[ "$((t1 - t0)):$((p1 - p0))" = 98:1 ]

# ---- jumbo frames ------------------------------------------------------------
check "guest MTU 9000" ip link set "$IF" mtu 9000
sync_host host-mtu 9000
check "ping -s 8000 (one 8 KiB frame each way)" ping -c 2 -s 8000 -W 5 "$HOST"
check "16 MiB guest -> host at MTU 9000" to_host 5003 $((16 * MIB)) 13
check "16 MiB host -> guest at MTU 9000" from_host 5004 $((16 * MIB)) 14
ip link set "$IF" mtu 1500

# ---- no offloads: the plain path -----------------------------------------
check "ethtool -K $IF tx off sg off tso off rx-gro-hw off" ethtool -K "$IF" tx off sg off tso off rx-gro-hw off
ethtool -k "$IF" | grep -E '^(tx-checksumming|scatter-gather|tcp-segmentation-offload|rx-gro-hw):' | sed 's/^/# /'
wait_carrier 1
f=$(features)
check "rx-gro-hw off renegotiated without GUEST_TSO4/6 ($(printf '%#x' "$f"))" [ $((f & (3 << 7))) = 0 ]
check "16 MiB guest -> host without offloads" to_host 5005 $((16 * MIB)) 15
m0=$(multibuf)
check "16 MiB host -> guest without offloads" from_host 5006 $((16 * MIB)) 16
m1=$(multibuf)
check "without large receive every packet fits one rx buffer (+$((m1 - m0)) over several)" [ $((m1 - m0)) = 0 ]
check "ethtool -K $IF tx on sg on tso on rx-gro-hw on" ethtool -K "$IF" tx on sg on tso on rx-gro-hw on
wait_carrier 1
f=$(features)
check "rx-gro-hw on: GUEST_TSO4/6 again ($(printf '%#x' "$f"))" [ $((f & LARGE_RX)) = $LARGE_RX ]

# ---- link state from the backend ------------------------------------------
sync_host link-down
check "link down from pviod: carrier 0" wait_carrier 0
sync_host link-up
check "link up again: carrier 1" wait_carrier 1
check "ping after the link came back" ping -c 2 -W 5 "$HOST"

# ---- two queue pairs ----------------------------------------------------------
combined=$(ethtool -l "$IF" | awk '/^Current/ { c = 1 } c && /^Combined:/ { print $2; exit }')
check "ethtool -l: 2 combined channels in use (got '$combined')" [ "$combined" = 2 ]
# Pin a sender to each CPU and each CPU to its own tx queue (XPS).
echo 1 >"/sys/class/net/$IF/queues/tx-0/xps_cpus" 2>/dev/null
echo 2 >"/sys/class/net/$IF/queues/tx-1/xps_cpus" 2>/dev/null
t0=$(stat tx0_packets)
t1=$(stat tx1_packets)
sync_host host-recv 5007 $((16 * MIB)) 17
sync_host host-recv 5008 $((16 * MIB)) 18
taskset -c 0 pvnet_xfer send "$HOST" 5007 $((16 * MIB)) 17 --timeout 300 >/tmp/c0.out 2>&1 &
p0=$!
taskset -c 1 pvnet_xfer send "$HOST" 5008 $((16 * MIB)) 18 --timeout 300 >/tmp/c1.out 2>&1 &
p1=$!
wait $p0
r0=$?
wait $p1
r1=$?
sed 's/^/# guest cpu0: /' /tmp/c0.out
sed 's/^/# guest cpu1: /' /tmp/c1.out
check "two concurrent 16 MiB transfers" [ "$r0$r1" = 00 ]
d0=$(($(stat tx0_packets) - t0))
d1=$(($(stat tx1_packets) - t1))
echo "# tx packets meanwhile: queue pair 0 +$d0, queue pair 1 +$d1"
check "both tx queues carried traffic (+$d0, +$d1)" [ "$d0" -gt 100 -a "$d1" -gt 100 ]

# ---- backend worker crash in the middle of a transfer ---------------------
# The TAP and its queues stay with pviod's supervisor; the new worker asks
# the driver to reset, and TCP retransmits what was lost meanwhile.  The
# stream is paced to 400 Mbit/s, so it takes at least 5 s however fast
# the machine; the kill is asked for once 8 MiB have gone, and the sender
# still running when the guest sees the new backend generation proves the
# kill landed during the transfer.
ngen() { cat "/sys/class/net/$IF/device/generation"; }
txb() { cat "/sys/class/net/$IF/statistics/tx_bytes"; }
g0=$(ngen)
b0=$(txb)
sync_host host-recv 5011 $((256 * MIB)) 22
pvnet_xfer send "$HOST" 5011 $((256 * MIB)) 22 --rate 400 --timeout 300 >/tmp/k.out 2>&1 &
p=$!
w=0
while [ $(($(txb) - b0)) -lt $((8 * MIB)) ] && kill -0 $p 2>/dev/null && [ $w -lt 300 ]; do
	sleep 0.1
	w=$((w + 1))
done
echo "# worker crash: $((($(txb) - b0) / MIB)) MiB sent after $((w / 10)) s: asking for the kill"
sync_host kill-worker
w=0
while [ "$(ngen)" = "$g0" ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
running=no
kill -0 $p 2>/dev/null && running=yes
landed=no
[ "$(ngen)" != "$g0" ] && [ $running = yes ] && landed=yes
check "the worker died while the transfer ran (generation $g0 -> $(ngen) after $((w / 10)) s, $((($(txb) - b0) / MIB)) MiB sent, sender still running: $running)" \
	[ $landed = yes ]
wait_or_dump $p 60 net_dump "$IF"
r=$?
sed 's/^/# guest: /' /tmp/k.out
check "256 MiB guest -> host across a pviod worker crash" [ $r = 0 ]
check "ping after the worker crash" ping -c 2 -W 5 "$HOST"

# ---- a stalled backend during an MTU change -----------------------------------
# The new MTU needs new rx buffers: the driver resets the device, but the
# stopped worker cannot acknowledge.  It may still write into the rx
# buffers (and read the tx packets) it holds once it runs again, so the
# driver must not free them: it keeps them, stays down, and sets up again
# only after the continued worker has served that reset late.  (Freeing
# them, and setting the queues up before the reset is served, also breaks
# the device: the late reset wipes the new queues.)
mark=$(dmesg | wc -l)
since() { dmesg | tail -n +$((mark + 1)); }
sync_host stop-worker
w=0
while [ "$(state)" != backend-gone ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
check "the stopped worker is seen as gone (device state '$(state)')" [ "$(state)" = backend-gone ]
check "MTU 1400 while the worker is stopped" ip link set "$IF" mtu 1400
held=$(since | sed -n 's/.*reset not acknowledged: not freeing \([0-9]*\) rx buffers and \([0-9]*\) tx packets.*/\1 \2/p' | head -n 1)
since | grep -E 'pvio' | sed 's/^/# dmesg: /'
check "the driver kept the buffers the backend may still use (rx tx: '${held:-none}')" \
	[ "${held%% *}" -gt 0 ] 2>/dev/null
check "no carrier meanwhile" [ "$(carrier)" = 0 ]
check "nothing freed before the backend answered" sh -c "! dmesg | tail -n +$((mark + 1)) | grep -q 'backend acknowledged the reset'"
sync_host cont-worker
check "carrier back once the worker served the reset" wait_carrier 1 300
freed=$(since | sed -n 's/.*backend acknowledged the reset: freeing the \([0-9]*\) rx buffers and \([0-9]*\) tx packets.*/\1 \2/p' | head -n 1)
check "the held buffers were freed then (rx tx: '${freed:-none}', held '${held:-none}')" \
	[ -n "$freed" -a "$freed" = "$held" ]
check "the device is live, MTU 1400 ($(state), $(cat "/sys/class/net/$IF/mtu"))" \
	[ "$(state)" = live -a "$(cat "/sys/class/net/$IF/mtu")" = 1400 ]
if ping -c 3 -W 5 "$HOST" >/tmp/ping.out 2>&1; then
	ok "ping at MTU 1400 after the stall"
	check "8 MiB host -> guest at MTU 1400 after the stall" from_host 5012 $((8 * MIB)) 23
else
	nok "ping at MTU 1400 after the stall"
	sed 's/^/# /' /tmp/ping.out
	nok "8 MiB host -> guest at MTU 1400 after the stall (not tried: no ping)"
fi
ip link set "$IF" mtu 1500
wait_carrier 1

# ---- unload/load under traffic ----------------------------------------------
sync_host sink-start 6000 21
cycles=0
i=0
while [ $i -lt 20 ]; do
	i=$((i + 1))
	pvnet_xfer send "$HOST" 6000 1000000000000 21 --timeout 30 >/dev/null 2>&1 &
	bg=$!
	sleep 1
	if rmmod pvio_net && modprobe pvio_net && if_up; then
		cycles=$((cycles + 1))
	else
		echo "# cycle $i failed"
		dmesg | tail -n 5 | sed 's/^/# /'
		kill $bg 2>/dev/null
		wait $bg 2>/dev/null
		break
	fi
	kill $bg 2>/dev/null
	wait $bg 2>/dev/null
done
sync_host sink-stop
check "20 rmmod/modprobe cycles of pvio_net while sending ($cycles/20)" [ $cycles -eq 20 ]
check "16 MiB guest -> host after the cycles" to_host 5009 $((16 * MIB)) 19
check "16 MiB host -> guest after the cycles" from_host 5010 $((16 * MIB)) 20
check "rmmod pvio_net pvio at the end" sh -c 'rmmod pvio_net && rmmod pvio'

dmesg_clean
echo "1..$n"
exit "$fail"
