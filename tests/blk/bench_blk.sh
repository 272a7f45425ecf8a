#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# blkback benchmark: the same workloads (a) with fio + io_uring directly on a
# backing file and (b) through xenbackd with the simulated blkfront, in one
# run, then the null engine (ring overhead only).
#
#   tests/blk/bench_blk.sh [BUILD_DIR] [FILE] [SECONDS]
#
# FILE (default /var/tmp/xb-bench.img, 1 GiB) is created and written once.
# Needs fio (apt-get install fio) and python3.
set -eu

B=${1:-build}
FILE=${2:-/var/tmp/xb-bench.img}
T=${3:-5}
B=$(cd "$B" && pwd)

command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

export XB_DAEMON="$B/daemon/xenbackd"
export XB_BUILD_ROOT="$B"
export XB_XSSTUB="$B/tests/harness/xsstub.so"
BENCH="$B/tests/blk/bench_blk"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne 1073741824 ]; then
	echo "writing $FILE (1 GiB)..."
	dd if=/dev/zero of="$FILE" bs=1M count=1024 oflag=direct \
		conv=fsync status=none
fi

fio_run() { # pattern bs qd -> "iops mbps cpu_us_per_io"
	fio --name=b --filename="$FILE" --direct=1 --ioengine=io_uring \
		--rw="$1" --bs="$2" --iodepth="$3" --runtime="$T" \
		--time_based --group_reporting --output-format=json 2>/dev/null |
	python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
io = j["read"]["total_ios"] + j["write"]["total_ios"]
rt = max(j["read"]["runtime"], j["write"]["runtime"]) / 1000.0
iops = io / rt
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * rt
print("%.0f %.1f %.2f" % (iops, iops * '"$2"' / 1e6, cpu * 1e6 / io))'
}

printf "%-10s %7s %4s | %10s %8s %7s | %10s %8s %8s %8s | %6s\n" \
	pattern bs qd "fio IOPS" "MB/s" "us/io" "xbd IOPS" "MB/s" \
	"dmn us" "front us" "ratio"
for c in "randread 4096 1" "randread 4096 32" "randwrite 4096 1" \
	 "randwrite 4096 32" "read 131072 32" "write 131072 32"; do
	set -- $c
	a=$(fio_run "$1" "$2" "$3")
	b=$("$BENCH" "$FILE" "$1" "$2" "$3" "$T" --log-level=warn | tail -1)
	set -- $c $a $b
	# $1-3 case, $4-6 fio, $7.. bench: pattern bs qd iops mbps dus fus cores
	ratio=$(python3 -c "print('%.2f' % (${10} / $4))")
	printf "%-10s %7s %4s | %10s %8s %7s | %10s %8s %8s %8s | %6s\n" \
		"$1" "$2" "$3" "$4" "$5" "$6" "${10}" "${11}" "${12}" \
		"${13}" "$ratio"
done

echo
echo "null engine (no I/O; ring, grants and event channels only):"
printf "%-10s %4s %6s | %10s %10s %12s\n" pattern qd queues IOPS \
	"dmn cores" "IOPS/core"
for c in "randread 32 1" "randread 128 1" "randread 64 2"; do
	set -- $c
	b=$("$BENCH" "$FILE" "$1" 4096 "$2" "$T" --blk-engine=null \
		--workers="$3" --blk-max-queues="$3" --log-level=warn | tail -1)
	set -- $c $b
	percore=$(python3 -c "print('%.0f' % ($7 / max(${11}, 1e-9)))")
	printf "%-10s %4s %6s | %10s %10s %12s\n" "$1" "$2" "$3" "$7" \
		"${11}" "$percore"
done
