/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim platform, daemon side: the simulated hypervisor's grant and event
 * channel operations over the files a simulated guest (tests/simguest/)
 * publishes in the sim dir; layout in xb_sim.h.
 *
 * Grant checks follow Xen's (xen/common/grant_table.c, v1 entries): the
 * guest-written (flags, domid) word is read once, checked and pinned with
 * one compare-and-swap that sets GTF_reading/GTF_writing, the frame is read
 * once when the entry becomes active and kept in our private active table,
 * exactly as Xen keeps act->frame. The pin counts live in this process only
 * (Xen's active entries are hypervisor-private too): the guest can never
 * corrupt them.
 *
 * Not simulated: a guest that truncates its own mem file under a mapping
 * makes the daemon fault (SIGBUS). A real guest cannot do that; the files
 * are ours, the threat model is the contents of shared pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xb_platform.h"
#include "xb_sim.h"

/* Largest batch for one gnt_map / gnt_map_each call (bounds allocations). */
#define XB_SIM_MAX_MAP	   4096u
#define XB_SIM_MAP_BUCKETS 1024u
/* How long bind/unbind wait for the guest's server before giving up. */
#define XB_SIM_EVTCHN_TIMEOUT_MS 2000

/* Private active entry: pin counts and the frame fixed at first pin. */
struct xb_sim_act {
	uint32_t pins;	/* mappings + copies in flight */
	uint32_t wpins; /* writable ones among them */
	uint32_t frame;
};

/* One simulated domain as opened by this process. */
struct xb_sim_dom {
	struct xb_sim_dom *next; /* in xb_sim_plat.doms, under plat->lock */
	unsigned int refcnt;	 /* atomic: list + mappings + users */
	unsigned int domid;
	dev_t dev;
	ino_t ino; /* of the gnttab file: detects a re-created domain */

	uint32_t nr_entries; /* our validated copies of the header */
	uint32_t nr_frames;
	int mem_fd;
	uint8_t *mem; /* whole guest memory, for grant copy */
	void *gnt;
	size_t gnt_size;
	struct xb_sim_gnt_entry *ents;
	int32_t *pin_pid;
	int32_t self_pid; /* ours, written into pin_pid: one getpid() per open */

	pthread_mutex_t lock; /* act[] and the GTF_reading/writing bits */
	struct xb_sim_act *act;
};

/* One mapping made by gnt_map (count pages) or gnt_map_each (1 page). */
struct xb_sim_map {
	struct xb_sim_map *next;
	uint8_t *addr;
	unsigned int count;
	bool writable;
	struct xb_sim_dom *dom;
	xb_gref_t refs[];
};

struct xb_sim_plat {
	struct xb_platform base;
	char *dir;
	pthread_mutex_t lock; /* doms and maps */
	struct xb_sim_dom *doms;
	struct xb_sim_map *maps[XB_SIM_MAP_BUCKETS];
	uint32_t next_port; /* atomic: local port numbers we hand out */
};

struct xb_sim_evtchn {
	struct xb_evtchn base;
	int sock;
	int in_fd;  /* guest -> backend kicks, we read */
	int out_fd; /* backend -> guest kicks, we write */
	uint32_t local_port;
	uint32_t remote_port;
};

static const struct xb_platform_ops xb_sim_ops;

static struct xb_sim_plat *xb_sim_plat(struct xb_platform *p)
{
	return (struct xb_sim_plat *)p;
}

static struct xb_sim_evtchn *xb_sim_ec(struct xb_evtchn *ec)
{
	return (struct xb_sim_evtchn *)ec;
}

/* Builds <dir>/dom<domid>/<leaf>; 0 or -ENAMETOOLONG. */
static int xb_sim_path(char *buf, size_t size, const char *dir,
		       unsigned int domid, const char *leaf)
{
	int n =
	    snprintf(buf, size, "%s/" XB_SIM_DOM_FMT "/%s", dir, domid, leaf);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- domains ---- */

static void xb_sim_dom_free(struct xb_sim_dom *d)
{
	if (!d)
		return;
	if (d->mem && d->mem != MAP_FAILED)
		munmap(d->mem, (size_t)d->nr_frames * XB_SIM_PAGE_SIZE);
	if (d->gnt && d->gnt != MAP_FAILED)
		munmap(d->gnt, d->gnt_size);
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	pthread_mutex_destroy(&d->lock);
	free(d->act);
	free(d);
}

static void xb_sim_dom_put(struct xb_sim_dom *d)
{
	if (d && __atomic_sub_fetch(&d->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		xb_sim_dom_free(d);
}

/* Opens dom<domid> (the gnttab fd is gfd, already stat'ed as st); returns 0
 * and *out with one reference, -ESRCH if it is not a well-formed domain. */
static int xb_sim_dom_open(struct xb_sim_plat *sp, unsigned int domid, int gfd,
			   const struct stat *st, struct xb_sim_dom **out)
{
	char path[PATH_MAX];
	struct xb_sim_gnttab_hdr hdr;
	struct xb_sim_dom *d;
	struct stat mst;
	ssize_t n;
	int r;

	/* The header is guest-written: read it once, validate our copy. */
	n = pread(gfd, &hdr, sizeof(hdr), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) || hdr.magic != XB_SIM_MAGIC ||
	    hdr.version != XB_SIM_VERSION || hdr.nr_entries == 0 ||
	    hdr.nr_entries > XB_SIM_MAX_GRANTS || hdr.nr_frames == 0 ||
	    hdr.nr_frames > XB_SIM_MAX_FRAMES ||
	    (uint64_t)st->st_size < xb_sim_gnttab_size(hdr.nr_entries))
		return -ESRCH;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->mem_fd = -1;
	d->refcnt = 1;
	d->domid = domid;
	d->dev = st->st_dev;
	d->ino = st->st_ino;
	d->nr_entries = hdr.nr_entries;
	d->nr_frames = hdr.nr_frames;
	pthread_mutex_init(&d->lock, NULL);

	d->act = calloc(d->nr_entries, sizeof(*d->act));
	if (!d->act) {
		r = -ENOMEM;
		goto err_free;
	}
	d->gnt_size = xb_sim_gnttab_size(d->nr_entries);
	d->gnt =
	    mmap(NULL, d->gnt_size, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	if (d->gnt == MAP_FAILED) {
		r = -errno;
		goto err_free;
	}
	d->ents = (struct xb_sim_gnt_entry *)((uint8_t *)d->gnt +
					      XB_SIM_GNTTAB_ENTRIES_OFF);
	d->self_pid = (int32_t)getpid();
	d->pin_pid = (int32_t *)((uint8_t *)d->gnt +
				 xb_sim_gnttab_pids_off(d->nr_entries));

	r = xb_sim_path(path, sizeof(path), sp->dir, domid, XB_SIM_MEM);
	if (r < 0)
		goto err_free;
	d->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->mem_fd < 0) {
		r = errno == ENOENT ? -ESRCH : -errno;
		goto err_free;
	}
	if (fstat(d->mem_fd, &mst) < 0) {
		r = -errno;
		goto err_free;
	}
	if ((uint64_t)mst.st_size < (uint64_t)d->nr_frames * XB_SIM_PAGE_SIZE) {
		r = -ESRCH;
		goto err_free;
	}
	d->mem = mmap(NULL, (size_t)d->nr_frames * XB_SIM_PAGE_SIZE,
		      PROT_READ | PROT_WRITE, MAP_SHARED, d->mem_fd, 0);
	if (d->mem == MAP_FAILED) {
		r = -errno;
		goto err_free;
	}
	*out = d;
	return 0;

err_free:
	xb_sim_dom_free(d);
	return r;
}

/* Finds or opens dom<domid>; returns 0 and *out with a reference the caller
 * drops with xb_sim_dom_put, -ESRCH if the domain does not exist. A domain
 * re-created under the same domid (new gnttab inode) is opened afresh; the
 * stale one lives on only as long as mappings of it do. */
static int xb_sim_dom_get(struct xb_sim_plat *sp, unsigned int domid,
			  struct xb_sim_dom **out)
{
	char path[PATH_MAX];
	struct xb_sim_dom **pp, *d;
	struct stat st;
	int gfd, r;

	r = xb_sim_path(path, sizeof(path), sp->dir, domid, XB_SIM_GNTTAB);
	if (r < 0)
		return r;

	/* One stat() tells whether the domain we have open is still the one
	 * there (a destroyed domain fails, as on Xen); open only a new one.
	 * This runs on every grant copy batch: keep it to one syscall. */
	pthread_mutex_lock(&sp->lock);
	if (stat(path, &st) < 0) {
		r = errno == ENOENT ? -ESRCH : -errno;
		goto out_unlock;
	}
	for (pp = &sp->doms; (d = *pp); pp = &d->next) {
		if (d->domid != domid)
			continue;
		if (d->dev == st.st_dev && d->ino == st.st_ino) {
			__atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
			*out = d;
			r = 0;
			goto out_unlock;
		}
		*pp = d->next;
		xb_sim_dom_put(d);
		break;
	}
	gfd = open(path, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		r = errno == ENOENT ? -ESRCH : -errno;
		goto out_unlock;
	}
	/* The file may have been replaced between stat and open. */
	if (fstat(gfd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	r = xb_sim_dom_open(sp, domid, gfd, &st, &d);
	if (r < 0)
		goto out_close;
	d->next = sp->doms;
	sp->doms = d;
	__atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
	*out = d;
out_close:
	close(gfd);
out_unlock:
	pthread_mutex_unlock(&sp->lock);
	return r;
}

/* ---- pinning (Xen's _set_status_v1 / _clear_status) ---- */

/* Pins ref for a mapping (map) or a copy: returns GNTST_okay with *frame,
 * or the GNTST_* error Xen gives. Caller holds d->lock. */
static int xb_sim_pin(struct xb_sim_dom *d, xb_gref_t ref, bool writable,
		      bool map, uint32_t *frame)
{
	uint32_t mask = GTF_type_mask | (map ? GTF_sub_page : 0);
	struct xb_sim_gnt_entry *e;
	struct xb_sim_act *act;
	uint32_t old, new, f;
	uint16_t flags;

	if (ref >= d->nr_entries)
		return GNTST_bad_gntref;
	e = &d->ents[ref];
	act = &d->act[ref];

	/* The guest may rewrite the entry at any time: judge one snapshot and
	 * publish the pin only if the entry is still that snapshot. */
	old = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
	for (;;) {
		flags = xb_sim_gnt_flags(old);
		if ((flags & mask) != GTF_permit_access ||
		    xb_sim_gnt_domid(old) != XB_SIM_BACKEND_DOMID)
			return GNTST_general_error;
		if (writable && (flags & GTF_readonly))
			return GNTST_general_error;
		new = old | GTF_reading | (writable ? GTF_writing : 0);
		if (new == old || __atomic_compare_exchange_n(
				      &e->word, &old, new, false,
				      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	}

	if (act->pins == 0) {
		/* Entry becomes active: read the frame once, keep our copy. */
		f = __atomic_load_n(&e->frame, __ATOMIC_ACQUIRE);
		if (f >= d->nr_frames) {
			__atomic_fetch_and(
			    &e->word, ~(uint32_t)(GTF_reading | GTF_writing),
			    __ATOMIC_RELEASE);
			return GNTST_bad_page;
		}
		act->frame = f;
	}
	/* The guest side reclaims grants whose pinning process died. */
	if (act->pins++ == 0)
		__atomic_store_n(&d->pin_pid[ref], d->self_pid,
				 __ATOMIC_RELAXED);
	if (writable)
		act->wpins++;
	*frame = act->frame;
	return GNTST_okay;
}

/* Drops one pin taken by xb_sim_pin; clears the flags Xen would clear.
 * Caller holds d->lock. */
static void xb_sim_unpin(struct xb_sim_dom *d, xb_gref_t ref, bool writable)
{
	struct xb_sim_act *act = &d->act[ref];
	uint32_t clear = 0;

	act->pins--;
	if (writable)
		act->wpins--;
	if (act->wpins == 0)
		clear |= GTF_writing;
	if (act->pins == 0) {
		clear |= GTF_reading;
		__atomic_store_n(&d->pin_pid[ref], 0, __ATOMIC_RELAXED);
	}
	__atomic_fetch_and(&d->ents[ref].word, ~clear, __ATOMIC_RELEASE);
}

/* GNTST_* to the errno our map calls return. */
static int xb_sim_gntst_errno(int st)
{
	switch (st) {
	case GNTST_okay:
		return 0;
	case GNTST_bad_domain:
		return -ESRCH;
	case GNTST_general_error: /* bad flags, domid or a r/o grant */
		return -EACCES;
	default:
		return -EINVAL;
	}
}

/* ---- mapping registry ---- */

static unsigned int xb_sim_map_hash(const void *addr)
{
	return ((uintptr_t)addr >> XB_PAGE_SHIFT) % XB_SIM_MAP_BUCKETS;
}

static void xb_sim_map_add(struct xb_sim_plat *sp, struct xb_sim_map *m)
{
	unsigned int h = xb_sim_map_hash(m->addr);

	pthread_mutex_lock(&sp->lock);
	m->next = sp->maps[h];
	sp->maps[h] = m;
	pthread_mutex_unlock(&sp->lock);
}

/* Removes and returns the mapping at addr of count pages; NULL if none. */
static struct xb_sim_map *xb_sim_map_take(struct xb_sim_plat *sp, void *addr,
					  unsigned int count)
{
	struct xb_sim_map **pp, *m;

	pthread_mutex_lock(&sp->lock);
	for (pp = &sp->maps[xb_sim_map_hash(addr)]; (m = *pp); pp = &m->next) {
		if (m->addr == addr && m->count == count) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&sp->lock);
	return m;
}

/* Maps refs[0..count) of d at base (a reserved range), pinning each;
 * returns 0, or the -errno of the first failure with every pin of this call
 * undone (the caller unmaps the range). */
static int xb_sim_map_pages(struct xb_sim_dom *d, uint8_t *base,
			    unsigned int count, const xb_gref_t *refs,
			    bool writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	unsigned int i;
	uint32_t frame;
	void *va;
	int st, r = 0;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < count; i++) {
		st = xb_sim_pin(d, refs[i], writable, true, &frame);
		if (st != GNTST_okay) {
			r = xb_sim_gntst_errno(st);
			break;
		}
		/* A r/o grant is mapped PROT_READ: a write faults, as in Xen.
		 */
		va = mmap(base + (size_t)i * XB_PAGE_SIZE, XB_PAGE_SIZE, prot,
			  MAP_SHARED | MAP_FIXED, d->mem_fd,
			  (off_t)frame * XB_SIM_PAGE_SIZE);
		if (va == MAP_FAILED) {
			r = -errno;
			xb_sim_unpin(d, refs[i], writable);
			break;
		}
	}
	if (r < 0) {
		while (i--)
			xb_sim_unpin(d, refs[i], writable);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Maps count refs of d contiguously and registers the mapping, which
 * takes over one reference of d; returns 0 with *addr, or -errno. */
static int xb_sim_map_range(struct xb_sim_plat *sp, struct xb_sim_dom *d,
			    unsigned int count, const xb_gref_t *refs,
			    bool writable, void **addr)
{
	size_t len = (size_t)count * XB_PAGE_SIZE;
	struct xb_sim_map *m;
	uint8_t *base;
	int r;

	/* Reserve the whole range first so the pages land contiguously. */
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	m = malloc(sizeof(*m) + (size_t)count * sizeof(m->refs[0]));
	if (!m) {
		r = -ENOMEM;
		goto err_unmap;
	}
	m->addr = base;
	m->count = count;
	m->writable = writable;
	m->dom = d;
	memcpy(m->refs, refs, (size_t)count * sizeof(m->refs[0]));
	r = xb_sim_map_pages(d, base, count, refs, writable);
	if (r < 0)
		goto err_free;
	xb_sim_map_add(sp, m);
	*addr = base;
	return 0;

err_free:
	free(m);
err_unmap:
	munmap(base, len);
	return r;
}

/* gnt_map: all refs or none, like xengnttab_map_domain_grant_refs. */
static int xb_sim_gnt_map(struct xb_platform *p, xb_domid_t domid,
			  unsigned int count, const xb_gref_t *refs,
			  bool writable, void **addr)
{
	struct xb_sim_plat *sp = xb_sim_plat(p);
	struct xb_sim_dom *d;
	int r;

	if (count == 0 || count > XB_SIM_MAX_MAP)
		return -EINVAL;
	r = xb_sim_dom_get(sp, domid, &d);
	if (r < 0)
		return r;
	r = xb_sim_map_range(sp, d, count, refs, writable, addr);
	if (r < 0)
		xb_sim_dom_put(d);
	return r;
}

/* gnt_map_each: every ref its own page; failures per ref. */
static int xb_sim_gnt_map_each(struct xb_platform *p, xb_domid_t domid,
			       unsigned int count, const xb_gref_t *refs,
			       bool writable, void **addrs, int *errs)
{
	struct xb_sim_plat *sp = xb_sim_plat(p);
	struct xb_sim_dom *d = NULL;
	unsigned int i;
	int r, first = 0;

	if (count > XB_SIM_MAX_MAP)
		return -EINVAL;
	r = count ? xb_sim_dom_get(sp, domid, &d) : 0;
	for (i = 0; i < count; i++) {
		addrs[i] = NULL;
		if (r == 0) {
			/* Each mapping holds its own domain reference. */
			__atomic_add_fetch(&d->refcnt, 1, __ATOMIC_RELAXED);
			errs[i] = xb_sim_map_range(sp, d, 1, &refs[i], writable,
						   &addrs[i]);
			if (errs[i] < 0)
				xb_sim_dom_put(d);
		} else {
			errs[i] = r;
		}
		if (errs[i] < 0 && !first)
			first = errs[i];
	}
	xb_sim_dom_put(d);
	return first;
}

/* gnt_unmap: the range must be exactly one earlier mapping (-EINVAL). */
static int xb_sim_gnt_unmap(struct xb_platform *p, void *addr,
			    unsigned int count)
{
	struct xb_sim_map *m = xb_sim_map_take(xb_sim_plat(p), addr, count);
	unsigned int i;

	if (!m)
		return -EINVAL;
	/* Unmap before unpinning: once the pin is gone the guest may reuse the
	 * frame, and we must not be able to touch it any more. */
	munmap(m->addr, (size_t)m->count * XB_PAGE_SIZE);
	pthread_mutex_lock(&m->dom->lock);
	for (i = 0; i < m->count; i++)
		xb_sim_unpin(m->dom, m->refs[i], m->writable);
	pthread_mutex_unlock(&m->dom->lock);
	xb_sim_dom_put(m->dom);
	free(m);
	return 0;
}

/* Ops of one grant-copy batch pinned at a time (a stack array each). */
#define XB_SIM_COPY_CHUNK 64

/*
 * Copies segs[0..n) (n <= XB_SIM_COPY_CHUNK) of domain d, each op judged
 * on its own as Xen's GNTTABOP_copy does: bounds, then the grant's
 * permissions, pinned for the copy so the guest cannot revoke it midway,
 * and its own status. One lock for the whole chunk's checks and pins, the
 * data copied with no lock held, one more for the unpins: a grant the
 * guest ends during the chunk stays usable until the chunk is done, as it
 * would for an op already running in Xen.
 */
static void xb_sim_copy_chunk(struct xb_sim_dom *d, struct xb_gnt_copy *segs,
			      unsigned int n)
{
	uint32_t frame[XB_SIM_COPY_CHUNK];
	unsigned int i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < n; i++) {
		struct xb_gnt_copy *s = &segs[i];

		if ((unsigned int)s->offset + s->len > XB_PAGE_SIZE)
			s->status = GNTST_bad_copy_arg;
		else
			s->status = (int16_t)xb_sim_pin(d, s->ref, s->to_guest,
							false, &frame[i]);
	}
	pthread_mutex_unlock(&d->lock);
	for (i = 0; i < n; i++) {
		struct xb_gnt_copy *s = &segs[i];
		uint8_t *gva;

		if (s->status != GNTST_okay)
			continue;
		gva = d->mem + (size_t)frame[i] * XB_SIM_PAGE_SIZE + s->offset;
		if (s->to_guest)
			memcpy(gva, s->local, s->len);
		else
			memcpy(s->local, gva, s->len);
	}
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < n; i++)
		if (segs[i].status == GNTST_okay)
			xb_sim_unpin(d, segs[i].ref, segs[i].to_guest);
	pthread_mutex_unlock(&d->lock);
}

/* gnt_copy: returns 0 once every segment has its status. */
static int xb_sim_gnt_copy(struct xb_platform *p, unsigned int count,
			   struct xb_gnt_copy *segs)
{
	struct xb_sim_plat *sp = xb_sim_plat(p);
	unsigned int i = 0, n;

	while (i < count) {
		struct xb_sim_dom *d;
		int r;

		/* A run of ops on one domain: it is looked up once. */
		for (n = 1; i + n < count && segs[i + n].domid == segs[i].domid;
		     n++)
			;
		r = xb_sim_dom_get(sp, segs[i].domid, &d);
		if (r < 0) {
			int16_t st = r == -ESRCH ? GNTST_bad_domain
						 : GNTST_general_error;

			for (unsigned int k = 0; k < n; k++)
				segs[i + k].status = st;
		} else {
			for (unsigned int k = 0; k < n; k += XB_SIM_COPY_CHUNK)
				xb_sim_copy_chunk(d, segs + i + k,
						  n - k < XB_SIM_COPY_CHUNK
						      ? n - k
						      : XB_SIM_COPY_CHUNK);
			xb_sim_dom_put(d);
		}
		i += n;
	}
	return 0;
}

/* ---- event channels ---- */

/* Waits for one reply on sock, with up to two fds; returns 0 with *rep
 * (fds[] -1 when absent) or -errno (-ETIMEDOUT: guest not answering). */
static int xb_sim_evtchn_recv(int sock, struct xb_sim_evtchn_rep *rep,
			      int fds[2])
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cbuf;
	struct iovec iov = {.iov_base = rep, .iov_len = sizeof(*rep)};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = cbuf.buf,
	    .msg_controllen = sizeof(cbuf.buf),
	};
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	struct cmsghdr *c;
	unsigned int i, n;
	ssize_t len;
	int r;

	fds[0] = fds[1] = -1;
	r = poll(&pfd, 1, XB_SIM_EVTCHN_TIMEOUT_MS);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	len = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (len < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (i < 2 && fds[i] < 0)
				fds[i] = fd;
			else
				close(fd);
		}
	}
	if (len == 0)
		return -ECONNRESET;
	if ((size_t)len != sizeof(*rep) || (msg.msg_flags & MSG_CTRUNC))
		return -EPROTO;
	return 0;
}

static int xb_sim_evtchn_send(int sock, uint32_t op, uint32_t port)
{
	struct xb_sim_evtchn_req req = {
	    .op = op,
	    .port = port,
	    .domid = XB_SIM_BACKEND_DOMID,
	};
	ssize_t n = send(sock, &req, sizeof(req), MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(req) ? 0 : -EIO;
}

/* Returns 0 and *out bound to (domid, remote_port); -ESRCH no such domain,
 * -EINVAL the port is not unbound for dom0, other -errno. */
static int xb_sim_evtchn_bind(struct xb_platform *p, xb_domid_t domid,
			      uint32_t remote_port, struct xb_evtchn **out)
{
	struct xb_sim_plat *sp = xb_sim_plat(p);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct xb_sim_evtchn_rep rep;
	struct xb_sim_evtchn *ec;
	int fds[2] = {-1, -1};
	int r, i;

	r = xb_sim_path(sa.sun_path, sizeof(sa.sun_path), sp->dir, domid,
			XB_SIM_EVTCHN_SOCK);
	if (r < 0)
		return r;
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	ec->base.ops = &xb_sim_ops;
	ec->in_fd = ec->out_fd = -1;
	ec->remote_port = remote_port;
	/* Non-blocking: a stopped guest's full backlog must not block us. */
	ec->sock =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ec->sock < 0) {
		r = -errno;
		goto err;
	}
	if (connect(ec->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = (errno == ENOENT || errno == ECONNREFUSED) ? -ESRCH
							       : -errno;
		goto err;
	}
	r = xb_sim_evtchn_send(ec->sock, XB_SIM_EVTCHN_BIND, remote_port);
	if (r < 0)
		goto err;
	r = xb_sim_evtchn_recv(ec->sock, &rep, fds);
	if (r < 0)
		goto err;
	if (rep.status < 0) {
		r = rep.status >= -4095 ? rep.status : -EPROTO;
		goto err;
	}
	if (rep.status > 0 || fds[0] < 0 || fds[1] < 0) {
		r = -EPROTO;
		goto err;
	}
	/* The fds come from the guest: make sure neither can block us. */
	for (i = 0; i < 2; i++) {
		int fl = fcntl(fds[i], F_GETFL);

		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			r = -errno;
			goto err;
		}
	}
	ec->in_fd = fds[0];
	ec->out_fd = fds[1];
	ec->local_port =
	    __atomic_add_fetch(&sp->next_port, 1, __ATOMIC_RELAXED);
	*out = &ec->base;
	return 0;

err:
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (ec->sock >= 0)
		close(ec->sock);
	free(ec);
	return r;
}

/* Unbinds synchronously (the guest sees the port unbound when we return),
 * unless the guest does not answer within the timeout. */
static void xb_sim_evtchn_unbind(struct xb_evtchn *e)
{
	struct xb_sim_evtchn *ec = xb_sim_ec(e);
	struct xb_sim_evtchn_rep rep;
	int fds[2];

	if (!ec)
		return;
	if (xb_sim_evtchn_send(ec->sock, XB_SIM_EVTCHN_UNBIND, 0) == 0 &&
	    xb_sim_evtchn_recv(ec->sock, &rep, fds) == 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
	}
	close(ec->sock);
	close(ec->in_fd);
	close(ec->out_fd);
	free(ec);
}

static int xb_sim_evtchn_fd(struct xb_evtchn *e)
{
	return xb_sim_ec(e)->in_fd;
}

/* Returns 1 if the guest kicked since the last ack, 0 if not, or -errno. */
static int xb_sim_evtchn_ack(struct xb_evtchn *e)
{
	uint64_t v;
	ssize_t n = read(xb_sim_ec(e)->in_fd, &v, sizeof(v));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n == sizeof(v) ? 1 : -EIO;
}

static int xb_sim_evtchn_notify(struct xb_evtchn *e)
{
	uint64_t one = 1;
	ssize_t n = write(xb_sim_ec(e)->out_fd, &one, sizeof(one));

	/* EAGAIN: the counter is saturated, the guest has an event pending. */
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n == sizeof(one) ? 0 : -EIO;
}

static uint32_t xb_sim_evtchn_local_port(struct xb_evtchn *e)
{
	return xb_sim_ec(e)->local_port;
}

/* ---- platform ---- */

static void xb_sim_close(struct xb_platform *p)
{
	struct xb_sim_plat *sp = xb_sim_plat(p);
	struct xb_sim_dom *d;
	struct xb_sim_map *m;
	unsigned int i;

	if (!sp)
		return;
	/* Mappings still held are released like a closed gntdev would. */
	for (i = 0; i < XB_SIM_MAP_BUCKETS; i++) {
		while ((m = sp->maps[i]))
			xb_sim_gnt_unmap(p, m->addr, m->count);
	}
	while ((d = sp->doms)) {
		sp->doms = d->next;
		xb_sim_dom_put(d);
	}
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

static const struct xb_platform_ops xb_sim_ops = {
    .name = "sim",
    .gnt_map = xb_sim_gnt_map,
    .gnt_map_each = xb_sim_gnt_map_each,
    .gnt_unmap = xb_sim_gnt_unmap,
    .gnt_copy = xb_sim_gnt_copy,
    .evtchn_bind = xb_sim_evtchn_bind,
    .evtchn_unbind = xb_sim_evtchn_unbind,
    .evtchn_fd = xb_sim_evtchn_fd,
    .evtchn_ack = xb_sim_evtchn_ack,
    .evtchn_notify = xb_sim_evtchn_notify,
    .evtchn_local_port = xb_sim_evtchn_local_port,
    .close = xb_sim_close,
};

int xb_platform_open_sim(const struct xb_platform_args *args,
			 struct xb_platform **out)
{
	struct xb_sim_plat *sp;
	struct stat st;

	if (!args || !args->sim_dir || !args->sim_dir[0])
		return -EINVAL;
	if (stat(args->sim_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->dir = strdup(args->sim_dir);
	if (!sp->dir) {
		free(sp);
		return -ENOMEM;
	}
	sp->base.ops = &xb_sim_ops;
	pthread_mutex_init(&sp->lock, NULL);
	*out = &sp->base;
	return 0;
}
