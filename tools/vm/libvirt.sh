#!/bin/bash
# tools/vm/libvirt.sh - a pvio guest as a libvirt domain, the way the
# libvirt test (tests/libvirt/libvirt.sh) and "make demo" run one: pvio's
# hook (packaging/libvirt/qemu) pointed at a pviod and directories of the
# caller's, a libvirtd and virtlogd of our own that find it when they
# start, a TCG domain booting the test kernel and an initramfs.  Sourced;
# defines functions and sets LV_* variables.
#
#   lv_unusable            print why libvirt cannot be used here (not
#                          root, libvirt not installed, a libvirtd already
#                          running: ours must start after the hook is in
#                          place), or nothing
#   lv_hook_install CTL GUESTS RUN
#                          /etc/libvirt/hooks/qemu.d/pvio-test-$$: the
#                          tree's hook with pvioctl at $O, control socket
#                          CTL, guest files in GUESTS, what it writes in RUN
#   lv_daemons_start DIR   virtlogd and libvirtd (system mode, pid files in
#                          DIR); 0 once virsh answers, 1 after 10 s
#   lv_domain_xml NAME SNIPPET INITRD CMDLINE CONSOLE
#                          a TCG domain of 512 MiB and 2 vCPUs that boots
#                          the guest kernel with INITRD and CMDLINE, its
#                          serial console to the file CONSOLE, with the
#                          <memoryBacking> and <shmem> of SNIPPET ("pvioctl
#                          libvirt-xml"); QEMU runs as root (pviod's
#                          sockets are root's)
#   lv_virsh ARGS...       virsh -q -c qemu:///system ARGS...
#   lv_cleanup             destroy and undefine LV_DOMAIN if set, stop our
#                          daemons, remove the hook: safe to call twice
LV_HOOKDIR=/etc/libvirt/hooks/qemu.d
LV_HOOK=$LV_HOOKDIR/pvio-test-$$
LV_HOOK_MADE=
LV_HOOKDIR_MADE=
LV_LIBVIRTD_PID=
LV_VIRTLOGD_PID=
LV_DOMAIN=
LV_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

lv_virsh() { virsh -q -c qemu:///system "$@"; }

lv_unusable() {
	local b
	[ "$(id -u)" = 0 ] || { echo "needs root (libvirtd in system mode, a network namespace)"; return; }
	for b in /usr/sbin/libvirtd /usr/sbin/virtlogd virsh virt-xml-validate; do
		command -v "$b" >/dev/null ||
			{ echo "$b not installed (libvirt-daemon-system, libvirt-clients: tools/deps.sh)"; return; }
	done
	if pgrep -x libvirtd >/dev/null; then
		echo "a libvirtd not started here is running (ours must start after the hook is in place)"
	fi
}

lv_hook_install() {
	if [ ! -d "$LV_HOOKDIR" ]; then
		mkdir -p "$LV_HOOKDIR"
		LV_HOOKDIR_MADE=1
	fi
	cat >"$LV_HOOK" <<SH
#!/bin/sh
# pvio's hook (PID $$) on the pviod of $1
export PVIOCTL='$O/pvioctl' PVIO_SOCKET='$1' PVIO_LIBVIRT_DIR='$2' PVIO_RUN_DIR='$3'
exec '$LV_REPO/packaging/libvirt/qemu' "\$@"
SH
	chmod 755 "$LV_HOOK"
	LV_HOOK_MADE=1
}

lv_daemons_start() {
	/usr/sbin/virtlogd -d -p "$1/virtlogd.pid"
	/usr/sbin/libvirtd -d -p "$1/libvirtd.pid"
	for _ in $(seq 100); do
		[ -s "$1/libvirtd.pid" ] && [ -s "$1/virtlogd.pid" ] && lv_virsh version >/dev/null 2>&1 && break
		sleep 0.1
	done
	LV_VIRTLOGD_PID=$(cat "$1/virtlogd.pid" 2>/dev/null || true)
	LV_LIBVIRTD_PID=$(cat "$1/libvirtd.pid" 2>/dev/null || true)
	lv_virsh version >/dev/null 2>&1
}

lv_domain_xml() {
	local name=$1 snippet=$2 initrd=$3 cmdline=$4 console=$5
	cat <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
$(sed -n '/<memoryBacking>/,/<\/memoryBacking>/p' "$snippet")
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>/boot/vmlinuz-$("$LV_REPO/tools/vm/vm.sh" kver)</kernel>
    <initrd>$initrd</initrd>
    <cmdline>console=ttyS0 tsc=reliable panic=-1 quiet loglevel=3 $cmdline</cmdline>
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
    <serial type='file'><source path='$console'/><target port='0'/></serial>
$(sed -n '/<shmem /,/<\/shmem>/p' "$snippet")
    <memballoon model='none'/>
  </devices>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
</domain>
XML
}

lv_cleanup() {
	local p
	if [ -n "$LV_LIBVIRTD_PID" ] && [ -n "$LV_DOMAIN" ]; then
		lv_virsh destroy "$LV_DOMAIN" >/dev/null 2>&1
		lv_virsh undefine "$LV_DOMAIN" >/dev/null 2>&1
	fi
	# Not our children (they daemonize): SIGTERM, then SIGKILL after 5 s.
	for p in $LV_LIBVIRTD_PID $LV_VIRTLOGD_PID; do
		kill "$p" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	LV_LIBVIRTD_PID=
	LV_VIRTLOGD_PID=
	[ -n "$LV_HOOK_MADE" ] && rm -f "$LV_HOOK"
	LV_HOOK_MADE=
	[ -n "$LV_HOOKDIR_MADE" ] && rmdir "$LV_HOOKDIR" 2>/dev/null
	LV_HOOKDIR_MADE=
	true
}
