# shellcheck shell=sh
# userspace/bench/common/guest-count.sh - sourced by the VM benchmarks'
# guest scripts (busybox sh; in the initramfs as /tests/count.sh) for their
# counting boots (bench.count=1 on the kernel command line).
#
# The caller sets COUNT (1 in a counting boot), NOTIFY (the driver's
# doorbell function -- vp_notify, pvio_ring_doorbell -- or empty for a
# device that has none) and IRQ (an extended regex for its lines in
# /proc/interrupts), then calls count_setup once.  Doorbells are
# ioeventfd writes that QEMU's trace does not see, so the guest counts
# them with a kprobe; interrupts it reads from /proc/interrupts; port80 N
# writes one byte to I/O port 0x80, which the host finds in QEMU's trace
# of every MMIO and port access and uses to cut it into tests.
T=/sys/kernel/debug/tracing

count_setup() {
	[ "$COUNT" = 1 ] && [ -n "$NOTIFY" ] || return 0
	echo 0 >$T/tracing_on
	echo "p:pvnotify $NOTIFY" >>$T/kprobe_events && echo 1 >$T/events/kprobes/pvnotify/enable ||
		echo "# count: no kprobe on $NOTIFY"
}

# The device's interrupts so far, all CPUs, all its vectors.
irqs() {
	grep -E "$IRQ" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}

# Calls of $NOTIFY so far (0 without the kprobe).
notifies() {
	awk '$1 == "pvnotify" { print $2 } END { if (!NR) print 0 }' $T/kprobe_profile 2>/dev/null || echo 0
}

# One byte to port 0x80: QEMU's trace shows it as a write to 'ioport80'.
port80() {
	printf "\\$(printf %o "$1")" | dd of=/dev/port bs=1 seek=128 count=1 2>/dev/null
}
