/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated toolstack: writes devices into xenstore exactly as libxl
 * does (keys, values, permissions), runs the hotplug step the way the
 * `block`/`vif-bridge` scripts report it, and removes devices like
 * libxl's device removal. Plus a launcher for xenbackd itself.
 */
#ifndef XB_TOOLSTACK_H
#define XB_TOOLSTACK_H

#include <stdbool.h>
#include <sys/types.h>
#include <xenstore.h>

struct ts_vbd {
	unsigned int domid;
	unsigned int devid;       /* e.g. 51712 for xvda */
	const char *vdev;         /* "xvda" */
	const char *target;       /* params: the backing file or device */
	const char *type;         /* "vbd" (default) or "qdisk" */
	bool readonly;
	bool cdrom;
	int discard_enable;       /* -1: key not written, else 0/1 */
	bool script;              /* write script=/etc/xen/scripts/block */
};

/* Paths of a vbd (malloc'd by the caller-provided buffers). */
void ts_vbd_paths(const struct ts_vbd *v, char *be, size_t belen, char *fe,
		  size_t felen);
/* libxl's part common to every device type: both directories with their
 * permissions, links and state, plus NULL-terminated key/value pairs for
 * each side, in one transaction. 0 or -errno. */
int ts_dev_add(struct xs_handle *xs, const char *be, const char *fe,
	       unsigned int domid, const char *const *be_kv,
	       const char *const *fe_kv);
/* Write backend + frontend dirs in one transaction. 0 or -errno. */
int ts_vbd_add(struct xs_handle *xs, const struct ts_vbd *v);
/* What the block script does once the backend is in InitWait:
 * physical-device-path (and physical-device when a block device), then
 * hotplug-status=connected. 0 or -errno. */
int ts_vbd_hotplug(struct xs_handle *xs, const struct ts_vbd *v);
/*
 * libxl's removal: online=0 and backend state=Closing in a transaction,
 * wait up to timeout_ms for the backend to reach Closed, then remove the
 * backend and frontend dirs (also on timeout, as libxl does after its
 * timeout). Returns 0 if the backend reached Closed, -ETIMEDOUT if not.
 */
int ts_vbd_remove(struct xs_handle *xs, const struct ts_vbd *v,
		  int timeout_ms);

/* The first half of ts_vbd_remove: online=0, backend state=Closing. */
int ts_vbd_remove_begin(struct xs_handle *xs, const struct ts_vbd *v);

/* Read an integer key; -1 if missing or malformed. */
long ts_read_int(struct xs_handle *xs, const char *dir, const char *key);
/* Write a string key. 0 or -errno. */
int ts_write(struct xs_handle *xs, const char *dir, const char *key,
	     const char *val);
/* Wait until dir/state == state (polls watches). 0 or -ETIMEDOUT. */
int ts_wait_state(struct xs_handle *xs, const char *dir, int state,
		  int timeout_ms);
/* Wait until path exists (want=true) or not (false). 0 or -ETIMEDOUT. */
int ts_wait_exists(struct xs_handle *xs, const char *path, bool want,
		   int timeout_ms);
bool ts_exists(struct xs_handle *xs, const char *path);
/* Count the nodes below path (recursive, path itself excluded). */
int ts_count_nodes(struct xs_handle *xs, const char *path);

/* The daemon under test. */
struct td_daemon {
	pid_t pid;
	char dir[256];       /* private dir: sim/, ctl.sock, daemon.log */
	char sim_dir[300];
	char ctl_path[300];
	char log_path[300];
};

/*
 * Start $XB_DAEMON --foreground --platform sim --sim-dir <dir>/sim ...
 * extra args, stderr to <dir>/daemon.log, and wait up to 15 s for
 * sd_notify READY=1 (through our own NOTIFY_SOCKET). 0 or -errno.
 * The sim dir is created first so guests can be made before or after.
 * Zero *d before the first start; a later start (restart) reuses its dir.
 */
int td_start(struct td_daemon *d, const char *const *extra_args);
/* SIGTERM and wait up to 20 s; returns the exit status, or -1 if it had
 * to be killed or died by a signal. Prints the log tail on failure. */
int td_stop(struct td_daemon *d);
/* True while the daemon process is running. */
bool td_alive(struct td_daemon *d);
/* Send a control command; reply (one line) in buf. 0 or -errno. */
int td_ctl(struct td_daemon *d, const char *cmd, char *buf, size_t len);
/* Print the daemon log (for failures). */
void td_dump_log(struct td_daemon *d);

/* Monotonic milliseconds. */
long long ts_now_ms(void);

#define TS_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                             \
			return 1;                                             \
		}                                                             \
	} while (0)

#endif
