#!/bin/bash
# tests/vm/net.sh - pvio_net.ko end to end: pviod's net device on a TAP,
# a QEMU guest with the ivshmem-doorbell device, verified TCP streams both
# ways, a worker crash and a stopped worker (tests/vm/guest/net.sh does the
# guest half).
#
#   root namespace                 namespace pvnet-$$ (made and deleted here)
#  +------------------------+     +-------------------------------------+
#  | QEMU (TCG)             |     | pviod  (supervisor + worker)        |
#  |  ivshmem-doorbell  <---+-----+-> unix socket, window, eventfds     |
#  |  guest RAM (share=on) -+-----+-> mapped by the worker              |
#  |  guest:                |     |                                     |
#  |   pvio_net 10.77.0.2 <=|=====|=> TAP pvnt$$  10.77.0.1/24          |
#  |   pvnet_xfer           |     |    pvnet_xfer (host end)            |
#  +------------------------+     +-------------------------------------+
#
# Unix sockets are not namespaced, so QEMU in the root namespace reaches
# pviod inside the test's namespace; the TAP lives in that namespace, and
# every packet of the test stays there.  The guest asks for the host's half
# of each step with "PVIO-SYNC ..." console lines (listed in the guest
# script); we act on each once.  Prints the guest's TAP plus host-side
# checks; exits non-zero on any failure.  Everything this script starts is
# stopped by PID, and the namespace and files it made are removed, on every
# exit.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}	# guest modules (default: make modules output)
PVIOD=${PVIOD:-$O/pviod-san}	# the ASan/UBSan build by default
TMP=$(mktemp -d /tmp/pvio-vmnet.XXXXXX)
NS=pvnet-$$
TAP=pvnt$$
RAM=/dev/shm/pvio-vmnet-$$
SOCK=$TMP/guest.sock
CTL=$TMP/control.sock
LOG=$BUILD/net.log
QUEUES=4
VM_PID=
SINK_PID=
NS_MADE=
STOPPED=	# pviod's worker while we keep it stopped
JOBS=()		# host transfer PIDs
JOB_DESC=()	# what each one checks
JOB_OUT=()	# its output file

nsx() { ip netns exec "$NS" "$@"; }

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local p
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	sink_stop
	for p in "${JOBS[@]}"; do kill "$p" 2>/dev/null || true; done
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/net-pviod.log"
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

# A receiver on PORT that starts over after every broken connection, for
# the unload/load cycles (the guest's sender dies with each rmmod).
sink_loop() {
	while [ ! -e "$TMP/sink.stop" ]; do
		ip netns exec "$NS" "$O/vm/pvnet_xfer" recv "$1" 1000000000000 "$2" --timeout 60 >>"$TMP/sink.out" 2>&1 &
		echo $! >"$TMP/sink.pid"
		wait $! || true
	done
}
sink_stop() {
	[ -n "$SINK_PID" ] || return 0
	touch "$TMP/sink.stop"
	# Kill the receiver of the moment until the loop sees the stop file.
	for _ in $(seq 50); do
		[ -f "$TMP/sink.pid" ] && kill "$(cat "$TMP/sink.pid")" 2>/dev/null
		kill -0 "$SINK_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=
}

# job DESC OUT CMD...: a host transfer in the background, checked at the
# end.  CMD is exec'd (no shell function), so the PID is the transfer's.
job() {
	local desc=$1 out=$2
	shift 2
	"$@" >"$out" 2>&1 &
	JOBS+=($!)
	JOB_DESC+=("$desc")
	JOB_OUT+=("$out")
}

