/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two x86 wire layouts of the blkif ring, spelled out.
 *
 * blkif.h describes the ring in the compiler's native ABI. A 64-bit backend
 * also serves 32-bit guests, whose structs align uint64_t on 4 bytes, so
 * both layouts are written here with explicit padding and checked against
 * the offsets the two ABIs give. Shared by the backend and the simulated
 * frontend in tests/blk/.
 */
#ifndef BLKBACK_ABI_H
#define BLKBACK_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ring.h wants these; userspace has no kernel barriers. */
#ifndef mb
#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#ifndef rmb
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif
#ifndef wmb
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/ring.h>

enum blkback_abi {
	BLKBACK_ABI_X86_64 = 0,
	BLKBACK_ABI_X86_32 = 1,
};

#define BLKBACK_ABI_NATIVE BLKBACK_ABI_X86_64

/* ---- x86_32: uint64_t aligned on 4 ---- */
struct blkback_x86_32_request {
	uint8_t operation;
	uint8_t nr_segments;
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} __attribute__((packed, aligned(4)));

struct blkback_x86_32_request_discard {
	uint8_t operation;
	uint8_t flag;
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	uint64_t nr_sectors;
} __attribute__((packed, aligned(4)));

struct blkback_x86_32_request_indirect {
	uint8_t operation;
	uint8_t indirect_op;
	uint16_t nr_segments;
	uint64_t id;
	uint64_t sector_number;
	uint16_t handle;
	uint16_t _pad1;
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint64_t _pad2;
} __attribute__((packed, aligned(4)));

struct blkback_x86_32_response {
	uint64_t id;
	uint8_t operation;
	uint8_t _pad;
	int16_t status;
} __attribute__((packed, aligned(4)));

/* ---- x86_64: natural alignment ---- */
struct blkback_x86_64_request {
	uint8_t operation;
	uint8_t nr_segments;
	uint16_t handle;
	uint32_t _pad1;
	uint64_t id;
	uint64_t sector_number;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} __attribute__((aligned(8)));

struct blkback_x86_64_request_discard {
	uint8_t operation;
	uint8_t flag;
	uint16_t handle;
	uint32_t _pad1;
	uint64_t id;
	uint64_t sector_number;
	uint64_t nr_sectors;
} __attribute__((aligned(8)));

struct blkback_x86_64_request_indirect {
	uint8_t operation;
	uint8_t indirect_op;
	uint16_t nr_segments;
	uint32_t _pad1;
	uint64_t id;
	uint64_t sector_number;
	uint16_t handle;
	uint16_t _pad2;
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint32_t _pad3;
} __attribute__((aligned(8)));

struct blkback_x86_64_response {
	uint64_t id;
	uint8_t operation;
	uint8_t _pad;
	int16_t status;
	uint32_t _pad2;
} __attribute__((aligned(8)));

DEFINE_RING_TYPES(blkback_x86_32, struct blkback_x86_32_request,
		  struct blkback_x86_32_response);
DEFINE_RING_TYPES(blkback_x86_64, struct blkback_x86_64_request,
		  struct blkback_x86_64_response);

_Static_assert(sizeof(struct blkback_x86_32_request) == 108, "x86_32 req");
_Static_assert(offsetof(struct blkback_x86_32_request, id) == 4, "x86_32 id");
_Static_assert(offsetof(struct blkback_x86_32_request, seg) == 20,
	       "x86_32 seg");
_Static_assert(sizeof(struct blkback_x86_32_request_discard) == 28,
	       "x86_32 discard");
_Static_assert(sizeof(struct blkback_x86_32_request_indirect) == 64,
	       "x86_32 indirect");
_Static_assert(offsetof(struct blkback_x86_32_request_indirect,
			indirect_grefs) == 24,
	       "x86_32 indirect grefs");
_Static_assert(sizeof(struct blkback_x86_32_response) == 12, "x86_32 rsp");
_Static_assert(sizeof(union blkback_x86_32_sring_entry) == 108,
	       "x86_32 entry");
_Static_assert(sizeof(struct blkback_x86_64_request) == 112, "x86_64 req");
_Static_assert(sizeof(struct blkback_x86_64_request_discard) == 32,
	       "x86_64 discard");
_Static_assert(sizeof(struct blkback_x86_64_request_indirect) == 64,
	       "x86_64 indirect");
_Static_assert(offsetof(struct blkback_x86_64_request_indirect,
			indirect_grefs) == 28,
	       "x86_64 indirect grefs");
_Static_assert(sizeof(struct blkback_x86_64_response) == 16, "x86_64 rsp");
_Static_assert(sizeof(union blkback_x86_64_sring_entry) == 112,
	       "x86_64 entry");
_Static_assert(offsetof(struct blkback_x86_64_sring, ring) == 64, "sring");
_Static_assert(offsetof(struct blkback_x86_32_sring, ring) == 64, "sring32");
#if defined(__x86_64__)
/* Native blkif.h must agree with the x86_64 layout. */
_Static_assert(sizeof(struct blkif_request) == 112, "native req");
_Static_assert(offsetof(struct blkif_request, id) == 8, "native id");
_Static_assert(offsetof(struct blkif_request_indirect, indirect_grefs) == 28,
	       "native indirect");
_Static_assert(sizeof(struct blkif_response) == 16, "native rsp");
#endif

/* Segments per indirect page. */
#define BLKBACK_SEGS_PER_INDIRECT_PAGE \
	(4096u / sizeof(struct blkif_request_segment))

/* Entries in a ring of 2^order pages, for either ABI. */
static inline unsigned int blkback_ring_entries(enum blkback_abi abi,
						unsigned int order)
{
	size_t bytes = (size_t)4096 << order;
	size_t esz = abi == BLKBACK_ABI_X86_32 ?
			     sizeof(union blkback_x86_32_sring_entry) :
			     sizeof(union blkback_x86_64_sring_entry);
	unsigned int n = (unsigned int)((bytes - 64) / esz);
	unsigned int p = 1;

	while (p * 2 <= n)
		p *= 2;
	return p;
}

#endif
