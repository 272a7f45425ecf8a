#!/bin/bash
# tests/vm/vm-test.sh PAYLOAD [run-vm.sh options]: one test of the vm suite (meson test
# --suite vm), or by hand. Builds the images if needed (build-images.sh), and for the
# xenbackd payloads a NON-sanitized xenbackd/xenbackctl of this source tree in
# $XB_VM_OUT/build (the ASan binaries of the test build cannot run in dom0), then boots
# tests/vm/payloads/PAYLOAD with run-vm.sh.
#   PAYLOAD: a directory path (with a /), or a name under tests/vm/payloads: xenbackd-blk (xenbackd serves the disks), xenbackd-net (the NICs),
#            lab (tests/vm/lab.sh), proof-blkback, proof-netback
#            (the kernel's backends: proves the route itself)
# Exit: run-vm.sh's (0 pass, 1 fail, 2 no result -> 1), 77 only when QEMU or the Debian
# packages cannot be installed (the reason is printed).
# Env: XB_VM_TIMEOUT (QEMU run bound, default 480 s), and lib.sh's XB_VM_* directories.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || die "usage: $0 PAYLOAD [run-vm.sh options]"
NAME=$1; shift
PAYLOAD=$HERE/payloads/$NAME
# a payload elsewhere (tests/bench/vm/payload): a directory; it gets xenbackd too
case $NAME in */*) PAYLOAD=$(cd "$NAME" && pwd); NAME=xenbackd-$(basename "$(dirname "$PAYLOAD")")-$(basename "$PAYLOAD") ;; esac
[ -d "$PAYLOAD" ] || die "no payload $PAYLOAD"
mkdir -p "$XB_VM_OUT"

# one builder at a time (meson may start several vm tests at once)
exec 9>"$XB_VM_OUT/.build.lock"
flock 9
"$HERE/build-images.sh" 2>&1 | tee "$XB_VM_OUT/build-images.log"; rc=${PIPESTATUS[0]}
if [ $rc = 77 ]; then
    echo "SKIP: the vm tier's QEMU or Debian packages cannot be installed: $(sed -n 's/.*UNAVAILABLE: //p' "$XB_VM_OUT/build-images.log")"
    exit 77
fi
[ $rc = 0 ] || { echo "FAIL: build-images.sh exited $rc"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 77; }

ARGS=()
case $NAME in
xenbackd-*|lab)
    B=$XB_VM_OUT/build
    if [ ! -e "$B/build.ninja" ]; then
        log "meson setup $B (no sanitizers, for dom0)"
        rm -rf "$B"
        meson setup "$B" "$SRC" -Dbuildtype=debugoptimized >"$XB_VM_OUT/build-setup.log" 2>&1 ||
            { cat "$XB_VM_OUT/build-setup.log"; echo "FAIL: meson setup $B"; exit 1; }
    fi
    log "ninja -C $B xenbackd xenbackctl"
    ninja -C "$B" daemon/xenbackd daemon/xenbackctl >"$XB_VM_OUT/build.log" 2>&1 ||
        { cat "$XB_VM_OUT/build.log"; echo "FAIL: building xenbackd for dom0"; exit 1; }
    # at their packaged paths: the start hook runs the unit's ExecStart= with its defaults file
    ARGS+=(--payload "$HERE/payloads/common-xenbackd"     # the start hook (the unit's ExecStart=)
           --bin "$B/daemon/xenbackd:/usr/sbin/xenbackd"
           --bin "$B/daemon/xenbackctl:/usr/sbin/xenbackctl"
           --file "$SRC/systemd/xenbackd.service:/usr/lib/systemd/system/xenbackd.service"
           --file "$SRC/systemd/xenbackd.default:/etc/default/xenbackd"
           # fio for the guest: dom0's /dev/vda, which dom0 gives the guest (read-only)
           --qemu-arg -drive --qemu-arg "file=$XB_VM_IMAGES/guest-tools.ext4,if=virtio,format=raw,readonly=on")
    ;;
esac
flock -u 9

CONSOLE=$XB_VM_OUT/$NAME.console.log      # the last run's, at a stable path (CI artifacts)
"$HERE/run-vm.sh" "${ARGS[@]}" --payload "$PAYLOAD" --timeout "${XB_VM_TIMEOUT:-480}" --log "$CONSOLE" "$@"
rc=$?
if [ $rc != 0 ] && [ $rc != 77 ]; then
    echo "----- $CONSOLE without Xen's lines (last 400) -----"
    grep -av '(XEN)' "$CONSOLE" | tail -400
fi
case $rc in
    0|1|77) exit $rc ;;
    *) echo "FAIL: no result from the VM (run-vm.sh exited $rc: timeout or crash)"; exit 1 ;;
esac
