#!/bin/bash
# tests/vm/host.sh - host-side steps shared by the VM tests that work with
# their guest (net, net-dpdk, blk, balloon).  Sourced; defines functions only.
#
#   vm_follow VM_PID LOG   until VM_PID exits, run the caller's act() once
#                          for every new "PVIO-SYNC WORDS..." line of the
#                          console LOG, with WORDS as its arguments
#   vm_guest_results LOG   print the guest's TAP lines (without its plan
#                          and the sync lines), set n to their count, and
#                          add one host result: the guest printed exactly
#                          one plan, for exactly that many results (a
#                          guest script that stops early without failing
#                          must not pass with fewer results)
#   host DESC CMD          one more TAP result, CMD evaluated on the host;
#                          a failure sets rc=1
VM_HOST_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_follow() {
	local vm=$1 log=$2 handled=0 alive syncs
	while :; do
		alive=0
		kill -0 "$vm" 2>/dev/null && alive=1
		mapfile -t syncs < <(tr -d '\r' 2>/dev/null <"$log" | grep -a '^PVIO-SYNC ' || true)
		while [ "$handled" -lt "${#syncs[@]}" ]; do
			# shellcheck disable=SC2086 # split the line into words on purpose
			act ${syncs[$handled]#PVIO-SYNC } || echo "# host: '${syncs[$handled]}' failed"
			handled=$((handled + 1))
		done
		[ $alive = 1 ] || break
		sleep 0.1
	done
}

vm_guest_results() {
	local out plan
	out=$("$VM_HOST_SH_DIR/vm.sh" tap "$1")
	grep -vE '^PVIO-SYNC|^1\.\.' <<<"$out" || true
	n=$(grep -cE '^(not )?ok [0-9]+' <<<"$out" || true)
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' <<<"$out" | tr '\n' ' ')
	host "the guest printed one plan, 1..$n (got 1..: '${plan% }')" "[ '$plan' = '$n ' ]"
}

host() { n=$((n + 1)); if eval "$2"; then echo "ok $n host: $1"; else echo "not ok $n host: $1"; rc=1; fi; }
