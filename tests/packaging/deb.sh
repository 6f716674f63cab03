#!/bin/bash
# tests/packaging/deb.sh - the Debian packages, built and checked as a
# user would meet them: `make deb` builds pvio-host and pvio-dkms;
# lintian finds no error in either; pvio-host holds pviod, pvioctl, the
# unit, the tmpfiles entry, the man pages, the libvirt hook and a configuration pviod
# accepts, and its postinst upgrades a running pviod in place on a
# package upgrade; pvio-dkms, installed, lets `dkms build` make the four guest
# modules against Debian's 6.1 headers, and goes again without a trace.
#
# TAP on stdout.  Needs root (dpkg -i); skips, saying why, without it or
# without the 6.1 headers.  Takes about 3 minutes on 2 cores.
set -u

O=${O:-build}
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

if [ "$(id -u)" != 0 ]; then
	echo "ok 1 # SKIP deb: needs root (dpkg -i of pvio-dkms)"
	echo "1..1"
	exit 0
fi
KDIR=$(for d in /usr/src/linux-headers-6.1.*-amd64; do
	case $d in *-rt-*) ;; *) [ -d "$d" ] && echo "$d" ;; esac
done | sort -V | tail -1)
if [ -z "$KDIR" ]; then
	echo "ok 1 # SKIP deb: no Debian 6.1 headers under /usr/src (tools/deps.sh installs them)"
	echo "1..1"
	exit 0
