/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One blkif ring served on one worker thread.
 *
 * The worker waits on two fds: the event channel (the guest produced
 * requests) and the engine's completion fd. Each wake-up consumes what the
 * ring holds, maps the data grants, queues I/O, hands the batch to the
 * kernel in one go, writes the responses that are ready and notifies the
 * guest once.
 *
 * Untrusted: everything in the shared ring (req_prod and every entry) and
 * in indirect pages. The producer index is read once per pass and checked
 * against our own response index; each entry is copied once
 * (RING_COPY_REQUEST) and only the copy is looked at afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "blkback.h"
#include "xb_log.h"
#include "xb_worker.h"

#define SECTOR_SHIFT 9

static uint64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Runs stmt with R bound to the ring of the queue's ABI. */
#define WITH_RING(q, stmt)                                               \
	do {                                                             \
		if ((q)->abi == BLKBACK_ABI_X86_32) {                    \
			struct blkback_x86_32_back_ring *R = &(q)->ring.r32; \
			stmt;                                            \
		} else {                                                 \
			struct blkback_x86_64_back_ring *R = &(q)->ring.r64; \
			stmt;                                            \
		}                                                        \
	} while (0)

static unsigned int max_segs(const struct blkback_queue *q)
{
	unsigned int m = q->bd->lim.max_indirect;

	return m > BLKIF_MAX_SEGMENTS_PER_REQUEST ?
		       m : BLKIF_MAX_SEGMENTS_PER_REQUEST;
}

/* ---- releasing what a request holds ---- */

static void req_release(struct blkback_queue *q, struct blkback_req *r)
{
	struct xb_platform *plat = q->bd->dev->plat;

	if (r->map_addr) {
		int err = xb_gnt_unmap(plat, r->map_addr, r->map_count);

		if (err)
			dev_err_errno(q, err, "unmapping %u data grants",
				      r->map_count);
		r->map_addr = NULL;
		r->map_count = 0;
	}
	if (r->nr_pg) {
		uint64_t now = now_sec();

		for (unsigned int i = 0; i < r->nr_pg; i++)
			blkback_pgnt_put(r->pg[i], now);
		r->nr_pg = 0;
	}
}

/* The request is answered on the next respond pass. */
static void req_finish(struct blkback_queue *q, struct blkback_req *r,
		       int err)
{
	req_release(q, r);
	r->status = blkback_status(err);
	if (err) {
		blkback_stat_add(&q->stats.errors, 1);
		dev_debug_errno(q, err, "request %llu op %u failed",
				(unsigned long long)r->id, r->io_op);
	} else if (r->done) {
		blkback_stat_add(r->write ? &q->stats.bytes_written :
				    &q->stats.bytes_read,
			 r->done);
	}
	r->state = BLKBACK_REQ_FREE;
	r->next = NULL;
	if (q->done_tail)
		q->done_tail->next = r;
	else
		q->done_head = r;
	q->done_tail = r;
}

/* ---- engine calls, with the in-flight accounting ---- */

static int eng_submit_rw(struct blkback_queue *q, struct blkback_req *r)
{
	int err;

	r->state = BLKBACK_REQ_IO;
	q->eng_inflight++;
	q->queued++;
	err = q->eng->submit_rw(q, r);
	if (err) {
		q->eng_inflight--;
		q->queued--;
	}
	return err;
}

static int eng_submit_fsync(struct blkback_queue *q, struct blkback_req *r)
{
	int err;

	r->state = BLKBACK_REQ_FSYNC;
	q->eng_inflight++;
	q->queued++;
	err = q->eng->submit_fsync(q, r);
	if (err) {
		q->eng_inflight--;
		q->queued--;
	}
	return err;
}

static int eng_submit_discard(struct blkback_queue *q, struct blkback_req *r)
{
	int err;

	r->state = BLKBACK_REQ_DISCARD;
	q->eng_inflight++;
	q->queued++;
	err = q->eng->submit_discard(q, r);
	if (err) {
		q->eng_inflight--;
		q->queued--;
	}
	return err;
}

/* Skip n transferred bytes at the front of the iovec (a short transfer). */
static void iov_advance(struct blkback_req *r, size_t n)
{
	unsigned int i = 0;

	while (i < r->iovcnt && n >= r->iov[i].iov_len)
		n -= r->iov[i++].iov_len;
	memmove(r->iov, r->iov + i, (r->iovcnt - i) * sizeof(*r->iov));
	r->iovcnt -= i;
	if (r->iovcnt && n) {
		r->iov[0].iov_base = (char *)r->iov[0].iov_base + n;
		r->iov[0].iov_len -= n;
	}
}

