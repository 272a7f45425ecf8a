/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decoding and validation of blkif requests: pure functions, no platform,
 * no I/O, so tests/blk/ can unit-test them directly.
 *
 * Everything here works on a private copy of a ring entry; the shared ring
 * is never read from this file.
 */
#ifndef BLKBACK_REQ_H
#define BLKBACK_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "blkback_abi.h"

/* Hard limits, whatever the configuration says. */
#define BLKBACK_MAX_RING_ORDER 4
#define BLKBACK_MAX_INDIRECT 1024 /* segments; <= IOV_MAX */
#define BLKBACK_MAX_QUEUES 64

/* What the device allows; filled once at connect. */
struct blkback_limits {
	uint64_t sectors;         /* disk size in 512-byte sectors (atomic:
				   * a resize moves it while queues run) */
	unsigned int lsect_shift; /* log2(logical sector size / 512) */
	unsigned int max_indirect; /* segments of one indirect request */
	bool readonly;
	bool discard;             /* feature-discard advertised */
	bool discard_secure;
};

/*
 * One request, decoded from a private copy of a ring entry. Every field
 * still holds guest-chosen values until blkback_req_check() accepted it.
 */
struct blkback_preq {
	uint64_t id;         /* echoed back, never interpreted */
	uint64_t sector;     /* 512-byte units */
	uint64_t nr_sectors; /* discard: as given; rw: set by segs_check */
	uint8_t op;          /* BLKIF_OP_* as found in the ring */
	uint8_t rsp_op;      /* operation to echo in the response */
	uint8_t io_op;       /* READ/WRITE/FLUSH/BARRIER/DISCARD after
			      * unwrapping INDIRECT */
	uint8_t flag;        /* discard flag */
	uint16_t nr_segs;
	uint8_t nr_indirect; /* indirect pages, set by req_check */
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/* Decode a private copy of one ring entry of the given ABI. Never fails. */
void blkback_req_decode(enum blkback_abi abi, const void *entry,
			struct blkback_preq *p);

/*
 * Check the header of a decoded request against lim. Returns 0 if it may
 * proceed, -EOPNOTSUPP for an operation we do not offer (answer
 * BLKIF_RSP_EOPNOTSUPP), or -EINVAL/-EROFS/-ERANGE (answer
 * BLKIF_RSP_ERROR). Sets p->nr_indirect for INDIRECT.
 */
int blkback_req_check(struct blkback_preq *p,
		      const struct blkback_limits *lim);

/*
 * Check n segments (a private copy) of a read/write starting at sector.
 * Returns 0 and sets *nr_sectors, or -EINVAL (bad sector numbers or
 * misaligned for the logical sector size) or -ERANGE (past the end).
 */
int blkback_segs_check(const struct blkif_request_segment *segs,
		       unsigned int n, uint64_t sector,
		       const struct blkback_limits *lim,
		       uint64_t *nr_sectors);

/* Returns 0 if [sector, sector + n) lies inside the disk, else -ERANGE. */
int blkback_range_check(uint64_t sector, uint64_t n,
			const struct blkback_limits *lim);

/* BLKIF_RSP_* status for a -errno (0 -> OKAY). */
int16_t blkback_status(int err);

/*
 * The backing path from xenstore: physical-device-path wins, else params
 * with a known "format:" or "tap:format:" prefix removed. Returns a
 * pointer into the given string, or NULL when the format is one we cannot
 * serve (qcow2, vhd...).
 */
const char *blkback_backing_path(const char *params);

/* Parse "r"/"w"/"w!"...: returns 1 read-only, 0 writable, -EINVAL. */
int blkback_parse_mode(const char *mode);

/* Parse the frontend's protocol; NULL means the default (native). Returns
 * 0 and sets *abi, or -ENOSYS for an ABI we do not speak. */
int blkback_parse_protocol(const char *proto, enum blkback_abi *abi);

#endif
