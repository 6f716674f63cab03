#!/bin/bash
# tools/vm/mkinitramfs.sh - build a small gzip'd newc initramfs for pvio guests.
#
#   mkinitramfs.sh OUT.cpio.gz [--module PATH.ko]... [--kmod NAME]...
#                  [--bin PATH]... [--file SRC:DST]...
#
# Contents:
#   /bin/busybox      busybox-static, every applet as a symlink to it
#   /init             tools/vm/guest-init.sh
#   /lib/modules/KVER --kmod NAME: a Debian module of the guest kernel plus
#                     its dependencies from KVER's modules.dep, at their
#                     usual kernel/... paths; --module PATH.ko: our own
#                     modules under extra/.  modules.dep is regenerated for
#                     the lot (host depmod -b), so "modprobe NAME" works in
#                     the guest for both, with dependencies.
#   /bin/NAME         --bin PATH: test programs (static preferred; for a
#                     dynamic one its shared libraries are copied too, ldd)
#   DST               --file SRC:DST: a file or directory tree, e.g.
#                     --file tests/vm/guest/x.sh:/tests/x.sh
#
# PVIO_INITRD_RAW=1 leaves the archive uncompressed (big images of dynamic
# programs unpack much faster in a TCG guest).
# KVER is the guest kernel: the newest non-rt /lib/modules/6.1*-amd64, or
# PVIO_GUEST_KVER; its modules come from /lib/modules/KVER, or from
# PVIO_GUEST_MODDIR (a kernel outside /lib/modules, e.g. the debug kernel;
# KVER is then its last path component).  Modules built for another kernel
# (vermagic) are refused.
# The image is written atomically; staging happens under build/vm/.
set -eu
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$REPO/build/vm
# shellcheck source-path=SCRIPTDIR source=vm.sh
. "$HERE/vm.sh"

