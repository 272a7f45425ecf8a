/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Simulated blkfront: see blkfront.h. Modelled on Linux's xen-blkfront:
 * the same xenstore negotiation (keys, order, transaction), the same ring
 * use (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, RING_FINAL_CHECK_FOR_RESPONSES),
 * a LIFO pool of data pages that are granted once with feature-persistent
 * and per request without it, and indirect requests past 11 segments.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "blkfront.h"
#include "toolstack.h"

#define SECTORS_PER_PAGE 8u

/* ---- xenstore ---- */

static int xs_read_ull(struct blkfront *f, const char *dir, const char *key,
		       unsigned long long def, unsigned long long *out)
{
	char path[256];
	unsigned int len;
	char *v, *end;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	v = xs_read(f->xs, XBT_NULL, path, &len);
	if (!v) {
		*out = def;
		return -ENOENT;
	}
	*out = strtoull(v, &end, 10);
	if (end == v) {
		free(v);
		*out = def;
		return -EINVAL;
	}
	free(v);
	return 0;
}

static unsigned long long be_uint(struct blkfront *f, const char *key,
				  unsigned long long def)
{
	unsigned long long v;

	xs_read_ull(f, f->be, key, def, &v);
	return v;
}

static bool xs_printf(struct xs_handle *xs, xs_transaction_t t,
		      const char *dir, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static bool xs_printf(struct xs_handle *xs, xs_transaction_t t,
		      const char *dir, const char *key, const char *fmt, ...)
{
	char path[256], val[64];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xs_write(xs, t, path, val, strlen(val));
}

static int set_state(struct blkfront *f, int st)
{
	char v[8];

	snprintf(v, sizeof(v), "%d", st);
	return ts_write(f->xs, f->fe, "state", v);
}

/* ---- rings ---- */

#define WITH_FRING(q, stmt)                                                 \
	do {                                                                \
		if ((q)->f->o.abi == BLKBACK_ABI_X86_32) {                  \
			struct blkback_x86_32_front_ring *R = &(q)->ring_u.r32; \
			stmt;                                               \
		} else {                                                    \
			struct blkback_x86_64_front_ring *R = &(q)->ring_u.r64; \
			stmt;                                               \
		}                                                           \
	} while (0)

static int queue_setup(struct blkfront *f, struct bf_queue *q)
{
	unsigned int n = 1u << f->ring_order;
	size_t bytes = (size_t)n * 4096;

	q->f = f;
	q->nr_ring_pages = n;
	q->port = -1;
	for (unsigned int i = 0; i < n; i++) {
		void *va = sg_page_alloc(f->sg, &q->ring_frames[i]);

		if (!va)
			return -ENOMEM;
		if (i == 0)
			q->ring = va;
		else if (va != (char *)q->ring + (size_t)i * 4096)
			return -EFBIG; /* need contiguous frames */
		q->ring_refs[i] = -1;
	}
	if (f->o.abi == BLKBACK_ABI_X86_32) {
		struct blkback_x86_32_sring *s = q->ring;

		SHARED_RING_INIT(s);
		FRONT_RING_INIT(&q->ring_u.r32, s, bytes);
		q->ring_size = RING_SIZE(&q->ring_u.r32);
	} else {
		struct blkback_x86_64_sring *s = q->ring;

		SHARED_RING_INIT(s);
		FRONT_RING_INIT(&q->ring_u.r64, s, bytes);
		q->ring_size = RING_SIZE(&q->ring_u.r64);
	}
	for (unsigned int i = 0; i < n; i++) {
		q->ring_refs[i] = sg_grant_access(f->sg, 0, q->ring_frames[i],
						  false);
		if (q->ring_refs[i] < 0)
			return q->ring_refs[i];
	}
	q->port = sg_evtchn_alloc_unbound(f->sg, 0);
	if (q->port < 0)
		return q->port;
	q->evfd = sg_evtchn_fd(f->sg, q->port);
	return q->evfd < 0 ? q->evfd : 0;
}

static int shadows_alloc(struct blkfront *f, struct bf_queue *q)
{
	q->shadow = calloc(q->ring_size, sizeof(*q->shadow));
	if (!q->shadow)
		return -ENOMEM;
	for (unsigned int i = 0; i < q->ring_size; i++) {
		q->shadow[i].pages = calloc(f->max_segs, sizeof(void *));
		q->shadow[i].grefs = calloc(f->max_segs, sizeof(int));
		if (!q->shadow[i].pages || !q->shadow[i].grefs)
			return -ENOMEM;
		q->shadow[i].next_free = i + 1;
	}
	q->free_head = 0;
	return 0;
}

/* ---- the page pool ---- */

static int pool_setup(struct blkfront *f)
{
	unsigned int n = f->o.pool_pages ? f->o.pool_pages : 2048;

	f->pages = calloc(n, sizeof(*f->pages));
	if (!f->pages)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		struct bf_page *p = &f->pages[i];

		p->va = sg_page_alloc(f->sg, &p->frame);
		if (!p->va)
			return -ENOMEM;
		p->pref = -1;
		p->next = f->free_pages;
		f->free_pages = p;
		f->nr_pages++;
		f->nr_free++;
	}
	return 0;
}

