#!/bin/bash
# tests/libvirt/libvirt.sh - a pvio guest as an ordinary libvirt domain:
# libvirt's <shmem> (ivshmem-doorbell, pviod's socket) and shared
# file-backed memory, pvio's hook (packaging/libvirt/qemu) adding the
# guest to pviod before QEMU starts and removing it when QEMU stops.
#
#   1. pviod (the ASan/UBSan build) starts with no guest, in a network
#      namespace of its own (the guest's TAP lives there, 10.79.0.1/24).
#   2. The guest file ([guest NAME], a blk, a net and a balloon device,
#      no ram) goes where the hook looks; "pvioctl libvirt-xml" prints the
#      domain's <memoryBacking> and <shmem> (the guest added for that and
#      removed again); virt-xml-validate checks the domain.
#   3. Our own libvirtd and virtlogd (system mode) start after the hook is
#      installed (libvirt looks for hooks when it starts): a wrapper at
#      /etc/libvirt/hooks/qemu.d/pvio-test-PID that points the tree's hook
#      at this test's pviod and directories.  The domain is TCG, boots the
#      test kernel and an initramfs with the pvio modules, and runs QEMU as
#      root (a static DAC label: pviod's sockets are root's).  All of this
#      is tools/vm/libvirt.sh, which "make demo" uses too.
#   4. virsh define, virsh start; while it runs pviod serves the guest
#      and its RAM file; the guest (tests/vm/guest/libvirt.sh) writes and
#      reads its disk, pings the host and finds its balloon, then stays up
#      (pvio_test.hold=1) until virsh destroy stops it; the domain is
#      defined and shut off, and the hook has had pviod forget the guest.
#      virsh undefine at the end.
#
# Skips, with the reason: not root; libvirt not installed; a libvirtd
# already running (ours must start after the hook is in place).
# Everything started here
# is stopped by PID; the hook, namespace and files made here are removed.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../vm/host.sh
. "$REPO/tests/vm/host.sh"
# shellcheck source-path=SCRIPTDIR source=../../tools/vm/libvirt.sh
. "$VM/libvirt.sh"
# Absolute: libvirtd runs the hook and QEMU from elsewhere.
O=$(cd "${O:-$REPO/build}" && pwd)
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=$(cd "${KMOD:-$O/kmod-generic}" && pwd)
PVIOD=$(cd "$(dirname "${PVIOD:-$O/pviod-san}")" && pwd)/$(basename "${PVIOD:-$O/pviod-san}")
NAME=pvlv$$
TMP=$(mktemp -d /tmp/pvio-libvirt.XXXXXX)
NS=pvlv-$$
TAP=pvlt$$
CTL=$TMP/control.sock
LOG=$BUILD/libvirt.log
NS_MADE=
n=0
rc=0

skip() { echo "ok 1 # SKIP libvirt: $*"; echo "1..1"; exit 0; }

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	lv_cleanup
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/libvirt-pviod.log"
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

why=$(lv_unusable)
[ -z "$why" ] || skip "$why"
for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_blk.ko" "$KMOD/frontend/pvio_net.ko" \
	"$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl"; do
	[ -f "$f" ] || { echo "not ok 1 - libvirt: $f not built (make all modules)"; exit 1; }
done
KERNEL=/boot/vmlinuz-$("$VM/vm.sh" kver)	# lv_domain_xml's
[ -r "$KERNEL" ] || skip "no guest kernel $KERNEL (linux-image-amd64)"
mkdir -p "$BUILD"
rm -f "$LOG"
"$VM/mkinitramfs.sh" "$BUILD/libvirt.cpio.gz" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_blk.ko" \
	--module "$KMOD/frontend/pvio_net.ko" --module "$KMOD/frontend/pvio_balloon.ko" \
	--file "$REPO/tests/vm/guest/libvirt.sh:/tests/libvirt.sh" 2>/dev/null

# ---- 1. pviod, no guest yet ----------------------------------------------------
ip netns add "$NS"
NS_MADE=1
ip netns exec "$NS" ip link set lo up
printf '[pviod]\ncontrol = %s\nheartbeat_ms = 100\n' "$CTL" >"$TMP/pviod.ini"
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log" "$NS"

# ---- 2. the guest file, the domain XML --------------------------------------------
mkdir -p "$TMP/guests" "$TMP/run"
truncate -s 64M "$TMP/disk0.img"
cat >"$TMP/guests/$NAME.ini" <<INI
[guest $NAME]
socket = $TMP/$NAME.sock

[device $NAME disk0]
type = blk
path = $TMP/disk0.img
serial = lv-disk0

[device $NAME net0]
type = net
tap = $TAP
queues = 2

