/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fixture for the blk sim tests: a private xenstored, xenbackd on the sim
 * platform, simulated domains, vbds added like xl does, and a workload
 * generator that checks data integrity against an in-memory model and the
 * backing file.
 */
#ifndef BLKTEST_H
#define BLKTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "blkfront.h"
#include "fixture.h"

#define BT_MS 15000

/* The fixture is tests/simfront's (sf_start, sf_stop); blk tests give
 * their domains this many grant entries. */
#define BT_GRANTS 65536

static inline struct sg_domain *bt_domain(struct sf *t, unsigned int domid,
					  unsigned int nr_frames)
{
	return sf_domain(t, domid, nr_frames, BT_GRANTS);
}

/* Create a backing file of size bytes (sparse, or filled with a pattern
 * when fill). 0 or -errno. */
int bt_image(const char *path, uint64_t size, bool fill);
/* A vbd like xl writes it; added and hotplugged. 0 or -errno. */
int bt_add_vbd(struct sf *t, struct ts_vbd *v);
/* be/fe paths of a vbd */
void bt_paths(const struct ts_vbd *v, char *be, char *fe);
/* Counters from `xenbackctl`-style "stats" for a device, -1 if missing. */
long long bt_stat(struct sf *t, const char *dev, const char *key);

/* ---- integrity workload ---- */
struct bt_load {
	unsigned int qd;           /* requests in flight */
	unsigned int ops;          /* total requests */
	unsigned int write_pct;    /* % writes */
	unsigned int max_sectors;  /* per request (0: frontend max) */
	bool page_offsets;         /* random first_sect in the first page */
	unsigned int align;	   /* sectors: start and size multiples of
				    * it (8 on a 4 KiB-sector disk); 0: 1 */
	uint64_t seed;
};

/*
 * Run the load on f against the disk of f->sectors, keeping a model of the
 * content (initialised from the backing file at img) and checking every
 * read; then read everything back through f and compare the backing file
 * with the model. 0 pass, 1 fail.
 */
int bt_integrity(struct blkfront *f, const char *img,
		 const struct bt_load *l);

/* Deterministic PRNG. */
uint64_t bt_rand(uint64_t *s);

#define BT_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			return 1;                                             \
		}                                                             \
	} while (0)

#endif
