#!/bin/sh
# g1: netfront on xenbackd's vif. eth0 gets a link; ping dom0; TCP both ways over the
# bridge, byte-verified (xb-tcp: 2 streams each way; wget of dom0's file, checksummed;
# dom0 wgets ours); then xl network-attach/-detach of eth1 while we run; then traffic
# until dom0's xl destroy (xn-busy).
. /guest.d/xn-lib.sh
echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore     # each NIC answers ARP for its own address
nic_up eth0 10.99.0.2/24
[ "$(ls -d /sys/class/net/eth0/queues/tx-* | wc -l)" = 2 ] || die "eth0 has not 2 tx queues"
dmesg | grep -i -E 'netfront|xen_netfront|eth0' | sed 's/^/dmesg: /'
ping -c 3 -W 5 10.99.0.1 || die "ping dom0"
# what dom0 fetches from us, what dom0 sends us
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/data bs=64k count=64 2>/dev/null
httpd -p 8080 -h /tmp/www || die "httpd"
xb-tcp recv -p 5002 > /tmp/recv.log 2>&1 &
mark "net-ready $(sha256sum < /tmp/www/data | cut -d' ' -f1)"
# guest -> dom0: 2 streams (one per queue, with luck of the hash)
xb-tcp send 10.99.0.1 5001 48m -P 2 || die "xb-tcp send to dom0"
# dom0 -> guest: dom0's file over HTTP, checksummed against the sum dom0 gave us
want=$(arg xbvm.dom0sum)
got=$(wget -q -O - http://10.99.0.1:8080/data | sha256sum | cut -d' ' -f1)
[ -n "$want" ] && [ "$got" = "$want" ] || die "wget from dom0: sha256 $got, dom0's $want"
gts "wget from dom0: 4 MiB, sha256 verified"
mark "net-sent"
# dom0 -> guest: dom0's xb-tcp streams to our receiver (2 of them), dom0 pings us
verified() { [ "$(grep -c 'verified' /tmp/recv.log)" -ge 2 ]; }
wait_until 120 verified || { cat /tmp/recv.log; die "dom0's streams did not arrive verified"; }
cat /tmp/recv.log
grep -q -E 'differs|ended|bad header|after the end' /tmp/recv.log && die "xb-tcp receiver errors"
c0=$(stat_of eth0 rx_packets)
gts "eth0: rx $c0 packets, tx $(stat_of eth0 tx_packets) packets"

# ---- hotplug: dom0 attaches eth1, we use it, dom0 detaches it ----
mark "hot-wait"
nic_up eth1 10.99.1.2/24
r0=$(stat_of eth1 rx_packets)
eth1_diag() {
    ip addr; ip route; ip neigh; ip -s link
    for f in /sys/class/net/eth1/statistics/*; do echo "$f $(cat $f)"; done
}
# netfront's carrier is on as soon as the backend is in InitWait, but the
# backend (xenbackd, or Xen's netback) moves frames only once dom0's hotplug
# script has put its vif up on the bridge: that took 20 s on a loaded host.
# What we send meanwhile waits in the ring; an ARP that gets no answer within
# ~3 s fails, and ping gives up. Wait for the path as a user would.
t0=$(cut -d' ' -f1 /proc/uptime)
wait_until 60 ping -c 1 -W 1 -I eth1 10.99.1.1 || { eth1_diag; die "no answer from dom0 through eth1 within 60 s"; }
gts "eth1: first answer from dom0 (waited since ${t0}s)"
ping -c 3 -W 5 -I eth1 10.99.1.1 || { eth1_diag; die "ping dom0 through eth1"; }
xb-tcp send 10.99.1.1 5001 8m || die "xb-tcp send to dom0 through eth1"
r1=$(stat_of eth1 rx_packets)
[ "$r1" -gt "$r0" ] || die "eth1 received nothing ($r0 -> $r1 packets)"
gts "eth1: rx $r0 -> $r1 packets, tx $(stat_of eth1 tx_packets)"
mark "hot-done"
wait_until 60 no_if eth1 || die "eth1 still here 60 s after hot-done"
gts "eth1 gone (xl network-detach)"
ping -c 1 -W 5 10.99.0.1 || die "eth0 lost after the detach of eth1"
exit 0
