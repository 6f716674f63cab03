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
#      at this test's pviod and directories.  The domain is TCG, boots the test kernel
#      and an initramfs with the pvio modules, and runs QEMU as root (a
#      static DAC label: pviod's sockets are root's).
#   4. virsh create; while it runs pviod serves the guest and its RAM
#      file; the guest (tests/vm/guest/libvirt.sh) writes and reads its
#      disk, pings the host and finds its balloon, then powers off; the
#      domain goes, and the hook has pviod forget the guest.
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
HOOKDIR=/etc/libvirt/hooks/qemu.d
HOOK=$HOOKDIR/pvio-test-$$
LOG=$BUILD/libvirt.log
LIBVIRTD_PID=
VIRTLOGD_PID=
NS_MADE=
HOOK_MADE=
HOOKDIR_MADE=
n=0
rc=0

skip() { echo "ok 1 # SKIP libvirt: $*"; echo "1..1"; exit 0; }

virsh_() { virsh -q -c qemu:///system "$@"; }

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	set +e
	[ -n "$LIBVIRTD_PID" ] && virsh_ destroy "$NAME" >/dev/null 2>&1
	# Not our children (they daemonize): SIGTERM, then SIGKILL after 5 s.
	for p in $LIBVIRTD_PID $VIRTLOGD_PID; do
		kill "$p" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	[ -n "$HOOK_MADE" ] && rm -f "$HOOK"
	[ -n "$HOOKDIR_MADE" ] && rmdir "$HOOKDIR" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/libvirt-pviod.log"
	[ -n "$NS_MADE" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root (libvirtd in system mode, a network namespace)"
for b in /usr/sbin/libvirtd /usr/sbin/virtlogd virsh virt-xml-validate; do
	command -v "$b" >/dev/null || skip "$b not installed (libvirt-daemon-system, libvirt-clients: tools/deps.sh)"
done
pgrep -x libvirtd >/dev/null && skip "a libvirtd this test did not start is running (the test starts its own, after installing the hook)"
for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_blk.ko" "$KMOD/frontend/pvio_net.ko" \
	"$KMOD/frontend/pvio_balloon.ko" "$PVIOD" "$O/pvioctl"; do
	[ -f "$f" ] || { echo "not ok 1 - libvirt: $f not built (make all modules)"; exit 1; }
done
KERNEL=/boot/vmlinuz-$("$VM/vm.sh" kver)
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
cat >"$TMP/domain.xml" <<XML
<domain type='qemu'>
  <name>$NAME</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
$(sed -n '/<memoryBacking>/,/<\/memoryBacking>/p' "$TMP/snippet.xml")
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$BUILD/libvirt.cpio.gz</initrd>
    <cmdline>console=ttyS0 tsc=reliable panic=-1 quiet loglevel=3 pvio_test.script=/tests/libvirt.sh</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum' check='none'>
    <feature policy='disable' name='erms'/>
    <feature policy='disable' name='fsrm'/>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'><source path='$LOG'/><target port='0'/></serial>
$(sed -n '/<shmem /,/<\/shmem>/p' "$TMP/snippet.xml")
    <memballoon model='none'/>
  </devices>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
</domain>
XML
# Results before the guest's are kept and printed after them (vm_guest_results numbers from 1).
RES=()
later() { if eval "$2"; then RES+=("1:$1"); else RES+=("0:$1"); fi; }
later "virt-xml-validate accepts the domain with pvioctl libvirt-xml's snippet" \
	"virt-xml-validate '$TMP/domain.xml' domain >'$TMP/validate.out' 2>&1 || { sed 's/^/# /' '$TMP/validate.out'; cat -n '$TMP/domain.xml' | sed 's/^/# /'; false; }"

# ---- 3. the hook, then our libvirtd ---------------------------------------------------
if [ ! -d "$HOOKDIR" ]; then
	mkdir -p "$HOOKDIR"
	HOOKDIR_MADE=1
fi
cat >"$HOOK" <<SH
#!/bin/sh
# tests/libvirt/libvirt.sh (PID $$): pvio's hook on this test's pviod
export PVIOCTL='$O/pvioctl' PVIO_SOCKET='$CTL' PVIO_LIBVIRT_DIR='$TMP/guests' PVIO_RUN_DIR='$TMP/run'
exec '$REPO/packaging/libvirt/qemu' "\$@"
SH
chmod 755 "$HOOK"
HOOK_MADE=1
/usr/sbin/virtlogd -d -p "$TMP/virtlogd.pid"
/usr/sbin/libvirtd -d -p "$TMP/libvirtd.pid"
for _ in $(seq 100); do
	[ -s "$TMP/libvirtd.pid" ] && [ -s "$TMP/virtlogd.pid" ] && virsh_ version >/dev/null 2>&1 && break
	sleep 0.1
done
VIRTLOGD_PID=$(cat "$TMP/virtlogd.pid" 2>/dev/null || true)
LIBVIRTD_PID=$(cat "$TMP/libvirtd.pid" 2>/dev/null || true)
later "libvirtd and virtlogd started ($LIBVIRTD_PID, $VIRTLOGD_PID)" "virsh_ version >/dev/null"

# ---- 4. the domain -----------------------------------------------------------------
started=0
if virsh_ create "$TMP/domain.xml" >"$TMP/create.out" 2>&1; then
	started=1
else
	sed 's/^/# virsh: /' "$TMP/create.out"
fi
later "virsh create starts the domain" "[ $started = 1 ]"
listed=no
for _ in $(seq 100); do
	"$O/pvioctl" -s "$CTL" list 2>/dev/null | grep -q "^$NAME " && { listed=yes; break; }
	sleep 0.1
done
later "the hook added guest $NAME to pviod before QEMU started (listed: $listed)" "[ $listed = yes ]"
ip netns exec "$NS" ip link show "$TAP" >/dev/null 2>&1 && ip netns exec "$NS" ip addr add 10.79.0.1/24 dev "$TAP"
grep -o "mem-path[^,]*" "/var/log/libvirt/qemu/$NAME.log" 2>/dev/null | tail -n 1 | sed 's/^/# QEMU /'
# Until the guest powers off and libvirt lets the domain go (at most 300 s).
t0=$SECONDS
while [ $started = 1 ] && virsh_ domstate "$NAME" >/dev/null 2>&1 && [ $((SECONDS - t0)) -lt 300 ]; do
	sleep 1
done
gone=yes
virsh_ domstate "$NAME" >/dev/null 2>&1 && gone=no
later "the domain ran to its end and went ($((SECONDS - t0)) s)" "[ $gone = yes ]"
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
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
exit $rc
