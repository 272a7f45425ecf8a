#!/bin/sh
# The bench guest: the same fio jobs on /dev/xvda (raw, O_DIRECT, libaio) and the same TCP
# streams through eth0, whichever backend dom0 put behind them. Prints "XB-BENCH: KEY VALUE".
# xbvm.net=0 (QEMU's qdisk: no NIC): the fio jobs only.
gts() { local up; read -r up _ < /proc/uptime; echo "[domU ${up}s] $*"; }
die() { echo "BENCH-GUEST FAILED: $*"; exit 1; }
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
RT=$(arg xbvm.rt); RT=${RT:-8}
NET=$(arg xbvm.net); NET=${NET:-1}
JOBS=$(arg xbvm.jobs); JOBS=${JOBS:-all}     # bench-vm.sh's XB_BENCH_JOBS
STAT=$(arg xbvm.stat); STAT=${STAT:-0}
i=0; while [ ! -b /dev/xvda ] || [ ! -b /dev/xvdb ] || { [ $NET = 1 ] && [ ! -e /sys/class/net/eth0 ]; }; do
    i=$((i + 1)); [ $i -lt 300 ] || die "no xvda/xvdb/eth0"; sleep 0.1; done
modprobe crc32c_generic; modprobe ext4
T=/mnt/tools
mkdir -p $T && mount -t ext4 -o ro,noload /dev/xvdb $T || die "mount the tools disk"
fio() { $T/lib64/ld-linux-x86-64.so.2 --library-path $T/lib/x86_64-linux-gnu:$T/lib/x86_64-linux-gnu/ceph $T/usr/bin/fio "$@"; }
# fill once, so that reads read data
dd if=/dev/zero of=/dev/xvda bs=1M count=256 oflag=direct 2>/dev/null
# name rw bs depth: terse v3 fields 8/49 = read/write IOPS, 7/48 = read/write KiB/s
job() {
    [ "$JOBS" = all ] || case ":$JOBS:" in *:$1:*) ;; *) return 0 ;; esac
    fio --name=$1 --filename=/dev/xvda --direct=1 --ioengine=libaio --rw=$2 --bs=$3 --iodepth=$4 \
        --size=256M --time_based --runtime=$RT --ramp_time=1 --randrepeat=0 \
        --output-format=terse --terse-version=3 > /tmp/fio.out 2>&1 || { cat /tmp/fio.out; die "fio $1"; }
    awk -F';' -v n=$1 '{printf "XB-BENCH: %s %.0f IOPS %.0f KiB/s\n", n, $8 + $49, $7 + $48}' /tmp/fio.out
}
# warm-up: fio's first run reads its ~60 MB of libraries from xvdb, page by page as it
# touches them; done here, that traffic stays out of the first job's window (and its counts)
fio --name=warm --filename=/dev/xvda --direct=1 --ioengine=libaio --rw=randread --bs=4k \
    --iodepth=4 --size=16M --runtime=1 --time_based > /tmp/fio.out 2>&1 || { cat /tmp/fio.out; die "fio warm-up"; }
xvda_ios() { awk '{print $1 + $5}' /sys/block/xvda/stat; }   # reads + writes completed
echo "XB-MARK: fio-start"
[ "$STAT" = 0 ] || sleep 3    # dom0 starts counting (it looks every 2 s)
ios0=$(xvda_ios)
job randread-4k-qd1   randread  4k   1
job randread-4k-qd32  randread  4k   32
job randwrite-4k-qd1  randwrite 4k   1
job randwrite-4k-qd32 randwrite 4k   32
job read-128k-qd8     read      128k 8
job write-128k-qd8    write     128k 8
echo "XB-BENCH-IOS: $(($(xvda_ios) - ios0))"
echo "XB-MARK: fio-done"
[ "$STAT" = 0 ] || sleep 3    # dom0 reads its counters before this guest's devices go away
umount $T
[ $NET = 1 ] || { echo "XB-MARK: bench-done"; exit 0; }
ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0
i=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ]; do i=$((i + 1)); [ $i -lt 300 ] || die "no carrier"; sleep 0.1; done
ping -c 2 -W 5 10.99.0.1 >/dev/null || die "ping dom0"
NB=$(arg xbvm.netbytes); NB=${NB:-64m}
xb-tcp recv -p 5002 -c 1 > /tmp/recv.log 2>&1 &
echo "XB-MARK: net-ready"
xb-tcp send 10.99.0.1 5001 $NB > /tmp/send.log 2>&1 || { cat /tmp/send.log; die "send"; }
sed -n 's/.* = \([0-9.]*\) Mbit.*/XB-BENCH: tcp-guest-to-dom0 \1 Mbit\/s/p' /tmp/send.log
wait %1 2>/dev/null; wait
grep -q verified /tmp/recv.log || { cat /tmp/recv.log; die "dom0's stream"; }
sed -n 's/.* = \([0-9.]*\) Mbit.*/XB-BENCH: tcp-dom0-to-guest \1 Mbit\/s/p' /tmp/recv.log
echo "XB-MARK: bench-done"
