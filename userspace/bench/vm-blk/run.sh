#!/bin/bash
# userspace/bench/vm-blk/run.sh - one command: the same guest image and the
# same 1 GiB raw image file, three ways: AHCI (ich9-ahci + ide-hd),
# virtio-blk-pci (both QEMU's own block layer, cache=none, aio=io_uring)
# and pvio_blk (pviod, cache = none: O_DIRECT + io_uring, event mode: no
# busy-polling on either side).  Identical CPU/memory settings.  fio in
# the guest, O_DIRECT + libaio: 4k random read at QD1 and QD32, 4k random
# write at QD32, 128k sequential read and write (QD8).
#
#   run.sh [DURATION_SECONDS [ROUNDS]]      (default 10 s per job, 3 rounds)
#
# ROUNDS rounds, the three ways in a rotating order (round r starts with
# the r-th); a table per round, then per way the median and min-max, and
# RATIO lines from the medians.  Then one counting boot per way (not
# timed: QEMU traces every MMIO and port access, which slows the emulated
# devices): per I/O, the guest-to-host transitions that do not depend on
# the accelerator -- MMIO and port accesses to the device (each a VM exit
# to QEMU under KVM) plus doorbell writes (ioeventfd: an exit the host
# kernel handles) -- and the device's interrupts; RATIO exits_per_io_JOB
# PEER/pvio_blk and irqs_per_io_JOB PEER/pvio_blk (> 1: pvio_blk costs
# fewer); its jobs run 5 s each.  About 16 minutes with the defaults.
#
# Environment: DISKS="ahci virtio-blk pvio_blk host" selects the runs
# ("host": the same fio jobs on the host, on the image itself, the ceiling
# any of the three can reach; shown for reference, not in the ratios);
# COUNT=0 leaves the counting boots out.
# Everything started here is stopped by PID on exit; the image lives under
# build/ and is removed afterwards.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
O=${O:-$REPO/build}
VM=$REPO/tools/vm
# shellcheck source=../../../tools/vm/pviod.sh
. "$VM/pviod.sh"
HERE=$REPO/userspace/bench/vm-blk
DUR=${1:-10}
ROUNDS=${2:-3}
COUNT=${COUNT:-1}
CDUR=$((DUR < 5 ? DUR : 5))	# a counting boot's jobs: per I/O, not per second
TMP=$(mktemp -d /tmp/pvio-vmblk.XXXXXX)
IMG=$O/bench-blk.$$.img
RAM=/dev/shm/pvio-vmblk-$$
MEM=1024
SMP=2

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	vm_pviod_stop_all
	rm -rf "$TMP" "$RAM" "$IMG"
}
trap cleanup EXIT

make -C "$REPO" --no-print-directory all modules >/dev/null
PVIO_INITRD_RAW=1 "$VM/mkinitramfs.sh" "$TMP/initrd" --kmod ahci --kmod sd_mod \
	--kmod virtio_blk --kmod virtio_pci \
	--module "$O/kmod-generic/frontend/pvio.ko" --module "$O/kmod-generic/frontend/pvio_blk.ko" \
	--bin /usr/bin/fio --file "$HERE/guest.sh:/tests/bench.sh" \
	--file "$HERE/../common/guest-count.sh:/tests/count.sh" 2>/dev/null
# Written, not sparse: every read touches real blocks, for all three.
dd if=/dev/zero of="$IMG" bs=1M count=1024 oflag=direct status=none

boot() { # boot NAME MODULE QEMU_ARGS TAG [APPEND]
	local name=$1 mod=$2 args=$3 log=$TMP/$1-$4.log
	"$VM/vm.sh" run --initrd "$TMP/initrd" --script /tests/bench.sh --mem $MEM --smp $SMP \
		--timeout $((DUR * 8 + 180)) --log "$log" --append "loglevel=3 bench.mod=$mod bench.dur=$DUR ${5:-}" \
		${RAMFILE:+--ram-file "$RAMFILE"} --qemu-extra "$args" ||
		{ echo "# $name ($4): guest failed, console log follows" >&2; tail -n 20 "$log" >&2; }
	mkdir -p "$O/vm" && cp "$log" "$O/vm/bench-blk-$name-$4.log" 2>/dev/null || true
}

