#!/bin/bash
# dom0 side of tests/bench/vm/bench-vm.sh: the same guest, the same fio jobs (and TCP streams),
# served by (c) xenbackd (started by the common start hook, as its unit would), then by (b)
# QEMU's qdisk (Debian's qemu-system-xen, which libxl starts as the guest's device model for
# disks with backendtype=qdisk: xenbackd stopped, no kernel blkback loaded; no NIC, so fio
# only), then by (a) the kernel's xen-blkback + xen-netback (insmod'ed from /opt/kernel-backends).
# Prints the evidence that qemu serves (b) and the table.
# xbvm.rounds=N (default 3): N rounds of the three, the order reversed every other round
# (c b a, a b c, ...) so that a drift of the host's speed during the boot does not favour one
# column; the table gives each figure's median over the rounds, the ratios of the medians,
# and the lowest and highest c/a of a single round.
. /etc/xb-vm/lib.sh
set -u
IP=/usr/bin/ip
DM=/usr/libexec/xen-qemu-system-i386      # where Debian's libxl looks for the device model
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
RT=$(arg xbvm.rt); RT=${RT:-8}
ROUNDS=$(arg xbvm.rounds); ROUNDS=${ROUNDS:-3}
# bench-vm.sh's XB_BENCH_JOBS / _NET / _COLS / _STAT: a part of the bench, for trying a change
JOBS=$(arg xbvm.jobs); JOBS=${JOBS:-all}
NET=$(arg xbvm.net); NET=${NET:-1}
COLS=$(arg xbvm.cols); [ "${COLS:-default}" = default ] && COLS=""
STAT=$(arg xbvm.stat); STAT=${STAT:-0}     # 2: perf trace -s (the calls by name) instead
fail() {
    echo "BENCH FAILED: $*"; cat "$(guest_console bench)" 2>/dev/null | tail -40
    tail -20 /var/log/xenbackd.log; tail -20 /var/log/xen/qemu-dm-bench.log 2>/dev/null
    xl destroy bench 2>/dev/null; exit 1
}
console_has() { grep -aq "$1" "$(guest_console bench)" 2>/dev/null; }
# console_wait SECONDS TEXT...: until the guest's console has a line containing one of the
# TEXTs; checks every 2 s with bash builtins only. wait_for + console_has forks grep and
# sleep 5 times a second, and a fork in a PV dom0 under TCG is dear: dom0's profile
# (XB_BENCH_PERF=1) had those polls at 18-22% of dom0's CPU while the columns ran.
exec {nap}<> <(:)       # a pipe that we hold open for writing: read -t on it sleeps, no fork
console_wait() {
    local end=$((SECONDS + $1)) f l t; f=$(guest_console bench); shift
    while [ $SECONDS -lt $end ]; do
        if [ -r "$f" ]; then
            mapfile -t CW_LINES < "$f"
            for l in "${CW_LINES[@]}"; do for t in "$@"; do [[ $l == *"$t"* ]] && return 0; done; done
        fi
        read -r -t 2 -u $nap _
    done
    return 1
}
$IP link add name xenbr0 type bridge stp_state 0 forward_delay 0
$IP addr add 10.99.0.1/24 dev xenbr0
$IP link set xenbr0 up
modprobe virtio_blk; wait_for 10 test -b /dev/vda || fail "no /dev/vda (the tools disk)"
[ -x $DM ] || fail "no $DM in dom0 (bench-vm.sh sets XB_VM_QDISK=1: build-images.sh --with-qdisk)"
# xbvm.target=dev: the guest's xvda is dom0's second virtio disk (bench-vm.sh's
# XB_BENCH_TARGET=dev, a block device as LVM or a partition would be); else a file on dom0's
# tmpfs, what the block script turns into a loop device
if [ "$(arg xbvm.target)" = dev ]; then
    TARGET=/dev/vdb
    wait_for 10 test -b $TARGET || fail "no $TARGET (XB_BENCH_TARGET=dev)"
else
    TARGET=/tmp/bench.img
    dd if=/dev/zero of=$TARGET bs=1M count=300 2>/dev/null
