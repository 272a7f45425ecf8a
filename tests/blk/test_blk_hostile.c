/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkback against hostile guests, on the sim platform. Guest 1 misbehaves;
 * guest 2 is well behaved and must be served, with its data intact,
 * before, during and after. One case per argument. Exit 0/1/77.
 *
 *   fields     every request field out of range: error responses
 *   grants     grants of another domain, revoked/unused refs, a read-only
 *              grant as a read target, bad refs in indirect pages
 *   fuzz       random bytes in thousands of ring entries
 *   overflow   req_prod more than a ring ahead: that device goes to
 *              Closing with an error node, the other is still served
 *   xenstore   hostile frontend keys (queues, ring order, protocol, refs)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/grant_table.h>
#include <xen/io/xenbus.h>

#include "blktest.h"

#define MiB (1ull << 20)

static struct sf T;
static char img1[400], img2[400];
static struct blkfront good;
static struct ts_vbd vgood;

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

/* Daemon, guest 1's disk and domain, guest 2 connected. 0, 77 or 1. */
static int setup(void)
{
	char be[128], fe[128];
	const char *args[] = { "--workers=2", NULL };
	int r = sf_start(&T, args);

	if (r)
		return r;
	snprintf(img1, sizeof(img1), "%s/bad.img", T.td.dir);
	snprintf(img2, sizeof(img2), "%s/good.img", T.td.dir);
	BT_CHECK(bt_image(img1, 8 * MiB, true) == 0);
	BT_CHECK(bt_image(img2, 8 * MiB, true) == 0);
	BT_CHECK(bt_domain(&T, 1, 8192));
	BT_CHECK(bt_domain(&T, 2, 8192));
	vgood = mkvbd(2, 51712, img2);
	BT_CHECK(bt_add_vbd(&T, &vgood) == 0);
	bt_paths(&vgood, be, fe);
	BT_CHECK(bf_connect(&good, T.sg[2], T.xs, be, fe,
			    &(struct bf_opts){ .persistent = true }, BT_MS) ==
		 0);
	return 0;
}

/* Guest 2 does a round of verified I/O. 0 or 1. */
static int good_round(uint64_t seed)
{
	struct bt_load l = { .qd = 16, .ops = 300, .write_pct = 50,
			     .max_sectors = 64, .page_offsets = true,
			     .seed = seed };

	if (!td_alive(&T.td)) {
		fprintf(stderr, "xenbackd died\n");
		return 1;
	}
	return bt_integrity(&good, img2, &l);
}

static int connect_bad(struct blkfront *f, const struct bf_opts *o)
{
	struct ts_vbd v = mkvbd(1, 51712, img1);
	char be[128], fe[128];

	BT_CHECK(bt_add_vbd(&T, &v) == 0);
	bt_paths(&v, be, fe);
	BT_CHECK(bf_connect(f, T.sg[1], T.xs, be, fe, o, BT_MS) == 0);
	return 0;
}

static int teardown(struct blkfront *bad, int ret)
{
	if (bad && bf_close(bad, BT_MS)) {
		fprintf(stderr, "guest 1 close: %llu grants still mapped\n",
			bad->grant_end_failures);
		ret = 1;
	}
	if (bf_close(&good, BT_MS)) {
		fprintf(stderr, "guest 2 close failed\n");
		ret = 1;
	}
	if (sf_stop(&T))
		ret = 1;
	if (ret)
		td_dump_log(&T.td);
	return ret;
}

/* Submit a raw x86_64 entry, wait for its answer; the status or -errno. */
static int raw(struct blkfront *f, const void *e, size_t len)
{
	struct bf_io io = { 0 };
	int r = bf_submit_raw(f, 0, e, len, &io, NULL);

	if (r)
		return r;
	r = bf_drain(f, BT_MS);
	if (r)
		return r;
	return io.status;
}