static struct bf_page *page_get(struct blkfront *f)
{
	struct bf_page *p = f->free_pages;

	if (p) {
		f->free_pages = p->next;
		f->nr_free--;
	}
	return p;
}

static void page_put(struct blkfront *f, struct bf_page *p)
{
	p->next = f->free_pages; /* LIFO, as Linux: a small hot set */
	f->free_pages = p;
	f->nr_free++;
}

/* A grant for p: the persistent one, or a fresh one. Ref or -errno. */
static int page_grant(struct blkfront *f, struct bf_page *p, bool readonly)
{
	if (f->persistent) {
		if (p->pref < 0)
			p->pref = sg_grant_access(f->sg, 0, p->frame, false);
		return p->pref;
	}
	return sg_grant_access(f->sg, 0, p->frame, readonly);
}

static void page_ungrant(struct blkfront *f, struct bf_page *p, int ref)
{
	if (f->persistent || ref < 0)
		return;
	/* The backend must have unmapped it before answering. */
	if (sg_grant_end(f->sg, (uint32_t)ref) < 0)
		f->grant_end_failures++;
}

/* ---- connect / close ---- */

int bf_connect(struct blkfront *f, struct sg_domain *sg, struct xs_handle *xs,
	       const char *be, const char *fe, const struct bf_opts *o,
	       int timeout_ms)
{
	unsigned int want_q, want_order;
	xs_transaction_t t;
	int r;

	memset(f, 0, sizeof(*f));
	f->sg = sg;
	f->xs = xs;
	f->domid = sg_domain_id(sg);
	snprintf(f->be, sizeof(f->be), "%s", be);
	snprintf(f->fe, sizeof(f->fe), "%s", fe);
	if (o)
		f->o = *o;

	r = ts_wait_state(xs, be, XenbusStateInitWait, timeout_ms);
	if (r)
		return r;
	f->be_max_queues = (unsigned int)be_uint(f, "multi-queue-max-queues", 1);
	f->be_max_order = (unsigned int)be_uint(f, "max-ring-page-order", 0);
	want_q = f->o.nr_queues ? f->o.nr_queues : 1;
	want_order = f->o.ring_order;
	f->nr_queues = want_q < f->be_max_queues ? want_q : f->be_max_queues;
	if (!f->nr_queues)
		f->nr_queues = 1;
	f->ring_order = want_order < f->be_max_order ? want_order :
						       f->be_max_order;

	f->q = calloc(f->nr_queues, sizeof(*f->q));
	if (!f->q)
		return -ENOMEM;
	for (unsigned int i = 0; i < f->nr_queues; i++) {
		f->q[i].index = i;
		r = queue_setup(f, &f->q[i]);
		if (r)
			return r;
	}
	r = pool_setup(f);
	if (r)
		return r;

again:
	t = xs_transaction_start(xs);
	if (!t)
		return -errno;
	for (unsigned int i = 0; i < f->nr_queues; i++) {
		struct bf_queue *q = &f->q[i];
		char dir[200];

		if (f->nr_queues == 1)
			snprintf(dir, sizeof(dir), "%s", fe);
		else
			snprintf(dir, sizeof(dir), "%s/queue-%u", fe, i);
		if (q->nr_ring_pages == 1) {
			xs_printf(xs, t, dir, "ring-ref", "%d", q->ring_refs[0]);
		} else {
			for (unsigned int j = 0; j < q->nr_ring_pages; j++) {
				char key[32];

				snprintf(key, sizeof(key), "ring-ref%u", j);
				xs_printf(xs, t, dir, key, "%d", q->ring_refs[j]);
			}
		}
		xs_printf(xs, t, dir, "event-channel", "%d", q->port);
	}
	if (f->ring_order)
		xs_printf(xs, t, fe, "ring-page-order", "%u", f->ring_order);
	if (f->nr_queues > 1)
		xs_printf(xs, t, fe, "multi-queue-num-queues", "%u",
			  f->nr_queues);
	if (!f->o.no_protocol)
		xs_printf(xs, t, fe, "protocol", "%s",
			  f->o.abi == BLKBACK_ABI_X86_32 ?
				  XEN_IO_PROTO_ABI_X86_32 :
				  XEN_IO_PROTO_ABI_X86_64);
	xs_printf(xs, t, fe, "feature-persistent", "%u", f->o.persistent);
	if (!xs_transaction_end(xs, t, false)) {
		if (errno == EAGAIN)
			goto again;
		return -errno;
	}
	r = set_state(f, XenbusStateInitialised);
	if (r)
		return r;
	r = ts_wait_state(xs, be, XenbusStateConnected, timeout_ms);
	if (r)
		return r;

	/* blkfront_connect / blkfront_gather_backend_features */
	f->sectors = be_uint(f, "sectors", 0);
	f->info = (unsigned int)be_uint(f, "info", 0);
	f->sector_size = (unsigned int)be_uint(f, "sector-size", 512);
	f->phys_sector_size = (unsigned int)be_uint(f, "physical-sector-size",
						    f->sector_size);
	f->feat_flush = be_uint(f, "feature-flush-cache", 0);
	f->feat_barrier = be_uint(f, "feature-barrier", 0);
	f->feat_discard = be_uint(f, "feature-discard", 0);
	f->discard_secure = be_uint(f, "discard-secure", 0);
	f->discard_granularity = (unsigned int)be_uint(f, "discard-granularity",
						       f->sector_size);
	f->discard_alignment = (unsigned int)be_uint(f, "discard-alignment", 0);
	f->feat_persistent = be_uint(f, "feature-persistent", 0);
	f->be_max_indirect =
		(unsigned int)be_uint(f, "feature-max-indirect-segments", 0);
	f->persistent = f->o.persistent && f->feat_persistent;
	f->max_segs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	if (f->be_max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST &&
	    !f->o.no_indirect) {
		f->max_segs = f->be_max_indirect;
		if (f->o.max_indirect && f->o.max_indirect < f->max_segs)
			f->max_segs = f->o.max_indirect;
		if (f->max_segs > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST *
					  BLKBACK_SEGS_PER_INDIRECT_PAGE)
			f->max_segs = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST *
				      BLKBACK_SEGS_PER_INDIRECT_PAGE;
	}
	for (unsigned int i = 0; i < f->nr_queues; i++) {
		r = shadows_alloc(f, &f->q[i]);
		if (r)
			return r;
	}
	return set_state(f, XenbusStateConnected);
}

