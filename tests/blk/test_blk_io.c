/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkback end to end on the sim platform: a simulated blkfront against
 * xenbackd, one case per argument. Exit 0 pass, 1 fail, 77 skip.
 *
 *   qd1 qd8 qd32 qd128   data integrity at that queue depth, verify pass
 *   ops                  every op: read, write, flush, barrier (empty and
 *                        with data), discard, unknown op
 *   indirect             256-segment requests
 *   persistent           integrity with feature-persistent
 *   multiqueue           4 queues on 2 workers
 *   multipage            ring-page-order 4
 *   abi32                the x86_32 ring layout
 *   noproto              no protocol key: the native default
 *   readonly             mode=r: writes and discards refused, reads fine
 *   discard              punch-hole reads back zeroes; discard-enable=0
 *   flush                flush ordering: data written before a flush is in
 *                        the backing file when the flush answers
 *   aio                  integrity with --blk-engine=aio; a discard (the
 *                        queue's slow thread) reads back zeroes
 *   aio_fallback         io_uring_setup fails (seccomp): libaio is used
 *   uring_forced         same, with --blk-engine=io_uring: connect fails
 *                        cleanly with an error node, daemon stays up
 *   persistent_limit     a small persistent-grant cap and a 1 s idle
 *                        timeout: integrity holds, idle grants unmapped
 *   null                 --blk-engine=null answers OK without I/O
 *   enospc               a backing file on a full filesystem: errors,
 *                        counted, device still serving
 *   memfs                a file on a ramfs: writes and flushes done by the
 *                        worker, not io_uring's threads; integrity, QD 32
 *   sector4k             a 4 KiB logical-sector loop device, served as a
 *                        device (--blk-loop=device): geometry, misaligned
 *                        requests refused, integrity at QD 32, BLKDISCARD
 *   loopfile             a loop device over a whole file is served as
 *                        the file (log, data in the file); one with an
 *                        offset as the device; --blk-loop=device: both
 *                        as devices
 *   resize               the file under a loop device grown, then shrunk
 *                        (losetup -c): new `sectors`, I/O up to the new
 *                        end only; served as the device, then as the
 *                        file; a plain file grown: xenbackctl resize
 *   qdisk                --types vbd,qdisk: a backend/qdisk device as
 *                        libxl writes it (params aio:PATH, no hotplug
 *                        script) next to a vbd, both with integrity
 *   reconnect            close and connect again, data still there
 *   poll                 --blk-poll-us: integrity at QD 1 on 2 queues with
 *                        the polls counted as finding requests; requests
 *                        after gaps longer than the poll window still
 *                        answered (the guest's notification re-armed)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "blktest.h"

#define MiB (1ull << 20)

static struct sf T;
static char img[520];

static struct ts_vbd mkvbd(unsigned int domid, unsigned int devid,
			   const char *target)
{
	struct ts_vbd v = {
		.domid = domid,
		.devid = devid,
		.vdev = "xvda",
		.target = target,
		.discard_enable = -1,
		.script = true,
	};
	return v;
}

/* With the daemon running: image, domain, vbd, connected frontend. */
static int attach(uint64_t size, struct ts_vbd *v, const struct bf_opts *o,
		  struct blkfront *f)
{
	char be[128], fe[128];
	struct sg_domain *sg;
	int r;

	if (!v->target) {
		snprintf(img, sizeof(img), "%s/disk.img", T.td.dir);
		BT_CHECK(bt_image(img, size, true) == 0);
		v->target = img;
	}
	sg = bt_domain(&T, v->domid, 32768);
	BT_CHECK(sg);
	BT_CHECK(bt_add_vbd(&T, v) == 0);
	bt_paths(v, be, fe);
	r = bf_connect(f, sg, T.xs, be, fe, o, BT_MS);
	if (r) {
		fprintf(stderr, "bf_connect: %s\n", strerror(-r));
		td_dump_log(&T.td);
		return 1;
	}
	return 0;
}

/* Starts everything and connects one frontend. 0, 77 or 1. */
static int setup(const char *const *dargs, uint64_t size, struct ts_vbd *v,
		 const struct bf_opts *o, struct blkfront *f)
{
	int r = sf_start(&T, dargs);

	if (r)
		return r;
	return attach(size, v, o, f);
}

static int finish(struct blkfront *f, int ret)
{
	int r = bf_close(f, BT_MS);

	if (r) {
		fprintf(stderr, "bf_close: %s (%llu grants still mapped)\n",
			strerror(-r), f->grant_end_failures);
		ret = 1;
	}
	if (sf_stop(&T))
		ret = 1;
	if (ret)
		td_dump_log(&T.td);
	return ret;
}

static int integrity(const char *const *dargs, const struct bf_opts *o,
		     const struct bt_load *l, uint64_t size)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct blkfront f;
	int r = setup(dargs, size, &v, o, &f);

	if (r)
		return r;
	printf("connected: %u queue(s), ring %u, %u segs/req, persistent %d,"
	       " sectors %llu\n",
	       f.nr_queues, f.q[0].ring_size, f.max_segs, f.persistent,
	       (unsigned long long)f.sectors);
	r = bt_integrity(&f, img, l);
	if (!r) {
		/* The grant counters of xenbackctl: with persistent grants
		 * pages are found mapped (how many depends on the
		 * frontend's pool against the cache), without them none is
		 * and every request maps its pages. */
		long long req = bt_stat(&T, "d1/vbd51712", "requests");
		long long maps = bt_stat(&T, "d1/vbd51712", "grant_maps");
		long long hits = bt_stat(&T, "d1/vbd51712", "persistent_hits");

		printf("requests %lld, grant_maps %lld, persistent_hits %lld\n",
		       req, maps, hits);
		if (f.persistent && !(hits > 0 && maps > 0))
			r = 1;
		if (!f.persistent && !(hits == 0 && maps >= req / 2))
			r = 1;
		if (r)
			fprintf(stderr, "grant counters do not fit\n");
	}
	return finish(&f, r);
}

static int case_qd(unsigned int qd)
{
	struct bf_opts o = { .ring_order = qd > 32 ? 2 : 0 };
	struct bt_load l = {
		.qd = qd,
		.ops = 3000,
		.write_pct = 50,
		.page_offsets = true,
		.seed = qd,
	};

	return integrity(NULL, &o, &l, 32 * MiB);
}

static int case_indirect(void)
{
	struct bf_opts o = { .ring_order = 0 };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct blkfront f;
	uint8_t *w, *rd;
	int r = setup(NULL, 32 * MiB, &v, &o, &f);

	if (r)
		return r;
	BT_CHECK(f.be_max_indirect == 256);
	BT_CHECK(f.max_segs == 256);
	w = malloc(MiB);
	rd = malloc(MiB);
	BT_CHECK(w && rd);
	for (unsigned int i = 0; i < MiB; i++)
		w[i] = (uint8_t)(i * 7 + 3);
	/* 256 whole pages: exactly one 1 MiB indirect request. */
	BT_CHECK(bf_rw(&f, BLKIF_OP_WRITE, 2048, w, 2048) == BLKIF_RSP_OKAY);
	memset(rd, 0, MiB);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 2048, rd, 2048) == BLKIF_RSP_OKAY);
	BT_CHECK(!memcmp(w, rd, MiB));
	/* 257 segments: the frontend refuses; raw indirect with 257 gets
	 * an error from the backend. */
	{
		struct bf_io io = { .op = BLKIF_OP_READ, .sector = 0,
				    .nr_sectors = 2056, .buf = rd };

		BT_CHECK(bf_submit(&f, &io) == -EINVAL);
	}
	{
		struct blkback_x86_64_request_indirect e = {
			.operation = BLKIF_OP_INDIRECT,
			.indirect_op = BLKIF_OP_READ,
			.nr_segments = 257,
		};
		struct bf_io io = { 0 };

		BT_CHECK(bf_submit_raw(&f, 0, &e, sizeof(e), &io, NULL) == 0);
		BT_CHECK(bf_drain(&f, BT_MS) == 0);
		BT_CHECK(io.status == BLKIF_RSP_ERROR);
	}
	free(w);
	free(rd);
	{
		struct bt_load l = { .qd = 16, .ops = 400, .write_pct = 50,
				     .max_sectors = 2048, .seed = 7 };

		r = bt_integrity(&f, img, &l);
	}
	return finish(&f, r);
}

