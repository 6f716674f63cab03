#!/bin/sh
# notify: the pvio ring under four wake-up policies (always notify, event
# index, spin then block, pure polling) at several offered loads, producer
# on core 0 and consumer on core 1.  Prints a table and RATIO lines.
# Usage: run.sh [path/to/notify_bench] [notify_bench options, e.g. -t 1 -r 3]
set -eu
bin=${1:-build/bench/notify_bench}
[ $# -gt 0 ] && shift
[ -x "$bin" ] || { echo "notify: $bin not built (make)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "notify: needs two CPUs" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
exec "$bin" "$@"
