#!/bin/bash
# tests/vm/selftest/run.sh - self-test of the harness's hooks: builds an out-of-tree module
# against linux-headers-KVER and a libxenstore binary on the host, injects both with a start
# hook into dom0, gives dom0 QEMU's "edu" PCI device, and checks them in the VM.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
"$XB_VM_DIR/build-images.sh" --with-headers
KVER=$(cat "$XB_VM_IMAGES/KVER")
B="$XB_VM_OUT/selftest"; rm -rf "$B"; mkdir -p "$B"
cp "$HERE/hello.c" "$HERE/Kbuild" "$B/"
make -s -C "/usr/src/linux-headers-$KVER" M="$B" modules
cc -O2 -o "$B/xsprobe" "$HERE/xsprobe.c" -lxenstore
mkdir -p "$B/payload/etc/xb-vm/start.d"
cp "$HERE/start-hook.sh" "$B/payload/etc/xb-vm/start.d/50-xsprobe.sh"
exec "$XB_VM_DIR/run-vm.sh" --payload "$B/payload" --test "$HERE/test.sh" \
    --bin "$B/xsprobe" --module "$B/hello.ko" --qemu-arg -device --qemu-arg edu "$@"
