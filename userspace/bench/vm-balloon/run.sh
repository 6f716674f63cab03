#!/bin/bash
# userspace/bench/vm-balloon/run.sh - one command, one run: the same 2 GiB
# guest (RAM in a /dev/shm file, memory-backend-file share=on, for both)
# with QEMU's virtio-balloon-pci driven over QMP ("balloon") and with
# pvio_balloon driven by pviod ("pvioctl balloon ... set --wait").
#
# For each size (512 MiB and 1 GiB) the guest first touches almost all its
# free memory, so the host has it backed, then asks for the inflation; the
# host backs every page of the RAM file (fallocate: only holes are filled,
# "filled_MiB"), times request -> balloon complete (QMP query-balloon /
# pvioctl --wait, both polled every 50 ms) and samples the RAM file's
# allocated blocks before and after; the guest reports its own wall and CPU time
# (guest.sh).  Prints a table and
#   RATIO inflate_1g_speed pvio_balloon/virtio-balloon: X.XX  (> 1: pvio faster)
#   RATIO returned_1g pvio_balloon/requested: X.XXX
#
#   run.sh            (BALLOONS="virtio-balloon pvio_balloon" selects runs)
#
# Everything started here is stopped by PID on exit; the RAM file is removed.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
O=${O:-$REPO/build}
KMOD=${KMOD:-$O/kmod-generic}
VM=$REPO/tools/vm
# shellcheck source=../../../tools/vm/pviod.sh
. "$VM/pviod.sh"
HERE=$REPO/userspace/bench/vm-balloon
TMP=$(mktemp -d /tmp/pvio-vmbal.XXXXXX)
RAM=/dev/shm/pvio-benchbal-$$
MEM=2048
SMP=2
SIZES="512 1024"
declare -A R=()

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	vm_pviod_stop_all
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

if [ -z "${PVIO_BENCH_NOBUILD:-}" ]; then
	make -C "$REPO" --no-print-directory all modules >/dev/null
fi
"$VM/mkinitramfs.sh" "$TMP/initrd" --kmod virtio_balloon --kmod virtio_pci \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--bin "$O/vm/pvbal_mem" --file "$HERE/guest.sh:/tests/bench.sh" 2>/dev/null

# QMP: "qmp.py SOCK BYTES" sets the guest's logical size to BYTES and
# waits until query-balloon reports it.
cat >"$TMP/qmp.py" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
json.loads(f.readline())
cmd("qmp_capabilities")
want = int(sys.argv[2])
r = cmd("balloon", value=want)
if "error" in r:
    sys.exit("qmp: %s" % r["error"])
end = time.time() + 300
while time.time() < end:
    if cmd("query-balloon")["return"]["actual"] == want:
        sys.exit(0)
    time.sleep(0.05)
sys.exit("qmp: balloon did not reach %d bytes" % want)
PY

blocks() { echo $(($(stat -c %b "$RAM") * $(stat -c %B "$RAM"))); }
now() { date +%s.%N; }

