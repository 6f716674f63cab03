#!/bin/bash
# tests/run.sh - run every pvio test and print one summary line at the end:
#   N passed, N failed[, N skipped]
#
# A test is either a check step (lint, a module build) counted as one test,
# or a TAP program (kselftest harness) whose "ok"/"not ok" lines are counted
# one by one.  Logs of every step go to $O/test-logs/.
#
# Environment: O (build dir), KDIR, KDIR_RT, PVIO_TESTS (space-separated
# list of suites to run, out of: lint modules packages ring backend fuzz
# faults vm vm-debug; default: all but vm-debug, which takes hours (make
# check-debug-kernel); a name not in that list is an error, and nothing
# runs).
set -u

O=${O:-build}
LOGS=$O/test-logs
mkdir -p "$LOGS"
PASS=0
FAIL=0
SKIP=0
FAILED_NAMES=()
FAILED_LINES=()		# every "not ok" line, repeated at the end
TIMES=()		# "SECONDS NAME" of every step and TAP program
SUITES="lint modules packages ring backend fuzz faults vm vm-debug"

# took NAME START: record how long NAME ran (the budget of make check is
# 20 minutes on 2 cores; the summary shows where it went).
took() {
	TIMES+=("$((SECONDS - $2)) $1")
}

# summary: the last lines, and the exit status, of every run.
summary() {
	if [ "${#TIMES[@]}" -gt 0 ]; then
		printf '%s\n' "${TIMES[@]}" | sort -rn >"$LOGS/times.txt"
		echo "# $SECONDS s in all; the slowest (all in $LOGS/times.txt):"
		head -n 8 "$LOGS/times.txt" | sed 's/^\([0-9]*\) \(.*\)$/#   \2 \1 s/'
	fi
	if [ $((PASS + FAIL + SKIP)) -eq 0 ]; then
		echo "not ok - no test ran"
		FAIL=1
		FAILED_NAMES+=("nothing-ran")
	fi
	# Again at the very end, where a log cut to its tail still shows
	# which results failed (at most 20, each cut to 300 characters).
	if [ "${#FAILED_LINES[@]}" -gt 0 ]; then
		printf '%s\n' "${FAILED_LINES[@]}" | head -n 20 | cut -c1-300
	fi
	if [ "${#FAILED_NAMES[@]}" -gt 0 ]; then
		echo "failed: ${FAILED_NAMES[*]}"
	fi
	if [ "$SKIP" -gt 0 ]; then
		echo "$PASS passed, $FAIL failed, $SKIP skipped"
	else
		echo "$PASS passed, $FAIL failed"
	fi
	[ "$FAIL" -eq 0 ]
}

# A misspelt suite would otherwise give a green run of nothing.
unknown=()
for t in ${PVIO_TESTS:-}; do
	case " $SUITES " in *" $t "*) ;; *) unknown+=("$t") ;; esac
done
if [ "${#unknown[@]}" -gt 0 ]; then
	echo "not ok - PVIO_TESTS: unknown suite(s) '${unknown[*]}' (known: $SUITES)"
	FAIL=1
	FAILED_NAMES+=("PVIO_TESTS")
	summary
	exit
fi

want() {
	[ -z "${PVIO_TESTS:-}" ] && [ "$1" != vm-debug ] && return 0
	case " ${PVIO_TESTS:-} " in *" $1 "*) return 0 ;; esac
	return 1
}

# step NAME CMD...: one test, passes when CMD exits 0.
step() {
	local name=$1 log t0=$SECONDS
	shift
	log=$LOGS/$name.log
	if "$@" >"$log" 2>&1; then
		echo "ok - $name"
		PASS=$((PASS + 1))
	else
		echo "not ok - $name (exit $?; log: $log)"
		tail -n 20 "$log" | sed 's/^/#   /'
		FAIL=$((FAIL + 1))
		FAILED_NAMES+=("$name")
		FAILED_LINES+=("not ok - $name")
	fi
	took "$name" "$t0"
}

