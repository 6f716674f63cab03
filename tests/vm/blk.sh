#!/bin/bash
# tests/vm/blk.sh - pvio_blk.ko end to end: pviod's block device on image
# files, a QEMU guest with the ivshmem-doorbell device; the guest half is
# tests/vm/guest/blk.sh (ext4, fio verify, discard, read-only, full host
# filesystem, resize, worker SIGKILL during verified writes, a stalled
# backend, unload/reload).
#
# The guest's worker runs on PVIO_VM_THREADS threads (default 2: disk0's
# queue 1 and disk2 are thread 1's, the rest the main thread's; the
# other VM tests run the default of one thread).
#
#   disk0  $IMG/disk0.img  256 MiB sparse, 2 queues, cache = none (O_DIRECT)
#   disk1  $IMG/disk1.img  16 MiB of random bytes, readonly = yes
#   disk2  $TMP/full/disk2.img  64 MiB sparse on a 4 MiB tmpfs mounted here
#
# The guest asks for the host's half with "PVIO-SYNC ..." console lines;
# "host-sha" ranges are compared with the image files after the run.
# Prints the guest's TAP plus host-side checks; exits non-zero on any
# failure.  Everything started here is stopped by PID; the tmpfs is
# unmounted and the files are removed on every exit.
set -eu

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
REPO=$(cd "$HERE/../.." && pwd)
O=${O:-$REPO/build}
BUILD=${PVIO_VM_OUT:-$O/vm}
KMOD=${KMOD:-$O/kmod-generic}
PVIOD=${PVIOD:-$O/pviod-san}	# the ASan/UBSan build by default
TMP=$(mktemp -d /tmp/pvio-vmblk.XXXXXX)
IMG=$BUILD/blk-img.$$		# on the build disk: O_DIRECT works there
RAM=/dev/shm/pvio-vmblk-$$
SOCK=$TMP/guest.sock
CTL=$TMP/control.sock
LOG=$BUILD/blk.log
QUEUES=2
THREADS=${PVIO_VM_THREADS:-2}
VM_PID=
CONT_PID=
FULL_MOUNTED=
SHA_CHECKS=()

cleanup() {
	set +e	# a trap: every step, whatever the one before returned
	[ -n "$VM_PID" ] && kill "$VM_PID" 2>/dev/null && wait "$VM_PID" 2>/dev/null
	[ -n "$CONT_PID" ] && kill "$CONT_PID" 2>/dev/null && wait "$CONT_PID" 2>/dev/null
	vm_pviod_stop_all
	[ -f "$TMP/pviod.log" ] && cp "$TMP/pviod.log" "$BUILD/blk-pviod.log"
	[ -n "$FULL_MOUNTED" ] && umount "$TMP/full" 2>/dev/null
	rm -rf "$TMP" "$RAM" "$IMG"
}
trap cleanup EXIT

worker_pid() { "$O/pvioctl" -s "$CTL" worker-pid; }

# act LINE: the host's half of one "PVIO-SYNC ..." line.
act() {
	local what=$1
	shift
	echo "# host: $what $*"
	case $what in
	host-sha) SHA_CHECKS+=("$*") ;;
	blk-resize) "$O/pvioctl" -s "$CTL" blk-resize vm "$1" "$2" | sed 's/^/# host: /' ;;
	kill-worker) kill -KILL "$(worker_pid)" ;;
	stop-worker)
		local w
		w=$(worker_pid)
		kill -STOP "$w"
		(sleep "$1"; kill -CONT "$w") &
		CONT_PID=$! ;;
	*) echo "# host: unknown PVIO-SYNC '$what'" ;;
	esac
}

# img_sha DEV MIB_OFF MIB_LEN
img_sha() { dd if="$IMG/$1.img" bs=1M skip="$2" count="$3" 2>/dev/null | sha256sum | cut -d' ' -f1; }

