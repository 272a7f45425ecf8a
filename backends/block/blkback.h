/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkback internals: the device, its queues, the I/O engines and the
 * persistent grant cache. Private to backends/block/.
 *
 * Ownership: struct blkback_dev and the queue array belong to the main
 * thread (xenbus hooks). Between start and stop, everything inside a
 * struct blkback_queue except `stats` belongs to the queue's worker
 * thread; the main thread reads `stats` with relaxed atomics.
 */
#ifndef BLKBACK_H
#define BLKBACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <libaio.h>

#include "blkback_req.h"
#include "xb_device.h"
#include "xb_platform.h"

struct xb_worker;
struct blkback_queue;
struct blkback_req;

enum blkback_engine_kind {
	BLKBACK_ENGINE_AUTO,
	BLKBACK_ENGINE_URING,
	BLKBACK_ENGINE_AIO,
	BLKBACK_ENGINE_NULL,
};

/*
 * An I/O engine serves one queue on its worker thread. submit_* queue an
 * operation (nothing reaches the kernel before commit); every queued
 * operation later completes exactly once through blkback_io_done().
 */
struct blkback_engine_ops {
	const char *name;
	/* depth: max operations in flight. Returns 0 or -errno. */
	int (*init)(struct blkback_queue *q, unsigned int depth);
	void (*fini)(struct blkback_queue *q); /* accepts a failed init */
	/* Pollable completion fd, or -1 if completions are synchronous. */
	int (*fd)(struct blkback_queue *q);
	int (*submit_rw)(struct blkback_queue *q, struct blkback_req *r);
	int (*submit_fsync)(struct blkback_queue *q, struct blkback_req *r);
	/* Optional: punch a hole of r->disc_len bytes at r->offset in a
	 * regular file, off the worker thread. NULL: the queue does it
	 * synchronously. */
	int (*submit_discard)(struct blkback_queue *q, struct blkback_req *r);
	/* Hand queued operations to the kernel. Returns 0 or -errno. */
	int (*commit)(struct blkback_queue *q);
	/* Complete what has finished; wait for at least one if wait. */
	int (*reap)(struct blkback_queue *q, bool wait);
	/* Optional: true if reap would find completions (cheap, no syscall). */
	bool (*ready)(struct blkback_queue *q);
};

/* Largest batch of requests handed to the engine in one commit. */
#ifndef BLKBACK_COMMIT_MAX
#define BLKBACK_COMMIT_MAX 16
#endif

extern const struct blkback_engine_ops blkback_uring_engine;
extern const struct blkback_engine_ops blkback_aio_engine;
extern const struct blkback_engine_ops blkback_null_engine;

/* A persistently mapped grant. */
struct blkback_pgnt {
	xb_gref_t ref;
	void *addr;
	uint32_t users;            /* requests in flight using it */
	uint64_t last_used;        /* monotonic seconds */
	struct blkback_pgnt *hnext; /* hash chain */
	struct blkback_pgnt *lru_prev, *lru_next; /* most recent at head */
};

struct blkback_pgnt_cache {
	struct blkback_pgnt *ents; /* max entries */
	struct blkback_pgnt *free;
	struct blkback_pgnt **hash;
	unsigned int hash_mask;
	unsigned int max, count;
	struct blkback_pgnt lru; /* sentinel */
};

enum blkback_req_state {
	BLKBACK_REQ_FREE,
	BLKBACK_REQ_IO,      /* read/write in the engine */
	BLKBACK_REQ_FSYNC,   /* flush in the engine */
	BLKBACK_REQ_DISCARD, /* punch-hole in the engine */
};

/* One request in flight; ring-size of them per queue. */
struct blkback_req {
	struct blkback_queue *q;
	struct blkback_req *next; /* free list / done list */
	uint64_t id;
	uint8_t rsp_op;
	uint8_t io_op;
	int16_t status;
	enum blkback_req_state state;
	bool write;
	bool fsync_after;   /* flush/barrier: fdatasync once the write is done */
	uint64_t offset;    /* bytes */
	uint32_t len;       /* bytes left to transfer */
	uint32_t done;      /* bytes transferred so far */
	uint64_t disc_len;  /* discard: bytes */
	bool disc_secure;   /* discard: BLKSECDISCARD */
	int slow_res;       /* an operation done outside the engine: result */
	/* Non-persistent data mapping: one contiguous range. */
	void *map_addr;
	unsigned int map_count;
	/* Persistent grants held by this request. */
	struct blkback_pgnt **pg;
	unsigned int nr_pg;
	struct iovec *iov;
	unsigned int iovcnt;
	struct iocb iocb;   /* aio engine */
};

