#!/bin/sh
# isolation: an attacking guest beside an honest one, and two honest
# guests against one, natively through libpvio-front against the real
# pviod (see iso_bench.c).  Prints a table and RATIO lines.
#
# Usage: run.sh [path/to/iso_bench] [SECONDS [ROUNDS]]
# Environment: PVIOD (default build/pviod).
set -eu
bin=${1:-build/bench/iso_bench}
[ $# -gt 0 ] && shift
pviod=${PVIOD:-build/pviod}
for f in "$bin" "$pviod"; do
	[ -x "$f" ] || { echo "isolation: $f not built (make)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/pvio-isob-XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "$pviod" "$dir" "$@"
