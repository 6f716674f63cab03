#!/bin/sh
# tools/vm/guest-init.sh - /init of the pvio test initramfs (busybox sh).
#
# Mounts proc, sysfs, devtmpfs, devpts, debugfs and tmpfs (/tmp, /run,
# /dev/shm), puts stdin/stdout/stderr on /dev/console (ttyS0 with
# console=ttyS0), brings up lo, then runs the guest test script named by
# "pvio_test.script=PATH" on the kernel command line (default
# /tests/run-guest.sh; "none" runs nothing) and brackets its output:
#
#   PVIO-GUEST-BEGIN
#   ...script output (TAP)...
#   PVIO-KLOG-BEGIN kasan=0|1 lockdep=0|1|off kmemleak=0|1|off
#   ...the kernel log (dmesg), then kmemleak's report...
#   PVIO-KLOG-END
#   PVIO-GUEST-END rc=<exit code of the script>
#
# then waits for the console to drain and powers off (poweroff -f); with
# "pvio_test.hold=1" it stays up instead, for the host to stop it (a
# libvirt domain that "virsh destroy" ends).  The
# host side (vm.sh) watches for these markers on the serial log; host.sh's
# vm_klog_check fails a run whose kernel log has a report in it.  The
# tests boot with loglevel=3, so the console alone would miss KASAN,
# lockdep and WARN reports.  On a kernel with kmemleak (the debug kernel
# of make check-debug-kernel) its automatic scans are turned off at boot
# and two scans run after the script, 5 s apart (an object younger than
# 5 s is never reported, and one only a CPU register still pointed to
# during the first scan is not reported by the second).  "off": built in,
# but it turned itself off (lockdep does after its first report).
#
# No "set -e" here on purpose: this is PID 1, and if it exits the kernel
# panics instead of reporting the result.  Every step is checked by hand.
set -u
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "pvio-init: $*"; }
mnt() { mkdir -p "$3"; mount -t "$1" "$2" "$3" || say "cannot mount $1 on $3"; }
drain() { stty -F /dev/console onlcr 2>/dev/null || sleep 1; }
halt_now() { drain; poweroff -f; echo o >/proc/sysrq-trigger; sleep 5; }

mnt proc proc /proc
mnt sysfs sysfs /sys
mnt devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mnt devpts devpts /dev/pts
mnt tmpfs tmpfs /dev/shm
mnt tmpfs tmpfs /tmp
mnt tmpfs tmpfs /run
mnt debugfs debugfs /sys/kernel/debug
hostname pvio-guest
ip link set lo up 2>/dev/null || say "cannot bring up lo"

script=/tests/run-guest.sh
hold=0
read -r cmdline </proc/cmdline
set -f
for arg in $cmdline; do
	case $arg in
	pvio_test.script=*) script=${arg#pvio_test.script=} ;;
	pvio_test.hold=1) hold=1 ;;
	esac
done
set +f

# Which checkers this kernel has; at boot, while the log still holds
# KASAN's banner.
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then echo scan=off >$kmemleak 2>/dev/null; fi
kasan=0 lockdep=0
dmesg | grep -q 'KernelAddressSanitizer initialized' && kasan=1
[ -e /proc/lockdep_chains ] && lockdep=1

# klog_dump: the markers and what is between them (see the top).
klog_dump() {
	leak=0
	if [ $lockdep = 1 ] && ! grep -qE 'debug_locks: +1' /proc/lockdep_stats; then lockdep=off; fi
	if [ -e $kmemleak ]; then
		leak=off
		if echo scan >$kmemleak 2>/dev/null; then
			sleep 5
			echo scan >$kmemleak 2>/dev/null && leak=1
		fi
	fi
	echo "PVIO-KLOG-BEGIN kasan=$kasan lockdep=$lockdep kmemleak=$leak"
	# A script that empties the ring (dmesg -c) keeps what it took in
	# /tmp/klog (tests/vm/guest/hostile.sh does).
	cat /tmp/klog 2>/dev/null
	dmesg
	[ "$leak" = 1 ] && cat $kmemleak
	echo PVIO-KLOG-END
}

read -r up _ </proc/uptime
say "kernel $(uname -r), uptime ${up}s, script $script"
cd / || true
echo PVIO-GUEST-BEGIN
rc=0
if [ "$script" != none ]; then
	sh "$script" </dev/null
	rc=$?
fi
klog_dump
echo "PVIO-GUEST-END rc=$rc"
if [ $hold = 1 ]; then
	drain
	while :; do sleep 3600; done
fi
halt_now