static int case_persistent(void)
{
	struct bf_opts o = { .persistent = true };
	struct bt_load l = { .qd = 32, .ops = 3000, .write_pct = 50,
			     .page_offsets = true, .seed = 11 };

	return integrity(NULL, &o, &l, 32 * MiB);
}

static int case_multiqueue(void)
{
	const char *args[] = { "--workers=2", "--blk-max-queues=4", NULL };
	struct bf_opts o = { .nr_queues = 4, .ring_order = 1 };
	struct bt_load l = { .qd = 64, .ops = 4000, .write_pct = 50,
			     .page_offsets = true, .seed = 13 };

	return integrity(args, &o, &l, 32 * MiB);
}

static int case_multipage(void)
{
	struct bf_opts o = { .ring_order = 4, .persistent = true };
	struct bt_load l = { .qd = 256, .ops = 4000, .write_pct = 50,
			     .max_sectors = 88, .seed = 17 };

	return integrity(NULL, &o, &l, 32 * MiB);
}

static int case_abi32(void)
{
	struct bf_opts o = { .abi = BLKBACK_ABI_X86_32 };
	struct bt_load l = { .qd = 32, .ops = 2000, .write_pct = 50,
			     .page_offsets = true, .seed = 19 };

	return integrity(NULL, &o, &l, 16 * MiB);
}

static int case_noproto(void)
{
	struct bf_opts o = { .no_protocol = true };
	struct bt_load l = { .qd = 8, .ops = 500, .write_pct = 50,
			     .seed = 23 };

	return integrity(NULL, &o, &l, 8 * MiB);
}

static int case_poll(void)
{
	const char *args[] = { "--blk-poll-us=1000", "--workers=2",
			       "--blk-max-queues=2", NULL };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { .nr_queues = 2, .persistent = true };
	struct bt_load l = { .qd = 1, .ops = 2000, .write_pct = 50,
			     .page_offsets = true, .seed = 37 };
	struct blkfront f;
	static uint8_t buf[4096];
	long long misses;
	int r = setup(args, 16 * MiB, &v, &o, &f);

	if (r)
		return r;
	r = bt_integrity(&f, img, &l);
	if (r)
		return finish(&f, r);
	/* The guest answers each response with its next request well
	 * within 1 ms: some are taken by a poll, without a notification. */
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "poll_hits") > 0);
	/* Counters are read once the last poll window is over. */
	usleep(3000);
	misses = bt_stat(&T, "d1/vbd51712", "poll_misses");
	BT_CHECK(misses >= 0);
	for (unsigned int i = 0; i < 20; i++) {
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, i * 8, buf, 8) ==
			 BLKIF_RSP_OKAY);
		/* Longer than the poll window: it ends empty, and only the
		 * notification it asked for then brings the next request. */
		usleep(3000);
	}
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "poll_misses") >= misses + 20);
	return finish(&f, 0);
}

/* True if the daemon log contains s. */
static bool log_has(const char *s)
{
	static char buf[1 << 20];
	FILE *fp = fopen(T.td.log_path, "r");
	size_t n;

	if (!fp)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = 0;
	fclose(fp);
	return strstr(buf, s) != NULL;
}

static int case_aio(void)
{
	const char *args[] = { "--blk-engine=aio", NULL };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { .ring_order = 1 };
	struct bt_load l = { .qd = 32, .ops = 3000, .write_pct = 50,
			     .page_offsets = true, .seed = 29 };
	struct blkfront f;
	int r = setup(args, 32 * MiB, &v, &o, &f);

	if (r)
		return r;
	BT_CHECK(log_has("engine libaio"));
	r = bt_integrity(&f, img, &l);
	if (!r) {
		/* libaio has no fallocate: the discard goes to the queue's
		 * slow thread; the flush behind it waits for it. */
		static uint8_t z[MiB];
		struct bf_io d = { .op = BLKIF_OP_DISCARD, .sector = 2048,
				   .nr_sectors = 2048, .queue = -1 };

		BT_CHECK(f.feat_discard);
		BT_CHECK(bf_sync(&f, &d, BT_MS) == BLKIF_RSP_OKAY);
		BT_CHECK(bf_rw(&f, BLKIF_OP_FLUSH_DISKCACHE, 0, NULL, 0) == 0);
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 2048, z, 2048) == 0);
		for (size_t i = 0; i < sizeof(z); i++)
			BT_CHECK(z[i] == 0);
	}
	return finish(&f, r);
}

/* Point XB_DAEMON at blk-nouring (next to us), which runs the real one. */
static int use_nouring(void)
{
	static char self[512], wrap[600];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(wrap, sizeof(wrap), "%s/blk-nouring", self);
	if (access(wrap, X_OK))
		return -1;
	setenv("XB_REAL_DAEMON", getenv("XB_DAEMON") ?: "xenbackd", 1);
	setenv("XB_DAEMON", wrap, 1);
	return 0;
}

static int case_aio_fallback(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct bt_load l = { .qd = 16, .ops = 1000, .write_pct = 50,
			     .seed = 37 };
	struct blkfront f;
	int r;

	BT_CHECK(use_nouring() == 0);
	r = setup(NULL, 16 * MiB, &v, &o, &f);
	if (r)
		return r;
	BT_CHECK(log_has("io_uring unavailable, using libaio"));
	BT_CHECK(log_has("engine libaio"));
	r = bt_integrity(&f, img, &l);
	return finish(&f, r);
}

