#!/bin/sh
# tests/vm/guest/net-bridge.sh - guest side of tests/vm/net-bridge.sh: two
# guests, each with one pvio_net NIC whose TAP is a port of the same host
# bridge, find each other and move 8 MiB, verified.  Role from the kernel
# command line (pvnet.role=a|b).
set -u
# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh

ROLE=a
for a in $(cat /proc/cmdline); do case $a in pvnet.role=*) ROLE=${a#pvnet.role=} ;; esac; done
if [ "$ROLE" = a ]; then ME=10.77.0.2 PEER=10.77.0.3; else ME=10.77.0.3 PEER=10.77.0.2; fi

check "guest $ROLE: modprobe pvio_net" modprobe pvio_net
IF=
w=0
while [ -z "$IF" ] && [ $w -lt 100 ]; do
	for d in /sys/class/net/*; do case ${d##*/} in lo) ;; *) IF=${d##*/} ;; esac; done
	[ -z "$IF" ] && sleep 0.1
	w=$((w + 1))
done
ip link set lo up
ip addr add "$ME/24" dev "$IF"
ip link set "$IF" up
w=0
until ping -c 1 -W 1 "$PEER" >/dev/null 2>&1 || [ $w -ge 120 ]; do w=$((w + 1)); done
check "guest $ROLE: reaches the other guest ($PEER) across the host bridge" ping -c 3 -W 2 "$PEER"
if [ "$ROLE" = a ]; then
	sent=1
	w=0
	while [ $w -lt 30 ]; do
		if pvnet_xfer send "$PEER" 5001 8388608 11 > /tmp/x.out 2>&1; then sent=0; break; fi
		sleep 1
		w=$((w + 1))
	done
	sed 's/^/# /' /tmp/x.out
	check "guest a: sent 8 MiB to guest b" [ "$sent" = 0 ]
else
	pvnet_xfer recv 5001 8388608 11 --timeout 90 > /tmp/x.out 2>&1
	rc=$?
	sed 's/^/# /' /tmp/x.out
	check "guest b: received 8 MiB from guest a, every byte verified" [ "$rc" = 0 ]
fi
echo "1..$n"
exit "$fail"
