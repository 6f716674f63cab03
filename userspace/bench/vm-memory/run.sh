#!/bin/bash
# userspace/bench/vm-memory/run.sh - how much host memory the same guests
# need three ways (issue 19), in one command:
#
#   static          no balloon: a guest keeps what it touched
#   virtio-balloon  QEMU's virtio-balloon-pci with free-page-reporting=on:
#                   what the guest frees goes back to the host (no policy:
#                   stock QEMU has none)
#   pvio            pvio_balloon under pviod's host-wide policy (policy =
#                   host, headroom 32M: 1/16 of the guest's RAM, what the
#                   driver keeps in any case; host_reserve 256M; free page
#                   reporting on, as for virtio)
#
# Each way boots GUESTS (default 4) guests of 512 MiB at once, their RAM in
# /dev/shm files (memory-backend-file, share=on), each reading CACHE_MIB
# (default 128) from a file on a disk first, as a guest that has been up
# a while has read its files (the same read-only ext4 image on virtio-blk
# in every way: the page cache it leaves is memory the guest could give
# back but does not free), then playing a working set for SECS seconds
# (default 64; guest.sh): idle, growing, shrinking, spike, in turn.  Host
# memory used = the RAM files' allocated blocks, summed and sampled every 0.5 s from the first boot to the last exit
# (peak and mean).  ROUNDS rounds (default 3), the ways in a rotating
# order.  Prints a table per round, then per way the median and min-max,
# and RATIO lines (medians; > 1: pvio used less host memory):
#   RATIO host_memory_mean static/pvio, virtio-balloon/pvio
#   RATIO host_memory_peak static/pvio, virtio-balloon/pvio
# Also per way: the slowest piece a guest waited for (grow_max_ms), OOM
# kills, major faults, pieces whose pattern changed (must be 0), guests
# whose clock ran more than 1.2 times the host's (must be 0: a TCG guest
# whose TSC calibration failed lives in fast motion, and its figures mean
# nothing; the guests use clocksource=hpet against it); and a plot of
# host memory over time (gnuplot: text here, SVG in $O/vm/bench-memory/).  WAYS="pvio static" runs some of the ways.
#
# Everything started here is stopped by PID on exit; RAM files removed.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
O=${O:-$REPO/build}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod}
VM=$REPO/tools/vm
# shellcheck source=../../../tools/vm/pviod.sh
. "$VM/pviod.sh"
HERE=$REPO/userspace/bench/vm-memory
TMP=$(mktemp -d /tmp/pvio-vmmem.XXXXXX)
N=${GUESTS:-4}
MEM=512
SECS=${SECS:-64}
CACHE_MIB=${CACHE_MIB:-128}
ROUNDS=${ROUNDS:-3}
ROLES=(idle growing shrinking spike)
read -r -a WAYS <<<"${WAYS:-static virtio-balloon pvio}"
VMS=()
declare -A R=()