fi
KVER=${KDIR#/usr/src/linux-headers-}
VERSION=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB=$O/deb
TMP=$(mktemp -d /tmp/pvio-deb.XXXXXX)
DKMS_IN=
cleanup() {
	[ -n "$DKMS_IN" ] && dpkg --purge pvio-dkms >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

# The package's postinst against the package's pviod, running on the
# default control socket as the unit runs it: an upgrade ("configure
# OLD-VERSION") replaces it in place (same PID, one upgrade, its guest
# still there); a first install ("configure") leaves it alone.  Skipped
# where a pviod already owns /run/pvio/control.sock.
postinst_upgrade() {
	local pid made='' up
	if [ -e /run/pvio/control.sock ]; then
		ok "postinst upgrades pviod in place # SKIP /run/pvio/control.sock exists: a pviod runs here"
		return
	fi
	[ -d /run/pvio ] || { mkdir -p /run/pvio && made=1; }
	cat >"$TMP/pi.ini" <<INI
[pviod]
control = /run/pvio/control.sock
[guest g]
socket = $TMP/g.sock
[device g e]
type = echo
INI
	"$TMP/host/usr/sbin/pviod" -c "$TMP/pi.ini" 2>"$TMP/pi.log" &
	pid=$!
	for _ in $(seq 50); do [ -S /run/pvio/control.sock ] && break; sleep 0.1; done
	# Ours only: not debhelper's sections (tmpfiles, the unit's enabling).
	sed '/^# Automatically added by/,/^# End automatically added section/d' \
		"$TMP/ctl/postinst" >"$TMP/postinst"
	PATH=$TMP/host/usr/sbin:$PATH sh "$TMP/postinst" configure >"$TMP/pi1.out" 2>&1
	PATH=$TMP/host/usr/sbin:$PATH sh "$TMP/postinst" configure 0.1.0 >"$TMP/pi2.out" 2>&1
	sed 's/^/# postinst: /' "$TMP/pi1.out" "$TMP/pi2.out"
	up=$("$TMP/host/usr/sbin/pvioctl" --json list 2>/dev/null)
	check "postinst upgrades the running pviod in place on an upgrade, not on a first install (expected upgrades 1, supervisor $pid, guest g; got: $up)" \
		"grep -q '\"upgrades\":1,' <<<'$up' && grep -q '\"supervisor_pid\":$pid,' <<<'$up' && grep -q '\"name\":\"g\"' <<<'$up' && grep -q 'upgraded in place' '$TMP/pi2.out'"
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$made" ] && rmdir /run/pvio 2>/dev/null
	return 0
}

if make --no-print-directory O="$O" deb >"$TMP/build.log" 2>&1; then
	ok "make deb"
else
	notok "make deb (log follows)"
	tail -n 30 "$TMP/build.log" | sed 's/^/# /'
	echo "1..$n"
	exit 1
fi
HOST_DEB=$(ls "$DEB"/pvio-host_"$VERSION"_*.deb 2>/dev/null | head -1)
DKMS_DEB=$(ls "$DEB"/pvio-dkms_"$VERSION"_all.deb 2>/dev/null | head -1)
check "pvio-host_$VERSION built (got '${HOST_DEB##*/}')" "[ -f '$HOST_DEB' ]"
check "pvio-dkms_$VERSION built (got '${DKMS_DEB##*/}')" "[ -f '$DKMS_DEB' ]"

# lintian: errors fail, warnings are shown.
for d in "$HOST_DEB" "$DKMS_DEB"; do
	[ -f "$d" ] || continue
	lintian --fail-on error --display-info --tag-display-limit 0 "$d" >"$TMP/lintian.out" 2>&1
	r=$?
	sed 's/^/# lintian: /' "$TMP/lintian.out"
	check "lintian ${d##*/}: no error (expected exit 0, got $r)" "[ $r = 0 ]"
done

# What pvio-host holds.
if [ -f "$HOST_DEB" ]; then
	dpkg-deb -c "$HOST_DEB" >"$TMP/host.list"
	for f in ./usr/sbin/pviod ./usr/sbin/pvioctl ./lib/systemd/system/pviod.service \
		 ./usr/lib/tmpfiles.d/pvio.conf ./usr/share/man/man8/pviod.8.gz \
		 ./usr/share/man/man8/pvioctl.8.gz ./usr/share/man/man5/pviod.conf.5.gz \
		 ./etc/pvio/pviod.ini ./etc/libvirt/hooks/qemu.d/pvio; do
		check "pvio-host holds $f" "grep -q ' $f\$' '$TMP/host.list'"
	done
	dpkg-deb -x "$HOST_DEB" "$TMP/host"
	check "pvio-host's pviod accepts its own /etc/pvio/pviod.ini" \
		"'$TMP/host/usr/sbin/pviod' --check-config -c '$TMP/host/etc/pvio/pviod.ini' >'$TMP/check.out' 2>&1"
	sed 's/^/# /' "$TMP/check.out"
	check "/etc/pvio/pviod.ini is a conffile" "dpkg-deb -e '$HOST_DEB' '$TMP/ctl' && grep -qx /etc/pvio/pviod.ini '$TMP/ctl/conffiles'"
	postinst_upgrade
fi

# pvio-dkms: the guest's PSI agent and its unit; installed, built by DKMS
# against Debian's 6.1 headers, removed.
if [ -f "$DKMS_DEB" ]; then
	dpkg-deb -c "$DKMS_DEB" >"$TMP/dkms.list"
	for f in ./usr/sbin/pvio-psi-agent ./lib/systemd/system/pvio-psi-agent.service \
		 ./usr/share/man/man8/pvio-psi-agent.8.gz \
		 ./usr/share/man/man4/pvio.4.gz; do
		check "pvio-dkms holds $f" "grep -q ' $f\$' '$TMP/dkms.list'"
	done
	if dpkg -s pvio-dkms >/dev/null 2>&1; then
		notok "pvio-dkms is installed already: not touching it"
	else
		DKMS_IN=1
		check "dpkg -i pvio-dkms" "dpkg -i '$DKMS_DEB' >'$TMP/dpkg.out' 2>&1 || { sed 's/^/# /' '$TMP/dpkg.out'; false; }"
		check "dkms knows pvio/$VERSION" "dkms status pvio/$VERSION | grep -q pvio"
		check "pvio-dkms holds the guest's manual page, pvio(4)" "[ -f /usr/share/man/man4/pvio.4.gz ]"
		if dkms build "pvio/$VERSION" -k "$KVER" >"$TMP/dkms.out" 2>&1; then
			ok "dkms build pvio/$VERSION -k $KVER"
		else
			notok "dkms build pvio/$VERSION -k $KVER (log follows)"
			sed 's/^/# /' "$TMP/dkms.out" | tail -n 30
			cat /var/lib/dkms/pvio/"$VERSION"/build/make.log 2>/dev/null | tail -n 30 | sed 's/^/# make.log: /'
		fi
		for m in pvio pvio_net pvio_blk pvio_balloon; do
			ko=/var/lib/dkms/pvio/$VERSION/$KVER/x86_64/module/$m.ko
			check "DKMS built $m.ko for $KVER" \
				"[ -f '$ko' ] || [ -f '$ko.xz' ] || [ -f '$ko.zst' ] || [ -f '$ko.gz' ]"
		done
		check "dpkg --purge pvio-dkms" "dpkg --purge pvio-dkms >'$TMP/purge.out' 2>&1"
		DKMS_IN=
		check "nothing of pvio left in DKMS or /usr/src" \
			"[ ! -e /var/lib/dkms/pvio ] && [ ! -e /usr/src/pvio-$VERSION ]"
	fi
fi
echo "1..$n"
exit $fail
