#!/bin/sh
# Extract the few files pvio borrows from Debian's linux-source-6.1 at build
# time (kselftest harness, checkpatch) into $1 (default build/ksrc).  They are
# never committed.  Idempotent: does nothing when they are already there.
set -eu
out=${1:-build/ksrc}
stamp="$out/.extracted"
[ -f "$stamp" ] && exit 0
tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1)
if [ -z "$tarball" ]; then
	echo "extract-ksrc: /usr/src/linux-source-6.1.tar.* not found (run tools/deps.sh)" >&2
	exit 1
fi
mkdir -p "$out"
tar -xf "$tarball" -C "$out" --strip-components=1 --wildcards \
	'linux-source-6.1/tools/testing/selftests/kselftest_harness.h' \
	'linux-source-6.1/tools/testing/selftests/kselftest.h' \
	'linux-source-6.1/scripts/checkpatch.pl' \
	'linux-source-6.1/scripts/spelling.txt' \
	'linux-source-6.1/scripts/const_structs.checkpatch'
touch "$stamp"
