#!/bin/bash
# tests/vm/kills.sh - the kill campaign inside a real guest (issue 14):
# pviod's worker SIGKILLed again and again while the guest's drivers have
# verified I/O of every class in flight.
#
#  +-- host ------------------------------------------------------------+
#  |  QEMU (TCG) guest, 768 MiB          namespace pvkl-$$              |
#  |   pvio_blk  /dev/pvda <= disk0: 256 MiB image, cache = none        |
#  |   pvio_net  10.77.11.2 <=========> TAP pvkl$$ 10.77.11.1/24        |
#  |   pvio_balloon: cycles 0 <-> 96 MiB, 128 MiB of held pattern       |
#  |   fio: random overwrites, verified  pvnet_xfer recv: one TCP       |
#  |   pvnet_xfer send: one TCP stream   stream, every byte checked     |
#  +--------------------------------------------------------------------+
#
# One worker serves the guest's three devices, so every kill lands on all
# three.  KILLS (default 9) planned kills, in turn at three moments:
#
#   io        the worker is stopped (SIGSTOP) and its io_uring rings
#             read (/proc/PID/fdinfo): killed only if block requests are
#             submitted to the host and not completed, and the TAP saw the
#             guest's stream in the 0.1 s before; otherwise it is let go
#             and tried again a moment later (a miss, counted by reason)
#   reset     after a kill as above, the worker that replaces it is killed
#             0-60 ms after its first answer, when it answers with one of
#             the guest's devices not yet running again (the guest is
#             resetting and setting its devices up)
#   takeover  after a kill as above, the worker that replaces it is killed
#             as soon as it exists; it counts only if pviod's log never
#             shows it taking the window over (its generation)
#
# Then STALLS (default 3) stalls: the worker SIGSTOPped with block
# requests submitted to the host and the stream flowing (as for an io
# kill), held for a log-uniform STALL_MIN_MS..STALL_MAX_MS (default
# 200..2000), then SIGCONT; the same worker must serve the guest again
# (no restart), its three devices running and a block request served
# (time printed as p50, p99, max).  A guest may reset a device meanwhile
# (its tx watchdog after 10 s, its block timeout after 30 s): counted from
# pviod's log, not a failure.
#
# 60 s without landing the kill a moment asks for fails the campaign: a
# backend that no longer has I/O in flight cannot pass by never being
# killed.  After each planned kill: time until a new worker answers with
# the three devices running and a block request served (printed as p50,
# p99, max per moment).  Meanwhile the balloon's target moves between 0
# and 96 MiB at every kill.
#
# The guest (tests/vm/guest/kills.sh) checks: every fio job verified what
# it wrote (overlapping random writes), the TCP stream ran on one
# connection, no I/O error, requests in flight went round again, its
# 128 MiB of held pattern never changed, MemTotal follows the balloon
# exactly (64 MiB, then 0), a clean kernel log.  The host: the stream
# arrived whole, the image holds what the guest last wrote, pviod's
# supervisor lived through it with no sanitizer report.
# make check runs 9 kills (3 at each moment) and 3 stalls of 0.2-2 s; make
# check-faults 201 kills and 20 stalls of 1-40 s.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
KILLS=${KILLS:-9}
STALLS=${STALLS:-3}
STALL_MIN_MS=${STALL_MIN_MS:-200}
STALL_MAX_MS=${STALL_MAX_MS:-2000}
TMP=$(mktemp -d /tmp/pvio-vmkl.XXXXXX)
NS=pvkl-$$
TAP=pvkl$$
CTL=$TMP/control.sock
SOCK=$TMP/guest.sock
RAM=/dev/shm/pvio-vmkl-$$
LOG=$BUILD/kills.log
CGROUP=/sys/fs/cgroup/blkio/pvio-vmkl-$$
IOPS=${KILLS_DISK_IOPS:-600}
VM_PID=
RECV_PID=
NS_MADE=
CG_MADE=
CAMPAIGN=no
STALLED=no
STALL_LOG0=0
n=0
rc=0

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/kills-pviod.log"
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	[ -n "$CG_MADE" ] && rmdir "$CGROUP" 2>/dev/null
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

