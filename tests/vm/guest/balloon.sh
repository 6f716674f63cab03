#!/bin/sh
# tests/vm/guest/balloon.sh - guest side of tests/vm/balloon.sh (busybox sh).
#
# The host's pviod serves one balloon (floor 128 MiB, statistics every
# 500 ms, free page reporting offered) on a 1 GiB guest whose RAM is a
# file in the host's /dev/shm.  MemTotal follows the balloon (the driver
# takes ballooned pages out of the managed count).
#
# TAP on the console: the driver binds; inflate by 256 MiB (MemTotal and
# MemAvailable drop by it; the host checks its RAM file lost >= 99% of
# 256 MiB of allocated blocks); deflate (all back, and usable: allocate,
# touch, verify); data integrity (most free memory filled with a pattern,
# the balloon cycled 10 times, the pattern verified); pressure (a balloon
# of 600 MiB, a program wanting more than is left: the balloon deflates,
# nobody is OOM-killed); a target the guest cannot give (clamped, no
# crash); free page reporting (memory freed in the guest goes back to the
# host with no target change); unload/reload; a clean kernel log.
#
# Host requests (console lines):
#   PVIO-SYNC balloon-set SIZE [LABEL]   pvioctl balloon ... set SIZE --wait;
#                                        the host samples its RAM file's
#                                        allocated blocks before and after
#                                        (LABEL names the pair)
#   PVIO-SYNC balloon-target SIZE        the same without waiting (a target
#                                        the guest cannot reach)
#   PVIO-SYNC host-blocks LABEL          sample the RAM file's blocks now
set -u

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
MiB=1024

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }	# kB
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
# wait_total KB SECONDS: until MemTotal is KB (within 4 MiB)
wait_total() {
	w=0
	while [ $w -lt $(($2 * 10)) ]; do
		t=$(meminfo MemTotal)
		d=$((t - $1))
		[ $d -lt 0 ] && d=$((-d))
		[ $d -le 4096 ] && return 0
		sleep 0.1
		w=$((w + 1))
	done
	return 1
}
mb() { echo $(($1 / 1024)); }

modprobe pvio
modprobe pvio_balloon free_page_reporting=0
w=0
until dmesg | grep -q 'balloon: features' || [ $w -ge 50 ]; do sleep 0.1; w=$((w + 1)); done
check "pvio_balloon binds to the balloon device" sh -c "dmesg | grep -q 'balloon: features'"
dmesg | grep 'balloon: features' | sed 's/^/# /'

T0=$(meminfo MemTotal)
A0=$(meminfo MemAvailable)
echo "# MemTotal $(mb "$T0") MiB, MemAvailable $(mb "$A0") MiB"
echo 1 >/proc/sys/vm/overcommit_memory

# ---- inflate by 256 MiB --------------------------------------------------
# Touch (almost) all free memory first, so that the host has backed it:
# whatever the balloon takes is then memory the host really gets back.
pvbal_mem touch $(($(meminfo MemFree) / 1024 - 96)) >/dev/null
# What the guest uses (MemTotal - MemAvailable) must not move while the
# balloon inflates: a page leaves both when the balloon takes it.  The
# statistics the host's policy reads are made of these two; a batch
# counted in MemTotal but not in MemAvailable reads as the guest's own.
used() { awk '$1 == "MemTotal:" { t = $2 } $1 == "MemAvailable:" { a = $2 } END { print t - a }' /proc/meminfo; }
U0=$(used)
echo "$U0" >/tmp/used-max
rm -f /tmp/used-stop
(
	mx=$U0
	while [ ! -f /tmp/used-stop ]; do
		u=$(used)
		[ "$u" -gt "$mx" ] && mx=$u && echo "$mx" >/tmp/used-max
	done
) &
SAMPLER=$!
sync_host balloon-set 256M inflate256
check "inflate 256 MiB: MemTotal $(mb "$T0") -> $(mb $((T0 - 256 * MiB))) MiB" wait_total $((T0 - 256 * MiB)) 120
touch /tmp/used-stop
wait "$SAMPLER"
UMAX=$(cat /tmp/used-max)
check "used memory (MemTotal - MemAvailable) held while inflating: $(mb "$U0") MiB before, at most $(mb "$UMAX") MiB during (want <= +16 MiB)" \
	[ $((UMAX - U0)) -le $((16 * MiB)) ]
T1=$(meminfo MemTotal)
A1=$(meminfo MemAvailable)
echo "# after inflate: MemTotal $(mb "$T1") MiB, MemAvailable $(mb "$A1") MiB, vmstat balloon_inflate $(vmstat balloon_inflate)"
check "MemTotal dropped by 256 MiB ($(mb $((T0 - T1))) MiB)" [ $((T0 - T1)) -ge $((255 * MiB)) ] && [ $((T0 - T1)) -le $((257 * MiB)) ]
check "MemAvailable dropped by >= 240 MiB ($(mb $((A0 - A1))) MiB)" [ $((A0 - A1)) -ge $((240 * MiB)) ]

