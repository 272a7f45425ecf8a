#!/bin/bash
# dom0 side of tests/bench/vm/bench-vm.sh: the same guest, the same fio jobs (and TCP streams),
# served by (c) xenbackd (started by the common start hook, as its unit would), then by (b)
# QEMU's qdisk (Debian's qemu-system-xen, which libxl starts as the guest's device model for
# disks with backendtype=qdisk: xenbackd stopped, no kernel blkback loaded; no NIC, so fio
# only), then by (a) the kernel's xen-blkback + xen-netback (insmod'ed from /opt/kernel-backends).
# Prints the evidence that qemu serves (b) and the table.
. /etc/xb-vm/lib.sh
set -u
IP=/usr/bin/ip
DM=/usr/libexec/xen-qemu-system-i386      # where Debian's libxl looks for the device model
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
RT=$(arg xbvm.rt); RT=${RT:-8}
fail() {
    echo "BENCH FAILED: $*"; cat "$(guest_console bench)" 2>/dev/null | tail -40
    tail -20 /var/log/xenbackd.log; tail -20 /var/log/xen/qemu-dm-bench.log 2>/dev/null
    xl destroy bench 2>/dev/null; exit 1
}
console_has() { grep -aq "$1" "$(guest_console bench)" 2>/dev/null; }
$IP link add name xenbr0 type bridge stp_state 0 forward_delay 0
$IP addr add 10.99.0.1/24 dev xenbr0
$IP link set xenbr0 up
modprobe virtio_blk; wait_for 10 test -b /dev/vda || fail "no /dev/vda (the tools disk)"
[ -x $DM ] || fail "no $DM in dom0 (bench-vm.sh sets XB_VM_QDISK=1: build-images.sh --with-qdisk)"
dd if=/dev/zero of=/tmp/bench.img bs=1M count=300 2>/dev/null
guest_initrd /tmp/bench.cpio.gz /vm/bench
# cfg OUT [qdisk]: the guest's config; with qdisk, both disks are QEMU's and there is no NIC
# (target= takes the rest of a disk spec, commas included: backendtype= goes before it).
# QEMU 7.2's qdisk fails on a read-only disk (access=ro: "realization of device xen-disk
# failed: Block node is read-only"), so its tools disk is a writable copy of /dev/vda (the
# guest mounts it ro,noload all the same).
cfg() {
    local bt="" vif="vif = ['bridge=xenbr0']" net=1 tools="access=ro, target=/dev/vda"
    [ "${2:-}" = qdisk ] && { bt="backendtype=qdisk, "; vif=""; net=0; tools="access=rw, target=/dev/shm/tools.img"; }
    cat > "$1" <<CFG
name = "bench"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/bench.cpio.gz"
extra = "console=hvc0 xbvm.guest=bench xbvm.rt=$RT xbvm.net=$net xbvm.netbytes=$(arg xbvm.netbytes)"
memory = 384
vcpus = 2
disk = ['format=raw, vdev=xvda, access=rw, ${bt}target=/tmp/bench.img', 'format=raw, vdev=xvdb, $bt$tools']
$vif
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}
cfg /tmp/bench.cfg
cfg /tmp/bench-qdisk.cfg qdisk
# qdisk_evidence: xvda's backend is QEMU's (backend/qdisk, connected), no backend/vbd, and the
# device model is a running xen-qemu-system-i386; samples its /proc/PID/io until it exits
qdisk_evidence() {
    local d be pid
    d=$(xl domid bench) || fail "qdisk: no domid"
    be=$(xenstore-read /local/domain/$d/device/vbd/51712/backend) || fail "qdisk: no device/vbd/51712/backend"
    ts "BENCH qdisk: xvda's backend is $be"
    [ "$be" = /local/domain/0/backend/qdisk/$d/51712 ] || fail "qdisk: xvda is not served by qdisk ($be)"
    wait_for 120 eval "[ \"\$(xenstore-read $be/state)\" = 4 ]" || fail "qdisk: $be/state is not 4 (Connected)"
    ! xenstore-exists /local/domain/0/backend/vbd/$d || fail "qdisk: backend/vbd/$d exists"
    ts "BENCH qdisk: $be:" $(for k in state params mode feature-flush-cache feature-discard max-ring-page-order \
        feature-persistent multi-queue-max-queues; do echo "$k=$(xenstore-read $be/$k 2>/dev/null || echo -)"; done)
    ts "BENCH qdisk: no backend/vbd/$d; xenbackd running: $(kill -0 "$(cat /run/xenbackd.pid)" 2>/dev/null && echo yes || echo no);" \
        "xen_blkback loaded: $(grep -q '^xen_blkback ' /proc/modules && echo yes || echo no)"
    pid=$(xenstore-read /local/domain/$d/image/device-model-pid) || fail "qdisk: no device-model-pid"
    [ "$(readlink /proc/$pid/exe)" = $DM ] || fail "qdisk: pid $pid is $(readlink /proc/$pid/exe), not $DM"
    ts "BENCH qdisk: device model pid $pid: $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-600)"
    echo $pid > /tmp/qemu.pid
    # every 5 s: the I/O has to go through QEMU, and this must not take dom0's CPU from it
    (while cat /proc/$pid/io /proc/$pid/stat > /tmp/qemu-io.new 2>/dev/null; do mv /tmp/qemu-io.new /tmp/qemu-io; sleep 5; done) &
}
run() {     # LABEL CFG [net]
    local log; log=$(guest_console bench); rm -f "$log"
    [ "${3:-}" = net ] && { xb-tcp recv -p 5001 -c 1 > /tmp/recv.log 2>&1 & }
    ts "BENCH $1: xl create bench"
    xl create "$2" >/tmp/xl-create.log 2>&1 || { cat /tmp/xl-create.log; fail "$1: xl create"; }
    [ "$1" = qdisk ] && qdisk_evidence
    if [ "${3:-}" = net ]; then
        wait_for 600 console_has 'XB-MARK: net-ready\|BENCH-GUEST FAILED' || fail "$1: the guest did not get to the network part"
        console_has 'BENCH-GUEST FAILED' && fail "$1: the guest failed"
        xb-tcp send 10.99.0.2 5002 "$(arg xbvm.netbytes)" >/dev/null || fail "$1: dom0 -> guest stream"
    fi
    wait_for 900 console_has 'XB-MARK: bench-done\|BENCH-GUEST FAILED' || fail "$1: the guest did not finish"
    console_has 'XB-MARK: bench-done' || fail "$1: the guest failed"
    wait_domain_gone 60 bench || xl destroy bench
    grep -a 'XB-BENCH:' "$log" | tr -d '\r' | sed "s/^XB-BENCH: /$1 /" | tee -a /tmp/bench.res
}
# (c) xenbackd
kill -0 "$(cat /run/xenbackd.pid)" || fail "xenbackd is not running"
run xenbackd /tmp/bench.cfg net
kill "$(cat /run/xenbackd.pid)"; wait_for 20 eval '! kill -0 $(cat /run/xenbackd.pid)' || fail "xenbackd did not stop"
# (b) QEMU's qdisk: nothing else serves vbd now
dd if=/dev/vda of=/dev/shm/tools.img bs=1M 2>/dev/null || fail "qdisk: copy the tools disk"
run qdisk /tmp/bench-qdisk.cfg
rm -f /dev/shm/tools.img
wait_for 30 eval '! kill -0 $(cat /tmp/qemu.pid)' || fail "qdisk: the device model did not exit"
ts "BENCH qdisk: the device model's I/O and CPU time (its /proc/PID/io and stat, last sample):" \
    $(grep -E '^(rchar|wchar)' /tmp/qemu-io) "cpu $(awk 'NF > 40 {printf "%.1f s (user %.1f s, sys %.1f s)", ($14 + $15) / 100, $14 / 100, $15 / 100}' /tmp/qemu-io)"
# (a) the kernel's backends
insmod /opt/kernel-backends/xen-blkback.ko || fail "insmod xen-blkback"
insmod /opt/kernel-backends/xen-netback.ko || fail "insmod xen-netback"
run kernel /tmp/bench.cfg net
echo "XB-BENCH-TABLE: test                  kernel(a)   qdisk(b) xenbackd(c)    c/a    c/b   unit"
awk '$1 == "kernel" {k[$2] = $3; u[$2] = $4; o[++n] = $2} $1 == "xenbackd" {x[$2] = $3} $1 == "qdisk" {q[$2] = $3}
     function ratio(a, b) {return (b > 0) ? sprintf("%.2f", a / b) : "-"}
     END {for (i = 1; i <= n; i++) {t = o[i]; b = (t in q) ? q[t] : "-";
          printf "XB-BENCH-TABLE: %-20s %10s %10s %11s %6s %6s   %s\n", t, k[t], b, x[t], ratio(x[t], k[t]), ratio(x[t], q[t]), u[t]}}' /tmp/bench.res
exit 0
