/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit test of blkback's pure request logic (backends/block/blkback_req.c):
 * decoding both ABIs, header and segment validation, the xenstore string
 * parsers. Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blkback_req.h"

static int fails;

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, \
				#c);                                       \
			fails++;                                           \
		}                                                          \
	} while (0)

static const struct blkback_limits lim = {
	.sectors = 1000,
	.lsect_shift = 0,
	.max_indirect = 256,
	.discard = true,
};

static void test_decode(void)
{
	struct blkback_x86_64_request r64 = {
		.operation = BLKIF_OP_WRITE, .nr_segments = 2, .id = 0x1122334455667788ull,
		.sector_number = 77,
	};
	struct blkback_x86_32_request r32 = {
		.operation = BLKIF_OP_READ, .nr_segments = 11, .id = 0xdeadbeefcafeull,
		.sector_number = 1ull << 40,
	};
	struct blkback_x86_32_request_indirect i32 = {
		.operation = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
		.nr_segments = 300, .id = 5, .sector_number = 9,
		.indirect_grefs = { 10, 11 },
	};
	struct blkback_x86_64_request_discard d64 = {
		.operation = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE,
		.id = 6, .sector_number = 100, .nr_sectors = 50,
	};
	union blkback_x86_64_sring_entry e64;
	union blkback_x86_32_sring_entry e32;
	struct blkback_preq p;

	r64.seg[1].gref = 99;
	r64.seg[1].last_sect = 7;
	memset(&e64, 0, sizeof(e64));
	memcpy(&e64, &r64, sizeof(r64));
	blkback_req_decode(BLKBACK_ABI_X86_64, &e64, &p);
	CHECK(p.op == BLKIF_OP_WRITE && p.io_op == BLKIF_OP_WRITE &&
	      p.rsp_op == BLKIF_OP_WRITE);
	CHECK(p.id == 0x1122334455667788ull && p.sector == 77);
	CHECK(p.nr_segs == 2 && p.seg[1].gref == 99 && p.seg[1].last_sect == 7);

	memcpy(&e32, &r32, sizeof(r32));
	blkback_req_decode(BLKBACK_ABI_X86_32, &e32, &p);
	CHECK(p.op == BLKIF_OP_READ && p.id == 0xdeadbeefcafeull);
	CHECK(p.sector == 1ull << 40 && p.nr_segs == 11);

	memset(&e32, 0, sizeof(e32));
	memcpy(&e32, &i32, sizeof(i32));
	blkback_req_decode(BLKBACK_ABI_X86_32, &e32, &p);
	CHECK(p.op == BLKIF_OP_INDIRECT && p.io_op == BLKIF_OP_WRITE);
	CHECK(p.rsp_op == BLKIF_OP_WRITE); /* as Linux answers */
	CHECK(p.nr_segs == 300 && p.id == 5 && p.sector == 9);
	CHECK(p.indirect_grefs[0] == 10 && p.indirect_grefs[1] == 11);

	memset(&e64, 0, sizeof(e64));
	memcpy(&e64, &d64, sizeof(d64));
	blkback_req_decode(BLKBACK_ABI_X86_64, &e64, &p);
	CHECK(p.op == BLKIF_OP_DISCARD && p.flag == BLKIF_DISCARD_SECURE);
	CHECK(p.sector == 100 && p.nr_sectors == 50 && p.id == 6);
}

static int check(uint8_t op, uint8_t io_op, uint16_t nseg, uint64_t sector,
		 uint64_t nsec, const struct blkback_limits *l)
{
	struct blkback_preq p = { .op = op, .io_op = io_op, .nr_segs = nseg,
				  .sector = sector, .nr_sectors = nsec };

	if (op != BLKIF_OP_INDIRECT)
		p.io_op = op;
	return blkback_req_check(&p, l);
}

