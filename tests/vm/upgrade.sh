#!/bin/bash
# tests/vm/upgrade.sh - pviod replaced ten times under a running guest,
# four ways (issue 16; backend/core/handover.h, backend/core/fdstore.h).
#
#  +-- host ------------------------------------------------------------+
#  |  QEMU (TCG) guest, 512 MiB          namespace pvup-$$              |
#  |   pvio_blk  /dev/pvda <= disk0: 256 MiB image, cache = none        |
#  |   pvio_net  10.77.10.2 <=========> TAP pvup$$ 10.77.10.1/24        |
#  |   pvio_balloon: 64 MiB              bal0: target set once          |
#  |   fio: verified random writes       pvnet_xfer recv: one TCP       |
#  |   pvnet_xfer send: one TCP stream   stream, every byte checked     |
#  +--------------------------------------------------------------------+
#
# The guest (tests/vm/guest/upgrade.sh) keeps verified block writes (fio,
# one job after another, each verifying what it wrote) and one verified
# TCP stream to the host going, and asks for ten upgrades, one at a time
# ("PVIO-SYNC upgrade I").  pviod runs as pviod.service, as shipped, under
# a systemd of the test's own (tools/vm/systemd.sh) with its fd store,
# and the host replaces it in turn: an exec through "pvioctl upgrade"
# (I = 1, 5, 9), "systemctl restart", a stop and a start through the fd
# store (I = 2, 6, 10), an exec through SIGUSR2 (I = 3, 7), and a crash,
# SIGKILL to the supervisor, after which systemd starts it again
# (Restart=on-failure) with the fd store's fds (I = 4, 8).  The host says
# when pviod is back.  The guest checks that each landed with I/O under
# way (its devices' generation moved while fio ran and the stream
# flowed), that requests in flight went round again, that no fio job
# failed, that the stream went on over the same connection, and that the
# balloon of 64 MiB set before the first upgrade stayed as it was through
# every one (MemTotal, and pviod's target and size at the end); the host
# checks that the supervisor's PID stayed across each exec and changed at
# each restart and crash, that systemd restarted it twice by itself, that
# the fd store holds as many fds as pviod says it stored, that the stream
# arrived whole (as many bytes as the guest sent, each one checked), that
# the disk image holds what the guest wrote, and that pviod (each of its
# six processes) logged no sanitizer report and the last exited with 0.
# A guest reboot ends QEMU (-no-reboot): the guest must run to its end.
# Everything started here is stopped by PID or through its systemd.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
# shellcheck source-path=SCRIPTDIR source=../../tools/vm/systemd.sh
. "$VM/systemd.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
TMP=$(mktemp -d /tmp/pvio-vmup.XXXXXX)
NS=pvup-$$
TAP=pvup$$
CTL=$TMP/control.sock
SOCK=$TMP/guest.sock
RAM=/dev/shm/pvio-vmup-$$
LOG=$BUILD/upgrade.log
VM_PID=
RECV_PID=
NS_MADE=
UNIT=pviod-up$$
UPGRADES=0
PID_KEPT=0		# execs that kept the supervisor's PID
PID_NEW=0		# restarts and crashes after which another PID serves
AUTO=0			# crashes after which systemd restarted pviod by itself
STORE_OK=0		# hand-overs after which systemd's fd store held what pviod said
BAL_OK=0		# hand-overs after which pviod's balloon was 64 MiB, target and size
n=0
rc=0

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	vm_systemd_stop
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

main_pid() { vm_systemctl show -p MainPID --value "$UNIT" 2>/dev/null; }

# workers_field F: what pviod's "workers" answer says of F (upgrades: the
# hand-over count; fd_store: the fds it keeps there), "" while it is away.
workers_field() {
	perl -MIO::Socket::UNIX -e '
		my ($p, $f) = @ARGV;
		my $s = IO::Socket::UNIX->new(Peer => $p) or exit 0;
		print $s "workers\n";
		my $l = <$s> // ""; print "$1" if $l =~ /"$f":(\d+)/;' "$CTL" "$1"
}
upgrades_done() { workers_field upgrades; }

