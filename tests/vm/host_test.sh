#!/bin/bash
# tests/vm/host_test.sh - the VM harness's own host-side helpers
# (host.sh), against console logs written here: no guest.
#
#   vm_follow acts on whole PVIO-SYNC lines only: a guest half-way
#   through "PVIO-SYNC hostile disk0 irq-storm" once made the host arm
#   "irq-" (tests/vm/hostile.sh failed "missing: irq-"); the rest of the
#   line, written later, is then acted on once.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=host.sh
. "$HERE/host.sh"
TMP=$(mktemp -d /tmp/pvio-hosttest.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
n=0
rc=0
acted=()
act() { acted+=("$*"); }

log=$TMP/console.log
printf 'boot\r\nPVIO-SYNC hostile disk0 cpl-dup\r\nPVIO-SYNC hostile disk0 irq-' >"$log"
sleep 30 &
pid=$!
vm_follow_bg() { vm_follow "$pid" "$log"; printf '%s\n' "${acted[@]}" >"$TMP/acted"; }
vm_follow_bg &
fpid=$!
sleep 0.5
printf 'storm\r\nPVIO-SYNC status\r\n' >>"$log"
sleep 0.5
kill "$pid"
wait "$fpid"
got=$(paste -sd'|' "$TMP/acted")
want='hostile disk0 cpl-dup|hostile disk0 irq-storm|status'
host "vm_follow acts on whole lines, each once (expected '$want', got '$got')" "[ '$got' = '$want' ]"
echo "1..$n"
exit $rc
