#!/bin/sh
# tests/vm/guest/memory.sh - guest side of tests/vm/memory.sh (busybox sh).
#
# Two of these run at once, each a 512 MiB guest whose balloon is under
# pviod's host-wide memory policy (policy = host).  The kernel command
# line says which: pvmem.role=idle or pvmem.role=busy.
#
# Both first give back what they do not use (MemTotal falls by >= 128
# MiB).  Then the busy one grows its working set by 6 x 64 MiB, one piece
# every 2 s, each filled with a pattern and held (pvbal_mem hold): it must
# get the memory (MemTotal rises to >= 416 MiB; where a piece comes
# faster than the policy's round, the driver deflates under pressure and
# the policy then leaves it deflated) without an OOM kill; it says
# "PVIO-SYNC grown" and the pieces are verified.  The idle one checks that it
# gave back at least 256 MiB and then waits for the host to end the run
# (its balloon set to 0 by hand: MemTotal back where it started).
#
# Host requests (console lines):
#   PVIO-SYNC gave-back ROLE   the guest's balloon went out (host: sample)
#   PVIO-SYNC grown            the busy guest holds its 384 MiB
set -u

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }	# kB
vmstat() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
mb() { echo $(($1 / 1024)); }
ROLE=$(sed -n 's/.*pvmem\.role=\([a-z]*\).*/\1/p' /proc/cmdline)

modprobe pvio
modprobe pvio_balloon free_page_reporting=0
w=0
until dmesg | grep -q 'balloon: features' || [ $w -ge 100 ]; do sleep 0.1; w=$((w + 1)); done
check "pvio_balloon binds to the balloon device ($ROLE guest)" sh -c "dmesg | grep -q 'balloon: features'"
T0=$(meminfo MemTotal)
oom0=$(vmstat oom_kill)
echo "# $ROLE: MemTotal $(mb "$T0") MiB, MemAvailable $(mb "$(meminfo MemAvailable)") MiB"

# until_total_below KB SECONDS / until_total_above KB SECONDS
until_total_below() {
	w=0
	while [ "$(meminfo MemTotal)" -gt "$1" ] && [ $w -lt $(($2 * 10)) ]; do sleep 0.1; w=$((w + 1)); done
	[ "$(meminfo MemTotal)" -le "$1" ]
}
until_total_above() {
	w=0
	while [ "$(meminfo MemTotal)" -lt "$1" ] && [ $w -lt $(($2 * 10)) ]; do sleep 0.1; w=$((w + 1)); done
	[ "$(meminfo MemTotal)" -ge "$1" ]
}

if [ "$ROLE" = idle ]; then
	r=0
	until_total_below $((T0 - 262144)) 90 || r=1
	check "idle: the policy took back at least 256 MiB within 90 s (MemTotal $(mb "$T0") -> $(mb "$(meminfo MemTotal)") MiB)" [ $r = 0 ]
	sync_host gave-back idle
	# The host ends the run: it sets this balloon to 0 by hand.
	r=0
	until_total_above $((T0 - 2048)) 600 || r=1
	check "idle: the host ended the run (MemTotal back to $(mb "$(meminfo MemTotal)") MiB of $(mb "$T0"))" [ $r = 0 ]
	check "idle: nobody was OOM-killed (oom_kill $oom0 -> $(vmstat oom_kill))" [ "$(vmstat oom_kill)" = "$oom0" ]
else
	r=0
	until_total_below $((T0 - 131072)) 90 || r=1
	TLOW=$(meminfo MemTotal)
	check "busy: the policy took back at least 128 MiB while it idled (MemTotal $(mb "$T0") -> $(mb "$TLOW") MiB)" [ $r = 0 ]
	sync_host gave-back busy
	rm -f /tmp/go
	i=0
	while [ $i -lt 6 ]; do
		i=$((i + 1))
		pvbal_mem hold 64 /tmp/go >/tmp/hold$i.out 2>&1 &
		eval "hpid$i=$!"
		w=0
		while [ ! -f /tmp/go.filled ] && [ $w -lt 600 ]; do sleep 0.1; w=$((w + 1)); done
		rm -f /tmp/go.filled
		echo "# busy: piece $i of 64 MiB held after $((w / 10)).$((w % 10)) s; MemTotal $(mb "$(meminfo MemTotal)") MiB, MemAvailable $(mb "$(meminfo MemAvailable)") MiB"
		sleep 2
	done
	TBIG=$(meminfo MemTotal)
	# 384 MiB held and what it used before: all of its RAM, nearly.
	check "busy: it was given memory as it grew (MemTotal $(mb "$TLOW") -> $(mb "$TBIG") MiB, want >= $(mb "$TLOW") + 128 and >= 416)" \
		[ "$TBIG" -ge $((TLOW + 131072)) ] && [ "$TBIG" -ge $((416 * 1024)) ]
	sync_host grown
	touch /tmp/go
	bad=0
	i=0
	while [ $i -lt 6 ]; do
		i=$((i + 1))
		eval "wait \$hpid$i" || bad=$((bad + 1))
	done
	cat /tmp/hold*.out | sed 's/^/# hold: /'
	check "busy: the 6 pieces held their pattern ($bad bad)" [ $bad = 0 ]
	check "busy: nobody was OOM-killed (oom_kill $oom0 -> $(vmstat oom_kill); $(dmesg | grep -c 'out of memory: gave back') OOM deflations)" \
		[ "$(vmstat oom_kill)" = "$oom0" ]
fi
dmesg_clean
echo "1..$n"
exit "$fail"