static int case_uring_forced(void)
{
	const char *args[] = { "--blk-engine=io_uring", NULL };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	char be[128], fe[128], errp[300];
	struct blkfront f;
	int r;

	BT_CHECK(use_nouring() == 0);
	r = sf_start(&T, args);
	if (r)
		return r;
	snprintf(img, sizeof(img), "%s/disk.img", T.td.dir);
	BT_CHECK(bt_image(img, MiB, false) == 0);
	v.target = img;
	BT_CHECK(bt_domain(&T, 1, 4096));
	BT_CHECK(bt_add_vbd(&T, &v) == 0);
	bt_paths(&v, be, fe);
	BT_CHECK(bf_connect(&f, T.sg[1], T.xs, be, fe, NULL, 3000) ==
		 -ETIMEDOUT);
	snprintf(errp, sizeof(errp), "/local/domain/0/error%s/error",
		 strstr(be, "/backend/"));
	BT_CHECK(ts_wait_exists(T.xs, errp, true, BT_MS) == 0);
	BT_CHECK(td_alive(&T.td));
	BT_CHECK(ts_write(T.xs, fe, "state", "6") == 0);
	bf_release(&f);
	BT_CHECK(f.grant_end_failures == 0);
	return sf_stop(&T) ? 1 : 0;
}

/* The daemon's purges ("unmapped N idle persistent grants"): their count,
 * the grants they unmapped and the most one unmapped; -1 if no log. */
static int purges(unsigned int *total, unsigned int *most)
{
	static const char key[] = "unmapped ";
	char line[512];
	FILE *fp = fopen(T.td.log_path, "r");
	int n = 0;

	*total = *most = 0;
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		const char *p = strstr(line, key);
		unsigned int k;

		if (!p || !strstr(p, " idle persistent grants") ||
		    sscanf(p + sizeof(key) - 1, "%u", &k) != 1)
			continue;
		n++;
		*total += k;
		if (k > *most)
			*most = k;
	}
	fclose(fp);
	return n;
}

static int case_persistent_limit(void)
{
	const char *args[] = { "--blk-max-persistent=64",
			       "--blk-persistent-idle=1", "--log-level=debug",
			       NULL };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { .persistent = true };
	struct bt_load l = { .qd = 32, .ops = 2000, .write_pct = 50,
			     .page_offsets = true, .seed = 41 };
	struct blkfront f;
	unsigned int granted = 0, mapped = 0;
	int r = setup(args, 16 * MiB, &v, &o, &f);

	if (r)
		return r;
	BT_CHECK(f.persistent);
	r = bt_integrity(&f, img, &l);
	if (r)
		return finish(&f, r);
	/* Past the cap, the rest were mapped per request: at most 64 of
	 * the frontend's grants are held now. */
	for (unsigned int i = 0; i < f.nr_pages; i++) {
		int fl;

		if (f.pages[i].pref < 0)
			continue;
		granted++;
		fl = sg_grant_flags(f.sg, (uint32_t)f.pages[i].pref);
		if (fl > 0 && (fl & (GTF_reading | GTF_writing)))
			mapped++;
	}
	printf("%u persistent grants offered, %u mapped\n", granted, mapped);
	BT_CHECK(granted > 64);
	BT_CHECK(mapped <= 64);
	/* Past the cap, pages were mapped per request, and the cache served
	 * the rest. */
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "grant_maps") > 64);
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "persistent_hits") > 0);
	/* Idle for more than the timeout: all unmapped. */
	sleep(3);
	mapped = 0;
	for (unsigned int i = 0; i < f.nr_pages; i++) {
		int fl;

		if (f.pages[i].pref < 0)
			continue;
		fl = sg_grant_flags(f.sg, (uint32_t)f.pages[i].pref);
		if (fl > 0 && (fl & (GTF_reading | GTF_writing)))
			mapped++;
	}
	printf("after idle: %u mapped\n", mapped);
	BT_CHECK(mapped == 0);
	/* The 64 that went idle together went in purges of at most 32. */
	{
		unsigned int total, most;
		int n = purges(&total, &most);

		printf("%d purges unmapped %u grants, at most %u at once\n", n,
		       total, most);
		BT_CHECK(n >= 2 && total >= 64 && most <= 32);
	}
	l.seed = 43;
	l.ops = 500;
	r = bt_integrity(&f, img, &l);
	return finish(&f, r);
}

static int case_ops(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct blkfront f;
	uint8_t buf[8192], rd[8192];
	int r = setup(NULL, 8 * MiB, &v, &o, &f);

	if (r)
		return r;
	BT_CHECK(f.feat_flush && f.feat_barrier && f.feat_discard &&
		 f.feat_persistent);
	BT_CHECK(f.sector_size == 512);
	BT_CHECK(f.sectors == 8 * MiB / 512);
	BT_CHECK(f.info == 0);
	memset(buf, 0xa5, sizeof(buf));
	BT_CHECK(bf_rw(&f, BLKIF_OP_WRITE, 100, buf, 16) == BLKIF_RSP_OKAY);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 100, rd, 16) == BLKIF_RSP_OKAY);
	BT_CHECK(!memcmp(buf, rd, sizeof(buf)));
	/* Flush, empty and with data; barrier, empty and with data. */
	{
		struct bf_io io = { .op = BLKIF_OP_FLUSH_DISKCACHE, .queue = -1 };

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		BT_CHECK(io.rsp_op == BLKIF_OP_FLUSH_DISKCACHE);
		io.op = BLKIF_OP_WRITE_BARRIER;
		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		memset(buf, 0x5a, sizeof(buf));
		io = (struct bf_io){ .op = BLKIF_OP_FLUSH_DISKCACHE,
				     .sector = 200, .nr_sectors = 16,
				     .buf = buf, .queue = -1 };
		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		io.op = BLKIF_OP_WRITE_BARRIER;
		io.sector = 300;
		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 200, rd, 16) == 0);
		BT_CHECK(!memcmp(buf, rd, sizeof(buf)));
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 300, rd, 16) == 0);
		BT_CHECK(!memcmp(buf, rd, sizeof(buf)));
	}
	/* Discard: reads back zeroes. */
	{
		struct bf_io io = { .op = BLKIF_OP_DISCARD, .sector = 96,
				    .nr_sectors = 32, .queue = -1 };
		uint8_t z[16384];

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 96, z, 32) == 0);
		for (size_t i = 0; i < sizeof(z); i++)
			BT_CHECK(z[i] == 0);
	}
	/* Unknown and reserved ops: EOPNOTSUPP, echoing the op. */
	for (uint8_t op = 4; op < 12; op++) {
		struct blkback_x86_64_request e = { .operation = op,
						    .nr_segments = 1 };
		struct bf_io io = { 0 };

		if (op == BLKIF_OP_DISCARD || op == BLKIF_OP_INDIRECT)
			continue;
		BT_CHECK(bf_submit_raw(&f, 0, &e, sizeof(e), &io, NULL) == 0);
		BT_CHECK(bf_drain(&f, BT_MS) == 0);
		BT_CHECK(io.status == BLKIF_RSP_EOPNOTSUPP);
		BT_CHECK(io.rsp_op == op);
	}
	/* Reading past the end: error, nothing else happens. */
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, f.sectors - 4, rd, 8) ==
		 BLKIF_RSP_ERROR);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, f.sectors - 8, rd, 8) ==
		 BLKIF_RSP_OKAY);
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "errors") >= 1);
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "requests") > 10);
	return finish(&f, 0);
}

