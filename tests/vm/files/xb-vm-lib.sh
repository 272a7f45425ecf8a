# /etc/xb-vm/lib.sh - sourced by dom0's /init and by test payloads (busybox sh).
# ts MSG: a time-stamped line (dom0 uptime) on the console.
ts() { local up; read -r up _ < /proc/uptime; echo "[dom0 ${up}s] $*"; }
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; 1 after SECONDS of dom0
# uptime (wall clock: under TCG a poll can take far longer than its 0.2 s sleep).
wait_for() {
    local now end; read -r now _ < /proc/uptime; end=$(( ${now%.*} + $1 )); shift
    while ! "$@" >/dev/null 2>&1; do
        read -r now _ < /proc/uptime; [ "${now%.*}" -lt $end ] || return 1; sleep 0.2
    done
}
# domain_gone NAME: true when xl no longer lists NAME
domain_gone() { ! xl domid "$1" >/dev/null 2>&1; }
# wait_domain_gone SECONDS NAME
wait_domain_gone() { wait_for "$1" domain_gone "$2"; }
# guest_console NAME: the guest's console log, as xenconsoled writes it
guest_console() { echo "/var/log/xen/console/guest-$1.log"; }
# guest_initrd OUT DIR: the stock domU initramfs plus the files of DIR (a second cpio
# appended: the kernel unpacks both, later files win) - to give a guest another script.
# Uncompressed: libxc gunzips a gzip'd ramdisk itself and fails on two gzip streams
# ("xc_dom_do_gunzip: inflate failed", then passes it as is); the guest kernel takes both.
guest_initrd() {
    { zcat /vm/domU.cpio.gz; (cd "$2" && find . | cpio -o -H newc 2>/dev/null); } > "$1"
}
# check_kernel_log FILE|-: 1 (and the lines) if a kernel log (dom0's dmesg with "-", or a guest
# console log) shows an oops, a WARN, a BUG or a blkfront/netfront error.
check_kernel_log() {
    local src=$1 bad
    if [ "$src" = - ]; then bad=$(dmesg | grep -E 'Oops|WARNING:|BUG:|Call Trace|blkfront: .*error|netfront: .*error|general protection' );
    else bad=$(grep -E 'Oops|WARNING:|BUG:|Call Trace|blkfront: .*error|netfront: .*error|general protection' "$src"); fi
    [ -z "$bad" ] && return 0
    echo "kernel log ${src}: $bad"; return 1
}
