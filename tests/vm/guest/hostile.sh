#!/bin/sh
# tests/vm/guest/hostile.sh - guest side of tests/vm/hostile.sh (busybox sh).
#
# One group per boot, named on the kernel command line
# (pvio_hostile.group=blk|net|balloon).  For each scenario the guest asks
# the host to arm it ("PVIO-SYNC hostile DEVICE SCENARIO..."; the host's
# pviod-san then lies to this guest as told), does I/O that meets the lie,
# and prints one TAP line saying what it expected and what happened: the
# driver noticed (its kernel log line), the device came back (or, where
# that is the right answer, stayed down or failed the I/O), the data is
# intact, and every wait was bounded.  "PVIO-SYNC hostile DEVICE off"
# makes pviod honest again (a held reset is echoed late, a config area
# restored).  The last result of every group: the kernel log of the whole
# boot has no BUG, WARNING, Oops, general protection fault, KASAN or
# refcount report, no stack dump, and no poison or slab corruption report
# (the guest runs with page_poison=1 slub_debug=FZP: a write into memory
# the driver freed shows up when that memory is allocated again).
#
# Host requests (console lines):
#   PVIO-SYNC hostile DEVICE WORDS...   control request "hostile vm DEVICE
#                                       WORDS..." to pviod-san
#   PVIO-SYNC balloon-set SIZE          pvioctl balloon vm bal0 set SIZE
#   PVIO-SYNC host-recv PORT BYTES SEED a verifying TCP receiver on the host
#                                       (pvnet_xfer), checked at the end
# shellcheck disable=SC2086 # scenario words ($2) are split on purpose
set -u

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
# hostile DEVICE WORDS...: the host acts within a few tenths of a second
# (it reads the console every 0.1 s).  Nothing tells the guest when it
# has: scenarios that wait for the guest's I/O are met by I/O repeated
# until the driver has seen the lie, a few rounds at most.
hostile() { sync_host hostile "$@"; sleep 0.5; }
# now: centiseconds since boot; cs N: N centiseconds as seconds
now() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; }
cs() { echo "$(($1 / 100)).$(($1 % 100 / 10))"; }
# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds, at
# most SECONDS of wall time (CMD itself may take a while: ping -W 1)
wait_until() {
	wt=$(($(now) + $1 * 100))
	shift
	while ! "$@"; do
		[ "$(now)" -ge "$wt" ] && return 1
		sleep 0.1
	done
}
# The kernel log since the last klog_mark (the whole log is kept in /tmp/klog).
klog_mark() { dmesg -c >>/tmp/klog; }
klog_has() { dmesg | grep -q -- "$1"; }
klog_count() { dmesg | grep -c -- "$1"; }
klog_show() { dmesg | grep -E -- "$1" | tail -n "${2:-3}" | sed 's/^/#   /'; }
# expect NAME EXPECTED GOT RESULT: one TAP line; RESULT 1 passes
expect() {
	if [ "$4" = 1 ]; then
		ok "$1: expected $2; got $3"
	else
		nok "$1: expected $2; got $3"
		dmesg | tail -n 12 | sed 's/^/#   failed: /'
	fi
}
# irqs: interrupts pvio's vectors took so far, all CPUs
irqs() { awk '/pvio/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i } END { print s + 0 }' /proc/interrupts; }
yes_no() { if "$@"; then echo yes; else echo no; fi; }
cmdline_arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# klog_final: the whole boot's kernel log is clean (last result of a group).
klog_final() {
	klog_mark
	bad=$(grep -E 'BUG|WARNING|Oops|general protection|KASAN|refcount|Call Trace|corruption|Poison overwritten|blocked for more than' /tmp/klog | head -n 8)
	if [ -z "$bad" ]; then
		ok "$1 kernel log: no BUG, WARNING, Oops, general protection, KASAN, refcount, stack dump or poison report ($(wc -l </tmp/klog) lines)"
	else
		nok "$1 kernel log: no BUG, WARNING, Oops, general protection, KASAN, refcount, stack dump or poison report"
		echo "$bad" | sed 's/^/#   /'
	fi
}

# ---- blk -------------------------------------------------------------------
#
# disk0: a 64 MiB image, one queue.  The first 4 MiB hold a random pattern;
# every scenario reads them back with O_DIRECT (64 requests of 64 KiB) and
# compares.  Reads run in the background, so a request the driver holds
# (a reset not acknowledged) is seen held instead of hanging the script.