# skip NAME REASON
skip() {
	echo "ok - $1 # SKIP $2"
	SKIP=$((SKIP + 1))
}

# tap NAME TIMEOUT CMD...: a TAP program; every result line counts.  Its
# results must match its plan: exactly one "1..N" line, N results numbered
# 1..N in order.  A program that dies, prints no plan, or whose results do
# not match it counts as one more failure, so a crash or a lost result is
# never silent.  With PVIO_PROGRESS set (make check-faults), the lines
# of a long program that say how far it is ("# NAME: 30/200 kills
# landed", "# host: 30 kills planned ...", "# NAME: 30/100 stalls done")
# are shown as they come; everything still goes to its log.
PROGRESS_RE='^# ([^ ]+: [0-9]+/[0-9]+ (kills landed|stalls done)|host: [0-9]+ kills planned)'
tap() {
	local name=$1 tmo=$2 log rc t0=$SECONDS
	shift 2
	log=$LOGS/$name.log
	if [ -n "${PVIO_PROGRESS:-}" ]; then
		timeout --signal=TERM --kill-after=30 "$tmo" "$@" 2>&1 | tee "$log" |
			{ grep --line-buffered -E "$PROGRESS_RE" | sed -u "s/^/[$name] /"; true; }
		rc=${PIPESTATUS[0]}
	else
		timeout --signal=TERM --kill-after=30 "$tmo" "$@" >"$log" 2>&1
		rc=$?
	fi
	tap_count "$name" "$rc" "$t0" "$SECONDS"
}

# tap_bg NAME TIMEOUT CMD...: as tap, started in the background; tap_join
# waits for every one started and counts them, in the order started.  For
# programs that spend most of their time waiting (a guest's timeouts and
# storms), so that two or three of them share the 2 cores of make check.
BG=()
tap_bg() {
	local name=$1 tmo=$2 log
	shift 2
	log=$LOGS/$name.log
	rm -f "$log.end"
	(
		timeout --signal=TERM --kill-after=30 "$tmo" "$@" >"$log" 2>&1
		echo "$? $SECONDS" >"$log.end"
	) &
	BG+=("$! $name $SECONDS")
}

tap_join() {
	local e pid name t0 rc t1
	for e in "${BG[@]}"; do
		read -r pid name t0 <<<"$e"
		wait "$pid"
		rc=1		# killed before it could say
		t1=$SECONDS
		[ -f "$LOGS/$name.log.end" ] && read -r rc t1 <"$LOGS/$name.log.end"
		rm -f "$LOGS/$name.log.end"
		tap_count "$name" "$rc" "$t0" "$t1"
	done
	BG=()
}

# tap_count NAME RC START END: count the results in NAME's log.
tap_count() {
	local name=$1 rc=$2 log=$LOGS/$1.log p f s planned plans nums why=''
	p=$(grep -E '^ok [0-9]+( |$)' "$log" | grep -vc '# SKIP' || true)
	s=$(grep -E '^ok [0-9]+( |$).*# SKIP' "$log" | wc -l)
	f=$(grep -cE '^not ok [0-9]+( |$)' "$log" || true)
	plans=$(grep -cE '^1\.\.[0-9]+$' "$log" || true)
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n1)
	nums=$(sed -nE 's/^(not )?ok ([0-9]+)( .*)?$/\2/p' "$log" | tr '\n' ' ')
	grep -E '^(not )?ok [0-9]+( |$)' "$log" | sed "s/^/[$name] /"
	grep -E '^# (entries|consumer|notifications|expected|got)' "$log" | sed "s/^/[$name] /"
	if [ "$f" -gt 0 ]; then
		grep -E '^#' "$log" | grep -iE 'expected|fail|timeout|got|Assertion' |
			head -n 20 | sed "s/^/[$name] /"
		FAILED_NAMES+=("$name")
		mapfile -t -O "${#FAILED_LINES[@]}" FAILED_LINES < <(grep -E '^not ok [0-9]+( |$)' "$log" | sed "s/^/[$name] /")
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		why="exited $rc without reporting a failure"
	elif [ "$plans" -ne 1 ]; then
		why="printed $plans TAP plans, want exactly one"
	elif [ $((p + f + s)) -ne "$planned" ]; then
		why="reported $((p + f + s)) results for a plan of $planned"
	elif [ "$nums" != "$(seq 1 "$planned" | tr '\n' ' ')" ]; then
		why="results not numbered 1..$planned in order"
	fi
	if [ -n "$why" ]; then
		echo "not ok - $name $why (log: $log)"
		FAILED_LINES+=("not ok - $name $why")
		tail -n 20 "$log" | sed 's/^/#   /'
		f=$((f + 1))
		case " ${FAILED_NAMES[*]} " in *" $name "*) ;; *) FAILED_NAMES+=("$name") ;; esac
	fi
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	SKIP=$((SKIP + s))
	TIMES+=("$(($4 - $3)) $name")
}