void blkback_io_done(struct blkback_req *r, int res)
{
	struct blkback_queue *q = r->q;
	int err;

	q->eng_inflight--;
	if (res < 0) {
		if (res != -EOPNOTSUPP) {
			bool disc = r->state == BLKBACK_REQ_DISCARD;

			dev_warn_errno(q, res, "%s at %llu+%llu",
				       r->state == BLKBACK_REQ_FSYNC ? "flush" :
				       disc	 ? "discard" :
				       r->write ? "write" :
						  "read",
				       (unsigned long long)r->offset,
				       (unsigned long long)(disc ? r->disc_len :
								   r->len));
		}
		req_finish(q, r, res);
		return;
	}
	if (r->state == BLKBACK_REQ_IO) {
		if ((unsigned int)res > r->len - r->done)
			res = (int)(r->len - r->done);
		r->done += (uint32_t)res;
		if (r->done < r->len) {
			/* Short transfer: nothing past the end can cause it
			 * (the range was checked), so retry the rest; a zero
			 * means the backing store shrank under us. */
			if (res == 0) {
				req_finish(q, r, -EIO);
				return;
			}
			iov_advance(r, (size_t)res);
			r->offset += (uint64_t)res;
			err = eng_submit_rw(q, r);
			if (err)
				req_finish(q, r, err);
			return;
		}
		if (r->fsync_after) {
			err = eng_submit_fsync(q, r);
			if (err)
				req_finish(q, r, err);
			return;
		}
	}
	req_finish(q, r, 0);
}

/* ---- responses ---- */

static void write_response(struct blkback_queue *q, struct blkback_req *r)
{
	if (q->abi == BLKBACK_ABI_X86_32) {
		struct blkback_x86_32_back_ring *R = &q->ring.r32;
		struct blkback_x86_32_response *rsp =
			RING_GET_RESPONSE(R, R->rsp_prod_pvt);

		rsp->id = r->id;
		rsp->operation = r->rsp_op;
		rsp->status = r->status;
		R->rsp_prod_pvt++;
	} else {
		struct blkback_x86_64_back_ring *R = &q->ring.r64;
		struct blkback_x86_64_response *rsp =
			RING_GET_RESPONSE(R, R->rsp_prod_pvt);

		rsp->id = r->id;
		rsp->operation = r->rsp_op;
		rsp->status = r->status;
		R->rsp_prod_pvt++;
	}
}

/* Answer every finished request; one notification for the batch. */
static void queue_respond(struct blkback_queue *q)
{
	struct blkback_req *r;
	int notify = 0;

	if (!q->done_head)
		return;
	while ((r = q->done_head)) {
		q->done_head = r->next;
		write_response(q, r);
		if (r == q->exclusive) {
			q->exclusive = NULL;
			q->excl_running = false;
		}
		r->next = q->free_reqs;
		q->free_reqs = r;
		q->inflight--;
	}
	q->done_tail = NULL;
	WITH_RING(q, RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(R, notify));
	if (notify) {
		int err = xb_evtchn_notify(q->ec);

		if (err)
			dev_warn_errno(q, err, "notify");
	}
}

/* ---- mapping a request's data ---- */

/*
 * Read the segment list of an indirect request into q->segs: map the
 * indirect pages, copy n segments out once, unmap. Returns 0 or -errno.
 */
