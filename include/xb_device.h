/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic xenbus device, and the table each device type fills.
 *
 * The core (daemon/) owns every struct xb_device and runs the xenbus state
 * machine; it never switches on the device type. Every hook runs on the
 * main thread. Hooks return 0 or -errno; a failing hook makes the core
 * write error/<backend path>/error (like xenbus_dev_fatal) and move that
 * device to Closing; no other device is affected.
 *
 * Order for one device:
 *   probe            toolstack created backend/<type>/<domid>/<devid>;
 *                    publish static features. Then state InitWait.
 *   prepare          hotplug done (hotplug-status=connected where the
 *                    toolstack set `script`, else right after probe):
 *                    open backing resources, publish what depends on them.
 *   connect          frontend Initialised (or Connected) and prepared:
 *                    read the frontend's keys, map rings, start queues.
 *                    Then state Connected.
 *   disconnect       frontend closing, online=0, domain death, shutdown or
 *                    a fatal error: stop queues, unmap. Must accept a
 *                    half-connected device and be idempotent.
 *   free             the device goes away (online=0, domain death, its
 *                    directory removed, shutdown): undo probe/prepare.
 *                    Accepts a device whose probe or prepare failed or
 *                    never ran. Keys written with xb_dev_write are removed
 *                    then by the core.
 * A frontend that closes while the device stays online only gets
 * disconnect: resources and published keys stay, and a frontend returning to
 * Initialising goes straight back to InitWait (probe runs again only if it
 * had failed; prepare only if it had not succeeded).
 * frontend_changed sees every later frontend state change of a connected
 * device (e.g. Reconfiguring), after the core's own handling.
 */
#ifndef XB_DEVICE_H
#define XB_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xen/io/xenbus.h>

#include "xb_platform.h"

struct xb_config;
struct xb_device;
struct xb_workers;
struct xb_device_core; /* daemon-private */

/* Counters a backend reports for `xenbackctl`; all cumulative. */
struct xb_dev_stats {
	uint64_t requests;
	uint64_t bytes_read;   /* guest reads: data to the guest */
	uint64_t bytes_written;/* guest writes: data from the guest */
	uint64_t errors;       /* error responses + dropped packets */
	uint64_t ring_errors;  /* protocol violations */
	uint64_t poll_hits;    /* busy polls that found the guest's next work */
	uint64_t poll_misses;  /* busy polls that ended empty */
	uint64_t grant_maps;   /* guest pages mapped (blkback: per request, or
				* into the persistent-grant cache) */
	uint64_t persistent_hits; /* pages found already mapped in that cache */
};

struct backend_ops {
	const char *type; /* xenstore name: "vbd", "qdisk", "vif", "pci" */
	int (*probe)(struct xb_device *dev);
	int (*prepare)(struct xb_device *dev);           /* optional */
	int (*connect)(struct xb_device *dev);
	/* optional: a frontend state the core does not act on itself */
	void (*frontend_changed)(struct xb_device *dev, enum xenbus_state st);
	/* optional: a watched backend key changed (see watch_keys) */
	void (*backend_changed)(struct xb_device *dev, const char *key);
	void (*disconnect)(struct xb_device *dev);
	void (*free)(struct xb_device *dev);
	/* optional: fill counters (main thread; read worker counters with
	 * relaxed atomics) */
	void (*get_stats)(struct xb_device *dev, struct xb_dev_stats *st);
	/* optional: NULL-terminated backend keys whose changes are passed
	 * to backend_changed (e.g. "rate") */
	const char *const *watch_keys;
	/* optional: NULL-terminated frontend keys watched while the device
	 * exists; changes reach frontend_key_changed on a connected device
	 * (e.g. "request-multicast-control") */
	const char *const *fe_watch_keys;
	void (*frontend_key_changed)(struct xb_device *dev, const char *key);
	/* optional: the kernel says block device rdev changed (its size,
	 * maybe); main thread, any state once probed */
	void (*blockdev_changed)(struct xb_device *dev, dev_t rdev);
	/* optional: look at the backing store's size again (xenbackctl
	 * resize: a file has no uevent); 0 and the size in 512-byte
	 * sectors, or -errno */
	int (*rescan)(struct xb_device *dev, uint64_t *sectors);
};

struct xb_device {
	char name[40];            /* "d7/vbd51712": log prefix */
	const struct backend_ops *ops;
	xb_domid_t domid;         /* frontend domain */
	uint32_t devid;
	char *be_path;            /* backend/<type>/<domid>/<devid> */
	char *fe_path;            /* validated /local/domain/<domid>/... */
	struct xb_platform *plat;
	struct xb_workers *workers;
	const struct xb_config *cfg;
	enum xenbus_state state;    /* ours */
	enum xenbus_state fe_state; /* frontend's, last seen */
	void *priv;               /* the backend's */
	struct xb_device_core *core;
};

/*
 * Reading keys: fe=false reads <be_path>/key, fe=true <fe_path>/key.
 * Strings are malloc'd (caller frees). Returns 0, -ENOENT when missing,
 * -EINVAL when malformed, -ERANGE when above max.
 */
int xb_dev_read(struct xb_device *dev, bool fe, const char *key, char **out);
int xb_dev_read_uint(struct xb_device *dev, bool fe, const char *key,
		     unsigned long long max, unsigned long long *out);
/* Like xb_dev_read_uint, but a missing key yields def. */
int xb_dev_read_uint_def(struct xb_device *dev, bool fe, const char *key,
			 unsigned long long max, unsigned long long def,
			 unsigned long long *out);
/*
 * Write <be_path>/key. The core remembers every key written this way and
 * removes them when the device is closed or freed.
 */
int xb_dev_write(struct xb_device *dev, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Remove a key written with xb_dev_write. */
int xb_dev_remove(struct xb_device *dev, const char *key);
/* Write our state (e.g. Reconfigured after a frontend's Reconfiguring).
 * Main thread only. Returns 0 or -errno. */
int xb_dev_switch_state(struct xb_device *dev, enum xenbus_state st);
/* Write our state again, unchanged: the frontend's watch on it fires and
 * it reads what we publish once more (a disk's new `sectors`, as Linux's
 * blkback announces a resize). 0 or -errno. */
int xb_dev_announce_state(struct xb_device *dev);
/*
 * A fatal error found outside a hook (e.g. by a worker through a message,
 * or a timer): log, write the error node, go Closing, disconnect.
 * Main thread only.
 */
void xb_dev_fatal(struct xb_device *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Thread-safe: a worker reports that the guest broke the protocol. The core
 * handles it on the main thread as xb_dev_fatal(dev, -EPROTO, msg).
 */
void xb_dev_fatal_async(struct xb_device *dev, const char *msg);

/* The table of every device type, in backends/ and pci/. */
extern const struct backend_ops blkback_ops;    /* "vbd" */
extern const struct backend_ops blkback_qdisk_ops; /* "qdisk" */
extern const struct backend_ops netback_ops;    /* "vif" */

#endif
