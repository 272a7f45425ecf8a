/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Platform ops: every touch of the hypervisor goes through this table
 * (grants and event channels). Implementations: xen (libxengnttab +
 * libxenevtchn), sim (shared-memory grant table + eventfds, for tests and
 * the demo) and, later, shim (/dev/xenback).
 *
 * Threading: one struct xb_platform is shared by all threads; gnt_* must be
 * safe to call concurrently from several threads. A struct xb_evtchn is
 * owned by exactly one thread at a time (the worker serving its queue).
 *
 * All functions return 0 (or a count / port) on success or -errno.
 */
#ifndef XB_PLATFORM_H
#define XB_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define XB_PAGE_SHIFT 12
#define XB_PAGE_SIZE 4096u

typedef uint32_t xb_gref_t;
typedef uint16_t xb_domid_t;

struct xb_platform;
struct xb_evtchn;

/* One grant copy segment: exactly one side is a foreign grant. */
struct xb_gnt_copy {
	bool to_guest;     /* true: local -> guest frame; false: guest -> local */
	xb_domid_t domid;  /* granting domain */
	xb_gref_t ref;     /* grant reference */
	uint16_t offset;   /* offset inside the granted frame */
	uint16_t len;      /* offset + len <= XB_PAGE_SIZE */
	void *local;       /* local buffer, len bytes */
	int16_t status;    /* out: 0 (GNTST_okay) or a negative GNTST_* code */
};

struct xb_platform_ops {
	const char *name;

	/* Map count refs of domid into one contiguous range; *addr out. */
	int (*gnt_map)(struct xb_platform *p, xb_domid_t domid,
		       unsigned int count, const xb_gref_t *refs,
		       bool writable, void **addr);
	/* Map count refs each into its own page-sized range (persistent
	 * grants); addrs[i] NULL and errs[i] < 0 on a failed ref. Returns 0 if
	 * every ref mapped, else the first error (the others stay mapped). */
	int (*gnt_map_each)(struct xb_platform *p, xb_domid_t domid,
			    unsigned int count, const xb_gref_t *refs,
			    bool writable, void **addrs, int *errs);
	/* Unmap a range returned by gnt_map (count pages) or one page of
	 * gnt_map_each (count 1). */
	int (*gnt_unmap)(struct xb_platform *p, void *addr, unsigned int count);
	/* Grant copy; per-segment status in segs[i].status. Returns 0 if the
	 * batch was processed (even if some segments failed), else -errno. */
	int (*gnt_copy)(struct xb_platform *p, unsigned int count,
			struct xb_gnt_copy *segs);

	/* Bind a local port to (domid, remote_port); one handle per port. */
	int (*evtchn_bind)(struct xb_platform *p, xb_domid_t domid,
			   uint32_t remote_port, struct xb_evtchn **out);
	/* Unbind and free; accepts NULL. */
	void (*evtchn_unbind)(struct xb_evtchn *ec);
	/* Fd that becomes readable (POLLIN) when the event fires. */
	int (*evtchn_fd)(struct xb_evtchn *ec);
	/* Consume pending events and unmask: 1 if the port fired, 0 if not,
	 * -errno on failure. Call after the fd polled readable. */
	int (*evtchn_ack)(struct xb_evtchn *ec);
	/* Send an event to the remote end. */
	int (*evtchn_notify)(struct xb_evtchn *ec);
	uint32_t (*evtchn_local_port)(struct xb_evtchn *ec);

	/* Release everything; accepts NULL. */
	void (*close)(struct xb_platform *p);
};

/* Implementations embed these as their first member. */
struct xb_platform {
	const struct xb_platform_ops *ops;
};

struct xb_evtchn {
	const struct xb_platform_ops *ops;
};

/* Options for opening a platform (from the CLI). */
struct xb_platform_args {
	const char *sim_dir;  /* sim: directory of the simulated domains */
	unsigned int max_grants; /* xen: gntdev max grants (0: default) */
};

/* Each returns 0 and sets *out, or -errno (e.g. -ENOENT: not available). */
int xb_platform_open_xen(const struct xb_platform_args *args,
			 struct xb_platform **out);
int xb_platform_open_sim(const struct xb_platform_args *args,
			 struct xb_platform **out);
/* "auto|xen|shim|sim"; auto tries shim, then xen. */
int xb_platform_open(const char *name, const struct xb_platform_args *args,
		     struct xb_platform **out);

/* Convenience wrappers. */
static inline int xb_gnt_map(struct xb_platform *p, xb_domid_t domid,
			     unsigned int count, const xb_gref_t *refs,
			     bool writable, void **addr)
{
	return p->ops->gnt_map(p, domid, count, refs, writable, addr);
}

static inline int xb_gnt_unmap(struct xb_platform *p, void *addr,
			       unsigned int count)
{
	return p->ops->gnt_unmap(p, addr, count);
}

static inline int xb_gnt_copy(struct xb_platform *p, unsigned int count,
			      struct xb_gnt_copy *segs)
{
	return p->ops->gnt_copy(p, count, segs);
}

static inline int xb_evtchn_fd(struct xb_evtchn *ec)
{
	return ec->ops->evtchn_fd(ec);
}

static inline int xb_evtchn_ack(struct xb_evtchn *ec)
{
	return ec->ops->evtchn_ack(ec);
}

static inline int xb_evtchn_notify(struct xb_evtchn *ec)
{
	return ec->ops->evtchn_notify(ec);
}

static inline void xb_evtchn_unbind(struct xb_evtchn *ec)
{
	if (ec)
		ec->ops->evtchn_unbind(ec);
}

#endif
