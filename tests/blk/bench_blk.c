/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_blk: drive xenbackd's blkback with the simulated blkfront and
 * report IOPS, MB/s and CPU per I/O (daemon and frontend).
 *
 *   bench_blk FILE PATTERN BS QD SECONDS [daemon args...]
 *
 * PATTERN: randread, randwrite, read, write. Prints one line:
 *   pattern bs qd iops mbps daemon_us_per_io front_us_per_io daemon_cores
 *   front_cores busy_cores
 * CPU is time on CPU of every thread (io_uring workers included) over the
 * measured window; busy_cores is the whole machine's (/proc/stat), so
 * busy - daemon - front is what else ran meanwhile.
 * XB_BENCH_GUEST=poll: a guest that costs as little as it can, so that
 * the figure is the backend's. It checks its ring for responses in a loop
 * instead of sleeping on its event channel (a vCPU that never halts: this
 * machine takes tens of microseconds to wake a halted CPU, a round trip
 * fio, the baseline, does not make), and its data stays in the granted
 * pages (no copy to and from its own buffers: the guest has one CPU, which
 * those copies fill at 128 KiB; fio does not touch its buffers either).
 * The backend still sends every notification the guest asks for.
 * Otherwise the guest does what Linux's blkfront does with persistent
 * grants: sleeps until notified, copies through the granted pages.
 * Exit 0, 1 on failure, 77 if the machine lacks something.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blktest.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of pid in seconds, -1 on error. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy (non-idle, non-iowait) seconds of all CPUs, -1 on error. */
static double machine_busy(void)
{
	unsigned long long v[10] = { 0 }, busy = 0;
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		   &v[8], &v[9]);
	fclose(f);
	if (n < 8)
		return -1;
	/* user nice system [idle iowait] irq softirq steal */
	for (int i = 0; i < 8; i++)
		if (i != 3 && i != 4)
			busy += v[i];
	return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * XB_BENCH_HOST_CGROUP=DIR: move the daemon into that (cpuset) cgroup
 * before it does any I/O, so that its workers and the io_uring workers it
 * creates later run on the host's CPUs while we, the guest, stay on ours.
 */
static int host_cgroup(pid_t pid)
{
	const char *dir = getenv("XB_BENCH_HOST_CGROUP");
	char path[512];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	r = fprintf(f, "%d\n", (int)pid) < 0;
	if (fclose(f) || r) {
		fprintf(stderr, "%s: cannot move %d there\n", path, (int)pid);
		return -1;
	}
	return 0;
}

struct slot {
	struct bf_io io;
	void *buf;
	bool busy;
};

static void done(struct bf_io *io)
{
	struct slot *s = io->priv;

	s->busy = false;
}