DISKS=${DISKS:-ahci virtio-blk pvio_blk host}
want() { case " $DISKS " in *" $1 "*) return 0 ;; esac; return 1; }
DRIVE="file=$IMG,if=none,id=d0,format=raw,cache=none,aio=io_uring"
declare -A ARGS=(
	[ahci]="-drive $DRIVE -device ich9-ahci,id=ahci -device ide-hd,drive=d0,bus=ahci.0"
	[virtio-blk]="-drive $DRIVE -device virtio-blk-pci,drive=d0,num-queues=$SMP"
	[pvio_blk]="-chardev socket,path=$TMP/bench.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=$((1 + SMP))"
)
declare -A MODS=([ahci]=ahci [virtio-blk]=virtio_blk [pvio_blk]=pvio_blk)

if want pvio_blk; then
	cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock
[guest bench]
socket = $TMP/bench.sock
ram = $RAM
ram_size = ${MEM}M
[device bench disk0]
type = blk
path = $IMG
cache = none
queues = $SMP
INI
	vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"
fi

# one WAY TAG [APPEND] [QEMU_ARGS]
one() {
	local ram=''
	[ "$1" = pvio_blk ] && ram=$RAM
	RAMFILE=$ram boot "$1" "${MODS[$1]}" "${ARGS[$1]} ${4:-}" "$2" "${3:-}"
	if [ "$1" = pvio_blk ]; then
		"$O/pvioctl" -s "$TMP/control.sock" status bench disk0 | sed "s/^/# pviod ($2): /" || true
	fi
}