PAT=
B=
blk_disk() { for d in /sys/block/pvd*; do [ -e "$d" ] && { echo "${d##*/}"; return 0; }; done; return 1; }
blk_state() { cat "/sys/block/$D/device/state" 2>/dev/null; }
blk_live() { [ "$(blk_state)" = live ]; }
# read_bg TAG [SKIP_MIB]: read 4 MiB in the background; TAG.rc when done
read_bg() {
	rm -f "/tmp/$1.rc" "/tmp/$1.dat"
	(dd if="$B" of="/tmp/$1.dat" bs=64k count=64 skip=$((${2:-0} * 16)) iflag=direct 2>"/tmp/$1.err"
	 echo $? >"/tmp/$1.rc") &
}
read_done() { [ -e "/tmp/$1.rc" ]; }
read_rc() { cat "/tmp/$1.rc" 2>/dev/null || echo none; }
read_intact() { read_done "$1" && [ "$(read_rc "$1")" = 0 ] && [ "$(sha256sum <"/tmp/$1.dat" | cut -d' ' -f1)" = "$PAT" ]; }
read_what() {
	if ! read_done "$1"; then echo "still reading"
	elif [ "$(read_rc "$1")" != 0 ]; then echo "I/O error (dd rc $(read_rc "$1"))"
	elif read_intact "$1"; then echo "4 MiB intact"
	else echo "4 MiB DIFFERENT"
	fi
}
blk_load() {
	modprobe pvio_blk io_timeout=5
	wait_until 10 blk_disk >/dev/null && D=$(blk_disk) && B=/dev/$D
}

# blk_case NAME WORDS DETECT: arm WORDS, read the pattern back (up to 3
# times, until the lie has been met): the driver logs DETECT, resets the
# device, sends the requests again; every read intact.
blk_case() {
	klog_mark
	hostile disk0 $2
	t0=$(now)
	i=0 bad=0
	# Until it fires: cpl-dup-late needs a later request on the saved
	# completion's slot, which blk-mq's tag order gives sooner or later
	# (3 reads were not always enough: CI at 1432584 saw it not fire).
	while [ $i -lt 12 ]; do
		read_bg r
		wait_until 30 read_done r
		read_intact r || bad=$((bad + 1))
		i=$((i + 1))
		klog_has "$3" && break
	done
	t=$(($(now) - t0))
	wait_until 10 blk_live
	c=0
	klog_has "$3" && blk_live && [ $bad = 0 ] && c=1
	expect "blk $1" "'$3' logged, the device reset and live again, the 4 MiB read back intact within 30 s" \
		"logged $(yes_no klog_has "$3"), state '$(blk_state)', $((i - bad)) of $i reads intact (the last: $(read_what r)) after $(cs "$t") s" $c
	klog_show 'pvio|pvd' 3
}
held_or_done() { klog_has 'holding' || read_done "$1"; }

# blk_storm NAME WORDS DETECT: reads keep going through a storm.
blk_storm() {
	klog_mark
	hostile disk0 $2
	t0=$(now)
	good=0 i=0
	while [ $(($(now) - t0)) -lt 250 ] && [ $i -lt 20 ]; do
		read_bg s
		wait_until 30 read_done s
		read_intact s && good=$((good + 1))
		i=$((i + 1))
	done
	wait_until 15 blk_live
	c=0
	[ "$good" = "$i" ] && blk_live && { [ -z "$3" ] || klog_has "$3"; } && c=1
	expect "blk $1" "${3:+'$3' logged, }every read through the storm intact, the device live after" \
		"${3:+logged $(yes_no klog_has "$3") ($(klog_count "$3") times), }$good of $i reads intact, state '$(blk_state)'" $c
	klog_show 'pvio|pvd' 2
}

