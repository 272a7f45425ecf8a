#!/bin/bash
# tests/bench/vm/dom0-costs.sh: what a system call, an eventfd round trip, a wake-up of a
# sleeping thread and an event channel notification cost in a PV dom0 under QEMU's TCG (the
# vm tier): builds dom0-costs/dom0-costs.c on the host (gcc, liburing, libxenevtchn: Debian 12's,
# as dom0's) and runs it in dom0 (run-vm.sh, ~30 s). Prints "COST <what> <us>" lines. These
# are the units of bench-vm.sh's XB_BENCH_STAT figures (system calls, context switches per I/O).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
gcc -O2 -Wall -o "$out/dom0-costs" "$HERE/dom0-costs/dom0-costs.c" -luring -lxenevtchn -lpthread
"$HERE/../../vm/build-images.sh" > "$out/images.log" 2>&1 || { cat "$out/images.log"; exit 1; }
"$HERE/../../vm/run-vm.sh" --payload "$HERE/dom0-costs" --bin "$out/dom0-costs" --quiet --timeout 240 \
    --log "$out/console.log" > "$out/run.log" 2>&1 || true
grep -a 'COST ' "$out/console.log" | tr -d '\r' | sed 's/^\[[^]]*\] //' ||
    { tail -20 "$out/run.log"; echo "dom0-costs: no result"; exit 1; }
