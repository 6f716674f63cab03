#!/bin/sh
# tests/vm/guest-init.sh - /init of the pvio test initramfs (busybox sh).
#
# Mounts proc, sysfs, devtmpfs, devpts, debugfs and tmpfs (/tmp, /run,
# /dev/shm), puts stdin/stdout/stderr on /dev/console (ttyS0 with
# console=ttyS0), brings up lo, then runs the guest test script named by
# "pvio_test.script=PATH" on the kernel command line (default
# /tests/run-guest.sh; "none" runs nothing) and brackets its output:
#
#   PVIO-GUEST-BEGIN
#   ...script output (TAP)...
#   PVIO-GUEST-END rc=<exit code of the script>
#
# then waits for the console to drain and powers off (poweroff -f).  The
# host side (vm.sh) watches for these markers on the serial log.
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
read -r cmdline </proc/cmdline
set -f
for arg in $cmdline; do
	case $arg in pvio_test.script=*) script=${arg#pvio_test.script=} ;; esac
done
set +f

read -r up _ </proc/uptime
say "kernel $(uname -r), uptime ${up}s, script $script"
cd / || true
echo PVIO-GUEST-BEGIN
rc=0
if [ "$script" != none ]; then
	sh "$script" </dev/null
	rc=$?
fi
echo "PVIO-GUEST-END rc=$rc"
halt_now