static void free_all(struct blkfront *f, bool end_grants)
{
	for (unsigned int i = 0; f->q && i < f->nr_queues; i++) {
		struct bf_queue *q = &f->q[i];

		for (unsigned int j = 0; j < q->nr_ring_pages; j++) {
			if (q->ring_refs[j] >= 0 && end_grants &&
			    sg_grant_end(f->sg, (uint32_t)q->ring_refs[j]) < 0)
				f->grant_end_failures++;
			q->ring_refs[j] = -1;
		}
		if (q->port >= 0)
			sg_evtchn_close(f->sg, q->port);
		q->port = -1;
		for (unsigned int j = 0; j < q->nr_ring_pages; j++)
			sg_page_free(f->sg, (char *)q->ring + (size_t)j * 4096);
		q->nr_ring_pages = 0;
		if (q->shadow) {
			for (unsigned int j = 0; j < q->ring_size; j++) {
				free(q->shadow[j].pages);
				free(q->shadow[j].grefs);
			}
		}
		free(q->shadow);
		q->shadow = NULL;
	}
	free(f->q);
	f->q = NULL;
	for (unsigned int i = 0; f->pages && i < f->nr_pages; i++) {
		struct bf_page *p = &f->pages[i];

		if (p->pref >= 0 && end_grants &&
		    sg_grant_end(f->sg, (uint32_t)p->pref) < 0)
			f->grant_end_failures++;
		sg_page_free(f->sg, p->va);
	}
	free(f->pages);
	f->pages = NULL;
	f->nr_pages = 0;
}

