#!/bin/sh
# The lab guest: its disk and NIC are served by xenbackd in dom0. Shows them in use, then
# either powers off (the default) or, with xbvm.stay=1, keeps a shell on its console
# (dom0: xl console lab).
gts() { local up; read -r up _ < /proc/uptime; echo "[domU ${up}s] $*"; }
die() { echo "LAB-GUEST FAILED: $*"; exit 1; }
i=0
while [ ! -b /dev/xvda ] || [ ! -e /sys/class/net/eth0 ]; do
    i=$((i + 1)); [ $i -lt 300 ] || die "no /dev/xvda or eth0 after 30 s"; sleep 0.1
done
echo "== guest: its kernel's lines about the disk and the NIC (dmesg) =="
dmesg | grep -E 'xvda|blkfront|netfront|eth0' | sed 's/^/  /'
echo "== guest: /dev/xvda, $(( $(cat /sys/block/xvda/size) / 2048 )) MiB: ext4, a file written and read back =="
modprobe crc32c_generic; modprobe ext4
mkfs.ext4 -q -F /dev/xvda || die "mkfs.ext4"
mkdir -p /mnt && mount /dev/xvda /mnt || die "mount"
dd if=/dev/urandom of=/mnt/hello.bin bs=1M count=8 2>/dev/null
echo "written by the lab guest at $(date)" > /mnt/hello.txt
w=$(sha256sum < /mnt/hello.bin | cut -d' ' -f1)
umount /mnt && echo 3 > /proc/sys/vm/drop_caches && mount /dev/xvda /mnt || die "remount"
r=$(sha256sum < /mnt/hello.bin | cut -d' ' -f1)
[ "$w" = "$r" ] || die "read back $r, wrote $w"
echo "  wrote /mnt/hello.bin (8 MiB, sha256 $w), unmounted, remounted, read it back: same"
df -h /mnt | sed 's/^/  /'
umount /mnt
echo "== guest: eth0 10.99.0.2/24 on dom0's xenbr0 =="
ip link set eth0 up
ip addr add 10.99.0.2/24 dev eth0
i=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ]; do
    i=$((i + 1)); [ $i -lt 300 ] || die "eth0: no carrier"; sleep 0.1; done
echo "  eth0 $(cat /sys/class/net/eth0/address), carrier $(cat /sys/class/net/eth0/carrier), $(ls -d /sys/class/net/eth0/queues/tx-* | wc -l) queues"
ping -c 3 -W 5 10.99.0.1 | sed 's/^/  /'
ping -c 1 -W 5 10.99.0.1 >/dev/null || die "ping dom0"
echo "XB-MARK: lab-done $w"
# dom0 pings us now: stay until 3 echo requests came in (30 s at most)
echos() { awk '/^Icmp: [0-9]/ {print $10}' /proc/net/snmp; }
i=0; while [ "$(echos)" -lt 3 ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
echo "  answered $(echos) pings from dom0"
if grep -q 'xbvm.stay=1' /proc/cmdline; then
    gts "the lab guest stays up: this is its console (exit the shell: a new one starts)"
    while :; do setsid cttyhack sh -l; done
fi
exit 0
