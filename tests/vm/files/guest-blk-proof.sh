#!/bin/sh
# Guest side of the block proof: /dev/xvda appears; the 512-byte token dom0 wrote at offset 0
# reads back; a reply ("guest-ack:" + token) written at offset 1 MiB with O_DIRECT reads back.
# dom0 checks the reply in the image file after the guest is gone.
i=0
while [ ! -b /dev/xvda ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "no /dev/xvda"; exit 1; }; sleep 0.1
done
echo "xvda: $(cat /sys/block/xvda/size) sectors, ro=$(cat /sys/block/xvda/ro)"
tok=$(dd if=/dev/xvda bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
echo "token read: $tok"
case $tok in xb-token-*) ;; *) echo "bad token"; exit 1 ;; esac
printf 'guest-ack:%s' "$tok" > /tmp/ack
dd if=/tmp/ack of=/dev/xvda bs=512 seek=2048 conv=sync,fsync oflag=direct 2>/dev/null || exit 2
back=$(dd if=/dev/xvda bs=512 skip=2048 count=1 iflag=direct 2>/dev/null | tr -d '\0')
[ "$back" = "guest-ack:$tok" ] || { echo "readback mismatch: $back"; exit 3; }
echo "XB-GUEST-BLK-OK"