# run NAME MODULE QEMU_ARGS SETTER: boot, serve the guest's requests.
run() {
	local name=$1 mod=$2 args=$3 setter=$4 log=$TMP/$1.log handled=0 vm b0 t0
	rm -f "$RAM"
	"$VM/vm.sh" run --initrd "$TMP/initrd" --script /tests/bench.sh --mem $MEM --smp $SMP \
		--timeout 900 --log "$log" --ram-file "$RAM" \
		--append "loglevel=3 bench.mod=$mod bench.sizes=${SIZES// /,}" --qemu-extra "$args" &
	vm=$!
	while :; do
		local alive=0
		kill -0 "$vm" 2>/dev/null && alive=1
		mapfile -t syncs < <(tr -d '\r' 2>/dev/null <"$log" | grep -a '^PVIO-SYNC ' || true)
		while [ "$handled" -lt "${#syncs[@]}" ]; do
			read -r _ what size <<<"${syncs[$handled]}"
			handled=$((handled + 1))
			if [ "$what" = inflate ]; then
				# Back every page of the RAM file first (tmpfs fallocate
				# only fills the holes; the guest still reads what it
				# wrote, zeroes in the holes), so that "returned" counts
				# what the host released, whichever free pages the
				# guest's balloon picks: some were never touched.
				b0=$(blocks)
				fallocate -l $((MEM << 20)) "$RAM"
				R[$name,$size,filled]=$(($(blocks) - b0))
				b0=$(blocks)
				t0=$(now)
				$setter "$size" || echo "# $name: inflate $size failed" >&2
				R[$name,$size,host_s]=$(echo "$(now) - $t0" | bc -l)
				R[$name,$size,returned]=$((b0 - $(blocks)))
			else
				$setter 0 || echo "# $name: deflate failed" >&2
			fi
		done
		[ $alive = 1 ] || break
		sleep 0.05
	done
	wait "$vm" || echo "# $name: guest exited with $?; console: $O/vm/bench-balloon-$name.log" >&2
	mkdir -p "$O/vm" && cp "$log" "$O/vm/bench-balloon-$name.log"
	while read -r _ _ size _ wall _ cpu; do
		R[$name,$size,guest_wall]=$wall
		R[$name,$size,guest_cpu]=$cpu
	done < <(tr -d '\r' <"$log" | grep -a '^BENCH inflate')
}

virtio_set() { python3 "$TMP/qmp.py" "$TMP/qmp.sock" $(((MEM - $1) << 20)); }
pvio_set() { "$O/pvioctl" -s "$TMP/control.sock" balloon bench bal0 set "$1M" --wait --timeout 300 >/dev/null; }

BALLOONS=${BALLOONS:-virtio-balloon pvio_balloon}
want() { case " $BALLOONS " in *" $1 "*) return 0 ;; esac; return 1; }
want virtio-balloon && run virtio-balloon virtio_balloon \
	"-qmp unix:$TMP/qmp.sock,server=on,wait=off -device virtio-balloon-pci,id=bal0" virtio_set

if want pvio_balloon; then
	cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock
[guest bench]
socket = $TMP/bench.sock
ram = $RAM
ram_size = ${MEM}M
[device bench bal0]
type = balloon
reporting = no
INI
	vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"
	run pvio_balloon pvio_balloon \
		"-chardev socket,path=$TMP/bench.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=3" pvio_set
fi

get() { echo "${R[$1]:-}"; }
printf "%-15s %6s %11s %14s %12s %10s %14s %9s\n" balloon MiB host_time_s guest_wall_ms guest_cpu_ms filled_MiB returned_MiB returned
for name in virtio-balloon pvio_balloon; do
	want "$name" || continue
	for s in $SIZES; do
		ret=$(get "$name,$s,returned")
		fill=$(get "$name,$s,filled")
		printf "%-15s %6s %11.2f %14s %12s %10s %14s %9s\n" "$name" "$s" "$(get "$name,$s,host_s")" \
			"$(get "$name,$s,guest_wall")" "$(get "$name,$s,guest_cpu")" "$((${fill:-0} >> 20))" \
			"$((${ret:-0} >> 20))" "$(echo "scale=3; ${ret:-0} / ($s * 1048576)" | bc -l)"
	done
done
if want virtio-balloon && want pvio_balloon; then
	printf "RATIO inflate_1g_speed pvio_balloon/virtio-balloon: %.2f\n" \
		"$(echo "$(get virtio-balloon,1024,host_s) / $(get pvio_balloon,1024,host_s)" | bc -l)"
fi
if want pvio_balloon; then
	printf "RATIO returned_1g pvio_balloon/requested: %.3f\n" \
		"$(echo "$(get pvio_balloon,1024,returned) / (1024 * 1048576)" | bc -l)"
fi
if want virtio-balloon; then
	printf "RATIO returned_1g virtio-balloon/requested: %.3f\n" \
		"$(echo "$(get virtio-balloon,1024,returned) / (1024 * 1048576)" | bc -l)"
fi
