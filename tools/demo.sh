#!/bin/bash
# tools/demo.sh - "make demo": start pviod, boot a guest with the pvio
# modules, show the devices working from both sides, clean up.
# Everything is built already (make demo runs deps and the build first).
#
# The guest gets four devices: echo0 (transport round trips), net0 (a TAP
# in a network namespace made here, host end 10.78.0.1), disk0 (a 64 MiB
# image file) and balloon0 (64 MiB taken back from the guest at start).
# Without root (no namespace, no TAP) the net device is left out.
#
# Where libvirt can run (root, libvirt installed, no libvirtd running
# already), the guest is a libvirt domain, as docs/operations.md 3.1
# describes: a guest file for pvio's hook, "pvioctl libvirt-xml" for the
# domain's XML, virsh define, start, destroy, undefine; a libvirtd of the
# demo's own, started after the hook is in place (tools/vm/libvirt.sh).
# Otherwise, or with PVIO_DEMO_DIRECT=1, pviod and QEMU are started
# directly, with the guest in pviod's configuration.
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
O=$(cd "${O:-$REPO/build}" && pwd)	# absolute: libvirt reads its paths
VM=$REPO/tools/vm
# shellcheck source=vm/pviod.sh
. "$VM/pviod.sh"
# shellcheck source=vm/libvirt.sh
. "$VM/libvirt.sh"
TMP=$(mktemp -d /tmp/pvio-demo.XXXXXX)
RAM=/dev/shm/pvio-demo-$$
NS=pvdemo-$$
TAP=pvdemo$$
NS_MADE=

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	lv_cleanup
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
	--file "$REPO/tests/vm/guest/demo.sh:/tests/demo.sh" 2>/dev/null

NET=
if [ "$(id -u)" = 0 ] && ip netns add "$NS" 2>/dev/null; then
	NS_MADE=1
	NET=1
	ip netns exec "$NS" ip link set lo up
fi
dd if=/dev/zero of="$TMP/disk0.img" bs=1M count=64 status=none

LIBVIRT=
why=$(lv_unusable)
if [ -n "${PVIO_DEMO_DIRECT:-}" ]; then
	why="PVIO_DEMO_DIRECT is set"
fi
[ -z "$why" ] && LIBVIRT=1

# The devices, as a guest file (the libvirt path) or in pviod.ini.
devices() {	# GUEST
	cat <<INI

[device $1 echo0]
type = echo
queues = 2

[device $1 disk0]
type = blk
path = $TMP/disk0.img
serial = demo-disk0
queues = 2

[device $1 balloon0]
type = balloon
target = 64M
INI
	if [ -n "$NET" ]; then
		cat <<INI

[device $1 net0]
type = net
tap = $TAP
queues = 2
INI
	fi
}

# The host's view once the guest has run: pviod's list and each device.
host_view() {	# GUEST
	say "host\$ pvioctl list"
	"$O/pvioctl" -s "$TMP/control.sock" list
	for d in echo0 disk0 ${NET:+net0}; do
		say "host\$ pvioctl status $1 $d    # counters the guest's traffic left behind"
		"$O/pvioctl" -s "$TMP/control.sock" status "$1" "$d"
	done
	say "host\$ pvioctl balloon $1 balloon0 status    # memory taken back, the guest's statistics"
	"$O/pvioctl" -s "$TMP/control.sock" balloon "$1" balloon0 status
}

net_up() {
	if [ -n "$NET" ]; then
		ip netns exec "$NS" ip addr add 10.78.0.1/24 dev "$TAP"
		ip netns exec "$NS" ip link set "$TAP" up
		say "host\$ ip netns exec $NS ip addr show $TAP    # the guest NIC's host end"
		ip netns exec "$NS" ip -br addr show "$TAP"
	fi
}

