#!/bin/bash
# xenbackd serves the guests' NICs under real Xen (the kernel's xen-netback is never loaded).
# xenbackd was started by etc/xb-vm/start.d/50-xenbackd.sh (payloads/common-xenbackd) as its
# systemd unit would. The guest's NIC is configured as a user would: vif = ['bridge=xenbr0'];
# xenbackd creates the tap vif<domid>.<handle> and the unchanged vif-bridge script bridges it.
#  g1 (2 vCPUs): netfront gets a link with 2 queues (multi-queue-num-queues = 2); ping both
#     ways; TCP both ways, byte-verified (xb-tcp: 2 streams each way; busybox httpd + wget of
#     a 4 MiB file each way, sha256 compared); xl network-attach of a second NIC while it
#     runs (ping + a verified stream through it), xl network-detach; xl pause while dom0
#     floods it: its rx buffers run out, and 3 s later (--net-rx-stall-ms=3000, set in
#     /etc/default/xenbackd by start.d/40-net-rx-timeouts.sh) its tap's carrier goes off;
#     xl unpause: the carrier comes back and ping works; then xl destroy in the middle of
#     traffic both ways.
# After it: no backend/vif node, no error node, no vif tap, nothing on the bridge,
# xenbackctl list empty, no gntdev mapping and no extra fd in xenbackd; kernel logs clean.
. /etc/xb-vm/lib.sh
set -u
XB_PID=$(cat /run/xenbackd.pid)
GUEST_DIR=/vm/xenbackd-net
LOG=/var/log/xenbackd.log
IP=/usr/bin/ip

