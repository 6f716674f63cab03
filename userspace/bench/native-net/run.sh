#!/bin/bash
# native-net: the pvio net path natively, next to DPDK's vhost-user (split
# and packed ring) and memif, on the same two cores, in one run, runs
# interleaved and repeated (medians).  The guest side is always on core 0,
# the backend side on core 1:
#
#   core 0                                   core 1
#   pvio-null:  libpvio-front   ==rings==>   pviod, net = null (copy, drop)
#   pvio-tap:   libpvio-front   ==rings==>   pviod, net = tap -> TAP -> kernel drops
#   vhost-user: testpmd virtio-user (txonly) ==> testpmd vhost (rxonly)
#   memif:      testpmd memif client (txonly) ==> testpmd memif server (rxonly)
#
# Each pvio side runs twice: pviod in event mode (it sleeps on doorbells
# when its rings are empty) and in busy-poll mode (poll = yes: it polls its
# rings, the guest never rings), as the DPDK PMDs always do.  The guest side
# (net_bench) polls its completion rings, like the PMDs.
#
# "rx" is the reverse direction (backend side sends, guest side receives):
# pvio-null fills every rx buffer the guest posts with a frame (null_rx =
# BYTES); pvio-tap gets frames from net_gen injecting into the TAP (net_gen
# shares core 0 with the guest, which then sleeps on interrupts instead of
# polling); the DPDK pairs swap txonly and rxonly.  "lat" is a
# request/response round trip: pvio-null reflects each 64-byte frame
# (null_rx = echo); pvio-tap sends an ICMP echo request the kernel behind
# the TAP answers.  Each pviod runs in a network namespace of its own, so
# its TAP carries nothing else and nothing leaves it.
#
# Every side has rings of 1024 slots: pviod's queue_size, virtio-user's
# queue_size (its default is 256) and testpmd's --rxd/--txd, memif's rsize.
# Each round runs the sides in another order (rotated by one per round);
# the tables give the median of the rounds and their min-max.
#
# Usage: run.sh [BINDIR]   (net_bench, net_gen; default build/bench)
# Environment: PVIOD (build/pviod), SECS (3 per run), REPEATS (3),
# SIZES ("64 1500"), NODPDK=1 to skip the DPDK peers.
set -eu
bindir=${1:-build/bench}
pviod=${PVIOD:-build/pviod}
secs=${SECS:-3}
reps=${REPEATS:-3}
sizes=${SIZES:-64 1500}
RING=1024	# slots per ring, every side
RING_LOG2=10
for f in "$bindir/net_bench" "$bindir/net_gen" "$pviod"; do
	[ -x "$f" ] || { echo "native-net: $f not built (make)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "native-net: needs two CPUs" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "native-net: needs root (network namespace, TAP, hugepages)" >&2; exit 1; }
dpdk=1
if [ -n "${NODPDK:-}" ] || ! command -v dpdk-testpmd >/dev/null; then
	echo "# DPDK peers skipped (NODPDK set, or dpdk-testpmd missing: apt-get install dpdk-dev)"
	dpdk=
fi

dir=$(mktemp -d /tmp/pvio-nnet-XXXXXX)
pid=
hp_old=
huge=/dev/hugepages	# where DPDK's hugepage files go
huge_mounted=
declare -A R	# R[test,side,rep] = value

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	pkill_own
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -f "$huge"/pvnb-$$-* 2>/dev/null
	[ -n "$huge_mounted" ] && umount "$huge" 2>/dev/null
	[ -n "$hp_old" ] && echo "$hp_old" > /proc/sys/vm/nr_hugepages
	rm -rf "$dir" 2>/dev/null
	true
}
# testpmd processes we started, by pid.
tp_pids=
pkill_own() {
	for p in $tp_pids; do kill -INT "$p" 2>/dev/null || true; done
	tp_pids=
}
trap cleanup EXIT INT TERM