if [ -n "$LIBVIRT" ]; then
	DOM=pvio-demo
	say "the libvirt path: pviod with no guest; the domain's guest file for pvio's hook"
	printf '[pviod]\ncontrol = %s\n' "$TMP/control.sock" >"$TMP/pviod.ini"
	say "host\$ pviod -c $TMP/pviod.ini"
	cat "$TMP/pviod.ini"
	vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" ${NET:+"$NS"}
	mkdir -p "$TMP/guests" "$TMP/run"
	{ printf '[guest %s]\nsocket = %s\n' "$DOM" "$TMP/$DOM.sock"; devices "$DOM"; } >"$TMP/guests/$DOM.ini"
	say "host\$ cat $TMP/guests/$DOM.ini    # /etc/pvio/libvirt/$DOM.ini when installed"
	cat "$TMP/guests/$DOM.ini"
	"$O/pvioctl" -s "$TMP/control.sock" guest add "$TMP/guests/$DOM.ini" >/dev/null
	say "host\$ pvioctl libvirt-xml $DOM    # what the domain's XML needs"
	"$O/pvioctl" -s "$TMP/control.sock" libvirt-xml "$DOM" | tee "$TMP/snippet.xml"
	"$O/pvioctl" -s "$TMP/control.sock" guest remove "$DOM" >/dev/null
	lv_domain_xml "$DOM" "$TMP/snippet.xml" "$O/vm/demo.cpio.gz" \
		"pvio_test.script=/tests/demo.sh pvio_test.hold=1${NET:+ demo.net=1}" \
		"$TMP/console.log" >"$TMP/domain.xml"
	say "host\$ virt-xml-validate $TMP/domain.xml"
	virt-xml-validate "$TMP/domain.xml"
	lv_hook_install "$TMP/control.sock" "$TMP/guests" "$TMP/run"
	say "pvio's hook in $LV_HOOK; then a libvirtd of the demo's own"
	lv_daemons_start "$TMP" || { echo "libvirtd did not start"; exit 1; }
	LV_DOMAIN=$DOM
	say "host\$ virsh define $TMP/domain.xml && virsh start $DOM"
	lv_virsh define "$TMP/domain.xml"
	lv_virsh start "$DOM"
	net_up
	say "host\$ virsh list; pvioctl list    # the hook added the guest before QEMU started"
	lv_virsh list
	"$O/pvioctl" -s "$TMP/control.sock" list
	t0=$SECONDS
	while ! grep -q PVIO-GUEST-END "$TMP/console.log" 2>/dev/null &&
		[ "$(lv_virsh domstate "$DOM" 2>/dev/null)" = running ] && [ $((SECONDS - t0)) -lt 180 ]; do
		sleep 1
	done
	cp "$TMP/console.log" "$O/vm/demo.log" 2>/dev/null || true
	"$VM/vm.sh" tap "$O/vm/demo.log"
	grep -aq 'PVIO-GUEST-END rc=0' "$O/vm/demo.log" ||
		{ echo "guest failed; console: $O/vm/demo.log"; exit 1; }
	host_view "$DOM"
	say "host\$ virsh destroy $DOM; pvioctl list    # the hook removed the guest once QEMU stopped"
	lv_virsh destroy "$DOM"
	for _ in $(seq 50); do
		"$O/pvioctl" -s "$TMP/control.sock" list 2>/dev/null | grep -q "^$DOM " || break
		sleep 0.1
	done
	"$O/pvioctl" -s "$TMP/control.sock" list
	say "host\$ virsh undefine $DOM"
	lv_virsh undefine "$DOM"
	# shellcheck disable=SC2034 # read by lv_cleanup
	LV_DOMAIN=
	say "pviod log"
	sed 's/^/  /' "$TMP/pviod.log"
	say "demo done (libvirt): domain destroyed and undefined, libvirtd and pviod stopped, files removed"
	exit 0
fi

say "the direct path ($why): pviod with the guest in its configuration, QEMU started by hand"
{
	cat <<INI
[pviod]
control = $TMP/control.sock

[guest demo]
socket = $TMP/demo.sock
ram = $RAM
ram_size = 512M
INI
	devices demo
} >"$TMP/pviod.ini"
say "host\$ pviod -c $TMP/pviod.ini"
cat "$TMP/pviod.ini"
# With a net device, in the namespace, so that the TAP is there.
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" ${NET:+"$NS"}
sed 's/^/  pviod: /' "$TMP/pviod.log"
net_up

say "host\$ qemu-system-x86_64 -accel tcg ... -chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=12"
"$VM/vm.sh" run --initrd "$O/vm/demo.cpio.gz" --script /tests/demo.sh --mem 512 --smp 2 \
	--timeout 180 --ram-file "$RAM" --append "loglevel=3${NET:+ demo.net=1}" \
	--qemu-extra "-chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=12" \
	--log "$O/vm/demo.log" || { echo "guest failed; console: $O/vm/demo.log"; exit 1; }
"$VM/vm.sh" tap "$O/vm/demo.log"

host_view demo
say "pviod log"
sed 's/^/  /' "$TMP/pviod.log"
say "demo done: pviod stopped, guest powered off, files removed"
