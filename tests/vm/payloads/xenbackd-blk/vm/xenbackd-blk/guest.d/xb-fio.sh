#!/bin/sh
# fio with verify at several depths on /dev/xvda (raw; the filesystem was checked already),
# libaio + O_DIRECT, block sizes 4 KiB..128 KiB (indirect descriptors beyond 44 KiB).
# fio and its libraries come from /dev/xvdb: dom0's /dev/vda (a QEMU disk holding
# guest-tools.ext4), served read-only by xenbackd from a block device.
. /guest.d/xb-lib.sh
wait_dev xvda 30 || exit 1
wait_dev xvdb 30 || exit 1
modprobe crc32c_generic; modprobe ext4
T=/mnt/tools
mkdir -p $T && mount -t ext4 -o ro,noload /dev/xvdb $T || die "mount the tools disk"
fio() { $T/lib64/ld-linux-x86-64.so.2 --library-path $T/lib/x86_64-linux-gnu:$T/lib/x86_64-linux-gnu/ceph $T/usr/bin/fio "$@"; }
fio --version || die "fio does not run"
k=0
for depth in 1 8 32; do
    gts "fio randwrite+verify iodepth=$depth"
    fio --name=qd$depth --filename=/dev/xvda --direct=1 --ioengine=libaio --iodepth=$depth \
        --rw=randwrite --bsrange=4k-128k --size=8M --offset=$((k * 8))M \
        --verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 \
        --output-format=terse --terse-version=3 > /tmp/fio.out 2>&1 ||
        { cat /tmp/fio.out; die "fio iodepth=$depth"; }
    # terse v3: field 5 = errors, 6 = KiB read (the verify pass), 47/48/49 = KiB written, KiB/s, IOPS
    awk -F';' -v d=$depth '{printf "fio qd%s: err=%s wrote %s KiB at %s KiB/s %s IOPS, verified %s KiB\n", d, $5, $47, $48, $49, $6}' /tmp/fio.out
    awk -F';' '$5 == 0 && $47 == 8192 && $6 == 8192 {ok = 1} END {exit !ok}' /tmp/fio.out ||
        { cat /tmp/fio.out; die "fio iodepth=$depth: errors, or not all 8 MiB written and verified"; }
    k=$((k + 1))
done
gts "fio mixed randrw+verify iodepth=16, 2 jobs"
fio --name=mix --filename=/dev/xvda --direct=1 --ioengine=libaio --iodepth=16 --numjobs=2 \
    --rw=randrw --bs=4k --size=8M --offset=32M --offset_increment=8M \
    --verify=crc32c --verify_fatal=1 --randrepeat=0 > /tmp/fio.out 2>&1 ||
    { cat /tmp/fio.out; die "fio mixed"; }
grep -E 'IOPS|err=' /tmp/fio.out | head -6
umount $T
echo "XB-GUEST-FIO-OK"
