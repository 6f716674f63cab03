#!/bin/bash
# tools/demo.sh - "make demo": start pviod, boot a guest with the pvio
# modules under QEMU, show the devices working from both sides, clean up.
# Everything is built already (make demo runs deps and the build first).
#
# The guest gets four devices: echo0 (transport round trips), net0 (a TAP
# in a network namespace made here, host end 10.78.0.1), disk0 (a 64 MiB
# image file) and balloon0 (64 MiB taken back from the guest at start).
# Without root (no namespace, no TAP) the net device is left out.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
O=${O:-$REPO/build}
VM=$REPO/tools/vm
# shellcheck source=vm/pviod.sh
. "$VM/pviod.sh"
TMP=$(mktemp -d /tmp/pvio-demo.XXXXXX)
RAM=/dev/shm/pvio-demo-$$
NS=pvdemo-$$
TAP=pvdemo$$
NS_MADE=

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	vm_pviod_stop_all
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building guest modules against $(for d in /lib/modules/6.1*-amd64; do
	case $d in *-rt-*) ;; *) echo "$d" ;; esac
done | sort -V | tail -n1)"
make -C "$REPO" --no-print-directory O="$O" modules >/dev/null
"$VM/mkinitramfs.sh" "$O/vm/demo.cpio.gz" \
	--module "$O/kmod-generic/frontend/pvio.ko" \
	--module "$O/kmod-generic/tests/kmod/pvio_echo.ko" \
	--module "$O/kmod-generic/frontend/pvio_net.ko" \
	--module "$O/kmod-generic/frontend/pvio_blk.ko" \
	--module "$O/kmod-generic/frontend/pvio_balloon.ko" \
	--bin "$O/vm/transport_test" --bin /usr/sbin/ethtool \
	--file "$VM/guest/demo.sh:/tests/demo.sh" 2>/dev/null

NET=
if [ "$(id -u)" = 0 ] && ip netns add "$NS" 2>/dev/null; then
	NS_MADE=1
	NET=1
	ip netns exec "$NS" ip link set lo up
fi
dd if=/dev/zero of="$TMP/disk0.img" bs=1M count=64 status=none

cat > "$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock

[guest demo]
socket = $TMP/demo.sock
ram = $RAM
ram_size = 512M

[device demo echo0]
type = echo
queues = 2

[device demo disk0]
type = blk
path = $TMP/disk0.img
serial = demo-disk0
queues = 2

[device demo balloon0]
type = balloon
target = 64M
INI
if [ -n "$NET" ]; then
	cat >>"$TMP/pviod.ini" <<INI

[device demo net0]
type = net
tap = $TAP
queues = 2
INI
fi
say "host\$ pviod -c $TMP/pviod.ini"
cat "$TMP/pviod.ini"
# With a net device, in the namespace, so that the TAP is there.
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" ${NET:+"$NS"}
sed 's/^/  pviod: /' "$TMP/pviod.log"
if [ -n "$NET" ]; then
	ip netns exec "$NS" ip addr add 10.78.0.1/24 dev "$TAP"
	ip netns exec "$NS" ip link set "$TAP" up
	say "host\$ ip netns exec $NS ip addr show $TAP    # the guest NIC's host end"
	ip netns exec "$NS" ip -br addr show "$TAP"
fi

say "host\$ qemu-system-x86_64 -accel tcg ... -chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=12"
"$VM/vm.sh" run --initrd "$O/vm/demo.cpio.gz" --script /tests/demo.sh --mem 512 --smp 2 \
	--timeout 180 --ram-file "$RAM" --append "loglevel=3${NET:+ demo.net=1}" \
	--qemu-extra "-chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=12" \
	--log "$O/vm/demo.log" || { echo "guest failed; console: $O/vm/demo.log"; exit 1; }
"$VM/vm.sh" tap "$O/vm/demo.log"

say "host\$ pvioctl list"
"$O/pvioctl" -s "$TMP/control.sock" list
for d in echo0 disk0 ${NET:+net0}; do
	say "host\$ pvioctl status demo $d    # counters the guest's traffic left behind"
	"$O/pvioctl" -s "$TMP/control.sock" status demo "$d"
done
say "host\$ pvioctl balloon demo balloon0 status    # memory taken back, the guest's statistics"
"$O/pvioctl" -s "$TMP/control.sock" balloon demo balloon0 status
say "pviod log"
sed 's/^/  /' "$TMP/pviod.log"
say "demo done: pviod stopped, guest powered off, files removed"
