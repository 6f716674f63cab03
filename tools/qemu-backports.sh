#!/bin/sh
# tools/qemu-backports.sh - QEMU from bookworm-backports, unpacked into a
# cache of its own beside Debian 12's QEMU, never installed over it; for
# the live-migration test, which Debian 12's QEMU 7.2 fails under TCG.
#
#   tools/qemu-backports.sh [--print]
#
# Fetches qemu-system-x86, qemu-system-data and seabios from
# bookworm-backports (Debian's own archive) with an apt state of its own
# (the system's sources and package lists are not touched), unpacks them
# into $PVIO_CACHE/qemu-bpo (default /var/cache/pvio) and writes there a
# script, qemu, that runs that qemu-system-x86_64 with its own firmware
# (-L); the rest of its libraries are Debian 12's.  Idempotent: a cache
# that has the script is used as it is.  --print: print the script's path
# (fetching first if needed).  tools/deps.sh runs it; the tests use it
# through PVIO_QEMU (tools/vm/vm.sh).
#
# Why: before QEMU 9.0 (03bfc2188f, "physmem: Fix migration dirty bitmap
# coherency with TCG memory access") a TCG vCPU's stores can miss the
# migration dirty bitmap, and a migrated guest then crashes now and then
# (docs/operations.md 8.2).  Debian 12 has the fix only in backports.
set -eu

CACHE=${PVIO_CACHE:-/var/cache/pvio}/qemu-bpo
SUITE=bookworm-backports
PKGS="qemu-system-x86 qemu-system-data seabios"

PRINT=${1:-}
done_() {
	[ "$PRINT" = --print ] && echo "$CACHE/qemu"
	exit 0
}

[ -x "$CACHE/qemu" ] && done_
if [ "$(id -u)" != 0 ]; then
	echo "qemu-backports: not root; run tools/deps.sh as root" >&2
	exit 1
fi
echo "qemu-backports: fetching $PKGS from $SUITE into $CACHE" >&2
rm -rf "$CACHE.new"
mkdir -p "$CACHE.new/apt/lists/partial" "$CACHE.new/apt/archives/partial" "$CACHE.new/apt/parts" "$CACHE.new/root"
echo "deb http://deb.debian.org/debian $SUITE main" >"$CACHE.new/apt/sources.list"
set -- -q -o Dir::Etc::SourceList="$CACHE.new/apt/sources.list" \
	-o Dir::Etc::SourceParts="$CACHE.new/apt/parts" \
	-o Dir::State::Lists="$CACHE.new/apt/lists" \
	-o Dir::Cache="$CACHE.new/apt" -o Dir::Cache::Archives="$CACHE.new/apt/archives" \
	-o APT::Get::List-Cleanup=false -o APT::Sandbox::User=root
apt-get "$@" update >/dev/null
# apt-get download writes into the current directory.
(cd "$CACHE.new/apt/archives" && for p in $PKGS; do apt-get "$@" download "$p/$SUITE" >/dev/null; done)
for deb in "$CACHE.new"/apt/archives/*.deb; do
	dpkg-deb -x "$deb" "$CACHE.new/root"
done
root=$CACHE/root
[ -x "$CACHE.new/root/usr/bin/qemu-system-x86_64" ] || {
	echo "qemu-backports: no qemu-system-x86_64 in what was fetched" >&2
	exit 1
}
cat >"$CACHE.new/qemu" <<EOF
#!/bin/sh
# QEMU from $SUITE (tools/qemu-backports.sh): $(dpkg-deb -f "$CACHE.new"/apt/archives/qemu-system-x86_*.deb Version)
exec "$root/usr/bin/qemu-system-x86_64" -L "$root/usr/share/qemu" "\$@"
EOF
chmod 755 "$CACHE.new/qemu"
rm -rf "$CACHE.new/apt" "$CACHE"
mv "$CACHE.new" "$CACHE"
echo "qemu-backports: $("$CACHE/qemu" --version | head -n 1) in $CACHE" >&2
done_