# ---- static checks -------------------------------------------------------

if want lint; then
	step checkpatch make --no-print-directory O="$O" lint-checkpatch
	step shellcheck make --no-print-directory O="$O" lint-shell
	tap systemd_units 60 env O="$O" tests/systemd/units.sh
	tap man_pages 60 tests/man/lint.sh
fi

if want modules; then
	if [ -n "${KDIR:-}" ] && [ -d "${KDIR:-}" ]; then
		step modules-w1-sparse make -j"$(nproc)" --no-print-directory O="$O" KDIR="$KDIR" modules
	else
		echo "not ok - modules-w1-sparse: no kernel headers (KDIR='${KDIR:-}')"
		FAIL=$((FAIL + 1))
		FAILED_NAMES+=("modules-w1-sparse")
	fi
	if [ -n "${KDIR_RT:-}" ] && [ -d "${KDIR_RT:-}" ]; then
		step modules-rt-w1-sparse make -j"$(nproc)" --no-print-directory O="$O" KDIR_RT="$KDIR_RT" modules-rt
	else
		skip modules-rt "no PREEMPT_RT headers installed (linux-headers-rt-amd64)"
	fi
fi

# ---- Debian packages: make deb, lintian, DKMS --------------------------------

if want packages; then
	tap deb 900 env O="$O" tests/packaging/deb.sh
fi

# ---- ring ----------------------------------------------------------------

if want ring; then
	tap ring_test 120 "$O/tests/ring_test"
	tap ring_test_asan_ubsan 300 "$O/tests/ring_test_san"
	tap ring_stress 600 "$O/tests/ring_stress"
	PVIO_STRESS_ENTRIES=10000000 tap ring_stress_tsan 600 "$O/tests/ring_stress_tsan"
fi

# ---- backend over libpvio-front ------------------------------------------

if want backend; then
	PVIOD=$O/pviod-san tap backend_test 600 "$O/tests/backend_test"
	PVIOD=$O/pviod-san tap net_test 360 "$O/tests/net_test"
	PVIOD=$O/pviod-san tap net_offload_test 150 "$O/tests/net_offload_test"
	PVIOD=$O/pviod-san tap net_null_test 150 "$O/tests/net_null_test"
	PVIOD=$O/pviod-san tap blk_test 300 "$O/tests/blk_test"
	PVIOD=$O/pviod-san tap blk_inflight_test 300 "$O/tests/blk_inflight_test"
	PVIOD=$O/pviod-san tap balloon_test 300 "$O/tests/balloon_test"
	tap hostpolicy_test 60 "$O/tests/hostpolicy_test"
	PVIOD=$O/pviod-san tap isolation_test 360 "$O/tests/isolation_test"
	PVIOD=$O/pviod-san tap isolation_sandbox_test 180 "$O/tests/isolation_sandbox_test"
	PVIOD=$O/pviod-san tap isolation_guests_test 150 "$O/tests/isolation_guests_test"
	PVIOD=$O/pviod-san tap threads_test 300 "$O/tests/threads_test"
	PVIOD=$O/pviod-tsan tap threads_test_tsan 300 "$O/tests/threads_test"
	PVIOD=$O/pviod-san PVIOCTL=$O/pvioctl tap metrics_test 300 "$O/tests/metrics_test"
	PVIOD=$O/pviod-san tap upgrade_test 300 "$O/tests/upgrade_test"
	PVIOD=$O/pviod-san tap migrate_test 300 "$O/tests/migrate_test"
