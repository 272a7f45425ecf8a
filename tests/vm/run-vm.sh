#!/bin/bash
# tests/vm/run-vm.sh - boot Xen + dom0 (images of build-images.sh) under QEMU/TCG, run a test
# payload in dom0, power off. Exit: 0 = dom0 printed XB-VM-RESULT: PASS, 1 = FAIL,
# 2 = no result (timeout, crash, no test), 77 = images/QEMU missing.
#
# Usage: run-vm.sh [options]
#   --payload DIR     overlay DIR onto dom0's / (a cpio appended to the initramfs); repeatable.
#                     DIR/test.sh (executable) is the test; DIR/etc/xb-vm/start.d/*.sh are
#                     sourced by /init before it (e.g. start xenbackd).
#   --test FILE       use FILE as dom0's /test.sh
#   --bin FILE[:DEST] copy a host binary (and every shared library it needs, via ldd) into
#                     dom0 at DEST (default /usr/local/bin/NAME); repeatable
#   --file SRC:DEST   copy any host file into dom0; repeatable
#   --module FILE.ko  out-of-tree module: /lib/modules/KVER/extra/, insmod'ed by /init before
#                     xenstored starts; repeatable
#   --qemu-arg ARG    extra QEMU argument (e.g. --qemu-arg -device --qemu-arg edu); repeatable
#   --xen-args STR    extra Xen command line;  --dom0-args STR  extra dom0 kernel command line
#   --timeout SEC     bound on the whole QEMU run (default 300); dom0's /test.sh gets SEC-30
#   --log FILE        console log (default: out/runs/<time>/console.log)
#   --shell           interactive: dom0 shell on the console after the test (xbvm.shell=1)
#   --quiet           print only XB-VM lines, not the whole console
# Env: XB_VM_IMAGES (images dir), XB_VM_MEM (MiB, default 2048), XB_VM_DOM0_MEM (default 1024M),
#      XB_VM_QDISK=1 (append qdisk.cpio.gz: QEMU's Xen device model in dom0, build-images.sh --with-qdisk),
#      XB_VM_KEEP_RUNS (default 20: out/runs/ keeps the newest N runs' directories, ~18 MB each;
#      older ones, if untouched for an hour, are removed when a run starts; 0 keeps all)
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PAYLOADS=() BINS=() FILES=() MODULES=() QARGS=() XEN_EXTRA="" DOM0_EXTRA=""
TIMEOUT=300 LOG="" SHELL_MODE=0 QUIET=0 TEST=""
while [ $# -gt 0 ]; do
    case $1 in
        --payload) PAYLOADS+=("$2"); shift ;;
        --test) TEST=$2; shift ;;
        --bin) BINS+=("$2"); shift ;;
        --file) FILES+=("$2"); shift ;;
        --module) MODULES+=("$2"); shift ;;
        --qemu-arg) QARGS+=("$2"); shift ;;
        --xen-args) XEN_EXTRA=$2; shift ;;
        --dom0-args) DOM0_EXTRA=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        --log) LOG=$2; shift ;;
        --shell) SHELL_MODE=1 ;;
        --quiet) QUIET=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

