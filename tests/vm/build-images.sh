#!/bin/bash
# tests/vm/build-images.sh - build the images of the real-Xen vm test tier from Debian 12
# packages only (apt-get download + dpkg -x, cached in tests/vm/cache).
#
# Output (tests/vm/out/images/, or $XB_VM_IMAGES):
#   xen            Xen 4.17 hypervisor, uncompressed multiboot ELF (QEMU's -kernel)
#   vmlinuz        the Debian 12 kernel (dom0; bzImage)
#   vmlinux.gz     the same kernel as a gzip'd ELF, for PV guests (dom0's /vm/vmlinux.gz)
#   dom0.cpio.gz   dom0 initramfs: busybox, xen tools, hotplug scripts, modules, domU images
#   domU.cpio.gz   guest initramfs: busybox, frontend modules, /init running guest.d scripts
#   guest-tools.ext4  fio + its libraries on ext4, for a guest (through a dom0 QEMU disk)
#   KVER           kernel ABI (e.g. 6.1.0-56-amd64), for building out-of-tree modules
#   qdisk.cpio.gz  (--with-qdisk only) QEMU's Xen device model, Debian's qemu-system-xen, and
#                  its libraries: a cpio run-vm.sh appends to dom0's when XB_VM_QDISK=1
#
# Options:  --with-headers  also apt-get install linux-headers-$KVER on the host (for the shim)
#           --with-qdisk    also apt-get install qemu-system-xen on the host and build qdisk.cpio.gz
#                           (the same as XB_VM_QDISK=1; tests/bench/vm/bench-vm.sh sets it)
#           --force         rebuild the initramfs images even if the inputs did not change
# Env:      XB_VM_CACHE, XB_VM_OUT, XB_VM_IMAGES (directories), XB_VM_OFFLINE=1 (use cached .debs only),
#           XB_VM_QDISK=1 (--with-qdisk)
# Exit:     0 images ready; 77 QEMU or the Debian packages cannot be installed or downloaded
#           (or not root, so nothing can be installed): the vm suite skips; 1 any other failure
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# unavailable MSG: what the vm tier needs cannot be had on this machine (exit 77)
unavailable() { log "UNAVAILABLE: $*"; exit 77; }

WITH_HEADERS=0 FORCE=0 WITH_QDISK=${XB_VM_QDISK:-0}
for a in "$@"; do
    case $a in
        --with-headers) WITH_HEADERS=1 ;;
        --with-qdisk) WITH_QDISK=1 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $a" ;;
    esac
done
[ "$(id -u)" = 0 ] || unavailable "not root: cannot install packages (apt-get) nor make device nodes in cpio"

# --- modules -------------------------------------------------------------------------------
# dom0: loaded by /init (in this order, deps via modules.dep)
DOM0_MODULES="xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc loop tun bridge virtio_pci virtio-rng virtio_blk"
# (virtio_blk: not loaded by /init; a test that gives dom0 a QEMU disk modprobes it)
# (virtio-rng: QEMU's virtio-rng-pci seeds dom0's crng at once; without it libxl's uuid
#  generation sleeps ~3 s per xl create on getrandom(GRND_NONBLOCK) == EAGAIN)
# dom0, present but NOT under /lib/modules (never autoloaded): the kernel backends, for the
# proof run and later comparisons. insmod /opt/kernel-backends/<name>.ko
KERNEL_BACKENDS="xen-blkback xen-netback xen-pciback"
# domU: frontends + what the guest tests need
DOMU_MODULES="xen-blkfront xen-netfront ext4 crc32c_generic"   # ext4 (metadata_csum) needs crc32c
# e2fsprogs from the host (same Debian 12): the guest makes and checks ext4 on its disks
# (mkfs.ext4, e2fsck; busybox's mke2fs only makes ext2); dom0 checks the images after the
# guest (e2fsck -fn, debugfs rdump)
E2FS_TOOLS="mke2fs e2fsck debugfs"