for f in "$KMOD/frontend/pvio.ko" "$KMOD/frontend/pvio_blk.ko" "$PVIOD" "$O/pvioctl" \
	/usr/bin/fio /usr/sbin/mkfs.ext4 /usr/sbin/blkdiscard; do
	[ -f "$f" ] || { echo "not ok - blk: $f not built or not installed (make all modules; tools/deps.sh)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "ok 1 # SKIP blk: needs root (tmpfs mount)"; echo "1..1"; exit 0; }
mkdir -p "$BUILD" "$IMG" "$TMP/full"
rm -f "$LOG"
# fio and mkfs.ext4 are dynamic (fio pulls ~80 MiB of libraries): the
# image is left uncompressed, which the guest kernel unpacks much faster.
PVIO_INITRD_RAW=1 "$VM/mkinitramfs.sh" "$BUILD/blk.cpio" \
	--module "$KMOD/frontend/pvio.ko" --module "$KMOD/frontend/pvio_blk.ko" \
	--kmod ext4 --kmod crc32c_generic \
	--bin /usr/bin/fio --bin /usr/sbin/mkfs.ext4 --bin /usr/sbin/blkdiscard \
	--file "$HERE/guest/blk.sh:/tests/blk.sh" 2>/dev/null

truncate -s 256M "$IMG/disk0.img"
dd if=/dev/urandom of="$IMG/disk1.img" bs=1M count=16 2>/dev/null
RO_SHA=$(sha256sum "$IMG/disk1.img" | cut -d' ' -f1)
mount -t tmpfs -o size=4M pvio-blk-full "$TMP/full"
FULL_MOUNTED=1
truncate -s 64M "$TMP/full/disk2.img"

cat >"$TMP/pviod.ini" <<INI
[pviod]
control = $CTL
heartbeat_ms = 100

[guest vm]
socket = $SOCK
ram = $RAM
ram_size = 1024M
machine = pc
threads = $THREADS

[device vm disk0]
type = blk
path = $IMG/disk0.img
cache = none
serial = disk0
queues = $QUEUES

[device vm disk1]
type = blk
path = $IMG/disk1.img
readonly = yes
serial = disk1
queues = 1

[device vm disk2]
type = blk
path = $TMP/full/disk2.img
cache = writeback
serial = disk2
queues = 1
INI
vm_pviod_start "$TMP/pviod.ini" "$TMP/pviod.log"

"$VM/vm.sh" run --initrd "$BUILD/blk.cpio" --script /tests/blk.sh \
	--mem 1024 --smp 2 --timeout "${PVIO_VM_TIMEOUT:-900}" --log "$LOG" --ram-file "$RAM" \
	--append "loglevel=3 pvblk_test.ro_sha=$RO_SHA" \
	--qemu-extra "-chardev socket,path=$SOCK,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=$((1 + QUEUES + 2))" &
VM_PID=$!

vm_follow "$VM_PID" "$LOG"
rc=0
wait "$VM_PID" || rc=$?
VM_PID=

vm_guest_results "$LOG"
for c in "${SHA_CHECKS[@]}"; do
	read -r dev off len want <<<"$c"
	got=$(img_sha "$dev" "$off" "$len")
	host "image $dev MiB $off+$len holds what the guest wrote (want ${want:0:12}.., got ${got:0:12}..)" "[ '$got' = '$want' ]"
done
host "the read-only image is unchanged" "[ \"\$(sha256sum '$IMG/disk1.img' | cut -d' ' -f1)\" = '$RO_SHA' ]"
host "disk0 grew to 320 MiB on the host ($(stat -c %s "$IMG/disk0.img") bytes)" "[ $(stat -c %s "$IMG/disk0.img") = $((320 << 20)) ]"
"$O/pvioctl" -s "$CTL" status vm disk0 | sed 's/^/# /' || true
host "every worker of the guest ran on $THREADS thread(s)" "grep -q 'worker serving.*, $THREADS thread(s)' '$TMP/pviod.log' && ! grep 'worker serving' '$TMP/pviod.log' | grep -qv ', $THREADS thread(s)'"
host "pviod's supervisor replaced the killed worker" "grep -q 'worker .* started (restart 1[,)]' '$TMP/pviod.log'"
host "pviod logged disk2's full filesystem" "grep -q 'vm/disk2: .*No space left on device' '$TMP/pviod.log'"
host "no device was marked broken" "! grep -q 'device broken' '$TMP/pviod.log'"
host "pviod still answers after the run" "'$O/pvioctl' -s '$CTL' list >/dev/null"
vm_pviod_clean "$TMP/pviod.log"
echo "1..$n"
if [ "$rc" -ne 0 ]; then
	echo "# guest rc $rc; console log $LOG; pviod log follows"
	tail -n 30 "$TMP/pviod.log" | sed 's/^/# pviod: /'
	exit 1
fi
