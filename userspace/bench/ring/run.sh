#!/bin/sh
# Ring benchmark: pvio SPSC ring vs DPDK rte_ring (SP/SC, _elem API, 16-byte
# elements) on the same two cores, in one run.  Prints a table and RATIO
# lines.  Usage: run.sh [path/to/ring_bench] [ring_bench options]
set -eu
bin=${1:-build/bench/ring_bench}
[ $# -gt 0 ] && shift
if [ ! -x "$bin" ]; then
	echo "ring bench: $bin not built (make; needs libdpdk-dev)" >&2
	exit 1
fi
ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
	echo "ring bench: needs two CPUs, have $ncpu" >&2
	exit 1
fi
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?')"
exec "$bin" "$@"