static int case_readonly(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct blkfront f;
	uint8_t buf[4096];
	int r;

	v.readonly = true;
	r = setup(NULL, 8 * MiB, &v, &o, &f);
	if (r)
		return r;
	BT_CHECK(f.info & VDISK_READONLY);
	BT_CHECK(!f.feat_discard);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 0, buf, 8) == BLKIF_RSP_OKAY);
	BT_CHECK(bf_rw(&f, BLKIF_OP_WRITE, 0, buf, 8) == BLKIF_RSP_ERROR);
	{
		struct bf_io io = { .op = BLKIF_OP_FLUSH_DISKCACHE, .sector = 0,
				    .nr_sectors = 8, .buf = buf, .queue = -1 };

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_ERROR);
		io = (struct bf_io){ .op = BLKIF_OP_DISCARD, .sector = 0,
				     .nr_sectors = 8, .queue = -1 };
		BT_CHECK(bf_sync(&f, &io, BT_MS) != BLKIF_RSP_OKAY);
		io = (struct bf_io){ .op = BLKIF_OP_FLUSH_DISKCACHE,
				     .queue = -1 };
		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
	}
	{
		/* An indirect write too. */
		static uint8_t big[128 * 1024];
		int st = bf_rw(&f, BLKIF_OP_WRITE, 0, big, 256);

		BT_CHECK(st == BLKIF_RSP_ERROR);
	}
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 0, buf, 8) == BLKIF_RSP_OKAY);
	return finish(&f, 0);
}

static int case_discard(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct ts_vbd v2;
	struct bf_opts o = { 0 };
	struct blkfront f, f2;
	char be[128], fe[128];
	static uint8_t buf[MiB];
	struct stat st1, st2;
	int r = setup(NULL, 16 * MiB, &v, &o, &f);

	if (r)
		return r;
	BT_CHECK(f.feat_discard);
	BT_CHECK(f.discard_granularity >= 512);
	BT_CHECK(stat(img, &st1) == 0);
	{
		struct bf_io io = { .op = BLKIF_OP_DISCARD, .sector = 2048,
				    .nr_sectors = 4096, .queue = -1 };

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
	}
	BT_CHECK(stat(img, &st2) == 0);
	BT_CHECK(st2.st_size == st1.st_size);       /* KEEP_SIZE */
	BT_CHECK(st2.st_blocks < st1.st_blocks);    /* a real hole */
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 2048, buf, 2048) == 0);
	for (size_t i = 0; i < MiB; i++)
		BT_CHECK(buf[i] == 0);
	/* An unaligned partial range still reads back zeroes. */
	{
		struct bf_io io = { .op = BLKIF_OP_DISCARD, .sector = 9001,
				    .nr_sectors = 3, .queue = -1 };
		uint8_t z[1536];

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 9001, z, 3) == 0);
		for (size_t i = 0; i < sizeof(z); i++)
			BT_CHECK(z[i] == 0);
		BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 9000, z, 1) == 0);
		BT_CHECK(z[0] | z[1] | z[2] | z[3]); /* untouched */
	}
	/* Past the end: error. */
	{
		struct bf_io io = { .op = BLKIF_OP_DISCARD,
				    .sector = f.sectors - 1, .nr_sectors = 2,
				    .queue = -1 };

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_ERROR);
		io.sector = ~0ull - 1;
		io.nr_sectors = 4;
		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_ERROR);
	}
	/* A second device with discard-enable=0 offers no discard. */
	v2 = mkvbd(1, 51728, img);
	v2.vdev = "xvdb";
	v2.discard_enable = 0;
	BT_CHECK(bt_add_vbd(&T, &v2) == 0);
	bt_paths(&v2, be, fe);
	BT_CHECK(bf_connect(&f2, T.sg[1], T.xs, be, fe, &o, BT_MS) == 0);
	BT_CHECK(!f2.feat_discard);
	{
		struct bf_io io = { .op = BLKIF_OP_DISCARD, .sector = 0,
				    .nr_sectors = 8, .queue = -1 };

		BT_CHECK(bf_sync(&f2, &io, BT_MS) == BLKIF_RSP_EOPNOTSUPP);
	}
	BT_CHECK(bf_close(&f2, BT_MS) == 0);
	return finish(&f, 0);
}

/*
 * Flush ordering: writes the guest saw complete, then a flush; when the
 * flush answers, the data is in the backing file, and a barrier is not
 * answered before the writes queued ahead of it.
 */
static int case_flush(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { .ring_order = 1 };
	struct blkfront f;
	struct bf_io ios[32], fl = { .op = BLKIF_OP_WRITE_BARRIER,
				     .queue = -1 };
	static uint8_t data[32][4096];
	int fd, r = setup(NULL, 8 * MiB, &v, &o, &f);

	if (r)
		return r;
	for (unsigned int round = 0; round < 20; round++) {
		for (unsigned int i = 0; i < 32; i++) {
			memset(data[i], (int)(round * 32 + i), 4096);
			ios[i] = (struct bf_io){ .op = BLKIF_OP_WRITE,
						 .sector = (uint64_t)i * 64 +
							   round,
						 .nr_sectors = 8,
						 .buf = data[i],
						 .queue = -1 };
			BT_CHECK(bf_submit(&f, &ios[i]) == 0);
		}
		/* Barrier right behind them, not waiting. */
		fl.done = false;
		BT_CHECK(bf_submit(&f, &fl) == 0);
		while (!fl.done)
			BT_CHECK(bf_poll(&f, BT_MS) >= 0);
		BT_CHECK(fl.status == BLKIF_RSP_OKAY);
		for (unsigned int i = 0; i < 32; i++)
			BT_CHECK(ios[i].done && ios[i].status == 0);
		/* And through a normal read of the file: */
		fd = open(img, O_RDONLY);
		for (unsigned int i = 0; i < 32; i++) {
			uint8_t b[4096];

			BT_CHECK(pread(fd, b, 4096,
				       (off_t)((uint64_t)i * 64 + round) *
					       512) == 4096);
			BT_CHECK(!memcmp(b, data[i], 4096));
		}
		close(fd);
	}
	return finish(&f, 0);
}

static int case_null(void)
{
	const char *args[] = { "--blk-engine=null", NULL };
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct blkfront f;
	uint8_t buf[4096];
	int r = setup(args, 8 * MiB, &v, &o, &f);

	if (r)
		return r;
	memset(buf, 1, sizeof(buf));
	BT_CHECK(bf_rw(&f, BLKIF_OP_WRITE, 0, buf, 8) == BLKIF_RSP_OKAY);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 0, buf, 8) == BLKIF_RSP_OKAY);
	{
		struct bf_io io = { .op = BLKIF_OP_FLUSH_DISKCACHE, .queue = -1 };

		BT_CHECK(bf_sync(&f, &io, BT_MS) == BLKIF_RSP_OKAY);
	}
	/* Validation still applies. */
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, f.sectors, buf, 8) ==
		 BLKIF_RSP_ERROR);
	return finish(&f, 0);
}

