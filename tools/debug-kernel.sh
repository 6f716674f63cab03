#!/bin/bash
# tools/debug-kernel.sh - build (once) the debug guest kernel of
# make check-debug-kernel, and say where it is.
#
#   tools/debug-kernel.sh [--env FILE]
#
# Debian's linux-source-6.1, x86_64_defconfig plus
# tests/vm/debug-kernel.config (KASAN, lockdep, kmemleak, ...), built in a
# cache outside the git tree:
#
#   $PVIO_CACHE/linux-source-VERSION/       the extracted source (read-only)
#   $PVIO_CACHE/debug-kernel-VERSION-HASH/  the build (O=), also the KDIR of
#                                           our out-of-tree modules
#        vmlinux            the kernel with its symbols (scripts/faddr2line)
#        arch/x86/boot/bzImage   what QEMU boots (this kernel's PVH entry,
#                           which the Debian kernel's tests use, makes
#                           QEMU 7.2 exit at once with nothing on the
#                           console; the bzImage boots)
#        mods/lib/modules/KREL/   modules_install: modules.builtin, ...
#        .built             written last: the cache is complete
#
# PVIO_CACHE defaults to /var/cache/pvio; VERSION is the Debian version
# of linux-source-6.1; HASH covers the config fragment and the compiler,
# so a change to either builds a new kernel beside the old one.  A
# complete build is reused as is; an interrupted one resumes (make is
# incremental).  The build runs at "nice -n 19" with -j2
# (PVIO_KERNEL_JOBS): the machine is shared.  About 40 minutes on 2 cores.
#
# Prints, on stdout and into FILE with --env, shell assignments for the
# VM harness and the module build:
#   PVIO_DEBUG_KDIR=...     KDIR for make modules-debug
#   PVIO_GUEST_KERNEL=...   arch/x86/boot/bzImage
#   PVIO_GUEST_MODDIR=...   mods/lib/modules/KREL
# Progress goes to stderr, the kernel build's output to BUILD/build.log.
set -eu
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
FRAGMENT=$REPO/tests/vm/debug-kernel.config
CACHE=${PVIO_CACHE:-/var/cache/pvio}
JOBS=${PVIO_KERNEL_JOBS:-2}

say() { echo "debug-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

envfile=
case ${1:-} in
--env) [ $# = 2 ] || die "usage: $0 [--env FILE]"; envfile=$2 ;;
"") ;;
*) die "usage: $0 [--env FILE]" ;;
esac

tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null) ||
	die "/usr/src/linux-source-6.1.tar.xz not found (tools/deps.sh installs linux-source-6.1)"
version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || version=unknown
for t in flex bison bc; do command -v "$t" >/dev/null || die "$t not found (run tools/deps.sh)"; done
[ -f /usr/include/libelf.h ] || die "libelf-dev not installed (run tools/deps.sh)"
[ -f /usr/include/openssl/ssl.h ] || die "libssl-dev not installed (run tools/deps.sh)"

hash=$({ cat "$FRAGMENT"; gcc --version | head -n 1; } | sha256sum | cut -c1-12)
SRC=$CACHE/linux-source-$version
OUT=$CACHE/debug-kernel-$version-$hash
mkdir -p "$CACHE"

# One builder at a time per cache; a second caller waits, then reuses.
exec 9>"$CACHE/.debug-kernel.lock"
if ! flock -n 9; then
	say "another build holds $CACHE/.debug-kernel.lock; waiting"
	flock 9
fi

emit() {
	local krel
	krel=$(cat "$OUT/.built")
	{
		echo "PVIO_DEBUG_KDIR=$OUT"
		echo "PVIO_GUEST_KERNEL=$OUT/arch/x86/boot/bzImage"
		echo "PVIO_GUEST_MODDIR=$OUT/mods/lib/modules/$krel"
	} | if [ -n "$envfile" ]; then tee "$envfile"; else cat; fi
}

if [ -f "$OUT/.built" ]; then
	say "reusing $OUT ($(cat "$OUT/.built"))"
	emit
	exit 0
fi

t0=$(date +%s)
if [ ! -f "$SRC/.extracted" ]; then
	say "extracting $tarball into $SRC"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	nice -n 19 tar -xf "$tarball" -C "$SRC" --strip-components=1
	touch "$SRC/.extracted"
fi

kmake() { nice -n 19 make -C "$SRC" O="$OUT" -j"$JOBS" "$@"; }

mkdir -p "$OUT"
log=$OUT/build.log
say "configuring $OUT (x86_64_defconfig + ${FRAGMENT#"$REPO"/})"
kmake x86_64_defconfig >"$log" 2>&1
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "$FRAGMENT" >>"$log" 2>&1
kmake olddefconfig >>"$log" 2>&1

# Every line of the fragment must have survived olddefconfig.
lost=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) want=$line sym=${line%%=*} ;;
	"# CONFIG_"*" is not set") want=$line sym=${line#\# } sym=${sym%% *} ;;
	*) continue ;;
	esac
	got=$(grep -E "^$sym=|^# $sym is not set" "$OUT/.config" || echo "$sym missing")
	# An option whose dependencies are unmet is absent: off, as asked.
	[ "$got" = "$sym missing" ] && [ "${want#\#}" != "$want" ] && continue
	if [ "$got" != "$want" ]; then
		say "config: asked for '$want', got '$got'"
		lost=1
	fi
done <"$FRAGMENT"
[ $lost = 0 ] || die "the config fragment does not apply as written (see above); fix ${FRAGMENT#"$REPO"/}"

say "building (nice -n 19, -j$JOBS; log: $log)"
kmake all >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "kernel build failed (log: $log)"; }
rm -rf "$OUT/mods"
kmake modules_install INSTALL_MOD_PATH="$OUT/mods" >>"$log" 2>&1 ||
	{ tail -n 30 "$log" >&2; die "modules_install failed (log: $log)"; }
krel=$(cat "$OUT/include/config/kernel.release")
[ -f "$OUT/mods/lib/modules/$krel/modules.builtin" ] || die "no modules.builtin for $krel after modules_install"
echo "$krel" >"$OUT/.built"
say "built $krel in $(( ($(date +%s) - t0) / 60 )) min $(( ($(date +%s) - t0) % 60 )) s"
emit