static int read_indirect(struct blkback_queue *q,
			 const struct blkback_preq *p)
{
	struct xb_platform *plat = q->bd->dev->plat;
	unsigned int left = p->nr_segs;
	void *addr;
	int err;

	/*
	 * With feature-persistent the indirect pages come from the same pool
	 * of grants as the data (Linux): keep them mapped too.
	 */
	if (q->persistent) {
		struct blkback_pgnt *g[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
		uint64_t now = now_sec();
		unsigned int i;

		for (i = 0; i < p->nr_indirect; i++) {
			g[i] = blkback_pgnt_get(q, p->indirect_grefs[i], now,
						&err);
			if (!g[i])
				break;
		}
		if (i == p->nr_indirect) {
			for (i = 0; i < p->nr_indirect; i++) {
				unsigned int n = left < BLKBACK_SEGS_PER_INDIRECT_PAGE ?
							 left :
							 BLKBACK_SEGS_PER_INDIRECT_PAGE;

				memcpy(q->segs + i * BLKBACK_SEGS_PER_INDIRECT_PAGE,
				       g[i]->addr, n * sizeof(*q->segs));
				left -= n;
				blkback_pgnt_put(g[i], now);
			}
			return 0;
		}
		while (i--)
			blkback_pgnt_put(g[i], now);
		if (err != -ENOSPC)
			return err;
	}
	for (unsigned int i = 0; i < p->nr_indirect; i++)
		q->refs[i] = p->indirect_grefs[i];
	err = xb_gnt_map(plat, q->bd->dev->domid, p->nr_indirect, q->refs,
			 false, &addr);
	if (err)
		return err;
	blkback_stat_add(&q->stats.grant_maps, p->nr_indirect);
	/* The pages are contiguous in the mapping and 512 segments fill one,
	 * so the list is one array. Copied once; only the copy is used. */
	memcpy(q->segs, addr, left * sizeof(*q->segs));
	err = xb_gnt_unmap(plat, addr, p->nr_indirect);
	if (err)
		dev_err_errno(q, err, "unmapping indirect pages");
	return 0;
}

/*
 * Map the n segments in q->segs for r and fill r->iov. Persistent grants
 * come from the cache where it has room; the rest are mapped in one batch.
 * On failure nothing stays mapped. Returns 0 or -errno.
 */
static int map_segments(struct blkback_queue *q, struct blkback_req *r,
			unsigned int n)
{
	struct xb_platform *plat = q->bd->dev->plat;
	struct blkif_request_segment *segs = q->segs;
	unsigned int nmap = 0, k = 0, got = 0;
	uint64_t now = 0;
	int err = 0;

	/* r->pg[i] is the cache entry of segment i, or NULL. */
	if (q->persistent) {
		now = now_sec();
		for (got = 0; got < n; got++) {
			unsigned int i = got;

			r->pg[i] = blkback_pgnt_get(q, segs[i].gref, now, &err);
			if (!r->pg[i]) {
				if (err != -ENOSPC)
					goto err_put;
				q->refs[nmap++] = segs[i].gref;
			}
		}
	} else {
		for (unsigned int i = 0; i < n; i++)
			q->refs[nmap++] = segs[i].gref;
	}
	if (nmap) {
		/* A read fills guest memory: the mapping must be writable. */
		err = xb_gnt_map(plat, q->bd->dev->domid, nmap, q->refs,
				 !r->write, &r->map_addr);
		if (err) {
			r->map_addr = NULL;
			goto err_put;
		}
		blkback_stat_add(&q->stats.grant_maps, nmap);
		r->map_count = nmap;
	}
	r->iovcnt = 0;
	for (unsigned int i = 0; i < n; i++) {
		char *page;
		char *base;
		size_t len;

		if (q->persistent && r->pg[i])
			page = r->pg[i]->addr;
		else
			page = (char *)r->map_addr + (size_t)k++ * XB_PAGE_SIZE;
		base = page + ((size_t)segs[i].first_sect << SECTOR_SHIFT);
		len = (size_t)(segs[i].last_sect - segs[i].first_sect + 1)
		      << SECTOR_SHIFT;
		if (r->iovcnt &&
		    (char *)r->iov[r->iovcnt - 1].iov_base +
				    r->iov[r->iovcnt - 1].iov_len ==
			    base) {
			r->iov[r->iovcnt - 1].iov_len += len;
		} else {
			r->iov[r->iovcnt].iov_base = base;
			r->iov[r->iovcnt].iov_len = len;
			r->iovcnt++;
		}
	}
	/* Compact the held persistent grants to the front of r->pg. */
	if (q->persistent) {
		unsigned int j = 0;

		for (unsigned int i = 0; i < n; i++)
			if (r->pg[i])
				r->pg[j++] = r->pg[i];
		r->nr_pg = j;
	}
	return 0;

err_put:
	/* Only the first `got` entries of r->pg are this request's. */
	for (unsigned int i = 0; i < got; i++)
		if (r->pg[i])
			blkback_pgnt_put(r->pg[i], now);
	r->nr_pg = 0;
	return err;
}

/* ---- operations that block, off the worker ---- */

/*
 * BLKDISCARD is an ioctl that waits for the device (io_uring cannot issue
 * it before Linux 6.12), and fallocate without io_uring is a plain system
 * call: run on the worker, a long one would hold up every queue of every
 * guest that worker serves. They go to a thread of this queue's instead
 * (Linux's blkback runs them in the ring's own thread), which answers
 * through an eventfd the worker watches.
 */
struct blkback_slow {
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blkback_req *todo, *todo_tail, *done;
	int efd;
	bool stop;
};

static int slow_run(struct blkback_queue *q, struct blkback_req *r)
{
	struct blkback_dev *bd = q->bd;

	if (bd->is_blkdev) {
		uint64_t range[2] = { r->offset, r->disc_len };

		if (ioctl(bd->fd, r->disc_secure ? BLKSECDISCARD : BLKDISCARD,
			  range) < 0)
			return -errno;
		return 0;
	}
	/* Punching a hole leaves the size alone and reads back zeroes. */
	if (fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)r->offset, (off_t)r->disc_len) < 0)
		return -errno;
	return 0;
}