static int case_fields(void)
{
	struct blkfront bad;
	void *va;
	struct bf_page *pg;
	int ref, iref, r = setup();
	struct blkif_request_segment *iseg;
	void *iva;
	struct bf_page *ipg;

	if (r)
		return r;
	BT_CHECK(connect_bad(&bad, NULL) == 0);
	ref = bf_grant_page(&bad, false, &va, &pg);
	BT_CHECK(ref >= 0);
	iref = bf_grant_page(&bad, true, &iva, &ipg);
	BT_CHECK(iref >= 0);
	iseg = iva;

	/* A good one first, to know the refs work. */
	{
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ, .nr_segments = 1,
			.seg = { { .gref = (grant_ref_t)ref, .last_sect = 7 } },
		};
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_OKAY);
	}
	/* nr_segments */
	for (unsigned int n = 0; n < 256; n += (n < 16 ? 1 : 37)) {
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ,
			.nr_segments = (uint8_t)n,
		};

		for (int i = 0; i < 11; i++)
			e.seg[i] = (struct blkif_request_segment){
				.gref = (grant_ref_t)ref, .last_sect = 0 };
		if (n >= 1 && n <= 11)
			continue;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		e.operation = BLKIF_OP_WRITE;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
	}
	/* first/last sector */
	{
		static const uint8_t fl[][2] = { { 0, 8 }, { 5, 4 }, { 8, 8 },
						 { 255, 255 }, { 7, 200 } };

		for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
			struct blkback_x86_64_request e = {
				.operation = BLKIF_OP_READ, .nr_segments = 2,
				.seg = { { .gref = (grant_ref_t)ref,
					   .last_sect = 7 },
					 { .gref = (grant_ref_t)ref,
					   .first_sect = fl[i][0],
					   .last_sect = fl[i][1] } },
			};
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
	}
	/* sector range */
	{
		static const uint64_t secs[] = { 16384 - 7, 16384, 1ull << 40,
						 ~0ull, ~0ull - 6 };

		for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
			struct blkback_x86_64_request e = {
				.operation = BLKIF_OP_WRITE, .nr_segments = 1,
				.sector_number = secs[i],
				.seg = { { .gref = (grant_ref_t)ref,
					   .last_sect = 7 } },
			};
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
	}
	/* discard ranges */
	{
		static const uint64_t d[][2] = { { 0, 16385 }, { 16384, 1 },
						 { ~0ull, 1 }, { 1, ~0ull } };

		for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
			struct blkback_x86_64_request_discard e = {
				.operation = BLKIF_OP_DISCARD,
				.sector_number = d[i][0],
				.nr_sectors = d[i][1],
				.flag = 0xff,
			};
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
	}
	/* indirect: counts, inner op, bad segment lists */
	{
		static const uint16_t ns[] = { 0, 257, 4096, 65535 };
		static const uint8_t ops[] = { BLKIF_OP_WRITE_BARRIER,
					       BLKIF_OP_FLUSH_DISKCACHE,
					       BLKIF_OP_DISCARD,
					       BLKIF_OP_INDIRECT, 77 };
		struct blkback_x86_64_request_indirect e = {
			.operation = BLKIF_OP_INDIRECT,
			.indirect_op = BLKIF_OP_READ,
			.indirect_grefs = { (grant_ref_t)iref },
		};

		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			e.nr_segments = ns[i];
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
		e.nr_segments = 20;
		for (unsigned int i = 0; i < 20; i++)
			iseg[i] = (struct blkif_request_segment){
				.gref = (grant_ref_t)ref, .last_sect = 7 };
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			e.indirect_op = ops[i];
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
		e.indirect_op = BLKIF_OP_READ;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_OKAY);
		iseg[19].last_sect = 9;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		iseg[19].last_sect = 7;
		iseg[19].gref = 0xfffffff0u;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		iseg[19].gref = (grant_ref_t)ref;
		e.indirect_grefs[0] = 0xffffffffu; /* bad indirect page */
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
	}
	BT_CHECK(good_round(1) == 0);
	/* The bad guest still gets service for good requests. */
	{
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ, .nr_segments = 1,
			.seg = { { .gref = (grant_ref_t)ref, .last_sect = 7 } },
		};
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_OKAY);
	}
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "errors") > 30);
	bf_ungrant_page(&bad, ref, pg);
	bf_ungrant_page(&bad, iref, ipg);
	BT_CHECK(bad.grant_end_failures == 0);
	return teardown(&bad, 0);
}