# --- host tools ------------------------------------------------------------------------------
# the host provides: qemu (run-vm.sh), cpio/kmod/xz (build), and the runtime libraries of
# the Xen tools (resolved with ldd), plus the non-busybox tools copied into dom0.
HOST_PKGS="qemu-system-x86 cpio kmod xz-utils file xen-utils-4.17 xenstore-utils bash util-linux coreutils iproute2 e2fsprogs fio gcc libc6-dev tcpdump"
missing=()
for p in $HOST_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || unavailable "apt-get install ${missing[*]} failed"
fi
# QEMU's Xen device model (Debian's qemu-system-xen, /usr/libexec/xen-qemu-system-i386: where
# Debian's libxl looks for it), for the benchmark's qdisk column. Only when asked: the vm suite
# needs none of it, and it would make every boot unpack 13 MB more (2-3 s under TCG).
QDISK_PKG=qemu-system-xen QDISK_DM=/usr/libexec/xen-qemu-system-i386
if [ $WITH_QDISK = 1 ] && ! dpkg-query -W -f='${Status}' $QDISK_PKG 2>/dev/null | grep -q 'install ok installed'; then
    log "apt-get install $QDISK_PKG"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $QDISK_PKG >/dev/null \
        || unavailable "apt-get install $QDISK_PKG failed"
fi

# --- Debian packages --------------------------------------------------------------------------
DEBS="$XB_VM_CACHE/debs"; X="$XB_VM_CACHE/x"
mkdir -p "$DEBS" "$X" "$XB_VM_IMAGES"

if [ "${XB_VM_OFFLINE:-0}" = 1 ]; then
    KPKG=$(cd "$DEBS" && ls linux-image-*-amd64_*.deb 2>/dev/null | sed 's/_.*//' | sort -V | tail -1) || true
else
    KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}') || true