int main(int argc, char **argv)
{
	const char *file, *pattern;
	unsigned int bs, qd, secs, nq = 1;
	const char *dargs[32];
	int nd = 0;
	struct sf t;
	struct ts_vbd v = { .domid = 1, .devid = 51712, .vdev = "xvda",
			    .discard_enable = -1, .script = true };
	struct bf_opts o = { .persistent = true };
	struct blkfront f;
	char be[128], fe[128];
	struct slot *slots;
	uint64_t seed = 1, seq = 0, ios = 0, span;
	double t0, t1, dc0, dc1, fc0, fc1, mb0, mb1;
	bool rnd, wr;
	const char *guest = getenv("XB_BENCH_GUEST");
	bool lean = guest && !strcmp(guest, "poll");
	int wait_ms = lean ? 0 : 5000;
	int r;

	if (argc < 6) {
		fprintf(stderr, "usage: %s FILE PATTERN BS QD SECONDS "
				"[daemon args]\n",
			argv[0]);
		return 1;
	}
	file = argv[1];
	pattern = argv[2];
	bs = (unsigned int)atoi(argv[3]);
	qd = (unsigned int)atoi(argv[4]);
	secs = (unsigned int)atoi(argv[5]);
	for (int i = 6; i < argc && nd < 30; i++) {
		dargs[nd++] = argv[i];
		if (!strncmp(argv[i], "--blk-max-queues=", 17))
			nq = (unsigned int)atoi(argv[i] + 17);
	}
	dargs[nd] = NULL;
	rnd = !strncmp(pattern, "rand", 4);
	wr = strstr(pattern, "write") != NULL;
	if (bs < 512 || bs % 512 || bs > 1024 * 1024 || !qd) {
		fprintf(stderr, "bad bs/qd\n");
		return 1;
	}
	o.nr_queues = nq;
	o.ring_order = qd > 32 ? 2 : 0;
	o.pool_pages = qd * (bs / 4096 + 2) + 64;
	if (o.ring_order && o.nr_queues > 1)
		o.ring_order = 1;

	r = sf_start(&t, dargs);
	if (r)
		return r;
	if (getenv("XB_BENCH_HOST_CGROUP") && host_cgroup(t.td.pid)) {
		sf_stop(&t);
		return 1;
	}
	v.target = file;
	if (!bt_domain(&t, 1, o.pool_pages + 256) || bt_add_vbd(&t, &v)) {
		sf_stop(&t);
		return 1;
	}
	bt_paths(&v, be, fe);
	r = bf_connect(&f, t.sg[1], t.xs, be, fe, &o, BT_MS);
	if (r) {
		fprintf(stderr, "bf_connect: %s\n", strerror(-r));
		td_dump_log(&t.td);
		sf_stop(&t);
		return 1;
	}
	span = f.sectors * 512 / bs;
	slots = calloc(qd, sizeof(*slots));
	for (unsigned int i = 0; i < qd; i++) {
		slots[i].buf = calloc(1, bs);
		memset(slots[i].buf, (int)i, bs);
	}

	t0 = now_s();
	dc0 = proc_cpu(t.td.pid);
	fc0 = self_cpu();
	mb0 = machine_busy();
	t1 = t0;
	while (t1 - t0 < secs) {
		for (unsigned int i = 0; i < qd; i++) {
			struct slot *s = &slots[i];
			uint64_t blk;

			if (s->busy)
				continue;
			blk = rnd ? bt_rand(&seed) % span : seq++ % span;
			s->io = (struct bf_io){
				.op = wr ? BLKIF_OP_WRITE : BLKIF_OP_READ,
				.sector = blk * (bs / 512),
				.nr_sectors = bs / 512,
				.buf = lean ? NULL : s->buf,
				.queue = -1,
				.done_fn = done,
				.priv = s,
			};
			r = bf_submit(&f, &s->io);
			if (r == -EAGAIN)
				break;
			if (r) {
				fprintf(stderr, "bf_submit: %s\n",
					strerror(-r));
				return 1;
			}
			s->busy = true;
			ios++;
		}
		r = bf_poll(&f, wait_ms);
		if (r == -ETIMEDOUT && !wait_ms)
			r = 0;
		if (r < 0) {
			fprintf(stderr, "bf_poll: %s\n", strerror(-r));
			return 1;
		}
		t1 = now_s();
	}
	bf_drain(&f, BT_MS);
	t1 = now_s();
	dc1 = proc_cpu(t.td.pid);
	fc1 = self_cpu();
	mb1 = machine_busy();
	{
		double el = t1 - t0;
		double iops = (double)ios / el;

		printf("%s %u %u %.0f %.1f %.2f %.2f %.3f %.3f %.3f\n", pattern,
		       bs, qd, iops, iops * bs / 1e6,
		       (dc1 - dc0) * 1e6 / (double)ios,
		       (fc1 - fc0) * 1e6 / (double)ios, (dc1 - dc0) / el,
		       (fc1 - fc0) / el, (mb1 - mb0) / el);
	}
	bf_close(&f, BT_MS);
	for (unsigned int i = 0; i < qd; i++)
		free(slots[i].buf);
	free(slots);
	return sf_stop(&t) ? 1 : 0;
}