static int case_grants(void)
{
	struct blkfront bad;
	struct sg_domain *sg1;
	void *va, *rova;
	struct bf_page *pg, *ropg;
	int ref, roref, r = setup();
	uint32_t frame;
	void *fva;

	if (r)
		return r;
	BT_CHECK(connect_bad(&bad, NULL) == 0);
	sg1 = T.sg[1];
	ref = bf_grant_page(&bad, false, &va, &pg);
	roref = bf_grant_page(&bad, true, &rova, &ropg);
	BT_CHECK(ref >= 0 && roref >= 0);

	/* A read-only grant as a read target: error, page untouched. */
	memset(rova, 0xee, 4096);
	{
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ, .nr_segments = 1,
			.seg = { { .gref = (grant_ref_t)roref,
				   .last_sect = 7 } },
		};
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		for (int i = 0; i < 4096; i++)
			BT_CHECK(((uint8_t *)rova)[i] == 0xee);
		/* ...but fine as a write source. */
		e.operation = BLKIF_OP_WRITE;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_OKAY);
		/* Mixed with a good one in the same request. */
		e.operation = BLKIF_OP_READ;
		e.nr_segments = 2;
		e.seg[1] = e.seg[0];
		e.seg[0].gref = (grant_ref_t)ref;
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
	}
	/* A grant to another domain (not us), unused refs, refs past the
	 * table, a revoked ref. */
	fva = sg_page_alloc(sg1, &frame);
	BT_CHECK(fva);
	BT_CHECK(sg_grant_raw(sg1, 4000, GTF_permit_access, 5, frame) == 0);
	{
		static const uint32_t refs[] = { 4000, 4001, 0, 7, 65535,
						 65536, 0xffffffffu };

		for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
			struct blkback_x86_64_request e = {
				.operation = i % 2 ? BLKIF_OP_WRITE :
						     BLKIF_OP_READ,
				.nr_segments = 1,
				.seg = { { .gref = refs[i], .last_sect = 7 } },
			};
			BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		}
	}
	BT_CHECK(sg_grant_end(sg1, 4000) == 0);
	/* A ref of guest 2 used by guest 1: guest 1's table says nothing. */
	{
		void *gva;
		struct bf_page *gpg;
		int gref = bf_grant_page(&good, false, &gva, &gpg);
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ, .nr_segments = 1,
			.seg = { { .gref = (grant_ref_t)gref,
				   .last_sect = 7 } },
		};

		BT_CHECK(gref >= 0);
		memset(gva, 0x11, 4096);
		BT_CHECK(raw(&bad, &e, sizeof(e)) != BLKIF_RSP_OKAY ||
			 ((uint8_t *)gva)[0] == 0x11);
		bf_ungrant_page(&good, gref, gpg);
	}
	/* Revoked between grant and use. */
	{
		void *tva;
		struct bf_page *tpg;
		int tref = bf_grant_page(&bad, false, &tva, &tpg);
		struct blkback_x86_64_request e = {
			.operation = BLKIF_OP_READ, .nr_segments = 1,
			.seg = { { .gref = (grant_ref_t)tref,
				   .last_sect = 7 } },
		};

		BT_CHECK(sg_grant_end(sg1, (uint32_t)tref) == 0);
		BT_CHECK(raw(&bad, &e, sizeof(e)) == BLKIF_RSP_ERROR);
		bf_ungrant_page(&bad, -1, tpg);
	}
	BT_CHECK(good_round(2) == 0);
	bf_ungrant_page(&bad, ref, pg);
	bf_ungrant_page(&bad, roref, ropg);
	sg_page_free(sg1, fva);
	BT_CHECK(bad.grant_end_failures == 0);
	return teardown(&bad, 0);
}

