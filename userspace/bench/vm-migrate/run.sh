#!/bin/bash
# userspace/bench/vm-migrate/run.sh - live migration of the same guest with
# pvio devices and with virtio devices, side by side, on this machine.
#
#   run.sh [ROUNDS]     (default 3; the order of the three rotates per round)
#
# The guest (TCG, 512 MiB, 2 vCPUs; RAM in a /dev/shm file with share=on
# for both) has a disk on one image (cache=none at both ends), a NIC on a
# bridge in a network namespace and a balloon:
#   pvio-log    pvio_blk, pvio_net, pvio_balloon; QEMU's ivshmem-doorbell
#               with master=on; two pviods (event mode, no busy-polling);
#               the steps of docs/operations.md 8.2 with dirty logging:
#               migrate-in, migrate-track, QMP migrate with
#               pause-before-switchover, migrate-out at pre-switchover,
#               migrate-continue, migrate-finish
#   pvio-pause  the same guest without dirty logging: migrate-out before
#               QMP migrate (the guest's I/O pauses for all of it)
#   virtio  virtio-blk-pci (QEMU's own block layer, aio=threads),
#           virtio-net-pci on a TAP (vhost off: TCG), virtio-balloon-pci;
#           QMP migrate alone
# The guest (guest.sh) writes 4 KiB at queue depth 1, 100 times a second,
# and pings the host every 0.2 s; 5 s in it asks for the migration, from
# one QEMU to a new one over a local UNIX socket, max-bandwidth 8 GiB/s,
# QEMU's default downtime limit; the host waits on QEMU's MIGRATION
# events (tools/vm/qmp.pl --until), not by polling.  Per run: QEMU's total
# time and downtime (query-migrate), the guest's longest write (the stall
# it saw) and lost pings; for pvio also the I/O pause pviod imposed
# (migrate-out to the destination's cont: pvio's destination QEMU starts
# with -S).  Prints every run, the median and min-max per side, and
#   RATIO migrate_total_ms pvio-log/virtio: X.XX     (< 1: pvio's is shorter)
#   RATIO migrate_downtime_ms pvio-log/virtio: X.XX
#   RATIO migrate_io_stall_ms pvio-log/virtio: X.XX
# and the same for pvio-pause.  Everything started here is stopped by
# PID; about 2 minutes per round.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
O=${O:-$REPO/build}
KMOD=${KMOD:-$O/kmod-generic}
VM=$REPO/tools/vm
# shellcheck source=../../../tools/vm/pviod.sh
. "$VM/pviod.sh"
# shellcheck source=../../../tools/vm/migrate.sh
. "$VM/migrate.sh"
HERE=$REPO/userspace/bench/vm-migrate
ROUNDS=${1:-3}
TMP=$(mktemp -d /tmp/pvio-vmmgb.XXXXXX)
NS=pvmgb-$$
BR=pvmgbbr$$
MEM=512
VMS=()		# vm.sh, one per QEMU
NS_MADE=
declare -A R=()

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local p
	for p in "${VMS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${VMS[@]}"; do wait "$p" 2>/dev/null || true; done
	vm_pviod_stop_all
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" /dev/shm/pvio-vmmgb-$$-*
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespace, TAP, bridge)"; exit 1; }
if [ -z "${PVIO_BENCH_NOBUILD:-}" ]; then
	make -C "$REPO" --no-print-directory all modules >/dev/null
fi
"$VM/mkinitramfs.sh" "$TMP/initrd" --kmod virtio_pci --kmod virtio_blk --kmod virtio_net \
	--kmod virtio_balloon --module "$KMOD/frontend/pvio.ko" \
	--module "$KMOD/frontend/pvio_blk.ko" --module "$KMOD/frontend/pvio_net.ko" \
	--module "$KMOD/frontend/pvio_balloon.ko" --bin /usr/bin/fio \
	--file "$HERE/guest.sh:/tests/bench.sh" 2>/dev/null
