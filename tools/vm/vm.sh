#!/bin/bash
# tools/vm/vm.sh - boot a pvio test guest under QEMU and collect its result.
#
#   vm.sh run --initrd FILE --script /path/in/initrd [--mem MiB] [--smp N]
#             [--timeout SEC] [--log FILE] [--ram-file PATH] [--append "ARGS"]
#             [--qemu-extra "ARGS"]...
#   vm.sh tap LOG      print the guest's output between the markers (no \r),
#                      without the kernel log guest-init.sh dumps there
#   vm.sh kver         print the guest kernel version in use
#
# run boots the guest kernel /boot/vmlinuz-$KVER (by default through its
# extracted vmlinux, see PVIO_VM_PVH), or PVIO_GUEST_KERNEL, with the
# initramfs (mkinitramfs.sh) on
# TCG: -accel tcg,thread=multi -machine pc -cpu max -nodefaults -display none
# -no-reboot, no network device at all, kernel command line "console=ttyS0
# tsc=reliable panic=-1 quiet pvio_test.script=SCRIPT" plus PVIO_VM_APPEND
# and --append (e.g. "loglevel=2" keeps kernel errors off the console;
# they are in dmesg, which guest-init.sh dumps at the end).
# (-display none rather than -nographic: the same, minus SeaBIOS writing
# terminal escapes to the serial log.)  The guest's /init (guest-init.sh)
# runs SCRIPT between the lines "PVIO-GUEST-BEGIN" and
# "PVIO-GUEST-END rc=N" and powers off; just before the END line it
# dumps the kernel log between "PVIO-KLOG-BEGIN ..." and "PVIO-KLOG-END"
# (host.sh's vm_klog_check reads it).  The serial console goes to --log
# FILE, or, without --log, to stdout as it arrives.  --ram-file puts guest
# RAM in a shared file (memory-backend-file, share=on) a backend can map; a
# file that did not exist before is removed afterwards.  --qemu-extra adds
# QEMU arguments, split on blanks (no quoting), e.g. ivshmem-doorbell:
#   --qemu-extra "-chardev socket,path=SOCK,id=pv0
#                 -device ivshmem-doorbell,chardev=pv0,vectors=8"
# Defaults: --mem 1024 --smp 2 --timeout 300.
#
# Exit status of run: the guest script's exit code; 124 on timeout; 125 if
# QEMU failed or the guest died before the END marker (panic, crash); 2 on
# usage errors.  On 124/125 the last 30 console lines are printed to stderr.
# QEMU is killed by the PID this script started (never by name), on every
# exit path, including Ctrl-C.  Timing (boot = QEMU start until the BEGIN
# marker) is reported on stderr.
#
# Sourced (". tools/vm/vm.sh"), it defines vm_run, vm_tap, guest_kver and
# helpers and sets nothing else; vm_run runs in a subshell, so its traps and
# options do not leak into the caller.  QEMU is started under
# "setpriv --pdeathsig KILL", so it cannot outlive the shell that started it.
#
# Environment:
#   PVIO_GUEST_KVER     guest kernel version (default: the last part of
#                       PVIO_GUEST_MODDIR if set, else the newest non-rt
#                       /lib/modules/6.1*-amd64)
#   PVIO_GUEST_KERNEL   kernel image to boot (default: see PVIO_VM_PVH); a
#                       bzImage or an ELF vmlinux with a PVH entry
#   PVIO_GUEST_MODDIR   that kernel's modules tree, for mkinitramfs.sh
#                       (default /lib/modules/$KVER), e.g. the debug
#                       kernel's .../mods/lib/modules/6.1.N-pvio-debug
#                       (tools/debug-kernel.sh prints both)
#   PVIO_VM_APPEND      more kernel command line for every guest
#   PVIO_VM_OUT         (read by the test scripts, not here) where they
#                       put initramfs images and console logs; default
#                       $O/vm, make check-debug-kernel uses $O/vm-debug
#   PVIO_VM_PVH=0       boot /boot/vmlinuz-$KVER as is; by default its ELF
#                       vmlinux is extracted once to build/vm/vmlinux-$KVER
#                       and booted through the PVH entry (same kernel, ~4 s
#                       less per boot under TCG: no xz decompression)
#   PVIO_QEMU           QEMU binary (default qemu-system-x86_64)
#   PVIO_VM_ACCEL       force the -accel value (e.g. "kvm"), no probe
#   PVIO_VM_CPU         the -cpu model (default max,-erms,-fsrm: see below)
#   PVIO_VM_KVM=1       probe KVM with a short boot (PVIO_VM_KVM_PROBE_TIMEOUT
#                       seconds, default 20) and use it if the guest gets
#                       through; otherwise TCG.  Off by default: /dev/kvm here
#                       is a PVM hypervisor on which a stock kernel hangs.