fi
[ -n "$KPKG" ] || unavailable "cannot resolve the kernel package linux-image-amd64 depends on (apt-get update?)"
KVER=${KPKG#linux-image-}
PKGS="xen-hypervisor-4.17-amd64 $KPKG busybox-static xen-utils-4.17 xen-utils-common xenstore-utils"
[ $WITH_HEADERS = 1 ] && ! dpkg-query -W "linux-headers-$KVER" >/dev/null 2>&1 && {
    log "apt-get install linux-headers-$KVER"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "linux-headers-$KVER" >/dev/null
}

declare -A DEB CAND
if [ "${XB_VM_OFFLINE:-0}" != 1 ]; then
    # one apt-cache call for all the candidates
    while read -r p v; do CAND[$p]=$v; done < <(apt-cache policy $PKGS | awk '/^[^ ].*:$/ {p = substr($1, 1, length($1) - 1)} /Candidate:/ {print p, $2}')
fi
for p in $PKGS; do
    f=
    if [ "${XB_VM_OFFLINE:-0}" != 1 ]; then
        v=${CAND[$p]:-}
        [ -n "$v" ] && [ "$v" != "(none)" ] || unavailable "no candidate for $p (apt-get update?)"
        f="$DEBS/${p}_${v//:/%3a}_amd64.deb"
        if [ ! -s "$f" ]; then
            log "download $p $v"
            (cd "$DEBS" && apt-get download -q "$p=$v" >/dev/null 2>&1) || unavailable "apt-get download $p=$v failed"
        fi
    else
        f=$(ls "$DEBS/${p}"_*_amd64.deb 2>/dev/null | sort -V | tail -1)
    fi
    [ -s "$f" ] || unavailable "missing $f"
    DEB[$p]=$f
    d="$X/$(basename "$f" .deb)"
    if [ ! -e "$d/.done" ]; then
        log "extract $(basename "$f")"
        rm -rf "$d"; dpkg -x "$f" "$d"; touch "$d/.done"
    fi
done
xroot() { echo "$X/$(basename "${DEB[$1]}" .deb)"; }
XEN=$(xroot xen-hypervisor-4.17-amd64); KR=$(xroot "$KPKG"); BB=$(xroot busybox-static)
XU=$(xroot xen-utils-4.17); XC=$(xroot xen-utils-common); XS=$(xroot xenstore-utils)
KMOD="$KR/lib/modules/$KVER"
[ -e "$KMOD/modules.dep" ] || { log "depmod $KVER"; depmod -b "$KR" "$KVER"; }

# --- qdisk.cpio.gz: QEMU's device model, appended to dom0's initramfs when asked -----------------
# The binary at its packaged path and every library ldd lists (the host is the same Debian 12),
# libc and the Xen libraries included: the cpio does not depend on dom0's. Its own stamp, so
# that it is rebuilt when qemu-system-xen changes, and so that dom0's images do not depend on it.
if [ $WITH_QDISK = 1 ]; then
    qstamp=$( { dpkg-query -W $QDISK_PKG qemu-system-data; sha256sum $QDISK_DM; cat "$XB_VM_DIR/build-images.sh" "$XB_VM_DIR/lib.sh"; } | sha256sum | cut -c1-16)
    if [ $FORCE = 1 ] || [ "$(cat "$XB_VM_IMAGES/QDISK_STAMP" 2>/dev/null)" != "$qstamp" ] || [ ! -s "$XB_VM_IMAGES/qdisk.cpio.gz" ]; then
        log "qdisk initramfs ($QDISK_DM)"
        Q="$XB_VM_OUT/stage-qdisk"; rm -rf "$Q"; stage_root "$Q"
        copy_elf "$Q" $QDISK_DM
        # libxl starts it with -vnc none, and QEMU still loads the keymap (qemu-system-data's)
        install -D -m 0644 /usr/share/qemu/keymaps/en-us "$Q/usr/share/qemu/keymaps/en-us"
        make_cpio "$Q" "$XB_VM_IMAGES/qdisk.cpio.gz"
        echo "$qstamp" > "$XB_VM_IMAGES/QDISK_STAMP"
    fi
fi

# --- stamp: skip the rebuild when nothing changed ----------------------------------------------
stamp=$( { for p in $PKGS; do basename "${DEB[$p]}"; done
           echo "$DOM0_MODULES|$KERNEL_BACKENDS|$DOMU_MODULES"
           cat "$XB_VM_DIR/build-images.sh" "$XB_VM_DIR/lib.sh" "$XB_VM_DIR"/files/*
           for b in bash flock stat losetup ip $E2FS_TOOLS fio tcpdump; do sha256sum "$(command -v $b)"; done; } | sha256sum | cut -c1-16)
if [ $FORCE = 0 ] && [ "$(cat "$XB_VM_IMAGES/STAMP" 2>/dev/null)" = "$stamp" ] &&
   [ -s "$XB_VM_IMAGES/dom0.cpio.gz" ] && [ -s "$XB_VM_IMAGES/xen" ] && [ -s "$XB_VM_IMAGES/guest-tools.ext4" ]; then
    log "images up to date ($XB_VM_IMAGES, stamp $stamp)"
    exit 0
fi

# --- hypervisor + kernel --------------------------------------------------------------------------
log "xen: zcat boot/xen-4.17-amd64.gz"
zcat "$XEN/boot/xen-4.17-amd64.gz" > "$XB_VM_IMAGES/xen.tmp" && mv "$XB_VM_IMAGES/xen.tmp" "$XB_VM_IMAGES/xen"
cp "$KR/boot/vmlinuz-$KVER" "$XB_VM_IMAGES/vmlinuz"
# the guest kernel, as a gzip'd ELF: libxc inflates it in ~1.3 s under TCG where the
# bzImage's XZ payload takes ~4.5 s on every xl create
off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$XB_VM_IMAGES/vmlinuz" | LC_ALL=C awk -F: 'NR == 1 {print $1}')
[ -n "$off" ] || die "no XZ payload in vmlinuz (kernel compression changed?)"
{ tail -c +$((off + 1)) "$XB_VM_IMAGES/vmlinuz" | xz -dc --single-stream 2>/dev/null || true; } | gzip -1 > "$XB_VM_IMAGES/vmlinux.gz.tmp"
[ "$(zcat "$XB_VM_IMAGES/vmlinux.gz.tmp" | head -c 4 | od -An -c | tr -d ' ')" = '177ELF' ] || die "vmlinux extraction failed"
mv "$XB_VM_IMAGES/vmlinux.gz.tmp" "$XB_VM_IMAGES/vmlinux.gz"
echo "$KVER" > "$XB_VM_IMAGES/KVER"

# add_modules STAGE NAMES...: the named modules and their deps (modules.dep), then depmod.
add_modules() {
    local stage=$1 m path dep; shift
    mkdir -p "$stage/lib/modules/$KVER/extra"
    for m in "$@"; do
        path=$(awk -F: -v m="$m" '{n=$1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n);
                                   mm=m; gsub(/-/, "_", mm); if (n == mm) {print $0; exit}}' "$KMOD/modules.dep")
        [ -n "$path" ] || die "module $m not in $KVER's modules.dep"
        for dep in ${path%%:*} ${path#*:}; do
            install -D -m 0644 "$KMOD/$dep" "$stage/lib/modules/$KVER/$dep"
        done
    done
    cp "$KMOD"/modules.{order,builtin,builtin.modinfo} "$stage/lib/modules/$KVER/" 2>/dev/null || true
    depmod -b "$stage" "$KVER"
}
modfile() { awk -F: -v m="$1" '{n=$1; sub(/.*\//, "", n); sub(/\.ko$/, "", n); if (n == m) {print $1; exit}}' "$KMOD/modules.dep"; }

# add_busybox STAGE: static busybox with its applets as symlinks in /bin (does not replace
# anything already there).
add_busybox() {
    local stage=$1 a
    install -D -m 0755 "$BB/bin/busybox" "$stage/bin/busybox"
    for a in $("$BB/bin/busybox" --list-full); do
        [ -e "$stage/$a" ] || [ -L "$stage/$a" ] || { mkdir -p "$stage/$(dirname "$a")"; ln -s /bin/busybox "$stage/$a"; }
    done
}

# --- xb-tcp: our byte-verified TCP stream (files/xb-tcp.c), static, for dom0 and the guests ---
log "xb-tcp (gcc -static)"
gcc -O2 -Wall -static -pthread -o "$XB_VM_OUT/xb-tcp" "$XB_VM_DIR/files/xb-tcp.c"
gcc -O2 -Wall -static -o "$XB_VM_OUT/xb-seedrng" "$XB_VM_DIR/files/xb-seedrng.c"

# --- domU initramfs -----------------------------------------------------------------------------
log "domU initramfs"
U="$XB_VM_OUT/stage-domU"; rm -rf "$U"; stage_root "$U"
add_busybox "$U"
add_modules "$U" $DOMU_MODULES
install -m 0755 "$XB_VM_DIR/files/domU-init" "$U/init"
for b in mke2fs e2fsck; do copy_elf "$U" "$(command -v $b)" "/usr/sbin/$b"; done
ln -sfn mke2fs "$U/usr/sbin/mkfs.ext4"; ln -sfn e2fsck "$U/usr/sbin/fsck.ext4"
install -D -m 0755 "$XB_VM_OUT/xb-tcp" "$U/usr/bin/xb-tcp"
# a test guest has no RNG device: its init credits this seed (files/xb-seedrng.c)
install -D -m 0755 "$XB_VM_OUT/xb-seedrng" "$U/usr/bin/xb-seedrng"
head -c 64 /dev/urandom > "$U/etc/xb-rng-seed"
mkdir -p "$U/guest.d"
install -m 0755 "$XB_VM_DIR/files/guest-blk-proof.sh" "$U/guest.d/blk-proof.sh"
install -m 0755 "$XB_VM_DIR/files/guest-net-proof.sh" "$U/guest.d/net-proof.sh"
make_cpio "$U" "$XB_VM_IMAGES/domU.cpio.gz"

# --- dom0 initramfs -----------------------------------------------------------------------------
log "dom0 initramfs"
D="$XB_VM_OUT/stage-dom0"; rm -rf "$D"; stage_root "$D"
# the real tools the hotplug scripts need first (busybox's stat lacks %D, flock/losetup/bash)
for b in bash flock stat losetup ip; do
    copy_elf "$D" "$(command -v $b)" "/usr/bin/$b"
    ln -sfn "/usr/bin/$b" "$D/bin/$b"; ln -sfn "/usr/bin/$b" "$D/sbin/$b"   # shadow busybox's
done
for b in $E2FS_TOOLS tcpdump; do copy_elf "$D" "$(command -v $b)" "/usr/sbin/$b"; done
ln -sfn mke2fs "$D/usr/sbin/mkfs.ext4"
install -D -m 0755 "$XB_VM_OUT/xb-tcp" "$D/usr/local/bin/xb-tcp"
add_busybox "$D"
add_modules "$D" $DOM0_MODULES
mkdir -p "$D/opt/kernel-backends"
for m in $KERNEL_BACKENDS; do cp "$KMOD/$(modfile "$m")" "$D/opt/kernel-backends/$m.ko"; done
# Xen tools: every ELF of /usr/lib/xen-4.17/bin, xenstore-* CLIs, hotplug scripts, xl.conf
mkdir -p "$D/usr/lib/xen-4.17/bin"
for f in "$XU"/usr/lib/xen-4.17/bin/*; do
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && install -m 0755 "$f" "$D/usr/lib/xen-4.17/bin/"
done
for f in xl xenstored xenconsoled xen-init-dom0 xenconsole; do ln -sfn "/usr/lib/xen-4.17/bin/$f" "$D/usr/sbin/$f"; done
cp -a "$XS"/usr/bin/xenstore* "$D/usr/bin/"
cp -a "$XC/etc/xen" "$D/etc/"
cp -a "$XU/etc/xen/." "$D/etc/xen/" 2>/dev/null || true
cp -a "$XU"/usr/lib/xen-4.17/lib "$D/usr/lib/xen-4.17/" 2>/dev/null || true
rm -rf "$D/usr/lib/xen-4.17/lib/python"
# libgcc_s: dlopen'd by glibc for pthread_cancel (xl), never listed by ldd
for l in /lib/x86_64-linux-gnu/libgcc_s.so.1; do install -D -m 0644 "$(readlink -f $l)" "$D$l"; done
copy_all_elf_libs "$D"
mkdir -p "$D"/var/lib/xen "$D"/var/log/xen/console "$D"/etc/xb-vm/start.d "$D"/usr/local/bin "$D/vm"
install -m 0755 "$XB_VM_DIR/files/dom0-init" "$D/init"
install -m 0644 "$XB_VM_DIR/files/xb-vm-lib.sh" "$D/etc/xb-vm/lib.sh"
echo "$KVER" > "$D/etc/xb-vm/KVER"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$D/etc/passwd"
printf 'root:x:0:\n' > "$D/etc/group"
# the guest images
cp "$XB_VM_IMAGES/vmlinux.gz" "$D/vm/vmlinux.gz"
cp "$XB_VM_IMAGES/domU.cpio.gz" "$D/vm/domU.cpio.gz"
make_cpio "$D" "$XB_VM_IMAGES/dom0.cpio.gz"

# --- guest tools disk --------------------------------------------------------------------------
# fio and its 80 MB of libraries (ceph, gluster, rdma, pmem: all linked in) are too big for
# an initramfs; they go on an ext4 image that a test gives dom0 as a read-only QEMU disk
# (/dev/vda) and dom0 gives a guest (a disk served from a block device). In the guest:
# mount -o ro,noload, then T/lib64/ld-linux-x86-64.so.2 --library-path T/lib/x86_64-linux-gnu:T/lib/x86_64-linux-gnu/ceph
# T/usr/bin/fio (tests/vm/payloads/xenbackd-blk/vm/xenbackd-blk/guest.d/xb-fio.sh)
log "guest tools disk (fio)"
T="$XB_VM_OUT/stage-tools"; rm -rf "$T"; stage_root "$T"
copy_elf "$T" "$(command -v fio)" /usr/bin/fio
rm -f "$XB_VM_IMAGES/guest-tools.ext4"
truncate -s $(( $(du -sm "$T" | cut -f1) * 12 / 10 + 16 ))M "$XB_VM_IMAGES/guest-tools.ext4"
mke2fs -q -F -t ext4 -L xb-tools -d "$T" "$XB_VM_IMAGES/guest-tools.ext4"

echo "$stamp" > "$XB_VM_IMAGES/STAMP"
log "images in $XB_VM_IMAGES:"
(cd "$XB_VM_IMAGES" && ls -l xen vmlinuz vmlinux.gz dom0.cpio.gz domU.cpio.gz guest-tools.ext4 KVER $([ $WITH_QDISK = 0 ] || echo qdisk.cpio.gz) | awk '{printf "    %-14s %10d\n", $9, $5}') >&2
