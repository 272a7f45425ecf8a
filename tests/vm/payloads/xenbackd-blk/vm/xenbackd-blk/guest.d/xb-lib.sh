# sourced by the guest.d scripts of the xenbackd-blk payload (guest: busybox sh)
gts() { local up; read -r up _ < /proc/uptime; echo "[domU ${up}s] $*"; }
# mark WORD: a line dom0 waits for in the guest's console log
mark() { echo "XB-MARK: $*"; }
# wait_dev NAME SECONDS: until /dev/NAME exists (blkfront connected)
wait_dev() {
    local i=0
    while [ ! -b "/dev/$1" ]; do
        i=$((i + 1)); [ $i -lt $(($2 * 10)) ] || { echo "no /dev/$1 after $2 s"; return 1; }; sleep 0.1
    done
}
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
die() { echo "FAILED: $*"; exit 1; }