# ---- helpers -----------------------------------------------------------------

vm_log() { echo "vm.sh: $*" >&2; }
vm_usage() { sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; return 2; }
guest_kver() {
	if [ -n "${PVIO_GUEST_KVER:-}" ]; then echo "$PVIO_GUEST_KVER"
	elif [ -n "${PVIO_GUEST_MODDIR:-}" ]; then basename "$PVIO_GUEST_MODDIR"
	else vm_kvers | sort -V | tail -n 1; fi
}
# guest_moddir: the guest kernel's modules tree (modules.dep, modules.builtin)
guest_moddir() { echo "${PVIO_GUEST_MODDIR:-/lib/modules/$(guest_kver)}"; }
vm_kvers() { local d; for d in /lib/modules/6.1*-amd64; do case $d in *-rt-amd64 | *'*'*) ;; *) echo "${d##*/}" ;; esac; done; }
vm_now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
vm_secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
vm_alive() { local s; s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "${s%% *}" != Z ]; }
vm_tap() {
	tr -d '\r' <"$1" | awk '/PVIO-GUEST-END/ { exit } /^PVIO-KLOG-BEGIN/ { k = 1 }
		f && !k { print } /^PVIO-KLOG-END/ { k = 0 } /PVIO-GUEST-BEGIN/ { f = 1 }'
}
vm_guest_rc() { tr -d '\r' <"$1" | sed -n 's/.*PVIO-GUEST-END rc=\([0-9][0-9]*\).*/\1/p' | head -n 1; }
vm_tail() { vm_log "last 30 console lines ($1):"; tail -n 30 "$1" | tr -d '\r' | sed 's/^/  | /' >&2; }
vm_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

vm_build_dir() { echo "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/vm"; }
vm_is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# vm_kernel KVER: the guest kernel image to boot.  By default the ELF vmlinux
# inside /boot/vmlinuz-KVER, extracted once to build/vm/vmlinux-KVER: QEMU
# boots it through its PVH entry point, which skips the ~4 s the xz
# decompressor takes under TCG.  PVIO_VM_PVH=0 boots the bzImage itself.
vm_kernel() {
	local bz=/boot/vmlinuz-$1 elf
	elf=$(vm_build_dir)/vmlinux-$1
	if [ -n "${PVIO_GUEST_KERNEL:-}" ]; then echo "$PVIO_GUEST_KERNEL"; return; fi
	if [ "${PVIO_VM_PVH:-1}" = 0 ]; then echo "$bz"; return; fi
	if [ -s "$elf" ] && [ ! "$elf" -ot "$bz" ] || vm_extract "$bz" "$elf"; then echo "$elf"; else echo "$bz"; fi
}

# vm_extract BZIMAGE OUT: decompress the xz payload of a bzImage (Debian's
# 6.1 is CONFIG_KERNEL_XZ) into OUT, atomically.  Fails if no ELF comes out.
vm_extract() {
	local off tmp=$2.$$.tmp
	off=$(LC_ALL=C grep -abo -m 1 $'\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || { vm_log "no xz payload in $1, booting the bzImage"; return 1; }
	mkdir -p "$(dirname "$2")"
	tail -c +$((off + 1)) "$1" | xz -dc --single-stream >"$tmp" 2>/dev/null || true
	if vm_is_elf "$tmp"; then mv -f "$tmp" "$2"; else rm -f "$tmp"; vm_log "cannot extract vmlinux from $1"; return 1; fi
}

# vm_kill PID: SIGTERM, up to 5 s grace, then SIGKILL; reaps the child.
vm_kill() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 50); do vm_alive "$1" || break; sleep 0.1; done
	if vm_alive "$1"; then kill -KILL "$1" 2>/dev/null || true; fi
	wait "$1" 2>/dev/null || true
}

