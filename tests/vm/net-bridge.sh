#!/bin/bash
# tests/vm/net-bridge.sh - two guests on one host bridge reach each other.
#
#   guest a (pvio_net) --TAP pvba--+                 +--TAP pvbb-- guest b
#                                  |  bridge pvbr0   |
#                                  +-----------------+
#   all inside a network namespace this script creates; one pviod serves
#   both guests and attaches both TAPs to the bridge (bridge = pvbr0).
#
# Prints both guests' TAP lines, renumbered, then a plan; non-zero on failure.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
KMOD=${KMOD:-$O/kmod-generic}	# guest modules (default: make modules output)
PVIOD=${PVIOD:-$O/pviod}
NS=pvbr$$
TMP=$(mktemp -d /tmp/pvio-br.XXXXXX)
PIDS=()
declare -A VMPID=()

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	vm_pviod_stop_all
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP" /dev/shm/pvio-br-$$-a /dev/shm/pvio-br-$$-b
}
trap cleanup EXIT

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_net.ko" "$O/pviod" "$O/vm/pvnet_xfer"; do
	[ -f "$f" ] || { echo "not ok 1 net-bridge: $f not built"; exit 1; }
done
"$VM/mkinitramfs.sh" "$TMP/initrd.gz" --module "$KMOD/frontend/pvio.ko" \
	--module "$KMOD/frontend/pvio_net.ko" --bin "$O/vm/pvnet_xfer" \
	--file "$HERE/guest/net-bridge.sh:/tests/net-bridge.sh" 2>/dev/null

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link add pvbr0 type bridge
ip netns exec "$NS" ip link set pvbr0 up
cat > "$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock
[guest ga]
socket = $TMP/a.sock
ram = /dev/shm/pvio-br-$$-a
ram_size = 384M
[guest gb]
socket = $TMP/b.sock
ram = /dev/shm/pvio-br-$$-b
ram_size = 384M
[device ga net0]
type = net
queues = 2
tap = pvba
bridge = pvbr0
[device gb net0]
type = net
queues = 2
tap = pvbb
bridge = pvbr0
INI
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"

for r in a b; do
	"$VM/vm.sh" run --initrd "$TMP/initrd.gz" --script /tests/net-bridge.sh --mem 384 --smp 1 \
		--timeout "${PVIO_VM_TIMEOUT:-300}" --log "$TMP/$r.log" --ram-file "/dev/shm/pvio-br-$$-$r" \
		--append "loglevel=3 pvnet.role=$r" \
		--qemu-extra "-chardev socket,path=$TMP/$r.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" \
		>/dev/null 2>&1 &
	PIDS+=($!)
	VMPID[$r]=$!
done
rc=0
wait "${VMPID[a]}" || rc=1
wait "${VMPID[b]}" || rc=1
n=0
for r in a b; do
	g=0 plan=
	while IFS= read -r line; do
		case $line in
		"ok "*) n=$((n + 1)) g=$((g + 1)); echo "ok $n ${line#ok * }" ;;
		"not ok "*) n=$((n + 1)) g=$((g + 1)); echo "not ok $n ${line#not ok * }"; rc=1 ;;
		"# "*) echo "$line" ;;
		1..*) plan="$plan${line#1..} " ;;
		esac
	done < <("$VM/vm.sh" tap "$TMP/$r.log")
	# Each guest printed one plan, for as many results as it printed.
	n=$((n + 1))
	if [ "$plan" = "$g " ]; then
		echo "ok $n guest $r: its plan (${plan% }) matches its $g results"
	else
		echo "not ok $n guest $r: its plan (${plan:-none}) matches its $g results"
		rc=1
	fi
	echo "# guest $r:"
	vm_klog_check "$TMP/$r.log"
done
echo "1..$n"
if [ "$rc" -ne 0 ] || [ "$n" -lt 8 ]; then
	echo "# failed; pviod log:"
	sed 's/^/#   /' "$TMP/pviod.log" | tail -n 20
	out=${PVIO_VM_OUT:-$O/vm}
	mkdir -p "$out" && cp "$TMP/a.log" "$out/net-bridge-a.log" && cp "$TMP/b.log" "$out/net-bridge-b.log"
	exit 1
fi
