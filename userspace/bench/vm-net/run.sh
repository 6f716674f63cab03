#!/bin/bash
# userspace/bench/vm-net/run.sh - one command, one run: the same guest image
# booted with identical CPU/memory settings, once per NIC: emulated e1000,
# virtio-net-pci (QEMU's own backend) and pvio_net (pviod on a TAP).
# Measures TCP throughput guest->host and host->guest and UDP 64-byte packet
# rate with iperf3, UDP 64-byte request/response round trips back to back
# with sockperf ping-pong, and the ICMP round trip of an idle guest (ping
# every 10 ms).  Prints a table of medians (min-max) and RATIO lines.
#
#   run.sh [DURATION_SECONDS [ROUNDS]]      (defaults 10 and 3)
#
# Each round boots every NIC once, the order rotating from round to round,
# so that the host's drift (it is shared and noisy) falls on all sides; the
# table shows the median over the rounds and their min-max.
#
# Then one counting boot per NIC, not timed (QEMU traces every MMIO and
# port access, which slows the emulated NIC), the same tests for 5 s each:
# per packet sent or received (per 64 KiB for TCP, whose packets are as
# large as each NIC's offloads make them), the guest-to-host transitions that do not
# depend on the accelerator -- MMIO and port accesses to the NIC (each a
# VM exit to QEMU under KVM) plus doorbell writes (ioeventfd: an exit the
# host kernel handles) -- and the NIC's interrupts; RATIO
# exits_per_UNIT_TEST PEER/pvio_net and irqs_per_UNIT_TEST PEER/pvio_net
# (UNIT pkt or 64k; > 1: pvio_net costs fewer).  COUNT=0 leaves them out.
#
# NICS="e1000 virtio-net pvio_net" picks the sides; PROFILE=1 runs each test
# under perf record in the guest (cpu-clock, all vCPUs) and prints the top
# kernel symbols per test into the guest's log (build/vm/bench-net-NAME.log).
# PVIOD_GLOBAL / PVIOD_DEVICE: extra lines for pviod's [pviod] and net
# device sections (e.g. PVIOD_DEVICE="poll = yes").
#
# All traffic stays inside a network namespace this script creates: QEMU,
# pviod and the iperf3 and sockperf servers run in it, and the guest's only
# NIC is a TAP in it.  Everything started here is stopped by PID on exit.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
O=${O:-$REPO/build}
VM=$REPO/tools/vm
# shellcheck source=../../../tools/vm/pviod.sh
. "$VM/pviod.sh"
HERE=$REPO/userspace/bench/vm-net
DUR=${1:-10}
ROUNDS=${2:-3}
COUNT=${COUNT:-1}
CDUR=$((DUR < 5 ? DUR : 5))	# a counting boot's tests: per packet, not per second
case $DUR$ROUNDS in *[!0-9]*) echo "usage: run.sh [DURATION_SECONDS [ROUNDS]]" >&2; exit 2 ;; esac
NS=pvbench$$
TMP=$(mktemp -d /tmp/pvio-vmnet.XXXXXX)
MEM=1024
SMP=2

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -f "$TMP/iperf3.pid" ] && kill "$(cat "$TMP/iperf3.pid")" 2>/dev/null
	[ -n "${SOCKPERF:-}" ] && kill "$SOCKPERF" 2>/dev/null
	vm_pviod_stop_all
	ip netns del "$NS" 2>/dev/null || true
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$O/vm/bench-net-pviod.log"
	rm -rf "$TMP" /dev/shm/pvio-vmnet-$$
}
trap cleanup EXIT
nsx() { ip netns exec "$NS" "$@"; }

make -C "$REPO" --no-print-directory all modules >/dev/null
"$VM/mkinitramfs.sh" "$TMP/initrd.gz" --kmod e1000 --kmod virtio_net --kmod virtio_pci \
	--module "$O/kmod-generic/frontend/pvio.ko" --module "$O/kmod-generic/frontend/pvio_net.ko" \
	--bin /usr/bin/iperf3 --bin /usr/bin/sockperf --bin /usr/sbin/ethtool ${PROFILE:+--bin /usr/bin/perf} --file "$HERE/guest.sh:/tests/bench.sh" \
	--file "$HERE/../common/guest-count.sh:/tests/count.sh" 2>/dev/null