group_blk() {
	modprobe pvio
	# cfg-lbs is armed in pviod's configuration: the first probe meets it.
	klog_mark
	modprobe pvio_blk io_timeout=5
	sleep 1
	d=$(blk_disk || echo none)
	c=0
	[ "$d" = none ] && klog_has 'invalid logical block size 1000' && c=1
	expect "blk cfg-lbs" "the probe refuses logical block size 1000: no disk" \
		"disk '$d', refusal logged $(yes_no klog_has 'invalid logical block size 1000')" $c
	klog_show 'pvio' 2
	rmmod pvio_blk
	hostile disk0 off
	blk_load
	i=0
	while [ -z "${D:-}" ] && [ $i -lt 5 ]; do
		rmmod pvio_blk
		sleep 0.5
		blk_load
		i=$((i + 1))
	done
	dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null
	PAT=$(sha256sum </tmp/pat | cut -d' ' -f1)
	dd if=/tmp/pat of="$B" bs=1M oflag=direct conv=fsync 2>/dev/null
	read_bg r
	wait_until 30 read_done r
	c=0
	read_intact r && c=1
	expect "blk honest" "after 'off' the disk binds and 4 MiB written read back intact" "disk '$D', $(read_what r)" $c

	blk_case cpl-id-range cpl-id-range 'completion for a request not outstanding'
	blk_case cpl-dup cpl-dup 'completion for a request not outstanding'
	# The duplicate comes once the tag is out again, before that request
	# has its data: the generation in the id refuses it.
	blk_case cpl-dup-late cpl-dup-late 'an earlier use of its tag'
	blk_case cpl-unposted cpl-unposted 'completion for a request not outstanding'
	blk_case cpl-len cpl-len 'completion for a request not outstanding, or too long'
	blk_case cq-jump cq-jump 'impossible completion producer index'
	blk_case cq-back cq-back 'impossible completion producer index'
	blk_case sq-cons sq-cons 'impossible submission consumer index'
	blk_case state-broken state-broken 'backend marked the device broken (reason 57005)'

	# A status nobody defined: that request fails, the device stays.
	klog_mark
	hostile disk0 cpl-status
	i=0
	while [ $i -lt 3 ]; do
		read_bg r
		wait_until 30 read_done r
		i=$((i + 1))
		[ "$(read_rc r)" != 0 ] && break
	done
	read_bg r2
	wait_until 30 read_done r2
	c=0
	[ "$(read_rc r)" != 0 ] && [ "$(read_rc r)" != none ] && read_intact r2 && blk_live && c=1
	expect "blk cpl-status" "the read that met status 0xdeadbeef fails with EIO, the device stays live, the next read is intact" \
		"read $i: $(read_what r); next: $(read_what r2); state '$(blk_state)'" $c
	klog_show 'pvio|pvd|error' 2

	# A reset never acknowledged: the request stays held (its pages may
	# still be written by the backend), until the late echo.
	klog_mark
	hostile disk0 reset-noack cpl-len
	i=0
	while [ $i -lt 3 ]; do
		read_bg r
		wait_until 10 held_or_done r
		i=$((i + 1))
		klog_has 'holding' && break
	done
	sleep 2
	held=$(read_what r)
	hostile disk0 off
	t0=$(now)
	wait_until 30 read_done r
	t=$(($(now) - t0))
	wait_until 10 blk_live
	c=0
	[ "$held" = "still reading" ] && klog_has 'holding 1 request' && klog_has 'go round again' && read_intact r && blk_live && c=1
	expect "blk reset-noack" "the request held while the reset is not acknowledged ('holding 1 request(s)'), then, after the late echo (and pviod scribbling over its buffer), sent again and read back intact" \
		"2 s into the hold: $held; after the echo: $(read_what r) in $(cs "$t") s, 'go round again' logged $(yes_no klog_has 'go round again'), state '$(blk_state)'" $c
	klog_show 'pvio|pvd' 4

	# Silent: no heartbeat, no completion, no echo.
	klog_mark
	hostile disk0 silent
	# The heartbeat stopping says silent is on: only then the read.
	wait_until 5 klog_has 'backend not responding'
	t0=$(now)
	read_bg r
	wait_until 20 klog_has 'holding'
	t1=$(($(now) - t0))
	read_bg r2 8
	wait_until 20 read_done r2
	t2=$(($(now) - t0))
	gone=$(blk_state)
	held=$(read_what r)
	hostile disk0 off
	wait_until 30 read_done r
	wait_until 10 blk_live
	c=0
	[ "$gone" = backend-gone ] && [ "$held" = "still reading" ] && [ "$(read_rc r2)" != 0 ] &&
		[ "$(read_rc r2)" != none ] && read_intact r && blk_live && c=1
	expect "blk silent" "'backend-gone', the request held after its timeout, a later read failing with EIO within io_timeout (bounded), then after 'off' the held read intact" \
		"state '$gone', held $(cs "$t1") s after the read began, later read: $(read_what r2) at $(cs "$t2") s, then $(read_what r), state '$(blk_state)'" $c
	klog_show 'pvio|pvd' 5

	# The heartbeat alone stops: I/O goes on, the state says so.
	klog_mark
	hostile disk0 hb-stop
	wait_until 5 klog_has 'backend not responding'
	gone=$(blk_state)
	read_bg r
	wait_until 30 read_done r
	hostile disk0 off
	wait_until 5 klog_has 'backend is back'
	c=0
	[ "$gone" = backend-gone ] && read_intact r && klog_has 'backend is back' && blk_live && c=1
	expect "blk hb-stop" "'backend-gone' while the heartbeat stands still, I/O still intact, 'backend is back' after" \
		"state '$gone', read $(read_what r), back logged $(yes_no klog_has 'backend is back'), state '$(blk_state)'" $c

	i0=$(irqs)
	blk_storm irq-storm irq-storm ''
	echo "#   $(($(irqs) - i0)) interrupts on pvio's vectors during the storm"
	blk_storm gen-storm gen-storm 'backend restarted'
	blk_storm needs-reset-storm needs-reset-storm 'restored after backend restart'
	blk_storm cfg-storm cfg-storm 'capacity'
	hostile disk0 off

	# Absurd limits: a capacity change at run time, then a probe with them.
	klog_mark
	hostile disk0 cfg-limits
	wait_until 5 klog_has 'capacity'
	read_bg e 100
	wait_until 30 read_done e
	klog_mark
	rmmod pvio_blk
	blk_load
	reprobe=$(dmesg | grep -o 'pvd[a-z]*: [0-9]* sectors.*' | tail -n 1)
	q=/sys/block/$D/queue
	lim="size $(cat "/sys/block/$D/size"), max_segments $(cat $q/max_segments), max_hw_sectors_kb $(cat $q/max_hw_sectors_kb), max_segment_size $(cat $q/max_segment_size), pbs $(cat $q/physical_block_size), depth $(cat $q/nr_requests), hw queues $(ls "/sys/block/$D/mq" | wc -l)"
	read_bg r
	wait_until 60 read_done r
	c=0
	[ "$(read_rc e)" != 0 ] && [ "$(read_rc e)" != none ] && [ -n "$reprobe" ] && read_intact r && c=1
	expect "blk cfg-limits" "a 2^64-sector capacity taken at run time, a read beyond the real 64 MiB failing with EIO, then a probe clamping every limit and reading intact" \
		"read beyond: $(read_what e); probe: '${reprobe:-none}', $lim; read $(read_what r)" $c
	hostile disk0 off
	rmmod pvio_blk
	blk_load
	read_bg r
	wait_until 30 read_done r
	c=0
	read_intact r && c=1
	expect "blk after all" "an honest backend again: reload, 4 MiB intact" "$(read_what r)" $c
	klog_mark
	rmmod pvio_blk
	c=0
	! blk_disk >/dev/null && c=1
	expect "blk unload" "pvio_blk unloads" "disk left: $(blk_disk || echo none)" $c
	klog_final blk
}

