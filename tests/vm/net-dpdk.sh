#!/bin/bash
# tests/vm/net-dpdk.sh - pvio_net.ko end to end over pviod's DPDK port
# (`net = dpdk,net_tap0,...`): the same kind of verified TCP streams as
# tests/vm/net.sh, but the host side of the guest's NIC is a DPDK net_tap
# port served by a poll thread (tests/vm/guest/net-dpdk.sh is the guest).
#
#   root namespace                 namespace pvdpdk-$$ (made and deleted here)
#  +------------------------+     +---------------------------------------+
#  | QEMU (TCG)             |     | pviod worker: EAL (--in-memory), port |
#  |  ivshmem-doorbell  <---+-----+-> net_tap0 + its poll thread          |
#  |  guest RAM (share=on) -+-----+-> mapped by the worker                |
#  |  guest:                |     |                                       |
#  |   pvio_net 10.78.0.2 <=|=====|=> tap pvdt$$ (made by DPDK) 10.78.0.1 |
#  |   pvnet_xfer           |     |    pvnet_xfer (host end)              |
#  +------------------------+     +---------------------------------------+
#
# Needs root, DPDK in pviod and 2 MiB hugepages: reserves 128 more through
# /proc/sys/vm/nr_hugepages and gives them back on exit; skips (TAP "ok 1 #
# SKIP") when any of it is missing.  The QEMU boot holds /tmp/pvio-vm.lock.
# PVIOD defaults to the ASan/UBSan build.  Everything started here is
# stopped by PID; the namespace and files are removed on every exit.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}
TMP=$(mktemp -d /tmp/pvio-vmdpdk.XXXXXX)
NS=pvdpdk-$$
TAP=pvdt$$
RAM=/dev/shm/pvio-vmdpdk-$$
SOCK=$TMP/guest.sock
CTL=$TMP/control.sock
LOG=$BUILD/net-dpdk.log
QUEUES=4
HUGE=/proc/sys/vm/nr_hugepages
HUGE_PREV=
VM_PID=
NS_MADE=
JOBS=()
JOB_DESC=()
JOB_OUT=()

nsx() { ip netns exec "$NS" "$@"; }
skip() { echo "ok 1 # SKIP net-dpdk: $*"; echo "1..1"; exit 0; }

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local p
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	for p in "${JOBS[@]}"; do kill "$p" 2>/dev/null || true; done
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/net-dpdk-pviod.log"
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	[ -n "$HUGE_PREV" ] && echo "$HUGE_PREV" >"$HUGE"
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT
trap "exit 1" TERM INT

job() {
	local desc=$1 out=$2
	shift 2
	"$@" >"$out" 2>&1 &
	JOBS+=($!)
	JOB_DESC+=("$desc")
	JOB_OUT+=("$out")
}

# The worker's successor makes the port's tap again: address it again.
readdress() {
	for _ in $(seq 100); do
		if nsx ip link show "$TAP" >/dev/null 2>&1; then
			nsx ip addr add 10.78.0.1/24 dev "$TAP" 2>/dev/null || true
			nsx ip link set "$TAP" up
			echo "# host: $TAP is back, addressed"
			return 0
		fi
		sleep 0.1
	done
	echo "# host: $TAP did not come back"
}

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
			ip netns exec "$NS" "$O/vm/pvnet_xfer" send 10.78.0.2 "$1" "$2" "$3" --timeout 300 ;;
	link-down) "$O/pvioctl" -s "$CTL" net-link vm net0 down ;;
	link-up) "$O/pvioctl" -s "$CTL" net-link vm net0 up ;;
	kill-worker)
		kill -KILL "$("$O/pvioctl" -s "$CTL" worker-pid)"
		sleep 0.5
		readdress ;;
	dump) vm_net_dump "$CTL" "$NS" "$TAP" vm net0 ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$PVIOD" "$O/pvioctl" "$O/vm/pvnet_xfer" /usr/sbin/ethtool; do
	[ -f "$f" ] || { echo "not ok - net-dpdk: $f not built (make all modules)"; exit 1; }
done
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, hugepages)"
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
net = dpdk,net_tap0,iface=$TAP,mac=02:70:76:00:00:01
queues = $QUEUES
INI
if ! "$PVIOD" -c "$TMP/pviod.ini" --check-config >"$TMP/check.out" 2>&1; then
	grep -q 'without DPDK' "$TMP/check.out" && skip "this pviod was built without DPDK (libdpdk-dev)"
	echo "not ok - net-dpdk: pviod --check-config"; cat "$TMP/check.out"; exit 1