# A disk as slow as many are: pviod's reads and writes of the image are
# throttled to IOPS a second (a blkio cgroup for its processes), so that
# the guest's requests wait at the host's disk, where a kill must find
# them (unthrottled, this machine's disk finished them too fast: the
# worker held one in 2% of the tries).  THROTTLE says what it did.
throttle() {
	local mm sys
	mm=$(stat -c '%Hd:%Ld' "$TMP")
	sys=/sys/dev/block/$mm
	[ -f "$sys/partition" ] && mm=$(cat "$(dirname "$(readlink -f "$sys")")/dev")
	if [ ! -d "${CGROUP%/*}" ] || ! mkdir "$CGROUP" 2>/dev/null; then
		THROTTLE="no blkio cgroup (v1): the disk is not throttled"
		return
	fi
	CG_MADE=1
	if echo "$mm $IOPS" >"$CGROUP/blkio.throttle.write_iops_device" &&
		echo "$mm $IOPS" >"$CGROUP/blkio.throttle.read_iops_device"; then
		THROTTLE="pviod's I/O on disk $mm throttled to $IOPS reads and $IOPS writes a second"
	else
		THROTTLE="blkio.throttle refuses disk $mm: not throttled"
	fi
}

worker() { "$O/pvioctl" -s "$CTL" worker-pid vm 2>/dev/null || true; }
# The last generation a worker published (took the window over with).
generation() {
	sed -n 's/.*vm: took over window, generation \([0-9]*\)$/\1/p' "$TMP/pviod.log" |
		tail -n 1 | grep . || echo 0
}
now_ms() { date +%s%3N; }
rand() { echo $((RANDOM % ($2 - $1 + 1) + $1)); }	# rand LO HI
sleep_ms() { sleep "$(printf '0.%03d' "$1")"; }	# < 1000

# Block requests the stopped worker $1 has submitted to the host and not
# completed: over its io_uring rings, CachedSqHead - CachedCqTail.
uring_inflight() {
	local f sum=0 h t
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "anon_inode:[io_uring]" ] || continue
		h=$(sed -n 's/^CachedSqHead:\t*//p' "/proc/$1/fdinfo/${f##*/}" 2>/dev/null)
		t=$(sed -n 's/^CachedCqTail:\t*//p' "/proc/$1/fdinfo/${f##*/}" 2>/dev/null)
		[ -n "$h" ] && [ -n "$t" ] && sum=$((sum + ((h - t) & 0xffffffff)))
	done
	echo "$sum"
}
# Frames from the guest on the TAP (it lives in the test's namespace).
tap_rx() { ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/rx_packets"; }

# The guest's three devices as the worker sees them: "S S S R", the
# states of disk0, net0, bal0 and disk0's requests; "" while none answers.
dev_states() {
	perl -MIO::Socket::UNIX -e '
		my ($p) = @ARGV; my @out;
		for my $d (qw(disk0 net0 bal0)) {
			my $s = IO::Socket::UNIX->new(Peer => $p) or exit 0;
			print $s "status vm $d\n";
			my $l = <$s> // ""; $l =~ /"state":"([a-z-]+)"/ or exit 0;
			push @out, $1;
			if ($d eq "disk0") { my $r = 0; $r += $1 while $l =~ /"requests":(\d+)/g; $r0 = $r; }
		}
		print "@out $r0\n";' "$CTL"
}

declare -A LANDED MISS RECOV
KILLED=0		# SIGKILLs in all, planned or not
INFLIGHT=()		# block requests in flight at each io kill

miss() { MISS[$1]=$((${MISS[$1]:-0} + 1)); }

# io_kill: stop the worker with block requests in flight and the stream
# flowing, then kill it; 0 once it landed, 1 after 60 s of misses.
io_kill() {
	local t0 w r0 r1 inf
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 60000 ]; do
		w=$(worker)
		if [ -z "$w" ] || [ "$w" = 0 ]; then miss "io: no worker yet"; sleep 0.05; continue; fi
		r0=$(tap_rx)
		sleep_ms "$(rand 80 160)"
		kill -STOP "$w" 2>/dev/null || { miss "io: worker gone"; continue; }
		r1=$(tap_rx)
		inf=$(uring_inflight "$w")
		if [ "$inf" -gt 0 ] && [ "$r1" -gt "$r0" ]; then
			kill -KILL "$w"
			KILLED=$((KILLED + 1))
			INFLIGHT+=("$inf")
			KILL_AT=$(now_ms)
			KILLED_PID=$w
			return 0
		fi
		kill -CONT "$w"
		[ "$inf" -gt 0 ] || miss "io: no block request in flight"
		[ "$r1" -gt "$r0" ] || miss "io: no frame from the guest in 0.1 s"
	done
	return 1
}

