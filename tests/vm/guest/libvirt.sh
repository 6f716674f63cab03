#!/bin/sh
# tests/vm/guest/libvirt.sh - guest side of tests/libvirt/libvirt.sh: a
# libvirt domain whose pvio devices pviod serves (busybox sh).  The disk
# written and read back past the page cache, the NIC pinging the host's
# end of the TAP (10.79.0.1), the balloon bound and live, a clean kernel
# log.  Exit status: number of failures.
set -u
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
ME=10.79.0.2
HOST=10.79.0.1

waitfor() { w=0; while ! "$@" && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done; "$@"; }
has_dev() { for d in /sys/block/pvd*; do [ -e "$d" ] && return 0; done; return 1; }
# state TYPE: the state of the first pvio device of that type
state() {
	for d in /sys/bus/pvio/devices/*; do
		[ "$(cat "$d/type")" = "$1" ] && { cat "$d/state"; return 0; }
	done
	echo none
}

check "modprobe pvio_blk pvio_net pvio_balloon" modprobe -a pvio_blk pvio_net pvio_balloon
check "a pvio disk appears" waitfor has_dev
D=$(cd /sys/block && ls -d pvd* 2>/dev/null | head -n 1)
echo "# disk $D: $(cat "/sys/block/$D/size" 2>/dev/null) sectors"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
check "4 MiB written to /dev/$D (O_DIRECT)" dd if=/tmp/pattern of="/dev/$D" bs=1M count=4 oflag=direct
check "and read back the same (O_DIRECT)" sh -c "dd if=/dev/$D bs=1M count=4 iflag=direct 2>/dev/null | cmp -s - /tmp/pattern"
check "a pvio_net interface appears" waitfor pvio_net_if
IF=$(pvio_net_if || echo none)
ip addr add "$ME/24" dev "$IF" 2>/dev/null
ip link set "$IF" up
check "ping -c 3 $HOST through $IF" ping -c 3 -W 5 "$HOST"
b=$(state balloon)
check "the balloon is bound and live (state '$b')" [ "$b" = live ]
dmesg_clean
echo "1..$n"
exit "$fail"