fi
HUGE_PREV=$(cat "$HUGE")
echo $((HUGE_PREV + 128)) >"$HUGE" 2>/dev/null || true
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
[ "${free:-0}" -ge 64 ] || skip "could not reserve 2 MiB hugepages (HugePages_Free $free)"
echo "# hugepages: $HUGE_PREV -> $(cat "$HUGE") (free $free)"

mkdir -p "$BUILD"
rm -f "$LOG"
"$VM/mkinitramfs.sh" "$BUILD/net-dpdk.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_net.ko" \
	--bin "$O/vm/pvnet_xfer" --bin /usr/sbin/ethtool \
	--file "$HERE/guest/net-dpdk.sh:/tests/net-dpdk.sh" 2>/dev/null

ip netns add "$NS"
NS_MADE=1
nsx ip link set lo up
# pviod runs in the namespace: DPDK's net_tap makes its tap there.
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"
for _ in $(seq 100); do nsx ip link show "$TAP" >/dev/null 2>&1 && break; sleep 0.1; done
nsx ip link show "$TAP" >/dev/null 2>&1 || { echo "not ok - net-dpdk: pviod's DPDK port made no $TAP"; tail -n 20 "$TMP/pviod.log"; exit 1; }
nsx ip addr add 10.78.0.1/24 dev "$TAP"
nsx ip link set "$TAP" up

"$VM/vm.sh" run --initrd "$BUILD/net-dpdk.cpio.gz" --script /tests/net-dpdk.sh \
	--mem 512 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-800}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=$((1 + QUEUES))" &
VM_PID=$!

vm_follow "$VM_PID" "$LOG"
rc=0
wait "$VM_PID" || rc=$?
VM_PID=

vm_guest_results "$LOG"
for i in "${!JOBS[@]}"; do
	jrc=0
	wait "${JOBS[$i]}" || jrc=$?
	sed 's/^/# host: /' "${JOB_OUT[$i]}"
	host "${JOB_DESC[$i]}" "[ $jrc = 0 ] && grep -q '^pvnet_xfer: ok' '${JOB_OUT[$i]}'"
done
JOBS=()
"$O/pvioctl" -s "$CTL" status vm net0 | sed 's/^/# /' || true
host "pviod set up EAL and the DPDK port (net_tap)" "grep -q 'DPDK port 0 net_tap0 (net_tap)' '$TMP/pviod.log'"
host "a poll thread served the device" "grep -q 'poll thread on CPU' '$TMP/pviod.log'"
host "pviod's supervisor replaced the killed worker, which set the port up again" \
	"grep -q 'worker .* started (restart 1[,)]' '$TMP/pviod.log' && [ \$(grep -c 'rte_eal_init:' '$TMP/pviod.log') -ge 2 ]"
host "the link went down and up on request" "grep -q 'link down' '$TMP/pviod.log' && grep -q 'link up' '$TMP/pviod.log'"
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
# The DPDK worker is sandboxed like any other: every thread of it (the
# poll thread, EAL's own) under the filter, no new privileges, not root.
W=$("$O/pvioctl" -s "$CTL" worker-pid 2>/dev/null || echo 0)
for t in /proc/"$W"/task/*; do
	[ -r "$t/status" ] || continue
	comm=$(cat "$t/comm")
	sc=$(awk '/^Seccomp:/ { print $2 }' "$t/status")
	nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "$t/status")
	uid=$(awk '/^Uid:/ { print $2 }' "$t/status")
	host "worker thread $comm: Seccomp $sc NoNewPrivs $nnp Uid $uid (expected 2, 1, not 0)" \
		"[ '$sc' = 2 ] && [ '$nnp' = 1 ] && [ '$uid' != 0 ]"
done
host "the worker has a poll thread" "grep -qx pvnet-poll /proc/$W/task/*/comm"
# ...and in the worker's empty root: EAL's thread, made before, too.
MNT0=$(readlink /proc/"$W"/ns/mnt)
for t in /proc/"$W"/task/*; do
	r=$(stat -L -c %d:%i "$t/root" 2>/dev/null)
	m=$(readlink "$t/ns/mnt")
	host "worker thread $(cat "$t/comm"): root $r, $m (expected not the host's $(stat -L -c %d:%i /), the worker's)" \
		"[ '$r' != '$(stat -L -c %d:%i /)' ] && { [ '$m' = '$MNT0' ] || [ '$(cat "$t/comm")' = eal-intr-thread ]; }"
done
host "the filter refused no system call of the data path" "! grep -q 'seccomp refused' '$TMP/pviod.log'"
host "pviod still answers after the run" "'$O/pvioctl' -s '$CTL' list >/dev/null"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# guest rc $rc; console log $LOG; pviod log follows"
	tail -n 40 "$TMP/pviod.log" | sed 's/^/# pviod: /'
	exit 1
fi