ip netns add "$NS"
nsx ip link set lo up
nsx iperf3 -s -D --pidfile "$TMP/iperf3.pid" >/dev/null 2>&1
# Not through nsx(): $! must be sockperf itself.
ip netns exec "$NS" sockperf server -i 0.0.0.0 -p 11111 >/dev/null 2>&1 &
SOCKPERF=$!

# tap_up NAME: wait for the interface QEMU/pviod creates, give it the host address.
tap_up() {
	local _
	for _ in $(seq 200); do nsx ip link show "$1" >/dev/null 2>&1 && break; sleep 0.05; done
	nsx ip addr add 10.77.0.1/24 dev "$1" 2>/dev/null || true
	nsx ip link set "$1" up
}

boot() { # boot NAME MODULE QEMU_NIC_ARGS (round $ROUND; a counting boot: $COUNTING)
	local name=$1 mod=$2 nic=$3 log=$TMP/$1.$ROUND.log append=''
	if [ -n "${COUNTING:-}" ]; then
		log=$TMP/count-$1.log
		append=" bench.count=1 bench.dur=$CDUR"
		nic+=" -trace memory_region_ops_read -trace memory_region_ops_write -D $TMP/trace-$1.log"
	fi
	nsx "$VM/vm.sh" run --initrd "$TMP/initrd.gz" --script /tests/bench.sh --mem $MEM --smp $SMP \
		--timeout $((DUR * 4 + 120)) --log "$log" --append "loglevel=4 bench.mod=$mod bench.dur=$DUR${PROFILE:+ bench.perf=1}$append" \
		${RAMFILE:+--ram-file "$RAMFILE"} --qemu-extra "$nic" &
	local vm=$!
	tap_up "$TAPNAME"
	wait "$vm" || { echo "# $name: guest failed, console log follows" >&2; tail -n 20 "$log" >&2; }
	cp "$log" "$O/vm/bench-net-$name.log" 2>/dev/null || true
	if [ -n "${COUNTING:-}" ]; then
		# Only what the parser needs: the CPU, value and region of each access.
		sed -n "s/^memory_region_ops_\(read\|write\) cpu \(-\?[0-9]*\) .* value \(0x[0-9a-f]*\) size [0-9]* name '\(.*\)'$/\1 \2 \3 \4/p" \
			"$TMP/trace-$name.log" >"$TMP/mmio-$name.txt"
		rm -f "$TMP/trace-$name.log"
	fi
}

mkdir -p "$O/vm"
NICS=${NICS:-e1000 virtio-net pvio_net}
want() { case " $NICS " in *" $1 "*) return 0 ;; esac; return 1; }

# pvio_net: pviod in the namespace, TAP created by pviod; one pviod for
# every round (the guest reconnects).
cat > "$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock
${PVIOD_GLOBAL:-}
[guest bench]
socket = $TMP/bench.sock
ram = /dev/shm/pvio-vmnet-$$
ram_size = ${MEM}M
[device bench net0]
type = net
queues = 4
tap = pvbpvio
${PVIOD_DEVICE:-}
INI
if want pvio_net; then
	vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"
fi