# vm_accel INITRD: the -accel value: PVIO_VM_ACCEL, a KVM probe if asked
# (PVIO_VM_KVM=1), or multi-threaded TCG.
vm_accel() {
	if [ -n "${PVIO_VM_ACCEL:-}" ]; then
		echo "$PVIO_VM_ACCEL"
	elif [ "${PVIO_VM_KVM:-0}" = 1 ] && vm_kvm_probe "$1"; then
		echo kvm
	else
		echo tcg,thread=multi
	fi
}

# vm_kvm_probe INITRD: boot INITRD on KVM with no guest script (the init
# powers off at once); usable only if that finishes within the probe timeout.
vm_kvm_probe() {
	local t=${PVIO_VM_KVM_PROBE_TIMEOUT:-20}
	if [ ! -w /dev/kvm ]; then vm_log "KVM probe: /dev/kvm not usable, using TCG"; return 1; fi
	if PVIO_VM_ACCEL=kvm vm_run --initrd "$1" --script none --mem 256 --smp 1 \
		--timeout "$t" --log /dev/null >/dev/null 2>&1; then
		vm_log "KVM probe: guest booted, using KVM"
	else
		vm_log "KVM probe: no clean boot within ${t}s, using TCG"
		return 1
	fi
}

# vm_cleanup: EXIT trap of vm_run; sees vm_run's qemu_pid, ram_created, tmp.
vm_cleanup() {
	if [ -n "$qemu_pid" ]; then vm_kill "$qemu_pid"; fi
	if [ -n "$ram_created" ]; then rm -f "$ram_file"; fi
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}

# ---- vm_run: one guest boot -----------------------------------------------------

# Sourced use: a subshell, so vm_boot's traps, options and variables stay out
# of the caller.  (Executed, vm.sh calls vm_boot directly so that a TERM or
# INT sent to vm.sh reaches vm_boot's traps.)
vm_run() ( vm_boot "$@" )

