#!/bin/bash
# tests/vm/host.sh - host-side steps shared by the VM tests that work with
# their guest (net, net-dpdk, blk, balloon).  Sourced; defines functions only.
#
#   vm_follow VM_PID LOG   until VM_PID exits, run the caller's act() once
#                          for every new "PVIO-SYNC WORDS..." line of the
#                          console LOG, with WORDS as its arguments
#   vm_guest_results LOG   print the guest's TAP lines (without its plan
#                          and the sync lines), set n to their count, and
#                          add two host results: the guest printed exactly
#                          one plan, for exactly that many results (a
#                          guest script that stops early without failing
#                          must not pass with fewer results); and
#                          vm_klog_check LOG
#   vm_guest_results_tagged GROUP LOG
#                          the same for one of several guests of a test:
#                          its TAP lines numbered on from $n and tagged
#                          [GROUP], one host result for its plan (no
#                          kernel log check: call vm_klog_check)
#   vm_klog_check LOG      one host result: the guest's kernel log, which
#                          guest-init.sh dumps at the end of the run, and
#                          its console hold no kernel report (see below)
#   vm_net_dump CTL NS TAP GUEST DEV
#                          the host's view of a net device while a guest
#                          transfer stalls: pviod's queue status, the TAP's
#                          counters, addresses and neighbours, the TCP
#                          sockets in namespace NS (as comments); $O/pvioctl
#   vm_wait_bounded PID SECONDS
#                          once the guest has ended, wait for a host-side
#                          helper (a pvnet_xfer stream's other end) at most
#                          SECONDS; return its status, or kill it and
#                          return 124.  A guest that died mid-stream leaves
#                          its peer waiting for bytes that never come (no
#                          RST: the TAP just goes quiet), and an unbounded
#                          wait then hangs the test until tests/run.sh's
#                          timeout, which names nothing
#   host DESC CMD          one more TAP result, CMD evaluated on the host;
#                          a failure sets rc=1
#
# pviod is started and stopped with tools/vm/pviod.sh's vm_pviod_start,
# vm_pviod_stop and vm_pviod_stop_all (sourced here), and checked with
#   vm_pviod_calm LOG      one host result: pviod logged no doorbell
#                          flood (a well-behaved driver must not look like
#                          a hostile one to pviod's limits)
#   vm_pviod_clean LOG [TAG [PID]]
#                          one host result: stops PID (default PVIOD_PID)
#                          if it runs, so that what the sanitizers report
#                          at exit (LeakSanitizer) is in LOG too; pviod
#                          exited with 0 and LOG holds no sanitizer report
#
# Sourcing this also makes SIGTERM and SIGINT end the test through its
# EXIT trap, so that a test stopped from outside (tests/run.sh's timeout,
# ^C) still stops its guest and pviod and removes its namespace and files.
VM_HOST_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The VM harness (vm.sh, mkinitramfs.sh), shared with the demo and the
# benchmarks.
VM=$(cd "$VM_HOST_SH_DIR/../../tools/vm" && pwd)
# shellcheck source-path=SCRIPTDIR source=../../tools/vm/pviod.sh
. "$VM/pviod.sh"
export VM_PVIOD_TAP=1	# a pviod that does not start is a failed result
# set +e: every test's clean-up then runs to its end, although what it
# stops and reaps may already have died of the same signal.
trap 'set +e; exit 143' TERM
trap 'set +e; exit 130' INT

vm_pviod_calm() {
	local fl
	fl=$(grep -c 'doorbells in one heartbeat' "$1" || true)
	host "the driver never rang pviod's doorbell limit (warnings: want 0, got $fl)" "[ $fl = 0 ]"
}

vm_pviod_clean() {
	local log=$1 tag=${2:+$2 } pid=${3:-$PVIOD_PID} st=
	if [ -n "$pid" ]; then
		vm_pviod_stop "$pid"
		st=$VM_PVIOD_STATUS
	fi
	host "${tag}pviod exited on SIGTERM with status 0 (got ${st:-none: already stopped}) and logged no sanitizer report" \
		"[ '${st:-0}' = 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' '$log'"
}