# e1000 and virtio-net: QEMU's own TAP backend (vhost off: not available here).
run_nic() {
	case $1 in
	e1000)
		TAPNAME=pvbe1000 RAMFILE='' boot e1000 e1000 "-netdev tap,id=n0,ifname=pvbe1000,script=no,downscript=no -device e1000,netdev=n0"
		nsx ip link del pvbe1000 2>/dev/null || true ;;
	virtio-net)
		TAPNAME=pvbvirtio RAMFILE='' boot virtio-net virtio_net "-netdev tap,id=n0,ifname=pvbvirtio,script=no,downscript=no -device virtio-net-pci,netdev=n0"
		nsx ip link del pvbvirtio 2>/dev/null || true ;;
	pvio_net)
		TAPNAME=pvbpvio RAMFILE=/dev/shm/pvio-vmnet-$$ boot pvio_net pvio_net \
			"-chardev socket,path=$TMP/bench.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=8"
		# pviod's TAP outlives the guest: its address would take the
		# next side's route.
		nsx ip addr flush dev pvbpvio 2>/dev/null || true ;;
	esac
}
ORDER=()
for n in e1000 virtio-net pvio_net; do want $n && ORDER+=("$n"); done
for ROUND in $(seq "$ROUNDS"); do
	k=$(((ROUND - 1) % ${#ORDER[@]}))
	for n in "${ORDER[@]:k}" "${ORDER[@]:0:k}"; do
		echo "# round $ROUND: $n" >&2
		run_nic "$n"
	done
done
if [ "$COUNT" = 1 ]; then
	for n in "${ORDER[@]}"; do
		echo "# counting: $n" >&2
		COUNTING=1 run_nic "$n"
	done
fi
if want pvio_net; then
	# pviod's per-queue counters (drops) and the host side of the TAP.
	"$O/pvioctl" -s "$TMP/control.sock" status bench net0 2>&1 | sed 's/^/# pviod: /'
	nsx ip -s link show pvbpvio 2>&1 | sed 's/^/# tap: /'
	nsx nstat -az TcpRetransSegs TcpExtTCPLostRetransmit TcpExtTCPSackRecovery 2>&1 | sed 's/^/# host: /'
fi

python3 - "$TMP" "$DUR" "$ROUNDS" <<'PY'
import glob, json, os, re, statistics, sys
tmp, dur, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
nics = ["e1000", "virtio-net", "pvio_net"]

def parse(log):
    r = {}
    for m in re.finditer(r"PVIO-JSON-BEGIN (\S+)\n(.*?)\nPVIO-JSON-END", log, re.S):
        try:
            j = json.loads(m.group(2))
        except ValueError:
            continue
        end = j.get("end", {})
        if m.group(1).startswith("tcp"):
            r[m.group(1)] = end.get("sum_received", {}).get("bits_per_second", 0) / 1e9
        else:
            s = end.get("sum", {})
            secs = s.get("seconds") or 1
            r[m.group(1)] = (s.get("packets", 0) - s.get("lost_packets", 0)) / secs / 1e3
    p = re.search(r"PVIO-PING .*= [\d.]+/([\d.]+)/", log)
    if p:
        r["ping_us"] = float(p.group(1)) * 1000
    for key, pat in (("rr_p50_us", r"percentile 50\.000 =\s*([\d.]+)"),
                     ("rr_p99_us", r"percentile 99\.000 =\s*([\d.]+)")):
        q = re.search(r"PVIO-RR .*" + pat, log)
        if q:
            r[key] = float(q.group(1))
    return r

res, runs = {}, {}
for n in nics:
    per = []
    for f in sorted(glob.glob(os.path.join(tmp, n + ".*.log"))):
        per.append(parse(open(f, errors="replace").read().replace("\r", "")))
    runs[n] = per
    keys = {k for r in per for k in r}
    res[n] = {k: statistics.median([r[k] for r in per if k in r]) for k in keys}
rows = [("tcp_g2h", "TCP guest->host Gbit/s", True), ("tcp_h2g", "TCP host->guest Gbit/s", True),
        ("udp64_g2h", "UDP 64B guest->host kpps", True),
        ("rr_p50_us", "UDP RR p50 us (lower better)", False),
        ("rr_p99_us", "UDP RR p99 us (lower better)", False),
        ("ping_us", "ping idle RTT us (lower bet.)", False)]
print(f"# vm-net: TCG, {os.cpu_count()} host cores, guest 1 GiB / 2 vCPUs, {dur} s per test, "
      f"median (min-max) of {rounds} round(s)")
print(f"{'metric':<30}" + "".join(f"{n:>26}" for n in nics))
for key, label, _ in rows:
    cells = ""
    for n in nics:
        vals = [r[key] for r in runs[n] if key in r]
        cell = f"{res[n][key]:.2f} ({min(vals):.2f}-{max(vals):.2f})" if vals else "nan"
        cells += f"{cell:>26}"
    print(f"{label:<30}" + cells)
for key, label, _ in rows:
    for n in nics:
        vals = [r[key] for r in runs[n] if key in r]
        if len(vals) > 1:
            print(f"# {key} {n} per round: " + " ".join(f"{v:.2f}" for v in vals))
for key, label, higher in rows:
    p = res["pvio_net"].get(key)
    for peer in ("virtio-net", "e1000"):
        q = res[peer].get(key)
        if p and q:
            ratio = p / q if higher else q / p
            print(f"RATIO {key} pvio_net/{peer}: {ratio:.2f}")
        else:
            print(f"RATIO {key} pvio_net/{peer}: n/a (missing result)")

# ---- the counting boots ---------------------------------------------------
# A region is the NIC's when its name says so; port 0x80 ('ioport80')
# brackets each test; an MSI is a write to 'apic-msi' by no CPU (-1).
tests = ["tcp_g2h", "tcp_h2g", "udp64_g2h", "rr"]
own = {"e1000": re.compile(r"^e1000"), "virtio-net": re.compile(r"^virtio-pci|^msix-"),
       "pvio_net": re.compile(r"^ivshmem|^msix-")}
counts = {}
for n in nics:
    path = os.path.join(tmp, f"mmio-{n}.txt")
    if not os.path.exists(path):
        continue
    log = open(os.path.join(tmp, f"count-{n}.log"), errors="replace").read().replace("\r", "")
    guest = {m.group(1): tuple(int(x) for x in m.group(2, 3, 4, 5))
             for m in re.finditer(r"^PVIO-COUNT (\S+) (\d+) (\d+) (\d+) (\d+)$", log, re.M)}
    test, per = None, {t: {"mmio": 0, "msi": 0, "regions": {}} for t in tests}
    with open(path) as f:
        for line in f:
            op, cpu, val, name = line.rstrip("\n").split(" ", 3)
            if name == "ioport80" and op == "write":
                v = int(val, 16)
                test = tests[v - 1] if 1 <= v <= len(tests) else None
                continue
            if test is None:
                continue
            if name == "apic-msi" and cpu == "-1":
                per[test]["msi"] += 1
            elif own[n].match(name):
                per[test]["mmio"] += 1
                per[test]["regions"][name] = per[test]["regions"].get(name, 0) + 1
    for t in tests:
        # TCP per 64 KiB: a packet is as large as each NIC's offloads make it.
        if t not in guest:
            continue
        units = guest[t][3] / 65536 if t.startswith("tcp") else guest[t][2]
        if units:
            counts[n, t] = dict(per[t], notify=guest[t][0], irqs=guest[t][1], pkts=units)

if counts:
    print("\n# per packet (sent or received by the guest's NIC; TCP: per 64 KiB), counting boots (QEMU traced every MMIO")
    print("# and port access; not timed): mmio = MMIO/port accesses to the NIC (a VM exit to QEMU each")
    print("# under KVM); notify = doorbell writes counted in the guest (ioeventfd: an exit the host")
    print("# kernel handles); exits = mmio + notify; irqs = the NIC's interrupts (MSIs seen by QEMU)")
    print(f"{'test':<12}{'NIC':<12}{'units':>9}{'mmio/pkt':>10}{'notify/pkt':>11}{'exits/pkt':>10}{'irqs/pkt':>9}{'msi/pkt':>9}  regions (accesses)")
    for t in tests:
        for n in nics:
            c = counts.get((n, t))
            if not c:
                continue
            k = c["pkts"]
            regs = ", ".join(f"{a} {b}" for a, b in sorted(c["regions"].items(), key=lambda kv: -kv[1]))
            print(f"{t:<12}{n:<12}{k:>9.0f}{c['mmio'] / k:>10.3f}{c['notify'] / k:>11.3f}"
                  f"{(c['mmio'] + c['notify']) / k:>10.3f}{c['irqs'] / k:>9.3f}{c['msi'] / k:>9.3f}  {regs}")
    print()
    for t in tests:
        p = counts.get(("pvio_net", t))
        for peer in ("virtio-net", "e1000"):
            q = counts.get((peer, t))
            if not p or not q:
                continue
            pe, qe = (p["mmio"] + p["notify"]) / p["pkts"], (q["mmio"] + q["notify"]) / q["pkts"]
            pi, qi = p["irqs"] / p["pkts"], q["irqs"] / q["pkts"]
            u = "64k" if t.startswith("tcp") else "pkt"
            print(f"RATIO exits_per_{u}_{t} {peer}/pvio_net: " + (f"{qe / pe:.2f}" if pe else "n/a (pvio_net 0)"))
            print(f"RATIO irqs_per_{u}_{t} {peer}/pvio_net: " + (f"{qi / pi:.2f}" if pi else "n/a (pvio_net 0)"))
PY
