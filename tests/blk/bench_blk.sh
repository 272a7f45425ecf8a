#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# blkback benchmark: the same workloads (a) with fio + io_uring directly on a
# backing file and (b) through xenbackd with the simulated blkfront, on the
# same file with O_DIRECT, alternating REPEAT times (medians), then the null
# engine (ring overhead only). What each column means: bench_blk.py.
#
#   [REPEAT=3] [CASES=randread/4096/32,...] [NULL=0] [CPUS=split|shared] \
#   [GUEST=poll|wait] \
#   tests/blk/bench_blk.sh [BUILD_DIR] [FILE] [SECONDS]
#
# FILE (default /var/tmp/xb-bench.img, 1 GiB) is created and written once.
# Needs fio (apt-get install fio) and python3. Use a build without
# sanitizers (e.g. --buildtype=debugoptimized).
set -eu

B=${1:-build}
FILE=${2:-/var/tmp/xb-bench.img}
T=${3:-5}
B=$(cd "$B" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }

export XB_DAEMON="$B/daemon/xenbackd"
export XB_BUILD_ROOT="$B"
export XB_XSSTUB="$B/tests/harness/xsstub.so"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne 1073741824 ]; then
	echo "writing $FILE (1 GiB)..."
	dd if=/dev/zero of="$FILE" bs=1M count=1024 oflag=direct \
		conv=fsync status=none
fi

exec python3 "$HERE/bench_blk.py" "$B" "$FILE" "$T"
