#!/bin/sh
# Hotplug: dom0 runs `xl block-attach` when it sees "XB-MARK: hot-wait"; /dev/xvdc appears;
# raw pattern I/O at several depths (N concurrent O_DIRECT writers/readers on distinct
# regions, block sizes 4 KiB..512 KiB: indirect descriptors beyond 44 KiB); online resize:
# at "XB-MARK: resize-wait" dom0 grows the image to 32 MiB and tells its loop device
# (losetup -c), blkfront must see the new size and 1 MiB at 24 MiB must write and read back;
# the disk's sha256 goes to dom0 ("XB-MARK: hot-done SUM"), which detaches it; /dev/xvdc
# must go.
. /guest.d/xb-lib.sh
mark hot-wait
wait_dev xvdc 60 || exit 1
sz=$(cat /sys/block/xvdc/size)
echo "xvdc: $sz sectors, ro=$(cat /sys/block/xvdc/ro)"
[ "$sz" = 32768 ] || die "xvdc: expected 16 MiB"
dd if=/dev/urandom of=/tmp/pat bs=1M count=1 2>/dev/null
psum=$(sha256sum < /tmp/pat | cut -d' ' -f1)
for depth in 1 4 16; do
    i=0
    while [ $i -lt $depth ]; do               # writer i: MiB i, pattern rotated by depth
        case $((i % 4)) in 0) bs=4k ;; 1) bs=64k ;; 2) bs=512k ;; 3) bs=16k ;; esac
        dd if=/tmp/pat of=/dev/xvdc bs=$bs seek=$((i * 1048576 / ${bs%k} / 1024)) \
           oflag=direct conv=notrunc 2>/dev/null &
        i=$((i + 1))
    done
    wait
    i=0; : > /tmp/sums
    while [ $i -lt $depth ]; do
        (dd if=/dev/xvdc bs=256k skip=$((i * 4)) count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1 > /tmp/sum.$i) &
        i=$((i + 1))
    done
    wait
    i=0
    while [ $i -lt $depth ]; do
        [ "$(cat /tmp/sum.$i)" = "$psum" ] || die "depth $depth: MiB $i reads back wrong"
        i=$((i + 1))
    done
    echo "depth $depth: $depth MiB written and verified"
    # next round writes a different pattern, so stale data cannot pass
    dd if=/dev/urandom of=/tmp/pat bs=1M count=1 2>/dev/null
    psum=$(sha256sum < /tmp/pat | cut -d' ' -f1)
done
mark resize-wait
i=0
while [ "$(cat /sys/block/xvdc/size)" != 65536 ]; do
    i=$((i + 1)); [ $i -lt 600 ] || die "xvdc: $(cat /sys/block/xvdc/size) sectors 60 s after resize-wait, expected 65536"
    sleep 0.1
done
dd if=/tmp/pat of=/dev/xvdc bs=64k seek=384 oflag=direct conv=notrunc 2>/dev/null || die "xvdc: write at 24 MiB after the resize"
[ "$(dd if=/dev/xvdc bs=64k skip=384 count=16 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$psum" ] ||
    die "xvdc: 1 MiB at 24 MiB reads back wrong after the resize"
echo "xvdc: grown online to 65536 sectors; 1 MiB at 24 MiB written and verified"
sync
sum=$(dd if=/dev/xvdc bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
mark "hot-done $sum"
i=0
while [ -b /dev/xvdc ]; do
    i=$((i + 1)); [ $i -lt 600 ] || die "xvdc still there 60 s after hot-done"; sleep 0.1
done
echo "xvdc gone"
echo "XB-GUEST-HOT-OK"
