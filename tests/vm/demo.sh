#!/bin/bash
# tests/vm/demo.sh - "make demo" works: tools/demo.sh run both ways, the
# libvirt path (where libvirt can run: otherwise a skip that says why)
# and the direct path (PVIO_DEMO_DIRECT=1).  Each must end with status 0
# and its "demo done" line, its guest having seen every device work: the
# echo round trips, the disk read back, the balloon's 64 MiB back with the
# host, the NIC's pings answered, and pviod listing every device running.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
# shellcheck source-path=SCRIPTDIR source=../../tools/vm/libvirt.sh
. "$VM/libvirt.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
n=0
rc=0

[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP demo: needs root (the NIC's namespace, libvirtd)"; echo "1..1"; exit 0; }
mkdir -p "$O/vm"

# demo WAY LOG [ENV...]: tools/demo.sh with ENV; its results
demo() {
	local way=$1 log=$2 drc=0
	shift 2
	env O="$O" "$@" bash "$REPO/tools/demo.sh" >"$log" 2>&1 || drc=$?
	host "[$way] make demo's script ended with status 0 (got $drc)" "[ $drc = 0 ]"
	host "[$way] it said which path it took and that it was done" \
		"grep -aq '== the $way path' '$log' && grep -aq '== demo done' '$log'"
	host "[$way] the guest: 1000 verified echo round trips, 16 MiB written to the disk and read back" \
		"grep -aq '^1000 round trips verified' '$log' && grep -aq 'read back through pviod, identical' '$log'"
	host "[$way] the guest: the balloon's 64 MiB back with the host, the NIC's pings answered" \
		"grep -aq '64 MiB are back with the host' '$log' && grep -aq '3 packets transmitted, 3 packets received' '$log'"
	# The libvirt guest is still up when pviod is asked (it holds until
	# virsh destroy); the direct one has powered off by then.
	if [ "$way" = libvirt ]; then
		host "[$way] pviod listed all four devices running once the guest had used them" \
			"[ \$(grep -acE '(echo0|disk0|balloon0|net0) +(echo|blk|balloon|net) +running' '$log') -ge 4 ]"
	fi
	[ "$drc" = 0 ] || tail -n 30 "$log" | sed 's/^/# /'
}

why=$(lv_unusable)
if [ -z "$why" ]; then
	demo libvirt "$O/vm/demo-libvirt.out"
else
	n=$((n + 1))
	echo "ok $n # SKIP demo: the libvirt path: $why"
fi
demo direct "$O/vm/demo-direct.out" PVIO_DEMO_DIRECT=1
echo "1..$n"
exit $rc
