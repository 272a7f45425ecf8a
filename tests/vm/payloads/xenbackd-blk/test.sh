#!/bin/bash
# xenbackd serves the guests' disks under real Xen (the kernel's xen-blkback is never loaded).
# xenbackd was started by etc/xb-vm/start.d/50-xenbackd.sh as its systemd unit would.
# The guests' disks are configured as a user would: disk = ['format=raw, vdev=xvda, ...'].
#  g1: ext4 made, written, fsck'd, verified after a remount, fstrim (xb-fs); a read-only
#      disk whose writes fail (xb-ro). dom0 then fscks the image and verifies every file.
#  g2: the same image after a "reboot" (xb-reboot); xl block-attach / block-detach while it
#      runs, raw I/O at depths 1/4/16 on the hot disk, which dom0 then grows from 16 to
#      32 MiB under the guest (the image truncated, losetup -c on its loop device: the
#      guest sees 65536 sectors and uses them) (xb-hot); fio with verify at depths
#      1/8/32 + a mixed job (xb-fio; fio comes on a second disk, read-only, served from dom0's
#      block device /dev/vda: the QEMU disk vm-test.sh gives dom0, images/guest-tools.ext4);
#      then xl destroy in the middle of I/O (xb-busy).
# After each guest: no backend/vbd node, no error node, xenbackctl list empty, no grant
# mapping, no extra fd in xenbackd, no loop device; kernel logs clean; xenbackd alive.
. /etc/xb-vm/lib.sh
set -u
XB_PID=$(cat /run/xenbackd.pid)
GUEST_DIR=/vm/xenbackd-blk              # guest.d scripts, appended to the guest initramfs
LOG=/var/log/xenbackd.log

dump() {
    echo "----- xenbackd log -----"; cat $LOG
    echo "----- xenstore backend / error -----"
    xenstore-ls -f /local/domain/0/backend 2>&1; xenstore-ls -f /local/domain/0/error 2>&1
    echo "----- xenbackctl list -----"; xenbackctl list 2>&1
    xl list; losetup -a
    echo "----- dom0 dmesg (tail) -----"; dmesg | tail -40
}
# guest_log NAME [all]: the guest's console: all of it, or the lines its scripts printed
guest_log() {
    local f; f=$(guest_console "$1"); [ -e "$f" ] || return 0
    echo "----- guest $1 console -----"
    if [ "${2:-}" = all ]; then cat "$f"; else grep -av '^\[ *[0-9]*\.[0-9]*\] ' "$f"; fi
    echo "-----------------------------"
}
die() {
    ts "FAIL: $*"
    dump; for g in g1 g2; do guest_log $g all; done
    for g in g1 g2; do xl destroy $g 2>/dev/null; done
    exit 1
}
xb_alive() { kill -0 "$XB_PID" 2>/dev/null || die "xenbackd (pid $XB_PID) is gone"; }
gntdev_maps() { grep -c /dev/xen/gntdev /proc/$XB_PID/maps; }
nfds() { ls /proc/$XB_PID/fd | wc -l; }
ctl_rows() { xenbackctl list | awk 'NR > 1' | grep -c .; }
# clean: what a guest leaves behind once it is gone: nothing
no_vbd_nodes() { [ -z "$(xenstore-list /local/domain/0/backend/vbd 2>/dev/null)" ]; }
no_ctl_rows() { [ "$(ctl_rows)" = 0 ]; }
maps_back() { [ "$(gntdev_maps)" = "$MAPS0" ]; }
fds_back() { [ "$(nfds)" = "$FDS0" ]; }
no_loops() { [ -z "$(losetup -a)" ]; }
check_clean() {     # WHAT
    wait_for 20 no_vbd_nodes || die "$1: backend/vbd nodes left"
    wait_for 10 no_ctl_rows || die "$1: xenbackctl still lists devices"
    wait_for 10 maps_back || die "$1: xenbackd has $(gntdev_maps) gntdev mappings (baseline $MAPS0)"
    wait_for 10 fds_back || { ls -l /proc/$XB_PID/fd; die "$1: xenbackd has $(nfds) fds (baseline $FDS0)"; }
    wait_for 10 no_loops || die "$1: loop devices left"
    [ -z "$(xenstore-list /local/domain/0/error 2>/dev/null)" ] || die "$1: error nodes in xenstore"
    xb_alive
    ts "$1: nothing left behind (0 devices, $(gntdev_maps) mappings, $(nfds) fds, no loop, no node)"
}
# guest_cfg NAME SCRIPTS EXTRA DISK...: an xl config as a user writes it
guest_cfg() {
    local name=$1 scripts=$2 extra=$3 d disks=""; shift 3
    for d in "$@"; do disks="$disks${disks:+, }'$d'"; done
    cat > /tmp/$name.cfg <<CFG
name = "$name"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/guest.cpio.gz"
extra = "console=hvc0 xbvm.guest=$scripts $extra"
memory = 256
vcpus = 2
disk = [ $disks ]
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}
console_has() { grep -aq "$2" "$(guest_console "$1")" 2>/dev/null; }
wait_console() {    # NAME PATTERN SECONDS
    wait_for "$3" console_has "$1" "$2" || die "$1: no '$2' on its console after $3 s"
}
guest_pass() {      # NAME SCRIPT
    console_has "$1" "XB-GUEST: $2 PASS" || die "$1: $2 did not pass"
    ts "$1: $2 PASS"
}