static void *slow_main(void *arg)
{
	struct blkback_queue *q = arg;
	struct blkback_slow *s = q->slow;
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct blkback_req *r = s->todo;

		if (!r) {
			if (s->stop)
				break;
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		s->todo = r->next;
		if (!s->todo)
			s->todo_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		r->slow_res = slow_run(q, r);
		pthread_mutex_lock(&s->lock);
		r->next = s->done;
		s->done = r;
		pthread_cond_broadcast(&s->cond);
		if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			dev_warn_errno(q, -errno, "slow thread: eventfd");
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Worker: complete what the slow thread finished. */
static void slow_reap(struct blkback_queue *q)
{
	struct blkback_slow *s = q->slow;
	struct blkback_req *r, *next;
	uint64_t v;

	if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		dev_warn_errno(q, -errno, "slow thread: eventfd");
	pthread_mutex_lock(&s->lock);
	r = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; r; r = next) {
		next = r->next;
		q->slow_inflight--;
		blkback_io_done(r, r->slow_res);
	}
}

static void queue_run(struct blkback_queue *q);

static void slow_cb(int fd, uint32_t events, void *arg)
{
	struct blkback_queue *q = arg;

	slow_reap(q);
	queue_run(q);
}

static int slow_start(struct blkback_queue *q)
{
	struct blkback_slow *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		err = -errno;
		free(s);
		return err;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	err = xb_worker_add_fd(q->worker, s->efd, EPOLLIN, slow_cb, q);
	if (err)
		goto err;
	q->slow = s;
	err = -pthread_create(&s->thr, NULL, slow_main, q);
	if (err) {
		q->slow = NULL;
		xb_worker_del_fd(q->worker, s->efd);
		goto err;
	}
	pthread_setname_np(s->thr, "xb-blk-slow");
	return 0;
err:
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	close(s->efd);
	free(s);
	return err;
}

/* Worker, stopping: wait for the slow thread's work, then end it. */
static void slow_wait(struct blkback_queue *q)
{
	struct blkback_slow *s = q->slow;

	pthread_mutex_lock(&s->lock);
	while (!s->done)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	slow_reap(q);
}

static void slow_fini(struct blkback_queue *q)
{
	struct blkback_slow *s = q->slow;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thr, NULL);
	xb_worker_del_fd(q->worker, s->efd);
	close(s->efd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
	q->slow = NULL;
}

static int slow_submit(struct blkback_queue *q, struct blkback_req *r)
{
	struct blkback_slow *s;

	if (!q->slow) {
		int err = slow_start(q);

		if (err)
			return err;
	}
	s = q->slow;
	r->state = BLKBACK_REQ_DISCARD;
	r->next = NULL;
	q->eng_inflight++;
	q->slow_inflight++;
	pthread_mutex_lock(&s->lock);
	if (s->todo_tail)
		s->todo_tail->next = r;
	else
		s->todo = r;
	s->todo_tail = r;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- discard ---- */

/*
 * Files: a punch-hole through the engine when it can run one off this
 * thread (io_uring's fallocate, run by io-wq). Block devices (BLKDISCARD),
 * and files with an engine that cannot: the queue's slow thread.
 * Returns 1 if the request is under way, else 0 or -errno.
 */
static int do_discard(struct blkback_queue *q, struct blkback_req *r,
		      const struct blkback_preq *p)
{
	struct blkback_dev *bd = q->bd;
	int err;

	if (!p->nr_sectors)
		return 0;
	r->offset = p->sector << SECTOR_SHIFT;
	r->disc_len = p->nr_sectors << SECTOR_SHIFT;
	r->disc_secure = bd->is_blkdev && bd->discard_secure &&
			 (p->flag & BLKIF_DISCARD_SECURE);
	if (!bd->is_blkdev && q->eng->submit_discard)
		err = eng_submit_discard(q, r);
	else
		err = slow_submit(q, r);
	return err ? err : 1;
}

/* ---- one request ---- */

/*
 * Take one request (a private copy of its ring entry) and either queue it
 * to the engine, park it as the exclusive request, or finish it at once.
 */
static void queue_handle(struct blkback_queue *q, const void *entry)
{
	struct blkback_req *r = q->free_reqs;
	struct blkback_preq p;
	unsigned int n;
	uint64_t nsec = 0;
	int err;

	q->free_reqs = r->next;
	q->inflight++;
	blkback_req_decode(q->abi, entry, &p);
	r->id = p.id;
	r->rsp_op = p.rsp_op;
	r->io_op = p.io_op;
	r->write = false;
	r->fsync_after = false;
	r->done = 0;
	r->len = 0;
	r->disc_len = 0;
	r->offset = 0;
	r->iovcnt = 0;
	r->nr_pg = 0;
	r->map_addr = NULL;
	r->map_count = 0;
	blkback_stat_add(&q->stats.requests, 1);

	err = blkback_req_check(&p, &q->bd->lim);
	if (err)
		goto finish;

	switch (p.io_op) {
	case BLKIF_OP_DISCARD:
		err = do_discard(q, r, &p);
		if (err == 1)
			return;
		goto finish;
	case BLKIF_OP_FLUSH_DISKCACHE:
	case BLKIF_OP_WRITE_BARRIER:
		if (!p.nr_segs) {
			q->exclusive = r;
			return;
		}
		r->write = true;
		r->fsync_after = true;
		break;
	case BLKIF_OP_WRITE:
		r->write = true;
		break;
	default:
		break;
	}

	n = p.nr_segs;
	if (p.op == BLKIF_OP_INDIRECT) {
		err = read_indirect(q, &p);
		if (err)
			goto finish;
	} else {
		memcpy(q->segs, p.seg, n * sizeof(*q->segs));
	}
	err = blkback_segs_check(q->segs, n, p.sector, &q->bd->lim, &nsec);
	if (err)
		goto finish;
	err = map_segments(q, r, n);
	if (err)
		goto finish;
	r->offset = p.sector << SECTOR_SHIFT;
	r->len = (uint32_t)(nsec << SECTOR_SHIFT);
	if (r->fsync_after) {
		/* Flush with data: ordered after everything before it. */
		q->exclusive = r;
		return;
	}
	err = eng_submit_rw(q, r);
	if (err)
		goto finish;
	return;

finish:
	req_finish(q, r, err);
}

/* The exclusive request runs once everything before it is answered. */
static void queue_start_exclusive(struct blkback_queue *q)
{
	struct blkback_req *r = q->exclusive;
	int err;

	if (!r || q->excl_running || q->inflight != 1)
		return;
	q->excl_running = true;
	if (r->len)
		err = eng_submit_rw(q, r);
	else
		err = eng_submit_fsync(q, r);
	if (err)
		req_finish(q, r, err);
}

/* The guest broke the ring protocol: stop serving, tell the core. */
static void queue_broken(struct blkback_queue *q, const char *why,
			 unsigned int prod, unsigned int pvt)
{
	char msg[160];

	q->dead = true;
	blkback_stat_add(&q->stats.ring_errors, 1);
	snprintf(msg, sizeof(msg), "queue %u: %s (req_prod %u, rsp_prod %u)",
		 q->index, why, prod, pvt);
	dev_err(q, "%s", msg);
	xb_dev_fatal_async(q->bd->dev, msg);
}

static void queue_commit(struct blkback_queue *q)
{
	int err;

	if (!q->queued)
		return;
	err = q->eng->commit(q);
	if (err)
		dev_warn_errno(q, err, "%s: submit", q->eng->name);
}

/*
 * Copy out and handle what the ring holds. The I/O goes to the kernel in
 * batches that start small and double (1, 2, 4, ... up to
 * BLKBACK_COMMIT_MAX): the device starts on the first request while we
 * prepare the others, instead of waiting for the whole ring to be mapped
 * and submitted (a frontend that got 32 responses at once sends 32
 * requests at once; submitting them as one batch costs the first request
 * the kernel's time for all 32 and keeps the convoy going).
 */
static void queue_consume(struct blkback_queue *q)
{
	RING_IDX rc, rp, pvt;
	unsigned int size = q->ring_size;
	unsigned int batch = 1;

	if (q->dead || q->stopping || q->exclusive)
		return;
	/* req_prod is guest-written: one read, then only our copy. */
	rp = __atomic_load_n(&q->ring.r64.sring->req_prod, __ATOMIC_ACQUIRE);
	if (q->abi == BLKBACK_ABI_X86_32) {
		rc = q->ring.r32.req_cons;
		pvt = q->ring.r32.rsp_prod_pvt;
	} else {
		rc = q->ring.r64.req_cons;
		pvt = q->ring.r64.rsp_prod_pvt;
	}
	if (rp - pvt > size) {
		queue_broken(q, "ring overflow", rp, pvt);
		return;
	}
	while (rc != rp) {
		/* Never more in flight than the ring has room to answer. */
		if (rc - pvt >= size || !q->free_reqs)
			break;
		if (q->abi == BLKBACK_ABI_X86_32) {
			struct blkback_x86_32_request e;

			RING_COPY_REQUEST(&q->ring.r32, rc, &e);
			q->ring.r32.req_cons = ++rc;
			queue_handle(q, &e);
		} else {
			struct blkback_x86_64_request e;

			RING_COPY_REQUEST(&q->ring.r64, rc, &e);
			q->ring.r64.req_cons = ++rc;
			queue_handle(q, &e);
		}
		if (q->exclusive)
			break;
		if (q->queued >= batch) {
			queue_commit(q);
			if (batch < BLKBACK_COMMIT_MAX)
				batch *= 2;
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * --blk-poll-us: once every request taken is answered, the guest usually
 * sends its next one within microseconds: look at the ring for a short
 * while before sleeping, which saves a wake-up on each side (as vhost's
 * busyloop). Only then: with I/O in flight the spinning would take the CPU
 * from what completes it (io_uring's workers on a file without NOWAIT
 * reads, measured: QD32 58k -> 33k IOPS). The guest is not asked for a
 * notification meanwhile (req_event stays behind, as vhost disables
 * notifications while it polls): the caller's final check asks for one
 * when the poll ends empty. Returns true if a request came.
 */
static bool queue_busy_poll(struct blkback_queue *q)
{
	uint64_t end = now_ns() + q->bd->poll_ns;
	RING_IDX cons = q->abi == BLKBACK_ABI_X86_32 ? q->ring.r32.req_cons :
						      q->ring.r64.req_cons;

	do {
		for (int i = 0; i < 64; i++) {
			if (__atomic_load_n(&q->ring.r64.sring->req_prod,
					    __ATOMIC_ACQUIRE) != cons) {
				blkback_stat_add(&q->stats.poll_hits, 1);
				return true;
			}
			cpu_relax();
		}
	} while (now_ns() < end);
	blkback_stat_add(&q->stats.poll_misses, 1);
	return false;
}

/* One pass: consume, submit the batch, answer, until the ring is idle. */
static void queue_run(struct blkback_queue *q)
{
	int more;

	do {
		queue_consume(q);
		queue_commit(q);
		queue_respond(q);
		if (q->exclusive) {
			queue_start_exclusive(q);
			queue_commit(q);
			queue_respond(q);
			if (q->exclusive)
				return; /* resumed by its completion */
		}
		if (q->dead || q->stopping)
			return;
		if (q->bd->poll_ns && !q->inflight && queue_busy_poll(q)) {
			more = 1;
			continue;
		}
		WITH_RING(q, RING_FINAL_CHECK_FOR_REQUESTS(R, more));
	} while (more);
}

/* ---- worker callbacks ---- */

/*
 * The guest's requests go to the device before the event channel is
 * acknowledged: under a PV dom0 the ack's read and unmask are two trips
 * through the hypervisor (~20 us each under QEMU's TCG, measured) that the
 * I/O need not wait for. queue_run's final check comes after the ack, so a
 * request sent meanwhile is seen whichever way the platform signals it.
 */
static void evtchn_cb(int fd, uint32_t events, void *arg)
{
	struct blkback_queue *q = arg;
	int r;

	queue_consume(q);
	queue_commit(q);
	r = xb_evtchn_ack(q->ec);
	if (r < 0)
		dev_warn_errno(q, r, "event channel ack");
	queue_run(q);
}

static void engine_cb(int fd, uint32_t events, void *arg)
{
	struct blkback_queue *q = arg;
	int err;

	/* events 0: the worker's wait was interrupted (xb_worker_fd_on_wake),
	 * maybe by another queue's completion. */
	if (!events && !(q->eng->ready && q->eng->ready(q)))
		return;
	err = q->eng->reap(q, false);

	if (err)
		dev_warn_errno(q, err, "%s: reap", q->eng->name);
	queue_run(q);
}

/* Idle persistent grants unmapped per purge, and how soon the next purge
 * comes when more were due (Linux's blkback: a share of its pool every
 * 100 ms). */
#define PURGE_BATCH 32u
#define PURGE_AGAIN_NS 100000000L

/* The purge timer: every persistent_idle / 2 seconds, the first after
 * first_ns. 0 or -errno. */
static int purge_timer_arm(struct blkback_queue *q, long first_ns)
{
	time_t period = q->bd->persistent_idle / 2 ?: 1;
	struct itimerspec its = {
		.it_interval = { .tv_sec = period },
		.it_value = { .tv_sec = first_ns ? 0 : period,
			      .tv_nsec = first_ns },
	};

	return timerfd_settime(q->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static void timer_cb(int fd, uint32_t events, void *arg)
{
	struct blkback_queue *q = arg;
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	if (blkback_pgnt_purge(q, now_sec(), q->bd->persistent_idle,
			       PURGE_BATCH))
		purge_timer_arm(q, PURGE_AGAIN_NS);
}

/* ---- start / stop ---- */

static void queue_free_mem(struct blkback_queue *q)
{
	if (q->reqs) {
		for (unsigned int i = 0; i < q->ring_size; i++) {
			free(q->reqs[i].iov);
			free(q->reqs[i].pg);
		}
	}
	free(q->reqs);
	q->reqs = NULL;
	free(q->segs);
	q->segs = NULL;
	free(q->refs);
	q->refs = NULL;
	q->free_reqs = NULL;
}

static int queue_alloc_mem(struct blkback_queue *q)
{
	unsigned int ms = max_segs(q);

	q->reqs = calloc(q->ring_size, sizeof(*q->reqs));
	q->segs = calloc(ms, sizeof(*q->segs));
	q->refs = calloc(ms, sizeof(*q->refs));
	if (!q->reqs || !q->segs || !q->refs)
		return -ENOMEM;
	for (unsigned int i = 0; i < q->ring_size; i++) {
		struct blkback_req *r = &q->reqs[i];

		r->q = q;
		r->iov = calloc(ms, sizeof(*r->iov));
		if (!r->iov)
			return -ENOMEM;
		if (q->persistent) {
			r->pg = calloc(ms, sizeof(*r->pg));
			if (!r->pg)
				return -ENOMEM;
		}
		r->next = q->free_reqs;
		q->free_reqs = r;
	}
	return 0;
}

static const struct blkback_engine_ops *
engine_for(enum blkback_engine_kind k)
{
	switch (k) {
	case BLKBACK_ENGINE_AIO:
		return &blkback_aio_engine;
	case BLKBACK_ENGINE_NULL:
		return &blkback_null_engine;
	default:
		return &blkback_uring_engine;
	}
}

static int queue_engine_init(struct blkback_queue *q)
{
	/* Room for every request plus the fsync a flush adds. */
	unsigned int depth = q->ring_size;
	int err;

	q->eng = engine_for(q->bd->engine);
	err = q->eng->init(q, depth);
	if (err && q->bd->engine == BLKBACK_ENGINE_AUTO) {
		dev_warn_errno(q, err, "io_uring unavailable, using libaio");
		q->eng->fini(q);
		q->eng = &blkback_aio_engine;
		err = q->eng->init(q, depth);
	}
	if (err) {
		dev_err_errno(q, err, "%s: init", q->eng->name);
		q->eng->fini(q);
		q->eng = NULL;
	}
	return err;
}

/* Worker thread. Returns 0 or -errno; on failure nothing is left behind. */
int blkback_queue_start(void *arg)
{
	struct blkback_queue *q = arg;
	int err;

	q->eng_fd = -1;
	q->timer_fd = -1;
	err = queue_alloc_mem(q);
	if (err)
		goto err_mem;
	if (q->persistent) {
		err = blkback_pgnt_init(&q->pgc, q->bd->max_persistent);
		if (err)
			goto err_mem;
	}
	err = queue_engine_init(q);
	if (err)
		goto err_pgnt;
	q->eng_fd = q->eng->fd(q);
	err = xb_worker_add_fd(q->worker, q->ec_fd, EPOLLIN, evtchn_cb, q);
	if (err)
		goto err_engine;
	if (q->eng_fd >= 0) {
		err = xb_worker_add_fd(q->worker, q->eng_fd, EPOLLIN,
				       engine_cb, q);
		if (err)
			goto err_ec;
		/* io_uring posts completions through task work, which
		 * interrupts the worker's wait: reap them right then. */
		if (q->eng == &blkback_uring_engine)
			xb_worker_fd_on_wake(q->worker, q->eng_fd);
	}
	if (q->persistent && q->bd->persistent_idle) {
		q->timer_fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_NONBLOCK | TFD_CLOEXEC);
		if (q->timer_fd < 0) {
			err = -errno;
			goto err_eng_fd;
		}
		purge_timer_arm(q, 0);
		err = xb_worker_add_fd(q->worker, q->timer_fd, EPOLLIN,
				       timer_cb, q);
		if (err)
			goto err_timer;
	}
	q->started = true;
	dev_debug(q, "serving on worker %u with %s, ring %u", 
		  xb_worker_index(q->worker), q->eng->name, q->ring_size);
	/* Requests may already wait (the guest raced our bind). */
	queue_run(q);
	return 0;

err_timer:
	close(q->timer_fd);
	q->timer_fd = -1;
err_eng_fd:
	if (q->eng_fd >= 0)
		xb_worker_del_fd(q->worker, q->eng_fd);
err_ec:
	xb_worker_del_fd(q->worker, q->ec_fd);
err_engine:
	q->eng->fini(q);
	q->eng = NULL;
err_pgnt:
	if (q->persistent)
		blkback_pgnt_fini(q);
err_mem:
	queue_free_mem(q);
	return err;
}

/*
 * Worker thread. Waits for every operation in the engine, answers what
 * finished, releases all grants held by the queue. The ring and the event
 * channel stay for the caller to drop. Returns 0.
 */
int blkback_queue_stop(void *arg)
{
	struct blkback_queue *q = arg;

	if (!q->started)
		return 0;
	q->stopping = true;
	queue_commit(q);
	while (q->eng_inflight) {
		int err;

		if (q->slow_inflight == q->eng_inflight) {
			slow_wait(q); /* only the slow thread's are left */
			continue;
		}
		err = q->eng->reap(q, true);

		if (err && err != -EINTR && err != -EAGAIN) {
			dev_err_errno(q, err, "%s: waiting for %u operations",
				      q->eng->name, q->eng_inflight);
			break;
		}
		queue_commit(q); /* short transfers resubmit */
	}
	/* A flush still waiting for its drain never started: fail it. */
	if (q->exclusive && !q->excl_running)
		req_finish(q, q->exclusive, -EIO);
	queue_respond(q);
	slow_fini(q);

	if (q->timer_fd >= 0) {
		xb_worker_del_fd(q->worker, q->timer_fd);
		close(q->timer_fd);
		q->timer_fd = -1;
	}
	if (q->eng_fd >= 0)
		xb_worker_del_fd(q->worker, q->eng_fd);
	xb_worker_del_fd(q->worker, q->ec_fd);
	if (q->eng_inflight) {
		/* The engine could not be drained: leaking its memory beats
		 * letting the kernel write into freed buffers. */
		dev_err(q, "%u operations lost in %s", q->eng_inflight,
			q->eng->name);
	} else {
		q->eng->fini(q);
		q->eng = NULL;
		if (q->persistent)
			blkback_pgnt_fini(q);
		queue_free_mem(q);
	}
	q->started = false;
	return 0;
}
