#!/bin/bash
# userspace/bench/all.sh - make bench: every benchmark, one after the
# other, each leaving a report in BENCH_REPORT:
#
#   NAME.md    the command, when it ran (UTC), the commit, the machine and
#              its load average before the run, every RATIO line as a table
#              (the ones pvio loses included) and the benchmark's whole
#              output (its tables with median and min-max per side)
#   NAME.png   its RATIO lines as bars, 1.0 marked (gnuplot)
#   index.md   each benchmark's outcome and time, and every RATIO line of
#              the run; ratios.png all of them in one plot
#
#   make bench [BENCHES="ring notify ..."] [BENCH_REPORT=DIR]
#
# BENCHES: default every one, in this order: ring notify native-blk
# native-net isolation vm-blk vm-net vm-balloon vm-memory vm-migrate.
# BENCH_REPORT: default $O/bench-report (a build output, not committed);
# BENCH_REPORT=docs/benchmarks records a run to commit.  The benchmarks'
# own knobs (ISO_ARGS, ROUNDS, WAYS, ...) pass through the environment.
#
# A benchmark that cannot run on this machine (no DPDK, not root, no
# QEMU) is reported as skipped, with the reason; one that fails is
# reported as failed, with its output, and the rest still run.  Exit
# status 1 if any failed.  Each benchmark's output is shown as it comes,
# with a line at each start and end.  All of them take well over an hour
# on a quiet two-core machine (vm-memory 13 minutes, vm-blk 16, vm-net
# about 15): the figures mean something only on a machine doing nothing
# else.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-$REPO/build}
case $O in /*) ;; *) O=$REPO/$O ;; esac
ALL="ring notify native-blk native-net isolation vm-blk vm-net vm-balloon vm-memory vm-migrate"
BENCHES=${BENCHES:-$ALL}
OUT=${BENCH_REPORT:-$O/bench-report}
case $OUT in /*) ;; *) OUT=$REPO/$OUT ;; esac
export O

# The command line of each benchmark, run from the top of the tree.
command_of() {
	case $1 in
	ring | notify | native-blk | native-net | isolation)
		echo "make --no-print-directory O=$O bench-$1" ;;
	vm-memory)
		echo "env PVIO_BENCH_NOBUILD=1 userspace/bench/vm-memory/run.sh" ;;
	vm-balloon | vm-migrate)
		echo "env PVIO_BENCH_NOBUILD=1 userspace/bench/$1/run.sh" ;;
	vm-blk | vm-net)
		echo "userspace/bench/$1/run.sh" ;;
	*)
		return 1 ;;
	esac
}

# Why a benchmark cannot run here, or nothing.
cannot_run() {
	case $1 in
	ring)
		pkg-config --exists libdpdk 2>/dev/null || echo "DPDK is not installed (libdpdk-dev)" ;;
	native-net)
		[ "$(id -u)" = 0 ] || { echo "needs root (TAP, hugepages)"; return; }
		command -v dpdk-testpmd >/dev/null || echo "dpdk-testpmd is not installed (dpdk)" ;;
	vm-*)
		[ "$(id -u)" = 0 ] || { echo "needs root (TAP, namespaces)"; return; }
		command -v qemu-system-x86_64 >/dev/null || echo "QEMU is not installed (qemu-system-x86)" ;;
	esac
	[ "$(nproc)" -ge 2 ] || echo "needs two CPUs, this machine has $(nproc)"
}

# The RATIO lines of an output as "NAME PEERS<TAB>VALUE"; n/a left out.
ratios() {
	sed -n 's/^[[:space:]]*RATIO \(.*\): \([0-9][0-9.]*\)[[:space:]]*$/\1\t\2/p' "$1"
}

# plot TSV PNG TITLE: the RATIO lines of TSV as bars.
plot() {
	local n
	n=$(wc -l <"$1")
	[ "$n" -gt 0 ] || return 0
	awk -F'\t' '{ gsub(/"/, "", $1); printf "\"%s\" %s\n", $1, $2 }' "$1" >"$1.dat"
	gnuplot <<-EOF
		set terminal pngcairo noenhanced size $((400 + n * 40)),820 font ",9"
		set output '$2'
		set title "$3"
		set style fill solid 0.6 border -1
		set boxwidth 0.7
		set yrange [0:*]
		set ylabel "RATIO pvio/peer (as printed)"
		set xtics rotate by -40 left nomirror
		set grid ytics
		set key off
		set bmargin 24
		set rmargin 22
		plot '$1.dat' using 0:2:xtic(1) with boxes lc rgb "#4070a0", \
		     '' using 0:2:(sprintf("%.2f", \$2)) with labels offset 0,0.8, \
		     1 with lines dt 2 lc rgb "#c03030"
	EOF
	rm -f "$1.dat"
}

report() {
	local name=$1 cmd=$2 status=$3 t0=$4 t1=$5 load=$6 log=$7 md=$OUT/$1.md
	{
		echo "# Benchmark $name"
		echo
		echo "- command: \`$cmd\` (from the top of the tree; \`make bench BENCHES=$name\` runs it this way)"
		echo "- run: $(date -u -d "@$t0" '+%Y-%m-%d %H:%M:%S') to $(date -u -d "@$t1" '+%H:%M:%S') UTC ($((t1 - t0)) s): $status"
		echo "- commit: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
		echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r); load average before: $load"
		echo
		echo "## RATIO lines"
		echo
		if [ -s "$OUT/$name.tsv" ]; then
			echo "![RATIO lines of $name]($name.png)"
			echo
			echo "| RATIO | pvio/peer |"
			echo "|---|---|"
			awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }' "$OUT/$name.tsv"
		else
			echo "None printed."
		fi
		echo
		echo "## Output"
		echo
		echo '```'
		tr -d '\r' <"$log"
		echo '```'
	} >"$md"
}

mkdir -p "$OUT" || exit 1
command -v gnuplot >/dev/null || echo "bench: gnuplot is not installed (tools/deps.sh installs gnuplot-nox): reports without plots"
# shellcheck disable=SC2086 # a list of names, split on purpose
set -- $BENCHES
total=$#
i=0
failed=0
: >"$OUT/index.tsv"
: >"$OUT/ratios.tsv"
for name in "$@"; do
	i=$((i + 1))
	if ! cmd=$(command_of "$name"); then
		echo "bench: unknown benchmark '$name' (known: $ALL)" >&2
		exit 2
	fi
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$(date +%s)
	why=$(cannot_run "$name")
	if [ -n "$why" ]; then
		echo "bench: [$i/$total] $name: skipped: $why"
		printf '%s\tskipped: %s\t0\n' "$name" "$why" >>"$OUT/index.tsv"
		continue
	fi
	echo "bench: [$i/$total] $name: started $(date -u +%H:%M:%S) UTC (load average $load): $cmd"
	log=$OUT/$name.txt
	(cd "$REPO" && eval "$cmd") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	t1=$(date +%s)
	ratios "$log" >"$OUT/$name.tsv"
	if [ "$rc" = 0 ]; then
		status="ok"
	else
		status="failed (exit status $rc)"
		failed=$((failed + 1))
	fi
	sed "s/^/$name: /" "$OUT/$name.tsv" >>"$OUT/ratios.tsv"
	command -v gnuplot >/dev/null && plot "$OUT/$name.tsv" "$OUT/$name.png" "$name: RATIO lines, $(date -u -d "@$t0" +%Y-%m-%d)"
	report "$name" "$cmd" "$status" "$t0" "$t1" "$load" "$log"
	printf '%s\t%s\t%s\n' "$name" "$status" "$((t1 - t0))" >>"$OUT/index.tsv"
	echo "bench: [$i/$total] $name: $status after $((t1 - t0)) s, $(wc -l <"$OUT/$name.tsv") RATIO line(s); report $OUT/$name.md"
done

command -v gnuplot >/dev/null && plot "$OUT/ratios.tsv" "$OUT/ratios.png" "make bench: every RATIO line, $(date -u +%Y-%m-%d)"
{
	echo "# make bench, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
	echo
	echo "| benchmark | outcome | time (s) | report |"
	echo "|---|---|---|---|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, ($2 ~ /^skipped/ ? "-" : "[" $1 ".md](" $1 ".md)") }' "$OUT/index.tsv"
	echo
	echo "## Every RATIO line"
	echo
	if [ -s "$OUT/ratios.tsv" ]; then
		echo "![every RATIO line](ratios.png)"
		echo
		echo "| RATIO | pvio/peer |"
		echo "|---|---|"
		awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }' "$OUT/ratios.tsv"
	else
		echo "None printed."
	fi
} >"$OUT/index.md"
rm -f "$OUT"/*.tsv
echo "bench: $total benchmark(s), $failed failed; reports in $OUT (index.md)"
[ "$failed" = 0 ]
