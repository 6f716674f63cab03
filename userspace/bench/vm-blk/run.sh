#!/bin/bash
# userspace/bench/vm-blk/run.sh - one command, one run: the same guest image
# and the same 1 GiB raw image file, three ways: AHCI (ich9-ahci + ide-hd),
# virtio-blk-pci (both QEMU's own block layer, cache=none, aio=io_uring)
# and pvio_blk (pviod, cache = none: O_DIRECT + io_uring).  Identical
# CPU/memory settings.  fio in the guest, O_DIRECT + libaio: 4k random read
# at QD1 and QD32, 4k random write at QD32, 128k sequential read and write
# (QD8).  Prints a table and RATIO lines.
#
#   run.sh [DURATION_SECONDS]      (default 10)
#
# Environment: DISKS="ahci virtio-blk pvio_blk host" selects the runs
# ("host": the same fio jobs on the host, on the image itself, the ceiling
# any of the three can reach; shown for reference, not in the ratios).
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
	--bin /usr/bin/fio --file "$HERE/guest.sh:/tests/bench.sh" 2>/dev/null
# Written, not sparse: every read touches real blocks, for all three.
dd if=/dev/zero of="$IMG" bs=1M count=1024 oflag=direct status=none

boot() { # boot NAME MODULE QEMU_ARGS
	local name=$1 mod=$2 args=$3 log=$TMP/$1.log
	"$VM/vm.sh" run --initrd "$TMP/initrd" --script /tests/bench.sh --mem $MEM --smp $SMP \
		--timeout $((DUR * 8 + 180)) --log "$log" --append "loglevel=3 bench.mod=$mod bench.dur=$DUR" \
		${RAMFILE:+--ram-file "$RAMFILE"} --qemu-extra "$args" ||
		{ echo "# $name: guest failed, console log follows" >&2; tail -n 20 "$log" >&2; }
	mkdir -p "$O/vm" && cp "$log" "$O/vm/bench-blk-$name.log" 2>/dev/null || true
}

DISKS=${DISKS:-ahci virtio-blk pvio_blk host}
want() { case " $DISKS " in *" $1 "*) return 0 ;; esac; return 1; }
DRIVE="file=$IMG,if=none,id=d0,format=raw,cache=none,aio=io_uring"
want ahci && RAMFILE='' boot ahci ahci "-drive $DRIVE -device ich9-ahci,id=ahci -device ide-hd,drive=d0,bus=ahci.0"
want virtio-blk && RAMFILE='' boot virtio-blk virtio_blk "-drive $DRIVE -device virtio-blk-pci,drive=d0,num-queues=$SMP"

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
	RAMFILE=$RAM boot pvio_blk pvio_blk \
		"-chardev socket,path=$TMP/bench.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=$((1 + SMP))"
	"$O/pvioctl" -s "$TMP/control.sock" status bench disk0 | sed 's/^/# pviod: /' || true
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

python3 - "$TMP" "$DUR" <<'PY'
import json, os, re, sys
tmp, dur = sys.argv[1], sys.argv[2]
disks = ["ahci", "virtio-blk", "pvio_blk", "host"]
res = {}
for d in disks:
    r = {}
    try:
        log = open(os.path.join(tmp, d + ".log"), errors="replace").read().replace("\r", "")
    except OSError:
        log = ""
    for m in re.finditer(r"PVIO-JSON-BEGIN (\S+)\n(.*?)\nPVIO-JSON-END", log, re.S):
        try:
            j = json.loads(m.group(2)[m.group(2).find("{"):])
        except ValueError:
            continue
        job = j["jobs"][0]
        side = job["write"] if "write" in m.group(1) else job["read"]
        if m.group(1).startswith("rand"):
            r[m.group(1)] = side["iops"] / 1e3
        else:
            r[m.group(1)] = side["bw"] * 1024 / 1e9
        if m.group(1) == "randread_4k_qd1":
            r["lat_qd1_us"] = side["clat_ns"]["mean"] / 1e3
    res[d] = r
rows = [("randread_4k_qd1", "4k randread QD1 kIOPS", True),
        ("lat_qd1_us", "4k randread QD1 lat us (lower better)", False),
        ("randread_4k_qd32", "4k randread QD32 kIOPS", True),
        ("randwrite_4k_qd32", "4k randwrite QD32 kIOPS", True),
        ("read_128k", "128k seq read GB/s", True),
        ("write_128k", "128k seq write GB/s", True)]
print(f"# vm-blk: TCG, {os.cpu_count()} host cores, guest 1 GiB / 2 vCPUs, 1 GiB raw image, fio {dur} s per test, O_DIRECT libaio")
print(f"{'metric':<40}" + "".join(f"{d:>12}" for d in disks))
for key, label, _ in rows:
    print(f"{label:<40}" + "".join(f"{res[d].get(key, float('nan')):>12.2f}" for d in disks))
for key, label, higher in rows:
    p = res["pvio_blk"].get(key)
    for peer in ("virtio-blk", "ahci"):
        q = res[peer].get(key)
        if p and q:
            ratio = p / q if higher else q / p
            print(f"RATIO {key} pvio_blk/{peer}: {ratio:.2f}")
        else:
            print(f"RATIO {key} pvio_blk/{peer}: n/a (missing result)")
PY
