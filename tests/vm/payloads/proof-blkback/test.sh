#!/bin/sh
# Proof of the route (no xenbackd): a PV guest with the user's disk line, served by the
# kernel's xen-blkback, reads a token dom0 wrote and writes a reply dom0 reads back.
. /etc/xb-vm/lib.sh
set -u
insmod /opt/kernel-backends/xen-blkback.ko || exit 10
ts "xen-blkback loaded"
img=/tmp/disk.img
dd if=/dev/zero of=$img bs=1M count=32 2>/dev/null
tok="xb-token-$(cat /proc/sys/kernel/random/uuid)"
printf '%s' "$tok" | dd of=$img conv=notrunc 2>/dev/null
cat > /tmp/guest1.cfg <<CFG
name = "guest1"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/vm/domU.cpio.gz"
extra = "console=hvc0 xbvm.guest=blk-proof"
memory = 256
vcpus = 1
disk = ['format=raw, vdev=xvda, access=rw, target=$img']
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
ack=$(dd if=$img bs=512 skip=2048 count=1 2>/dev/null | tr -d '\0')
[ "$ack" = "guest-ack:$tok" ] || { ts "disk image reply mismatch: '$ack'"; exit 12; }
grep -q 'XB-GUEST: blk-proof PASS' "$log" || { ts "guest did not report PASS"; exit 13; }
ts "image holds the guest's reply: $ack"
check_kernel_log "$log" || exit 15
check_kernel_log - || exit 16
# nothing left behind
[ -z "$(xenstore-list /local/domain/0/backend/vbd 2>/dev/null)" ] || { ts "backend nodes left"; xenstore-ls /local/domain/0/backend; exit 14; }
losetup -a
exit 0
