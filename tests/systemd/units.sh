#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The systemd files pvio ships (packaging/systemd): systemd-analyze
# verify passes on pviod.service and on the guests' pvio-psi-agent.service
# (their ExecStart pointed at the pviod just built and at the agent in
# tools/guest: verify insists the binary exists) and says nothing; a copy with
# a misspelt key does not pass, so this check can fail; the tmpfiles.d
# entry creates /run/pvio, mode 0755, under a scratch root.  pviod's
# notifications (READY, RELOADING, STOPPING) are checked by backend_test.
set -u
O=${O:-build}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$HERE/packaging/systemd/pviod.service
TMPF=$HERE/packaging/systemd/pvio.conf
TMP=$(mktemp -d /tmp/pvio-units-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

echo "1..4"
if ! command -v systemd-analyze >/dev/null || ! command -v systemd-tmpfiles >/dev/null; then
	skip "pviod.service verifies" "no systemd-analyze here (package systemd)"
	skip "pvio-psi-agent.service verifies" "no systemd-analyze here (package systemd)"
	skip "a misspelt key fails the check" "no systemd-analyze here"
	skip "tmpfiles.d creates /run/pvio" "no systemd-tmpfiles here"
	exit 0
fi

# verify UNIT: systemd-analyze's output (empty when clean), its status last
verify() {
	local name=${2:-pviod.service}
	sed -e "s|^ExecStart=/usr/sbin/pviod |ExecStart=$(cd "$O" && pwd)/pviod |" \
		-e "s|^ExecStart=/usr/sbin/pvio-psi-agent|ExecStart=$HERE/tools/guest/pvio-psi-agent|" \
		"$1" >"$TMP/$name"
	out=$(cd "$TMP" && systemd-analyze verify "$TMP/$name" 2>&1)
	rc=$?
}

verify "$UNIT"
echo "# systemd-analyze verify pviod.service: expected status 0 and no output, got $rc${out:+: $out}"
if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "pviod.service verifies"; else nok "pviod.service verifies"; fi

verify "$HERE/packaging/systemd/pvio-psi-agent.service" pvio-psi-agent.service
echo "# systemd-analyze verify pvio-psi-agent.service: expected status 0 and no output, got $rc${out:+: $out}"
if [ $rc -eq 0 ] && [ -z "$out" ]; then ok "pvio-psi-agent.service verifies"; else nok "pvio-psi-agent.service verifies"; fi

sed 's/^Type=notify/Tpye=notify/' "$UNIT" >"$TMP/bad.service"
verify "$TMP/bad.service"
echo "# the same with Type misspelt: expected a complaint, got status $rc${out:+: $out}"
if [ -n "$out" ]; then ok "a misspelt key fails the check"; else nok "a misspelt key fails the check"; fi

out=$(systemd-tmpfiles --create --root="$TMP/root" "$TMPF" 2>&1)
rc=$?
mode=$(stat -c '%a %U:%G' "$TMP/root/run/pvio" 2>/dev/null || echo missing)
echo "# systemd-tmpfiles --create pvio.conf: expected /run/pvio 755 root:root, got $mode (status $rc${out:+: $out})"
if [ $rc -eq 0 ] && [ "$mode" = "755 root:root" ]; then ok "tmpfiles.d creates /run/pvio"; else nok "tmpfiles.d creates /run/pvio"; fi
