#!/bin/bash
# The demo: install the dependencies, build, and run xenbackd serving a
# simulated guest's disk (see README.md). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (it starts a private xenstored)" >&2
	exit 1
fi
tests/install-deps.sh
build=${XB_DEMO_BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
export XB_DAEMON=$PWD/$build/daemon/xenbackd
export XB_CTL=$PWD/$build/daemon/xenbackctl
export XB_XSSTUB=$PWD/$build/tests/harness/xsstub.so
exec "$build/tests/demo/xb-demo"
