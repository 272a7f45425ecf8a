#!/bin/sh
# Never returns: writers and readers on /dev/xvda (raw, O_DIRECT) until dom0's `xl destroy`.
. /guest.d/xb-lib.sh
wait_dev xvda 30 || exit 1
for i in 0 1 2 3; do
    (while :; do dd if=/dev/zero of=/dev/xvda bs=64k seek=$((i * 64)) count=64 oflag=direct conv=notrunc 2>/dev/null; done) &
    (while :; do dd if=/dev/xvda of=/dev/null bs=128k skip=$((i * 32)) count=64 iflag=direct 2>/dev/null; done) &
done
mark busy
sleep 1000
