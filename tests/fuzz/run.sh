#!/bin/bash
# tests/fuzz/run.sh TARGET... - run each libFuzzer target for FUZZ_SECONDS
# (default 60) from its seeds (tests/fuzz/seeds.py writes them into
# $O/fuzz/corpus/TARGET, which keeps what the runs add), one TAP result
# per target: executions, coverage, corpus size; a crash, leak, timeout or
# sanitizer report fails it and names the reproducer it left.  Inputs
# that once found a bug, kept in tests/fuzz/regress/TARGET/, are replayed
# first; each is named after the bug it found.
#
#   FUZZ_MUTATOR=1   a thread flips window bytes while each input runs
#   FUZZ_JOBS=N      N processes per target (libFuzzer -fork)
#   FUZZ_PARALLEL=N  N targets at a time (default: one per CPU, each
#                    target a process with a CPU of its own for its
#                    FUZZ_SECONDS; 1 with FUZZ_JOBS); results print in order
set -u
O=${O:-build}
SECS=${FUZZ_SECONDS:-60}
PAR=${FUZZ_PARALLEL:-$([ -n "${FUZZ_JOBS:-}" ] && echo 1 || nproc)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
echo "TAP version 13"
echo "1..$#"

# one N TARGET: fuzz TARGET, its TAP result (as number N) on stdout.
one() {
	local n=$1 t=$2 bin corpus art log extra rc execs cov files
	bin=$O/fuzz/fuzz_$t
	corpus=$O/fuzz/corpus/$t
	art=$O/fuzz/artifacts/$t/
	log=$O/fuzz/$t.log
	mkdir -p "$corpus" "$art"
	python3 "$HERE/seeds.py" "$corpus" "$t" || { echo "not ok $n fuzz_$t # seeds.py failed"; return; }
	if [ ! -x "$bin" ]; then
		echo "not ok $n fuzz_$t # not built ($bin; make fuzz-build)"
		return
	fi
	# Inputs that once found a bug (tests/fuzz/regress/TARGET) run first.
	if [ -d "$HERE/regress/$t" ] &&
		! "$bin" -timeout=20 "$HERE/regress/$t"/* >"$O/fuzz/$t.regress.log" 2>&1; then
		echo "not ok $n fuzz_$t # a regression input fails again (log: $O/fuzz/$t.regress.log)"
		grep -E "ERROR: |SUMMARY:|runtime error|fuzz harness|^Running" "$O/fuzz/$t.regress.log" |
			tail -n 5 | sed 's/^/#   /'
		return
	fi
	extra=()
	[ -n "${FUZZ_JOBS:-}" ] && extra+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
	"$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$art" "${extra[@]}" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
	files=$(ls "$corpus" | wc -l)
	if [ "$rc" = 0 ]; then
		echo "ok $n fuzz_$t # ${SECS} s: ${execs:-?} executions, coverage ${cov:-?} edges, corpus $files"
	else
		echo "not ok $n fuzz_$t # exit $rc after ${execs:-?} executions; reproducer: $(ls -t "$art" | head -n1) (log: $log)"
		grep -E "ERROR: |SUMMARY:|runtime error|fuzz harness" "$log" | head -n 5 | sed 's/^/#   /'
	fi
}

n=0
pids=()
for t in "$@"; do
	n=$((n + 1))
	one "$n" "$t" >"$O/fuzz/$t.tap" 2>&1 &
	pids+=($!)
	while [ "$(jobs -pr | wc -l)" -ge "$PAR" ]; do wait -n; done
done
wait "${pids[@]}"
for t in "$@"; do cat "$O/fuzz/$t.tap"; done
