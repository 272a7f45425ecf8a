#!/bin/sh
# Guest side of the network proof: netfront's eth0 gets a link; dom0 (fe80::1 on xenbr0)
# answers pings. IPv6 link-local only: the VM has no NIC to the outside (-nic none) anyway.
i=0
while [ ! -e /sys/class/net/eth0 ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "no eth0"; exit 1; }; sleep 0.1
done
echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
ip link set eth0 up
ip -6 addr add fe80::2/64 dev eth0
echo "eth0: $(cat /sys/class/net/eth0/address) carrier=$(cat /sys/class/net/eth0/carrier)"
ping -6 -c 3 -W 5 fe80::1%eth0 || exit 2
echo "XB-GUEST-NET-OK"