WAYS=()
for w in ahci virtio-blk pvio_blk; do want $w && WAYS+=("$w"); done
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((k = 0; k < ${#WAYS[@]}; k++)); do
		order+=("${WAYS[$(((k + r - 1) % ${#WAYS[@]}))]}")
	done
	echo "# round $r: ${order[*]} ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for w in "${order[@]}"; do one "$w" "r$r"; done
done
# The counting boots: QEMU logs every MMIO and port access.
if [ "$COUNT" = 1 ]; then
	for w in "${WAYS[@]}"; do
		echo "# counting: $w ($(date -u +%H:%M:%S) UTC)"
		one "$w" count "bench.count=1 bench.dur=$CDUR" \
			"-trace memory_region_ops_read -trace memory_region_ops_write -D $TMP/trace-$w.log"
		# Only what the parser needs: region name and value of each access.
		sed -n "s/^memory_region_ops_\(read\|write\) cpu \(-\?[0-9]*\) .* value \(0x[0-9a-f]*\) size [0-9]* name '\(.*\)'$/\1 \2 \3 \4/p" \
			"$TMP/trace-$w.log" >"$TMP/mmio-$w.txt"
		rm -f "$TMP/trace-$w.log"
	done
fi

# The ceiling: the same fio jobs on the host, straight on the image
# (O_DIRECT, io_uring), no guest in the way.
if want host; then
	{
		for job in "randread_4k_qd1 --rw=randread --bs=4k --iodepth=1" \
			"randread_4k_qd32 --rw=randread --bs=4k --iodepth=32" \
			"randwrite_4k_qd32 --rw=randwrite --bs=4k --iodepth=32" \
			"read_128k --rw=read --bs=128k --iodepth=8" \
			"write_128k --rw=write --bs=128k --iodepth=8"; do
			set -- $job
			echo "PVIO-JSON-BEGIN $1"
			fio --name="$1" --filename="$IMG" --ioengine=io_uring --direct=1 --time_based \
				--runtime="$DUR" --ramp_time=1 --output-format=json "${@:2}" | tr -d '\n'
			echo
			echo "PVIO-JSON-END $1"
		done
	} >"$TMP/host.log" 2>&1
fi

python3 - "$TMP" "$DUR" "$ROUNDS" "$SMP" <<'PY'
import collections, json, os, re, statistics, sys
tmp, dur, rounds, smp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ways = ["ahci", "virtio-blk", "pvio_blk"]
jobs = ["randread_4k_qd1", "randread_4k_qd32", "randwrite_4k_qd32", "read_128k", "write_128k"]

def fio_results(path):
    """{job: (fio's read or write side, its JSON)} of one console log."""
    try:
        log = open(path, errors="replace").read().replace("\r", "")
    except OSError:
        return {}, ""
    out = {}
    for m in re.finditer(r"PVIO-JSON-BEGIN (\S+)\n(.*?)\nPVIO-JSON-END", log, re.S):
        try:
            j = json.loads(m.group(2)[m.group(2).find("{"):])
        except ValueError:
            continue
        job = j["jobs"][0]
        out[m.group(1)] = job["write"] if "write" in m.group(1) else job["read"]
    return out, log

def metrics(path):
    r = {}
    res, _ = fio_results(path)
    for name, side in res.items():
        if name.startswith("rand"):
            r[name] = side["iops"] / 1e3
        else:
            r[name] = side["bw"] * 1024 / 1e9
        if name == "randread_4k_qd1":
            r["lat_qd1_us"] = side["clat_ns"]["mean"] / 1e3
    return r

rows = [("randread_4k_qd1", "4k randread QD1 kIOPS", True),
        ("lat_qd1_us", "4k randread QD1 lat us (lower better)", False),
        ("randread_4k_qd32", "4k randread QD32 kIOPS", True),
        ("randwrite_4k_qd32", "4k randwrite QD32 kIOPS", True),
        ("read_128k", "128k seq read GB/s", True),
        ("write_128k", "128k seq write GB/s", True)]
res = {w: [metrics(os.path.join(tmp, f"{w}-r{r}.log")) for r in range(1, rounds + 1)] for w in ways}
host = metrics(os.path.join(tmp, "host.log"))
present = [w for w in ways if any(res[w])]

print(f"# vm-blk: TCG, {os.cpu_count()} host cores, guest 1 GiB / {smp} vCPUs, 1 GiB raw image, "
      f"fio {dur} s per job, O_DIRECT libaio, {rounds} round(s) in rotating order")
for r in range(rounds):
    print(f"\n# round {r + 1}")
    print(f"{'metric':<40}" + "".join(f"{w:>12}" for w in present))
    for key, label, _ in rows:
        print(f"{label:<40}" + "".join(f"{res[w][r].get(key, float('nan')):>12.2f}" for w in present))

med = {}
print(f"\n# median (min-max) of {rounds} round(s); host: the same jobs on the host, one run, for reference")
print(f"{'metric':<40}" + "".join(f"{w:>25}" for w in present) + f"{'host':>10}")
for key, label, _ in rows:
    cells = ""
    for w in present:
        v = [x[key] for x in res[w] if key in x]
        if v:
            med[w, key] = statistics.median(v)
            cells += f"{f'{med[w, key]:.2f} ({min(v):.2f}-{max(v):.2f})':>25}"
        else:
            cells += f"{'n/a':>25}"
    cells += f"{host[key]:>10.2f}" if key in host else f"{'-':>10}"
    print(f"{label:<40}" + cells)
print()
for key, label, higher in rows:
    for peer in ("virtio-blk", "ahci"):
        p, q = med.get(("pvio_blk", key)), med.get((peer, key))
        if p and q:
            print(f"RATIO {key} pvio_blk/{peer}: {(p / q if higher else q / p):.2f}")
        elif "pvio_blk" in present and peer in present:
            print(f"RATIO {key} pvio_blk/{peer}: n/a (missing result)")

# ---- the counting boots ---------------------------------------------------
# A region is the device's when its name says so; port 0x80 ('ioport80')
# brackets each job; an MSI is a write to 'apic-msi' by no CPU (-1).
own = {"ahci": re.compile(r"^ahci"), "virtio-blk": re.compile(r"^virtio-pci|^msix-"),
       "pvio_blk": re.compile(r"^ivshmem|^msix-")}
counts = {}
for w in present:
    path = os.path.join(tmp, f"mmio-{w}.txt")
    if not os.path.exists(path):
        continue
    fio, log = fio_results(os.path.join(tmp, f"{w}-count.log"))
    guest = {m.group(1): (int(m.group(2)), int(m.group(3)))
             for m in re.finditer(r"^PVIO-COUNT (\S+) (\d+) (\d+)$", log, re.M)}
    job, per = None, collections.defaultdict(collections.Counter)
    with open(path) as f:
        for line in f:
            op, cpu, val, name = line.rstrip("\n").split(" ", 3)
            if name == "ioport80" and op == "write":
                v = int(val, 16)
                job = jobs[v - 1] if 1 <= v <= len(jobs) else None
                continue
            if job is None:
                continue
            if name == "apic-msi" and cpu == "-1":
                per[job]["msi"] += 1
            elif own[w].match(name):
                per[job]["mmio"] += 1
                per[job]["region " + name] += 1
    for j in jobs:
        if j not in fio or j not in guest:
            continue
        ios = fio[j]["total_ios"]
        if not ios:
            continue
        notify, irqs = guest[j]
        counts[w, j] = {"ios": ios, "mmio": per[j]["mmio"], "notify": notify, "irqs": irqs,
                        "msi": per[j]["msi"],
                        "regions": {k[7:]: v for k, v in per[j].items() if k.startswith("region ")}}

if counts:
    print("\n# per I/O, counting boots (QEMU traced every MMIO and port access; not timed):")
    print("#   mmio: the guest's MMIO/port accesses to the device (a VM exit to QEMU each under KVM)")
    print("#   notify: doorbell writes counted in the guest (ioeventfd: an exit the host kernel handles)")
    print("#   exits = mmio + notify; irqs: the device's interrupts in the guest (MSIs seen by QEMU)")
    print(f"{'job':<20}{'way':<12}{'I/Os':>9}{'mmio/io':>9}{'notify/io':>10}{'exits/io':>9}{'irqs/io':>9}{'msi/io':>8}  regions (accesses)")
    for j in jobs:
        for w in present:
            c = counts.get((w, j))
            if not c:
                continue
            n = c["ios"]
            regs = ", ".join(f"{k} {v}" for k, v in sorted(c["regions"].items(), key=lambda kv: -kv[1]))
            print(f"{j:<20}{w:<12}{n:>9}{c['mmio'] / n:>9.3f}{c['notify'] / n:>10.3f}"
                  f"{(c['mmio'] + c['notify']) / n:>9.3f}{c['irqs'] / n:>9.3f}{c['msi'] / n:>8.3f}  {regs}")
    print()
    for j in jobs:
        p = counts.get(("pvio_blk", j))
        for peer in ("virtio-blk", "ahci"):
            q = counts.get((peer, j))
            if not p or not q:
                continue
            pe, qe = (p["mmio"] + p["notify"]) / p["ios"], (q["mmio"] + q["notify"]) / q["ios"]
            pi, qi = p["irqs"] / p["ios"], q["irqs"] / q["ios"]
            print(f"RATIO exits_per_io_{j} {peer}/pvio_blk: " + (f"{qe / pe:.2f}" if pe else "n/a (pvio_blk 0)"))
            print(f"RATIO irqs_per_io_{j} {peer}/pvio_blk: " + (f"{qi / pi:.2f}" if pi else "n/a (pvio_blk 0)"))
PY
