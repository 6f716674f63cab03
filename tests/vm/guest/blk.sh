#!/bin/sh
# tests/vm/guest/blk.sh - guest side of tests/vm/blk.sh (busybox sh).
#
# The host's pviod serves three disks, found here by their serial numbers:
#   disk0   read-write image, 2 queues, O_DIRECT on the host
#   disk1   read-only image whose SHA-256 the host passes on the kernel
#           command line (pvblk_test.ro_sha=...)
#   disk2   image on a tiny host tmpfs: writes beyond its room fail
#
# TAP on the console: the disks appear with their limits; O_DIRECT data
# round trip (also checked in the image file by the host); ext4 mkfs,
# files, remount, verify; fio verify=crc32c random writes at several block
# sizes and queue depths; discard and write-zeroes read back zeroes; the
# read-only disk refuses writes and keeps its content; a full host
# filesystem gives I/O errors, not a hang; resize seen by the guest; a
# backend worker SIGKILLed during a verified write workload (checked to
# be still running when the kill lands; everything flushed before is
# intact, the workload verifies); a backend stalled past the request
# timeout (the guest resets and retries; while the reset is not
# acknowledged it holds the request, whose pages the backend may still
# use, and retries once the backend is back); unload/reload; a clean
# kernel log.
#
# Host requests (console lines):
#   PVIO-SYNC host-sha DEV MIB_OFF MIB_LEN SHA  the host compares that
#                                               range of the image file
#                                               after the run (ranges are
#                                               not rewritten later)
#   PVIO-SYNC blk-resize DEV SIZE               pvioctl blk-resize
#   PVIO-SYNC kill-worker                       SIGKILL pviod's worker
#   PVIO-SYNC stop-worker SECONDS               SIGSTOP it, SIGCONT later
set -u
# busybox sh prefers its own applets (blkdiscard, without -z): full paths
# for the real programs.

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
sync_host() { echo "PVIO-SYNC $*"; }
MB=1048576

