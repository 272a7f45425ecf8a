/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen platform: grants and event channels through libxengnttab and
 * libxenevtchn over the stock dom0 devices (/dev/xen/gntdev, evtchn).
 *
 * One gnttab handle serves every thread (gntdev's ioctls and mmaps are
 * serialised in the kernel). Event channels get one xenevtchn handle per
 * bound port, so each port has its own fd that a worker can poll alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>

#include "xb_platform.h"

#define XB_XEN_GNTDEV "/dev/xen/gntdev"
#define XB_XEN_EVTCHN "/dev/xen/evtchn"
/* Copy segments translated per xengnttab_grant_copy call (on the stack). */
#define XB_XEN_COPY_BATCH 64u

struct xb_xen_plat {
	struct xb_platform base;
	xengnttab_handle *xgt;
};

struct xb_xen_evtchn {
	struct xb_evtchn base;
	xenevtchn_handle *xce;
	evtchn_port_t local;
};

static const struct xb_platform_ops xb_xen_ops;

static xengnttab_handle *xb_xen_xgt(struct xb_platform *p)
{
	return ((struct xb_xen_plat *)p)->xgt;
}

static struct xb_xen_evtchn *xb_xen_ec(struct xb_evtchn *ec)
{
	return (struct xb_xen_evtchn *)ec;
}

/* errno after a failed libxen* call, never 0 (the libraries do not always
 * set it on every path). */
static int xb_xen_errno(void)
{
	return errno ? -errno : -EIO;
}

/* Returns 0 with *addr (count pages, contiguous) or -errno; all or none. */
static int xb_xen_gnt_map(struct xb_platform *p, xb_domid_t domid,
			  unsigned int count, const xb_gref_t *refs,
			  bool writable, void **addr)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *va;

	if (count == 0)
		return -EINVAL;
	errno = 0;
	/* libxengnttab takes a non-const array but only reads it. */
	va = xengnttab_map_domain_grant_refs(xb_xen_xgt(p), count, domid,
					     (uint32_t *)refs, prot);
	if (!va)
		return xb_xen_errno();
	*addr = va;
	return 0;
}

/* Returns 0 if every ref mapped, else the first -errno (errs[] per ref). */
static int xb_xen_gnt_map_each(struct xb_platform *p, xb_domid_t domid,
			       unsigned int count, const xb_gref_t *refs,
			       bool writable, void **addrs, int *errs)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	unsigned int i;
	int first = 0;

	for (i = 0; i < count; i++) {
		errno = 0;
		addrs[i] = xengnttab_map_grant_ref(xb_xen_xgt(p), domid,
						   refs[i], prot);
		errs[i] = addrs[i] ? 0 : xb_xen_errno();
		if (errs[i] < 0 && !first)
			first = errs[i];
	}
	return first;
}

static int xb_xen_gnt_unmap(struct xb_platform *p, void *addr,
			    unsigned int count)
{
	errno = 0;
	if (xengnttab_unmap(xb_xen_xgt(p), addr, count) < 0)
		return xb_xen_errno();
	return 0;
}

/* Grant copy in batches; returns 0 when every segment has a status, or the
 * -errno of a batch the kernel refused (its segments get general_error). */
static int xb_xen_gnt_copy(struct xb_platform *p, unsigned int count,
			   struct xb_gnt_copy *segs)
{
	xengnttab_grant_copy_segment_t xs[XB_XEN_COPY_BATCH];
	unsigned int idx[XB_XEN_COPY_BATCH];
	unsigned int i = 0, n, k;
	int r = 0;

	while (i < count) {
		for (n = 0; i < count && n < XB_XEN_COPY_BATCH; i++) {
			struct xb_gnt_copy *s = &segs[i];
			xengnttab_grant_copy_segment_t *x = &xs[n];

			/* gntdev fails the whole batch on a segment crossing
			 * the page: fail just that segment here, as Xen would.
			 */
			if ((unsigned int)s->offset + s->len > XB_PAGE_SIZE) {
				s->status = GNTST_bad_copy_arg;
				continue;
			}
			memset(x, 0, sizeof(*x));
			if (s->to_guest) {
				x->source.virt = s->local;
				x->dest.foreign.ref = s->ref;
				x->dest.foreign.offset = s->offset;
				x->dest.foreign.domid = s->domid;
				x->flags = GNTCOPY_dest_gref;
			} else {
				x->source.foreign.ref = s->ref;
				x->source.foreign.offset = s->offset;
				x->source.foreign.domid = s->domid;
				x->dest.virt = s->local;
				x->flags = GNTCOPY_source_gref;
			}
			x->len = s->len;
			idx[n++] = i;
		}
		if (n == 0)
			continue;
		errno = 0;
		if (xengnttab_grant_copy(xb_xen_xgt(p), n, xs) < 0) {
			if (!r)
				r = xb_xen_errno();
			for (k = 0; k < n; k++)
				segs[idx[k]].status = GNTST_general_error;
			continue;
		}
		for (k = 0; k < n; k++)
			segs[idx[k]].status = xs[k].status;
	}
	return r;
}

/* Returns 0 and *out bound to (domid, remote_port), or -errno (-EINVAL:
 * the remote port is not unbound for us, -ESRCH: no such domain). */