# ---- deflate ------------------------------------------------------------------
sync_host balloon-set 0 deflate
check "deflate: MemTotal back to $(mb "$T0") MiB" wait_total "$T0" 120
A2=$(meminfo MemAvailable)
check "the memory is usable again: $(mb $((A2 - 96 * MiB))) MiB allocated, touched, verified" \
	pvbal_mem alloc $((A2 / 1024 - 96))

# ---- data integrity across 10 balloon cycles ----------------------------------
HOLD=$(($(meminfo MemAvailable) / 1024 - 360))
rm -f /tmp/go /tmp/go.filled
pvbal_mem hold "$HOLD" /tmp/go >/tmp/hold.out 2>&1 &
hpid=$!
w=0
until [ -e /tmp/go.filled ] || [ $w -ge 600 ]; do sleep 0.1; w=$((w + 1)); done
echo "# $HOLD MiB filled with a pattern; cycling the balloon"
cyc_ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	sync_host balloon-set 256M
	wait_total $((T0 - 256 * MiB)) 120 || break
	sync_host balloon-set 0
	wait_total "$T0" 120 || break
	cyc_ok=$i
done
check "10 inflate/deflate cycles of 256 MiB ($cyc_ok done)" [ "$cyc_ok" = 10 ]
touch /tmp/go
wait $hpid
rc=$?
sed 's/^/# /' /tmp/hold.out
check "$HOLD MiB pattern intact after the cycles (rc $rc)" [ $rc = 0 ]

# ---- pressure: the balloon deflates instead of an OOM kill -------------------
oom0=$(vmstat oom_kill)
sync_host balloon-set 600M
check "inflate 600 MiB" wait_total $((T0 - 600 * MiB)) 180
sleep 1		# statistics every 500 ms: these are before the pressure
sync_host host-blocks before-pressure
A3=$(meminfo MemAvailable)
WANT=$((A3 / 1024 + 200))
echo "# MemAvailable $(mb "$A3") MiB; allocating $WANT MiB (floor 128 MiB allows it)"
check "a program gets $WANT MiB, more than was left" pvbal_mem alloc "$WANT"
T3=$(meminfo MemTotal)
echo "# MemTotal after: $(mb "$T3") MiB; $(dmesg | grep -c 'out of memory: gave back') OOM deflations"
check "the balloon deflated under pressure (MemTotal $(mb "$T3") MiB > $(mb $((T0 - 600 * MiB))) MiB)" [ "$T3" -gt $((T0 - 590 * MiB)) ]
check "nobody was OOM-killed (oom_kill $oom0 -> $(vmstat oom_kill))" [ "$(vmstat oom_kill)" = "$oom0" ]
check "the driver logged its deflation on pressure" sh -c "dmesg | grep -q 'out of memory: gave back'"
echo "# reclaim in the guest: $(grep -E '^(pgscan_kswapd|pgscan_direct|allocstall_normal|allocstall_dma32|workingset_refault_(anon|file)) ' /proc/vmstat | tr '\n' ' ')"
sleep 1		# statistics every 500 ms: the next sample has the pressure
sync_host host-blocks pressure
sync_host balloon-set 0
check "deflate after pressure: MemTotal back" wait_total "$T0" 120

