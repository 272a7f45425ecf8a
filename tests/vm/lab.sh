#!/bin/bash
# tests/vm/lab.sh - the lab: real Xen 4.17 under QEMU (TCG) on this machine, xenbackd in dom0
# serving a PV guest's disk and NIC. One command on a fresh Debian 12 clone, as root:
#
#   tests/vm/lab.sh            install the dependencies, build xenbackd and the images, boot Xen,
#                              start xenbackd from its systemd unit's command line, create a
#                              guest with disk = [...xvda...] and vif = ['bridge=xenbr0'], show
#                              the guest using them (dmesg, a file written and read back, ping
#                              both ways), print xenbackctl list, power off. Exit 0 = all good.
#   tests/vm/lab.sh --shell    the same, then a shell in dom0 with the guest still running:
#                              `xl console lab` (Ctrl-] back), `xenbackctl list`,
#                              `xl destroy lab`, `poweroff -f` ends the lab (Ctrl-a x kills QEMU)
#
# Takes ~1 min with everything built (first run: + apt-get, ~75 MB of Debian packages, the
# meson build). The whole console is in tests/vm/out/lab.console.log; the filtered
# transcript (without Xen's and the kernels' own lines) is what is printed.
# Env: XB_VM_* (tests/vm/README.md), XB_LAB_TIMEOUT (default 300 s; --shell: 3600 s).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
SHELL_MODE=0
for a in "$@"; do
    case $a in
        --shell) SHELL_MODE=1 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "lab.sh: unknown option $a (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "lab.sh: run it as root (it installs packages, builds images with device nodes)" >&2; exit 1; }

echo "== lab: host dependencies (tests/install-deps.sh) =="
"$SRC/tests/install-deps.sh" || { echo "lab.sh: installing the build dependencies failed" >&2; exit 1; }

if [ $SHELL_MODE = 1 ]; then
    echo "== lab: interactive; in dom0: xl console lab, xenbackctl list, poweroff -f (Ctrl-a x kills QEMU) =="
    exec env XB_VM_TIMEOUT=${XB_LAB_TIMEOUT:-3600} "$HERE/vm-test.sh" lab --shell
fi
echo "== lab: images, xenbackd build, boot (the transcript below has the Xen and kernel lines filtered out) =="
XB_VM_TIMEOUT=${XB_LAB_TIMEOUT:-300} "$HERE/vm-test.sh" lab 2>&1 |
    grep -a --line-buffered -v -E '\(XEN\)|\] \[ *[0-9]+\.[0-9]+\] |SeaBIOS|Booting from|iPXE|^\[ *[0-9.]+s\] *$|mapping kernel|about to get started|Poking KASLR|Done setting up Dom0|\x1b'
rc=${PIPESTATUS[0]}
echo "== lab: exit $rc (full console: ${XB_VM_OUT:-$HERE/out}/lab.console.log) =="
exit $rc
