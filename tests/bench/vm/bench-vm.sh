#!/bin/bash
# tests/bench/vm/bench-vm.sh - side by side under real Xen (QEMU TCG, tests/vm): in one boot,
# the same PV guest runs the same fio jobs on its xvda (4 KiB randread/randwrite at QD1 and
# QD32, 128 KiB sequential read/write at QD8; raw, O_DIRECT, libaio; RT seconds each) and the
# same TCP stream each way through its eth0 (xb-tcp, byte-verified), served by
#   (c) xenbackd, started as its systemd unit would (the xenbackd build of tests/vm), then
#   (b) QEMU's qdisk (Debian's qemu-system-xen 7.2, /usr/libexec/xen-qemu-system-i386, which
#       libxl starts as the guest's device model, -machine xenpv, for disks with
#       backendtype=qdisk; xenbackd stopped, no kernel blkback): fio only, no NIC; the payload
#       prints the evidence (xvda's backend is backend/qdisk/..., Connected, no backend/vbd,
#       the device model's pid, command line and I/O), then
#   (a) the kernel's xen-blkback + xen-netback (insmod'ed after xenbackd stopped).
# Sets XB_VM_QDISK=1: build-images.sh --with-qdisk installs qemu-system-xen on the host and
# builds images/qdisk.cpio.gz (the device model + its libraries, 13 MB), run-vm.sh appends it
# to dom0's initramfs (the vm suite's boots do not carry it). Prints the table with c/a and
# c/b (TCP: c/a only). ROUNDS rounds of the three in the one boot, the order reversed every
# other round (c b a, a b c, ...); the table has each figure's median over the rounds, the
# ratios of the medians and the range of one round's c/a (under TCG one boot's figures
# differ from the next's by up to 2x, even on a quiet host: one round is not a measurement).
# Not a timed test: ~4 min per round on a quiet host (XB_BENCH_TIMEOUT bounds the VM:
# 900 s + 900 s per round).
# Usage: bench-vm.sh [RUNTIME_SECONDS (default 8)] [TCP_BYTES (default 64m)] [ROUNDS (default 3)]
# XB_BENCH_DAEMON2=/path/to/another/xenbackd (a non-sanitized build of another tree, e.g. a
# change's before and after): a column (d) in every round, that binary started as the unit
# would in place of this tree's, printed with d/a and d/c: A/B in one boot.
# XB_BENCH_TARGET=file (default) or dev: what backs the guest's xvda in dom0: a 300 MB file on
# dom0's tmpfs (the block script gives the kernel's blkback a loop device over it; xenbackd
# serves the file; QEMU opens the file), or dom0's second virtio disk /dev/vdb (a 300 MB
# image in the host's /dev/shm): a block device, as an LVM volume would be.
# XB_BENCH_PERF=1: the host's perf (Debian's linux-perf, 6.1 like dom0's kernel) goes into dom0
# and round 1 prints dom0's CPU profile over the guest's fio jobs for (c) and (a) (BENCH-PERF
# lines: by process, then the top symbols). It slows what it watches: use ROUNDS=1 and read
# the profile, not that run's ratios.
# XB_BENCH_JOBS=randread-4k-qd1,... (default: all six fio jobs), XB_BENCH_NET=0 (no TCP
# streams), XB_BENCH_COLS=xenbackd,kernel (default: xenbackd,qdisk,kernel, and xenbackd2
# with XB_BENCH_DAEMON2): a quicker run of a part, for trying a change.
# XB_BENCH_STAT=1: over each column's fio jobs, the backend's CPU time and context switches per
# I/O the guest completed (xenbackd's threads, or the kernel's xvda threads; from /proc, nothing
# slowed) and the interrupts dom0 took; 2: also xenbackd's system calls per I/O (perf stat on
# raw_syscalls in dom0: traced calls are slower); 3: the calls by name (perf trace -s); 4: a
# stretch of them in order; 5: xenbackd's profile by function, callees included (perf record
# -g). 2-5 need the host's perf, as XB_BENCH_PERF does. Under a PV dom0
# on TCG a system call costs ~20 us and a wake-up ~150-200 us.
# Under TCG the absolute numbers mean little; the ratios are what count.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RT=${1:-8} NB=${2:-64m} ROUNDS=${3:-3}
D2=()
if [ -n "${XB_BENCH_DAEMON2:-}" ]; then
    [ -x "$XB_BENCH_DAEMON2" ] || { echo "XB_BENCH_DAEMON2=$XB_BENCH_DAEMON2: not an executable"; exit 2; }
    D2=(--bin "$XB_BENCH_DAEMON2:/usr/sbin/xenbackd2")
