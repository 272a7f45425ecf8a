/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent grants (feature-persistent): a frontend that reuses the same
 * grants lets us keep them mapped instead of mapping and unmapping per
 * request. One cache per queue, owned by its worker thread.
 *
 * Bounded by max (the frontend may offer any number of grants): when the
 * cache is full, new grants are mapped per request like without the
 * feature, as Linux does, and grants unused for `idle` seconds are
 * unmapped by a periodic purge so the working set can move. A purge
 * unmaps a bounded number (two system calls each, and a TLB flush under
 * Xen): a guest's whole pool going idle at once is let go in steps, not
 * in one stall of the queue. The grant refs are guest-chosen and only
 * ever used as hash keys here.
 */
#include <errno.h>
#include <stdlib.h>

#include "blkback.h"
#include "xb_log.h"

static unsigned int hash_ref(const struct blkback_pgnt_cache *c,
			     xb_gref_t ref)
{
	return (ref * 2654435761u) & c->hash_mask;
}

static void lru_unlink(struct blkback_pgnt *g)
{
	g->lru_prev->lru_next = g->lru_next;
	g->lru_next->lru_prev = g->lru_prev;
}

static void lru_push_head(struct blkback_pgnt_cache *c,
			  struct blkback_pgnt *g)
{
	g->lru_next = c->lru.lru_next;
	g->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = g;
	c->lru.lru_next = g;
}

/* Returns 0 or -ENOMEM. max 0 makes an empty cache that never maps. */
int blkback_pgnt_init(struct blkback_pgnt_cache *c, unsigned int max)
{
	unsigned int hsize = 16;

	while (hsize < max * 2)
		hsize *= 2;
	c->ents = calloc(max ? max : 1, sizeof(*c->ents));
	c->hash = calloc(hsize, sizeof(*c->hash));
	if (!c->ents || !c->hash) {
		free(c->ents);
		free(c->hash);
		c->ents = NULL;
		c->hash = NULL;
		return -ENOMEM;
	}
	c->hash_mask = hsize - 1;
	c->max = max;
	c->count = 0;
	c->free = NULL;
	for (unsigned int i = max; i-- > 0;) {
		c->ents[i].hnext = c->free;
		c->free = &c->ents[i];
	}
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return 0;
}

struct blkback_pgnt *blkback_pgnt_get(struct blkback_queue *q, xb_gref_t ref,
				      uint64_t now, int *err)
{
	struct blkback_pgnt_cache *c = &q->pgc;
	struct xb_platform *plat = q->bd->dev->plat;
	struct blkback_pgnt **slot = &c->hash[hash_ref(c, ref)];
	struct blkback_pgnt *g;
	int r, e = 0;

	for (g = *slot; g; g = g->hnext) {
		if (g->ref == ref) {
			blkback_stat_add(&q->stats.persistent_hits, 1);
			g->users++;
			g->last_used = now;
			lru_unlink(g);
			lru_push_head(c, g);
			return g;
		}
	}
	if (!c->free) {
		*err = -ENOSPC;
		return NULL;
	}
	g = c->free;
	/* Mapped writable whatever the request: the frontend promised
	 * (feature-persistent) to grant these pages read-write. */
	r = plat->ops->gnt_map_each(plat, q->bd->dev->domid, 1, &ref, true,
				    &g->addr, &e);
	if (r < 0 || !g->addr) {
		*err = r < 0 ? r : (e ? e : -EFAULT);
		return NULL;
	}
	blkback_stat_add(&q->stats.grant_maps, 1);
	c->free = g->hnext;
	g->ref = ref;
	g->users = 1;
	g->last_used = now;
	g->hnext = *slot;
	*slot = g;
	lru_push_head(c, g);
	c->count++;
	return g;
}

void blkback_pgnt_put(struct blkback_pgnt *g, uint64_t now)
{
	g->users--;
	g->last_used = now;
}

static void pgnt_drop(struct blkback_queue *q, struct blkback_pgnt *g)
{
	struct blkback_pgnt_cache *c = &q->pgc;
	struct blkback_pgnt **pp = &c->hash[hash_ref(c, g->ref)];
	int err;

	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	lru_unlink(g);
	err = xb_gnt_unmap(q->bd->dev->plat, g->addr, 1);
	if (err)
		dev_err_errno(q, err, "unmapping persistent grant %u", g->ref);
	g->addr = NULL;
	g->hnext = c->free;
	c->free = g;
	c->count--;
}

bool blkback_pgnt_purge(struct blkback_queue *q, uint64_t now,
			unsigned int idle, unsigned int max)
{
	struct blkback_pgnt_cache *c = &q->pgc;
	struct blkback_pgnt *g, *prev;
	unsigned int n = 0;
	bool more = false;

	if (!c->ents)
		return false;
	/* Oldest at the tail: stop at the first one used recently. */
	for (g = c->lru.lru_prev; g != &c->lru; g = prev) {
		prev = g->lru_prev;
		if (idle && now - g->last_used < idle)
			break;
		if (g->users)
			continue;
		if (n == max) {
			more = true;
			break;
		}
		pgnt_drop(q, g);
		n++;
	}
	if (n)
		dev_debug(q, "unmapped %u idle persistent grants, %u left", n,
			  c->count);
	return more;
}

/* Unmaps every grant (none may be in use any more) and frees the cache. */
void blkback_pgnt_fini(struct blkback_queue *q)
{
	struct blkback_pgnt_cache *c = &q->pgc;

	if (!c->ents)
		return;
	while (c->lru.lru_next != &c->lru) {
		struct blkback_pgnt *g = c->lru.lru_next;

		if (g->users)
			dev_err(q, "persistent grant %u still used by %u",
				g->ref, g->users);
		pgnt_drop(q, g);
	}
	free(c->ents);
	free(c->hash);
	c->ents = NULL;
	c->hash = NULL;
}