# ---- net -------------------------------------------------------------------
#
# net0: one queue pair on a TAP in the host's test namespace (10.77.9.1).
# Traffic is ping: each request is a tx completion, each reply an rx one
# (with MRG_RXBUF, which the driver negotiates, a one-buffer packet).

HOST=10.77.9.1
IF=
net_if() {
	for d in /sys/class/net/*; do
		case $(readlink "$d/device/driver" 2>/dev/null) in */pvio_net) echo "${d##*/}"; return 0 ;; esac
	done
	return 1
}
carrier() { cat "/sys/class/net/$IF/carrier" 2>/dev/null; }
net_state() { cat "/sys/class/net/$IF/device/state" 2>/dev/null; }
pings() { ping -c 1 -W 1 "$HOST" >/dev/null 2>&1; }
# net_up: pvio_net's interface configured, carrier on, the host answers
net_up() {
	wait_until 10 net_if >/dev/null || return 1
	IF=$(net_if)
	ip addr add 10.77.9.2/24 dev "$IF" 2>/dev/null
	ip link set "$IF" up
	wait_until 10 [ "$(carrier)" = 1 ] && wait_until 10 pings
}
# traffic N [INTERVAL]: N pings, 0.2 s apart, replies not required
traffic() { ping -c "$1" -i "${2:-0.2}" -W 1 "$HOST" >/dev/null 2>&1; }
replies() { if [ "$1" = 0 ]; then echo "back after $(cs "$tb") s"; else echo "not back"; fi; }
errors() { echo $(($(cat "/sys/class/net/$IF/statistics/rx_errors") + $(cat "/sys/class/net/$IF/statistics/tx_errors"))); }
# back SECONDS: carrier on and a reply within SECONDS; sets $tb (time taken)
back() { t0=$(now); wait_until "$1" sh -c "[ \"\$(cat /sys/class/net/$IF/carrier)\" = 1 ] && ping -c 1 -W 1 $HOST >/dev/null 2>&1"; r=$?; tb=$(($(now) - t0)); return $r; }

# net_case NAME WORDS DETECT [PINGS [INTERVAL]]: arm WORDS, send traffic
# that meets the lie: the driver logs DETECT and the device comes back
# (reset), pings again.
net_case() {
	klog_mark
	hostile net0 $2
	t0=$(now)
	while ! klog_has "$3" && [ $(($(now) - t0)) -lt 1000 ]; do
		traffic "${4:-5}" "${5:-0.2}"
		wait_until 2 klog_has "$3"
	done
	det=$(yes_no klog_has "$3")
	back 20
	b=$?
	c=0
	[ $b = 0 ] && [ "$det" = yes ] && c=1
	expect "net $1" "'$3' logged, the device reset, carrier and replies back within 20 s" \
		"logged $det, state '$(net_state)', carrier $(carrier), replies $(replies $b)" $c
	klog_show 'pvio' 3
}