# act LINE: the host's half of one "PVIO-SYNC ..." line.
act() {
	local what=$1 t0 r out bal tgt act_b
	shift
	case $what in
	host-recv)
		ip netns exec "$NS" "$O/vm/pvnet_xfer" recv "$1" 0 "$2" --timeout 900 \
			>"$TMP/recv.out" 2>&1 &
		RECV_PID=$!
		echo "# host: receiving on port $1" ;;
	balloon-set)
		"$O/pvioctl" -s "$CTL" balloon vm bal0 set "$1" --wait --timeout 120 2>&1 |
			sed 's/^/# host: /' || true ;;

	upgrade)
		t0=$(date +%s.%N)
		r=0
		pid0=$(main_pid)
		nr0=$(vm_systemctl show -p NRestarts --value "$UNIT")
		case $(($1 % 4)) in
		1)	how="pvioctl upgrade"
			out=$("$O/pvioctl" -s "$CTL" upgrade --timeout 60 2>&1) || r=$? ;;
		2)	how="systemctl restart"
			out=$(vm_systemctl restart "$UNIT" 2>&1) || r=$? ;;
		3)	how=SIGUSR2
			kill -USR2 "$pid0" || r=$? ;;
		0)	how="SIGKILL to the supervisor, Restart="
			kill -KILL "$pid0" || r=$? ;;
		esac
		# Back: it answers with this hand-over counted.
		for _ in $(seq 600); do
			[ "$(upgrades_done)" = "$1" ] && break
			sleep 0.1
		done
		pid1=$(main_pid)
		# NRestarts counts systemd's own restarts since the last manual one.
		nr1=$(vm_systemctl show -p NRestarts --value "$UNIT")
		[ $(($1 % 4)) = 0 ] && [ "$nr1" = $((nr0 + 1)) ] && AUTO=$((AUTO + 1))
		case $(($1 % 2)) in
		1) [ "$pid1" = "$pid0" ] && PID_KEPT=$((PID_KEPT + 1)) ;;
		0) [ -n "$pid1" ] && [ "$pid1" != 0 ] && [ "$pid1" != "$pid0" ] && PID_NEW=$((PID_NEW + 1)) ;;
		esac
		UPGRADES=$((UPGRADES + 1))
		# Stored: the listening socket, the connection, window, RAM fd,
		# device state page, both eventfds of each vector, the state.
		stored=$(vm_systemctl show -p NFileDescriptorStore --value "$UNIT")
		said=$(workers_field fd_store)
		[ -n "$said" ] && [ "$said" -ge $((2 * ${VECS:-4} + 6)) ] && [ "$stored" = "$said" ] &&
			STORE_OK=$((STORE_OK + 1))
		# The balloon: its target is pviod's, its size the guest's in the window.
		bal=$("$O/pvioctl" -s "$CTL" --json balloon vm bal0 status 2>&1 || true)
		tgt=$(sed -n 's/.*"target_bytes":\([0-9]*\).*/\1/p' <<<"$bal")
		act_b=$(sed -n 's/.*"actual_bytes":\([0-9]*\).*/\1/p' <<<"$bal")
		[ "$tgt" = $((64 << 20)) ] && [ "$act_b" = $((64 << 20)) ] && BAL_OK=$((BAL_OK + 1))
		echo "# host: upgrade $1 ($how): balloon target ${tgt:-?}, size ${act_b:-?}"
		echo "# host: upgrade $1 ($how): rc $r, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, supervisor $pid0 -> $pid1, hand-overs $(upgrades_done), fd store $stored (pviod: ${said:-?})${out:+: $out}" ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$KMOD/frontend/pvio_blk.ko" \
	"$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl" "$O/vm/pvnet_xfer" /usr/bin/fio; do
	[ -f "$f" ] || { echo "not ok - upgrade: $f not built or not installed (make all modules; tools/deps.sh)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP upgrade: needs root (network namespace, TAP)"; echo "1..1"; exit 0; }
mkdir -p "$BUILD"
rm -f "$LOG"
# fio is dynamic (it pulls ~80 MiB of libraries): left uncompressed.
PVIO_INITRD_RAW=1 "$VM/mkinitramfs.sh" "$BUILD/upgrade.cpio" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_blk.ko" \
	--module "$KMOD/frontend/pvio_net.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--kmod crc32c_generic --bin /usr/bin/fio --bin "$O/vm/pvnet_xfer" \
	--file "$HERE/guest/handover.sh:/tests/handover.sh" \
	--file "$HERE/guest/upgrade.sh:/tests/upgrade.sh" 2>/dev/null
truncate -s 256M "$TMP/disk0.img"
ip netns add "$NS"
NS_MADE=1
ip netns exec "$NS" ip link set lo up
cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 512M
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
INI
if ! vm_systemd_start "$TMP/systemd" 2>"$TMP/systemd.err"; then
	n=$((n + 1))
	echo "not ok $n - a systemd user manager of the test's own starts: $(tr '\n' ' ' <"$TMP/systemd.err")"
	echo "1..$n"
	exit 1
fi
vm_pviod_unit "$UNIT" "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"
if ! vm_systemctl start "$UNIT" 2>"$TMP/systemd.err"; then
	n=$((n + 1))
	echo "not ok $n - pviod.service starts under systemd: $(cat "$TMP/systemd.err")"
	vm_systemctl status "$UNIT" 2>&1 | sed 's/^/# /'
	sed 's/^/# pviod: /' "$TMP/pviod.log"
	echo "1..$n"
	exit 1
