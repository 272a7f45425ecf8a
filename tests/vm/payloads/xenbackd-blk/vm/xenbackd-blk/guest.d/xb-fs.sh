#!/bin/sh
# First boot on an empty disk: mkfs.ext4 on /dev/xvda, files written, e2fsck clean, files
# verified after a remount, discard (fstrim). Leaves /MANIFEST (sha256 of every file) for
# dom0 and for the second boot.
. /guest.d/xb-lib.sh
wait_dev xvda 30 || exit 1
echo "xvda: $(cat /sys/block/xvda/size) sectors, ro=$(cat /sys/block/xvda/ro), discard_max=$(cat /sys/block/xvda/queue/discard_max_bytes)"
[ "$(cat /sys/block/xvda/ro)" = 0 ] || die "xvda is read-only"
modprobe crc32c_generic; modprobe ext4; grep -q ext4 /proc/filesystems || die "no ext4 in the guest kernel"
mkfs.ext4 -q -F -E nodiscard /dev/xvda || die "mkfs.ext4"
gts "mkfs.ext4 done"
mkdir -p /mnt/a && mount -t ext4 /dev/xvda /mnt/a || die "mount"
cd /mnt/a || exit 1
gts "mounted"
dd if=/dev/urandom of=big bs=1M count=16 2>/dev/null || die "write big"
mkdir -p tree
i=0
while [ $i -lt 64 ]; do                   # small files of varied sizes
    dd if=/dev/urandom of=tree/f$i bs=$((512 + i * 997)) count=1 2>/dev/null || die "write tree/f$i"
    i=$((i + 1))
done
dd if=/dev/urandom of=direct bs=128k count=32 oflag=direct 2>/dev/null || die "O_DIRECT write"
find . -type f ! -name MANIFEST | sort | xargs sha256sum > MANIFEST
gts "files written"
cd / && sync && umount /mnt/a || die "umount"
gts "unmounted"
/usr/sbin/e2fsck -fn /dev/xvda || die "e2fsck after the first mount: rc $?"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext4 /dev/xvda /mnt/a || die "remount"
(cd /mnt/a && sha256sum -c -s MANIFEST) || die "files differ after remount"
gts "files verified after remount ($(wc -l < /mnt/a/MANIFEST) files)"
if [ "$(cat /sys/block/xvda/queue/discard_max_bytes)" != 0 ]; then
    rm -f /mnt/a/direct && sed -i '/ .\/direct$/d' /mnt/a/MANIFEST && sync
    fstrim -v /mnt/a || die "fstrim"
    (cd /mnt/a && sha256sum -c -s MANIFEST) || die "files differ after fstrim"
fi
umount /mnt/a || die "umount"
/usr/sbin/e2fsck -fn /dev/xvda >/dev/null || die "e2fsck at the end"
echo "XB-GUEST-FS-OK"