vm_wait_bounded() {
	local pid=$1 limit=$(($2 * 10)) w=0
	while kill -0 "$pid" 2>/dev/null && [ $w -lt $limit ]; do
		sleep 0.1
		w=$((w + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# host: process $pid still ran $2 s after the guest ended: killed"
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

vm_follow() {
	local vm=$1 log=$2 handled=0 alive syncs
	while :; do
		alive=0
		kill -0 "$vm" 2>/dev/null && alive=1
		# Whole lines only: the guest may be half-way through one.
		mapfile -t syncs < <(perl -ne 's/\r//g; print if /^PVIO-SYNC .*\n\z/' "$log" 2>/dev/null || true)
		while [ "$handled" -lt "${#syncs[@]}" ]; do
			# shellcheck disable=SC2086 # split the line into words on purpose
			act ${syncs[$handled]#PVIO-SYNC } || echo "# host: '${syncs[$handled]}' failed"
			handled=$((handled + 1))
		done
		[ $alive = 1 ] || break
		sleep 0.1
	done
}

vm_net_dump() {
	local ctl=$1 ns=$2 tap=$3
	{
		"$O/pvioctl" -s "$ctl" status "$4" "$5" 2>&1 || true
		ip netns exec "$ns" ip -s addr show "$tap" 2>&1
		ip netns exec "$ns" ip neigh 2>&1
		ip netns exec "$ns" ss -tin 2>&1
	} | sed 's/^/# host dump: /'
}

vm_guest_results() {
	local out plan
	out=$("$VM/vm.sh" tap "$1")
	grep -vE '^PVIO-SYNC|^1\.\.' <<<"$out" || true
	n=$(grep -cE '^(not )?ok [0-9]+' <<<"$out" || true)
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' <<<"$out" | tr '\n' ' ')
	host "the guest printed one plan, 1..$n (got 1..: '${plan% }')" "[ '$plan' = '$n ' ]"
	vm_klog_check "$1"
}

vm_guest_results_tagged() {
	local group=$1 log=$2 line count=0 plan=
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok\ [0-9]+\ (.*)$ ]]; then
			n=$((n + 1))
			count=$((count + 1))
			echo "${BASH_REMATCH[1]}ok $n [$group] ${BASH_REMATCH[2]}"
			[ -z "${BASH_REMATCH[1]}" ] || rc=1
		elif [[ $line =~ ^1\.\.([0-9]+)$ ]]; then
			plan="$plan${BASH_REMATCH[1]} "
		elif [[ $line != PVIO-SYNC* ]]; then
			echo "$line"
		fi
	done < <("$VM/vm.sh" tap "$log")
	host "[$group] the guest printed one plan, 1..$count (got 1..: '${plan% }')" "[ '$plan' = '$count ' ]"
}

# vm_klog_check LOG: fails on any BUG:, WARNING: (lockdep's splats among
# them), Oops, UBSAN, hung task, RCU stall or netdev reference report in
# the kernel log that guest-init.sh dumped between PVIO-KLOG-BEGIN and
# PVIO-KLOG-END, or on the console (a guest that panicked dumps nothing),
# and on a kmemleak report whose backtrace is in our code: a pvio symbol,
# or an address no symbol resolves any more (a module since unloaded).
# Other kmemleak reports are listed, not failed: the rest of the kernel
# is not ours to fix.  Without the dump the check fails too: a guest that
# did not get that far was not checked.  The reports follow as comments
# ("# klog: "), at most 3 of them, up to 120 lines each.
# PVIO_GUEST_DEBUG=1 (make check-debug-kernel): the guest kernel must
# also have KASAN, lockdep and kmemleak, all still on at the end.
vm_klog_check() {
	local out head what
	out=$(tr -d '\r' <"$1" | BAD=$VM_KLOG_BAD OURS=$VM_KLOG_OURS awk '
		BEGIN { bad = ENVIRON["BAD"]; ours = ENVIRON["OURS"] }
		function flush() {
			if (leak == "") return
			if (leak ~ ours) { nours++; if (shown < 3) { printf "%s", leak; shown++ } }
			else { nother++; printf "%s", leak_head }
			leak = ""
		}
		/^PVIO-KLOG-BEGIN/ { head = $0; inlog = 1; next }
		/^PVIO-KLOG-END/ { flush(); inlog = 0; ended = 1; next }
		/^((not )?ok [0-9]|#)/ { next }
		# kmemleak: a block of indented lines after "unreferenced object"
		leak != "" && /^ / { leak = leak "# klog: " $0 "\n"; next }
		{ flush() }
		/^unreferenced object 0x/ {
			leak = "# klog: " $0 "\n"
			leak_head = "# klog: kmemleak, not in pvio code: " $0 "\n"
			next
		}
		rest > 0 {
			print "# klog: " $0; rest--
			if ((kasan && $0 ~ /=====+$/) || (!kasan && $0 ~ /<\/TASK>|---\[ end trace/)) rest = 0
			next
		}
		$0 ~ bad {
			nbad++
			if (shown < 3) { shown++; print "# klog: " $0; rest = 120; kasan = ($0 ~ /BUG: KASAN/) }
		}
		END {
			flush()
			printf "KLOG %s|%d|%d|%d|%d\n", head, ended, nbad, nours, nother
		}')
	grep -v '^KLOG ' <<<"$out" || true
	IFS='|' read -r head ended nbad nours nother <<<"$(sed -n 's/^KLOG //p' <<<"$out")"
	what="$nbad reports, $nours kmemleak reports in pvio code, $nother elsewhere"
	if [ -z "$head" ] || [ "$ended" != 1 ]; then
		what="no kernel log dumped: the guest did not finish ($what)"
		nbad=$((nbad + 1))
	elif [ "${PVIO_GUEST_DEBUG:-0}" = 1 ] && [ "${head#* }" != "kasan=1 lockdep=1 kmemleak=1" ]; then
		what="not a debug kernel, or a checker turned itself off: ${head#* } ($what)"
		nbad=$((nbad + 1))
	fi
	if [ "${PVIO_GUEST_DEBUG:-0}" = 1 ]; then
		host "guest kernel: no KASAN/lockdep/kmemleak report ($what)" "[ $((nbad + nours)) = 0 ]"
	else
		host "guest kernel: no BUG/WARNING/Oops in its log ($what)" "[ $((nbad + nours)) = 0 ]"
	fi
}

# What vm_klog_check counts as a report (ERE, one line of the kernel log),
# and what puts a kmemleak backtrace in our code.
VM_KLOG_BAD='BUG:|WARNING:|Oops|general protection fault|kernel BUG at|Kernel panic|UBSAN:|INFO: task .* blocked|INFO: (possible|trying to register|lockdep)|rcu: INFO:|detected stalls|to become free|kmemleak: .*(disabled|Cannot)'
VM_KLOG_OURS='\[pvio|pvio_|pvnet_|pvblk_|pvbal_|\] 0xffffffff[0-9a-f]+\n'

# shellcheck disable=SC2034 # rc is the caller's
host() { n=$((n + 1)); if eval "$2"; then echo "ok $n host: $1"; else echo "not ok $n host: $1"; rc=1; fi; }