static void test_check(void)
{
	struct blkback_limits ro = lim, nod = lim, k4 = lim;

	ro.readonly = true;
	nod.discard = false;
	k4.lsect_shift = 3;

	CHECK(check(BLKIF_OP_READ, 0, 1, 0, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_READ, 0, 0, 0, 0, &lim) == -EINVAL);
	CHECK(check(BLKIF_OP_READ, 0, 12, 0, 0, &lim) == -EINVAL);
	CHECK(check(BLKIF_OP_WRITE, 0, 11, 0, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_WRITE, 0, 1, 0, 0, &ro) == -EROFS);
	CHECK(check(BLKIF_OP_READ, 0, 1, 0, 0, &ro) == 0);
	CHECK(check(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0, &ro) == 0);
	CHECK(check(BLKIF_OP_FLUSH_DISKCACHE, 0, 1, 0, 0, &ro) == -EROFS);
	CHECK(check(BLKIF_OP_WRITE_BARRIER, 0, 12, 0, 0, &lim) == -EINVAL);
	CHECK(check(BLKIF_OP_RESERVED_1, 0, 1, 0, 0, &lim) == -EOPNOTSUPP);
	CHECK(check(7, 0, 1, 0, 0, &lim) == -EOPNOTSUPP);
	CHECK(check(255, 0, 1, 0, 0, &lim) == -EOPNOTSUPP);
	/* indirect */
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_READ, 256, 0, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_READ, 257, 0, 0, &lim) ==
	      -EINVAL);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_READ, 0, 0, 0, &lim) ==
	      -EINVAL);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_READ, 5, 0, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_FLUSH_DISKCACHE, 5, 0, 0,
		    &lim) == -EINVAL);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_INDIRECT, 5, 0, 0, &lim) ==
	      -EINVAL);
	CHECK(check(BLKIF_OP_INDIRECT, BLKIF_OP_WRITE, 5, 0, 0, &ro) == -EROFS);
	{
		struct blkback_preq p = { .op = BLKIF_OP_INDIRECT,
					  .io_op = BLKIF_OP_READ,
					  .nr_segs = 513 };
		struct blkback_limits big = lim;

		big.max_indirect = 1024;
		CHECK(blkback_req_check(&p, &big) == 0);
		CHECK(p.nr_indirect == 2);
		p.nr_segs = 4096; /* past BLKBACK_MAX_INDIRECT */
		CHECK(blkback_req_check(&p, &big) == -EINVAL);
	}
	/* discard */
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 0, 1000, &lim) == 0);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 1, 1000, &lim) == -ERANGE);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 1000, 0, &lim) == 0);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 1001, 0, &lim) == -ERANGE);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, ~0ull, 2, &lim) == -ERANGE);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 2, ~0ull - 1, &lim) == -ERANGE);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 0, 8, &nod) == -EOPNOTSUPP);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 0, 8, &ro) == -EROFS);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 1, 8, &k4) == -EINVAL);
	CHECK(check(BLKIF_OP_DISCARD, 0, 0, 8, 8, &k4) == 0);
	/* 4 KiB sectors */
	CHECK(check(BLKIF_OP_READ, 0, 1, 3, 0, &k4) == -EINVAL);
	CHECK(check(BLKIF_OP_READ, 0, 1, 16, 0, &k4) == 0);
}