dump() {
    echo "----- xenbackd log -----"; cat $LOG
    echo "----- xenstore backend / error / frontend -----"
    xenstore-ls -f /local/domain/0/backend 2>&1; xenstore-ls -f /local/domain/0/error 2>&1
    [ -n "${D1:-}" ] && xenstore-ls -f /local/domain/$D1/device 2>&1
    echo "----- xenbackctl list -----"; xenbackctl list 2>&1
    xl list; $IP -d link show; $IP addr show xenbr0
    $IP neigh show; ip -s link show 2>/dev/null | head -60
    for f in /sys/class/net/xenbr0/brif/*; do echo "$f: $(ls $f 2>/dev/null | head -0)"; done
    echo "----- tcpdump -----"; cat /tmp/tcpdump.log 2>/dev/null
    echo "----- dom0 xb-tcp receiver -----"; cat /tmp/recv.log 2>/dev/null
    echo "----- dom0 dmesg (tail) -----"; dmesg | tail -40
    echo "----- /var/log/xen (tail) -----"; tail -n 30 /var/log/xen/*.log 2>/dev/null
}
guest_log() {       # NAME [all]: its console: all of it, or what its scripts printed
    local f; f=$(guest_console "$1"); [ -e "$f" ] || return 0
    echo "----- guest $1 console -----"
    if [ "${2:-}" = all ]; then cat "$f"; else grep -av '^\[ *[0-9]*\.[0-9]*\] ' "$f"; fi
    echo "-----------------------------"
}
die() {
    ts "FAIL: $*"
    dump; guest_log g1 all
    xl destroy g1 2>/dev/null
    exit 1
}
trap 'die "killed (the run'"'"'s timeout)"' TERM
xb_alive() { kill -0 "$XB_PID" 2>/dev/null || die "xenbackd (pid $XB_PID) is gone"; }
gntdev_maps() { grep -c /dev/xen/gntdev /proc/$XB_PID/maps; }
nfds() { ls /proc/$XB_PID/fd | wc -l; }
ctl_rows() { xenbackctl list | awk 'NR > 1' | grep -c .; }
no_vif_nodes() { [ -z "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ]; }
no_ctl_rows() { [ "$(ctl_rows)" = 0 ]; }
no_taps() { ! $IP -o link show | grep -q ' vif[0-9]'; }
bridge_empty() { [ -z "$(ls /sys/class/net/xenbr0/brif/)" ]; }
maps_back() { [ "$(gntdev_maps)" = "$MAPS0" ]; }
fds_back() { [ "$(nfds)" = "$FDS0" ]; }
check_clean() {     # WHAT
    wait_for 20 no_vif_nodes || die "$1: backend/vif nodes left"
    wait_for 10 no_ctl_rows || die "$1: xenbackctl still lists devices"
    wait_for 10 no_taps || die "$1: vif taps left"
    wait_for 10 bridge_empty || die "$1: ports left on xenbr0: $(ls /sys/class/net/xenbr0/brif/)"
    wait_for 10 maps_back || die "$1: xenbackd has $(gntdev_maps) gntdev mappings (baseline $MAPS0)"
    wait_for 10 fds_back || { ls -l /proc/$XB_PID/fd; die "$1: xenbackd has $(nfds) fds (baseline $FDS0)"; }
    [ -z "$(xenstore-list /local/domain/0/error 2>/dev/null)" ] || die "$1: error nodes in xenstore"
    xb_alive
    ts "$1: nothing left behind (0 devices, no tap, bridge empty, $(gntdev_maps) mappings, $(nfds) fds, no node)"
}
console_has() { grep -aq "$2" "$(guest_console "$1")" 2>/dev/null; }
wait_console() {    # NAME PATTERN SECONDS
    wait_for "$3" console_has "$1" "$2" || die "$1: no '$2' on its console after $3 s"
}
guest_pass() {      # NAME SCRIPT
    console_has "$1" "XB-GUEST: $2 PASS" || die "$1: $2 did not pass"
    ts "$1: $2 PASS"
}
# vif_ok DOMID DEVID: xenbackd's tap, bridged by vif-bridge, the backend Connected
vif_ok() {
    local d=$1 i=$2 be=/local/domain/0/backend/vif/$1/$2 tap=vif$1.$2
    [ "$(xenstore-read $be/state)" = 4 ] || die "$tap: backend state $(xenstore-read $be/state)"
    [ "$(xenstore-read $be/hotplug-status)" = connected ] || die "$tap: hotplug-status $(xenstore-read $be/hotplug-status)"
    [ -e /sys/class/net/$tap ] || die "no tap $tap"
    [ "$(basename "$(readlink /sys/class/net/$tap/master)")" = xenbr0 ] || die "$tap is not on xenbr0"
    [ "$(cat /sys/class/net/$tap/operstate)" != down ] || die "$tap is down"
    [ -e /sys/module/xen_netback ] || [ -e /sys/class/net/$tap/tun_flags ] || die "$tap is not a tun/tap device"
    ts "$tap: on xenbr0, $(cat /sys/class/net/$tap/operstate), mtu $(cat /sys/class/net/$tap/mtu), mac $(cat /sys/class/net/$tap/address), backend Connected, hotplug-status connected"
}

# xbvm.netback=kernel on dom0's command line (run-vm.sh --dom0-args): the same test with the
# kernel's xen-netback instead (checks the test itself; xenbackd is stopped, its checks skipped)
if grep -q 'xbvm.netback=kernel' /proc/cmdline; then
    kill "$XB_PID"; wait_for 10 eval '! kill -0 $XB_PID' || die "xenbackd did not stop"
    # the timeouts xenbackd has from /etc/default/xenbackd (start.d/40-net-rx-timeouts.sh)
    insmod /opt/kernel-backends/xen-netback.ko rx_drain_timeout_msecs=1000 \
        rx_stall_timeout_msecs=3000 || die "insmod xen-netback"
    ts "KERNEL NETBACK MODE: xenbackd stopped, xen-netback loaded"
    xb_alive() { :; }; gntdev_maps() { echo 0; }; nfds() { echo 0; }
    xenbackctl() { echo "DOM TYPE DEVID (kernel netback)"; for d in $(xenstore-list /local/domain/0/backend/vif 2>/dev/null); do for i in $(xenstore-list /local/domain/0/backend/vif/$d); do echo "$d vif $i"; done; done; }
else
    xb_alive
    grep -q 'platform xen' $LOG || die "xenbackd is not on the xen platform"
    [ ! -e /sys/module/xen_netback ] || die "the kernel's xen-netback is loaded"
fi
MAPS0=$(gntdev_maps); FDS0=$(nfds)
ts "xenbackd pid $XB_PID: $MAPS0 gntdev mappings, $FDS0 fds; xen-netback not loaded"

# dom0's side of the bridge, as the proof-netback payload makes it
$IP link add name xenbr0 type bridge stp_state 0 forward_delay 0
$IP addr add 10.99.0.1/24 dev xenbr0
$IP addr add 10.99.1.1/24 dev xenbr0      # the hot-plugged NIC's subnet
$IP link set xenbr0 up
mkdir -p /tmp/www; dd if=/dev/urandom of=/tmp/www/data bs=64k count=64 2>/dev/null
DSUM=$(sha256sum < /tmp/www/data | cut -d' ' -f1)
httpd -p 8080 -h /tmp/www || die "httpd"
xb-tcp recv -p 5001 > /tmp/recv.log 2>&1 &
ts "xenbr0 10.99.0.1/24 up; httpd :8080, xb-tcp receiver :5001"

guest_initrd /tmp/guest.cpio.gz $GUEST_DIR
cat > /tmp/g1.cfg <<CFG
name = "g1"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/guest.cpio.gz"
extra = "console=hvc0 xbvm.guest=xn-net,xn-busy xbvm.dom0sum=$DSUM"
memory = 256
vcpus = 2
vif = ['bridge=xenbr0']
on_poweroff = "destroy"
on_crash = "destroy"
CFG
ts "xl create g1 (vif = ['bridge=xenbr0'], 2 vCPUs)"
xl create /tmp/g1.cfg || die "xl create g1"
D1=$(xl domid g1)
ts "g1 created (domid $D1)"
wait_console g1 "XB-MARK: net-ready" 180   # includes the guest's boot: slow when the host is loaded
xl network-list g1
xenbackctl list
vif_ok $D1 0
FE=/local/domain/$D1/device/vif/0
nq=$(xenstore-read $FE/multi-queue-num-queues 2>/dev/null)
[ "$nq" = 2 ] || die "g1's netfront: multi-queue-num-queues '$nq', expected 2 (backend offers $(xenstore-read /local/domain/0/backend/vif/$D1/0/multi-queue-max-queues))"
[ "$(ls -d /sys/class/net/vif$D1.0/queues/tx-* | wc -l)" -ge 2 ] || die "vif$D1.0: fewer than 2 tap queues"
ts "multi-queue: backend offers $(xenstore-read /local/domain/0/backend/vif/$D1/0/multi-queue-max-queues), g1 uses $nq ($(xenstore-ls $FE | grep -c '^queue-') queue nodes)"
ping -c 3 -W 5 10.99.0.2 || die "dom0 cannot ping g1"
GSUM=$(grep -a 'XB-MARK: net-ready' "$(guest_console g1)" | awk '{print $3}' | tr -d '\r')
got=$(wget -q -O - http://10.99.0.2:8080/data | sha256sum | cut -d' ' -f1)
[ -n "$GSUM" ] && [ "$got" = "$GSUM" ] || die "wget from g1: sha256 $got, g1's $GSUM"
ts "dom0: wget of g1's 4 MiB file, sha256 verified"
xb-tcp send 10.99.0.2 5002 48m -P 2 || die "xb-tcp send to g1"
wait_console g1 "XB-MARK: net-sent" 120
vstreams() { [ "$(grep -c 'from 10.99.0.2 .*verified' /tmp/recv.log)" -ge 2 ]; }
wait_for 10 vstreams || die "dom0's receiver did not verify g1's 2 streams"
grep -E 'differs|ended|bad header|after the end' /tmp/recv.log && die "dom0's receiver saw a broken stream"
ts "g1 -> dom0: $(grep -c 'from 10.99.0.2 .*verified' /tmp/recv.log) streams verified"
xenbackctl list

# ---- network-attach / network-detach while g1 runs ----------------------------------------
wait_console g1 "XB-MARK: hot-wait" 120
# what crosses the hot-plugged NIC's tap from its first frame (printed on
# failure): tcpdump starts as soon as xenbackd has made the tap
(t=0; while [ ! -e /sys/class/net/vif$D1.1 ] && [ $t -lt 1200 ]; do sleep 0.05; t=$((t + 1)); done
 exec timeout 180 tcpdump -Z root -nn -e -l -c 60 -i vif$D1.1) > /tmp/tcpdump.log 2>&1 &
ts "xl network-attach g1 bridge=xenbr0"
xl network-attach g1 bridge=xenbr0 || die "xl network-attach"
xl network-list g1
vif_ok $D1 1
wait_console g1 "XB-MARK: hot-done" 90
ping -c 2 -W 5 10.99.1.2 || die "dom0 cannot ping g1's eth1"
xenbackctl list
[ "$(ctl_rows)" = 2 ] || die "xenbackctl: $(ctl_rows) devices with the second NIC, expected 2"
ts "xl network-detach g1 1"
xl network-detach g1 1 || die "xl network-detach"
gone1() { [ -z "$(xenstore-list /local/domain/0/backend/vif/$D1 2>/dev/null | grep -x 1)" ] && [ ! -e /sys/class/net/vif$D1.1 ]; }
wait_for 20 gone1 || die "vif$D1.1 or its backend node left after network-detach"
one_row() { [ "$(ctl_rows)" = 1 ]; }
wait_for 10 one_row || die "xenbackctl: $(ctl_rows) devices after network-detach, expected 1"
wait_console g1 "XB-GUEST: xn-net " 90
guest_pass g1 xn-net
vif_ok $D1 0

# ---- a guest that stops taking frames: xl pause -----------------------------------------------
# Its netfront posts no more rx buffers; dom0's pings use up those it has. Frames then wait
# (1 s, then dropped), and 3 s after the guest took its last one its tap's carrier goes off,
# so that the bridge stops forwarding to it; xl unpause: it posts buffers, the carrier is back.
wait_console g1 "XB-MARK: busy" 60
carrier() { [ "$(cat /sys/class/net/vif$D1.0/carrier 2>/dev/null)" = "$1" ]; }
stall_logged() { if [ -e /sys/module/xen_netback ]; then dmesg | grep -q "vif$D1.0: Guest Rx $1"; else grep -q "vif$D1.0: guest rx $1" $LOG; fi; }
carrier 1 || die "vif$D1.0: no carrier before the pause"
xl pause g1 || die "xl pause g1"
ts "g1 paused; 400 pings to it, 5 ms apart"
ping -q -c 400 -i 0.005 -W 1 10.99.0.2 >/dev/null 2>&1
wait_for 20 carrier 0 || die "vif$D1.0: carrier still on 20 s after g1 stopped taking frames"
wait_for 5 stall_logged stalled || die "vif$D1.0: no 'rx stalled' in the log"
ts "vif$D1.0: carrier off, the backend says the guest's rx stalled"
xl unpause g1 || die "xl unpause g1"
wait_for 20 carrier 1 || die "vif$D1.0: carrier still off 20 s after xl unpause"
wait_for 5 stall_logged ready || die "vif$D1.0: no 'rx ready' in the log"
ping -c 3 -W 5 10.99.0.2 || die "dom0 cannot ping g1 after xl unpause"
ts "g1 unpaused: carrier on, ping works"

# ---- xl destroy mid-traffic ------------------------------------------------------------------
(while :; do xb-tcp send 10.99.0.2 5002 1g -P 2 >/dev/null 2>&1 || sleep 0.2; done) &
SENDER=$!
sleep 3
v_reqs() { xenbackctl list | awk -v d="$D1" '$1 == d && $2 == "vif" && $3 == 0 {print $6}'; }
[ -e /sys/module/xen_netback ] && v_reqs() { cat /sys/class/net/vif$D1.0/statistics/rx_packets; }
r1=$(v_reqs); sleep 1; r2=$(v_reqs)
xenbackctl list
[ -n "$r1" ] && [ -n "$r2" ] && [ "$r2" -gt "$r1" ] || die "no traffic before the destroy ($r1 -> $r2 packets)"
ts "g1 busy ($r1 -> $r2 packets); xl destroy g1"
xl destroy g1 || die "xl destroy g1"
kill $SENDER 2>/dev/null; wait $SENDER 2>/dev/null
wait_domain_gone 30 g1 || die "g1 still there after xl destroy"
ts "g1 destroyed"
guest_log g1
check_clean "g1 destroyed mid-traffic"

# ---- kernel logs, xenbackd log ---------------------------------------------------------------
check_kernel_log "$(guest_console g1)" || die "g1's kernel log"
check_kernel_log - || die "dom0's kernel log"
xb_alive
echo "----- xenbackd log -----"; cat $LOG; echo "------------------------"
echo "----- dom0 xb-tcp receiver -----"; cat /tmp/recv.log; echo "--------------------------------"
ts "xenbackd-net: all checks passed"
exit 0