# watch takeover|reset OLD: in one process, polling the control socket
# without a pause, kill the worker that replaces OLD: (takeover) as soon
# as the supervisor names it; (reset) once it answers with one of the
# guest's devices not running, 0-60 ms (at random) after its first
# answer.  Prints "killed PID [STATES]", or
# "recovered STATES" (reset: every device ran before a kill could land),
# or "gone"; nothing after 30 s.
watch() {
	perl -MIO::Socket::UNIX -MJSON::PP -MTime::HiRes=time -e '
		my ($ctl, $mode, $old) = @ARGV;
		sub ask { my $s = IO::Socket::UNIX->new(Peer => $ctl) or return undef;
			print $s "$_[0]\n"; my $l = <$s>; return undef unless defined $l;
			my $j = eval { decode_json($l) }; return $j; }
		sub wpid { my $j = ask("workers") or return 0;
			for my $g (@{$j->{guests} // []}) { return $g->{worker_pid} if $g->{name} eq "vm" } 0 }
		my $t0 = time; my $w = 0;
		while (time - $t0 < 30) {
			$w = wpid(); last if $w && $w != $old;
		}
		exit 0 unless $w && $w != $old;
		if ($mode eq "takeover") { kill("KILL", $w) and print "killed $w\n"; exit 0 }
		my ($first, $delay) = (0, rand(0.06));
		while (time - $t0 < 30) {
			kill(0, $w) or do { print "gone\n"; exit 0 };
			my $j = ask("list") or next;
			my ($g) = grep { $_->{name} eq "vm" } @{$j->{guests} // []};
			next unless $g && ($g->{worker_pid} // 0) == $w && ref $g->{devices};
			my %st = map { $_->{name} => $_->{state} } @{$g->{devices}};
			next unless keys %st == 3;
			my $states = join " ", map { $st{$_} } qw(disk0 net0 bal0);
			my $busy = grep { $_ ne "running" } values %st;
			# Somewhere in the guest reset: 0-60 ms after the first answer.
			$first ||= time;
			next if $busy && time - $first < $delay;
			if ($busy) {
				kill("KILL", $w) and print "killed $w $states\n"; exit 0;
			}
			print "recovered $states\n"; exit 0;
		}' "$CTL" "$1" "$2"
}

# After a kill: until a worker answers with the three devices running and
# a block request served; prints the ms since KILL_AT ("" after 120 s).
recovered() {
	local s
	while [ $(($(now_ms) - KILL_AT)) -lt 120000 ]; do
		read -r -a s <<<"$(dev_states)"
		if [ "${#s[@]}" = 4 ] && [ "${s[0]}" = running ] && [ "${s[1]}" = running ] &&
			[ "${s[2]}" = running ] && [ "${s[3]}" -gt 0 ]; then
			echo $(($(now_ms) - KILL_AT))
			return
		fi
		sleep 0.02
	done
}

# One planned kill at moment $1; 0 once landed.
kill_at() {
	local m=$1 t0 g out
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 60000 ]; do
		# The generation the next worker takes the window over with.
		g=$(($(generation) + 1))
		io_kill || return 1
		[ "$m" = io ] && return 0
		out=$(watch "$m" "$KILLED_PID")
		case $out in
		killed*)
			KILLED=$((KILLED + 1))
			KILL_AT=$(now_ms) ;;
		recovered*) miss "reset: the guest had recovered before the kill"; recovered >/dev/null; continue ;;
		*) miss "$m: no successor to kill (${out:-none in 30 s})"; recovered >/dev/null; continue ;;
		esac
		case $m in
		takeover)
			# Landed if it never published its generation.
			sleep 0.3
			grep -q "vm: took over window, generation $g\$" "$TMP/pviod.log" || return 0
			miss "takeover: it had taken the window over" ;;
		reset)
			read -r _ _ s <<<"$out"
			RESET_STATES+=("$s")
			return 0 ;;
		esac
		recovered >/dev/null
	done
	return 1
}