truncate -s 256M "$TMP/disk.img"
ip netns add "$NS"
NS_MADE=1
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link add "$BR" type bridge
ip netns exec "$NS" ip addr add 10.77.13.1/24 dev "$BR"
ip netns exec "$NS" ip link set "$BR" up
for t in a b; do
	ip netns exec "$NS" ip tuntap add mode tap name "pvmgv$t$$"
	ip netns exec "$NS" ip link set "pvmgv$t$$" master "$BR" up
done

ram() { echo "/dev/shm/pvio-vmmgb-$$-$1"; }

# start_pviods: two pviods with the guest "vm", sides a and b.
start_pviods() {
	local s
	for s in a b; do
		cat >"$TMP/$s.ini" <<INI
[pviod]
control = $TMP/$s.ctl
heartbeat_ms = 100

[guest vm]
socket = $TMP/$s.sock
ram = $(ram $s)
ram_size = ${MEM}M
machine = pc

[device vm disk0]
type = blk
path = $TMP/disk.img
cache = none

[device vm net0]
type = net
tap = pvmgp$s$$
bridge = $BR

[device vm bal0]
type = balloon
INI
		vm_pviod_start "$TMP/$s.ini" "$TMP/pviod-$s.log" "$NS"
	done
}

# boot MODE SIDE N [INCOMING]: QEMU number N for the guest, in the namespace.
boot() {
	local mode=$1 side=$2 n=$3 extra vecs
	extra="-qmp unix:$TMP/qmp-$n.sock,server=on,wait=off"
	if [ "$mode" != virtio ]; then
		vecs=$(sed -n 's/.*QEMU: vectors=\([0-9]*\).*/\1/p' "$TMP/pviod-a.log" | head -n 1)
		extra+=" -chardev socket,path=$TMP/$side.sock,id=pv0"
		extra+=" -device ivshmem-doorbell,chardev=pv0,vectors=${vecs:-7},master=on"
	else
		extra+=" -drive file=$TMP/disk.img,if=none,id=d0,format=raw,cache=none,aio=threads"
		extra+=" -device virtio-blk-pci,drive=d0 -netdev tap,id=n0,ifname=pvmgv$side$$,script=no,downscript=no"
		extra+=" -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:77 -device virtio-balloon-pci"
	fi
	# pvio's destination waits (-S) until pviod has taken the window over.
	if [ $# -ge 4 ]; then
		[ "$mode" != virtio ] && extra+=" -S"
		extra+=" -incoming unix:$4"
	fi
	truncate -s ${MEM}M "$(ram "$side")"
	ip netns exec "$NS" "$VM/vm.sh" run --initrd "$TMP/initrd" --script /tests/bench.sh \
		--mem $MEM --smp 2 --timeout 300 --log "$TMP/log-$n" --ram-file "$(ram "$side")" \
		--append "loglevel=3 pvio_bench.mode=${mode%%-*}" --qemu-extra "$extra" >"$TMP/vm-$n.out" 2>&1 &
	VMS+=($!)
}

# one MODE ROUND: boot on side a, migrate to side b when the guest asks.
one() {
	local mode=$1 round=$2 how mq bench total down stall p pause=-
	rm -f "$TMP"/log-* "$TMP"/qmp-*.sock
	[ "$mode" != virtio ] && start_pviods
	boot "$mode" a 1
	for _ in $(seq 600); do grep -q '^PVIO-SYNC migrate' "$TMP/log-1" 2>/dev/null && break; sleep 0.1; done
	[ "$mode" != virtio ] && "$O/pvioctl" -s "$TMP/b.ctl" migrate-in vm >/dev/null
	boot "$mode" b 2 "$TMP/mig.sock"
	for _ in $(seq 300); do
		[ -S "$TMP/qmp-2.sock" ] && { [ "$mode" = virtio ] ||
			"$O/pvioctl" -s "$TMP/b.ctl" --json list | grep -q 'incoming, QEMU connected'; } && break
		sleep 0.1
	done
	case $mode in
	pvio-log) how=logged ;;
	pvio-pause) how=paused ;;
	*) how=plain ;;
	esac
	vm_migrate $how "$TMP/qmp-1.sock" "$TMP/qmp-2.sock" "unix:$TMP/mig.sock" "$TMP/a.ctl" "$TMP/b.ctl" vm ||
		{ echo "# $mode round $round: the migration failed"; exit 1; }
	mq=$VM_MIG_QUERY
	[ -n "$VM_MIG_T2" ] && pause=$(((VM_MIG_T2 - VM_MIG_T0) / 1000000))
	for _ in $(seq 600); do grep -q '^BENCH ' "$TMP/log-2" 2>/dev/null && break; sleep 0.1; done
	bench=$(tr -d '\r' <"$TMP/log-2" | sed -n 's/^BENCH //p')
	for p in "${VMS[@]}"; do wait "$p" 2>/dev/null || true; done
	VMS=()
	[ "$mode" != virtio ] && vm_pviod_stop_all
	total=$(sed -n 's/.*"total-time": *\([0-9]*\).*/\1/p' <<<"$mq")
	down=$(sed -n 's/.*"downtime": *\([0-9]*\).*/\1/p' <<<"$mq")
	[ -n "$bench" ] || { echo "# $mode round $round: the guest gave no result"; tail -n 20 "$TMP/log-2"; exit 1; }
	stall=$(sed -n 's/.*stall_us=\([0-9]*\).*/\1/p' <<<"$bench")
	printf '%-10s round %d: total %5s ms, downtime %4s ms, guest stall %5d ms, pviod pause %5s ms, migrate-out %d ms, %s MiB in %s passes; %s\n' \
		"$mode" "$round" "$total" "$down" $((stall / 1000)) "$pause" $(((VM_MIG_T1 - VM_MIG_T0) / 1000000)) \
		$(($(sed -n 's/.*"transferred": *\([0-9]*\).*/\1/p' <<<"$mq" | head -n 1) >> 20)) \
		"$(sed -n 's/.*"dirty-sync-count": *\([0-9]*\).*/\1/p' <<<"$mq")" "$bench"
	R[$mode,total]+=" $total"
	R[$mode,down]+=" $down"
	R[$mode,stall]+=" $((stall / 1000))"
}