xb_alive
grep -q 'platform xen' $LOG || die "xenbackd is not on the xen platform"
[ ! -d /sys/bus/xen-backend/drivers/vbd ] || die "the kernel's blkback is loaded"
MAPS0=$(gntdev_maps); FDS0=$(nfds)
ts "xenbackd pid $XB_PID: $MAPS0 gntdev mappings, $FDS0 fds"
guest_initrd /tmp/guest.cpio.gz $GUEST_DIR

# ---- g1: ext4 on a rw disk + a read-only disk -------------------------------------------
dd if=/dev/zero of=/tmp/fs.img bs=1M count=64 2>/dev/null
dd if=/dev/urandom of=/tmp/ro.img bs=1M count=8 2>/dev/null
ROSUM=$(sha256sum < /tmp/ro.img | cut -d' ' -f1)
guest_cfg g1 xb-fs,xb-ro "xbvm.rosum=$ROSUM" \
    "format=raw, vdev=xvda, access=rw, target=/tmp/fs.img" \
    "format=raw, vdev=xvdb, access=ro, target=/tmp/ro.img"
ts "xl create g1"
xl create /tmp/g1.cfg || die "xl create g1"
ts "g1 created (domid $(xl domid g1))"
wait_console g1 "XB-GUEST: run xb-fs" 180   # the guest boots: slow when the host is loaded
xenbackctl list
wait_domain_gone 180 g1 || die "g1 still running"
ts "g1 gone"
guest_log g1
guest_pass g1 xb-fs
guest_pass g1 xb-ro
check_clean g1
/usr/sbin/e2fsck -fn /tmp/fs.img >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; die "dom0: e2fsck of the guest's filesystem"; }
rm -rf /tmp/fsdump; mkdir /tmp/fsdump
debugfs -R "rdump / /tmp/fsdump" /tmp/fs.img >/dev/null 2>&1
[ -s /tmp/fsdump/MANIFEST ] || die "dom0: no MANIFEST in the guest's filesystem"
(cd /tmp/fsdump && sha256sum -c -s MANIFEST) || die "dom0: the guest's files differ in the image"
ts "dom0: image fsck clean, $(wc -l < /tmp/fsdump/MANIFEST) files verified"
[ "$(sha256sum < /tmp/ro.img | cut -d' ' -f1)" = "$ROSUM" ] || die "dom0: the read-only image changed"
rm -rf /tmp/fsdump

