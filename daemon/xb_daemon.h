/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Daemon-private: the main thread's state, shared by daemon/ files. */
#ifndef XB_DAEMON_H
#define XB_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "xb_config.h"
#include "xb_device.h"

struct event_base;
struct event;
struct xs_handle;
struct xb_ctl;
struct xb_fatal_msg;

struct xb_daemon {
	const struct xb_config *cfg;
	struct event_base *base;
	struct xs_handle *xsh;
	struct event *xs_ev;
	struct xb_platform *plat;
	struct xb_workers *workers;
	struct xb_ctl *ctl;
	const struct backend_ops *types[8]; /* served, parallel to cfg->types */
	unsigned int ntypes;

	struct xb_device_core *devices; /* list, main thread only */
	unsigned int ndevices;
	uint64_t next_id;

	/* Workers -> main: fatal device errors (xb_dev_fatal_async). */
	pthread_mutex_t fatal_lock;
	struct xb_fatal_msg *fatal_list;
	int fatal_fd;
	struct event *fatal_ev;

	/* The kernel's block device uevents (uevent.c); -1 without. */
	int uevent_fd;
	struct event *uevent_ev;
};

/* backends.c: the table of every device type. NULL if unknown. */
const struct backend_ops *xb_backend_find(const char *type);
/* Comma-separated list of the names, for --help. */
const char *xb_backend_names(void);

/* device.c */
int xb_devices_init(struct xb_daemon *d);
/* Disconnect and close every device (shutdown). */
void xb_devices_shutdown(struct xb_daemon *d);
void xb_devices_fini(struct xb_daemon *d);

/* Visit every device (control socket). */
typedef void (*xb_device_visit_fn)(struct xb_device *dev, void *arg);
void xb_devices_foreach(struct xb_daemon *d, xb_device_visit_fn fn,
			void *arg);
const char *xb_state_name(enum xenbus_state st);

/* uevent.c: block devices that changed reach the devices they back.
 * 0 (also when the kernel's uevents cannot be had: logged) or -errno. */
int xb_uevent_start(struct xb_daemon *d);
void xb_uevent_stop(struct xb_daemon *d);

/* ctl.c: the control socket. 0 or -errno. */
int xb_ctl_start(struct xb_daemon *d, const char *path);
void xb_ctl_stop(struct xb_ctl *ctl);

#endif
