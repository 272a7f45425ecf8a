/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sim-tier fixture every end-to-end test starts from: a private
 * xenstored (tests/harness), xenbackd on the sim platform (toolstack.h's
 * launcher), simulated guest domains, and the cleanup.
 */
#ifndef XB_FIXTURE_H
#define XB_FIXTURE_H

#include <stdbool.h>

#include "simguest.h"
#include "toolstack.h"
#include "xs_harness.h"

struct sf {
	struct xs_harness *xsh;
	struct xs_handle *xs;
	struct td_daemon td;
	struct sg_domain *sg[8]; /* by domid % 8 */
	bool started;
};

/* Start xenstored + xenbackd with extra args. 0, 77 (skip, reason
 * printed) or 1. Zero *f first. */
int sf_start(struct sf *f, const char *const *daemon_args);
/* Stop everything; returns the daemon's exit status (0: clean, and the
 * private dir is removed; else it is kept and named). Accepts a fixture
 * whose start failed. */
int sf_stop(struct sf *f);
/* A guest domain: known to xenstored (introduced) and to the sim platform,
 * with nr_frames pages of memory and nr_grants grant entries. */
struct sg_domain *sf_domain(struct sf *f, unsigned int domid,
			    unsigned int nr_frames, unsigned int nr_grants);

#endif