fi
PERFARG=()
if [ "${XB_BENCH_PERF:-0}" = 1 ] || [ "${XB_BENCH_STAT:-0}" -ge 2 ]; then
    command -v perf >/dev/null || { echo "XB_BENCH_PERF=1/XB_BENCH_STAT>=2: no perf on the host (apt-get install linux-perf)"; exit 2; }
    PERFARG=(--bin "$(command -v perf):/usr/bin/perf")
fi
TGT=()
case ${XB_BENCH_TARGET:=file} in
file) ;;
dev)
    img=$(mktemp /dev/shm/xb-bench-dev.XXXXXX)
    truncate -s 300M "$img"
    TGT=(--qemu-arg -drive --qemu-arg "file=$img,if=virtio,format=raw,cache=writeback")
    ;;
*) echo "XB_BENCH_TARGET=$XB_BENCH_TARGET: file or dev"; exit 2 ;;
esac
# ',' separates QEMU's multiboot modules (dom0's command line is in one): ':' in dom0
JOBS=${XB_BENCH_JOBS:-all} COLS=${XB_BENCH_COLS:-default}
JOBS=${JOBS//,/:} COLS=${COLS//,/:}
out=$(mktemp) host=$(mktemp)
export XB_VM_QDISK=1     # QEMU's device model in dom0, for (b)
# the host's load while each column runs: under TCG another VM on the host (2 cores) slows
# whichever column it overlaps, and the ratios with it. Every 5 s: 1-min load average and the
# QEMU processes besides ours; the phase is the last "BENCH X: xl create" line.
(while sleep 5; do
    n=$(pgrep -c -x qemu-system-x86)      # comm: qemu-system-x86_64 cut to 15 characters
    echo "host $(cut -d' ' -f1 /proc/loadavg) $((n > 0 ? n - 1 : 0))"
 done) >> "$host" &
sampler=$!
XB_VM_TIMEOUT=${XB_BENCH_TIMEOUT:-$((900 + (${#D2[@]} ? 1200 : 900) * ROUNDS))} "$HERE/../../vm/vm-test.sh" "$HERE/payload" \
    "${D2[@]}" "${TGT[@]}" "${PERFARG[@]}" --dom0-args "xbvm.rt=$RT xbvm.netbytes=$NB xbvm.rounds=$ROUNDS xbvm.target=$XB_BENCH_TARGET xbvm.perf=${XB_BENCH_PERF:-0} xbvm.stat=${XB_BENCH_STAT:-0} xbvm.jobs=$JOBS xbvm.net=${XB_BENCH_NET:-1} xbvm.cols=$COLS" 2>&1 | tee "$out" | grep -a --line-buffered -E 'XB-VM|BENCH' |
    while IFS= read -r l; do
        printf '%s\n' "$l"
        [[ $l =~ BENCH\ ([a-z]+):\ xl\ create ]] && echo "phase ${BASH_REMATCH[1]}" >> "$host"
    done
rc=${PIPESTATUS[0]}
kill $sampler 2>/dev/null
echo
echo "side by side, same guest (2 vCPUs), same jobs; fio ${RT} s per job, TCP ${NB} per direction (not qdisk); $ROUNDS rounds; xvda: $XB_BENCH_TARGET:"
grep -a -o 'XB-BENCH-TABLE: .*' "$out" | sed 's/XB-BENCH-TABLE: /  /'
awk '$1 == "phase" {p = $2; if (!(p in seen)) {seen[p]; o[++n] = p}} $1 == "host" && p != "" {l[p] += $2; m[p] = ($3 > m[p]) ? $3 : m[p]; c[p]++}
     END {printf "host while each ran (1-min load average, most other QEMU VMs at once):"
          for (i = 1; i <= n; i++) if (c[o[i]]) printf "  %s %.1f, %d;", o[i], l[o[i]] / c[o[i]], m[o[i]]; print ""}' "$host"
rm -f "$out" "$host" ${img:+"$img"}
exit $rc
