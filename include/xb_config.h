/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The parsed command line: the one piece of global configuration. */
#ifndef XB_CONFIG_H
#define XB_CONFIG_H

#include <stdbool.h>

#define XB_MAX_CPUS 256

struct xb_config {
	/* Device types served, as xenstore names ("vbd", "qdisk", "vif"). */
	const char *types[8];
	unsigned int ntypes;
	const char *platform;     /* auto|xen|shim|sim */
	const char *sim_dir;      /* sim platform: domains' directory */
	unsigned int workers;     /* worker threads */
	int cpus[XB_MAX_CPUS];    /* --cpus: pin worker i to cpus[i % ncpus] */
	unsigned int ncpus;
	int log_level;
	int log_target;           /* enum xb_log_target */
	bool foreground;
	const char *pidfile;
	const char *ctl_path;     /* control socket */
	unsigned int backend_domid; /* our domid as seen by frontends (0) */

	/* blkback */
	const char *blk_engine;   /* auto|io_uring|aio|null */
	unsigned int blk_max_queues;
	unsigned int blk_max_ring_order;
	unsigned int blk_max_indirect;
	unsigned int blk_max_persistent;   /* persistent grants per queue */
	unsigned int blk_persistent_idle;  /* seconds before an unused one goes */
	unsigned int blk_poll_us; /* look at an idle ring this long (0: off) */
	bool blk_loop_file;       /* --blk-loop file: serve a loop's file */

	/* netback */
	unsigned int net_max_queues;
	unsigned int net_rx_drain_ms; /* drop what waits for rx buffers */
	unsigned int net_rx_stall_ms; /* carrier off after; 0: never */
};

#endif
