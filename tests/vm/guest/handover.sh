#!/bin/sh
# tests/vm/guest/handover.sh - what the guest halves of the hand-over tests
# (kills.sh, upgrade.sh, migrate.sh: a backend replaced under load) share;
# sourced after /tests/tap.sh as /tests/handover.sh (busybox sh).
#
# The caller sets D (the disk's name) and B (its node) first.
#   sync_host ARGS...     a request to the host's half (a console line)
#   now                   uptime in centiseconds
#   gen, blk_state, net_state, bal_state, memtotal, iosect, txb, rxb
#                         the devices' generation and states, MemTotal (kB),
#                         sectors read and written, bytes sent and received
#   wait_devices [balloon]
#                         wait up to 10 s for the disk, pvio_net's
#                         interface (into IF) and, when asked, a live
#                         balloon: one result; without them, the end
#   net_up ME HOST        address and link up, one result for a ping
#   fio_loop NAME SLOTS MIB FIO_ARGS...
#                         fio jobs one after the other until /tmp/stop,
#                         job i at 64 + (i % SLOTS) * MIB MiB with seed i,
#                         crc32c verified (fatal); "i rc" in /tmp/fio.rc
#   wait_flowing RX PIDS...
#                         wait (at most 10 s) until block I/O and sent
#                         bytes (and received ones when RX is 1) moved in
#                         0.2 s with every PID alive: flowing=yes or no,
#                         s0 s1 t0 t1 r0 r1 the samples
#   fio_verdict PID MIN WHAT
#                         stop the fio loop PID: one result, at least MIN
#                         jobs, none failed
#   since                 the kernel log since mark=$(dmesg | wc -l)
#   no_io_errors, requeued
#                         one result: no I/O error since mark; the block
#                         requests requeued since mark
#   last_write WHAT       16 MiB written and read back (one result), its
#                         sha for the host ("# image sha: ...")

# n and fail are tap.sh's, mark is the caller's.
# shellcheck disable=SC2154
sync_host() { echo "PVIO-SYNC $*"; }
now() { read -r u _ </proc/uptime; echo "${u%.*}${u#*.}"; }
gen() { cat "/sys/block/$D/device/generation"; }
blk_state() { cat "/sys/block/$D/device/state" 2>/dev/null; }
net_state() { cat "/sys/class/net/$IF/device/state" 2>/dev/null; }
bal_state() {
	for d in /sys/bus/pvio/devices/*; do
		[ "$(cat "$d/type" 2>/dev/null)" = balloon ] && { cat "$d/state"; return 0; }
	done
	echo none
}
memtotal() { awk '/^MemTotal:/ { print $2 }' /proc/meminfo; }
# sectors read and written: fio verifies (reads) after each job's writes
iosect() { awk '{ print $3 + $7 }' "/sys/block/$D/stat"; }
txb() { cat "/sys/class/net/$IF/statistics/tx_bytes"; }
rxb() { cat "/sys/class/net/$IF/statistics/rx_bytes"; }

wait_devices() {
	want=$*
	w=0
	IF=
	while { [ ! -b "$B" ] || ! IF=$(pvio_net_if) ||
		{ [ -n "$want" ] && [ "$(bal_state)" != live ]; }; } && [ $w -lt 100 ]; do
		sleep 0.1
		w=$((w + 1))
	done
	what="pvio_blk's disk $D, pvio_net's interface '$IF'"
	[ -n "$want" ] && what="$what and pvio_balloon's device ('$(bal_state)')"
	if [ ! -b "$B" ] || [ -z "$IF" ] || { [ -n "$want" ] && [ "$(bal_state)" != live ]; }; then
		nok "$what are there"
		dmesg | grep pvio | tail -n 10 | sed 's/^/# /'
		echo "1..$n"
		exit "$fail"
	fi
	ok "$what are there"
}

net_up() {
	ip addr add "$1/24" dev "$IF"
	ip link set "$IF" up
	w=0
	while ! ping -c 1 -W 1 "$2" >/dev/null 2>&1 && [ $w -lt 20 ]; do w=$((w + 1)); done
	check "pvio_net's interface $IF reaches the host" ping -c 1 -W 2 "$2"
}

fio_loop() {
	name=$1 slots=$2 mib=$3
	shift 3
	rm -f /tmp/fio.rc
	i=0
	while [ ! -f /tmp/stop ] && [ -b "$B" ]; do
		i=$((i + 1))
		fio --name="$name$i" --filename="$B" --ioengine=libaio --direct=1 \
			--rw=randwrite --bs=4k --iodepth=16 --offset=$((64 + i % slots * mib))M \
			--randseed=$i --rate_iops=,1500 --verify=crc32c --do_verify=1 \
			--verify_fatal=1 --output-format=terse --terse-version=3 "$@" \
			>/tmp/fio$i.out 2>&1
		r=$?
		echo "$i $r" >>/tmp/fio.rc
		[ $r = 0 ] || sed "s/^/# fio job $i: /" /tmp/fio$i.out | tail -n 6
	done
}

wait_flowing() {
	rx=$1
	shift
	flowing=no
	r0=0 r1=0
	w=0
	while [ $flowing = no ] && [ $w -lt 50 ]; do
		s0=$(iosect)
		t0=$(txb)
		[ "$rx" = 1 ] && r0=$(rxb)
		sleep 0.2
		s1=$(iosect)
		t1=$(txb)
		[ "$rx" = 1 ] && r1=$(rxb)
		flowing=yes
		if [ "$s1" -le "$s0" ] || [ "$t1" -le "$t0" ]; then flowing=no; fi
		if [ "$rx" = 1 ] && [ "$r1" -le "$r0" ]; then flowing=no; fi
		for p in "$@"; do kill -0 "$p" 2>/dev/null || flowing=no; done
		w=$((w + 1))
	done
}

fio_verdict() {
	w=0
	while kill -0 "$1" 2>/dev/null && [ $w -lt 1200 ]; do sleep 0.1; w=$((w + 1)); done
	kill -0 "$1" 2>/dev/null && echo "# the fio loop did not stop within 120 s"
	jobs=$(wc -l </tmp/fio.rc)
	bad=$(awk '$2 != 0' /tmp/fio.rc | wc -l)
	good=0
	[ "$jobs" -ge "$2" ] && [ "$bad" = 0 ] && ! kill -0 "$1" 2>/dev/null && good=1
	check "every fio job $3 ($jobs jobs, $bad failed)" [ $good = 1 ]
}

since() { dmesg | tail -n +$((mark + 1)); }
no_io_errors() {
	ioerr=$(since | grep -c 'I/O error')
	check "no I/O error in the kernel log (got $ioerr)" [ "$ioerr" = 0 ]
}
requeued() {
	since | sed -n 's/.*after reset: \([0-9]*\) request(s) requeued.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }'
}

last_write() {
	dd if=/dev/urandom of=/tmp/last bs=1M count=16 2>/dev/null
	dd if=/tmp/last of="$B" bs=1M count=16 oflag=direct conv=fsync 2>/dev/null
	rsha=$(dd if="$B" bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	check "16 MiB written $1 read back intact" [ "$rsha" = "$(sha256sum </tmp/last | cut -d' ' -f1)" ]
	echo "# image sha: $rsha"
}
