/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O engines for blkback: io_uring (the default), libaio (when io_uring
 * cannot be set up, or by flag) and null (answers without doing I/O, to
 * measure the ring alone). Each queue owns its engine instance; nothing
 * here is shared between threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blkback.h"
#include "xb_log.h"

/* ---- io_uring ---- */

struct uring_priv {
	struct io_uring ring;
	bool ready;
};

static int uring_init(struct blkback_queue *q, unsigned int depth)
{
	static const unsigned int flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct uring_priv *u = calloc(1, sizeof(*u));
	struct io_uring_params p;
	int err;

	if (!u)
		return -ENOMEM;
	q->eng_priv = u;
	/*
	 * The worker is the only submitter (SINGLE_ISSUER, 6.0). COOP_TASKRUN
	 * (5.19): a completion that arrives while the worker runs does not
	 * interrupt it (an IPI, a VM exit in a guest) but is posted at its
	 * next syscall; a sleeping worker is still woken. TASKRUN_FLAG shows
	 * such pending completions to ready() (the optional busy-poll, which
	 * makes no syscall). Older kernels refuse the flags with EINVAL:
	 * retry with fewer. Not DEFER_TASKRUN: completions would be posted
	 * only inside io_uring_enter(GETEVENTS), and a worker asleep in
	 * epoll_wait on the ring fd is not reliably woken for them (it
	 * would take a registered eventfd, its read and one more
	 * io_uring_enter per wake-up).
	 */
	err = -EINVAL;
	for (unsigned int i = 0; err == -EINVAL && i < 3; i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flags[i];
		err = io_uring_queue_init_params(depth, &u->ring, &p);
	}
	if (err)
		return err;
	u->ready = true;
	return 0;
}

static void uring_fini(struct blkback_queue *q)
{
	struct uring_priv *u = q->eng_priv;

	if (!u)
		return;
	if (u->ready)
		io_uring_queue_exit(&u->ring);
	free(u);
	q->eng_priv = NULL;
}

static int uring_fd(struct blkback_queue *q)
{
	struct uring_priv *u = q->eng_priv;

	return u->ring.ring_fd;
}

static struct io_uring_sqe *uring_sqe(struct uring_priv *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ is as deep as the ring; only resubmissions of
		 * short transfers can fill it before a commit. */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/*
 * A buffered write to a file in memory (bd->inline_writes). io_uring can
 * only hand such a write to one of its worker threads (a filesystem
 * without async buffered writes, tmpfs among them up to Linux 6.x): a
 * wake-up and two thread switches, where the write itself copies a few
 * pages and cannot wait for a device. So the worker makes it (or the
 * flush, a no-op there) right away, and a NOP carries its result through
 * the ring: it completes in order with the rest, through uring_reap.
 * r->slow_res holds the result; bit 0 of the user data marks it.
 */
static int uring_inline(struct io_uring_sqe *sqe, struct blkback_req *r,
			ssize_t res)
{
	r->slow_res = (int)res;
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, (uintptr_t)r | 1);
	return 0;
}

static int uring_submit_rw(struct blkback_queue *q, struct blkback_req *r)
{
	struct uring_priv *u = q->eng_priv;
	struct io_uring_sqe *sqe = uring_sqe(u);
	int fd = q->bd->fd;

	if (!sqe)
		return -EBUSY;
	if (r->write && q->bd->inline_writes) {
		ssize_t n = pwritev(fd, r->iov, (int)r->iovcnt,
				    (off_t)r->offset);

		return uring_inline(sqe, r, n < 0 ? -errno : n);
	}
	if (r->iovcnt == 1) {
		if (r->write)
			io_uring_prep_write(sqe, fd, r->iov[0].iov_base,
					    (unsigned int)r->iov[0].iov_len,
					    r->offset);
		else
			io_uring_prep_read(sqe, fd, r->iov[0].iov_base,
					   (unsigned int)r->iov[0].iov_len,
					   r->offset);
	} else if (r->write) {
		io_uring_prep_writev(sqe, fd, r->iov, r->iovcnt, r->offset);
	} else {
		io_uring_prep_readv(sqe, fd, r->iov, r->iovcnt, r->offset);
	}
	io_uring_sqe_set_data(sqe, r);
	return 0;
}