int bf_close(struct blkfront *f, int timeout_ms)
{
	long long end;
	int r;

	r = bf_drain(f, timeout_ms);
	if (r)
		return r;
	r = set_state(f, XenbusStateClosing);
	if (r)
		return r;
	end = ts_now_ms() + timeout_ms;
	for (;;) {
		long st = ts_read_int(f->xs, f->be, "state");

		if (st == XenbusStateClosing || st == XenbusStateClosed)
			break;
		if (ts_now_ms() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
	r = set_state(f, XenbusStateClosed);
	if (r)
		return r;
	r = ts_wait_state(f->xs, f->be, XenbusStateClosed, timeout_ms);
	if (r)
		return r;
	free_all(f, true);
	return f->grant_end_failures ? -EBUSY : 0;
}

void bf_release(struct blkfront *f)
{
	free_all(f, true);
}

/* ---- requests ---- */

static struct bf_queue *pick_queue(struct blkfront *f, int want)
{
	if (want >= 0 && (unsigned int)want < f->nr_queues)
		return &f->q[want];
	return &f->q[f->rr++ % f->nr_queues];
}

static int shadow_get(struct bf_queue *q)
{
	unsigned int id = q->free_head;
	bool full;

	WITH_FRING(q, full = RING_FULL(R));
	if (full || id >= q->ring_size)
		return -EAGAIN;
	q->free_head = q->shadow[id].next_free;
	q->shadow[id].used = true;
	return (int)id;
}

static void shadow_put(struct bf_queue *q, unsigned int id)
{
	q->shadow[id].used = false;
	q->shadow[id].next_free = q->free_head;
	q->free_head = id;
}

static void push(struct bf_queue *q)
{
	int notify;

	WITH_FRING(q, RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(R, notify));
	if (notify)
		sg_evtchn_notify(q->f->sg, q->port);
}

/* Fill an entry of the queue's ABI; slot zeroed first. */
static void *next_slot(struct bf_queue *q, size_t *esz)
{
	void *slot;

	WITH_FRING(q, {
		slot = RING_GET_REQUEST(R, R->req_prod_pvt);
		*esz = sizeof(*RING_GET_REQUEST(R, 0));
	});
	memset(slot, 0, *esz);
	return slot;
}

static void advance(struct bf_queue *q)
{
	WITH_FRING(q, R->req_prod_pvt++);
}

static void put_rw(struct bf_queue *q, uint8_t op, uint64_t id,
		   uint64_t sector, unsigned int nseg,
		   const struct blkif_request_segment *seg)
{
	size_t esz;
	void *slot = next_slot(q, &esz);

	if (q->f->o.abi == BLKBACK_ABI_X86_32) {
		struct blkback_x86_32_request *e = slot;

		e->operation = op;
		e->nr_segments = (uint8_t)nseg;
		e->handle = 0;
		e->id = id;
		e->sector_number = sector;
		memcpy(e->seg, seg, nseg * sizeof(*seg));
	} else {
		struct blkback_x86_64_request *e = slot;

		e->operation = op;
		e->nr_segments = (uint8_t)nseg;
		e->id = id;
		e->sector_number = sector;
		memcpy(e->seg, seg, nseg * sizeof(*seg));
	}
	advance(q);
}

static void put_indirect(struct bf_queue *q, uint8_t op, uint64_t id,
			 uint64_t sector, unsigned int nseg,
			 const int *ind_grefs, unsigned int nind)
{
	size_t esz;
	void *slot = next_slot(q, &esz);

	if (q->f->o.abi == BLKBACK_ABI_X86_32) {
		struct blkback_x86_32_request_indirect *e = slot;

		e->operation = BLKIF_OP_INDIRECT;
		e->indirect_op = op;
		e->nr_segments = (uint16_t)nseg;
		e->id = id;
		e->sector_number = sector;
		for (unsigned int i = 0; i < nind; i++)
			e->indirect_grefs[i] = (grant_ref_t)ind_grefs[i];
	} else {
		struct blkback_x86_64_request_indirect *e = slot;

		e->operation = BLKIF_OP_INDIRECT;
		e->indirect_op = op;
		e->nr_segments = (uint16_t)nseg;
		e->id = id;
		e->sector_number = sector;
		for (unsigned int i = 0; i < nind; i++)
			e->indirect_grefs[i] = (grant_ref_t)ind_grefs[i];
	}
	advance(q);
}

static void put_discard(struct bf_queue *q, uint64_t id, uint64_t sector,
			uint64_t nr, bool secure)
{
	size_t esz;
	void *slot = next_slot(q, &esz);

	if (q->f->o.abi == BLKBACK_ABI_X86_32) {
		struct blkback_x86_32_request_discard *e = slot;

		e->operation = BLKIF_OP_DISCARD;
		e->flag = secure ? BLKIF_DISCARD_SECURE : 0;
		e->id = id;
		e->sector_number = sector;
		e->nr_sectors = nr;
	} else {
		struct blkback_x86_64_request_discard *e = slot;

		e->operation = BLKIF_OP_DISCARD;
		e->flag = secure ? BLKIF_DISCARD_SECURE : 0;
		e->id = id;
		e->sector_number = sector;
		e->nr_sectors = nr;
	}
	advance(q);
}

/* Release what shadow id holds (grants, pages). */
static void shadow_release(struct bf_queue *q, struct bf_shadow *s)
{
	struct blkfront *f = q->f;

	for (unsigned int i = 0; i < s->npages; i++) {
		page_ungrant(f, s->pages[i], s->grefs[i]);
		page_put(f, s->pages[i]);
	}
	s->npages = 0;
	for (unsigned int i = 0; i < s->nind; i++) {
		page_ungrant(f, s->ind[i], s->ind_grefs[i]);
		page_put(f, s->ind[i]);
	}
	s->nind = 0;
}

static int data_pages(const struct bf_io *io)
{
	if (!io->nr_sectors)
		return 0;
	return (int)((io->page_off + io->nr_sectors + SECTORS_PER_PAGE - 1) /
		     SECTORS_PER_PAGE);
}

int bf_submit(struct blkfront *f, struct bf_io *io)
{
	struct bf_queue *q = pick_queue(f, io->queue);
	struct blkif_request_segment *segs;
	struct bf_shadow *s;
	bool has_data = io->op != BLKIF_OP_DISCARD && io->nr_sectors;
	bool write = io->op != BLKIF_OP_READ;
	unsigned int np = has_data ? (unsigned int)data_pages(io) : 0;
	unsigned int nind = 0;
	int id, r;

	if (io->page_off >= SECTORS_PER_PAGE)
		return -EINVAL;
	if (io->op == BLKIF_OP_READ || io->op == BLKIF_OP_WRITE) {
		if (!np)
			return -EINVAL;
	}
	if (np > f->max_segs)
		return -EINVAL;
	if (np > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		if (io->op != BLKIF_OP_READ && io->op != BLKIF_OP_WRITE)
			return -EINVAL;
		nind = (np + BLKBACK_SEGS_PER_INDIRECT_PAGE - 1) /
		       BLKBACK_SEGS_PER_INDIRECT_PAGE;
	}
	if (np + nind > f->nr_free)
		return -EAGAIN;
	id = shadow_get(q);
	if (id < 0)
		return id;
	s = &q->shadow[id];
	s->io = io;
	s->raw = false;
	io->done = false;
	io->status = 1;

	segs = calloc(np ? np : 1, sizeof(*segs));
	if (!segs) {
		shadow_put(q, (unsigned int)id);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < np; i++) {
		struct bf_page *p = page_get(f);
		unsigned int first = i == 0 ? io->page_off : 0;
		unsigned int end = io->page_off + io->nr_sectors; /* sectors */
		unsigned int last = i == np - 1 ? (end - 1) % SECTORS_PER_PAGE :
						  SECTORS_PER_PAGE - 1;

		s->pages[i] = p;
		s->npages = i + 1;
		if (write && io->buf) {
			size_t boff = (size_t)i * 4096 + first * 512 -
				      (size_t)io->page_off * 512;

			memcpy((char *)p->va + first * 512,
			       (char *)io->buf + boff,
			       (last - first + 1) * 512);
		}
		r = page_grant(f, p, write);
		s->grefs[i] = r;
		if (r < 0)
			goto err;
		segs[i].gref = (grant_ref_t)r;
		segs[i].first_sect = (uint8_t)first;
		segs[i].last_sect = (uint8_t)last;
	}
	if (nind) {
		for (unsigned int k = 0; k < nind; k++) {
			struct bf_page *p = page_get(f);
			unsigned int from = k * BLKBACK_SEGS_PER_INDIRECT_PAGE;
			unsigned int cnt = np - from;

			if (cnt > BLKBACK_SEGS_PER_INDIRECT_PAGE)
				cnt = BLKBACK_SEGS_PER_INDIRECT_PAGE;
			memcpy(p->va, segs + from, cnt * sizeof(*segs));
			s->ind[k] = p;
			s->nind = k + 1;
			r = page_grant(f, p, true);
			s->ind_grefs[k] = r;
			if (r < 0)
				goto err;
		}
		put_indirect(q, io->op, (uint64_t)id, io->sector, np,
			     s->ind_grefs, nind);
	} else if (io->op == BLKIF_OP_DISCARD) {
		put_discard(q, (uint64_t)id, io->sector, io->nr_sectors,
			    io->secure);
	} else {
		put_rw(q, io->op, (uint64_t)id, io->sector, np, segs);
	}
	free(segs);
	q->inflight++;
	push(q);
	return 0;

err:
	free(segs);
	shadow_release(q, s);
	shadow_put(q, (unsigned int)id);
	return r;
}

int bf_submit_raw(struct blkfront *f, unsigned int queue, const void *entry,
		  size_t len, struct bf_io *io, uint64_t *id_out)
{
	struct bf_queue *q = &f->q[queue % f->nr_queues];
	size_t esz;
	void *slot;
	int id = shadow_get(q);

	if (id < 0)
		return id;
	q->shadow[id].io = io;
	q->shadow[id].raw = true;
	q->shadow[id].npages = 0;
	q->shadow[id].nind = 0;
	io->done = false;
	io->status = 1;
	slot = next_slot(q, &esz);
	memcpy(slot, entry, len < esz ? len : esz);
	/* The id sits at offset 8 (x86_64) or 4 (x86_32) in every layout. */
	if (f->o.abi == BLKBACK_ABI_X86_32)
		memcpy((char *)slot + 4, &(uint64_t){ (uint64_t)id }, 8);
	else
		memcpy((char *)slot + 8, &(uint64_t){ (uint64_t)id }, 8);
	if (id_out)
		*id_out = (uint64_t)id;
	advance(q);
	q->inflight++;
	push(q);
	return 0;
}

void *bf_sring(struct blkfront *f, unsigned int queue)
{
	return f->q[queue % f->nr_queues].ring;
}

int bf_grant_page(struct blkfront *f, bool readonly, void **va,
		  struct bf_page **pg)
{
	struct bf_page *p = page_get(f);
	int r;

	if (!p)
		return -ENOMEM;
	r = sg_grant_access(f->sg, 0, p->frame, readonly);
	if (r < 0) {
		page_put(f, p);
		return r;
	}
	*va = p->va;
	*pg = p;
	return r;
}

void bf_ungrant_page(struct blkfront *f, int ref, struct bf_page *pg)
{
	if (ref >= 0 && sg_grant_end(f->sg, (uint32_t)ref) < 0)
		f->grant_end_failures++;
	page_put(f, pg);
}

/* ---- responses ---- */

static void complete(struct bf_queue *q, uint64_t id, uint8_t op,
		     int16_t status)
{
	struct blkfront *f = q->f;
	struct bf_shadow *s;
	struct bf_io *io;

	if (id >= q->ring_size || !q->shadow[id].used) {
		f->bad_responses++;
		return;
	}
	s = &q->shadow[id];
	io = s->io;
	if (!s->raw && io->op == BLKIF_OP_READ && status == BLKIF_RSP_OKAY &&
	    io->buf) {
		for (unsigned int i = 0; i < s->npages; i++) {
			unsigned int first = i == 0 ? io->page_off : 0;
			unsigned int end = io->page_off + io->nr_sectors;
			unsigned int last = i == s->npages - 1 ?
						    (end - 1) % SECTORS_PER_PAGE :
						    SECTORS_PER_PAGE - 1;
			size_t boff = (size_t)i * 4096 + first * 512 -
				      (size_t)io->page_off * 512;

			memcpy((char *)io->buf + boff,
			       (char *)s->pages[i]->va + first * 512,
			       (last - first + 1) * 512);
		}
	}
	shadow_release(q, s);
	shadow_put(q, (unsigned int)id);
	q->inflight--;
	f->completed++;
	io->status = status;
	io->rsp_op = op;
	io->done = true;
	if (io->done_fn)
		io->done_fn(io);
}

static int queue_process(struct bf_queue *q)
{
	int n = 0, more;

	do {
		RING_IDX rp, i;

		WITH_FRING(q, {
			rp = __atomic_load_n(&R->sring->rsp_prod,
					     __ATOMIC_ACQUIRE);
			for (i = R->rsp_cons; i != rp; i++) {
				__typeof__(*RING_GET_RESPONSE(R, 0)) rsp;

				RING_COPY_RESPONSE(R, i, &rsp);
				R->rsp_cons = i + 1;
				complete(q, rsp.id, rsp.operation, rsp.status);
				n++;
			}
			RING_FINAL_CHECK_FOR_RESPONSES(R, more);
		});
	} while (more);
	return n;
}

int bf_poll(struct blkfront *f, int timeout_ms)
{
	struct pollfd pfd[64];
	unsigned int nq = f->nr_queues < 64 ? f->nr_queues : 64;
	int n = 0, r;

	for (unsigned int i = 0; i < f->nr_queues; i++)
		n += queue_process(&f->q[i]);
	if (n)
		return n;
	for (unsigned int i = 0; i < nq; i++) {
		pfd[i].fd = f->q[i].evfd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	r = poll(pfd, nq, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	for (unsigned int i = 0; i < nq; i++) {
		if (pfd[i].revents)
			sg_evtchn_ack(f->sg, f->q[i].port);
		n += queue_process(&f->q[i]);
	}
	return n;
}

static unsigned int inflight(struct blkfront *f)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < f->nr_queues; i++)
		n += f->q[i].inflight;
	return n;
}

int bf_drain(struct blkfront *f, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;

	while (inflight(f)) {
		long long left = end - ts_now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = bf_poll(f, (int)left);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	return 0;
}

int bf_sync(struct blkfront *f, struct bf_io *io, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int r;

	for (;;) {
		r = bf_submit(f, io);
		if (r != -EAGAIN)
			break;
		r = bf_poll(f, 100);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
		if (ts_now_ms() > end)
			return -ETIMEDOUT;
	}
	if (r)
		return r;
	while (!io->done) {
		long long left = end - ts_now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		r = bf_poll(f, (int)left);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	return io->status;
}

int bf_rw(struct blkfront *f, uint8_t op, uint64_t sector, void *buf,
	  uint32_t n)
{
	struct bf_io io = {
		.op = op,
		.sector = sector,
		.nr_sectors = n,
		.buf = buf,
		.queue = -1,
	};

	return bf_sync(f, &io, 20000);
}