static int case_reconnect(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { .persistent = true };
	struct blkfront f;
	char be[128], fe[128];
	uint8_t buf[4096], rd[4096];
	int r = setup(NULL, 8 * MiB, &v, &o, &f);

	if (r)
		return r;
	memset(buf, 0x77, sizeof(buf));
	BT_CHECK(bf_rw(&f, BLKIF_OP_WRITE, 64, buf, 8) == 0);
	BT_CHECK(bf_close(&f, BT_MS) == 0);
	bt_paths(&v, be, fe);
	BT_CHECK(ts_write(T.xs, fe, "state", "1") == 0);
	o.persistent = false;
	o.ring_order = 2;
	BT_CHECK(bf_connect(&f, T.sg[1], T.xs, be, fe, &o, BT_MS) == 0);
	BT_CHECK(bf_rw(&f, BLKIF_OP_READ, 64, rd, 8) == 0);
	BT_CHECK(!memcmp(buf, rd, sizeof(rd)));
	return finish(&f, 0);
}

/*
 * Starts the daemon with a fresh fstype (mount options opts) mounted at
 * <test dir>/fs, whose path goes to mnt: 0, 77 (cannot mount here) or 1.
 */
static int start_mounted(const char *fstype, const char *opts, char *mnt,
			 size_t size)
{
	int r = sf_start(&T, NULL);

	if (r)
		return r;
	snprintf(mnt, size, "%s/fs", T.td.dir);
	mkdir(mnt, 0700);
	if (mount("xbtest", mnt, fstype, 0, opts) < 0) {
		printf("SKIP: cannot mount a %s: %s\n", fstype,
		       strerror(errno));
		sf_stop(&T);
		return 77;
	}
	return 0;
}

/* Ends a case of start_mounted: f connected (finish) or not (NULL). */
static int finish_mounted(struct blkfront *f, const char *mnt, int ret)
{
	if (f) {
		/* Lazily: the daemon still has the file open. */
		umount2(mnt, MNT_DETACH);
		return finish(f, ret);
	}
	sf_stop(&T);
	umount2(mnt, MNT_DETACH);
	return ret;
}

static int case_enospc(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct blkfront f;
	char mnt[400];
	static char file[500];
	static uint8_t buf[44 * 1024], rd[44 * 1024];
	unsigned int errors = 0, oks = 0;
	uint64_t s;
	int r;

	r = start_mounted("tmpfs", "size=1m", mnt, sizeof(mnt));
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/disk.img", mnt);
	BT_CHECK(bt_image(file, 16 * MiB, false) == 0); /* sparse */
	v.target = file;
	snprintf(img, sizeof(img), "%s", file);
	r = attach(0, &v, &o, &f);
	if (r)
		goto out;
	/* Fill sequentially until the filesystem is full. */
	for (s = 0; s + 88 <= f.sectors; s += 88) {
		memset(buf, (int)(s / 88 + 1), sizeof(buf));
		r = bf_rw(&f, BLKIF_OP_WRITE, s, buf, 88);
		if (r == BLKIF_RSP_OKAY)
			oks++;
		else if (r == BLKIF_RSP_ERROR)
			errors++;
		else
			break;
		if (errors > 8)
			break;
	}
	r = 1;
	printf("%u writes OK, %u refused\n", oks, errors);
	if (errors == 0 || oks == 0) {
		fprintf(stderr, "expected both successes and ENOSPC\n");
		goto out_close;
	}
	/* Everything acknowledged is there; the device still serves. */
	for (uint64_t k = 0; k < oks; k++) {
		memset(buf, (int)(k + 1), sizeof(buf));
		if (bf_rw(&f, BLKIF_OP_READ, k * 88, rd, 88) != 0 ||
		    memcmp(buf, rd, sizeof(rd))) {
			fprintf(stderr, "acknowledged write %llu lost\n",
				(unsigned long long)k);
			goto out_close;
		}
	}
	if (bt_stat(&T, "d1/vbd51712", "errors") < errors) {
		fprintf(stderr, "errors not counted\n");
		goto out_close;
	}
	r = 0;
out_close:
	return finish_mounted(&f, mnt, r);
out:
	return finish_mounted(NULL, mnt, r);
}

/* Threads of the daemon whose name starts with prefix; -1 on error. */
static int daemon_threads(const char *prefix)
{
	char path[64], comm[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)T.td.pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char cp[340];
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		snprintf(cp, sizeof(cp), "%s/%s/comm", path, e->d_name);
		fp = fopen(cp, "r");
		if (fp && fgets(comm, sizeof(comm), fp) &&
		    !strncmp(comm, prefix, strlen(prefix)))
			n++;
		if (fp)
			fclose(fp);
	}
	closedir(d);
	return n;
}

/*
 * A file on a memory filesystem (ramfs: buffered, no O_DIRECT on any
 * kernel) has its writes and flushes done by the worker (io_uring would
 * hand each to a thread of its own): writes and flushes answered with no
 * io_uring worker thread started, the log says so, then integrity at
 * QD 32.
 */
static int case_memfs(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct bt_load l = { .qd = 32, .ops = 3000, .write_pct = 60,
			     .page_offsets = true, .seed = 41 };
	static uint8_t buf[24 * 512];
	struct blkfront f;
	char mnt[400];
	int r, n;

	r = start_mounted("ramfs", NULL, mnt, sizeof(mnt));
	if (r)
		return r;
	snprintf(img, sizeof(img), "%s/disk.img", mnt);
	BT_CHECK(bt_image(img, 16 * MiB, true) == 0);
	v.target = img;
	r = attach(0, &v, &o, &f);
	if (r)
		goto out;
	/* Writes and flushes only, first: reads may go to io_uring's
	 * threads on some kernels (ramfs without FMODE_NOWAIT), writes
	 * never should. */
	for (unsigned int i = 0; !r && i < 64; i++) {
		memset(buf, (int)i + 1, sizeof(buf));
		if (bf_rw(&f, BLKIF_OP_WRITE, (uint64_t)i * 24, buf, 24) != 0 ||
		    (i % 8 == 7 &&
		     bf_rw(&f, BLKIF_OP_FLUSH_DISKCACHE, 0, NULL, 0) != 0))
			r = 1;
	}
	n = daemon_threads("iou-wrk");
	printf("after 64 writes and 8 flushes: %d io_uring worker threads\n",
	       n);
	if (!r && n != 0) {
		fprintf(stderr, "writes went through io_uring's workers\n");
		r = 1;
	}
	if (!r && !log_has("memory filesystem: writes inline")) {
		fprintf(stderr, "the log does not say writes are inline\n");
		r = 1;
	}
	if (!r)
		r = bt_integrity(&f, img, &l);
	return finish_mounted(&f, mnt, r);
out:
	return finish_mounted(NULL, mnt, r);
}

