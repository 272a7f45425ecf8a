#!/bin/bash
# dom0 side of tests/bench/vm/bench-vm.sh: the same guest, the same fio jobs and TCP streams,
# served by (c) xenbackd (started by the common start hook, as its unit would), then by (a)
# the kernel's xen-blkback + xen-netback (insmod'ed from /opt/kernel-backends after xenbackd
# stopped). (b) QEMU's qdisk is not in dom0 (see bench-vm.sh). Prints the table.
. /etc/xb-vm/lib.sh
set -u
IP=/usr/bin/ip
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
RT=$(arg xbvm.rt); RT=${RT:-8}
fail() { echo "BENCH FAILED: $*"; cat "$(guest_console bench)" 2>/dev/null | tail -40; cat /var/log/xenbackd.log | tail -20; xl destroy bench 2>/dev/null; exit 1; }
console_has() { grep -aq "$1" "$(guest_console bench)" 2>/dev/null; }
$IP link add name xenbr0 type bridge stp_state 0 forward_delay 0
$IP addr add 10.99.0.1/24 dev xenbr0
$IP link set xenbr0 up
modprobe virtio_blk; wait_for 10 test -b /dev/vda || fail "no /dev/vda (the tools disk)"
dd if=/dev/zero of=/tmp/bench.img bs=1M count=300 2>/dev/null
guest_initrd /tmp/bench.cpio.gz /vm/bench
cat > /tmp/bench.cfg <<CFG
name = "bench"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/bench.cpio.gz"
extra = "console=hvc0 xbvm.guest=bench xbvm.rt=$RT xbvm.netbytes=$(arg xbvm.netbytes)"
memory = 384
vcpus = 2
disk = ['format=raw, vdev=xvda, access=rw, target=/tmp/bench.img', 'format=raw, vdev=xvdb, access=ro, target=/dev/vda']
vif = ['bridge=xenbr0']
on_poweroff = "destroy"
on_crash = "destroy"
CFG
run() {     # LABEL
    local log; log=$(guest_console bench); rm -f "$log"
    xb-tcp recv -p 5001 -c 1 > /tmp/recv.log 2>&1 &
    ts "BENCH $1: xl create bench"
    xl create /tmp/bench.cfg >/dev/null 2>&1 || fail "$1: xl create"
    wait_for 600 console_has 'XB-MARK: net-ready\|BENCH-GUEST FAILED' || fail "$1: the guest did not get to the network part"
    console_has 'BENCH-GUEST FAILED' && fail "$1: the guest failed"
    xb-tcp send 10.99.0.2 5002 "$(arg xbvm.netbytes)" >/dev/null || fail "$1: dom0 -> guest stream"
    wait_for 300 console_has 'XB-MARK: bench-done\|BENCH-GUEST FAILED' || fail "$1: the guest did not finish"
    console_has 'XB-MARK: bench-done' || fail "$1: the guest failed"
    wait_domain_gone 60 bench || xl destroy bench
    grep -a 'XB-BENCH:' "$log" | tr -d '\r' | sed "s/^XB-BENCH: /$1 /" | tee -a /tmp/bench.res
}
# (c) xenbackd
kill -0 "$(cat /run/xenbackd.pid)" || fail "xenbackd is not running"
run xenbackd
kill "$(cat /run/xenbackd.pid)"; wait_for 20 eval '! kill -0 $(cat /run/xenbackd.pid)' || fail "xenbackd did not stop"
# (a) the kernel's backends
insmod /opt/kernel-backends/xen-blkback.ko || fail "insmod xen-blkback"
insmod /opt/kernel-backends/xen-netback.ko || fail "insmod xen-netback"
run kernel
echo "XB-BENCH-TABLE: test                  kernel(a)   xenbackd(c)    c/a   unit"
awk '$1 == "kernel" {k[$2] = $3; u[$2] = $4; o[++n] = $2} $1 == "xenbackd" {x[$2] = $3}
     END {for (i = 1; i <= n; i++) {t = o[i]; r = (k[t] > 0) ? sprintf("%.2f", x[t] / k[t]) : "-";
          printf "XB-BENCH-TABLE: %-20s %10s %12s %7s   %s\n", t, k[t], x[t], r, u[t]}}' /tmp/bench.res
exit 0
