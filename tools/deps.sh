#!/bin/sh
# Install every Debian package pvio needs to build, test and demo.
# Idempotent: installs only what is missing.  Run as root (CI and the
# demo do); as a non-root user it prints what is missing and fails.
set -eu

# The last line is what building a guest kernel from linux-source-6.1
# needs (make check-debug-kernel, tools/debug-kernel.sh).  prometheus is
# there for promtool (the metrics test): its server is not started (see
# policy-rc.d below), nor libvirtd: the libvirt test starts its own.
PKGS="build-essential pkg-config make gcc clang
	linux-headers-amd64 linux-headers-rt-amd64 linux-image-amd64 linux-image-rt-amd64
	linux-source-6.1 sparse libclang-rt-14-dev
	liburing-dev libseccomp-dev libjson-c-dev libsystemd-dev libmicrohttpd-dev libinih-dev
	libdpdk-dev dpdk dpdk-dev
	qemu-system-x86 busybox-static cpio kmod
	iproute2 ethtool fio iperf3 sockperf linux-perf procps e2fsprogs util-linux
	xz-utils perl python3 groff-base shellcheck
	debhelper dh-dkms dkms lintian dpkg-dev fakeroot
	curl prometheus systemd
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
	bc flex bison libelf-dev libssl-dev
	gnuplot-nox"

missing=""
for p in $(echo $PKGS); do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

# QEMU from bookworm-backports beside Debian's, for the migration test.
qemu_bpo() {
	"$(dirname "$0")/qemu-backports.sh" ||
		echo "deps: no QEMU from bookworm-backports: tests/vm/migrate.sh will fail" >&2
}

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	qemu_bpo
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root; install these packages first:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Packages with a daemon (prometheus) do not start it: we want their tools.
# A policy-rc.d already there (a container's) is left as it is.
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\n# tools/deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
qemu_bpo
echo "deps: done"