static int uring_submit_fsync(struct blkback_queue *q, struct blkback_req *r)
{
	struct uring_priv *u = q->eng_priv;
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return -EBUSY;
	if (q->bd->inline_writes)
		return uring_inline(sqe, r,
				    fdatasync(q->bd->fd) < 0 ? -errno : 0);
	io_uring_prep_fsync(sqe, q->bd->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, r);
	return 0;
}

/* io_uring runs fallocate in its own worker threads (io-wq): a punch-hole
 * that takes long does not hold up the ring. */
static int uring_submit_discard(struct blkback_queue *q,
				struct blkback_req *r)
{
	struct uring_priv *u = q->eng_priv;
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, q->bd->fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)r->offset, (off_t)r->disc_len);
	io_uring_sqe_set_data(sqe, r);
	return 0;
}

static int uring_commit(struct blkback_queue *q)
{
	struct uring_priv *u = q->eng_priv;
	int r;

	q->queued = 0;
	do {
		r = io_uring_submit(&u->ring);
	} while (r == -EINTR);
	return r < 0 ? r : 0;
}

static int uring_reap(struct blkback_queue *q, bool wait)
{
	struct uring_priv *u = q->eng_priv;
	struct io_uring_cqe *cqe;
	int err;

	if (wait) {
		err = io_uring_wait_cqe(&u->ring, &cqe);
		if (err)
			return err;
	} else if (IO_URING_READ_ONCE(*u->ring.sq.kflags) &
		   IORING_SQ_TASKRUN) {
		io_uring_get_events(&u->ring); /* post deferred completions */
	}
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		uintptr_t data = (uintptr_t)io_uring_cqe_get_data64(cqe);
		struct blkback_req *r =
			(struct blkback_req *)(data & ~(uintptr_t)1);
		int res = data & 1 ? r->slow_res : cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		blkback_io_done(r, res);
	}
	return 0;
}