# ---- g2: reboot on the same image, hotplug, fio, destroy mid-I/O -------------------------
dd if=/dev/zero of=/tmp/hot.img bs=1M count=16 2>/dev/null
modprobe virtio_blk
wait_for 10 test -b /dev/vda || die "no /dev/vda in dom0: run with the tools disk (tests/vm/vm-test.sh xenbackd-blk)"
guest_cfg g2 xb-reboot,xb-hot,xb-fio,xb-busy "" "format=raw, vdev=xvda, access=rw, target=/tmp/fs.img" \
    "format=raw, vdev=xvdb, access=ro, target=/dev/vda"
ts "xl create g2"
xl create /tmp/g2.cfg || die "xl create g2"
D2=$(xl domid g2)
ts "g2 created (domid $D2)"
wait_console g2 "XB-MARK: hot-wait" 180
guest_pass g2 xb-reboot
ts "xl block-attach g2 xvdc"
xl block-attach g2 'format=raw, vdev=xvdc, access=rw, target=/tmp/hot.img' || die "xl block-attach"
xl block-list g2
xenbackctl list
wait_console g2 "XB-MARK: resize-wait" 120
hot_loop=$(losetup -j /tmp/hot.img | cut -d: -f1)
[ -b "$hot_loop" ] || die "no loop device over /tmp/hot.img: $(losetup -a)"
truncate -s 32M /tmp/hot.img && losetup -c "$hot_loop" || die "growing /tmp/hot.img ($hot_loop)"
ts "hot.img grown to 32 MiB, losetup -c $hot_loop"
wait_console g2 "XB-MARK: hot-done" 120
xb_alive
gsum=$(grep -a 'XB-MARK: hot-done' "$(guest_console g2)" | awk '{print $3}' | tr -d '\r')
ts "xl block-detach g2 xvdc"
xl block-detach g2 xvdc || die "xl block-detach"
wait_console g2 "XB-GUEST: xb-hot " 60
guest_pass g2 xb-hot
[ -z "$(xenstore-list /local/domain/0/backend/vbd/$D2 | grep -v -e '^51712$' -e '^51728$')" ] || die "xvdc's backend node left after block-detach"
[ "$(ctl_rows)" = 2 ] || die "xenbackctl: $(ctl_rows) devices after block-detach, expected 2"
dsum=$(sha256sum < /tmp/hot.img | cut -d' ' -f1)
[ "$dsum" = "$gsum" ] || die "dom0: hot.img $dsum, the guest read $gsum"
ts "dom0: hot.img holds what the guest wrote ($dsum)"
wait_console g2 "XB-GUEST: xb-fio " 240
guest_pass g2 xb-fio
wait_console g2 "XB-MARK: busy" 60
sleep 2
xa_reqs() { xenbackctl list | awk '$3 == 51712 {print $6}'; }   # xvda's requests
r1=$(xa_reqs)
sleep 1
r2=$(xa_reqs)
xenbackctl list
[ -n "$r1" ] && [ -n "$r2" ] && [ "$r2" -gt "$r1" ] || die "no I/O in flight before the destroy ($r1 -> $r2 requests)"
ts "g2 busy ($r1 -> $r2 requests); xl destroy g2"
xl destroy g2 || die "xl destroy g2"
wait_domain_gone 30 g2 || die "g2 still there after xl destroy"
ts "g2 destroyed"
guest_log g2
check_clean "g2 destroyed mid-I/O"

# ---- kernel logs, xenbackd log ----------------------------------------------------------
check_kernel_log "$(guest_console g1)" || die "g1's kernel log"
check_kernel_log "$(guest_console g2)" || die "g2's kernel log"
check_kernel_log - || die "dom0's kernel log"
xb_alive
echo "----- xenbackd log -----"; cat $LOG; echo "------------------------"
echo "----- xenbackctl list -----"; xenbackctl list; echo "---------------------------"
ts "xenbackd-blk: all checks passed"
exit 0
