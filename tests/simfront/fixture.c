/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

int sf_start(struct sf *f, const char *const *daemon_args)
{
	int r = xsh_start(&f->xsh);

	if (r == -ENOENT) {
		printf("SKIP: %s is not installed (apt-get install "
		       "xen-utils-4.17)\n",
		       XSH_XENSTORED);
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "xenstored harness: %s\n", strerror(-r));
		return 1;
	}
	f->xs = xs_open(0);
	if (!f->xs) {
		fprintf(stderr, "xs_open: %s\n", strerror(errno));
		return 1;
	}
	r = td_start(&f->td, daemon_args);
	if (r < 0) {
		fprintf(stderr, "starting xenbackd: %s\n", strerror(-r));
		return 1;
	}
	f->started = true;
	return 0;
}

int sf_stop(struct sf *f)
{
	int st = f->started ? td_stop(&f->td) : 0;

	for (unsigned int i = 0; i < 8; i++)
		sg_domain_destroy(f->sg[i]);
	if (f->xs)
		xs_close(f->xs);
	xsh_stop(f->xsh);
	if (st == 0 && f->td.dir[0]) {
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->td.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", f->td.dir);
	} else if (st) {
		fprintf(stderr, "xenbackd exit status %d; kept %s\n", st,
			f->td.dir);
	}
	return st;
}

struct sg_domain *sf_domain(struct sf *f, unsigned int domid,
			    unsigned int nr_frames, unsigned int nr_grants)
{
	struct sg_domain *sg;
	int r;

	r = xsh_domain_create(f->xsh, domid);
	if (r < 0) {
		fprintf(stderr, "xsh_domain_create: %s\n", strerror(-r));
		return NULL;
	}
	r = sg_domain_create(f->td.sim_dir, domid, nr_frames, nr_grants, &sg);
	if (r < 0) {
		fprintf(stderr, "sg_domain_create: %s\n", strerror(-r));
		return NULL;
	}
	f->sg[domid % 8] = sg;
	return sg;
}
