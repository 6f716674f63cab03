#!/bin/bash
# tools/vm/pviod.sh - the one way the VM tests, the demo and the VM
# benchmarks start and stop pviod (tests/backend/test_util.c's
# pviod_start() is its C twin).  Sourced; defines functions and sets
# PVIOD_PID, VM_PVIOD_PIDS and VM_PVIOD_STATUS.  Reads $O (the build
# directory) and $PVIOD (default $O/pviod) when called.
#
#   vm_pviod_start INI LOG [NS]
#                          start $PVIOD -c INI (and $VM_PVIOD_ARGS), in
#                          network namespace NS if given, its stderr to
#                          LOG; set PVIOD_PID and add it to
#                          VM_PVIOD_PIDS; return once the control
#                          socket INI names answers (pviod makes it last,
#                          after every guest's socket).  If it does not
#                          within 10 s, or pviod exits, say so with LOG's
#                          tail and exit 1; with VM_PVIOD_TAP=1 that is a
#                          failed TAP result and the plan.
#   vm_pviod_stop [PID]    SIGTERM the pviod started as PID (default
#                          PVIOD_PID), reap it and set VM_PVIOD_STATUS to
#                          its exit status.  Its stopped workers are
#                          continued first, or they would never see the
#                          SIGTERM that ends them.  A PID not started here,
#                          or already stopped, is left alone, so cleanup
#                          may call it again.
#   vm_pviod_stop_all      vm_pviod_stop for every pviod started here
PVIOD_PID=
VM_PVIOD_PIDS=()
VM_PVIOD_STATUS=

vm_pviod_start() {
	local ini=$1 log=$2 ns=${3:-} ctl pid pviod=${PVIOD:-$O/pviod} what
	ctl=$(sed -n 's/^control[ \t]*=[ \t]*//p' "$ini")
	if [ -n "$ns" ]; then
		# ip netns exec execs pviod: $! is pviod's supervisor.
		ip netns exec "$ns" "$pviod" -c "$ini" ${VM_PVIOD_ARGS:-} 2>"$log" &
	else
		"$pviod" -c "$ini" ${VM_PVIOD_ARGS:-} 2>"$log" &
	fi
	pid=$!
	PVIOD_PID=$pid
	VM_PVIOD_PIDS+=("$pid")
	for _ in $(seq 100); do
		[ -n "$ctl" ] && "$O/pvioctl" -s "$ctl" list >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	what="pviod -c $ini did not answer on ${ctl:-(no control socket in the file)} within 10 s"
	kill -0 "$pid" 2>/dev/null || what="pviod -c $ini exited before it answered"
	if [ "${VM_PVIOD_TAP:-0}" = 1 ]; then
		n=$((${n:-0} + 1))
		echo "not ok $n - $what"
		tail -n 20 "$log" | sed 's/^/# pviod: /'
		echo "1..$n"
	else
		echo "$what; its log ends:" >&2
		tail -n 20 "$log" | sed 's/^/  pviod: /' >&2
	fi
	exit 1
}

vm_pviod_stop() {
	local pid=${1:-$PVIOD_PID} i
	VM_PVIOD_STATUS=
	[ -n "$pid" ] || return 0
	# shellcheck disable=SC2034 # VM_PVIOD_STATUS is the caller's (above)
	for i in "${!VM_PVIOD_PIDS[@]}"; do
		[ "${VM_PVIOD_PIDS[$i]}" = "$pid" ] || continue
		pkill -CONT -P "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null
		VM_PVIOD_STATUS=0
		wait "$pid" 2>/dev/null || VM_PVIOD_STATUS=$?
		unset 'VM_PVIOD_PIDS[i]'
	done
	[ "$pid" != "$PVIOD_PID" ] || PVIOD_PID=
	return 0
}

vm_pviod_stop_all() {
	local pid
	for pid in "${VM_PVIOD_PIDS[@]}"; do vm_pviod_stop "$pid"; done
}