static void test_segs(void)
{
	struct blkif_request_segment s[3] = {
		{ .gref = 1, .first_sect = 0, .last_sect = 7 },
		{ .gref = 2, .first_sect = 0, .last_sect = 7 },
		{ .gref = 3, .first_sect = 2, .last_sect = 4 },
	};
	struct blkback_limits k4 = lim;
	uint64_t n = 0;

	k4.lsect_shift = 3;
	CHECK(blkback_segs_check(s, 3, 0, &lim, &n) == 0 && n == 19);
	CHECK(blkback_segs_check(s, 3, 981, &lim, &n) == 0 && n == 19);
	CHECK(blkback_segs_check(s, 3, 982, &lim, &n) == -ERANGE);
	CHECK(blkback_segs_check(s, 3, ~0ull - 5, &lim, &n) == -ERANGE);
	CHECK(blkback_segs_check(s, 2, 0, &k4, &n) == 0 && n == 16);
	CHECK(blkback_segs_check(s, 3, 0, &k4, &n) == -EINVAL);
	s[2].last_sect = 8;
	s[2].first_sect = 0;
	CHECK(blkback_segs_check(s, 3, 0, &lim, &n) == -EINVAL);
	s[2].first_sect = 5;
	s[2].last_sect = 4;
	CHECK(blkback_segs_check(s, 3, 0, &lim, &n) == -EINVAL);
	s[2].first_sect = 255;
	s[2].last_sect = 255;
	CHECK(blkback_segs_check(s, 3, 0, &lim, &n) == -EINVAL);
	CHECK(blkback_range_check(1000, 0, &lim) == 0);
	CHECK(blkback_range_check(999, 2, &lim) == -ERANGE);
}

static void test_strings(void)
{
	enum blkback_abi abi;

	CHECK(!strcmp(blkback_backing_path("/dev/vg/lv"), "/dev/vg/lv"));
	CHECK(!strcmp(blkback_backing_path("raw:/img"), "/img"));
	CHECK(!strcmp(blkback_backing_path("aio:/img"), "/img"));
	CHECK(!strcmp(blkback_backing_path("tap:aio:/img"), "/img"));
	CHECK(!strcmp(blkback_backing_path("file:/img"), "/img"));
	CHECK(!strcmp(blkback_backing_path("phy:/dev/sdb"), "/dev/sdb"));
	CHECK(blkback_backing_path("qcow2:/img") == NULL);
	CHECK(blkback_backing_path("vhd:/img") == NULL);
	CHECK(blkback_backing_path("raw:") == NULL);
	CHECK(blkback_backing_path("") == NULL);
	CHECK(blkback_backing_path(NULL) == NULL);

	CHECK(blkback_parse_mode("w") == 0);
	CHECK(blkback_parse_mode("w!") == 0);
	CHECK(blkback_parse_mode("r") == 1);
	CHECK(blkback_parse_mode("x") == -EINVAL);
	CHECK(blkback_parse_mode("") == -EINVAL);

	CHECK(blkback_parse_protocol(NULL, &abi) == 0 &&
	      abi == BLKBACK_ABI_NATIVE);
	CHECK(blkback_parse_protocol("x86_32-abi", &abi) == 0 &&
	      abi == BLKBACK_ABI_X86_32);
	CHECK(blkback_parse_protocol("x86_64-abi", &abi) == 0 &&
	      abi == BLKBACK_ABI_X86_64);
	CHECK(blkback_parse_protocol("arm-abi", &abi) == -ENOSYS);
	CHECK(blkback_parse_protocol("x86_64-abi ", &abi) == -ENOSYS);

	CHECK(blkback_status(0) == BLKIF_RSP_OKAY);
	CHECK(blkback_status(-EOPNOTSUPP) == BLKIF_RSP_EOPNOTSUPP);
	CHECK(blkback_status(-EIO) == BLKIF_RSP_ERROR);
	CHECK(blkback_status(-ENOSPC) == BLKIF_RSP_ERROR);

	CHECK(blkback_ring_entries(BLKBACK_ABI_X86_64, 0) == 32);
	CHECK(blkback_ring_entries(BLKBACK_ABI_X86_32, 0) == 32);
	CHECK(blkback_ring_entries(BLKBACK_ABI_X86_64, 4) == 512);
	CHECK(blkback_ring_entries(BLKBACK_ABI_X86_64, 2) == 128);
}

int main(void)
{
	test_decode();
	test_check();
	test_segs();
	test_strings();
	if (fails) {
		fprintf(stderr, "%d checks failed\n", fails);
		return 1;
	}
	printf("blk_req: PASS\n");
	return 0;
}