IMG=$XB_VM_IMAGES
for f in xen vmlinuz dom0.cpio.gz KVER; do
    [ -s "$IMG/$f" ] || { echo "SKIP: $IMG/$f missing: run tests/vm/build-images.sh" >&2; exit 77; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed" >&2; exit 77; }
KVER=$(cat "$IMG/KVER")

RUN="$XB_VM_OUT/runs/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUN"
# old runs: the newest XB_VM_KEEP_RUNS stay; a run still going (touched within the hour) stays
keep=${XB_VM_KEEP_RUNS:-20}
case $keep in ''|*[!0-9]*) die "XB_VM_KEEP_RUNS=$keep: a number" ;; esac
if [ "$keep" -gt 0 ]; then
    ls -1dt "$XB_VM_OUT"/runs/*/ 2>/dev/null | tail -n +$((keep + 1)) | while read -r old; do
        if [ -z "$(find "$old" -maxdepth 1 -mmin -60 -print -quit)" ]; then rm -rf -- "$old"; fi
    done
fi
LOG=${LOG:-$RUN/console.log}
mkdir -p "$(dirname "$LOG")"; : > "$LOG"

# --- the payload cpio ---------------------------------------------------------------------
# the same merged-/usr skeleton as dom0's (lib -> usr/lib ...): a payload entry "lib" that
# is a directory would REPLACE dom0's lib symlink when the kernel unpacks the second cpio
P="$RUN/payload"; stage_root "$P"
for d in "${PAYLOADS[@]}"; do tar -C "$d" -cf - . | tar -C "$P" -xf - --keep-directory-symlink; done
[ -z "$TEST" ] || install -m 0755 "$TEST" "$P/test.sh"
for b in "${BINS[@]}"; do
    src=${b%%:*}; dest=${b#*:}; [ "$dest" != "$b" ] || dest=/usr/local/bin/$(basename "$src")
    [ -e "$src" ] || die "--bin $src: no such file"
    copy_elf "$P" "$src" "$dest"
done
for f in "${FILES[@]}"; do install -D "${f%%:*}" "$P/${f#*:}"; done
for m in "${MODULES[@]}"; do install -D -m 0644 "$m" "$P/lib/modules/$KVER/extra/$(basename "$m")"; done
# libraries already in dom0's image are not duplicated (same host, same files)
# dom0's initramfs: dom0.cpio.gz [+ qdisk.cpio.gz] [+ the payload] (the kernel unpacks each in turn)
CPIOS=("$IMG/dom0.cpio.gz")
if [ "${XB_VM_QDISK:-0}" = 1 ]; then
    [ -s "$IMG/qdisk.cpio.gz" ] || { echo "SKIP: $IMG/qdisk.cpio.gz missing: run tests/vm/build-images.sh --with-qdisk" >&2; exit 77; }
    CPIOS+=("$IMG/qdisk.cpio.gz")
fi
if [ -n "$(find "$P" ! -type d ! -type l)" ]; then
    make_cpio "$P" "$RUN/payload.cpio.gz"
    CPIOS+=("$RUN/payload.cpio.gz")
fi
INITRD="$RUN/initrd.cpio.gz"
if [ ${#CPIOS[@]} = 1 ]; then INITRD=${CPIOS[0]}; else cat "${CPIOS[@]}" > "$INITRD"; fi

XEN_ARGS="console=com1 com1=115200,8n1 dom0_mem=${XB_VM_DOM0_MEM:-1024M},max:${XB_VM_DOM0_MEM:-1024M} loglvl=all guest_loglvl=all $XEN_EXTRA"
DOM0_ARGS="console=hvc0 earlyprintk=xen panic=5 loglevel=5 xbvm.timeout=$((TIMEOUT > 60 ? TIMEOUT - 30 : TIMEOUT)) $DOM0_EXTRA"
[ $SHELL_MODE = 0 ] || DOM0_ARGS+=" xbvm.shell=1"
QEMU=(qemu-system-x86_64 -accel tcg -cpu qemu64 -smp 2 -m "${XB_VM_MEM:-2048}" -nographic -no-reboot
      -pidfile "$RUN/qemu.pid" -nic none -device virtio-rng-pci
      -kernel "$IMG/xen" -append "$XEN_ARGS"
      -initrd "$IMG/vmlinuz $DOM0_ARGS,$INITRD"
      "${QARGS[@]}")
printf '%q ' "${QEMU[@]}" > "$RUN/cmdline"; echo >> "$RUN/cmdline"
log "run dir $RUN"
log "qemu: $(cat "$RUN/cmdline")"

if [ $SHELL_MODE = 1 ]; then
    log "interactive (Ctrl-a x quits QEMU); console also in $LOG"
    set +e; timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" | tee "$LOG"; set -e
    grep -q 'XB-VM-RESULT: PASS' "$LOG"; exit $?
fi

# --- boot, time-stamping every console line -------------------------------------------------
QPID=
reap() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
    [ -s "$RUN/qemu.pid" ] && kill -9 "$(cat "$RUN/qemu.pid")" 2>/dev/null
    true
}
trap reap EXIT
trap 'reap; exit 130' INT TERM
stamp() {
    local line now d t0=${EPOCHREALTIME/./}
    while IFS= read -r line; do
        line=${line//$'\r'/}
        now=${EPOCHREALTIME/./}; d=$((now - t0))
        printf -v line '[%4d.%03ds] %s' $((d / 1000000)) $(((d / 1000) % 1000)) "$line"
        printf '%s\n' "$line" >> "$LOG"
        if [ $QUIET = 0 ] || [[ $line == *XB-VM* || $line == *XB-GUEST* ]]; then printf '%s\n' "$line"; fi
    done
}
# A boot that hangs before dom0's /init starts (seen once in ~100 boots: dom0's kernel stopped
# after "hpet_acpi_add" and printed nothing for 170 s) is not the payload's failure: it is
# retried once, the hung console kept as LOG.hung. /init's first line comes ~10 s after QEMU
# starts (~30 s on a loaded host); XB_VM_BOOT_LIMIT (default 90 s) bounds the wait for it.
BOOT_LIMIT=${XB_VM_BOOT_LIMIT:-90}
for attempt in 1 2; do
    log "boot (timeout ${TIMEOUT}s)$([ $attempt = 1 ] || echo ', second attempt')"
    set +e
    (timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | stamp) 2>/dev/null &   # no "Killed" notice from this bash
    QPID=$!
    hung=0 end=$((SECONDS + BOOT_LIMIT))
    while kill -0 "$QPID" 2>/dev/null && ! grep -aq 'XB-VM: dom0 /init start' "$LOG"; do
        if [ $SECONDS -ge $end ]; then
            hung=1
            [ -s "$RUN/qemu.pid" ] && kill -9 "$(cat "$RUN/qemu.pid")" 2>/dev/null
            break
        fi
        sleep 1
    done
    wait "$QPID"
    set -e
    QPID=
    rm -f "$RUN/qemu.pid"
    [ $hung = 1 ] && [ $attempt = 1 ] || break
    log "dom0's /init did not start within ${BOOT_LIMIT}s: boot hung; console kept as $LOG.hung, booting again"
    mv "$LOG" "$LOG.hung"; : > "$LOG"
done
log "QEMU exited; log $LOG"
[ "${XB_VM_KEEP:-0}" = 1 ] || rm -f "$RUN/initrd.cpio.gz"     # 17+ MiB per run
res=$(grep -a -o 'XB-VM-RESULT: .*' "$LOG" | tail -1 || true)
log "result: ${res:-none}"
case $res in
    "XB-VM-RESULT: PASS"*) exit 0 ;;
    "XB-VM-RESULT: FAIL"*) exit 1 ;;
    *) exit 2 ;;
esac