campaign() {
	local i m t ok=0 target
	RESET_STATES=()
	for i in $(seq "$KILLS"); do
		case $((i % 3)) in 1) m=io ;; 2) m=reset ;; 0) m=takeover ;; esac
		# The balloon moves at every kill: 96 MiB out, then back.
		target=$(((i % 2) * 96))M
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$target" >/dev/null 2>&1 || true
		sleep_ms "$(rand 100 900)"
		if ! kill_at "$m"; then
			echo "# host: kill $i ($m): no kill landed in 60 s"
			return 1
		fi
		LANDED[$m]=$((${LANDED[$m]:-0} + 1))
		t=$(recovered)
		if [ -z "$t" ]; then
			echo "# host: kill $i ($m): the guest's devices did not come back within 120 s"
			dev_states | sed 's/^/# host: states /'
			return 1
		fi
		RECOV[$m]="${RECOV[$m]:-} $t"
		ok=$((ok + 1))
		[ $((i % 10)) = 0 ] && echo "# host: $i kills planned and landed, $KILLED SIGKILLs in all"
	done
	[ "$ok" = "$KILLS" ]
}

# log_uniform LO HI: a length in ms between LO and HI, log-uniform
log_uniform() {
	awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { srand(r); printf "%d\n", exp(log(a) + rand() * (log(b) - log(a))) }'
}

STALL_BACK=		# ms from SIGCONT until the guest was served again
STALL_HELD=		# ms each stall lasted
STALL_INFLIGHT=		# block requests in flight at each stall

# One stall: the worker stopped with block requests in flight and the
# stream flowing, held $1 ms, continued; 0 once the same worker serves
# the guest again.
stall() {
	local held=$1 t0 w r0 r1 inf req0 s t=
	t0=$(now_ms)
	while :; do
		[ $(($(now_ms) - t0)) -lt 60000 ] || { echo "# host: no stall landed in 60 s"; return 1; }
		w=$(worker)
		if [ -z "$w" ] || [ "$w" = 0 ]; then miss "stall: no worker yet"; sleep 0.05; continue; fi
		read -r -a s <<<"$(dev_states)"
		req0=${s[3]:-0}
		r0=$(tap_rx)
		sleep_ms "$(rand 80 160)"
		kill -STOP "$w" 2>/dev/null || { miss "stall: worker gone"; continue; }
		r1=$(tap_rx)
		inf=$(uring_inflight "$w")
		[ "$inf" -gt 0 ] && [ "$r1" -gt "$r0" ] && break
		kill -CONT "$w"
		[ "$inf" -gt 0 ] || miss "stall: no block request in flight"
		[ "$r1" -gt "$r0" ] || miss "stall: no frame from the guest in 0.1 s"
	done
	sleep "$(awk -v m="$held" 'BEGIN { printf "%.3f", m / 1000 }')"
	kill -CONT "$w"
	KILL_AT=$(now_ms)
	while [ $(($(now_ms) - KILL_AT)) -lt 120000 ]; do
		read -r -a s <<<"$(dev_states)"
		if [ "${#s[@]}" = 4 ] && [ "${s[0]}" = running ] && [ "${s[1]}" = running ] &&
			[ "${s[2]}" = running ] && [ "${s[3]}" -gt "$req0" ]; then
			t=$(($(now_ms) - KILL_AT))
			break
		fi
		sleep 0.02
	done
	if [ -z "$t" ]; then
		echo "# host: stall of $held ms: the guest was not served again within 120 s"
		dev_states | sed 's/^/# host: states /'
		return 1
	fi
	if [ "$(worker)" != "$w" ]; then
		echo "# host: stall of $held ms: worker $w was replaced by $(worker)"
		return 1
	fi
	STALL_BACK+=" $t"
	STALL_HELD+=" $held"
	STALL_INFLIGHT+=" $inf"
}

