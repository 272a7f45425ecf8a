#!/bin/bash
# The lab (tests/vm/lab.sh): xenbackd, started as its systemd unit would (start hook of
# payloads/common-xenbackd), serves a PV guest's disk and NIC, configured as a user writes them:
#   disk = ['format=raw, vdev=xvda, access=rw, target=/var/lib/xen/lab-disk.img']
#   vif  = ['bridge=xenbr0']
# The guest shows them in use; dom0 pings it and prints xenbackctl's view. Without
# xbvm.shell=1 the guest powers off, dom0 checks the image and that nothing is left behind;
# with it the guest stays up for `xl console lab`.
. /etc/xb-vm/lib.sh
set -u
IP=/usr/bin/ip
XB_PID=$(cat /run/xenbackd.pid)
SHELL_MODE=0; grep -q 'xbvm.shell=1' /proc/cmdline && SHELL_MODE=1
IMG=/var/lib/xen/lab-disk.img
say() { echo; echo "=== $* ==="; }
fail() {
    echo "LAB FAILED: $*"
    echo "--- xenbackd log ---"; cat /var/log/xenbackd.log
    echo "--- the guest's console ---"; cat "$(guest_console lab)" 2>/dev/null
    xl destroy lab 2>/dev/null; exit 1
}
console_has() { grep -aq "$1" "$(guest_console lab)" 2>/dev/null; }

say "dom0: xenbackd (pid $XB_PID), the kernel's xen-blkback and xen-netback are not loaded"
head -1 /var/log/xenbackd.log
[ ! -e /sys/module/xen_blkback ] && [ ! -e /sys/module/xen_netback ] || fail "a kernel backend is loaded"
xenbackctl version

$IP link add name xenbr0 type bridge stp_state 0 forward_delay 0
$IP addr add 10.99.0.1/24 dev xenbr0
$IP link set xenbr0 up
dd if=/dev/zero of=$IMG bs=1M count=64 2>/dev/null
guest_initrd /tmp/lab.cpio.gz /vm/lab
cat > /etc/xen/lab.cfg <<CFG
name = "lab"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/lab.cpio.gz"
extra = "console=hvc0 xbvm.guest=lab $([ $SHELL_MODE = 1 ] && echo xbvm.stay=1)"
memory = 256
vcpus = 2
disk = ['format=raw, vdev=xvda, access=rw, target=$IMG']
vif = ['bridge=xenbr0']
on_poweroff = "destroy"
on_crash = "destroy"
CFG
say "dom0: xenbr0 10.99.0.1/24; the guest's config, /etc/xen/lab.cfg"
cat /etc/xen/lab.cfg
say "dom0: xl create /etc/xen/lab.cfg"
xl create /etc/xen/lab.cfg || fail "xl create"
D=$(xl domid lab)
wait_for 120 console_has 'XB-MARK: lab-done\|LAB-GUEST FAILED\|XB-GUEST: lab FAIL' || fail "the guest did not finish in 120 s"
console_has 'XB-MARK: lab-done' || fail "the guest failed"
say "the guest (domid $D), from its console"
sed -n '/XB-GUEST: run lab/,/XB-MARK: lab-done/p' "$(guest_console lab)" | grep -av 'XB-MARK\|XB-GUEST'
# The guest waits for dom0's pings before it powers off: list the devices
# first, while they are still in use.
say "dom0: xl block-list / network-list lab"
xl block-list lab; xl network-list lab
say "dom0: xenbackctl list"
xenbackctl list
say "dom0: ping the guest through xenbr0 and xenbackd's tap vif$D.0"
ping -c 3 -W 5 10.99.0.2 || fail "dom0 cannot ping the guest"
say "dom0: vif$D.0 on the bridge"
$IP -br link show master xenbr0
if [ $SHELL_MODE = 1 ]; then
    say "the lab is up"
    cat <<TXT
  xl console lab        the guest's console (a shell; Ctrl-] comes back to dom0)
  xenbackctl list       xenbackd's devices;  cat /var/log/xenbackd.log  its log
  xl destroy lab        tear the guest down; xl create /etc/xen/lab.cfg  again
  poweroff -f           end the lab (QEMU exits)
TXT
    exit 0
fi
say "dom0: waiting for the guest to power off"
wait_domain_gone 60 lab || fail "the guest did not power off"
gone() { [ -z "$(xenstore-list /local/domain/0/backend/vbd 2>/dev/null)$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ] &&
         [ "$(xenbackctl list | awk 'NR > 1' | grep -c .)" = 0 ] && ! $IP -o link show | grep -q ' vif[0-9]'; }
wait_for 20 gone || fail "backend nodes, devices or taps left behind"
echo "  gone: no backend node, no vif tap, xenbackctl lists no device"
W=$(grep -a 'XB-MARK: lab-done' "$(guest_console lab)" | awk '{print $3}' | tr -d '\r')
e2fsck -fn $IMG >/dev/null 2>&1 || fail "e2fsck of the guest's disk image"
rm -f /tmp/hello.bin; debugfs -R "dump /hello.bin /tmp/hello.bin" $IMG >/dev/null 2>&1
[ "$(sha256sum < /tmp/hello.bin | cut -d' ' -f1)" = "$W" ] || fail "dom0 does not find the guest's file in the image"
echo "  dom0: $IMG fsck clean; /hello.bin in it has the guest's sha256 $W"
echo "  dom0: $(debugfs -R 'cat /hello.txt' $IMG 2>/dev/null)"
check_kernel_log "$(guest_console lab)" || fail "the guest's kernel log"
check_kernel_log - || fail "dom0's kernel log"
kill -0 $XB_PID || fail "xenbackd died"
say "lab: all good"
exit 0