# net_storm NAME WORDS DETECT: pings through a storm, the device fine after.
net_storm() {
	klog_mark
	hostile net0 $2
	traffic 12
	sleep 1
	back 20
	b=$?
	c=0
	[ $b = 0 ] && { [ -z "$3" ] || klog_has "$3"; } && c=1
	expect "net $1" "${3:+'$3' logged, }carrier and replies back within 20 s of the storm's end" \
		"${3:+logged $(yes_no klog_has "$3") ($(klog_count "$3") times), }state '$(net_state)', carrier $(carrier), replies $(replies $b)" $c
	klog_show 'pvio' 2
}

group_net() {
	modprobe pvio_net
	c=0
	net_up && c=1
	expect "net honest" "pvio_net binds, carrier on, the host answers" "interface '${IF:-none}', carrier $(carrier)" $c

	net_case cpl-id-range cpl-id-range 'completion for a'
	net_case cpl-dup cpl-dup 'completion for a'
	net_case cpl-unposted cpl-unposted 'tx completion for a packet not sent'
	net_case cpl-len cpl-len 'rx completion length outside its buffer'
	net_case mrg-nb-big mrg-nb-big 'rx num_buffers impossible'
	net_case mrg-nb-zero mrg-nb-zero 'rx num_buffers impossible'
	net_case cq-jump cq-jump 'impossible completion producer index'
	net_case cq-back cq-back 'impossible completion producer index'
	# The driver reads the SQ's consumer index only when its cached one
	# says the ring is full: 300 replies use the rx ring up.
	net_case sq-cons sq-cons 'impossible submission consumer index' 300 0.01
	net_case state-broken state-broken 'backend marked the device broken (reason 57005)'

	# A plausible lie: nothing to detect; one packet swallowed, no harm.
	klog_mark
	hostile net0 mrg-nb-lie
	traffic 5
	back 10
	b=$?
	c=0
	[ $b = 0 ] && c=1
	expect "net mrg-nb-lie" "num_buffers one too many cannot be told from the truth: the next packet is taken as the rest of it (dropped by IP as trailing bytes), then traffic goes on" \
		"state '$(net_state)', replies $(replies $b)" $c
	# An error status the protocol does not define: that packet dropped, counted.
	klog_mark
	e0=$(errors)
	hostile net0 cpl-status
	t0=$(now)
	while [ "$(errors)" = "$e0" ] && [ $(($(now) - t0)) -lt 1000 ]; do traffic 5; done
	back 10
	b=$?
	c=0
	[ $b = 0 ] && [ "$(net_state)" = live ] && [ "$(errors)" -gt "$e0" ] && c=1
	expect "net cpl-status" "a completion with status 0xdeadbeef dropped and counted as an error, the device live, traffic goes on" \
		"errors $e0 -> $(errors), state '$(net_state)', replies $(replies $b)" $c

	# A reset never acknowledged (an MTU change resets): buffers held.
	klog_mark
	hostile net0 reset-noack
	for m in 1400 1450 1400; do
		ip link set "$IF" mtu $m
		wait_until 5 klog_has 'not freeing' && break
	done
	sleep 1
	held=$(yes_no klog_has 'not freeing')
	car=$(carrier)
	hostile net0 off
	wait_until 10 klog_has 'backend acknowledged the reset'
	back 20
	b=$?
	c=0
	[ "$held" = yes ] && [ "$car" = 0 ] && [ $b = 0 ] && klog_has 'backend acknowledged the reset: freeing' && c=1
	expect "net reset-noack" "an MTU change whose reset is not acknowledged keeps every buffer ('not freeing ...'), carrier off; after the late echo (pviod scribbling over the rx buffers first) they are freed and replies come back" \
		"held $held, carrier $car while held, freed after the echo $(yes_no klog_has 'backend acknowledged the reset: freeing'), replies $(replies $b), mtu $(cat "/sys/class/net/$IF/mtu")" $c
	klog_show 'pvio|eth' 3
	ip link set "$IF" mtu 1500

	# A refused rx completion, then a reset not acknowledged: the refused
	# buffer is held with the rest (pviod scribbles over it before echoing).
	klog_mark
	hostile net0 reset-noack cpl-len
	t0=$(now)
	while ! klog_has 'not freeing' && [ $(($(now) - t0)) -lt 1000 ]; do
		traffic 5
		wait_until 3 klog_has 'not freeing'
	done
	held=$(yes_no klog_has 'not freeing')
	hostile net0 off
	back 20
	b=$?
	c=0
	[ "$held" = yes ] && [ $b = 0 ] && klog_has 'outside its buffer' && c=1
	expect "net reset-noack+cpl-len" "a refused rx completion ('rx completion length outside its buffer'), the reset not acknowledged and every buffer held, then after the late echo replies back" \
		"refusal logged $(yes_no klog_has 'outside its buffer'), held $held, replies $(replies $b)" $c
	klog_show 'pvio|eth' 3

	# The backend stops: heartbeat, completions, echoes.
	for m in hb-stop silent; do
		what="'backend not responding', carrier off ('backend-gone'), then carrier and replies back once pviod answers again"
		[ $m = silent ] && what="$what (the tx completions it dropped: the watchdog kicks, then resets the device)"
		klog_mark
		# Traffic at once, every 50 ms: some of it meets the backend
		# between the moment it goes silent and the carrier dropping.
		sync_host hostile net0 $m
		traffic 30 0.05 &
		wait_until 5 klog_has 'backend not responding'
		wait_until 5 [ "$(carrier)" = 0 ]
		car=$(carrier)
		st=$(net_state)
		wait
		hostile net0 off
		back 30
		b=$?
		c=0
		[ "$car" = 0 ] && [ $b = 0 ] && c=1
		expect "net $m" "$what" "state '$st', carrier $car, then replies $(replies $b)" $c
		klog_show 'pvio' 3
	done

	i0=$(irqs)
	net_storm irq-storm irq-storm ''
	echo "#   $(($(irqs) - i0)) interrupts on pvio's vectors during the storm"
	net_storm gen-storm gen-storm 'backend restarted'
	net_storm needs-reset-storm needs-reset-storm 'restored after backend restart'

	# A TCP sender through a storm of backend restarts: each freezes the
	# driver (its queues stopped, the stack queueing in the qdisc) and
	# restores it.  What the qdisc held must go out at the restore: the
	# sender does not retransmit a packet still queued below it, and
	# nothing else runs that queue's qdisc, so it would wait for good.
	# NAPI must not wake a queue frozen for the reset either (xmit then
	# ran on torn-down rings).  At least 10 restores while it runs.
	klog_mark
	sync_host host-recv 5301 $((256 * 1048576)) 51
	hostile net0 100 gen-storm
	r0=$(klog_count 'restored after backend restart')
	pvnet_xfer send "$HOST" 5301 $((256 * 1048576)) 51 --timeout 200 >/tmp/xfer.out 2>&1 &
	xp=$!
	t0=$(now)
	wait_until 90 sh -c "! kill -0 $xp 2>/dev/null"
	tb=$(($(now) - t0))
	during=$(($(klog_count 'restored after backend restart') - r0))
	xr=none
	kill -0 $xp 2>/dev/null || { wait $xp; xr=$?; }
	sed 's/^/#   /' /tmp/xfer.out
	c=0
	[ "$during" -ge 10 ] && [ "$xr" = 0 ] && c=1
	expect "net gen-storm+tcp" "a 256 MiB guest -> host TCP stream through at least 10 restores, done within 90 s" \
		"$during restores while it ran, sender rc $xr after $(cs "$tb") s" $c
	[ "$xr" = none ] && { kill $xp 2>/dev/null; wait $xp 2>/dev/null; }
	wait_until 30 [ "$(klog_count 'restored after backend restart')" -ge $((r0 + 95)) ]
	back 20
	klog_show 'pvio' 2
	net_storm cfg-storm cfg-storm 'link down'
	hostile net0 off

	# Absurd config, taken at the next probe.
	hostile net0 cfg-limits
	sleep 1
	klog_mark
	rmmod pvio_net
	modprobe pvio_net
	c=0
	wait_until 10 net_if >/dev/null && IF=$(net_if)
	probe=$(dmesg | grep -o 'pvio_net [0-9a-f:]*, .*' | tail -n 1)
	mtu=$(cat "/sys/class/net/$IF/mtu" 2>/dev/null)
	ip link set "$IF" mtu 1500 2>/dev/null
	net_up && echo "$probe" | grep -q 'mtu 68 (max 16000)' && c=1
	expect "net cfg-limits" "a probe with mtu 0, min/max_mtu 65535, 65535 queue pairs and a broadcast MAC clamps them (mtu 68, max 16000, 1 pair, a random MAC); at mtu 1500 the host answers" \
		"probe '$probe', mtu $mtu, then carrier $(carrier)" $c
	hostile net0 off
	klog_mark
	rmmod pvio_net
	c=0
	! net_if >/dev/null && c=1
	expect "net unload" "pvio_net unloads" "interface left: $(net_if || echo none)" $c
	klog_final net
}