fi

# ---- fuzzing: each libFuzzer target briefly (make fuzz runs them longer) ----

if want fuzz; then
	step fuzz-build make --no-print-directory -j2 O="$O" fuzz-build
	if [ -x "$O/fuzz/fuzz_echo" ]; then
		# shellcheck disable=SC2046 # one word per target
		tap fuzz 600 env O="$O" FUZZ_SECONDS="${FUZZ_SECONDS:-20}" tests/fuzz/run.sh \
			$(make --no-print-directory -s O="$O" fuzz-targets)
	fi
fi

# ---- faults: workers killed and stalled under verified I/O -----------------
# (make check-faults: 200 kills and 100 stalls of 1-40 s per guest)

if want faults; then
	PVIOD=$O/pviod-san tap fault_campaign 3600 "$O/tests/fault_campaign" \
		-k "${FAULT_KILLS:-20}" -s "${FAULT_STALLS:-10}" \
		-m "${FAULT_STALL_MIN_MS:-200}" -M "${FAULT_STALL_MAX_MS:-2000}"
	# The same kills inside a real guest: its drivers under fio verify,
	# a checked TCP stream and the balloon (the modules of the modules
	# suite, or of make check-faults).
	vk=${VM_KILLS:-9}
	vs=${VM_STALLS:-3}
	vsmax=${VM_STALL_MAX_MS:-2000}
	vst=$((vs * (vsmax / 1000 + 5)))
	tap vm_kills $((600 + vk * 10 + vst)) env O="$O" KILLS="$vk" STALLS="$vs" \
		STALL_MIN_MS="${VM_STALL_MIN_MS:-200}" STALL_MAX_MS="$vsmax" \
		PVIO_VM_TIMEOUT=$((300 + vk * 10 + vst)) tests/vm/kills.sh
fi

# ---- guests: real QEMU with the real modules ------------------------------

