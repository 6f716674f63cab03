#!/bin/sh
# tests/vm/guest/transport.sh - guest side of tests/vm/transport.sh (busybox sh).
#
# TAP on the console: pvio.ko + pvio_echo.ko load and bind, the kselftest
# suite (transport_test) passes, the echo device recovers after the host
# kills pviod's worker (we ask for that with a PVIO-SYNC line and wait for
# the new generation), 20 unload/load cycles, unbind under load, and a
# clean kernel log.  Exit status: number of failures.
set -u

# shellcheck source-path=SCRIPTDIR source=../../../tools/vm/guest-tap.sh
. /tests/tap.sh
wait_dev() { w=0; while [ ! -e /dev/pvio-echo0 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done; [ -e /dev/pvio-echo0 ]; }
echo_gen() { cat /sys/bus/pvio/devices/*/generation 2>/dev/null | head -n 1; }

check "modprobe pvio_echo (pulls in pvio)" modprobe pvio_echo
check "/dev/pvio-echo0 appears" wait_dev

# The kselftest suite, renumbered into this stream.
transport_test > /tmp/tt.out 2>&1
while IFS= read -r line; do
	case $line in
	"ok "*) ok "transport_test: ${line#ok * }" ;;
	"not ok "*) nok "transport_test: ${line#not ok * }" ;;
	"# "*) echo "$line" ;;
	esac
done < /tmp/tt.out

# Backend restart: the host kills the worker when it reads this line.
gen=$(echo_gen)
echo "PVIO-SYNC kill-worker gen=$gen"
check "echo works again after the backend worker was killed (generation $gen -> new)" \
	transport_test until-gen "$gen"

cycles=0
i=0
while [ $i -lt 20 ]; do
	i=$((i + 1))
	if rmmod pvio_echo && rmmod pvio && modprobe pvio_echo && wait_dev &&
		transport_test quick 5; then
		cycles=$((cycles + 1))
	else
		echo "# cycle $i failed"
		dmesg | tail -n 5 | sed 's/^/# /'
		break
	fi
done
check "20 unload/load cycles of pvio.ko with traffic after each ($cycles/20)" [ $cycles -eq 20 ]

# Unbind the PCI device while a writer is busy; it must fail, not hang.
pci=$(basename "$(dirname "$(readlink -f "$(ls -d /sys/bus/pvio/devices/pvio* | head -n 1)")")")
echo "# unbinding $pci"
transport_test quick 100000 > /dev/null 2>&1 &
bg=$!
sleep 1
echo "$pci" > /sys/bus/pci/drivers/pvio/unbind
check "unbind under load: no pvio devices left" [ -z "$(ls /sys/bus/pvio/devices)" ]
wait $bg
echo "# writer exited with $? after the unbind"
echo "$pci" > /sys/bus/pci/drivers/pvio/bind
check "rebind after unbind: echo works" sh -c 'w=0; while [ ! -e /dev/pvio-echo0 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w+1)); done; transport_test quick 20'
check "rmmod pvio_echo pvio at the end" sh -c 'rmmod pvio_echo && rmmod pvio'

dmesg_clean
echo "1..$n"
exit "$fail"
