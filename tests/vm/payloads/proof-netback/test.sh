#!/bin/bash
# Proof of the network route (no xenbackd): a PV guest with the user's vif line, served by
# the kernel's xen-netback through the vif-bridge hotplug script, pings dom0 on xenbr0.
. /etc/xb-vm/lib.sh
set -u
insmod /opt/kernel-backends/xen-netback.ko || exit 10
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
ip link add name xenbr0 type bridge stp_state 0 forward_delay 0
ip -6 addr add fe80::1/64 dev xenbr0 nodad
ip link set xenbr0 up
ts "xen-netback loaded, xenbr0 up"
cat > /tmp/guest1.cfg <<CFG
name = "guest1"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/vm/domU.cpio.gz"
extra = "console=hvc0 xbvm.guest=net-proof"
memory = 256
vcpus = 1
vif = ['bridge=xenbr0, mac=00:16:3e:00:00:02']
on_poweroff = "destroy"
on_crash = "destroy"
CFG
ts "xl create"
xl create /tmp/guest1.cfg || { ts "xl create failed"; exit 11; }
ts "xl create returned; waiting for the guest to power off"
wait_domain_gone 120 guest1 || { ts "guest still running"; xl list; xl destroy guest1; }
ts "guest gone"
log=$(guest_console guest1)
echo "----- guest console -----"; cat "$log"; echo "-------------------------"
grep -q 'XB-GUEST: net-proof PASS' "$log" || { ts "guest did not report PASS"; exit 13; }
check_kernel_log "$log" || exit 15
check_kernel_log - || exit 16
[ -z "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ] || { ts "backend nodes left"; exit 14; }
ip link show | grep -q 'vif[0-9]' && { ts "vif left behind"; ip link show; exit 17; }
exit 0
