#!/bin/bash
# tests/vm/host_test.sh - the VM harness's own host-side helpers
# (host.sh), against console logs written here: no guest.
#
#   vm_wait_bounded returns a helper's status, or kills it at its bound.
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

# vm_wait_bounded: a helper that ends in time gives its own status; one
# that would run on is killed at the bound and gives 124.
(sleep 0.3; exit 3) &
st=0
vm_wait_bounded $! 5 || st=$?
host "vm_wait_bounded returns a helper's own status (expected 3, got $st)" "[ $st = 3 ]"
sleep 30 &
pid=$!
t0=$(date +%s%N)
st=0
vm_wait_bounded "$pid" 1 >"$TMP/bounded.out" || st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
alive=no
kill -0 "$pid" 2>/dev/null && alive=yes
host "vm_wait_bounded kills a helper that outlives its bound (expected 124 after 1000-3000 ms, not alive; got $st after $ms ms, alive $alive)" \
	"[ $st = 124 ] && [ $ms -ge 1000 ] && [ $ms -lt 3000 ] && [ $alive = no ]"
host "vm_wait_bounded says what it killed (got '$(cat "$TMP/bounded.out")')" "grep -q 'still ran 1 s after the guest ended: killed' '$TMP/bounded.out'"
echo "1..$n"
exit $rc