fi
ts "BENCH the guest's xvda: $TARGET"
guest_initrd /tmp/bench.cpio.gz /vm/bench
# cfg OUT [qdisk]: the guest's config; with qdisk, both disks are QEMU's and there is no NIC
# (target= takes the rest of a disk spec, commas included: backendtype= goes before it).
# QEMU 7.2's qdisk fails on a read-only disk (access=ro: "realization of device xen-disk
# failed: Block node is read-only"), so its tools disk is a writable copy of /dev/vda (the
# guest mounts it ro,noload all the same).
cfg() {
    local bt="" vif="vif = ['bridge=xenbr0']" net=$NET tools="access=ro, target=/dev/vda"
    [ $NET = 1 ] || vif=""
    [ "${2:-}" = qdisk ] && { bt="backendtype=qdisk, "; vif=""; net=0; tools="access=rw, target=/dev/shm/tools.img"; }
    cat > "$1" <<CFG
name = "bench"
type = "pv"
kernel = "/vm/vmlinux.gz"
ramdisk = "/tmp/bench.cpio.gz"
extra = "console=hvc0 xbvm.guest=bench xbvm.rt=$RT xbvm.net=$net xbvm.netbytes=$(arg xbvm.netbytes) xbvm.jobs=$JOBS xbvm.stat=$STAT"
memory = 384
vcpus = 2
disk = ['format=raw, vdev=xvda, access=rw, ${bt}target=$TARGET', 'format=raw, vdev=xvdb, $bt$tools']
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
# xbvm.perf=1 (bench-vm.sh's XB_BENCH_PERF=1, which puts the host's perf, Debian's linux-perf
# 6.1, in dom0): in round 1, dom0's CPU profile (cpu-clock samples, all CPUs, call graphs)
# over the guest's fio jobs, for xenbackd and for the kernel's backends; a summary by process
# and the top symbols are printed as BENCH-PERF lines. Profiling slows what it watches:
# the round's figures are not comparable with a run without it.
PERF=0; [ "$(arg xbvm.perf)" = 1 ] && [ -x /usr/bin/perf ] && PERF=1
perf_start() {  # LABEL
    perf_pid=""
    [ $PERF = 1 ] && [ "$round" = 1 ] && [ "$1" != qdisk ] || return 0
    console_wait 300 'XB-MARK: fio-start' 'BENCH-GUEST FAILED' || return 0
    perf record -e cpu-clock -a -g -o /tmp/perf-$1.data >/tmp/perf-$1.log 2>&1 &
    perf_pid=$!
    ts "BENCH $1: perf record started (pid $perf_pid)"
}
perf_stop() {   # LABEL
    [ -n "$perf_pid" ] || return 0
    kill -INT "$perf_pid"; wait "$perf_pid"; perf_pid=""
    perf report -i /tmp/perf-$1.data --stdio --no-children --sort comm -g none 2>/dev/null |
        grep '%' | head -12 | sed "s/^/BENCH-PERF $1 by process: /"
    perf report -i /tmp/perf-$1.data --stdio --no-children --sort comm,dso,sym -g none 2>/dev/null |
        grep '%' | head -40 | sed "s/^/BENCH-PERF $1 top: /"
    [ -s /tmp/perf-$1.data ] || { echo "BENCH-PERF $1: no profile:"; cat /tmp/perf-$1.log; }
    rm -f /tmp/perf-$1.data
}
# xbvm.stat=N (bench-vm.sh's XB_BENCH_STAT): what the backend's threads (xenbackd's, or the
# kernel's <domid>.xvda-<queue> threads) cost per I/O the guest completed over its fio jobs (the
# guest waits 3 s after its fio-start mark, so that counting starts before its first I/O, and
# prints its xvda's completed I/Os; dom0 stops after fio-done, the guest idle by then):
# 1: their CPU time and context switches (/proc/PID/task/*/schedstat and status: no tracing,
#    nothing slowed), and the interrupts dom0's CPUs took meanwhile;
# 2: also their system calls (perf stat on raw_syscalls: every call is traced, which slows them);
# 3: the calls by name (perf trace -s) and xenstore's traffic; 4: a stretch of the calls in order;
# 5: xenbackd's profile (perf record -g), by function with what it calls (--children).
stat_tids() {   # LABEL: the threads to count
    local d c
    if [ "$1" = kernel ]; then      # busybox's pgrep does not find kernel threads
        for d in /proc/[0-9]*; do read -r c < "$d/comm" 2>/dev/null && [[ $c == *.xvda-* ]] && echo "${d#/proc/}"; done
    else ls "/proc/$(cat /run/xenbackd.pid)/task"; fi
}
stat_snap() {   # TIDS...: "ns_on_cpu context_switches", summed
    local t ns cs=0 sum=0 k v
    for t in "$@"; do
        read -r ns _ < "/proc/$t/schedstat" 2>/dev/null && sum=$((sum + ns))
        while read -r k v; do
            case $k in voluntary_ctxt_switches:|nonvoluntary_ctxt_switches:) cs=$((cs + v)) ;; esac
        done < "/proc/$t/status" 2>/dev/null
    done
    echo "$sum $cs"
}
stat_grants() {   # LABEL WHEN: xenbackctl's request and grant counters of each device
    xenbackctl -j list 2>/dev/null | grep -o '"name":"[^"]*"[^}]*' |
        sed -n "s/.*\"name\":\"\([^\"]*\)\".*\"requests\":\([0-9]*\).*\"grant_maps\":\([0-9]*\),\"persistent_hits\":\([0-9]*\).*/BENCH-STAT $1 $2: \1: requests \2, grant_maps \3, persistent_hits \4/p"
}
stat_start() {  # LABEL
    stat_pid="" stat_on=""
    [ $STAT != 0 ] && [ "$1" != qdisk ] || return 0
    console_wait 300 'XB-MARK: fio-start' 'BENCH-GUEST FAILED' || return 0
    stat_tids_=$(stat_tids "$1")
    [ -n "$stat_tids_" ] || { ts "BENCH-STAT $1: no threads to count"; return 0; }
    stat_on=1
    ts "BENCH-STAT $1: counting threads" $(for t in $stat_tids_; do read -r c < "/proc/$t/comm"; echo "$t($c)"; done 2>/dev/null)
    cat /proc/interrupts > /tmp/irq0-$1.txt
    stat_snap0=$(stat_snap $stat_tids_)
    [ "$1" = kernel ] || stat_grants "$1" before
    for t in $stat_tids_; do read -r ns _ < "/proc/$t/schedstat"; echo "$t $ns"; done > /tmp/threads0-$1.txt 2>/dev/null
    [ $STAT -ge 2 ] && [ -x /usr/bin/perf ] && [ "$1" != kernel ] || return 0
    local pid; pid=$(cat /run/xenbackd.pid)     # a process: perf follows all its threads
    case $STAT in
    2) perf stat -e raw_syscalls:sys_enter -p "$pid" -x, -o /tmp/stat-$1.txt & ;;
    5) perf record -e cpu-clock -g -p "$pid" -o /tmp/prof-$1.data > /dev/null 2>&1 & ;;
    3) (timeout 6 xenstore-watch / > /tmp/xsw-$1.txt 2>&1 &)    # xenstore's traffic meanwhile
       perf trace -s -p "$pid" -o /tmp/trace-$1.txt > /dev/null 2>&1 & ;;
    *) perf trace -p "$pid" -o /tmp/trace-$1.txt > /dev/null 2>&1 & ;;
    esac
    stat_pid=$!
}
stat_stop() {   # LABEL
    [ -n "$stat_on" ] || return 0
    stat_on=
    console_wait 900 'XB-MARK: fio-done' 'BENCH-GUEST FAILED'
    local snap1 ios t ns c; snap1=$(stat_snap $stat_tids_)
    [ "$1" = kernel ] || stat_grants "$1" after
    # each thread's share
    for t in $stat_tids_; do read -r ns _ < "/proc/$t/schedstat" && read -r c < "/proc/$t/comm" && echo "$t $ns $c"; done 2>/dev/null |
        awk -v l="$1" 'NR == FNR {b[$1] = $2; next} {printf "BENCH-STAT %s: thread %s (%s): %.0f ms on CPU\n", l, $1, $3, ($2 - b[$1]) / 1e6}' /tmp/threads0-$1.txt -
    [ -z "$stat_pid" ] || { kill -INT "$stat_pid"; wait "$stat_pid"; stat_pid=""; }
    ios=$(sed -n 's/.*XB-BENCH-IOS: \([0-9]*\).*/\1/p' "$(guest_console bench)" | tr -d '\r' | tail -1)
    [ -s /tmp/xsw-$1.txt ] && sort /tmp/xsw-$1.txt | uniq -c | sort -rn | head -8 | sed "s/^/BENCH-TRACE $1: xenstore in 6 s: /"
    if [ -s /tmp/trace-$1.txt ]; then
        if [ $STAT = 3 ]; then grep -v '^ *$' /tmp/trace-$1.txt | head -60
        else n=$(wc -l < /tmp/trace-$1.txt); sed -n "$((n / 2)),$((n / 2 + 150))p" /tmp/trace-$1.txt; fi | sed "s/^/BENCH-TRACE $1: /"
    fi
    if [ -s /tmp/prof-$1.data ]; then      # where the time goes, callers included
        perf report -i /tmp/prof-$1.data --stdio --children --sort sym -g none --percent-limit 2 2>/dev/null |
            grep '%' | head -70 | sed "s/^/BENCH-PROF $1: /"
    fi
    rm -f /tmp/trace-$1.txt /tmp/xsw-$1.txt /tmp/prof-$1.data
    # the interrupts dom0's CPUs took meanwhile (the disk's, the event channels')
    awk -v l="$1" 'NR == FNR {b2[$1] = $2; b3[$1] = $3; next}
        $1 ~ /^[0-9]+:$/ {d0 = $2 - b2[$1]; d1 = $3 - b3[$1]; if (d0 + d1 > 100) {$2 = $3 = ""; printf "BENCH-STAT %s: interrupts CPU0 %d, CPU1 %d: %s\n", l, d0, d1, $0}}' /tmp/irq0-$1.txt /proc/interrupts
    [ "$1" = kernel ] || grep -a 'connected:' /var/log/xenbackd.log | tail -2 | sed "s/^/BENCH-STAT $1: /"
    [ "${ios:-0}" -gt 0 ] || { ts "BENCH-STAT $1: no I/O count from the guest"; return 0; }
    set -- "$1" $stat_snap0 $snap1
    awk -v l="$1" -v r="$round" -v ios="$ios" -v ns=$(($4 - $2)) -v cs=$(($5 - $3)) 'END {
        printf "BENCH-STAT %s round %s: %d I/Os: %.0f us on CPU and %.2f context switches per I/O\n", l, r, ios, ns / 1000 / ios, cs / ios}' /dev/null
    [ -s /tmp/stat-$1.txt ] && awk -F, -v l="$1" -v ios="$ios" '$3 == "raw_syscalls:sys_enter" {printf "BENCH-STAT %s: %.2f system calls per I/O (traced: slower)\n", l, $1 / ios}' /tmp/stat-$1.txt
    rm -f /tmp/stat-$1.txt
}
run() {     # LABEL CFG [net]
    local log; log=$(guest_console bench); rm -f "$log"
    [ "${3:-}" = net ] && { xb-tcp recv -p 5001 -c 1 > /tmp/recv.log 2>&1 & }
    ts "BENCH $1: xl create bench"
    xl create "$2" >/tmp/xl-create.log 2>&1 || { cat /tmp/xl-create.log; fail "$1: xl create"; }
    [ "$1" = qdisk ] && qdisk_evidence
    perf_start "$1"
    stat_start "$1"
    if [ "${3:-}" = net ] && [ $NET = 1 ]; then
        console_wait 600 'XB-MARK: net-ready' 'BENCH-GUEST FAILED' || fail "$1: the guest did not get to the network part"
        perf_stop "$1"
        stat_stop "$1"
        console_has 'BENCH-GUEST FAILED' && fail "$1: the guest failed"
        xb-tcp send 10.99.0.2 5002 "$(arg xbvm.netbytes)" >/dev/null || fail "$1: dom0 -> guest stream"
    fi
    stat_stop "$1"      # (if not done yet) at fio-done, before the guest's devices go away
    console_wait 900 'XB-MARK: bench-done' 'BENCH-GUEST FAILED' || fail "$1: the guest did not finish"
    console_has 'XB-MARK: bench-done' || fail "$1: the guest failed"
    perf_stop "$1"
    wait_domain_gone 60 bench || xl destroy bench
    grep -a 'XB-BENCH:' "$log" | tr -d '\r' | sed "s/^XB-BENCH: /$1 $round /" | tee -a /tmp/bench.res
}
# Who serves: xenbackd (started as its unit would: the common start hook), nobody (qdisk's
# turn: QEMU serves its own disks), or the kernel's xen-blkback + xen-netback.
xenbackd_stop() {
    kill -0 "$(cat /run/xenbackd.pid)" 2>/dev/null || return 0
    kill "$(cat /run/xenbackd.pid)"; wait_for 20 eval '! kill -0 $(cat /run/xenbackd.pid)' || fail "xenbackd did not stop"
}
kernel_unload() {
    grep -q '^xen_netback ' /proc/modules && { rmmod xen_netback || fail "rmmod xen-netback"; }
    grep -q '^xen_blkback ' /proc/modules && { rmmod xen_blkback || fail "rmmod xen-blkback"; }
    return 0
}
# serve_xenbackd [BINARY]: xenbackd running from /usr/sbin/xenbackd, which is BINARY (default:
# this tree's); another binary is put in place as an upgrade would be (copied over the
# unit's path, then started by the unit's command line)
cp /usr/sbin/xenbackd /usr/sbin/xenbackd.this
serve_xenbackd() {
    local want=${1:-/usr/sbin/xenbackd.this}
    kernel_unload
    if ! cmp -s "$want" /usr/sbin/xenbackd; then
        xenbackd_stop
        cp "$want" /usr/sbin/xenbackd.new && mv /usr/sbin/xenbackd.new /usr/sbin/xenbackd || fail "install $want"
    fi
    kill -0 "$(cat /run/xenbackd.pid)" 2>/dev/null || . /etc/xb-vm/start.d/50-xenbackd.sh
    kill -0 "$(cat /run/xenbackd.pid)" || fail "xenbackd is not running"
}
serve_kernel() {
    xenbackd_stop
    grep -q '^xen_blkback ' /proc/modules || insmod /opt/kernel-backends/xen-blkback.ko || fail "insmod xen-blkback"
    grep -q '^xen_netback ' /proc/modules || insmod /opt/kernel-backends/xen-netback.ko || fail "insmod xen-netback"
}
col_xenbackd() { serve_xenbackd; run xenbackd /tmp/bench.cfg net; }
# (d) another xenbackd (bench-vm.sh's XB_BENCH_DAEMON2): before/after in the same boot
col_xenbackd2() { serve_xenbackd /usr/sbin/xenbackd2; run xenbackd2 /tmp/bench.cfg net; }
D2=""; [ -x /usr/sbin/xenbackd2 ] && D2=xenbackd2
col_kernel() { serve_kernel; run kernel /tmp/bench.cfg net; }
col_qdisk() {   # nothing else serves vbd now
    xenbackd_stop; kernel_unload
    dd if=/dev/vda of=/dev/shm/tools.img bs=1M 2>/dev/null || fail "qdisk: copy the tools disk"
    run qdisk /tmp/bench-qdisk.cfg
    rm -f /dev/shm/tools.img
    wait_for 30 eval '! kill -0 $(cat /tmp/qemu.pid)' || fail "qdisk: the device model did not exit"
    ts "BENCH qdisk: the device model's I/O and CPU time (its /proc/PID/io and stat, last sample):" \
        $(grep -E '^(rchar|wchar)' /tmp/qemu-io) "cpu $(awk 'NF > 40 {printf "%.1f s (user %.1f s, sys %.1f s)", ($14 + $15) / 100, $14 / 100, $15 / 100}' /tmp/qemu-io)"
}
kill -0 "$(cat /run/xenbackd.pid)" || fail "xenbackd is not running"
for round in $(seq 1 "$ROUNDS"); do
    if [ -n "$COLS" ]; then order=${COLS//:/ }; [ $((round % 2)) = 1 ] || order=$(echo $order | tr ' ' '\n' | tac | paste -sd' ')
    elif [ $((round % 2)) = 1 ]; then order="xenbackd $D2 qdisk kernel"; else order="kernel qdisk $D2 xenbackd"; fi
    ts "BENCH round $round of $ROUNDS: $order"
    for c in $order; do "col_$c"; done
done
echo "XB-BENCH-TABLE: test                  kernel(a)   qdisk(b) xenbackd(c)    c/a    c/b  c/a-range   unit${D2:+  xenbackd2(d)    d/a    d/c}  ($ROUNDS rounds: medians)"
awk 'function med(s,   n, v, i, j, t) {n = split(s, v, " "); for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {t = v[j]; v[j] = v[j - 1]; v[j - 1] = t}
                                     return n ? ((n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) : ""}
     function ratio(a, b) {return (a != "" && b != "" && b > 0) ? sprintf("%.2f", a / b) : "-"}
     {k = $1 SUBSEP $3; all[k] = all[k] " " $4; r[$1, $2, $3] = $4; u[$3] = $5; if (!($3 in seen)) {seen[$3]; o[++n] = $3}}
     END {for (i = 1; i <= n; i++) {t = o[i]; lo = ""; hi = ""
              for (j = 1; (("kernel", j, t) in r); j++) if ((("xenbackd", j, t) in r) && r["kernel", j, t] > 0) {
                  x = r["xenbackd", j, t] / r["kernel", j, t]; if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x}
              a = med(all["kernel", t]); b = med(all["qdisk", t]); c = med(all["xenbackd", t])
              printf "XB-BENCH-TABLE: %-20s %10s %10s %11s %6s %6s %10s   %-6s", t, a, (b == "" ? "-" : b), c, ratio(c, a), ratio(c, b),
                     (lo == "" ? "-" : sprintf("%.2f-%.2f", lo, hi)), u[t]
              d = med(all["xenbackd2", t]); if (d != "") printf " %12s %6s %6s", d, ratio(d, a), ratio(d, c); print ""}}' /tmp/bench.res
exit 0