static int case_fuzz(void)
{
	struct blkfront bad;
	uint64_t seed = 12345;
	unsigned int answered = 0;
	int r = setup();
	void *va;
	struct bf_page *pg;
	int ref;

	if (r)
		return r;
	BT_CHECK(connect_bad(&bad, &(struct bf_opts){ .persistent = true }) ==
		 0);
	ref = bf_grant_page(&bad, false, &va, &pg);
	BT_CHECK(ref >= 0);
	for (unsigned int round = 0; round < 200; round++) {
		struct bf_io ios[32];
		unsigned int n = 0;

		for (unsigned int i = 0; i < 32; i++) {
			uint8_t e[112];

			for (size_t k = 0; k < sizeof(e); k += 8) {
				uint64_t v = bt_rand(&seed);

				memcpy(e + k, &v, 8);
			}
			/* Bias towards real ops and our page so deeper code
			 * runs, keep the rest random. */
			e[0] = (uint8_t)(bt_rand(&seed) % 9);
			if (bt_rand(&seed) % 2) {
				e[1] = (uint8_t)(bt_rand(&seed) % 13);
				for (int s = 0; s < 11; s++)
					memcpy(e + 24 + s * 8, &ref, 4);
				memset(e + 18, 0, 6); /* small sectors */
			}
			ios[i] = (struct bf_io){ 0 };
			if (bf_submit_raw(&bad, 0, e, sizeof(e), &ios[i],
					  NULL))
				break;
			n++;
		}
		BT_CHECK(bf_drain(&bad, BT_MS) == 0);
		for (unsigned int i = 0; i < n; i++)
			answered += ios[i].done;
		BT_CHECK(td_alive(&T.td));
		if (round % 50 == 0)
			BT_CHECK(good_round(round + 3) == 0);
	}
	printf("%u fuzzed requests answered\n", answered);
	BT_CHECK(answered == 200 * 32);
	BT_CHECK(bad.bad_responses == 0);
	BT_CHECK(good_round(99) == 0);
	bf_ungrant_page(&bad, ref, pg);
	return teardown(&bad, 0);
}

static int case_overflow(void)
{
	struct blkfront bad;
	char be[128], fe[128], errp[200];
	struct blkback_x86_64_sring *s;
	struct ts_vbd v = mkvbd(1, 51712, img1);
	int r = setup();

	if (r)
		return r;
	BT_CHECK(connect_bad(&bad, NULL) == 0);
	bt_paths(&v, be, fe);
	{
		uint8_t b[4096];

		BT_CHECK(bf_rw(&bad, BLKIF_OP_READ, 0, b, 8) == 0);
	}
	/* req_prod a ring and a bit ahead of what was answered. */
	s = bf_sring(&bad, 0);
	__atomic_store_n(&s->req_prod, s->rsp_prod + 32 + 5, __ATOMIC_RELEASE);
	sg_evtchn_notify(T.sg[1], bad.q[0].port);
	snprintf(errp, sizeof(errp), "/local/domain/0/error%s/error",
		 strstr(be, "/backend/"));
	BT_CHECK(ts_wait_exists(T.xs, errp, true, BT_MS) == 0);
	{
		long long end = ts_now_ms() + BT_MS;
		long st;

		while ((st = ts_read_int(T.xs, be, "state")) !=
			       XenbusStateClosing &&
		       st != XenbusStateClosed && ts_now_ms() < end)
			usleep(5000);
		BT_CHECK(st == XenbusStateClosing || st == XenbusStateClosed);
	}
	BT_CHECK(bt_stat(&T, "d1/vbd51712", "ring_errors") >= 1);
	BT_CHECK(good_round(5) == 0);
	/* The ring was unmapped: the guest can take its pages back. */
	{
		long long end = ts_now_ms() + BT_MS;

		while (sg_grant_end(T.sg[1], (uint32_t)bad.q[0].ring_refs[0]) ==
			       -EBUSY &&
		       ts_now_ms() < end)
			usleep(5000);
		BT_CHECK(sg_grant_end(T.sg[1],
				      (uint32_t)bad.q[0].ring_refs[0]) ==
			 -EINVAL); /* ended already */
		bad.q[0].ring_refs[0] = -1;
	}
	BT_CHECK(ts_write(T.xs, fe, "state", "6") == 0);
	bf_release(&bad);
	BT_CHECK(bad.grant_end_failures == 0);
	return teardown(NULL, 0);
}

