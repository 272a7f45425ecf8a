#!/bin/bash
# The whole test suite: the unit and sim tiers under ASan+UBSan, then the vm
# tier (real Xen 4.17 under QEMU TCG; it builds its own non-sanitized
# xenbackd for dom0). Usage: tests/run-tests.sh [extra meson test args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "run-tests: run as root (xenstored, namespaces, taps)" >&2
	exit 1
fi
tests/install-deps.sh
build=${XB_BUILD_DIR:-build-test}
if [ ! -d "$build" ]; then
	meson setup "$build" -Db_sanitize=address,undefined \
		-Db_lundef=false --buildtype=debugoptimized
fi
ninja -C "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$build" --suite unit --suite sim --suite vm --print-errorlogs \
	--num-processes 2 "$@"
