/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkif request decoding and validation (pure logic, unit-tested in
 * tests/blk/test_blk_req.c).
 */
#include <errno.h>
#include <string.h>

#include "blkback_req.h"

#define SECTORS_PER_PAGE 8u /* 4096 / 512: last_sect bound */

/*
 * The two ABIs name the same fields at different offsets: one body, two
 * instances. entry is our private copy of the ring slot (never the ring).
 */
#define BLKBACK_DEFINE_DECODE(abi)                                            \
	static void decode_##abi(const void *entry, struct blkback_preq *p)   \
	{                                                                     \
		const struct blkback_##abi##_request *rw = entry;             \
		const struct blkback_##abi##_request_discard *d = entry;      \
		const struct blkback_##abi##_request_indirect *in = entry;    \
                                                                              \
		p->op = rw->operation;                                        \
		switch (p->op) {                                              \
		case BLKIF_OP_DISCARD:                                        \
			p->id = d->id;                                        \
			p->sector = d->sector_number;                         \
			p->nr_sectors = d->nr_sectors;                        \
			p->flag = d->flag;                                    \
			break;                                                \
		case BLKIF_OP_INDIRECT:                                       \
			p->id = in->id;                                       \
			p->sector = in->sector_number;                        \
			p->io_op = in->indirect_op;                           \
			p->nr_segs = in->nr_segments;                         \
			memcpy(p->indirect_grefs, in->indirect_grefs,         \
			       sizeof(p->indirect_grefs));                    \
			break;                                                \
		default:                                                      \
			p->id = rw->id;                                       \
			p->sector = rw->sector_number;                        \
			p->nr_segs = rw->nr_segments;                         \
			memcpy(p->seg, rw->seg, sizeof(p->seg));              \
			break;                                                \
		}                                                             \
	}

BLKBACK_DEFINE_DECODE(x86_64)
BLKBACK_DEFINE_DECODE(x86_32)

void blkback_req_decode(enum blkback_abi abi, const void *entry,
			struct blkback_preq *p)
{
	memset(p, 0, sizeof(*p));
	if (abi == BLKBACK_ABI_X86_32)
		decode_x86_32(entry, p);
	else
		decode_x86_64(entry, p);
	/* Linux answers an indirect request with the inner operation. */
	if (p->op == BLKIF_OP_INDIRECT)
		p->rsp_op = p->io_op;
	else {
		p->rsp_op = p->op;
		p->io_op = p->op;
	}
}

int blkback_range_check(uint64_t sector, uint64_t n,
			const struct blkback_limits *lim)
{
	/* Read once: the main thread moves it when the disk is resized. */
	uint64_t end = __atomic_load_n(&lim->sectors, __ATOMIC_RELAXED);

	/* Written so that no guest value can overflow the sum. */
	if (sector > end || n > end - sector)
		return -ERANGE;
	return 0;
}

int blkback_req_check(struct blkback_preq *p,
		      const struct blkback_limits *lim)
{
	uint64_t mask = (1ull << lim->lsect_shift) - 1;

	switch (p->op) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
		if (p->nr_segs == 0 ||
		    p->nr_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			return -EINVAL;
		break;
	case BLKIF_OP_WRITE_BARRIER:
	case BLKIF_OP_FLUSH_DISKCACHE:
		/* Zero segments: a pure flush. Otherwise a write after it. */
		if (p->nr_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			return -EINVAL;
		if (p->nr_segs && lim->readonly)
			return -EROFS;
		break;
	case BLKIF_OP_INDIRECT:
		if (p->io_op != BLKIF_OP_READ && p->io_op != BLKIF_OP_WRITE)
			return -EINVAL;
		if (p->nr_segs == 0 || p->nr_segs > lim->max_indirect ||
		    p->nr_segs > BLKBACK_MAX_INDIRECT)
			return -EINVAL;
		p->nr_indirect = (uint8_t)((p->nr_segs +
					    BLKBACK_SEGS_PER_INDIRECT_PAGE - 1) /
					   BLKBACK_SEGS_PER_INDIRECT_PAGE);
		if (p->nr_indirect > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
			return -EINVAL;
		break;
	case BLKIF_OP_DISCARD:
		if (!lim->discard)
			return -EOPNOTSUPP;
		if (lim->readonly)
			return -EROFS;
		if ((p->sector | p->nr_sectors) & mask)
			return -EINVAL;
		return blkback_range_check(p->sector, p->nr_sectors, lim);
	default:
		return -EOPNOTSUPP;
	}
	if (p->io_op == BLKIF_OP_WRITE && lim->readonly)
		return -EROFS;
	if (p->sector & mask)
		return -EINVAL;
	return 0;
}

int blkback_segs_check(const struct blkif_request_segment *segs,
		       unsigned int n, uint64_t sector,
		       const struct blkback_limits *lim, uint64_t *nr_sectors)
{
	uint64_t mask = (1ull << lim->lsect_shift) - 1;
	uint64_t total = 0;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int first = segs[i].first_sect;
		unsigned int last = segs[i].last_sect;

		if (last >= SECTORS_PER_PAGE || first > last)
			return -EINVAL;
		/* A 4 KiB-sector disk needs whole sectors in every page. */
		if ((first | (last - first + 1)) & mask)
			return -EINVAL;
		total += last - first + 1;
	}
	if (blkback_range_check(sector, total, lim))
		return -ERANGE;
	*nr_sectors = total;
	return 0;
}

int16_t blkback_status(int err)
{
	if (err == 0)
		return BLKIF_RSP_OKAY;
	if (err == -EOPNOTSUPP)
		return BLKIF_RSP_EOPNOTSUPP;
	return BLKIF_RSP_ERROR;
}

const char *blkback_backing_path(const char *params)
{
	/* Formats a raw reader can serve; libxl/xl spell them like this. */
	static const char *const raw[] = { "raw:", "aio:", "file:", "phy:",
					   "tap:aio:", "tap2:aio:",
					   "tapdisk:aio:", "tap:raw:" };
	static const char *const other[] = { "qcow:", "qcow2:", "vhd:",
					     "qed:", "tap:", "tap2:",
					     "tapdisk:" };

	if (!params || !*params)
		return NULL;
	if (params[0] == '/')
		return params;
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		size_t n = strlen(raw[i]);

		if (!strncmp(params, raw[i], n))
			return params[n] ? params + n : NULL;
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (!strncmp(params, other[i], strlen(other[i])))
			return NULL;
	/* A relative path without a format: take it as it is. */
	return params;
}

int blkback_parse_mode(const char *mode)
{
	if (!mode || !*mode)
		return -EINVAL;
	if (mode[0] == 'w')
		return 0;
	if (mode[0] == 'r')
		return 1;
	return -EINVAL;
}

int blkback_parse_protocol(const char *proto, enum blkback_abi *abi)
{
	if (!proto || !*proto)
		*abi = BLKBACK_ABI_NATIVE;
	else if (!strcmp(proto, XEN_IO_PROTO_ABI_X86_64))
		*abi = BLKBACK_ABI_X86_64;
	else if (!strcmp(proto, XEN_IO_PROTO_ABI_X86_32))
		*abi = BLKBACK_ABI_X86_32;
	else
		return -ENOSYS;
	return 0;
}