/* A frontend writing bad keys must get an error node, not a crash. */
static int bad_keys(unsigned int devid, const char *key, const char *val)
{
	struct ts_vbd v = mkvbd(1, devid, img1);
	char be[128], fe[128], errp[200];
	struct sg_domain *sg = T.sg[1];
	uint32_t frame;
	void *ring;
	int ref, port;

	v.vdev = "xvdb";
	BT_CHECK(bt_add_vbd(&T, &v) == 0);
	bt_paths(&v, be, fe);
	ring = sg_page_alloc(sg, &frame);
	BT_CHECK(ring);
	SHARED_RING_INIT((struct blkback_x86_64_sring *)ring);
	ref = sg_grant_access(sg, 0, frame, false);
	port = sg_evtchn_alloc_unbound(sg, 0);
	BT_CHECK(ref >= 0 && port >= 0);
	{
		char num[16];

		snprintf(num, sizeof(num), "%d", ref);
		BT_CHECK(ts_write(T.xs, fe, "ring-ref", num) == 0);
		snprintf(num, sizeof(num), "%d", port);
		BT_CHECK(ts_write(T.xs, fe, "event-channel", num) == 0);
	}
	BT_CHECK(ts_write(T.xs, fe, key, val) == 0);
	BT_CHECK(ts_write(T.xs, fe, "state", "3") == 0);
	snprintf(errp, sizeof(errp), "/local/domain/0/error%s/error",
		 strstr(be, "/backend/"));
	if (ts_wait_exists(T.xs, errp, true, BT_MS)) {
		fprintf(stderr, "%s=%s: no error node\n", key, val);
		return 1;
	}
	BT_CHECK(td_alive(&T.td));
	/* Nothing stays mapped. */
	{
		long long end = ts_now_ms() + BT_MS;

		while (sg_grant_end(sg, (uint32_t)ref) == -EBUSY &&
		       ts_now_ms() < end)
			usleep(5000);
	}
	sg_evtchn_close(sg, port);
	sg_page_free(sg, ring);
	return 0;
}

static int case_xenstore(void)
{
	static const char *const kv[][2] = {
		{ "multi-queue-num-queues", "0" },
		{ "multi-queue-num-queues", "1000" },
		{ "multi-queue-num-queues", "-1" },
		{ "ring-page-order", "5" },
		{ "ring-page-order", "4294967296" },
		{ "ring-page-order", "banana" },
		{ "protocol", "arm-abi" },
		{ "protocol", "x86_64-abi-but-longer" },
		{ "event-channel", "99999999999" },
		{ "event-channel", "63" },
		{ "ring-ref", "4294967295" },
		{ "ring-ref", "12x" },
	};
	int r = setup();

	if (r)
		return r;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (bad_keys(51728 + 16 * (unsigned int)i, kv[i][0],
			     kv[i][1]))
			return teardown(NULL, 1);
		if (i % 4 == 3 && good_round(40 + i))
			return teardown(NULL, 1);
	}
	BT_CHECK(good_round(77) == 0);
	return teardown(NULL, 0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
		{ "fields", case_fields },
		{ "grants", case_grants },
		{ "fuzz", case_fuzz },
		{ "overflow", case_overflow },
		{ "xenstore", case_xenstore },
	};

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			int r = cases[i].fn();

			printf("%s: %s\n", argv[1], r == 0 ? "PASS" :
					       r == 77 ? "SKIP" : "FAIL");
			return r;
		}
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return 1;
}