/*
 * backend/qdisk as libxl writes it for backendtype=qdisk (the type QEMU
 * would serve): params "aio:<file>", type qdisk, no hotplug script. Served
 * with --types vbd,qdisk alongside a vbd of the same guest.
 */
static int case_qdisk(void)
{
	static const char *const dargs[] = {"--types=vbd,qdisk", NULL};
	static char qimg[520], qparams[540], vimg[520];
	struct ts_vbd q = mkvbd(1, 51712, NULL), v = mkvbd(1, 51728, NULL);
	struct bf_opts o = {.persistent = true};
	struct bt_load l = {.qd = 16,
			    .ops = 1500,
			    .write_pct = 50,
			    .page_offsets = true,
			    .seed = 9};
	struct blkfront fq, fv;
	char be[128], fe[128], buf[64];
	struct sg_domain *sg;
	int r = sf_start(&T, dargs);

	if (r)
		return r;
	snprintf(qimg, sizeof(qimg), "%s/qdisk.img", T.td.dir);
	snprintf(qparams, sizeof(qparams), "aio:%s", qimg);
	snprintf(vimg, sizeof(vimg), "%s/vbd.img", T.td.dir);
	BT_CHECK(bt_image(qimg, 8 * MiB, true) == 0);
	BT_CHECK(bt_image(vimg, 4 * MiB, true) == 0);
	sg = bt_domain(&T, 1, 32768);
	BT_CHECK(sg);

	q.type = "qdisk";
	q.target = qparams;
	q.script = false;
	BT_CHECK(ts_vbd_add(T.xs, &q) == 0);
	bt_paths(&q, be, fe);
	BT_CHECK(ts_write(T.xs, be, "type", "qdisk") == 0);
	BT_CHECK(ts_wait_state(T.xs, be, XenbusStateInitWait, BT_MS) == 0);
	/* Published like a vbd: the same probe. */
	BT_CHECK(ts_read_int(T.xs, be, "feature-max-indirect-segments") > 0);
	BT_CHECK(bf_connect(&fq, sg, T.xs, be, fe, &o, BT_MS) == 0);
	BT_CHECK(fq.sectors == 8 * MiB / 512);
	BT_CHECK(fq.persistent);

	v.vdev = "xvdb";
	v.target = vimg;
	BT_CHECK(bt_add_vbd(&T, &v) == 0);
	bt_paths(&v, be, fe);
	BT_CHECK(bf_connect(&fv, sg, T.xs, be, fe, &o, BT_MS) == 0);
	BT_CHECK(fv.sectors == 4 * MiB / 512);

	BT_CHECK(bt_integrity(&fq, qimg, &l) == 0);
	l.seed = 10;
	BT_CHECK(bt_integrity(&fv, vimg, &l) == 0);
	snprintf(buf, sizeof(buf), "d1/qdisk51712");
	printf("qdisk: %lld requests served\n", bt_stat(&T, buf, "requests"));
	BT_CHECK(bt_stat(&T, buf, "requests") >= l.ops);
	BT_CHECK(bf_close(&fv, BT_MS) == 0);
	return finish(&fq, 0);
}

static int sh(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	if (!p)
		return -1;
	if (out) {
		n = fread(out, 1, len - 1, p);
		out[n] = 0;
		while (n && (out[n - 1] == '\n'))
			out[--n] = 0;
	}
	return pclose(p) == 0 ? 0 : -1;
}

static const char *const loop_dev_args[] = {"--blk-loop=device", NULL};

static void loop_detach(const char *loopdev)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
	sh(cmd, NULL, 0);
}

static int case_sector4k(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = { 0 };
	struct blkfront f;
	char cmd[700], loopdev[64];
	static char file[500];
	static uint8_t buf[64 * 1024], rd[64 * 1024];
	int r;

	/* The loop as a block device (not its file): the block-device path. */
	r = sf_start(&T, loop_dev_args);
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/disk4k.img", T.td.dir);
	BT_CHECK(bt_image(file, 16 * MiB, true) == 0);
	snprintf(cmd, sizeof(cmd),
		 "losetup -b 4096 --find --show '%s' 2>/dev/null", file);
	if (sh(cmd, loopdev, sizeof(loopdev)) || !loopdev[0]) {
		printf("SKIP: no loop device with 4 KiB sectors\n");
		sf_stop(&T);
		return 77;
	}
	v.target = loopdev;
	snprintf(img, sizeof(img), "%s", loopdev);
	r = attach(0, &v, &o, &f);
	if (r)
		goto out;
	r = 1;
	if (f.sector_size != 4096 || f.phys_sector_size < 4096 ||
	    f.sectors != 16 * MiB / 512) {
		fprintf(stderr, "sector-size %u physical %u sectors %llu\n",
			f.sector_size, f.phys_sector_size,
			(unsigned long long)f.sectors);
		goto out_close;
	}
	memset(buf, 0x3c, sizeof(buf));
	if (bf_rw(&f, BLKIF_OP_WRITE, 8, buf, 128) != 0 ||
	    bf_rw(&f, BLKIF_OP_READ, 8, rd, 128) != 0 ||
	    memcmp(buf, rd, sizeof(rd))) {
		fprintf(stderr, "aligned I/O failed\n");
		goto out_close;
	}
	/* Less than a logical sector, or not on one: refused. */
	if (bf_rw(&f, BLKIF_OP_WRITE, 8, buf, 1) != BLKIF_RSP_ERROR ||
	    bf_rw(&f, BLKIF_OP_READ, 9, rd, 8) != BLKIF_RSP_ERROR) {
		fprintf(stderr, "misaligned I/O accepted\n");
		goto out_close;
	}
	/* Integrity under load, every request on whole 4 KiB sectors. */
	{
		struct bt_load l = {.qd = 32,
				    .ops = 3000,
				    .write_pct = 50,
				    .align = 8,
				    .seed = 44};

		if (bt_integrity(&f, loopdev, &l))
			goto out_close;
	}
	/* BLKDISCARD on the device: the loop punches a hole, zeroes read. */
	if (!f.feat_discard) {
		fprintf(stderr, "the loop device offers no discard\n");
		goto out_close;
	} else {
		struct bf_io io = { .op = BLKIF_OP_DISCARD, .sector = 4096,
				    .nr_sectors = 2048, .queue = -1 };

		if (bf_sync(&f, &io, BT_MS) != BLKIF_RSP_OKAY ||
		    bf_rw(&f, BLKIF_OP_READ, 4096, rd, 128) != 0) {
			fprintf(stderr, "discard on the device failed\n");
			goto out_close;
		}
		for (size_t i = 0; i < sizeof(rd); i++)
			if (rd[i]) {
				fprintf(stderr, "discarded range not zero\n");
				goto out_close;
			}
	}
	if (!log_has("direct I/O, sector 4096/4096") || log_has("serving the file")) {
		fprintf(stderr, "not served as the block device\n");
		goto out_close;
	}
	r = 0;
out_close:
	r = finish(&f, r);
	loop_detach(loopdev);
	return r;
out:
	sf_stop(&T);
	loop_detach(loopdev);
	return r;
}