static int xb_xen_evtchn_bind(struct xb_platform *p, xb_domid_t domid,
			      uint32_t remote_port, struct xb_evtchn **out)
{
	struct xb_xen_evtchn *ec;
	xenevtchn_port_or_error_t port;
	int fd, fl, r;

	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	ec->base.ops = &xb_xen_ops;
	errno = 0;
	ec->xce = xenevtchn_open(NULL, 0);
	if (!ec->xce) {
		r = xb_xen_errno();
		goto err_free;
	}
	/* Non-blocking so that ack can tell "nothing pending" from an event. */
	fd = xenevtchn_fd(ec->xce);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		goto err_close;
	}
	errno = 0;
	port = xenevtchn_bind_interdomain(ec->xce, domid, remote_port);
	if (port < 0) {
		r = xb_xen_errno();
		goto err_close;
	}
	ec->local = (evtchn_port_t)port;
	*out = &ec->base;
	return 0;

err_close:
	xenevtchn_close(ec->xce);
err_free:
	free(ec);
	return r;
}

static void xb_xen_evtchn_unbind(struct xb_evtchn *e)
{
	struct xb_xen_evtchn *ec = xb_xen_ec(e);

	if (!ec)
		return;
	xenevtchn_unbind(ec->xce, ec->local);
	xenevtchn_close(ec->xce);
	free(ec);
}

static int xb_xen_evtchn_fd(struct xb_evtchn *e)
{
	return xenevtchn_fd(xb_xen_ec(e)->xce);
}

/* Returns 1 if our port fired (and is unmasked again), 0 if nothing was
 * pending, or -errno. */
static int xb_xen_evtchn_ack(struct xb_evtchn *e)
{
	struct xb_xen_evtchn *ec = xb_xen_ec(e);
	xenevtchn_port_or_error_t port;

	/*
	 * The handle has our port only, and the kernel masks a port when it
	 * queues it: until we unmask, nothing else can be queued, so one
	 * read drains the queue (no second read to see EAGAIN: under a PV
	 * dom0 every system call is a trip through the hypervisor). Should
	 * more ever be queued, the descriptor stays readable and the worker's
	 * level-triggered epoll comes back for it.
	 */
	errno = 0;
	port = xenevtchn_pending(ec->xce);
	if (port < 0)
		return errno == EAGAIN ? 0 : xb_xen_errno();
	errno = 0;
	if (xenevtchn_unmask(ec->xce, (evtchn_port_t)port) < 0)
		return xb_xen_errno();
	return (evtchn_port_t)port == ec->local;
}

static int xb_xen_evtchn_notify(struct xb_evtchn *e)
{
	struct xb_xen_evtchn *ec = xb_xen_ec(e);

	errno = 0;
	if (xenevtchn_notify(ec->xce, ec->local) < 0)
		return xb_xen_errno();
	return 0;
}

static uint32_t xb_xen_evtchn_local_port(struct xb_evtchn *e)
{
	return xb_xen_ec(e)->local;
}

static void xb_xen_close(struct xb_platform *p)
{
	struct xb_xen_plat *xp = (struct xb_xen_plat *)p;

	if (!xp)
		return;
	if (xp->xgt)
		xengnttab_close(xp->xgt);
	free(xp);
}

static const struct xb_platform_ops xb_xen_ops = {
    .name = "xen",
    .gnt_map = xb_xen_gnt_map,
    .gnt_map_each = xb_xen_gnt_map_each,
    .gnt_unmap = xb_xen_gnt_unmap,
    .gnt_copy = xb_xen_gnt_copy,
    .evtchn_bind = xb_xen_evtchn_bind,
    .evtchn_unbind = xb_xen_evtchn_unbind,
    .evtchn_fd = xb_xen_evtchn_fd,
    .evtchn_ack = xb_xen_evtchn_ack,
    .evtchn_notify = xb_xen_evtchn_notify,
    .evtchn_local_port = xb_xen_evtchn_local_port,
    .close = xb_xen_close,
};

int xb_platform_open_xen(const struct xb_platform_args *args,
			 struct xb_platform **out)
{
	struct xb_xen_plat *xp;
	int r;

	/* Checked first so that "auto" on a machine without Xen fails with a
	 * clear -ENOENT instead of the libraries' logged open errors. */
	if (access(XB_XEN_GNTDEV, R_OK | W_OK) < 0 ||
	    access(XB_XEN_EVTCHN, R_OK | W_OK) < 0)
		return -errno;

	xp = calloc(1, sizeof(*xp));
	if (!xp)
		return -ENOMEM;
	xp->base.ops = &xb_xen_ops;
	errno = 0;
	xp->xgt = xengnttab_open(NULL, 0);
	if (!xp->xgt) {
		r = xb_xen_errno();
		goto err;
	}
	/* Must come before any other call on the handle. */
	if (args && args->max_grants &&
	    xengnttab_set_max_grants(xp->xgt, args->max_grants) < 0) {
		r = xb_xen_errno();
		goto err;
	}
	*out = &xp->base;
	return 0;

err:
	xb_xen_close(&xp->base);
	return r;
}