# ---- pviod, in a network namespace of its own -------------------------------
# One pviod at a time, event (ev) or busy-poll (poll) mode, each with a TAP
# guest and net = null guests: tx (drop), rx64/rx1500 (fill), echo.
tap=pvnb$$
write_ini() {	# mode
	local poll=no g
	[ "$1" = poll ] && poll=yes
	{
		printf '[pviod]\ncontrol = %s/control.sock\n' "$dir"
		printf '[guest tap]\nsocket = %s/tap.sock\n' "$dir"
		printf '[device tap n0]\ntype = net\ntap = %s\nqueue_size = %s\npoll = %s\n' "$tap" "$RING" "$poll"
		for g in tx rx64 rx1500 echo; do
			printf '[guest %s]\nsocket = %s/%s.sock\n' "$g" "$dir" "$g"
			printf '[device %s n0]\ntype = net\nnet = null\nqueue_size = %s\npoll = %s\n' "$g" "$RING" "$poll"
			case $g in
			rx*) printf 'null_rx = %s\n' "${g#rx}" ;;
			echo) printf 'null_rx = echo\n' ;;
			esac
		done
	} > "$dir/pviod.ini"
}
mode=
pviod_start() {	# ev|poll
	[ "$mode" = "$1" ] && return 0
	pviod_stop
	write_ini "$1"
	rm -f "$dir"/*.sock
	taskset -c 1 unshare -n "$pviod" -c "$dir/pviod.ini" 2> "$dir/pviod-$1.log" &
	pid=$!
	for _ in $(seq 500); do [ -S "$dir/control.sock" ] && break; sleep 0.01; done
	[ -S "$dir/control.sock" ] || { echo "native-net: pviod did not start" >&2; cat "$dir/pviod-$1.log" >&2; exit 1; }
	for _ in $(seq 100); do ns ip link show "$tap" >/dev/null 2>&1 && break; sleep 0.05; done
	ns ip addr add 10.77.0.1/24 dev "$tap"
	ns ip link set "$tap" up
	ns ip neigh replace 10.77.0.2 lladdr 02:00:00:00:00:01 dev "$tap" nud permanent
	mode=$1
}
pviod_stop() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
	mode=
	true
}
ns() { nsenter -t "$pid" -n "$@"; }

# ---- hugepages for DPDK --------------------------------------------------------
if [ -n "$dpdk" ]; then
	hp_free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "$hp_free" -lt 512 ]; then
		hp_old=$(cat /proc/sys/vm/nr_hugepages)
		echo $((hp_old + 512 - hp_free)) > /proc/sys/vm/nr_hugepages
	fi
	# DPDK finds any hugetlbfs mount; a machine without systemd's
	# /dev/hugepages gets one of ours, in our directory, unmounted on exit.
	if ! mountpoint -q /dev/hugepages; then
		huge=$dir/huge
		mkdir -p "$huge"
		mount -t hugetlbfs none "$huge" ||
			{ echo "native-net: cannot mount hugetlbfs on $huge (DPDK needs 2 MiB hugepages; mount one and run again)" >&2; exit 1; }
		huge_mounted=1
	fi
	hp_free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	[ "$hp_free" -ge 256 ] ||
		{ echo "native-net: only $hp_free free 2 MiB hugepages after asking for 512 (vm.nr_hugepages); free memory and run again" >&2; exit 1; }
fi

field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" | head -1; }

# pvio sides: side (pvio-null|pvio-tap) mode (ev|poll) -> net_bench's output.
# They run in $(...): the caller starts the pviod for the mode first.
pvio_tx() {	# side mode bytes
	local sock=$dir/tx.sock
	[ "$1" = pvio-tap ] && sock=$dir/tap.sock
	taskset -c 0 "$bindir/net_bench" -s "$sock" -m tx -b "$3" -t "$secs"
}
pvio_rx() {	# side mode bytes
	if [ "$1" = pvio-null ]; then
		taskset -c 0 "$bindir/net_bench" -s "$dir/rx$3.sock" -m rx -t "$secs"
		return
	fi
	taskset -c 0 "$bindir/net_bench" -s "$dir/tap.sock" -m rx -i -t "$secs" > "$dir/rx.out" &
	local b=$!
	sleep 0.3
	ns taskset -c 0 "$bindir/net_gen" -I "$tap" -b "$3" -t "$(echo "$secs + 1.5" | bc)" > /dev/null
	wait $b
	cat "$dir/rx.out"
}
pvio_lat() {	# side mode
	if [ "$1" = pvio-null ]; then
		taskset -c 0 "$bindir/net_bench" -s "$dir/echo.sock" -m lat -n 20000 -E -A 10.77.0.1 -M 02:00:00:00:00:01
	else
		taskset -c 0 "$bindir/net_bench" -s "$dir/tap.sock" -m lat -n 20000 -A 10.77.0.1 -M 02:00:00:00:00:01
	fi
}

# DPDK pair: kind (vhost-split|vhost-packed|memif) bytes dir (tx|rx) -> Mpps
dpdk_pair() {
	local kind=$1 size=$2 d=$3 a b amode bmode rxlog eal
	case $kind in
	vhost-split|vhost-packed)
		a="net_vhost0,iface=$dir/vh.sock,queues=1"
		b="net_virtio_user0,path=$dir/vh.sock,queues=1,queue_size=$RING,packed_vq=$([ "$kind" = vhost-packed ] && echo 1 || echo 0)" ;;
	memif)
		a="net_memif0,role=server,socket=$dir/memif.sock,rsize=$RING_LOG2"
		b="net_memif0,role=client,socket=$dir/memif.sock,rsize=$RING_LOG2" ;;
	esac
	rm -f "$dir/vh.sock" "$dir/memif.sock"
	if [ "$d" = tx ]; then amode=rxonly; bmode=txonly; rxlog=$dir/a.log
	else amode=txonly; bmode=rxonly; rxlog=$dir/b.log; fi
	eal="--no-pci -m 256 --single-file-segments --huge-dir $huge"
	# A (the backend side) forwards on core 1, B (the guest side) on core 0.
	timeout -s INT $((secs + 9)) dpdk-testpmd -l 0,1 --main-lcore 0 $eal --file-prefix pvnb-$$-a \
		--vdev "$a" -- --forward-mode=$amode --txpkts="$size" --auto-start --rxd=$RING --txd=$RING \
		--stats-period 1 --nb-cores=1 > "$dir/a.log" 2>&1 &
	local pa=$!
	sleep 1.5
	timeout -s INT $((secs + 5)) dpdk-testpmd -l 0,1 --main-lcore 1 $eal --file-prefix pvnb-$$-b \
		--vdev "$b" -- --forward-mode=$bmode --txpkts="$size" --auto-start --rxd=$RING --txd=$RING \
		--stats-period 1 --nb-cores=1 > "$dir/b.log" 2>&1 &
	local pb=$!
	tp_pids="$pa $pb"
	wait $pb || true
	kill -INT $pa 2>/dev/null || true	# the sender or receiver B fed is done
	wait $pa || true
	tp_pids=
	# Per-second Rx-pps of the receiving side; the first and the last are ramp
	# (left out when there are more than two).  B gets 5 s more than the
	# measurement for its EAL start; A is stopped when B is done.
	grep -o 'Rx-pps: *[0-9]*' "$rxlog" | awk '{print $2}' | grep -v '^0$' |
		awk '{v[NR]=$1} END {for (i = (NR > 2 ? 2 : 1); i <= (NR > 2 ? NR - 1 : NR); i++) print v[i]}' | sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.0f\n", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2); else print 0}'
}

med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (!NR) {print 0; exit} printf "%s\n", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
# A run that moved nothing (a peer that failed to connect) is left out of the median.
put() { echo "# run $3 $1 $2 $4"; case $4 in ''|0) return ;; esac; R[$1,$2,$3]=$4; }
get() { local k v=""; for k in $(seq "$reps"); do v="$v ${R[$1,$2,$k]:-}"; done; echo "$v" | med; }
# min-max of the rounds, scaled by $3 (1e6: Mpps), with %.2f
rng() {
	local k v=""
	for k in $(seq "$reps"); do v="$v ${R[$1,$2,$k]:-}"; done
	echo "$v" | tr ' ' '\n' | grep -v '^$' | sort -g |
		awk -v d="${3:-1}" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.2f-%.2f", lo / d, hi / d; else printf "-" }'
}
# rotate K WORDS...: the words, rotated left by K
rotate() {
	local k=$1 i
	shift
	local words=("$@")
	for ((i = 0; i < ${#words[@]}; i++)); do printf '%s ' "${words[(i + k) % ${#words[@]}]}"; done
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), $secs s per run, $reps repeats, interleaved"
peers="vhost-split vhost-packed memif"
pvio_sides="pvio-null-poll pvio-null pvio-tap-poll pvio-tap"
side_of() { echo "${1%-poll}"; }
mode_of() { case $1 in *-poll) echo poll ;; *) echo ev ;; esac; }
all_sides=$pvio_sides
[ -n "$dpdk" ] && all_sides="$all_sides $peers"
for k in $(seq "$reps"); do
	# shellcheck disable=SC2086 # words
	order=$(rotate $((k - 1)) $all_sides)
	echo "# round $k: $order"
	for s in $sizes; do
		for d in tx rx; do
			for p in $order; do
				case $p in
				pvio-*)
					pviod_start "$(mode_of $p)"
					put "${d}_$s" "$p" "$k" "$(pvio_$d "$(side_of $p)" "$(mode_of $p)" "$s" | field pps)" ;;
				*)
					pviod_stop	# a polling pviod would take core 1 from the peers
					put "${d}_$s" "$p" "$k" "$(dpdk_pair "$p" "$s" "$d")" ;;
				esac
			done
		done
	done
	pviod_stop
	# shellcheck disable=SC2086 # words
	for p in $(rotate $((k - 1)) $pvio_sides); do
		pviod_start "$(mode_of $p)"
		l=$(pvio_lat "$(side_of $p)" "$(mode_of $p)")
		put lat_rtt "$p" "$k" "$(echo "$l" | field rtt_us_p50)"
		put lat_p99 "$p" "$k" "$(echo "$l" | field rtt_us_p99)"
	done
	pviod_stop
done

echo
echo "| direction | frame B | side | Mpps (median) | min-max | Gbit/s |"
echo "|---|---:|---|---:|---:|---:|"
sides=$pvio_sides
[ -n "$dpdk" ] && sides="$sides $peers"
for d in tx rx; do
	for s in $sizes; do
		for p in $sides; do
			v=$(get "${d}_$s" "$p")
			awk -v d="$d" -v s="$s" -v p="$p" -v v="$v" -v r="$(rng "${d}_$s" "$p" 1e6)" 'BEGIN {
				printf "| %s | %s | %s | %.2f | %s | %.2f |\n", (d == "tx" ? "guest->backend" : "backend->guest"), s, p, v / 1e6, r, v * s * 8 / 1e9 }'
		done
	done
done
echo
echo "| round trip (64 B) | p50 us | min-max | p99 us | min-max |"
echo "|---|---:|---:|---:|---:|"
for p in $pvio_sides; do
	echo "| $p | $(get lat_rtt $p) | $(rng lat_rtt $p) | $(get lat_p99 $p) | $(rng lat_p99 $p) |"
done
echo
if [ -n "$dpdk" ]; then
	for d in tx rx; do
		for s in $sizes; do
			for me in $pvio_sides; do
				a=$(get "${d}_$s" "$me")
				for p in $peers; do
					b=$(get "${d}_$s" "$p")
					case $p in memif) pn=memif ;; vhost-split) pn=vhost-user-split ;; *) pn=vhost-user-packed ;; esac
					awk -v a="$a" -v b="$b" -v n="mpps_${d}_$s $me/$pn" 'BEGIN { printf "RATIO %s: %.2f\n", n, (b > 0 ? a / b : 0) }'
				done
			done
		done
	done
fi
