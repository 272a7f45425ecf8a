#!/bin/sh
# The read-only disk (access=ro): the guest sees it read-only, reads dom0's content
# (sha256 on the command line: xbvm.rosum=), and every write fails.
. /guest.d/xb-lib.sh
wait_dev xvdb 30 || exit 1
echo "xvdb: $(cat /sys/block/xvdb/size) sectors, ro=$(cat /sys/block/xvdb/ro)"
[ "$(cat /sys/block/xvdb/ro)" = 1 ] || die "xvdb is not read-only in the guest"
sum=$(dd if=/dev/xvdb bs=64k iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$sum" = "$(arg xbvm.rosum)" ] || die "xvdb content $sum, dom0 wrote $(arg xbvm.rosum)"
if dd if=/dev/zero of=/dev/xvdb bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null; then die "O_DIRECT write to xvdb succeeded"; fi
if dd if=/dev/zero of=/dev/xvdb bs=4096 count=1 conv=fsync 2>/dev/null; then die "buffered write to xvdb succeeded"; fi
if blockdev --setrw /dev/xvdb 2>/dev/null && dd if=/dev/zero of=/dev/xvdb bs=4096 count=1 oflag=direct 2>/dev/null; then
    die "write to xvdb succeeded after blockdev --setrw"
fi
sum2=$(dd if=/dev/xvdb bs=64k iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$sum2" = "$sum" ] || die "xvdb changed"
echo "XB-GUEST-RO-OK"
