#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""blkback benchmark driver (run through bench_blk.sh).

For each case, (a) fio with io_uring and (b) the simulated blkfront through
xenbackd run on the same file, O_DIRECT, same block size and queue depth,
alternately REPEAT times (who goes first alternating too); the medians are
printed, with the lowest and highest ratio of a single repetition (range).

CPU is measured the same way on both sides: time on CPU of every thread of
the process (the kernel's precise sum, io_uring workers included), divided
by the I/Os done:
  fio      fio's processes (main + job), from the children's rusage
  dmn      the daemon, over bench_blk's measured window
  fe       the simulated frontend (bench_blk itself: the guest's share)
  busy     the whole machine over the run (/proc/stat); busy minus ours is
           "other": what else ran meanwhile (noise; the host has 2 vCPUs).
The backend's cost to compare with fio's is dmn/io vs fio/io (dmn/fio);
the frontend is the guest's, which fio has no counterpart for.

CPUS=split (the default where a cpuset cgroup can be made: root, 2+ CPUs):
the simulated guest runs on CPU 0, the host side on the others: fio in (a),
xenbackd and the io_uring workers it starts in (b). Under a hypervisor the
guest's vCPUs are not dom0's; on a 2-CPU machine with every process on every
CPU the simulated guest takes CPU time that (a) gives to fio's io_uring
worker. CPUS=shared: no placement (what the figure was before).

GUEST=poll (the default): the simulated guest costs as little as it can, so
that the figure is the backend's: it checks its ring for responses in a
loop rather than sleeping on its event channel (a vCPU that never halts),
and leaves the data in the granted pages. GUEST=wait: the guest behaves like
Linux's blkfront with persistent grants: it sleeps until notified and copies
the data between its buffers and the granted pages. Then every batch also
waits for this machine to wake the guest's halted CPU and, after the guest's
next requests, the backend's (an IPI to an idle vCPU: tens of microseconds
in a VM), a round trip fio, the baseline, does not make; and at 128 KiB the
guest's copies fill its CPU (fe ~ 1/IOPS): the guest is measured, not the
backend. Both are worth knowing; the target is stated for the backend.

DAEMON2=/path/to/another/xenbackd adds its runs (same cases, alternating
with the others) in the last columns: before/after comparisons in one go.
"""
import atexit
import json
import os
import resource
import statistics
import subprocess
import sys
import time

B, FILE, T = sys.argv[1], sys.argv[2], int(sys.argv[3])
REPEAT = int(os.environ.get("REPEAT", "3"))
DAEMON2 = os.environ.get("DAEMON2")
GUEST = os.environ.get("GUEST", "poll")
if GUEST not in ("poll", "wait"):
    sys.exit("GUEST must be poll or wait")
BENCH = os.path.join(B, "tests/blk/bench_blk")
CASES = [
    ("randread", 4096, 1),
    ("randread", 4096, 32),
    ("randwrite", 4096, 1),
    ("randwrite", 4096, 32),
    ("read", 131072, 32),
    ("write", 131072, 32),
]
if os.environ.get("CASES"):
    want = os.environ["CASES"].split(",")
    CASES = [c for c in CASES if "%s/%d/%d" % c in want or c[0] in want]


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpuset_root():
    """The cpuset hierarchy's root (cgroup v1 or v2), or None."""
    if os.path.exists("/sys/fs/cgroup/cpuset/cpuset.cpus"):
        return "/sys/fs/cgroup/cpuset", "cpuset."
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            if "cpuset" in f.read().split():
                with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as c:
                    c.write("+cpuset")
                return "/sys/fs/cgroup", "cpuset."
    except OSError:
        pass
    return None


def make_cpusets():
    """SPLIT mode: the guest (simulated blkfront) on CPU 0, the host side
    (fio for a, xenbackd with its io_uring workers for b) on the others, as
    under a hypervisor, where the guest's vCPU is not dom0's. Returns
    (guest_dir, host_dir) or None with the reason printed."""
    n = os.cpu_count() or 1
    r = cpuset_root()
    if n < 2 or not r or os.geteuid() != 0:
        print("CPUS=split needs root, 2+ CPUs and a cpuset cgroup: "
              "running CPUS=shared")
        return None
    root, pre = r
    with open(os.path.join(root, pre + "mems")) as f:
        mems = f.read().strip() or "0"
    dirs = []
    for name, cpus in (("xb-bench-guest", "0"),
                       ("xb-bench-host", "1-%d" % (n - 1))):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        for k, v in (("cpus", cpus), ("mems", mems)):
            with open(os.path.join(d, pre + k), "w") as f:
                f.write(v)
        dirs.append(d)
    return dirs


def drop_cpusets():
    for d in CPUSETS or ():
        try:
            os.rmdir(d)
        except OSError:
            pass


def enter(cg):
    """preexec_fn: this child into cgroup cg (nothing without one)."""
    if not cg:
        return None

    def f():
        with open(os.path.join(cg, "cgroup.procs"), "w") as fp:
            fp.write(str(os.getpid()))
    return f


CPUS = os.environ.get("CPUS", "split")
CPUSETS = make_cpusets() if CPUS == "split" else None
if not CPUSETS:
    CPUS = "shared"
GUEST_CG, HOST_CG = CPUSETS if CPUSETS else (None, None)
atexit.register(drop_cpusets)


def run_fio(pattern, bs, qd):
    c0, m0, t0 = children_cpu(), machine_busy(), time.monotonic()
    out = subprocess.run(
        ["fio", "--name=b", "--filename=" + FILE, "--direct=1",
         "--ioengine=io_uring", "--rw=" + pattern, "--bs=%d" % bs,
         "--iodepth=%d" % qd, "--runtime=%d" % T, "--time_based",
         "--output-format=json"],
        check=True, capture_output=True, text=True,
        preexec_fn=enter(HOST_CG)).stdout
    c1, m1, t1 = children_cpu(), machine_busy(), time.monotonic()
    j = json.loads(out)["jobs"][0]
    ios = j["read"]["total_ios"] + j["write"]["total_ios"]
    rt = max(j["read"]["runtime"], j["write"]["runtime"]) / 1000.0
    el = t1 - t0
    cpu = c1 - c0
    return {"iops": ios / rt, "mbps": ios / rt * bs / 1e6,
            "cpu_us": cpu * 1e6 / ios, "other": (m1 - m0 - cpu) / el}


def run_xbd(pattern, bs, qd, extra=(), daemon=None):
    env = dict(os.environ)
    if daemon:
        env["XB_DAEMON"] = daemon
    if HOST_CG:
        env["XB_BENCH_HOST_CGROUP"] = HOST_CG
    env["XB_BENCH_GUEST"] = GUEST
    out = subprocess.run(
        [BENCH, FILE, pattern, str(bs), str(qd), str(T), "--log-level=warn"]
        + list(extra), check=True, capture_output=True, text=True,
        env=env, preexec_fn=enter(GUEST_CG)).stdout
    f = out.strip().splitlines()[-1].split()
    iops = float(f[3])
    return {"iops": iops, "mbps": float(f[4]), "dmn_us": float(f[5]),
            "fe_us": float(f[6]), "dmn_cores": float(f[7]),
            "other": float(f[9]) - float(f[7]) - float(f[8])}


def med(runs, k):
    return statistics.median(r[k] for r in runs)


print("fio and xenbackd+simulated blkfront on %s, O_DIRECT, %d s x %d "
      "alternating runs, medians; CPU = us on CPU per I/O" % (FILE, T,
                                                            REPEAT))
if CPUSETS:
    print("CPUS=split: simulated guest on CPU 0; fio (a) and xenbackd with "
          "its io_uring workers (b) on CPUs 1-%d" % ((os.cpu_count() or 2) - 1))
else:
    print("CPUS=shared: every process on every CPU (the simulated guest "
          "competes with the backend for them)")
print("GUEST=%s: %s" % (GUEST, {
    "poll": "the simulated guest polls its ring, data left in the granted "
            "pages",
    "wait": "the simulated guest sleeps on its event channel, copies data "
            "through the granted pages (Linux's blkfront)"}[GUEST]))
hdr = ("%-9s %6s %3s | %8s %7s %6s | %8s %7s %6s %6s | %5s %9s %7s | %5s %5s"
       % ("pattern", "bs", "qd", "fio IOPS", "MB/s", "cpu", "xbd IOPS",
          "MB/s", "dmn", "fe", "ratio", "range", "dmn/fio", "oth-a",
          "oth-b"))
if DAEMON2:
    hdr += " | %8s %6s %5s" % ("D2 IOPS", "dmn", "ratio")
print(hdr)
print("-" * len(hdr))
for pattern, bs, qd in CASES:
    fa, xb, x2 = [], [], []
    for i in range(REPEAT):
        # who goes first alternates: a drift of the machine's speed
        # during a case must not favour one side
        sides = [(fa, run_fio), (xb, run_xbd)]
        for runs, run in (sides[::-1] if i % 2 else sides):
            runs.append(run(pattern, bs, qd))
        if DAEMON2:
            x2.append(run_xbd(pattern, bs, qd, daemon=DAEMON2))
    a_iops, b_iops = med(fa, "iops"), med(xb, "iops")
    a_cpu, b_dmn = med(fa, "cpu_us"), med(xb, "dmn_us")
    # one repetition's ratio, lowest and highest: the spread of the figure
    rr = [x["iops"] / f["iops"] for f, x in zip(fa, xb) if f["iops"] > 0]
    line = ("%-9s %6d %3d | %8.0f %7.1f %6.2f | %8.0f %7.1f %6.2f %6.2f | "
            "%5.2f %4.2f-%4.2f %7.2f | %5.2f %5.2f"
            % (pattern, bs, qd, a_iops, med(fa, "mbps"), a_cpu, b_iops,
               med(xb, "mbps"), b_dmn, med(xb, "fe_us"), b_iops / a_iops,
               min(rr), max(rr), b_dmn / a_cpu, med(fa, "other"),
               med(xb, "other")))
    if DAEMON2:
        line += " | %8.0f %6.2f %5.2f" % (med(x2, "iops"), med(x2, "dmn_us"),
                                          med(x2, "iops") / a_iops)
    print(line)
    sys.stdout.flush()

if os.environ.get("NULL", "1") != "0":
    print()
    print("null engine (no I/O: ring, grants, event channels), medians:")
    print("%-9s %4s %6s | %10s %9s %8s %11s" % (
        "pattern", "qd", "queues", "IOPS", "dmn cores", "dmn/io",
        "IOPS/core"))
    for pattern, qd, nq in [("randread", 32, 1), ("randread", 128, 1),
                            ("randread", 64, 2)]:
        runs = [run_xbd(pattern, 4096, qd,
                        ["--blk-engine=null", "--workers=%d" % nq,
                         "--blk-max-queues=%d" % nq])
                for _ in range(REPEAT)]
        iops = med(runs, "iops")
        cores = med(runs, "dmn_cores")
        print("%-9s %4d %6d | %10.0f %9.2f %8.2f %11.0f" % (
            pattern, qd, nq, iops, cores, med(runs, "dmn_us"),
            1e6 / max(med(runs, "dmn_us"), 1e-9)))
        sys.stdout.flush()