ram() { echo "/dev/shm/pvio-benchmem-$$-$1"; }
cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local v
	for v in "${VMS[@]}"; do kill "$v" 2>/dev/null && wait "$v" 2>/dev/null; done
	vm_pviod_stop_all
	for ((i = 0; i < N; i++)); do rm -f "$(ram $i)"; done
	# Consoles, pviod's logs (with -v: the policy's inputs, replayable
	# as hostpolicy_test does) and the series stay: $O/vm/bench-memory/
	rm -rf "$O/vm/bench-memory" && mkdir -p "$O/vm/bench-memory" &&
		cp "$TMP"/*.log "$TMP"/*.tsv "$TMP"/*.svg "$O/vm/bench-memory/" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "${PVIO_BENCH_NOBUILD:-}" ]; then
	make -C "$REPO" --no-print-directory all modules >/dev/null
fi
# An ext4 image with one file to read (a block device's own cache goes
# when it is closed; a mounted file system's stays, as in a real guest).
mkdir "$TMP/fs"
head -c "${CACHE_MIB}M" /dev/urandom >"$TMP/fs/data"
mkfs.ext4 -q -F -d "$TMP/fs" -L bench "$TMP/disk" $((CACHE_MIB + 64))M >/dev/null
rm -rf "$TMP/fs"
"$VM/mkinitramfs.sh" "$TMP/initrd" --kmod virtio_balloon --kmod virtio_pci --kmod virtio_blk --kmod ext4 --kmod crc32c_generic \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--bin "$O/vm/pvbal_mem" --file "$HERE/guest.sh:/tests/bench.sh" 2>/dev/null

blocks() {
	local s=0 i b
	for ((i = 0; i < N; i++)); do
		b=$(stat -c '%b %B' "$(ram $i)" 2>/dev/null) || continue
		s=$((s + ${b% *} * ${b#* }))
	done
	echo $s
}

# run WAY ROUND: boot the guests, sample, collect.
run() {
	local way=$1 r=$2 i mod args peak=0 sum=0 cnt=0 b alive line t0 up
	local -A start=() end=()
	VMS=()
	for ((i = 0; i < N; i++)); do rm -f "$(ram $i)"; done
	if [ "$way" = pvio ]; then
		{
			printf '[pviod]\ncontrol = %s\nhost_reserve = 256M\nmemory_policy_ms = 1000\n' "$TMP/control.sock"
			for ((i = 0; i < N; i++)); do
				printf '\n[guest g%d]\nsocket = %s\nram = %s\nram_size = %dM\nmachine = pc\n' \
					"$i" "$TMP/g$i.sock" "$(ram $i)" "$MEM"
				printf '\n[device g%d bal0]\ntype = balloon\npolicy = host\nheadroom = 32M\nstats_interval_ms = 500\n' "$i"
			done
		} >"$TMP/pviod.ini"
		VM_PVIOD_ARGS=-v vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod-$r.log"
	fi
	for ((i = 0; i < N; i++)); do
		case $way in
		static) mod=none args= ;;
		virtio-balloon) mod=virtio_balloon args="-device virtio-balloon-pci,id=bal0,free-page-reporting=on" ;;
		pvio) mod=pvio_balloon
			args="-chardev socket,path=$TMP/g$i.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" ;;
		esac
		args+=" -drive file=$TMP/disk,if=none,id=d0,format=raw,readonly=on,file.locking=off"
		args+=" -device virtio-blk-pci,drive=d0"
		start[$i]=$EPOCHREALTIME
		"$VM/vm.sh" run --initrd "$TMP/initrd" --script /tests/bench.sh --mem $MEM --smp 1 \
			--timeout $((SECS * 4 + 300)) --log "$TMP/$way-$r-$i.log" --ram-file "$(ram $i)" \
			--append "loglevel=3 clocksource=hpet bench.mod=$mod bench.role=${ROLES[i % 4]} bench.secs=$SECS bench.cache=$CACHE_MIB" \
			--qemu-extra "$args" >/dev/null 2>&1 &
		VMS+=($!)
	done
	t0=$EPOCHREALTIME
	: >"$TMP/series-$way-$r.tsv"
	while :; do
		alive=0
		for ((i = 0; i < N; i++)); do
			if kill -0 "${VMS[i]}" 2>/dev/null; then alive=1; else end[$i]=${end[$i]:-$EPOCHREALTIME}; fi
		done
		[ $alive = 1 ] || break
		b=$(blocks)
		[ "$b" -gt "$peak" ] && peak=$b
		sum=$((sum + b))
		cnt=$((cnt + 1))
		echo "$(echo "$EPOCHREALTIME - $t0" | bc) $((b >> 20))" >>"$TMP/series-$way-$r.tsv"
		sleep 0.5
	done
	for i in "${VMS[@]}"; do wait "$i" || true; done
	VMS=()
	vm_pviod_stop_all
	R[$way,$r,peak]=$((peak >> 20))
	R[$way,$r,mean]=$((sum / (cnt ? cnt : 1) >> 20))
	R[$way,$r,grow]=0 R[$way,$r,oom]=0 R[$way,$r,majf]=0 R[$way,$r,bad]=0 R[$way,$r,done]=0 R[$way,$r,clock]=0
	for ((i = 0; i < N; i++)); do
		line=$(tr -d '\r' <"$TMP/$way-$r-$i.log" | grep -a '^BENCH guest' | tail -n 1)
		[ -n "$line" ] || { echo "# $way round $r: guest $i printed no result (console: $O/vm/bench-memory-$way-$r-$i.log)" >&2
			mkdir -p "$O/vm" && cp "$TMP/$way-$r-$i.log" "$O/vm/bench-memory-$way-$r-$i.log"; continue; }
		read -r _ _ _ _ oom _ majf _ grow _ bad _ up <<<"$line"
		# A TCG guest whose TSC calibration went wrong lives in fast
		# motion: its times (and its share of the run) mean nothing.
		if [ "$(echo "${up:-0} > 1.2 * 1000 * (${end[$i]:-$EPOCHREALTIME} - ${start[$i]})" | bc)" = 1 ]; then
			echo "# $way round $r: guest $i counted ${up} ms in $(echo "(${end[$i]:-$EPOCHREALTIME} - ${start[$i]}) * 1000 / 1" | bc) ms of the host's: its clock is wrong" >&2
			R[$way,$r,clock]=$((R[$way,$r,clock] + 1))
		fi
		R[$way,$r,done]=$((R[$way,$r,done] + 1))
		R[$way,$r,oom]=$((R[$way,$r,oom] + oom))
		R[$way,$r,majf]=$((R[$way,$r,majf] + majf))
		R[$way,$r,bad]=$((R[$way,$r,bad] + bad))
		[ "$grow" -gt "${R[$way,$r,grow]}" ] && R[$way,$r,grow]=$grow
	done
	printf "%-15s %5s %9s %9s %13s %9s %12s %9s %7s %9s\n" "$way" "$r" "${R[$way,$r,mean]}" \
		"${R[$way,$r,peak]}" "${R[$way,$r,grow]}" "${R[$way,$r,oom]}" "${R[$way,$r,majf]}" \
		"${R[$way,$r,bad]}" "${R[$way,$r,done]}/$N" "${R[$way,$r,clock]}"
}

echo "# $N guests of $MEM MiB (${ROLES[*]}), $CACHE_MIB MiB of disk read first, $SECS s each, $ROUNDS rounds; host memory = RAM files' allocated blocks, MiB"
printf "%-15s %5s %9s %9s %13s %9s %12s %9s %7s %9s\n" way round mean_MiB peak_MiB grow_max_ms oom_kills major_faults bad_data guests bad_clock
for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < ${#WAYS[@]}; k++)); do
		run "${WAYS[(k + r - 1) % ${#WAYS[@]}]}" "$r"
	done
done

# median and min-max of KEY for WAY over the rounds: "MED MIN MAX"
stat3() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do echo "${R[$1,$r,$2]}"; done | sort -n |
		awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
echo
printf "%-15s %22s %22s %22s %14s\n" way "mean MiB med (min-max)" "peak MiB med (min-max)" "grow_max_ms med (min-max)" oom/bad/clock
for w in "${WAYS[@]}"; do
	read -r mm m0 m1 <<<"$(stat3 "$w" mean)"
	read -r pm p0 p1 <<<"$(stat3 "$w" peak)"
	read -r gm g0 g1 <<<"$(stat3 "$w" grow)"
	o=0 b=0 c=0
	for ((r = 1; r <= ROUNDS; r++)); do
		o=$((o + R[$w,$r,oom])) b=$((b + R[$w,$r,bad])) c=$((c + R[$w,$r,clock]))
	done
	printf "%-15s %22s %22s %22s %14s\n" "$w" "$mm ($m0-$m1)" "$pm ($p0-$p1)" "$gm ($g0-$g1)" "$o/$b/$c"
done
# How long each role's pieces took to fill, all rounds together.
echo
printf "%-15s %-10s %8s %8s %8s\n" way role pieces "med_ms" "max_ms"
for w in "${WAYS[@]}"; do
	for role in "${ROLES[@]}"; do
		cat "$TMP/$w"-*-*.log 2>/dev/null | tr -d '\r' | grep -a "^# $role: piece" |
			awk '{ print $(NF - 1) }' | sort -n |
			awk -v w="$w" -v r="$role" '{ a[NR] = $1 }
			END { if (NR) printf "%-15s %-10s %8d %8d %8d\n", w, r, NR, a[int((NR + 1) / 2)], a[NR] }'
	done
done

# Host memory over time, per way the median of its rounds at each 0.5 s
# sample: a text plot here, an SVG beside the logs.
plot() {
	local w r files term
	for w in "${WAYS[@]}"; do
		files=()
		for ((r = 1; r <= ROUNDS; r++)); do files+=("$TMP/series-$w-$r.tsv"); done
		awk '{ v[FILENAME, FNR] = $2; if (FNR > n) n = FNR; f[FILENAME] = 1 }
		END { for (i = 1; i <= n; i++) { k = 0
			for (x in f) if ((x, i) in v) {
				a[++k] = v[x, i]
				for (j = k; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			}
			if (k) printf "%.1f %d\n", (i - 1) * 0.5, a[int((k + 1) / 2)] } }' \
			"${files[@]}" >"$TMP/median-$w.tsv"
	done
	for term in "dumb size 100,28" "svg size 900,500"; do
		{
			echo "set terminal $term"
			[ "${term%% *}" = svg ] && echo "set output '$TMP/host-memory.svg'"
			echo "set title 'host memory of $N guests of $MEM MiB (RAM files, MiB; median of $ROUNDS rounds)'"
			echo "set xlabel 's'"
			echo "set key top right"
			printf "plot "
			for w in "${WAYS[@]}"; do printf "'%s' using 1:2 with lines title '%s', " "$TMP/median-$w.tsv" "$w"; done
			echo
		} | sed 's/, $//' | gnuplot | tr -d '\f' | sed 's/ *$//'
	done
}
if command -v gnuplot >/dev/null; then
	echo
	plot
else
	echo "# no plot: gnuplot is not installed (tools/deps.sh installs gnuplot-nox)"
fi
med() { stat3 "$1" "$2" | cut -d' ' -f1; }
has() { [[ " ${WAYS[*]} " == *" $1 "* ]]; }
for k in mean peak; do
	for w in static virtio-balloon; do
		has "$w" && has pvio || continue
		printf "RATIO host_memory_%s %s/pvio: %.2f\n" "$k" "$w" \
			"$(echo "$(med "$w" $k) / $(med pvio $k)" | bc -l)"
	done
done