echo "# vm-migrate: $ROUNDS rounds, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	case $((r % 3)) in
	1) order="pvio-log pvio-pause virtio" ;;
	2) order="pvio-pause virtio pvio-log" ;;
	0) order="virtio pvio-log pvio-pause" ;;
	esac
	for m in $order; do one "$m" "$r"; done
done

# med LIST / minmax LIST
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
echo
printf '%-16s %18s %18s %18s\n' "median (min-max)" pvio-log pvio-pause virtio
for k in total down stall; do
	printf '%-16s %18s %18s %18s\n' "$k ms" \
		"$(med "${R[pvio-log,$k]}") ($(minmax "${R[pvio-log,$k]}"))" \
		"$(med "${R[pvio-pause,$k]}") ($(minmax "${R[pvio-pause,$k]}"))" \
		"$(med "${R[virtio,$k]}") ($(minmax "${R[virtio,$k]}"))"
done
for m in pvio-log pvio-pause; do
	for k in total:migrate_total_ms down:migrate_downtime_ms stall:migrate_io_stall_ms; do
		p=$(med "${R[$m,${k%%:*}]}")
		v=$(med "${R[virtio,${k%%:*}]}")
		awk -v p="$p" -v v="$v" -v n="${k#*:}" -v m="$m" 'BEGIN { if (v > 0) printf "RATIO %s %s/virtio: %.2f\n", n, m, p / v; else printf "RATIO %s %s/virtio: n/a\n", n, m }'
	done
done
