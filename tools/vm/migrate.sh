#!/bin/bash
# tools/vm/migrate.sh - one live migration of a guest with pvio devices,
# the steps of docs/operations.md 8.2, for tests/vm/migrate.sh and
# userspace/bench/vm-migrate/run.sh.  Sourced; defines one function.
# Reads $O (pvioctl) and $VM (qmp.pl) when called.
#
#   vm_migrate HOW SRC_QMP DST_QMP URI [SRC_CTL DST_CTL GUEST]
#       Migrate from the QEMU whose QMP socket is SRC_QMP to the one
#       waiting at DST_QMP with -incoming URI.  HOW is
#         logged  the guest logs the pages pviod writes (migrate-track);
#                 pviod pauses only at QEMU's pre-switchover;
#         paused  pviod pauses the guest's devices (migrate-out) before
#                 QEMU copies anything;
#         plain   no pviod (a virtio guest): QMP only.
#       For logged and paused, the caller has already asked DST_CTL's
#       pviod to hold GUEST (migrate-in) and started the destination QEMU
#       with -S; this takes the window over there (migrate-finish with
#       the state SRC_CTL's migrate-out gave) and continues it.  The
#       source QEMU is told to quit.
#       Sets VM_MIG_T0 (ns, when the devices paused: before migrate-out;
#       for plain, after the switchover wait), VM_MIG_T1 (after
#       migrate-out), VM_MIG_T2 (after cont; empty for plain),
#       VM_MIG_QUERY (query-migrate's answer at the end) and
#       VM_MIG_LOADING (ms the destination QEMU was seen still loading
#       after the source's "completed": migrate-finish waits for it, 30 s
#       at most).  On failure it prints why as a "# " line, cancels at
#       the source's pviod if it had paused the devices, and returns 1.
VM_MIG_T0=
VM_MIG_T1=
VM_MIG_T2=
VM_MIG_QUERY=
VM_MIG_LOADING=

vm_migrate() {
	local how=$1 qfrom=$2 qto=$3 uri=$4 cfrom=${5:-} cto=${6:-} guest=${7:-}
	local caps go status state out st t0
	VM_MIG_T0='' VM_MIG_T1='' VM_MIG_T2='' VM_MIG_QUERY=''
	# Every step waits on QEMU's MIGRATION events (qmp.pl --until).
	caps='{"capability":"events","state":true}'
	[ "$how" = logged ] && caps+=',{"capability":"pause-before-switchover","state":true}'
	"$VM/qmp.pl" "$qfrom" '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":8589934592}}' \
		"{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[$caps]}}" >/dev/null ||
		{ echo "# vm_migrate: the source QEMU refused the capabilities"; return 1; }
	go="{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"$uri\"}}"
	if [ "$how" = logged ]; then
		out=$("$O/pvioctl" -s "$cfrom" migrate-track "$guest" 2>&1) ||
			{ echo "# vm_migrate: migrate-track: $out"; return 1; }
		status=$("$VM/qmp.pl" "$qfrom" --until pre-switchover,failed,cancelled "$go" | tail -n 1)
		[ "$status" = pre-switchover ] || { echo "# vm_migrate: '$status', not pre-switchover"; return 1; }
		go='{"execute":"migrate-continue","arguments":{"state":"pre-switchover"}}'
	fi
	# shellcheck disable=SC2034 # VM_MIG_T*: the caller's (above)
	VM_MIG_T0=$(date +%s%N)
	if [ "$how" != plain ]; then
		# Its answer (stdout) is the state; an error goes to stderr.
		state=$("$O/pvioctl" -s "$cfrom" migrate-out "$guest") ||
			{ echo "# vm_migrate: migrate-out failed (pvioctl's error above)"; return 1; }
	fi
	# shellcheck disable=SC2034
	VM_MIG_T1=$(date +%s%N)
	status=$("$VM/qmp.pl" "$qfrom" --until completed,failed,cancelled "$go" | tail -n 1)
	VM_MIG_QUERY=$("$VM/qmp.pl" "$qfrom" '{"execute":"query-migrate"}')
	if [ "$status" != completed ]; then
		echo "# vm_migrate: $status: $VM_MIG_QUERY"
		[ "$how" = plain ] || "$O/pvioctl" -s "$cfrom" migrate-cancel "$guest" || true
		return 1
	fi
	if [ "$how" != plain ]; then
		# "completed" is the source's: it has sent everything, and the
		# destination may still be loading the last pages, the window's
		# among them, which would land over what the takeover writes
		# (NEEDS_RESET, the rings' prod).  The destination is done once
		# it leaves "inmigrate" (-S: for "paused").
		t0=$(date +%s%N)
		VM_MIG_LOADING=0
		while st=$("$VM/qmp.pl" "$qto" '{"execute":"query-status"}') &&
		      [[ $st == *'"status": "inmigrate"'* || $st == *'"status":"inmigrate"'* ]]; do
			VM_MIG_LOADING=$((($(date +%s%N) - t0) / 1000000))
			[ $VM_MIG_LOADING -lt 30000 ] || break
			sleep 0.01
		done
		[[ $st == *paused* ]] ||
			{ echo "# vm_migrate: the destination QEMU did not finish loading: $st"; return 1; }
		out=$("$O/pvioctl" -s "$cto" migrate-finish "$guest" "$state" 2>&1) ||
			{ echo "# vm_migrate: migrate-finish: $out"; return 1; }
		"$VM/qmp.pl" "$qto" '{"execute":"cont"}' >/dev/null ||
			{ echo "# vm_migrate: cont on the destination failed"; return 1; }
		# shellcheck disable=SC2034
		VM_MIG_T2=$(date +%s%N)
	fi
	"$VM/qmp.pl" "$qfrom" '{"execute":"quit"}' >/dev/null || true
}