# disk SERIAL: the pvd* disk whose serial is SERIAL
disk() {
	for d in /sys/block/pvd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
	done
	return 1
}
wait_disks() { w=0; while [ $w -lt 100 ]; do disk disk2 >/dev/null && return 0; sleep 0.1; w=$((w + 1)); done; return 1; }
attr() { cat "/sys/block/$1/$2" 2>/dev/null; }
short() { echo "$1" | cut -c1-12; }
sha() { dd if="$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }
# zeroes DEV MIB_OFF MIB_LEN: the range reads back as zeroes
zeroes() { dd if="$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | cmp -s - /dev/zero -n $(($3 * MB)); }
cmdline_arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# fio_run JOB ARGS...: fio with its summary as comments; fio's status
# (no variable named like tap.sh's: shell functions share them)
fio_run() {
	fjob=$1
	shift
	fio --name="$fjob" --output-format=terse --terse-version=3 "$@" >/tmp/fio.out 2>&1
	rc=$?
	# terse v3: field 6 read KiB/s ... keep it short: errors and bandwidth
	awk -F';' '{ printf "# fio %s: read %s KiB/s %s IOPS, write %s KiB/s %s IOPS, error %s\n", $3, $7, $8, $48, $49, $5 }' /tmp/fio.out
	[ $rc = 0 ] || sed 's/^/# fio: /' /tmp/fio.out | tail -n 8
	return $rc
}

modprobe pvio_blk io_timeout=5
check "pvio_blk loads and three disks appear" wait_disks
D0=$(disk disk0) D1=$(disk disk1) D2=$(disk disk2)
echo "# disks: disk0=$D0 disk1=$D1 disk2=$D2"
B0=/dev/$D0 B1=/dev/$D1 B2=/dev/$D2
check "disk names follow pvd[a-z]" sh -c "echo '$D0 $D1 $D2' | grep -qE '^pvd[a-z] pvd[a-z] pvd[a-z]$'"

# ---- limits --------------------------------------------------------------
nq=$(ls "/sys/block/$D0/mq" | wc -l)
echo "# $D0: size $(attr "$D0" size) sectors, lbs $(attr "$D0" queue/logical_block_size), pbs $(attr "$D0" queue/physical_block_size), max_segments $(attr "$D0" queue/max_segments), max_hw_sectors_kb $(attr "$D0" queue/max_hw_sectors_kb), depth $(attr "$D0" queue/nr_requests), cache '$(attr "$D0" queue/write_cache)', fua $(attr "$D0" queue/fua), discard_max $(attr "$D0" queue/discard_max_bytes), wz_max $(attr "$D0" queue/write_zeroes_max_bytes), hw queues $nq"
check "$D0: 256 MiB ($(attr "$D0" size) sectors)" [ "$(attr "$D0" size)" = 524288 ]
check "$D0: two hardware queues ($nq)" [ "$nq" = 2 ]
check "$D0: not rotational" [ "$(attr "$D0" queue/rotational)" = 0 ]
check "$D0: write-back cache with FUA" [ "$(attr "$D0" queue/write_cache)" = "write back" -a "$(attr "$D0" queue/fua)" = 1 ]
check "$D0: discard and write-zeroes advertised" [ "$(attr "$D0" queue/discard_max_bytes)" -gt 0 -a "$(attr "$D0" queue/write_zeroes_max_bytes)" -gt 0 ]
check "$D1: read-only ($(attr "$D1" ro))" [ "$(attr "$D1" ro)" = 1 ]

# ---- ext4 ------------------------------------------------------------------
if /bin/mkfs.ext4 -q -F -E nodiscard "$B0" >/tmp/mkfs.out 2>&1; then ok "mkfs.ext4 $B0"; else nok "mkfs.ext4 $B0"; sed 's/^/# /' /tmp/mkfs.out; fi
mkdir -p /mnt/d0
check "mount ext4" mount -t ext4 "$B0" /mnt/d0
dd if=/dev/urandom of=/mnt/d0/big bs=1M count=12 2>/dev/null
dd if=/dev/urandom of=/mnt/d0/small bs=4k count=3 2>/dev/null
mkdir -p /mnt/d0/dir && cp /tests/blk.sh /mnt/d0/dir/script
(cd /mnt/d0 && sha256sum big small dir/script >/tmp/sums)
check "umount" umount /mnt/d0
check "mount again" mount -t ext4 "$B0" /mnt/d0
check "files intact after remount" sh -c "cd /mnt/d0 && sha256sum -c /tmp/sums >/dev/null"
umount /mnt/d0

# ---- raw O_DIRECT round trip, checked in the image on the host ---------------
dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null
want=$(sha256sum /tmp/pat | cut -d' ' -f1)
dd if=/tmp/pat of="$B0" bs=1M seek=40 oflag=direct conv=fsync 2>/dev/null
got=$(sha "$B0" 40 8)
check "O_DIRECT 8 MiB write + read back (want $(short "$want").., got $(short "$got")..)" [ "$want" = "$got" ]
sync_host host-sha disk0 40 8 "$want"

# ---- fio, verified random writes ------------------------------------------
for spec in 4k:1:8M 4k:32:32M 64k:8:32M 4k-256k:4:32M; do
	bs=${spec%%:*} rest=${spec#*:} qd=${spec#*:} qd=${qd%%:*} size=${rest#*:}
	case $bs in *-*) bsopt=--bsrange=$bs ;; *) bsopt=--bs=$bs ;; esac
	check "fio randwrite bs=$bs iodepth=$qd size=$size verify=crc32c" \
		fio_run "rw-$bs-$qd" --filename="$B0" --ioengine=libaio --direct=1 \
		--rw=randwrite "$bsopt" --iodepth="$qd" --offset=64M --size="$size" \
		--verify=crc32c --do_verify=1 --verify_fatal=1
done

# ---- discard, write-zeroes -------------------------------------------------
dd if=/dev/urandom of="$B0" bs=1M seek=200 count=8 oflag=direct 2>/dev/null
check "blkdiscard 4 MiB" /bin/blkdiscard -f -o $((200 * MB)) -l $((4 * MB)) "$B0"
check "discarded range reads zeroes" zeroes "$B0" 200 4
check "blkdiscard -z (write-zeroes) 4 MiB" /bin/blkdiscard -f -z -o $((204 * MB)) -l $((4 * MB)) "$B0"
check "zeroed range reads zeroes" zeroes "$B0" 204 4
sync_host host-sha disk0 200 8 "$(dd if=/dev/zero bs=1M count=8 2>/dev/null | sha256sum | cut -d' ' -f1)"

# ---- read-only disk ----------------------------------------------------------
ro_sha=$(cmdline_arg pvblk_test.ro_sha)
check "$D1: content is what the host wrote" [ "$(sha "$B1" 0 16)" = "$ro_sha" ]
check "$D1: a write is refused" sh -c "! dd if=/dev/zero of=$B1 bs=4k count=1 oflag=direct 2>/dev/null"
check "$D1: content unchanged" [ "$(sha "$B1" 0 16)" = "$ro_sha" ]

# ---- host filesystem full: I/O errors, no hang ---------------------------------
t0=$(date +%s)
timeout 60 dd if=/dev/urandom of="$B2" bs=1M count=16 oflag=direct 2>/tmp/dd.err
rc=$?
sed 's/^/# dd: /' /tmp/dd.err | tail -n 2
check "$D2: writing past the host's space fails (dd rc $rc, want 1, in $(($(date +%s) - t0)) s)" [ $rc = 1 ]
check "$D2: the kernel saw an I/O error" sh -c "dmesg | grep -qE 'critical space allocation error|I/O error, dev $D2'"
check "$D2: still readable after the errors" sh -c "dd if=$B2 of=/dev/null bs=1M count=2 iflag=direct 2>/dev/null"

# ---- resize ------------------------------------------------------------------
sync_host blk-resize disk0 320M
w=0
while [ "$(attr "$D0" size)" != 655360 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
check "$D0: resize to 320 MiB seen ($(attr "$D0" size) sectors, want 655360)" [ "$(attr "$D0" size)" = 655360 ]
check "$D0: the new end is readable and writable" sh -c "dd if=/dev/urandom of=$B0 bs=1M seek=300 count=4 oflag=direct 2>/dev/null && dd if=$B0 of=/dev/null bs=1M skip=300 count=4 iflag=direct 2>/dev/null"

# ---- crash safety: worker SIGKILL during verified writes --------------------------
# Phase A: 32 MiB written and flushed (fsync) before anything happens.
check "phase A: 32 MiB written and fsync'ed" fio_run crash-a --filename="$B0" --ioengine=libaio \
	--direct=1 --rw=write --bs=64k --iodepth=8 --offset=0 --size=32M \
	--verify=crc32c --do_verify=0 --end_fsync=1
shaA=$(sha "$B0" 0 32)
# Phase B: verified random writes; the worker dies in the middle.  The
# writes are capped at 2000 IOPS, so they take at least 6 s however fast
# the machine; the kill is asked for once fio is under way, and fio cannot
# finish while the worker is dead: fio still running when the guest sees
# the new backend generation proves the kill landed during the workload.
gen() { cat "/sys/block/$D0/device/generation"; }
wsect() { awk '{ print $7 }' "/sys/block/$D0/stat"; }	# sectors written
mark=$(dmesg | wc -l)
g0=$(gen)
s0=$(wsect)
fio --name=crash-b --filename="$B0" --ioengine=libaio --direct=1 --rw=randwrite \
	--bs=4k --iodepth=32 --offset=100M --size=48M --rate_iops=,2000 --verify=crc32c \
	--do_verify=1 --verify_fatal=1 --output-format=terse --terse-version=3 >/tmp/fiob.out 2>&1 &
fpid=$!
# Under way: 2 MiB written (or fio ended, which fails below).
w=0
while [ $(($(wsect) - s0)) -lt 4096 ] && kill -0 $fpid 2>/dev/null && [ $w -lt 300 ]; do
	sleep 0.1
	w=$((w + 1))
done
echo "# phase B: fio under way, $((($(wsect) - s0) / 2048)) MiB written after $((w / 10)) s: asking for the kill"
sync_host kill-worker
w=0
while [ "$(gen)" = "$g0" ] && [ $w -lt 300 ]; do sleep 0.1; w=$((w + 1)); done
running=no
kill -0 $fpid 2>/dev/null && running=yes
echo "# phase B: new backend generation after $((w / 10)) s, $((($(wsect) - s0) / 2048)) MiB written"
check "the worker died while fio was running (generation $g0 -> $(gen), fio still running: $running)" \
	[ "$(gen)" != "$g0" -a $running = yes ]
wait $fpid
rc=$?
[ $rc = 0 ] || sed 's/^/# fio: /' /tmp/fiob.out | tail -n 8
check "phase B: verified writes across a worker SIGKILL (fio rc $rc)" [ $rc = 0 ]
since() { dmesg | tail -n +$((mark + 1)); }
check "the driver recovered after the restart" sh -c "dmesg | tail -n +$((mark + 1)) | grep -q 'restored after backend restart'"
requeued=$(since | sed -n 's/.*after reset: \([0-9]*\) request(s) requeued.*/\1/p' | head -n 1)
check "requests in flight at the kill went round again (${requeued:-none} requeued)" [ "${requeued:-0}" -gt 0 ]
check "phase A: flushed data intact after the restart" [ "$(sha "$B0" 0 32)" = "$shaA" ]
check "phase A: fio verify_only passes" fio_run crash-a --filename="$B0" --ioengine=libaio \
	--direct=1 --rw=write --bs=64k --iodepth=8 --offset=0 --size=32M \
	--verify=crc32c --verify_only=1 --verify_fatal=1
sync_host host-sha disk0 0 32 "$shaA"

# ---- a stalled backend: timeout, reset, retry ------------------------------
# Stalled 8 s, past the 5 s request timeout, about when the 2 s reset wait
# that follows ends: the reset is acknowledged in time or late, and the
# read goes round again either way.
dmesg -c >/dev/null
sync_host stop-worker 8
sleep 1
t0=$(date +%s)
timeout 90 dd if="$B0" of=/dev/null bs=64k count=16 iflag=direct skip=7 2>/tmp/dd.err
rc=$?
el=$(($(date +%s) - t0))
dmesg | grep -E 'timed out|reset|requeued|failed|holding' | head -n 5 | sed 's/^/# dmesg: /'
check "read during an 8 s stall retried and finished in $el s (rc $rc, want 0)" [ $rc = 0 ]
check "the request timed out and the device was reset" sh -c "dmesg | grep -q 'timed out: resetting'"
w=0
until dd if="$B0" of=/dev/null bs=64k count=4 iflag=direct 2>/dev/null || [ $w -ge 30 ]; do sleep 1; w=$((w + 1)); done
check "I/O works again after the stall" dd if="$B0" of=/dev/null bs=64k count=4 iflag=direct

# Stalled 20 s: the reset after the timeout is not acknowledged.  The
# backend may still carry the read out into the request's pages, so the
# driver holds the request (never ends it: its pages would go back to dd)
# until the backend, back after 20 s, serves that reset; then the read
# goes round again and succeeds.  The price is the wait.
dmesg -c >/dev/null
sync_host stop-worker 20
sleep 1
t0=$(date +%s)
timeout 90 dd if="$B0" of=/dev/null bs=64k count=16 iflag=direct skip=9 2>/tmp/dd.err
rc=$?
el=$(($(date +%s) - t0))
dmesg | grep -E 'timed out|reset|requeued|failed|holding|acknowledged' | head -n 6 | sed 's/^/# dmesg: /'
check "read during a 20 s stall waited for the backend and succeeded (rc $rc, want 0; after $el s, want >= 12)" \
	[ $rc = 0 -a $el -ge 12 ]
check "the driver held the request while the reset was not acknowledged" \
	sh -c "dmesg | grep -q 'reset not acknowledged: holding [1-9][0-9]* request'"
check "it went round again once the backend acknowledged the reset" \
	sh -c "dmesg | grep -q 'backend acknowledged the reset: [1-9][0-9]* held request'"
check "I/O works again once the backend is back" dd if="$B0" of=/dev/null bs=64k count=4 iflag=direct
check "data flushed before both stalls is intact" [ "$(sha "$B0" 0 32)" = "$shaA" ]

# ---- unload, reload ------------------------------------------------------------
check "rmmod pvio_blk" rmmod pvio_blk
check "no pvd disk left" sh -c "! ls -d /sys/block/pvd* 2>/dev/null"
modprobe pvio_blk
check "modprobe again: disks back" wait_disks
D0=$(disk disk0)
check "data still there after reload" [ "$(sha "/dev/$D0" 0 32)" = "$shaA" ]

dmesg_clean
echo "1..$n"
exit "$fail"