static bool uring_ready(struct blkback_queue *q)
{
	struct uring_priv *u = q->eng_priv;

	return io_uring_cq_ready(&u->ring) != 0 ||
	       (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

const struct blkback_engine_ops blkback_uring_engine = {
	.ready = uring_ready,
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.fd = uring_fd,
	.submit_rw = uring_submit_rw,
	.submit_fsync = uring_submit_fsync,
	.submit_discard = uring_submit_discard,
	.commit = uring_commit,
	.reap = uring_reap,
};

/* ---- libaio ---- */

struct aio_priv {
	io_context_t ctx;
	int efd;
	unsigned int depth;
	unsigned int npending;
	struct iocb **pending;
	struct io_event *evs;
};

static void aio_fini(struct blkback_queue *q)
{
	struct aio_priv *a = q->eng_priv;

	if (!a)
		return;
	if (a->ctx)
		io_destroy(a->ctx);
	if (a->efd >= 0)
		close(a->efd);
	free(a->pending);
	free(a->evs);
	free(a);
	q->eng_priv = NULL;
}

static int aio_init(struct blkback_queue *q, unsigned int depth)
{
	struct aio_priv *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	q->eng_priv = a;
	a->efd = -1;
	a->depth = depth;
	a->pending = calloc(depth, sizeof(*a->pending));
	a->evs = calloc(depth, sizeof(*a->evs));
	if (!a->pending || !a->evs)
		return -ENOMEM;
	err = io_setup((int)depth, &a->ctx); /* returns -errno itself */
	if (err) {
		a->ctx = 0;
		return err;
	}
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0)
		return -errno;
	return 0;
}

static int aio_fd(struct blkback_queue *q)
{
	struct aio_priv *a = q->eng_priv;

	return a->efd;
}

static int aio_queue(struct aio_priv *a, struct blkback_req *r)
{
	if (a->npending >= a->depth)
		return -EBUSY;
	io_set_eventfd(&r->iocb, a->efd);
	r->iocb.data = r;
	a->pending[a->npending++] = &r->iocb;
	return 0;
}

static int aio_submit_rw(struct blkback_queue *q, struct blkback_req *r)
{
	struct aio_priv *a = q->eng_priv;

	if (r->write)
		io_prep_pwritev(&r->iocb, q->bd->fd, r->iov, (int)r->iovcnt,
				(long long)r->offset);
	else
		io_prep_preadv(&r->iocb, q->bd->fd, r->iov, (int)r->iovcnt,
			       (long long)r->offset);
	return aio_queue(a, r);
}

static int aio_submit_fsync(struct blkback_queue *q, struct blkback_req *r)
{
	/* Few filesystems take IOCB_CMD_FDSYNC; a flush is rare and waits
	 * for the queue to drain anyway, so do it here. */
	int res = fdatasync(q->bd->fd) < 0 ? -errno : 0;

	q->queued--;
	blkback_io_done(r, res);
	return 0;
}

static int aio_commit(struct blkback_queue *q)
{
	struct aio_priv *a = q->eng_priv;
	unsigned int off = 0;

	q->queued = 0;
	while (off < a->npending) {
		int n = io_submit(a->ctx, (long)(a->npending - off),
				  a->pending + off);

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0) {
			/* The first iocb was refused: complete it with the
			 * error and go on with the others. */
			struct blkback_req *r = a->pending[off]->data;

			off++;
			blkback_io_done(r, n);
			continue;
		}
		off += (unsigned int)n;
	}
	a->npending = 0;
	return 0;
}

static int aio_reap(struct blkback_queue *q, bool wait)
{
	struct aio_priv *a = q->eng_priv;
	struct timespec zero = { 0, 0 };
	uint64_t v;
	int n;

	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	do {
		n = io_getevents(a->ctx, wait ? 1 : 0, (long)a->depth, a->evs,
				 wait ? NULL : &zero);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			struct blkback_req *r = a->evs[i].data;
			long res = (long)a->evs[i].res;

			blkback_io_done(r, (int)res);
		}
		wait = false;
	} while (n == (int)a->depth);
	return 0;
}

const struct blkback_engine_ops blkback_aio_engine = {
	.name = "libaio",
	.init = aio_init,
	.fini = aio_fini,
	.fd = aio_fd,
	.submit_rw = aio_submit_rw,
	.submit_fsync = aio_submit_fsync,
	.commit = aio_commit,
	.reap = aio_reap,
};

/* ---- null: no I/O at all ---- */

static int null_init(struct blkback_queue *q, unsigned int depth)
{
	return 0;
}

static void null_fini(struct blkback_queue *q)
{
}

static int null_fd(struct blkback_queue *q)
{
	return -1;
}

static int null_submit_rw(struct blkback_queue *q, struct blkback_req *r)
{
	q->queued--;
	blkback_io_done(r, (int)(r->len - r->done));
	return 0;
}

static int null_submit_fsync(struct blkback_queue *q, struct blkback_req *r)
{
	q->queued--;
	blkback_io_done(r, 0);
	return 0;
}

static int null_commit(struct blkback_queue *q)
{
	q->queued = 0;
	return 0;
}

static int null_reap(struct blkback_queue *q, bool wait)
{
	return 0;
}

const struct blkback_engine_ops blkback_null_engine = {
	.name = "null",
	.init = null_init,
	.fini = null_fini,
	.fd = null_fd,
	.submit_rw = null_submit_rw,
	.submit_fsync = null_submit_fsync,
	.commit = null_commit,
	.reap = null_reap,
};