die() { echo "mkinitramfs: $*" >&2; exit 1; }
usage() { sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
norm() { local n=${1##*/}; n=${n%%.ko*}; echo "${n//-/_}"; }
is_builtin() { grep -q "/$(norm "$1" | sed 's/_/[-_]/g')\.ko\$" "$MODDIR/modules.builtin"; }
# copy_into SRC DST: never through an existing DST (e.g. an applet symlink).
copy_into() { mkdir -p "$STAGE$(dirname "$2")" && cp -a --remove-destination "$1" "$STAGE$2"; }

# kmod_paths NAME: NAME's .ko and its dependencies, relative to MODDIR, from
# modules.dep ("kernel/x/a.ko: kernel/y/b.ko ..." lists all of them).
kmod_paths() {
	awk -v want="$(norm "$1")" -F': *' '
		{ m = $1; sub(/.*\//, "", m); sub(/\.ko.*$/, "", m); gsub(/-/, "_", m) }
		m == want { print $1; n = split($2, d, " "); for (i = 1; i <= n; i++) print d[i]; exit }
	' "$MODDIR/modules.dep"
}

add_kmod() {
	local paths p
	paths=$(kmod_paths "$1")
	if [ -z "$paths" ]; then
		is_builtin "$1" || die "no module '$1' for $KVER (not in modules.dep, not built in)"
		echo "mkinitramfs: $1 is built into $KVER, nothing to add" >&2
		return
	fi
	for p in $paths; do copy_into "$MODDIR/$p" "/lib/modules/$KVER/$p"; done
}

add_module() {
	local vm
	[ -f "$1" ] || die "no such module: $1"
	vm=$(modinfo -F vermagic "$1") || die "not a kernel module: $1"
	[ "${vm%% *}" = "$KVER" ] || die "$1 is built for '${vm%% *}', guest kernel is $KVER"
	copy_into "$1" "/lib/modules/$KVER/extra/${1##*/}"
}

add_bin() {
	local lib
	[ -x "$1" ] || die "not an executable: $1"
	# The program itself, not a symlink to it (mkfs.ext4 -> mke2fs).
	copy_into "$(readlink -f "$1")" "/bin/${1##*/}"
	# A dynamic program needs its loader and libraries (ldd lists absolute paths).
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -e "$STAGE$lib" ] || copy_into "$(readlink -f "$lib")" "$lib"
	done
}

add_file() {
	local src=${1%%:*} dst=${1#*:}
	case $1 in ?*:/*) ;; *) die "--file wants SRC:/ABS/DST, got '$1'" ;; esac
	[ -e "$src" ] || die "no such file: $src"
	if [ -d "$src" ]; then mkdir -p "$STAGE$dst" && cp -a --remove-destination "$src/." "$STAGE$dst/"; else copy_into "$src" "$dst"; fi
}

# ---- arguments ---------------------------------------------------------------

OUT=""
ITEMS=()
while [ $# -gt 0 ]; do
	case $1 in
	--module | --kmod | --bin | --file)
		[ $# -ge 2 ] || usage
		ITEMS+=("$1" "$2")
		shift 2
		;;
	-h | --help) usage ;;
	-*) die "unknown option $1" ;;
	*)
		[ -z "$OUT" ] || usage
		OUT=$1
		shift
		;;
	esac
done
[ -n "$OUT" ] || usage

KVER=$(guest_kver)
MODDIR=$(guest_moddir)
if [ -z "$KVER" ] || [ ! -f "$MODDIR/modules.dep" ]; then die "no guest kernel modules at '$MODDIR'"; fi
BUSYBOX=${PVIO_BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || die "no busybox at $BUSYBOX (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is not static (apt-get install busybox-static)"; fi

mkdir -p "$BUILD"
STAGE=$(mktemp -d "$BUILD/initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# ---- staging -----------------------------------------------------------------

mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,root,tests}
mkdir -p "$STAGE/lib/modules/$KVER/extra"
cp "$BUSYBOX" "$STAGE/bin/busybox"
# Relative links: an absolute /bin/busybox would point at the host's busybox
# from inside the staging tree.
for applet in $("$BUSYBOX" --list-full); do
	[ -e "$STAGE/$applet" ] || ln -sr "$STAGE/bin/busybox" "$STAGE/$applet"
done
install -m 0755 "$HERE/guest-init.sh" "$STAGE/init"
# TAP helpers the guest test scripts source.
install -m 0644 "$HERE/guest-tap.sh" "$STAGE/tests/tap.sh"
# The kernel opens /dev/console before /init runs (devtmpfs comes later).
if [ "$(id -u)" = 0 ]; then mknod -m 0600 "$STAGE/dev/console" c 5 1; fi
echo "root:x:0:0:root:/root:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"

set -- "${ITEMS[@]}"
while [ $# -gt 0 ]; do
	case $1 in
	--kmod) add_kmod "$2" ;;
	--module) add_module "$2" ;;
	--bin) add_bin "$2" ;;
	--file) add_file "$2" ;;
	esac
	shift 2
done

cp "$MODDIR/modules.builtin" "$MODDIR/modules.builtin.modinfo" "$STAGE/lib/modules/$KVER/"
(cd "$STAGE/lib/modules/$KVER" && find . -name '*.ko*' | sed 's|^\./||' | LC_ALL=C sort >modules.order)
depmod -b "$STAGE" "$KVER"

# ---- archive -----------------------------------------------------------------

mkdir -p "$(dirname "$OUT")"
if [ -n "${PVIO_INITRD_RAW:-}" ]; then
	(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$OUT.tmp"
else
	(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 -n >"$OUT.tmp"
fi
mv "$OUT.tmp" "$OUT"
nmod=$(find "$STAGE/lib/modules/$KVER" -name '*.ko*' | wc -l)
echo "mkinitramfs: $OUT ($(($(stat -c %s "$OUT") / 1024)) KiB, kernel $KVER, $nmod modules)" >&2