# ---- out of memory while an inflate request waits for the host ----------------
# The adjust work holds the driver's lock while the host answers: the OOM
# notifier, which needs it to deflate, used to give up at once, and the
# OOM killer killed.  A balloon of 300 MiB (above the floor of 128, so
# that there is something to give), most of the rest held; the host
# asks for 256 MiB more and stops its worker for 1 s (balloon-stall);
# once the first batch is out of MemTotal and balloon_inflate has not
# moved, the request is in flight, and a program asks for more than is
# left.
sync_host balloon-set 300M
check "inflate 300 MiB" wait_total $((T0 - 300 * MiB)) 120
oom0=$(vmstat oom_kill)
T5=$(meminfo MemTotal)
HOLD2=$(($(meminfo MemAvailable) / 1024 - 250))
rm -f /tmp/go2 /tmp/go2.filled
pvbal_mem hold "$HOLD2" /tmp/go2 >/tmp/hold2.out 2>&1 &
hpid2=$!
w=0
while [ ! -f /tmp/go2.filled ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
infl0=$(vmstat balloon_inflate)
sync_host balloon-stall 556M 1
w=0
while [ "$(meminfo MemTotal)" -gt $((T5 - 64 * MiB)) ] && [ $w -lt 200 ]; do sleep 0.01; w=$((w + 1)); done
T6=$(meminfo MemTotal)
infl1=$(vmstat balloon_inflate)
check "an inflate request was in flight when the program began (MemTotal $(mb "$T5") -> $(mb "$T6") MiB, balloon_inflate $infl0 -> $infl1)" \
	[ "$T6" -le $((T5 - 64 * MiB)) ] && [ "$infl1" = "$infl0" ]
A6=$(meminfo MemAvailable)
check "a program gets 200 MiB with $(mb "$A6") MiB available" pvbal_mem alloc 200
check "nobody was OOM-killed (oom_kill $oom0 -> $(vmstat oom_kill))" [ "$(vmstat oom_kill)" = "$oom0" ]
# The host asked for more, never less: what came back, the driver gave
# on pressure (its log of that is rate-limited: not counted here).
T7=$(meminfo MemTotal)
check "the balloon deflated on pressure once the host answered (MemTotal $(mb "$T6") -> $(mb "$T7") MiB)" \
	[ "$T7" -gt "$T6" ]
touch /tmp/go2
wait $hpid2
rc=$?
sed 's/^/# /' /tmp/hold2.out
check "the $HOLD2 MiB held through it are intact (rc $rc)" [ $rc = 0 ]
sync_host balloon-set 0
check "deflate after the stall: MemTotal back" wait_total "$T0" 120

# ---- memory PSI from a guest agent ----------------------------------------------
PSI=$(ls /sys/bus/pvio/drivers/pvio_balloon/*/psi_memory 2>/dev/null | head -n 1)
check "the driver offers psi_memory (${PSI:-none})" [ -n "$PSI" ]
check "psi_memory says none before an agent wrote" grep -qx none "$PSI"
sed 's/^/# \/proc\/pressure\/memory: /' /proc/pressure/memory
check "the agent's copy of /proc/pressure/memory is taken" sh -c "cat /proc/pressure/memory >'$PSI'"
pvio-psi-agent 1 &
AGENT=$!
sleep 2
echo "# psi_memory with the agent running: $(cat "$PSI")"
check "the agent keeps it fresh" sh -c "grep -q 'age_ms=[0-9]\{1,4\}\$' '$PSI'"
kill $AGENT
wait $AGENT 2>/dev/null
for bad in "some avg10=100.01 avg60=0.00 avg300=0.00 total=1
full avg10=0.00 avg60=0.00 avg300=0.00 total=0" "some avg10=1.00 avg60=0.00 avg300=0.00 total=1" "garbage"; do
	check "psi_memory refuses '$(echo "$bad" | head -n 1)'" sh -c "! printf '%s\n' '$bad' >'$PSI' 2>/dev/null"
done
printf 'some avg10=12.34 avg60=1.00 avg300=0.10 total=5\nfull avg10=5.06 avg60=0.00 avg300=0.00 total=1\n' >"$PSI"
check "psi_memory keeps avg10 12.34 / 5.06 ($(cat "$PSI"))" sh -c "grep -q 'some avg10=12.34 full avg10=5.06 ' '$PSI'"
sleep 1		# statistics every 500 ms: the next sample carries it
sync_host host-blocks psi

# ---- a target the guest cannot give: clamped, no crash ------------------------
sync_host balloon-target 1000M
sleep 8
T4=$(meminfo MemTotal)
echo "# asked for 1000 MiB: MemTotal $(mb "$T4") MiB, MemAvailable $(mb "$(meminfo MemAvailable)") MiB"
check "target above what the guest can give is clamped (logged)" sh -c "dmesg | grep -q 'more than this guest can give'"
check "the guest keeps at least 64 MiB (MemTotal $(mb "$T4") MiB)" [ "$T4" -ge $((64 * MiB)) ]
check "the guest still runs programs" pvbal_mem alloc 8
sync_host balloon-set 0
check "and gets everything back" wait_total "$T0" 180

# ---- free page reporting ----------------------------------------------------------
check "rmmod pvio_balloon" rmmod pvio_balloon
modprobe pvio_balloon
w=0
until [ "$(dmesg | grep -c 'balloon: features')" -ge 2 ] || [ $w -ge 50 ]; do sleep 0.1; w=$((w + 1)); done
check "reloaded with free page reporting" sh -c "dmesg | grep 'balloon: features' | tail -n 1 | grep -q 'reporting on'"
sleep 6		# whatever is free now gets reported first
sync_host host-blocks report-before
sleep 1
F=$(($(meminfo MemFree) / 1024 - 200))
dd if=/dev/zero of=/dev/shm/big bs=1M count="$F" 2>/dev/null
sync_host host-blocks report-filled
sleep 1
rm -f /dev/shm/big
echo "# $F MiB written to tmpfs and freed; waiting for the reports"
sleep 10
sync_host host-blocks report-after
sleep 1
check "MemTotal unchanged by reporting" [ "$(meminfo MemTotal)" = "$T0" ]

dmesg_clean
echo "1..$n"
exit "$fail"