# act LINE: the host's half of one "PVIO-SYNC ..." line.
act() {
	local what=$1 k=${#JOBS[@]}
	shift
	echo "# host: $what $*"
	case $what in
	host-recv)
		job "guest -> host port $1, $2 bytes verified" "$TMP/job$k.out" \
			ip netns exec "$NS" "$O/vm/pvnet_xfer" recv "$1" "$2" "$3" --timeout 300 ;;
	host-send)
		job "host -> guest port $1, $2 bytes sent" "$TMP/job$k.out" \
			ip netns exec "$NS" "$O/vm/pvnet_xfer" send 10.77.0.2 "$1" "$2" "$3" --timeout 300 ;;
	host-mtu) nsx ip link set "$TAP" mtu "$1" ;;
	link-down) "$O/pvioctl" -s "$CTL" net-link vm net0 down ;;
	link-up) "$O/pvioctl" -s "$CTL" net-link vm net0 up ;;
	kill-worker) kill -KILL "$("$O/pvioctl" -s "$CTL" worker-pid)" ;;
	stop-worker)
		STOPPED=$("$O/pvioctl" -s "$CTL" worker-pid)
		kill -STOP "$STOPPED" ;;
	cont-worker)
		[ -n "$STOPPED" ] && kill -CONT "$STOPPED"
		STOPPED= ;;
	sink-start)
		rm -f "$TMP/sink.stop"
		sink_loop "$1" "$2" &
		SINK_PID=$! ;;
	sink-stop) sink_stop ;;
	dump) vm_net_dump "$CTL" "$NS" "$TAP" vm net0 ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$PVIOD" "$O/pvioctl" "$O/vm/pvnet_xfer" /usr/sbin/ethtool; do
	[ -f "$f" ] || { echo "not ok - net: $f not built (make all modules)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP net: needs root (network namespace, TAP)"; echo "1..1"; exit 0; }
mkdir -p "$BUILD"
rm -f "$LOG"
"$VM/mkinitramfs.sh" "$BUILD/net.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_net.ko" \
	--bin "$O/vm/pvnet_xfer" --bin /usr/sbin/ethtool \
	--file "$HERE/guest/net.sh:/tests/net.sh" 2>/dev/null

ip netns add "$NS"
NS_MADE=1
nsx ip link set lo up
cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 512M
machine = pc

[device vm net0]
type = net
tap = $TAP
queues = $QUEUES
INI
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"
nsx ip link show "$TAP" >/dev/null || { echo "not ok - net: pviod did not create $TAP"; tail "$TMP/pviod.log"; exit 1; }
nsx ip addr add 10.77.0.1/24 dev "$TAP"

"$VM/vm.sh" run --initrd "$BUILD/net.cpio.gz" --script /tests/net.sh \
	--mem 512 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-800}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=$((1 + QUEUES))" &
VM_PID=$!

vm_follow "$VM_PID" "$LOG"
rc=0
wait "$VM_PID" || rc=$?
VM_PID=
sink_stop

vm_guest_results "$LOG"
for i in "${!JOBS[@]}"; do
	jrc=0
	wait "${JOBS[$i]}" || jrc=$?
	sed 's/^/# host: /' "${JOB_OUT[$i]}"
	host "${JOB_DESC[$i]}" "[ $jrc = 0 ] && grep -q '^pvnet_xfer: ok' '${JOB_OUT[$i]}'"
done
JOBS=()
"$O/pvioctl" -s "$CTL" --json status vm net0 >"$TMP/status.json" || true
"$O/pvioctl" -s "$CTL" status vm net0 | sed 's/^/# /' || true
pkts() { sed -n "s/.*{\"index\":$1,[^}]*\"packets\":\([0-9]*\).*/\1/p" "$TMP/status.json"; }
host "pviod: both tx queues (1 and 3) sent packets ($(pkts 1), $(pkts 3))" "[ '$(pkts 1)' -gt 0 ] && [ '$(pkts 3)' -gt 0 ]"
host "pviod: both rx queues (0 and 2) delivered packets ($(pkts 0), $(pkts 2))" "[ '$(pkts 0)' -gt 0 ] && [ '$(pkts 2)' -gt 0 ]"
host "pviod's supervisor replaced the killed worker" "grep -q 'worker .* started (restart 1[,)]' '$TMP/pviod.log'"
host "the link went down and up on request" "grep -q 'link down' '$TMP/pviod.log' && grep -q 'link up' '$TMP/pviod.log'"
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
host "pviod still answers after the run" "'$O/pvioctl' -s '$CTL' list >/dev/null"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# guest rc $rc; console log $LOG; pviod log follows"
	tail -n 30 "$TMP/pviod.log" | sed 's/^/# pviod: /'
	exit 1
fi
