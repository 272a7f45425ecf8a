/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The smallest frontend that takes a vbd through the xenbus states: one
 * ring page and one event channel, negotiated as Linux's blkfront does.
 * For lifecycle tests; tests/blk has the full simulated blkfront.
 */
#ifndef XB_MINIFRONT_H
#define XB_MINIFRONT_H

#include <stdbool.h>

#include "simguest.h"
#include "toolstack.h"

struct minifront {
	struct sg_domain *sg;
	struct xs_handle *xs;
	struct ts_vbd vbd;
	char be[128], fe[128];
	void *ring;
	uint32_t frame;
	int ref;
	int port;
};

/* Bad values a test can make the frontend publish instead of good ones. */
struct mf_bad {
	const char *ring_ref;        /* written as is, e.g. "banana" */
	bool no_event_channel;
	const char *ring_page_order; /* e.g. "30" */
};

void mf_init(struct minifront *f, struct sg_domain *sg, struct xs_handle *xs,
	     const struct ts_vbd *v);
/* Wait for backend InitWait, publish ring + port, go Initialised, wait for
 * backend Connected, go Connected. 0 or -errno. */
int mf_connect(struct minifront *f, const struct mf_bad *bad, int timeout_ms);
/* Go Closing, wait for backend Closing/Closed, go Closed, then revoke the
 * ring grant: -EBUSY if the backend still maps it. 0 or -errno. */
int mf_close(struct minifront *f, int timeout_ms);
/* Back to Initialising after Closed (reconnect). 0 or -errno. */
int mf_reinit(struct minifront *f);
/* Release what mf_connect allocated without talking to the backend. */
void mf_release(struct minifront *f);

#endif