/* Counters; written by the worker, read by get_stats (relaxed atomics). */
struct blkback_stats {
	uint64_t requests;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t errors;
	uint64_t ring_errors;
	uint64_t poll_hits;
	uint64_t poll_misses;
	uint64_t grant_maps;
	uint64_t persistent_hits;
};

/* The worker is the only writer; get_stats reads with relaxed loads. */
static inline void blkback_stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

struct blkback_dev;

struct blkback_queue {
	struct blkback_dev *bd;
	unsigned int index;
	struct xb_worker *worker;
	char name[64];              /* "d7/vbd51712/q0": log prefix */

	/* Transport (set up on the main thread, then the worker's). */
	xb_gref_t ring_refs[1u << BLKBACK_MAX_RING_ORDER];
	unsigned int nr_ring_pages;
	uint32_t evtchn_port;
	void *ring_addr;
	struct xb_evtchn *ec;
	int ec_fd;
	enum blkback_abi abi;
	union {
		struct blkback_x86_64_back_ring r64;
		struct blkback_x86_32_back_ring r32;
	} ring;
	unsigned int ring_size;
	bool persistent;

	/* Worker state. */
	const struct blkback_engine_ops *eng;
	void *eng_priv;
	int eng_fd;
	int timer_fd;
	bool started;
	bool dead;         /* protocol violation: serve nothing more */
	bool stopping;
	struct blkback_req *reqs;
	struct blkback_req *free_reqs;
	struct blkback_req *done_head, *done_tail; /* awaiting a response */
	unsigned int inflight;     /* requests taken and not answered */
	struct blkback_req *exclusive; /* flush/barrier waiting for a drain */
	bool excl_running;         /* the exclusive request is in the engine */
	unsigned int queued;       /* engine ops queued since commit */
	unsigned int eng_inflight; /* engine ops not yet completed */
	/* Operations that block (BLKDISCARD, fallocate without io_uring) run
	 * on a thread of the queue's own, started at the first one; they
	 * count in eng_inflight too. */
	struct blkback_slow *slow;
	unsigned int slow_inflight;
	struct blkback_pgnt_cache pgc;
	/* Scratch for one request's segments (indirect up to max). */
	struct blkif_request_segment *segs;
	xb_gref_t *refs;

	struct blkback_stats stats;
};

struct blkback_dev {
	struct xb_device *dev;

	/* Backing store (prepare). */
	char *path;
	int fd;
	bool readonly;
	bool direct;
	/* Writes and flushes done by the worker itself (blkback_engine.c):
	 * a buffered file on a memory filesystem (tmpfs, ramfs). */
	bool inline_writes;
	bool is_blkdev;
	dev_t rdev;   /* the block device opened (the loop's, when we serve
		       * its file): its uevents may say it was resized */
	bool cdrom;
	bool removable;
	uint64_t size;               /* bytes */
	unsigned int sector_size;    /* logical */
	unsigned int phys_sector_size;
	bool discard;
	bool discard_secure;
	unsigned int discard_granularity;
	unsigned int discard_alignment;

	/* Configuration (probe). */
	enum blkback_engine_kind engine;
	unsigned int max_queues;
	unsigned int max_ring_order;
	unsigned int max_indirect;
	unsigned int max_persistent;
	unsigned int persistent_idle;
	uint64_t poll_ns;            /* --blk-poll-us */

	/* Connection. */
	struct blkback_limits lim;
	unsigned int nr_queues;
	struct blkback_queue *queues;
	/* Counters of queues already torn down, so stats stay cumulative. */
	struct blkback_stats old_stats;
};

/* blkback_queue.c */
int blkback_queue_start(void *arg);  /* worker thread, via xb_worker_call */
int blkback_queue_stop(void *arg);   /* worker thread, via xb_worker_call */
/* Called by engines once per queued operation; res: bytes or -errno. */
void blkback_io_done(struct blkback_req *r, int res);

/* blkback_pgnt.c: persistent grant cache, worker thread only. */
int blkback_pgnt_init(struct blkback_pgnt_cache *c, unsigned int max);
/* Find or map ref; NULL when it cannot be kept (cache full, map error:
 * *err says which, -ENOSPC for full). */
struct blkback_pgnt *blkback_pgnt_get(struct blkback_queue *q, xb_gref_t ref,
				      uint64_t now, int *err);
void blkback_pgnt_put(struct blkback_pgnt *g, uint64_t now);
/* Unmap at most max unused grants idle for more than idle seconds (any if
 * idle 0), oldest first; true if more are due. */
bool blkback_pgnt_purge(struct blkback_queue *q, uint64_t now,
			unsigned int idle, unsigned int max);
void blkback_pgnt_fini(struct blkback_queue *q);

#endif
