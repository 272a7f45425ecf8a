/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What moving a guest's 64 KiB through the sim platform costs, mapped or
 * copied: xb_gnt_map + xb_gnt_unmap of its 16 pages (16 at a time, and in
 * one call of 256) against one xb_gnt_copy of the 16 pages into our
 * memory. netif has no persistent grants, so a backend would map per
 * packet: this is why netback copies (as QEMU's qdisk does on Xen).
 * Prints ns per 64 KiB and the ratio map/copy. Usage: gnt_cost [ROUNDS]
 * (default 2000). Exit 0, 1 on a setup failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simguest.h"
#include "xb_platform.h"

#define GUEST 5
#define NP    256 /* pages cycled through: 1 MiB, as a netback tx pass */

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	char dir[64] = "/dev/shm/xb-gnt-cost-XXXXXX";
	struct xb_platform_args args = {.sim_dir = dir};
	static struct xb_gnt_copy segs[NP];
	static uint8_t local[NP * 4096];
	struct xb_platform *p;
	struct sg_domain *g;
	xb_gref_t refs[NP];
	int rounds = argc > 1 ? atoi(argv[1]) : 2000, r = 1;
	double t0, map16, map256, copy;

	if (rounds < 1 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: gnt_cost [ROUNDS >= 1] (%s)\n",
			strerror(errno));
		return 1;
	}
	if (sg_domain_create(dir, GUEST, NP + 16, NP + 16, &g) < 0) {
		rmdir(dir);
		return 1;
	}
	if (xb_platform_open("sim", &args, &p) < 0)
		goto out_g;
	for (int i = 0; i < NP; i++) {
		uint32_t frame;
		uint8_t *va = sg_page_alloc(g, &frame);
		int ref = va ? sg_grant_access(g, 0, frame, true) : -1;

		if (ref < 0)
			goto out_p;
		memset(va, i, 4096);
		refs[i] = (xb_gref_t)ref;
	}
	t0 = now_ns();
	for (int it = 0; it < rounds; it++)
		for (int k = 0; k < NP; k += 16) {
			void *addr;

			if (xb_gnt_map(p, GUEST, 16, refs + k, false, &addr) ||
			    xb_gnt_unmap(p, addr, 16))
				goto out_p;
		}
	map16 = (now_ns() - t0) / rounds / (NP / 16);
	t0 = now_ns();
	for (int it = 0; it < rounds; it++) {
		void *addr;

		if (xb_gnt_map(p, GUEST, NP, refs, false, &addr) ||
		    xb_gnt_unmap(p, addr, NP))
			goto out_p;
	}
	map256 = (now_ns() - t0) / rounds / (NP / 16);
	t0 = now_ns();
	for (int it = 0; it < rounds; it++) {
		for (int i = 0; i < NP; i++)
			segs[i] = (struct xb_gnt_copy){.domid = GUEST,
						       .ref = refs[i],
						       .len = 4096,
						       .local = local + i * 4096};
		if (xb_gnt_copy(p, NP, segs) < 0 || segs[NP - 1].status)
			goto out_p;
	}
	copy = (now_ns() - t0) / rounds / (NP / 16);
	printf("per 64 KiB (16 pages) on the sim platform, %d rounds over %d "
	       "pages:\n"
	       "  map + unmap, 16 pages a call:   %8.0f ns\n"
	       "  map + unmap, 256 pages a call:  %8.0f ns\n"
	       "  grant copy into our memory:     %8.0f ns\n"
	       "  ratio map/copy: %.1f (16 a call), %.1f (256 a call)\n",
	       rounds, NP, map16, map256, copy, map16 / copy, map256 / copy);
	r = 0;
out_p:
	p->ops->close(p);
out_g:
	sg_domain_destroy(g);
	rmdir(dir);
	if (r)
		fprintf(stderr, "gnt_cost: setup or grant operation failed\n");
	return r;
}