stalls() {
	local i
	for i in $(seq "$STALLS"); do
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set $(((i % 2) * 96))M >/dev/null 2>&1 || true
		sleep_ms "$(rand 100 900)"
		stall "$(log_uniform "$STALL_MIN_MS" "$STALL_MAX_MS")" || return 1
		[ $((i % 10)) = 0 ] && echo "# host: $i stalls planned and landed"
	done
	true
}

# p50/p99/max of a list of numbers
pct() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
	i50 = int((NR + 1) / 2); i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1
	printf "%d / %d / %d ms", v[i50], v[i99], v[NR] }'; }

act() {
	local what=$1 t0
	shift
	case $what in
	host-recv)
		ip netns exec "$NS" "$O/vm/pvnet_xfer" recv "$1" 0 "$2" --timeout 3600 \
			>"$TMP/recv.out" 2>&1 &
		RECV_PID=$!
		echo "# host: receiving on port $1" ;;
	campaign)
		t0=$(now_ms)
		if campaign; then CAMPAIGN=yes; fi
		CAMPAIGN_S=$((($(now_ms) - t0) / 1000))
		echo "# host: campaign $CAMPAIGN: $KILLED SIGKILLs in ${CAMPAIGN_S} s"
		STALL_LOG0=$(wc -l <"$TMP/pviod.log")
		t0=$(now_ms)
		if [ "$CAMPAIGN" = yes ] && stalls; then STALLED=yes; fi
		echo "# host: stalls $STALLED: $(wc -w <<<"$STALL_HELD") in $((($(now_ms) - t0) / 1000)) s"
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set 0 >/dev/null 2>&1 || true
		# The guest waits for this to end its load.
		"$O/pvioctl" -s "$CTL" blk-resize vm disk0 260M | sed 's/^/# host: /' ;;
	balloon)
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$1" --wait --timeout 120 2>&1 | sed 's/^/# host: /' || true ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$KMOD/frontend/pvio_blk.ko" \
	"$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl" "$O/vm/pvnet_xfer" "$O/vm/pvbal_mem" \
	/usr/bin/fio; do
	[ -f "$f" ] || { echo "not ok - kills: $f not built or not installed (make all modules; tools/deps.sh)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP kills: needs root (network namespace, TAP, /proc of pviod's workers)"; echo "1..1"; exit 0; }
mkdir -p "$BUILD"
rm -f "$LOG"
# fio is dynamic (it pulls ~80 MiB of libraries): left uncompressed.
PVIO_INITRD_RAW=1 "$VM/mkinitramfs.sh" "$BUILD/kills.cpio" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_blk.ko" \
	--module "$KMOD/frontend/pvio_net.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--kmod crc32c_generic --bin /usr/bin/fio --bin "$O/vm/pvnet_xfer" --bin "$O/vm/pvbal_mem" \
	--file "$HERE/guest/handover.sh:/tests/handover.sh" \
	--file "$HERE/guest/kills.sh:/tests/kills.sh" 2>/dev/null
truncate -s 256M "$TMP/disk0.img"
ip netns add "$NS"
NS_MADE=1
ip netns exec "$NS" ip link set lo up
cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100
# Killed hundreds of times a few minutes: no hold after ten deaths.
restart_limit = 100000

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 768M
machine = pc

[device vm disk0]
type = blk
path = $TMP/disk0.img
cache = none
serial = disk0

[device vm net0]
type = net
tap = $TAP

[device vm bal0]
type = balloon
floor = 256M
INI
throttle
echo "# $THROTTLE"
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"
# The supervisor forks every worker, so they are in the cgroup too.
if [ -n "$CG_MADE" ]; then
	echo "$PVIOD_PID" >"$CGROUP/cgroup.procs"
	w=$(worker)
	[ -n "$w" ] && [ "$w" != 0 ] && echo "$w" >"$CGROUP/cgroup.procs"