/*
 * What the block hotplug script makes of a file target: a loop device.
 * Over a whole file it is served as the file itself (--blk-loop=file, the
 * default): the log says so and the data is in the file. A loop with an
 * offset is served as the device: a write at sector 0 lands 1 MiB into its
 * file. With --blk-loop=device (second run) the whole-file loop is served
 * as the device too.
 */
static int loopfile_run(bool bypass)
{
	static const char *const dev_args[] = {"--blk-loop=device", NULL};
	struct ts_vbd v = mkvbd(1, 51712, NULL), w = mkvbd(1, 51728, NULL);
	struct bf_opts o = {.persistent = true};
	struct bt_load l = {.qd = 32,
			    .ops = 2000,
			    .write_pct = 50,
			    .page_offsets = true,
			    .seed = bypass ? 61 : 62};
	static char whole[500], offs[500], msg[700], cmd[700];
	static uint8_t buf[64 * 1024], rd[64 * 1024];
	char loop1[64] = "", loop2[64] = "", be[128], fe[128];
	struct blkfront f, g;
	int fd, r = sf_start(&T, bypass ? NULL : dev_args);

	if (r)
		return r;
	snprintf(whole, sizeof(whole), "%s/whole.img", T.td.dir);
	snprintf(offs, sizeof(offs), "%s/offset.img", T.td.dir);
	BT_CHECK(bt_image(whole, 16 * MiB, true) == 0);
	BT_CHECK(bt_image(offs, 16 * MiB, true) == 0);
	snprintf(cmd, sizeof(cmd), "losetup --find --show '%s' 2>/dev/null",
		 whole);
	if (sh(cmd, loop1, sizeof(loop1)) || !loop1[0]) {
		printf("SKIP: no loop devices here\n");
		sf_stop(&T);
		return 77;
	}
	snprintf(cmd, sizeof(cmd),
		 "losetup -o 1048576 --find --show '%s' 2>/dev/null", offs);
	r = 1;
	if (sh(cmd, loop2, sizeof(loop2)) || !loop2[0]) {
		fprintf(stderr, "losetup -o failed\n");
		goto out;
	}
	v.target = loop1;
	if (attach(0, &v, &o, &f))
		goto out;
	snprintf(msg, sizeof(msg),
		 "%s is a loop device over %s: serving the file directly",
		 loop1, whole);
	if (log_has(msg) != bypass) {
		fprintf(stderr, "log %s '%s'\n", bypass ? "lacks" : "has",
			msg);
		goto out_f;
	}
	if (f.sectors != 16 * MiB / 512 || bt_integrity(&f, whole, &l))
		goto out_f;

	w.vdev = "xvdb";
	w.target = loop2;
	bt_paths(&w, be, fe);
	if (bt_add_vbd(&T, &w) ||
	    bf_connect(&g, T.sg[1], T.xs, be, fe, &o, BT_MS)) {
		fprintf(stderr, "the offset loop did not connect\n");
		goto out_f;
	}
	if (log_has(offs) || g.sectors != 15 * MiB / 512) {
		fprintf(stderr, "offset loop: %llu sectors, or served as file\n",
			(unsigned long long)g.sectors);
		goto out_g;
	}
	memset(buf, 0xa7, sizeof(buf));
	if (bf_rw(&g, BLKIF_OP_WRITE, 0, buf, 128) != 0 ||
	    bf_rw(&g, BLKIF_OP_FLUSH_DISKCACHE, 0, NULL, 0) != 0) {
		fprintf(stderr, "write through the offset loop failed\n");
		goto out_g;
	}
	fd = open(offs, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, rd, sizeof(rd), 1048576) != sizeof(rd) ||
	    memcmp(buf, rd, sizeof(rd))) {
		fprintf(stderr, "sector 0 of the offset loop is not at 1 MiB\n");
		if (fd >= 0)
			close(fd);
		goto out_g;
	}
	close(fd);
	r = 0;
out_g:
	if (bf_close(&g, BT_MS))
		r = 1;
out_f:
	r = finish(&f, r);
	goto detach;
out:
	sf_stop(&T);
detach:
	snprintf(cmd, sizeof(cmd), "losetup -d %s %s 2>/dev/null", loop1,
		 loop2);
	sh(cmd, NULL, 0);
	return r;
}

static int case_loopfile(void)
{
	int r = loopfile_run(true);

	if (r)
		return r;
	memset(&T, 0, sizeof(T)); /* a new daemon in a new directory */
	return loopfile_run(false);
}

/* Wait until the backend's `sectors` is want; the last value read. */
static long wait_sectors(struct ts_vbd *v, long want)
{
	char be[128], fe[128];
	long long t = ts_now_ms();
	long n;

	bt_paths(v, be, fe);
	while ((n = ts_read_int(T.xs, be, "sectors")) != want &&
	       ts_now_ms() - t < 5000)
		usleep(20000);
	return n;
}

/* Set the file's size and tell its loop device (losetup -c: the kernel's
 * change uevent, as lvextend's for a volume). 0 or 1. */
static int regrow(const char *file, const char *loopdev, uint64_t size)
{
	char cmd[700];

	if (truncate(file, (off_t)size) < 0) {
		perror("truncate");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "losetup -c %s", loopdev);
	return sh(cmd, NULL, 0) ? 1 : 0;
}

/*
 * A disk resized while the guest has it: the file under a loop device
 * grown, then shrunk, `losetup -c` each time. As Linux's blkback: a new
 * `sectors` and the state written again for the frontend to read it, and
 * I/O checked against the new end (past the old end it works once grown,
 * past the new one it fails once shrunk). Served as the device
 * (--blk-loop=device), then as the loop's file (the default).
 */