# ---- balloon -----------------------------------------------------------------
#
# bal0: no free page reporting (page_poison=1 would turn it off anyway),
# cfg-limits armed in pviod's configuration: the first probe meets a
# target of 2^64-1 pages.  Afterwards every scenario changes the target
# ("PVIO-SYNC balloon-set SIZE"), so that the guest sends an inflate or a
# deflate that meets the lie; MemTotal shows the balloon.

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
# at_total KB: MemTotal within 4 MiB of KB
at_total() { mt=$(meminfo MemTotal); md=$((mt - $1)); [ $md -lt 0 ] && md=$((-md)); [ $md -le 4096 ]; }
bal_dev() { for d in /sys/bus/pvio/drivers/pvio_balloon/pvio*; do [ -e "$d" ] && { echo "$d"; return 0; }; done; return 1; }
bal_state() { cat "$(bal_dev)/state" 2>/dev/null; }
mib() { echo $(($1 / 1024)); }

# bal_case NAME WORDS DETECT MIB: arm WORDS, ask for a balloon of MIB:
# the driver logs DETECT, resets the device, and gets there anyway.
bal_case() {
	klog_mark
	hostile bal0 $2
	sync_host balloon-set "${4}M"
	t0=$(now)
	wait_until 5 klog_has "$3"
	wait_until 60 at_total $((T0 - $4 * 1024))
	t=$(($(now) - t0))
	c=0
	klog_has "$3" && at_total $((T0 - $4 * 1024)) && [ "$(bal_state)" = live ] && c=1
	expect "balloon $1" "'$3' logged, the device reset, the balloon at $4 MiB (MemTotal $(mib $((T0 - $4 * 1024))) MiB) within 60 s" \
		"logged $(yes_no klog_has "$3"), MemTotal $(mib "$(meminfo MemTotal)") MiB after $(cs "$t") s, state '$(bal_state)'" $c
	klog_show 'pvio' 3
}