fi
ip netns exec "$NS" ip addr add 10.77.11.1/24 dev "$TAP"
VECS=$(sed -n 's/.*QEMU: vectors=\([0-9]*\).*/\1/p' "$TMP/pviod.log" | head -n 1)
"$VM/vm.sh" run --initrd "$BUILD/kills.cpio" --script /tests/kills.sh \
	--mem 768 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-$((600 + KILLS * 8 + STALLS * (STALL_MAX_MS / 1000 + 5)))}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=${VECS:-6}" &
VM_PID=$!
vm_follow "$VM_PID" "$LOG"
vrc=0
wait "$VM_PID" || vrc=$?
VM_PID=
vm_guest_results "$LOG"
host "the guest ran to its end, without a reboot (vm.sh: $vrc; 124 is a timeout, 125 a crash)" "[ $vrc -lt 124 ]"
miss_s=
for k in "${!MISS[@]}"; do miss_s+="${miss_s:+, }$k: ${MISS[$k]}"; done
echo "# kills: ${LANDED[io]:-0} during I/O, ${LANDED[reset]:-0} during the guest's reset, ${LANDED[takeover]:-0} before the takeover; $KILLED SIGKILLs in all; tries that missed: ${miss_s:-none}"
echo "# block requests in flight at the kills during I/O: $(pct "${INFLIGHT[*]}" | sed 's/ ms//g') (p50 / p99 / max)"
echo "# device states at the kills during a reset: $(printf '%s\n' "${RESET_STATES[@]}" | sort | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s x%d", s, $0, c; s = ";" }')"
for m in io reset takeover; do
	echo "# back after a kill $m (three devices running, a block request served): $(pct "${RECOV[$m]:-}") (p50 / p99 / max)"
done
host "the campaign landed $KILLS planned kills, each a SIGKILL with verified I/O of every class in flight ($((${LANDED[io]:-0} + ${LANDED[reset]:-0} + ${LANDED[takeover]:-0})), $KILLED SIGKILLs in all)" \
	"[ '$CAMPAIGN' = yes ]"
held_s=$(tr ' ' '\n' <<<"$STALL_HELD" | awk '{ s += $1 } END { printf "%.1f", s / 1000 }')
echo "# stalls: $(wc -w <<<"$STALL_HELD") of $(pct "$STALL_HELD") (p50 / p99 / max), $held_s s in all; block requests in flight at each: $(pct "$STALL_INFLIGHT" | sed 's/ ms//g')"
echo "# back after a stall (the same worker, three devices running, a block request served): $(pct "$STALL_BACK") (p50 / p99 / max)"
echo "# devices the guest reset during the stalls: $(tail -n +$((STALL_LOG0 + 1)) "$TMP/pviod.log" | grep -c 'reset by guest' || true)"
host "the campaign landed $STALLS stalls of ${STALL_MIN_MS}-${STALL_MAX_MS} ms, each a SIGSTOP with verified I/O of every class in flight, the same worker serving after each (got $(wc -w <<<"$STALL_HELD"))" \
	"[ '$STALLED' = yes ] && [ $(wc -w <<<"$STALL_HELD") = $STALLS ]"
rrc=0
[ -n "$RECV_PID" ] && { vm_wait_bounded "$RECV_PID" 60 || rrc=$?; }
RECV_PID=
sed 's/^/# host: /' "$TMP/recv.out" 2>/dev/null || true
sent=$(sed -n 's/^# sent: pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
got=$(sed -n 's/^pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$TMP/recv.out" 2>/dev/null)
host "one TCP stream through every kill arrived whole and verified: sent ${sent:-?} bytes, received ${got:-?} (receiver rc $rrc)" \
	"[ $rrc = 0 ] && [ -n '$got' ] && [ '${sent:-x}' = '$got' ]"
want=$(sed -n 's/^# image sha: \([0-9a-f]*\).*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
have=$(dd if="$TMP/disk0.img" bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
host "the image holds what the guest last wrote and read back (guest ${want:-?}, image $have)" "[ '${want:-x}' = '$have' ]"
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
if [ "$rc" != 0 ] || [ "$vrc" != 0 ]; then
	echo "# console log $LOG; pviod log follows"
	grep -vE 'took over|window ready|serving peer|worker (serving|stopped|killed|.* started)|RAM mapped' "$TMP/pviod.log" | tail -n 30 | sed 's/^/# pviod: /'
fi
exit $rc