static int resize_run(bool file)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = {0};
	struct blkfront f;
	char cmd[700], loopdev[64] = "";
	static char path[500], msg[700];
	static uint8_t buf[64 * 512], rd[64 * 512];
	int r = sf_start(&T, file ? NULL : loop_dev_args);

	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/grow.img", T.td.dir);
	BT_CHECK(bt_image(path, 16 * MiB, true) == 0);
	snprintf(cmd, sizeof(cmd), "losetup --find --show '%s' 2>/dev/null",
		 path);
	if (sh(cmd, loopdev, sizeof(loopdev)) || !loopdev[0]) {
		printf("SKIP: no loop devices here\n");
		sf_stop(&T);
		return 77;
	}
	v.target = loopdev;
	r = attach(0, &v, &o, &f);
	if (r)
		goto out;
	r = 1;
	if (f.sectors != 16 * MiB / 512 ||
	    log_has("serving the file directly") != file) {
		fprintf(stderr, "%llu sectors, or not served as the %s\n",
			(unsigned long long)f.sectors, file ? "file" : "device");
		goto out_close;
	}
	memset(buf, 0x5d, sizeof(buf));
	/* 24 MiB in: past the end. */
	if (bf_rw(&f, BLKIF_OP_WRITE, 49152, buf, 64) != BLKIF_RSP_ERROR) {
		fprintf(stderr, "a write past the end was accepted\n");
		goto out_close;
	}
	if (regrow(path, loopdev, 32 * MiB))
		goto out_close;
	if (wait_sectors(&v, 65536) != 65536) {
		fprintf(stderr, "sectors not 65536 after growing to 32 MiB\n");
		goto out_close;
	}
	snprintf(msg, sizeof(msg), "resized from %llu to %llu bytes",
		 16 * MiB, 32 * MiB);
	if (!log_has(msg)) {
		fprintf(stderr, "log lacks '%s'\n", msg);
		goto out_close;
	}
	if (bf_rw(&f, BLKIF_OP_WRITE, 49152, buf, 64) != 0 ||
	    bf_rw(&f, BLKIF_OP_FLUSH_DISKCACHE, 0, NULL, 0) != 0 ||
	    bf_rw(&f, BLKIF_OP_READ, 49152, rd, 64) != 0 ||
	    memcmp(buf, rd, sizeof(rd))) {
		fprintf(stderr, "I/O 24 MiB in failed once grown\n");
		goto out_close;
	}
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		bool same = fd >= 0 &&
			    pread(fd, rd, sizeof(rd), 24 * MiB) ==
				(ssize_t)sizeof(rd) &&
			    !memcmp(buf, rd, sizeof(rd));

		if (fd >= 0)
			close(fd);
		if (!same) {
			fprintf(stderr, "the file lacks what was written 24 "
					"MiB in\n");
			goto out_close;
		}
	}
	if (regrow(path, loopdev, 8 * MiB))
		goto out_close;
	if (wait_sectors(&v, 16384) != 16384) {
		fprintf(stderr, "sectors not 16384 after shrinking to 8 MiB\n");
		goto out_close;
	}
	if (bf_rw(&f, BLKIF_OP_READ, 16384, rd, 8) != BLKIF_RSP_ERROR ||
	    bf_rw(&f, BLKIF_OP_READ, 16376, rd, 8) != 0) {
		fprintf(stderr, "the new end is not where reads stop\n");
		goto out_close;
	}
	r = 0;
out_close:
	r = finish(&f, r);
	loop_detach(loopdev);
	return r;
out:
	sf_stop(&T);
	loop_detach(loopdev);
	return r;
}

/*
 * A plain file has no uevent: `xenbackctl resize DOMID DEVID` has the
 * daemon look at its size again (what QEMU's block_resize is to qdisk).
 */
static int resize_file_run(void)
{
	struct ts_vbd v = mkvbd(1, 51712, NULL);
	struct bf_opts o = {0};
	struct blkfront f;
	static char reply[4096];
	static uint8_t buf[64 * 512], rd[64 * 512];
	int r = sf_start(&T, NULL);

	if (r)
		return r;
	if (attach(16 * MiB, &v, &o, &f))
		return finish(&f, 1);
	r = 1;
	if (truncate(img, (off_t)(32 * MiB)) < 0) {
		perror("truncate");
		goto out;
	}
	/* Nothing tells the daemon: the guest still has 16 MiB. */
	usleep(300000);
	if (wait_sectors(&v, 32768) != 32768 ||
	    bf_rw(&f, BLKIF_OP_READ, 49152, rd, 64) != BLKIF_RSP_ERROR) {
		fprintf(stderr, "the size moved before xenbackctl resize\n");
		goto out;
	}
	if (td_ctl(&T.td, "resize 1 51712", reply, sizeof(reply)) < 0 ||
	    !strstr(reply, "\"sectors\":65536")) {
		fprintf(stderr, "resize 1 51712: %s\n", reply);
		goto out;
	}
	if (wait_sectors(&v, 65536) != 65536) {
		fprintf(stderr, "sectors not 65536 after resize\n");
		goto out;
	}
	memset(buf, 0x6e, sizeof(buf));
	if (bf_rw(&f, BLKIF_OP_WRITE, 49152, buf, 64) != 0 ||
	    bf_rw(&f, BLKIF_OP_READ, 49152, rd, 64) != 0 ||
	    memcmp(buf, rd, sizeof(rd))) {
		fprintf(stderr, "I/O 24 MiB in failed after resize\n");
		goto out;
	}
	/* Bad requests get an error, and nothing else changes. */
	if (td_ctl(&T.td, "resize 1 51728", reply, sizeof(reply)) < 0 ||
	    !strstr(reply, "no such disk") ||
	    td_ctl(&T.td, "resize 1", reply, sizeof(reply)) < 0 ||
	    !strstr(reply, "usage") ||
	    td_ctl(&T.td, "resize 1 -5", reply, sizeof(reply)) < 0 ||
	    !strstr(reply, "usage")) {
		fprintf(stderr, "a bad resize request: %s\n", reply);
		goto out;
	}
	r = 0;
out:
	return finish(&f, r);
}

static int case_resize(void)
{
	int r = resize_run(false);

	if (r)
		return r;
	memset(&T, 0, sizeof(T)); /* a new daemon in a new directory */
	r = resize_run(true);
	if (r)
		return r;
	memset(&T, 0, sizeof(T));
	return resize_file_run();
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"ops", case_ops},
	    {"indirect", case_indirect},
	    {"persistent", case_persistent},
	    {"multiqueue", case_multiqueue},
	    {"multipage", case_multipage},
	    {"abi32", case_abi32},
	    {"noproto", case_noproto},
	    {"poll", case_poll},
	    {"readonly", case_readonly},
	    {"discard", case_discard},
	    {"flush", case_flush},
	    {"aio", case_aio},
	    {"aio_fallback", case_aio_fallback},
	    {"uring_forced", case_uring_forced},
	    {"persistent_limit", case_persistent_limit},
	    {"null", case_null},
	    {"enospc", case_enospc},
	    {"memfs", case_memfs},
	    {"sector4k", case_sector4k},
	    {"loopfile", case_loopfile},
	    {"resize", case_resize},
	    {"qdisk", case_qdisk},
	    {"reconnect", case_reconnect},
	};
	int r;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 1;
	}
	if (!strncmp(argv[1], "qd", 2) && argv[1][2] >= '0' &&
	    argv[1][2] <= '9') {
		r = case_qd((unsigned int)atoi(argv[1] + 2));
		printf("%s: %s\n", argv[1], r == 0 ? "PASS" :
				       r == 77 ? "SKIP" : "FAIL");
		return r;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			r = cases[i].fn();
			printf("%s: %s\n", argv[1], r == 0 ? "PASS" :
					       r == 77 ? "SKIP" : "FAIL");
			return r;
		}
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return 1;
}
