#!/bin/sh
# native-blk: pviod's block backend driven by libpvio-front (the "guest")
# next to fio with io_uring straight on the same file, in one run, on the
# same two cores: pviod on core 1, the guest and fio on core 0.
#
#   core 0: blk_bench (libpvio-front)  --SQ/CQ + eventfds-->  core 1: pviod worker
#           fio (io_uring)             ------------------->   the same file
#
# A second pviod, also on core 1, busy-polls the same files for the
# "pvio-busypoll" side (poll = yes); with poll_idle_us it sleeps while the
# other sides run, so it takes nothing from them.
#
# Two targets: an image file on the root file system with cache = none
# (O_DIRECT; fio --direct=1) and a file on tmpfs with cache = writeback
# (page cache; fio --direct=0), which takes the disk out of the picture.
#
# Usage: run.sh [path/to/blk_bench] [blk_bench options, e.g. -t 4 -r 3]
# Environment: PVIOD (default build/pviod), SIZE_MB (default 1024),
# IMG_DIR (default /var/tmp), TARGETS (default "disk tmpfs").
set -eu
bin=${1:-build/bench/blk_bench}
[ $# -gt 0 ] && shift
pviod=${PVIOD:-build/pviod}
size_mb=${SIZE_MB:-1024}
targets=${TARGETS:-disk tmpfs}
for f in "$bin" "$pviod"; do
	[ -x "$f" ] || { echo "native-blk: $f not built (make)" >&2; exit 1; }
done
command -v fio >/dev/null || { echo "native-blk: fio not installed (make deps)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "native-blk: needs two CPUs" >&2; exit 1; }

dir=$(mktemp -d /tmp/pvio-nblk-XXXXXX)
img=${IMG_DIR:-/var/tmp}/pvio-nblk-$$.img
shm=/dev/shm/pvio-nblk-$$.img
pid=
pid2=
cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$pid2" ] && kill "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null
	rm -f "$img" "$shm"
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# Real data in both files: reads of holes would never touch the disk.
dd if=/dev/urandom of="$img" bs=1M count="$size_mb" status=none conv=fsync
cp "$img" "$shm"

cat > "$dir/pviod.ini" <<INI
[pviod]
control = $dir/control.sock

[guest disk]
socket = $dir/disk.sock

[device disk b0]
type = blk
path = $img
cache = none

[guest tmpfs]
socket = $dir/tmpfs.sock

[device tmpfs b0]
type = blk
path = $shm
cache = writeback
INI
# The busy-polling one: same devices, its own sockets.
sed -e "s|$dir/\([a-z]*\)\.sock|$dir/\1-poll.sock|" \
    -e 's/^cache = .*/&\npoll = yes/' \
    -e 's/^control = .*/&\npoll_idle_us = 500/' "$dir/pviod.ini" > "$dir/pviod-poll.ini"

start_pviod() {	# ini control-socket -> pid in $started
	taskset -c 1 "$pviod" -c "$1" 2> "$1.log" &
	started=$!
	i=0
	while [ ! -S "$2" ]; do
		i=$((i + 1))
		[ $i -lt 500 ] || { echo "native-blk: pviod did not start" >&2; cat "$1.log" >&2; exit 1; }
		sleep 0.01
	done
}
start_pviod "$dir/pviod.ini" "$dir/control.sock"
pid=$started
start_pviod "$dir/pviod-poll.ini" "$dir/control-poll.sock"
pid2=$started

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# $(fio --version), pviod $pviod, image ${size_mb} MiB"
for t in $targets; do
	case $t in
	disk)  taskset -c 0 "$bin" -s "$dir/disk.sock" -P "$dir/disk-poll.sock" -f "$img" -D -l disk "$@" ;;
	tmpfs) taskset -c 0 "$bin" -s "$dir/tmpfs.sock" -P "$dir/tmpfs-poll.sock" -f "$shm" -l tmpfs "$@" ;;
	*) echo "native-blk: unknown target $t" >&2; exit 1 ;;
	esac
done
