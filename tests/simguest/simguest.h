/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest side of the sim platform: what a simulated domain (blkfront,
 * netfront... written as tests) uses in place of a guest kernel's grant
 * table and event channel code. The daemon side is daemon/platform_sim.c;
 * the shared layout is include/xb_sim.h.
 *
 * All functions are thread-safe. A struct sg_domain belongs to the process
 * that created it (the daemon is another process, or the same one).
 * Functions return 0 (or a ref / port / count) on success or -errno.
 */
#ifndef SIMGUEST_H
#define SIMGUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "xb_sim.h"

struct sg_domain;

/* Create dom<domid>/ in sim_dir with nr_frames of memory and nr_grants grant
 * entries and start the evtchn server; -EEXIST if dom<domid> exists. */
int sg_domain_create(const char *sim_dir, unsigned int domid,
		     unsigned int nr_frames, unsigned int nr_grants,
		     struct sg_domain **out);
/* Stop the server, remove dom<domid>/; accepts NULL. */
void sg_domain_destroy(struct sg_domain *d);
unsigned int sg_domain_id(const struct sg_domain *d);

/* Guest memory: one zeroed page and its frame number; NULL when full. */
void *sg_page_alloc(struct sg_domain *d, uint32_t *frame);
/* Accepts NULL. */
void sg_page_free(struct sg_domain *d, void *va);
/* NULL if frame is out of range. */
void *sg_frame_va(struct sg_domain *d, uint32_t frame);

/* Grants: returns a ref (>= 8; 0..7 reserved as in Linux) or -errno. */
int sg_grant_access(struct sg_domain *d, unsigned int to_domid, uint32_t frame,
		    bool readonly);
/* Revoke and free a ref: -EBUSY while the backend has it mapped (or is
 * copying), -EINVAL if the ref is not in use. */
int sg_grant_end(struct sg_domain *d, uint32_t ref);
/* Raw write of a grant entry for hostile tests (any flags/domid/frame, any
 * ref < nr_grants); the ref counts as in use until sg_grant_end. */
int sg_grant_raw(struct sg_domain *d, uint32_t ref, uint16_t flags,
		 uint16_t domid, uint32_t frame);
/* The entry's current flags (GTF_reading/GTF_writing show backend use). */
int sg_grant_flags(struct sg_domain *d, uint32_t ref);

/* Event channels: allocate a port unbound for remote_domid; the port. */
int sg_evtchn_alloc_unbound(struct sg_domain *d, unsigned int remote_domid);
/* Readable (POLLIN) when the backend notified; stable for the port's life,
 * across backend re-binds. */
int sg_evtchn_fd(struct sg_domain *d, int port);
/* Consume the backend's notifications: 1 fired, 0 not. */
int sg_evtchn_ack(struct sg_domain *d, int port);
/* Kick the backend; -ENOTCONN if the backend has not bound the port. */
int sg_evtchn_notify(struct sg_domain *d, int port);
bool sg_evtchn_is_bound(struct sg_domain *d, int port);
/* Free the port; a backend bound to it sees its connection closed. */
int sg_evtchn_close(struct sg_domain *d, int port);

#endif
