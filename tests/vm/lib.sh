# tests/vm/lib.sh - helpers shared by build-images.sh and run-vm.sh (sourced, bash).
# shellcheck shell=bash

XB_VM_DIR=${XB_VM_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
XB_VM_CACHE=${XB_VM_CACHE:-$XB_VM_DIR/cache}
XB_VM_OUT=${XB_VM_OUT:-$XB_VM_DIR/out}
XB_VM_IMAGES=${XB_VM_IMAGES:-$XB_VM_OUT/images}

_xb_t0=${_xb_t0:-${EPOCHREALTIME/./}}
# log MSG... : time-stamped (seconds since the script started) progress line on stderr
log() {
    local now=${EPOCHREALTIME/./} d
    d=$(( now - _xb_t0 ))
    printf '[%4d.%03ds] %s\n' $((d / 1000000)) $(((d / 1000) % 1000)) "$*" >&2
}
die() { log "ERROR: $*"; exit 1; }

# stage_root DIR: the skeleton of a merged-/usr root (lib -> usr/lib ...), so that a
# library path printed by ldd on the host lands at the same path in the image.
stage_root() {
    local d=$1
    mkdir -p "$d"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,bin,sbin,etc,proc,sys,dev,run,tmp,root,var/log,var/lib,mnt}
    ln -sfn usr/lib "$d/lib"
    ln -sfn usr/lib64 "$d/lib64"
    ln -sfn ../run "$d/var/run"
    ln -sfn ../run/lock "$d/var/lock"
    chmod 1777 "$d/tmp"
}

# copy_libs STAGE FILE: copy every shared library FILE needs (ldd on the host: the host is
# the same Debian 12) into STAGE at the path ldd reports. Fails on "not found".
copy_libs() {
    local stage=$1 f=$2 out lib
    out=$(LC_ALL=C ldd "$f" 2>&1) || {
        case $out in *"not a dynamic executable"*|*"statically linked"*) return 0 ;; esac
        die "ldd $f: $out"
    }
    if grep -q 'not found' <<<"$out"; then die "ldd $f: missing libraries:"$'\n'"$out"; fi
    for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"); do
        [ -e "$stage$lib" ] && continue
        install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
    done
}

# copy_elf STAGE SRC [DEST]: install a binary (or library) at DEST (default: SRC's path) in
# STAGE with all the shared libraries it needs.
copy_elf() {
    local stage=$1 src=$2 dest=${3:-$2}
    install -D -m 0755 "$src" "$stage$dest"
    copy_libs "$stage" "$src"
}

# copy_all_elf_libs STAGE: resolve libraries for every ELF file already in STAGE.
copy_all_elf_libs() {
    local stage=$1 f
    while IFS= read -r -d '' f; do
        if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
            copy_libs "$stage" "$f"
        fi
    done < <(find "$stage" -type f -perm /111 ! -name '*.ko' -print0)
}

# make_cpio DIR OUT.cpio.gz: newc archive of DIR, files owned by root.
make_cpio() {
    local dir=$1 out=$2 gz=gzip
    command -v pigz >/dev/null && gz=pigz
    (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | $gz -1 > "$out.tmp"
    mv "$out.tmp" "$out"
}