[device $NAME bal0]
type = balloon
INI
"$O/pvioctl" -s "$CTL" guest add "$TMP/guests/$NAME.ini" >/dev/null
"$O/pvioctl" -s "$CTL" libvirt-xml "$NAME" >"$TMP/snippet.xml"
"$O/pvioctl" -s "$CTL" guest remove "$NAME" >/dev/null
sed 's/^/# snippet: /' "$TMP/snippet.xml"
lv_domain_xml "$NAME" "$TMP/snippet.xml" "$BUILD/libvirt.cpio.gz" \
	"pvio_test.script=/tests/libvirt.sh pvio_test.hold=1" "$LOG" >"$TMP/domain.xml"
# Results before the guest's are kept and printed after them (vm_guest_results numbers from 1).
RES=()
later() { if eval "$2"; then RES+=("1:$1"); else RES+=("0:$1"); fi; }
later "virt-xml-validate accepts the domain with pvioctl libvirt-xml's snippet" \
	"virt-xml-validate '$TMP/domain.xml' domain >'$TMP/validate.out' 2>&1 || { sed 's/^/# /' '$TMP/validate.out'; cat -n '$TMP/domain.xml' | sed 's/^/# /'; false; }"

# ---- 3. the hook, then our libvirtd ---------------------------------------------------
lv_hook_install "$CTL" "$TMP/guests" "$TMP/run"
lv_daemons_start "$TMP" || true
later "libvirtd and virtlogd started ($LV_LIBVIRTD_PID, $LV_VIRTLOGD_PID)" "lv_virsh version >/dev/null"

# ---- 4. the domain -----------------------------------------------------------------
started=0
LV_DOMAIN=$NAME
if lv_virsh define "$TMP/domain.xml" >"$TMP/create.out" 2>&1 &&
	lv_virsh start "$NAME" >>"$TMP/create.out" 2>&1; then
	started=1
else
	sed 's/^/# virsh: /' "$TMP/create.out"
fi
later "virsh define and virsh start start the domain" "[ $started = 1 ]"
listed=no
for _ in $(seq 100); do
	"$O/pvioctl" -s "$CTL" list 2>/dev/null | grep -q "^$NAME " && { listed=yes; break; }
	sleep 0.1
done
later "the hook added guest $NAME to pviod before QEMU started (listed: $listed)" "[ $listed = yes ]"
ip netns exec "$NS" ip link show "$TAP" >/dev/null 2>&1 && ip netns exec "$NS" ip addr add 10.79.0.1/24 dev "$TAP"
grep -o "mem-path[^,]*" "/var/log/libvirt/qemu/$NAME.log" 2>/dev/null | tail -n 1 | sed 's/^/# QEMU /'
# Until the guest has said all (at most 300 s); it then stays up.
t0=$SECONDS
while [ $started = 1 ] && ! grep -q PVIO-GUEST-END "$LOG" 2>/dev/null &&
	[ "$(lv_virsh domstate "$NAME" 2>/dev/null)" = running ] && [ $((SECONDS - t0)) -lt 300 ]; do
	sleep 1
done
state=$(lv_virsh domstate "$NAME" 2>/dev/null || true)
later "the guest ran its checks to the end and was still running ($((SECONDS - t0)) s; domstate '$state')" \
	"grep -q PVIO-GUEST-END '$LOG' && [ '$state' = running ]"
listed=no
"$O/pvioctl" -s "$CTL" list 2>/dev/null | grep -q "^$NAME " && listed=yes
later "pviod served the guest until then (listed: $listed)" "[ $listed = yes ]"
lv_virsh destroy "$NAME" >"$TMP/destroy.out" 2>&1 || sed 's/^/# virsh: /' "$TMP/destroy.out"
state=$(lv_virsh domstate "$NAME" 2>/dev/null || true)
later "virsh destroy stops it, and the domain stays defined (domstate '$state')" "[ '$state' = 'shut off' ]"
vm_guest_results "$LOG"
for r in "${RES[@]}"; do host "${r#*:}" "[ ${r%%:*} = 1 ]"; done
grep -q "mapped" "$TMP/pviod.log" && echo "# pviod: $(grep -m1 'guest RAM' "$TMP/pviod.log" | cut -d' ' -f4-)"
host "pviod mapped the RAM file libvirt gave QEMU" "grep -q 'guest RAM .*/pc.ram mapped' '$TMP/pviod.log'"
left=yes
for _ in $(seq 100); do
	"$O/pvioctl" -s "$CTL" list 2>/dev/null | grep -q "^$NAME " || { left=no; break; }
	sleep 0.1
done
host "the hook had pviod forget the guest once QEMU stopped (still listed: $left)" "[ $left = no ]"
undefined=no
lv_virsh undefine "$NAME" >/dev/null 2>&1 && ! lv_virsh domstate "$NAME" >/dev/null 2>&1 && undefined=yes
host "virsh undefine removes the domain (gone: $undefined)" "[ $undefined = yes ]"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
exit $rc
