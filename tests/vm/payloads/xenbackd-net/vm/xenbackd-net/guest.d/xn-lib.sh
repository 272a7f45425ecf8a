# sourced by the guest.d scripts of the xenbackd-net payload (guest: busybox sh)
gts() { local up; read -r up _ < /proc/uptime; echo "[domU ${up}s] $*"; }
# mark WORD...: a line dom0 waits for in the guest's console log
mark() { echo "XB-MARK: $*"; }
die() { echo "FAILED: $*"; exit 1; }
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
# wait_until SECONDS CMD...: poll CMD every 0.2 s; 1 after SECONDS of uptime
wait_until() {
    local now end; read -r now _ < /proc/uptime; end=$(( ${now%.*} + $1 )); shift
    while ! "$@" >/dev/null 2>&1; do
        read -r now _ < /proc/uptime; [ "${now%.*}" -lt $end ] || return 1; sleep 0.2
    done
}
has_if() { [ -e "/sys/class/net/$1" ]; }
no_if() { [ ! -e "/sys/class/net/$1" ]; }
carrier() { [ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ]; }
# nic_up IF ADDR/LEN: wait for netfront's IF and its carrier, address it
nic_up() {
    wait_until 30 has_if "$1" || die "no $1 after 30 s"
    ip link set "$1" up
    ip addr add "$2" dev "$1"
    wait_until 30 carrier "$1" || die "$1: no carrier after 30 s"
    gts "$1: $(cat /sys/class/net/$1/address) carrier=$(cat /sys/class/net/$1/carrier)" \
        "mtu=$(cat /sys/class/net/$1/mtu) tx queues=$(ls -d /sys/class/net/$1/queues/tx-* | wc -l)" \
        "rx queues=$(ls -d /sys/class/net/$1/queues/rx-* | wc -l)"
}
stat_of() { cat "/sys/class/net/$1/statistics/$2"; }