fi
ip netns exec "$NS" ip addr add 10.77.10.1/24 dev "$TAP"
VECS=$(sed -n 's/.*QEMU: vectors=\([0-9]*\).*/\1/p' "$TMP/pviod.log" | head -n 1)
"$VM/vm.sh" run --initrd "$BUILD/upgrade.cpio" --script /tests/upgrade.sh \
	--mem 512 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-900}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=${VECS:-4}" &
VM_PID=$!
vm_follow "$VM_PID" "$LOG"
vrc=0
wait "$VM_PID" || vrc=$?
VM_PID=
vm_guest_results "$LOG"
host "the guest ran to its end, without a reboot (vm.sh: $vrc; 124 is a timeout, 125 a crash)" "[ $vrc -lt 124 ]"
host "the guest asked for 10 upgrades and the host did them (got $UPGRADES)" "[ $UPGRADES = 10 ]"
host "pviod reports 10 hand-overs (got '$(upgrades_done)')" "[ '$(upgrades_done)' = 10 ]"
host "the supervisor kept its PID across each of the 5 execs (got $PID_KEPT) and another served after each of the 5 restarts and crashes (got $PID_NEW)" \
	"[ $PID_KEPT = 5 ] && [ $PID_NEW = 5 ]"
host "systemd restarted pviod by itself after each of the 2 crashes (got $AUTO)" "[ $AUTO = 2 ]"
host "after each hand-over systemd's fd store held what pviod stored for the guest, and no more (got $STORE_OK of 10)" "[ $STORE_OK = 10 ]"
host "pviod logged 5 execs, 5 starts from the fd store and 10 adoptions ($(grep -c 'upgrade: exec' "$TMP/pviod.log"), $(grep -c 'fd store: [0-9]* fd(s) handed back' "$TMP/pviod.log") and $(grep -c 'vm: upgrade: peer [0-9]* adopted' "$TMP/pviod.log"))" \
	"[ $(grep -c 'upgrade: exec' "$TMP/pviod.log") = 5 ] && [ $(grep -c 'fd store: [0-9]* fd(s) handed back' "$TMP/pviod.log") = 5 ] && [ $(grep -c 'vm: upgrade: peer [0-9]* adopted' "$TMP/pviod.log") = 10 ]"
rrc=0
[ -n "$RECV_PID" ] && { vm_wait_bounded "$RECV_PID" 60 || rrc=$?; }
RECV_PID=
sed 's/^/# host: /' "$TMP/recv.out" 2>/dev/null || true
sent=$(sed -n 's/^# sent: pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
got=$(sed -n 's/^pvnet_xfer: ok \([0-9]*\) bytes.*/\1/p' "$TMP/recv.out" 2>/dev/null)
host "one TCP stream through every upgrade arrived whole and verified: sent ${sent:-?} bytes, received ${got:-?} (receiver rc $rrc)" \
	"[ $rrc = 0 ] && [ -n '$got' ] && [ '${sent:-x}' = '$got' ]"
# The guest's last fio job wrote and verified 16 MiB at offset 0 with
# seed 7 and synced it: the image must hold what the guest read back.
want=$(sed -n 's/^# image sha: \([0-9a-f]*\).*/\1/p' "$LOG" | tr -d '\r' | tail -n 1)
have=$(dd if="$TMP/disk0.img" bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
host "the image holds what the guest last wrote and read back (guest ${want:-?}, image $have)" "[ '${want:-x}' = '$have' ]"
host "pviod still answers" "'$O/pvioctl' -s '$CTL' list >/dev/null"
host "after each hand-over pviod's balloon was what it was before: 64 MiB target and size (got $BAL_OK of 10)" "[ $BAL_OK = 10 ]"
vm_systemctl stop "$UNIT"
result=$(vm_systemctl show -p Result --value "$UNIT")
status=$(vm_systemctl show -p ExecMainStatus --value "$UNIT")
stored=$(vm_systemctl show -p NFileDescriptorStore --value "$UNIT")
host "systemctl stop: pviod exited with 0 (Result $result, status $status), the fd store is empty ($stored), no sanitizer report in its log" \
	"[ '$result' = success ] && [ '$status' = 0 ] && [ '$stored' = 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' '$TMP/pviod.log'"
cp "$TMP/pviod.log" "$BUILD/upgrade-pviod.log"
if [ "$rc" != 0 ] || [ "$vrc" != 0 ]; then
	grep -E 'upgrade|error|adopted|took over' "$TMP/pviod.log" | tail -n 30 | sed 's/^/# pviod: /'
fi
echo "1..$n"
exit $rc
