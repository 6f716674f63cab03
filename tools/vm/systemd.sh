#!/bin/bash
# tools/vm/systemd.sh - pviod as a systemd service, on a host where no
# systemd runs (a container, CI): a service manager of the caller's own,
# systemd's user manager (systemd --user, run as root), in a mount
# namespace of its own where /run/systemd/system exists (the one check it
# makes that systemd booted the machine).  It is the real manager:
# Type=notify, Restart=, the file-descriptor store, systemctl.  Sourced;
# defines functions and sets VM_SYSTEMD_PID.  Needs root.
#
#   vm_systemd_start DIR   start a manager whose units are in
#                          DIR/cfg/systemd/user, its runtime directory
#                          DIR/run, its own messages in DIR/manager.log;
#                          return once systemctl reaches it; 1 (with why
#                          on stderr) if it cannot start
#   vm_systemctl ARGS...   systemctl --user ARGS against it
#   vm_systemd_stop        stop every unit it runs, then the manager
#   vm_pviod_unit NAME INI LOG [NS]
#                          write NAME.service: packaging/systemd/pviod.service
#                          as shipped, with ExecStart running $PVIOD -c
#                          INI (in network namespace NS if given), its
#                          output appended to LOG
VM_SYSTEMD_PID=
VM_SYSTEMD_DIR=
VM_SYSTEMD_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_systemctl() {
	XDG_RUNTIME_DIR=$VM_SYSTEMD_DIR/run systemctl --user --no-pager "$@"
}

vm_systemd_start() {
	local dir=$1 sd=/lib/systemd/systemd
	[ -x "$sd" ] || { echo "no $sd (package systemd)" >&2; return 1; }
	VM_SYSTEMD_DIR=$dir
	mkdir -p "$dir/cfg/systemd/user" "$dir/run"
	chmod 700 "$dir/run"
	# The target it starts: nothing of the host's user units comes up.
	printf '[Unit]\nDescription=pvio tests: nothing else\n' >"$dir/cfg/systemd/user/pvio-test.target"
	[ -d /run/systemd ] || mkdir -p /run/systemd
	XDG_RUNTIME_DIR=$dir/run XDG_CONFIG_HOME=$dir/cfg \
		unshare -m --propagation private sh -c '
			mount -t tmpfs -o mode=755 pvio-test /run/systemd &&
			mkdir /run/systemd/system &&
			exec "$0" --user --unit=pvio-test.target' "$sd" >"$dir/manager.log" 2>&1 &
	VM_SYSTEMD_PID=$!
	for _ in $(seq 100); do
		vm_systemctl show -p Version >/dev/null 2>&1 && return 0
		kill -0 "$VM_SYSTEMD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "systemd --user did not answer within 10 s; its log:" >&2
	sed 's/^/  systemd: /' "$dir/manager.log" >&2
	vm_systemd_stop
	return 1
}

vm_systemd_stop() {
	[ -n "$VM_SYSTEMD_PID" ] || return 0
	# SIGTERM: the user manager stops its units, then exits.  Each step
	# may find it gone already: none may fail a caller's set -e clean-up.
	kill "$VM_SYSTEMD_PID" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$VM_SYSTEMD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$VM_SYSTEMD_PID" 2>/dev/null || true
	wait "$VM_SYSTEMD_PID" 2>/dev/null || true
	VM_SYSTEMD_PID=
	return 0
}

vm_pviod_unit() {
	local name=$1 ini=$2 log=$3 ns=${4:-} unit pviod=${PVIOD:-$O/pviod} exec
	unit=$VM_SYSTEMD_DIR/cfg/systemd/user/$name.service
	exec="$(readlink -f "$pviod") -c $ini"
	[ -z "$ns" ] || exec="$(command -v ip) netns exec $ns $exec"
	sed "s|^ExecStart=/usr/sbin/pviod -c /etc/pvio/pviod.ini$|ExecStart=$exec|" \
		"$VM_SYSTEMD_SH_DIR/../../packaging/systemd/pviod.service" >"$unit"
	grep -q "^ExecStart=$exec\$" "$unit" || {
		echo "vm_pviod_unit: pviod.service has no ExecStart line to replace" >&2
		return 1
	}
	mkdir -p "$unit.d"
	# A hard limit under the unit's LimitNOFILE= cannot be raised here.
	cat >"$unit.d/test.conf" <<-EOF
	[Service]
	StandardOutput=append:$log
	StandardError=append:$log
	LimitNOFILE=$(ulimit -Hn)
	EOF
	vm_systemctl daemon-reload
}
