#!/bin/bash
# tools/demo.sh - "make demo": start pviod, boot a guest with the pvio
# modules under QEMU, show the devices working from both sides, clean up.
# Everything is built already (make demo runs deps and the build first).
set -eu

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
O=${O:-$REPO/build}
VM=$REPO/tests/vm
TMP=$(mktemp -d /tmp/pvio-demo.XXXXXX)
RAM=/dev/shm/pvio-demo-$$
PVIOD_PID=

cleanup() {
	[ -n "$PVIOD_PID" ] && kill "$PVIOD_PID" 2>/dev/null && wait "$PVIOD_PID" 2>/dev/null
	rm -rf "$TMP" "$RAM"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "building guest modules against $(ls -d /lib/modules/6.1*-amd64 | grep -v -- -rt- | sort -V | tail -n1)"
make -C "$REPO" --no-print-directory O="$O" modules >/dev/null
"$VM/mkinitramfs.sh" "$O/vm/demo.cpio.gz" \
	--module "$O/kmod-generic/frontend/pvio.ko" \
	--module "$O/kmod-generic/tests/kmod/pvio_echo.ko" \
	--bin "$O/vm/transport_test" --file "$VM/guest/demo.sh:/tests/demo.sh"

cat > "$TMP/pviod.ini" <<INI
[pviod]
control = $TMP/control.sock

[guest demo]
socket = $TMP/demo.sock
ram = $RAM
ram_size = 512M

[device demo echo0]
type = echo
queues = 2
INI
say "host\$ pviod -c $TMP/pviod.ini"
cat "$TMP/pviod.ini"
"$O/pviod" -c "$TMP/pviod.ini" 2>"$TMP/pviod.log" &
PVIOD_PID=$!
for _ in $(seq 50); do [ -S "$TMP/demo.sock" ] && break; sleep 0.1; done
sed 's/^/  pviod: /' "$TMP/pviod.log"

say "host\$ qemu-system-x86_64 -accel tcg ... -chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4"
"$VM/vm.sh" run --initrd "$O/vm/demo.cpio.gz" --script /tests/demo.sh --mem 512 --smp 2 \
	--timeout 180 --ram-file "$RAM" --append "loglevel=3" \
	--qemu-extra "-chardev socket,path=$TMP/demo.sock,id=pv0 -device ivshmem-doorbell,chardev=pv0,vectors=4" \
	--log "$O/vm/demo.log" || { echo "guest failed; console: $O/vm/demo.log"; exit 1; }
"$VM/vm.sh" tap "$O/vm/demo.log"

say "host\$ pvioctl list"
"$O/pvioctl" -s "$TMP/control.sock" list
say "host\$ pvioctl status demo echo0    # counters the guest's traffic left behind"
"$O/pvioctl" -s "$TMP/control.sock" status demo echo0
say "pviod log"
sed 's/^/  /' "$TMP/pviod.log"
say "demo done: pviod stopped, guest powered off, files removed"