vm_boot() {
	set -u
	initrd="" script="" mem=1024 smp=2 timeout=300 log="" ram_file="" append=""
	extra=()
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || { vm_log "missing value for $1"; vm_usage; exit 2; }
		case $1 in
		--initrd) initrd=$2 ;;
		--script) script=$2 ;;
		--mem) mem=$2 ;;
		--smp) smp=$2 ;;
		--timeout) timeout=$2 ;;
		--log) log=$2 ;;
		--ram-file) ram_file=$2 ;;
		--append) append=$2 ;;
		--qemu-extra) read -ra words <<<"$2" && extra+=("${words[@]}") ;;
		*) vm_log "unknown option $1"; vm_usage; exit 2 ;;
		esac
		shift 2
	done
	if [ -z "$initrd" ] || [ -z "$script" ]; then vm_log "--initrd and --script are required"; vm_usage; exit 2; fi
	[ -r "$initrd" ] || { vm_log "cannot read initrd $initrd"; exit 125; }
	case $mem$smp$timeout in *[!0-9]*) vm_log "--mem, --smp, --timeout take integers"; exit 2 ;; esac

	kver=$(guest_kver)
	kernel=$(vm_kernel "$kver")
	qemu=${PVIO_QEMU:-qemu-system-x86_64}
	[ -r "$kernel" ] || { vm_log "cannot read guest kernel $kernel (kver '$kver')"; exit 125; }
	command -v "$qemu" >/dev/null || { vm_log "$qemu not found"; exit 125; }

	# State vm_cleanup needs; set before the trap.
	qemu_pid="" ram_created="" tmp=""
	trap vm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvio-vm.XXXXXX")

	# No --log: stream the console to stdout; --log /dev/null: discard it.
	stream=""
	case $log in
	"") log=$tmp/console.log stream=1 ;;
	/dev/null) log=$tmp/console.log ;;
	*) mkdir -p "$(dirname "$log")" ;;
	esac
	: >"$log"

	accel=$(vm_accel "$initrd")
	machine=pc
	args=()
	if [ -n "$ram_file" ]; then
		if [ ! -e "$ram_file" ]; then ram_created=1; fi
		machine=pc,memory-backend=ram0
		args+=(-object "memory-backend-file,id=ram0,size=${mem}M,mem-path=$ram_file,share=on")
	fi
	# -cpu max without ERMS/FSRM: with them the guest kernel copies with
	# "rep movsb", which TCG runs a byte at a time; without them it uses
	# "rep movsq" or unrolled moves.  Measured on the vm-net benchmark:
	# virtio-net TCP 1.1 -> 2.1 Gbit/s guest->host, 1.5 -> 3.5 host->guest.
	cmdline="console=ttyS0 tsc=reliable panic=-1 quiet pvio_test.script=$script${PVIO_VM_APPEND:+ $PVIO_VM_APPEND}${append:+ $append}"
	args=(-name "guest=pvio-vm.$BASHPID,debug-threads=on" -accel "$accel" -machine "$machine" -cpu "${PVIO_VM_CPU:-max,-erms,-fsrm}"
		-m "${mem}M" -smp "$smp" -display none -nodefaults -no-reboot
		-serial "file:$log" -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
		"${args[@]}" "${extra[@]}")

	t0=$(vm_now_us)
	deadline=$((t0 + timeout * 1000000))
	# setpriv --pdeathsig: QEMU gets SIGKILL if this shell dies without
	# running its traps (SIGKILL); it execs QEMU, so $! is QEMU's PID.
	pdeath=()
	if command -v setpriv >/dev/null; then pdeath=(setpriv --pdeathsig KILL --); fi
	"${pdeath[@]}" "$qemu" "${args[@]}" </dev/null >"$tmp/qemu.out" 2>&1 &
	qemu_pid=$!

	# Poll the console log: BEGIN marker (boot time), END marker, QEMU exit,
	# timeout.  Without --log, copy new console bytes to stdout as they come.
	off=0 t_boot="" ended="" timed_out=""
	vm_stream() { local n; n=$(vm_size "$log"); if [ -n "$stream" ] && [ "$n" -gt "$off" ]; then tail -c +$((off + 1)) "$log" | head -c $((n - off)); off=$n; fi; }
	while :; do
		vm_stream
		if [ -z "$t_boot" ] && grep -aq PVIO-GUEST-BEGIN "$log"; then t_boot=$(vm_now_us); fi
		if grep -aq 'PVIO-GUEST-END rc=' "$log"; then ended=1; break; fi
		# The guest may have printed END and powered off since the grep.
		if ! vm_alive "$qemu_pid"; then
			if grep -aq 'PVIO-GUEST-END rc=' "$log"; then ended=1; fi
			break
		fi
		if [ "$(vm_now_us)" -ge "$deadline" ]; then timed_out=1; break; fi
		# Sourced use: stop if the calling shell ($$) is gone.
		if ! vm_alive "$$"; then vm_log "caller $$ exited, stopping"; exit 143; fi
		sleep 0.1
	done
	t_end=$(vm_now_us)

	# The guest powers off right after the END marker: give QEMU 5 s to exit
	# on its own, then stop it.  Either way the log is complete after this.
	if [ -n "$ended" ]; then
		for _ in $(seq 50); do vm_alive "$qemu_pid" || break; sleep 0.1; done
	fi
	qemu_status=0
	if vm_alive "$qemu_pid"; then
		vm_kill "$qemu_pid"
	else
		wait "$qemu_pid" || qemu_status=$?
	fi
	qemu_pid=""
	vm_stream

	boot="no BEGIN marker"
	if [ -n "$t_boot" ]; then boot="$(vm_secs $((t_boot - t0)))s"; fi
	timing="accel=$accel boot=$boot total=$(vm_secs $((t_end - t0)))s"
	rc=$(vm_guest_rc "$log")
	if [ -n "$ended" ] && [ -n "$rc" ]; then
		vm_log "$timing guest rc=$rc"
		exit "$rc"
	elif [ -n "$timed_out" ]; then
		vm_log "$timing TIMEOUT after ${timeout}s, QEMU killed"
		vm_tail "$log"
		exit 124
	fi
	vm_log "$timing QEMU exited (status $qemu_status) before the guest finished"
	sed 's/^/  qemu: /' "$tmp/qemu.out" >&2
	vm_tail "$log"
	exit 125
}

# ---- command line -------------------------------------------------------------

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -eu
	cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in
	run) vm_boot "$@" ;;
	tap) [ $# -eq 1 ] || vm_usage; vm_tap "$1" ;;
	kver) guest_kver ;;
	*) vm_usage ;;
	esac
fi
