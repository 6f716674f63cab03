#!/bin/sh
# tools/vm/guest-tap.sh - TAP helpers every guest test script sources
# (". /tests/tap.sh"; mkinitramfs.sh puts this file there).
#   ok/nok NAME        one result;  check NAME CMD...  result of CMD
#   dmesg_clean        one result: the kernel log has no BUG/WARNING/Oops,
#                      then the last pvio lines of the log as comments
#   pvio_net_if        print the interface pvio_net drives (false: none)
#   net_dump IF        a stalled transfer: IF's device state, counters,
#                      the neighbours and TCP sockets, then the host's view
#                      ("PVIO-SYNC dump"; the host script prints it)
#   wait_or_dump PID S CMD...  wait for PID; if it still runs after S
#                      seconds, run CMD once (a diagnostic dump taken
#                      while the stall lasts), then wait on; PID's status
# $n counts results, $fail failures; end with: echo "1..$n"; exit "$fail"
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
nok() { n=$((n + 1)); echo "not ok $n $*"; fail=$((fail + 1)); }
check() { name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
dmesg_clean() {
	# (kmemleak's own start-up lines are no leak)
	bad=$(dmesg | grep -vE 'kmemleak: (Kernel memory leak detector init|Automatic memory scanning)' |
		grep -E 'BUG|WARNING|Oops|general protection|leak|refcount|to become free' | head -n 5)
	if [ -z "$bad" ]; then
		ok "kernel log has no BUG/WARNING/Oops"
	else
		nok "kernel log has no BUG/WARNING/Oops"
		echo "$bad" | sed 's/^/# /'
	fi
	dmesg | grep -E 'pvio' | tail -n 12 | sed 's/^/# dmesg: /'
}
wait_or_dump() {
	wp=$1 ws=$2
	shift 2
	w=0
	while kill -0 "$wp" 2>/dev/null && [ $w -lt $((ws * 10)) ]; do sleep 0.1; w=$((w + 1)); done
	kill -0 "$wp" 2>/dev/null && { echo "# still running after $ws s: dumping state"; "$@"; }
	wait "$wp"
}
pvio_net_if() {
	for d in /sys/class/net/*; do
		case $(readlink "$d/device/driver" 2>/dev/null) in
		*/pvio_net) echo "${d##*/}"; return 0 ;;
		esac
	done
	return 1
}
net_dump() {
	echo "# device state '$(cat "/sys/class/net/$1/device/state" 2>/dev/null)', carrier $(cat "/sys/class/net/$1/carrier" 2>/dev/null)"
	ethtool -S "$1" | awk '$2 != 0' | sed 's/^/# ethtool: /'
	ip link show "$1" | sed 's/^/# /'
	ip neigh | sed 's/^/# neigh: /'
	grep '^Tcp' /proc/net/snmp | sed 's/^/# snmp: /'
	sed 's/^/# tcp: /' /proc/net/tcp
	echo "PVIO-SYNC dump"
}