if want vm; then
	tap vm_harness 60 tests/vm/host_test.sh
	tap vm_smoke 400 tests/vm/smoke.sh
	tap vm_transport 600 env O="$O" tests/vm/transport.sh
	tap vm_transport_late 300 env O="$O" tests/vm/transport.sh late
	tap vm_net 900 env O="$O" tests/vm/net.sh
	# The same net test on the PREEMPT_RT guest kernel, with the RT build
	# of the modules (NAPI, the TX lock and softirqs run in threads there).
	rtk=$(cd /lib/modules && ls -d 6.1*-rt-amd64 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$rtk" ] && [ -r "/boot/vmlinuz-$rtk" ] && [ -d "/lib/modules/$rtk/kernel" ] &&
		[ -f "$O/kmod-rt/frontend/pvio_net.ko" ]; then
		tap vm_net_rt 900 env O="$O" PVIO_GUEST_KVER="$rtk" KMOD="$O/kmod-rt" tests/vm/net.sh
	else
		skip vm_net_rt "no PREEMPT_RT guest kernel (linux-image-rt-amd64) or RT modules"
	fi
	# A guest as a libvirt domain, pvio's hook adding and removing it.
	tap vm_libvirt 600 env O="$O" tests/libvirt/libvirt.sh
	# make demo, both ways (the libvirt one where libvirt can run)
	tap vm_demo 400 env O="$O" tests/vm/demo.sh
	tap vm_net_bridge 400 env O="$O" tests/vm/net-bridge.sh
	tap vm_net_dpdk 600 env O="$O" tests/vm/net-dpdk.sh
	tap vm_blk 900 env O="$O" tests/vm/blk.sh
	tap vm_balloon 900 env O="$O" tests/vm/balloon.sh
	# Two guests under the host-wide memory policy, one growing.
	tap vm_memory 600 env O="$O" tests/vm/memory.sh
	# pviod-san lying to each guest driver: three boots of about a minute
	# each, mostly spent in the drivers' timeouts and the storms, so at
	# the same time.
	for g in blk net balloon; do
		tap_bg "vm_hostile_$g" 600 env O="$O" tests/vm/hostile.sh "$g"
	done
	tap_join
	# pviod replaced in place ten times under block and network load.
	tap vm_upgrade 600 env O="$O" tests/vm/upgrade.sh
	# The guest live-migrated between two pviods and QEMUs, there and back.
	tap vm_migrate 600 env O="$O" tests/vm/migrate.sh
fi

# ---- guests on a debug kernel: KASAN, lockdep, kmemleak (hours) --------------
# tools/debug-kernel.sh builds the kernel once into $PVIO_CACHE (about 40
# min on 2 cores) and says where it is; our modules are built against it
# with UBSAN; the guests run it, and host.sh's vm_klog_check fails any
# KASAN/lockdep/kmemleak report (PVIO_GUEST_DEBUG=1: the checkers must be
# there, and on until the end).  kasan_multi_shot: every KASAN report, not
# only the first.  KASAN and lockdep under TCG make a guest several times
# slower: the timeouts below (guest, then the whole script) are this
# lane's own; PVIO_DEBUG_TIMEOUT_SCALE multiplies them (default 1).
# Console logs: $O/vm-debug/.

if want vm-debug; then
	env_file=$O/debug-kernel.env
	rm -f "$env_file"
	echo "# vm-debug: building or reusing the debug guest kernel (log: $LOGS/debug-kernel.log)"
	step debug-kernel tools/debug-kernel.sh --env "$env_file"
	f0=$FAIL
	if [ -f "$env_file" ]; then
		# shellcheck disable=SC1090 # written by tools/debug-kernel.sh
		. "$env_file"
		step modules-debug-w1-sparse-ubsan make --no-print-directory O="$O" \
			KDIR_DEBUG="$PVIO_DEBUG_KDIR" modules-debug
	fi
	if [ "$FAIL" = "$f0" ] && [ -f "$env_file" ]; then
		scale=${PVIO_DEBUG_TIMEOUT_SCALE:-1}
		dbg=(env O="$O" KMOD="$O/kmod-debug" PVIO_VM_OUT="$O/vm-debug" PVIO_GUEST_DEBUG=1
			PVIO_GUEST_KERNEL="$PVIO_GUEST_KERNEL" PVIO_GUEST_MODDIR="$PVIO_GUEST_MODDIR"
			PVIO_VM_APPEND=kasan_multi_shot)
		tap vm_debug_smoke $((900 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((600 * scale)) tests/vm/smoke.sh
		tap vm_debug_transport $((2400 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((2100 * scale)) tests/vm/transport.sh
		tap vm_debug_net $((3600 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((3300 * scale)) tests/vm/net.sh
		tap vm_debug_blk $((3600 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((3300 * scale)) tests/vm/blk.sh
		tap vm_debug_balloon $((3600 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((3300 * scale)) tests/vm/balloon.sh
		# hostile's guests are small (256-384 MiB): the OOM killer took
		# them on this kernel.
		tap vm_debug_hostile $((3600 * scale)) "${dbg[@]}" PVIO_VM_TIMEOUT=$((1000 * scale)) \
			PVIO_VM_MEM_MIN=1024 tests/vm/hostile.sh
	else
		echo "# vm-debug: no VM test run without the debug kernel and our modules for it"
	fi
fi

# ---- summary ---------------------------------------------------------------

summary
