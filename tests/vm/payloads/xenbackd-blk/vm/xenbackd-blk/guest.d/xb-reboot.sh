#!/bin/sh
# Second boot on the disk of the first: e2fsck clean, every file of MANIFEST intact.
. /guest.d/xb-lib.sh
wait_dev xvda 30 || exit 1
modprobe crc32c_generic; modprobe ext4
/usr/sbin/e2fsck -fn /dev/xvda >/dev/null || die "e2fsck on the second boot"
mkdir -p /mnt/a && mount -t ext4 /dev/xvda /mnt/a || die "mount"
(cd /mnt/a && sha256sum -c -s MANIFEST) || die "files differ across the reboot"
echo "files verified across the reboot ($(wc -l < /mnt/a/MANIFEST) files)"
umount /mnt/a
echo "XB-GUEST-REBOOT-OK"
