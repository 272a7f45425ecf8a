/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated Linux-like blkfront, written against blkif.h and the sim
 * guest API (simguest.h): negotiates through xenstore the way Linux's
 * xen-blkfront does (talk_to_blkback, then blkfront_connect), then drives
 * read/write/flush/barrier/discard/indirect requests on one or more rings.
 *
 * Single-threaded: one struct blkfront is driven by one thread.
 */
#ifndef BLKFRONT_H
#define BLKFRONT_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#include "blkback_abi.h"
#include "simguest.h"

struct bf_opts {
	unsigned int nr_queues;  /* asked for (capped by the backend); 0: 1 */
	unsigned int ring_order; /* asked for (capped by the backend) */
	bool persistent;         /* feature-persistent=1, reuse grants */
	bool no_indirect;        /* never use BLKIF_OP_INDIRECT */
	unsigned int max_indirect; /* cap on segments per indirect request */
	enum blkback_abi abi;
	bool no_protocol;        /* do not write the protocol key */
	unsigned int pool_pages; /* data pages (0: 2048) */
};

struct bf_io;
typedef void (*bf_done_fn)(struct bf_io *io);

/* One I/O; the caller owns it until done. */
struct bf_io {
	uint8_t op;           /* BLKIF_OP_READ/WRITE/FLUSH_DISKCACHE/
			       * WRITE_BARRIER/DISCARD */
	uint64_t sector;      /* 512-byte units */
	uint32_t nr_sectors;  /* data (rw) or range (discard) */
	unsigned int page_off; /* rw: first sector inside the first page */
	void *buf;            /* rw: nr_sectors * 512 bytes; NULL: no copy,
			       * the data stays in the granted pages */
	bool secure;          /* discard: BLKIF_DISCARD_SECURE */
	int queue;            /* -1: round robin */
	bf_done_fn done_fn;
	void *priv;
	/* out */
	bool done;
	int16_t status;
	uint8_t rsp_op;
};

struct bf_page {
	void *va;
	uint32_t frame;
	int pref;             /* persistent grant ref, or -1 */
	struct bf_page *next;
};

struct bf_shadow {
	struct bf_io *io;
	unsigned int npages;
	struct bf_page **pages; /* max_segs */
	int *grefs;
	unsigned int nind;
	struct bf_page *ind[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	int ind_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	bool used;
	bool raw;             /* submitted with bf_submit_raw */
	unsigned int next_free;
};

struct bf_queue {
	struct blkfront *f;
	unsigned int index;
	void *ring;           /* ring pages, contiguous */
	uint32_t ring_frames[16];
	int ring_refs[16];
	unsigned int nr_ring_pages;
	int port;
	int evfd;
	union {
		struct blkback_x86_64_front_ring r64;
		struct blkback_x86_32_front_ring r32;
	} ring_u;
	unsigned int ring_size;
	struct bf_shadow *shadow;
	unsigned int free_head; /* shadow free list */
	unsigned int inflight;
};

struct blkfront {
	struct sg_domain *sg;
	struct xs_handle *xs;
	unsigned int domid;
	char be[128], fe[128];
	struct bf_opts o;

	/* From the backend. */
	unsigned int be_max_queues, be_max_order, be_max_indirect;
	uint64_t sectors;
	unsigned int sector_size, phys_sector_size, info;
	bool feat_flush, feat_barrier, feat_discard, feat_persistent;
	bool discard_secure;
	unsigned int discard_granularity, discard_alignment;

	/* Negotiated. */
	unsigned int nr_queues;
	unsigned int ring_order;
	bool persistent;
	unsigned int max_segs;   /* per request */
	struct bf_queue *q;
	unsigned int rr;

	struct bf_page *pages;   /* all pool pages */
	unsigned int nr_pages;
	struct bf_page *free_pages;
	unsigned int nr_free;

	/* Counters. */
	unsigned long long completed;
	unsigned long long grant_end_failures; /* backend still mapped */
	unsigned long long bad_responses;
};

/* Negotiate as Linux does and reach Connected. 0 or -errno. */
int bf_connect(struct blkfront *f, struct sg_domain *sg, struct xs_handle *xs,
	       const char *be, const char *fe, const struct bf_opts *o,
	       int timeout_ms);
/* Wait for in-flight I/O, go Closing/Closed, revoke every grant (counting
 * those the backend still maps) and free. 0 or -errno. */
int bf_close(struct blkfront *f, int timeout_ms);
/* Free everything without talking to the backend. */
void bf_release(struct blkfront *f);

/* Queue io on its ring and notify. -EAGAIN if the ring or the page pool is
 * full (poll and retry), -EINVAL if io cannot be expressed. */
int bf_submit(struct blkfront *f, struct bf_io *io);
/* Wait up to timeout_ms for responses and process them: the number
 * completed, or -errno (-ETIMEDOUT). */
int bf_poll(struct blkfront *f, int timeout_ms);
/* Poll until nothing is in flight. 0 or -ETIMEDOUT. */
int bf_drain(struct blkfront *f, int timeout_ms);
/* Submit one io and wait for it; returns its status (BLKIF_RSP_*) or
 * -errno on a transport failure. */
int bf_sync(struct blkfront *f, struct bf_io *io, int timeout_ms);
/* Convenience: synchronous read/write of n sectors. Status or -errno. */
int bf_rw(struct blkfront *f, uint8_t op, uint64_t sector, void *buf,
	  uint32_t n);

/*
 * Hostile helpers: put raw bytes (an entry of the queue's ABI) at the next
 * request slot, as if by a buggy guest, and push. The response comes back
 * to io (which gets status/rsp_op; io->op etc. are ignored). -EAGAIN if the
 * ring is full.
 */
int bf_submit_raw(struct blkfront *f, unsigned int queue, const void *entry,
		  size_t len, struct bf_io *io, uint64_t *id_out);
/* The shared ring page of a queue, for tests that corrupt indexes. */
void *bf_sring(struct blkfront *f, unsigned int queue);
/* Ask a page from the pool and grant it (readonly or not); returns the ref
 * and the va through *va. -errno on failure. For hostile tests. */
int bf_grant_page(struct blkfront *f, bool readonly, void **va,
		  struct bf_page **pg);
void bf_ungrant_page(struct blkfront *f, int ref, struct bf_page *pg);

#endif