group_balloon() {
	modprobe pvio
	T0=$(meminfo MemTotal)
	# The driver keeps 64 MiB, or RAM/16 above what the guest uses and
	# cannot reclaim (a debug kernel uses far more than Debian's): at
	# least what was in use here, plus RAM/32 for what this measure and
	# the driver's own may differ by.
	U0=$((T0 - $(meminfo MemAvailable)))
	LOW=$((U0 + T0 / 32))
	[ $LOW -lt $((64 * 1024)) ] && LOW=$((64 * 1024))
	echo "# MemTotal $(mib "$T0") MiB before pvio_balloon, $(mib "$U0") MiB of it in use: the guest must keep $(mib "$LOW") MiB"
	klog_mark
	modprobe pvio_balloon
	# cfg-limits from the configuration: target 2^64-1 pages.
	wait_until 10 klog_has 'more than this guest can give'
	t0=$(now)
	# Until MemTotal stops falling: the same for 2 s.
	prev=0 same=0
	settled() {
		mt=$(meminfo MemTotal)
		if [ "$mt" = "$prev" ]; then same=$((same + 1)); else same=0; fi
		prev=$mt
		[ $same -ge 20 ]
	}
	wait_until 90 settled
	t=$(($(now) - t0))
	kept=$(meminfo MemTotal)
	# What the driver said it would give, in 4 KiB pages.
	give=$(dmesg | sed -n 's/.*more than this guest can give; using \([0-9]*\).*/\1/p' | tail -n 1)
	keep=$((T0 - ${give:-0} * 4))
	run=no
	dd if=/dev/zero of=/tmp/bal-run bs=1M count=16 2>/dev/null && run=yes
	rm -f /tmp/bal-run
	hostile bal0 off
	wait_until 90 at_total "$T0"
	c=0
	# The bound follows what the guest uses when the driver reads its
	# config again: on a debug kernel KASAN's quarantine shrinks with
	# MemTotal and the balloon goes a little further than first said.
	[ -n "$give" ] && [ "$kept" -le $((keep + 4096)) ] && [ "$kept" -ge "$LOW" ] &&
		[ $run = yes ] && at_total "$T0" && c=1
	expect "balloon cfg-limits" "a target of 2^64-1 pages clamped ('more than this guest can give; using N'), the balloon inflating at least that far (MemTotal at most $(mib "$T0") MiB - N + 4 MiB) and the guest keeping at least $(mib "$LOW") MiB, a program writing 16 MiB to tmpfs, then everything back once the target is sane" \
		"N = ${give:-none} (MemTotal $(mib "$keep") MiB), MemTotal $(mib "$kept") MiB after $(cs "$t") s, the program ran: $run, then MemTotal $(mib "$(meminfo MemTotal)") of $(mib "$T0") MiB" $c
	klog_show 'pvio' 3

	bal_case cpl-id-range cpl-id-range 'completion for no outstanding request' 32
	bal_case cpl-dup cpl-dup 'completion for no outstanding request' 0
	bal_case cpl-unposted cpl-unposted 'completion for no outstanding request' 32
	bal_case cpl-len cpl-len 'completion for no outstanding request' 0
	bal_case cq-jump cq-jump 'impossible completion producer index' 32
	bal_case cq-back cq-back 'impossible completion producer index' 0
	bal_case state-broken state-broken 'backend marked the device broken (reason 57005)' 0
	bal_case cpl-status cpl-status 'host answered status' 32

	# A reset never acknowledged: queues stay down, the target waits.
	klog_mark
	hostile bal0 reset-noack cpl-dup
	sync_host balloon-set 0M
	wait_until 10 klog_has 'reset not acknowledged'
	sleep 2
	held=$(yes_no klog_has 'reset not acknowledged')
	hostile bal0 off
	t0=$(now)
	wait_until 60 at_total "$T0"
	t=$(($(now) - t0))
	c=0
	[ $held = yes ] && at_total "$T0" && [ "$(bal_state)" = live ] && c=1
	expect "balloon reset-noack" "a bad completion, the reset not acknowledged: queues down and tried again every 2 s; after the late echo the balloon deflates to 0" \
		"held $held, then MemTotal $(mib "$(meminfo MemTotal)") of $(mib "$T0") MiB $(cs "$t") s after the echo, state '$(bal_state)'" $c
	klog_show 'pvio' 3

	# Silent: the request gets no answer (10 s), the reset no echo.
	klog_mark
	hostile bal0 silent
	sync_host balloon-set 32M
	wait_until 20 klog_has 'no answer in'
	wait_until 5 klog_has 'reset not acknowledged'
	held=$(yes_no klog_has 'reset not acknowledged')
	st=$(bal_state)
	hostile bal0 off
	t0=$(now)
	wait_until 60 at_total $((T0 - 32 * 1024))
	t=$(($(now) - t0))
	c=0
	[ $held = yes ] && [ "$st" = backend-gone ] && at_total $((T0 - 32 * 1024)) && c=1
	expect "balloon silent" "'backend-gone', the inflate unanswered for 10 s, a reset not acknowledged; once pviod answers, the balloon at 32 MiB" \
		"state '$st', 'no answer' logged $(yes_no klog_has 'no answer in'), held $held, then MemTotal $(mib "$(meminfo MemTotal)") MiB $(cs "$t") s after" $c
	klog_show 'pvio' 4

	# Storms while the balloon moves.
	for m in irq-storm gen-storm needs-reset-storm cfg-storm; do
		klog_mark
		i0=$(irqs)
		hostile bal0 $m
		sync_host balloon-set 64M
		sleep 3
		sync_host balloon-set 16M
		t0=$(now)
		wait_until 60 at_total $((T0 - 16 * 1024))
		t=$(($(now) - t0))
		c=0
		at_total $((T0 - 16 * 1024)) && [ "$(bal_state)" = live ] && c=1
		expect "balloon $m" "the balloon follows its target through the storm: 16 MiB within 60 s" \
			"MemTotal $(mib "$(meminfo MemTotal)") MiB after $(cs "$t") s, state '$(bal_state)', $(($(irqs) - i0)) interrupts, $(klog_count 'restored after backend restart') restores, $(klog_count 'backend restarted') generation changes" $c
	done
	hostile bal0 off

	# hb-stop: the balloon keeps working, the state says backend-gone.
	klog_mark
	hostile bal0 hb-stop
	wait_until 5 klog_has 'backend not responding'
	st=$(bal_state)
	sync_host balloon-set 0M
	wait_until 60 at_total "$T0"
	hostile bal0 off
	c=0
	[ "$st" = backend-gone ] && at_total "$T0" && c=1
	expect "balloon hb-stop" "'backend-gone' while the heartbeat stands still, the balloon still deflating to 0" \
		"state '$st', MemTotal $(mib "$(meminfo MemTotal)") of $(mib "$T0") MiB" $c

	klog_mark
	rmmod pvio_balloon
	c=0
	! bal_dev >/dev/null && [ "$(meminfo MemTotal)" = "$T0" ] && c=1
	expect "balloon unload" "pvio_balloon unloads, every page back" "MemTotal $(mib "$(meminfo MemTotal)") of $(mib "$T0") MiB" $c
	klog_final balloon
}

# ---- main --------------------------------------------------------------------

G=$(cmdline_arg pvio_hostile.group)
: >/tmp/klog
echo "# group $G"
case $G in
blk) group_blk ;;
net) group_net ;;
balloon) group_balloon ;;
*) nok "unknown group '$G'" ;;
esac
echo "1..$n"
exit "$fail"
