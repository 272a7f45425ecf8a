/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <stdint.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

#include "minifront.h"

void mf_init(struct minifront *f, struct sg_domain *sg, struct xs_handle *xs,
	     const struct ts_vbd *v)
{
	memset(f, 0, sizeof(*f));
	f->sg = sg;
	f->xs = xs;
	f->vbd = *v;
	f->ref = -1;
	f->port = -1;
	ts_vbd_paths(v, f->be, sizeof(f->be), f->fe, sizeof(f->fe));
}

static int set_state(struct minifront *f, int st)
{
	char v[4];

	snprintf(v, sizeof(v), "%d", st);
	return ts_write(f->xs, f->fe, "state", v);
}

int mf_connect(struct minifront *f, const struct mf_bad *bad, int timeout_ms)
{
	char num[32];
	int r;

	r = ts_wait_state(f->xs, f->be, XenbusStateInitWait, timeout_ms);
	if (r)
		return r;
	if (!f->ring) {
		f->ring = sg_page_alloc(f->sg, &f->frame);
		if (!f->ring)
			return -ENOMEM;
	}
	SHARED_RING_INIT((blkif_sring_t *)f->ring);
	if (f->ref < 0) {
		f->ref = sg_grant_access(f->sg, 0, f->frame, false);
		if (f->ref < 0)
			return f->ref;
	}
	if (f->port < 0) {
		f->port = sg_evtchn_alloc_unbound(f->sg, 0);
		if (f->port < 0)
			return f->port;
	}
	snprintf(num, sizeof(num), "%d", f->ref);
	r = ts_write(f->xs, f->fe, "ring-ref",
		     bad && bad->ring_ref ? bad->ring_ref : num);
	if (!r && bad && bad->ring_page_order)
		r = ts_write(f->xs, f->fe, "ring-page-order",
			     bad->ring_page_order);
	snprintf(num, sizeof(num), "%d", f->port);
	if (!r && !(bad && bad->no_event_channel))
		r = ts_write(f->xs, f->fe, "event-channel", num);
	if (!r)
		r = ts_write(f->xs, f->fe, "protocol", XEN_IO_PROTO_ABI_NATIVE);
	if (!r)
		r = set_state(f, XenbusStateInitialised);
	if (r)
		return r;
	r = ts_wait_state(f->xs, f->be, XenbusStateConnected, timeout_ms);
	if (r)
		return r;
	return set_state(f, XenbusStateConnected);
}

int mf_close(struct minifront *f, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int r;

	r = set_state(f, XenbusStateClosing);
	if (r)
		return r;
	for (;;) {
		long st = ts_read_int(f->xs, f->be, "state");

		if (st == XenbusStateClosing || st == XenbusStateClosed)
			break;
		if (ts_now_ms() > end)
			return -ETIMEDOUT;
		usleep(5000);
	}
	r = set_state(f, XenbusStateClosed);
	if (r)
		return r;
	r = ts_wait_state(f->xs, f->be, XenbusStateClosed, timeout_ms);
	if (r)
		return r;
	if (f->ref >= 0) {
		r = sg_grant_end(f->sg, (uint32_t)f->ref);
		if (r)
			return r;
		f->ref = -1;
	}
	if (f->port >= 0) {
		sg_evtchn_close(f->sg, f->port);
		f->port = -1;
	}
	return 0;
}

int mf_reinit(struct minifront *f)
{
	return set_state(f, XenbusStateInitialising);
}

void mf_release(struct minifront *f)
{
	if (f->ref >= 0)
		sg_grant_end(f->sg, (uint32_t)f->ref);
	if (f->port >= 0)
		sg_evtchn_close(f->sg, f->port);
	if (f->ring)
		sg_page_free(f->sg, f->ring);
	f->ref = f->port = -1;
	f->ring = NULL;
}
