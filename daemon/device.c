/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic xenbus backend device lifecycle, the same for every type.
 *
 * Every change under backend/<type> (ours and the toolstack's), every
 * change of a frontend's state and @releaseDomain ends in device_update(),
 * which reads the facts from xenstore again and moves the device to where
 * they say it should be. Being driven by facts rather than by individual
 * events keeps it idempotent: our own writes come back as watch events and
 * do nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>
#include <xenstore.h>

#include "xb_daemon.h"
#include "xb_log.h"

/* Xen's DOMID_FIRST_RESERVED: ids at or above are not guests. */
#define XB_DOMID_MAX 0x7fefu

struct xb_device_core {
	struct xb_device dev;
	struct xb_daemon *d;
	struct xb_device_core *next;
	uint64_t id;
	char token[32];		/* frontend state watch: "fe:<id>" */
	char *fe_state_path;
	bool fe_watched;
	bool probe_ran;		/* probe was called, successfully or not */
	bool probed;
	bool prepared;
	bool connected;
	bool failed;		/* fatal error: Closing until the frontend closes */
	bool dom_dead;
	bool had_frontend;	/* the frontend's state node existed once */
	char **written;		/* keys we wrote under be_path */
	unsigned int nwritten;
};

struct xb_fatal_msg {
	uint64_t id;
	struct xb_fatal_msg *next;
	char msg[];
};

static struct xb_device_core *core_of(struct xb_device *dev)
{
	return dev->core;
}

const char *xb_state_name(enum xenbus_state st)
{
	static const char *const names[] = {
		"Unknown",	"Initialising", "InitWait",
		"Initialised", "Connected",	"Closing",
		"Closed",	"Reconfiguring", "Reconfigured",
	};

	if ((unsigned int)st < sizeof(names) / sizeof(names[0]))
		return names[st];
	return "Invalid";
}

/* Returns a malloc'd "<dir>/<key>" or NULL. */
static char *path_join(const char *dir, const char *key)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, key) < 0)
		return NULL;
	return p;
}

/* Returns 0, -ENOENT, or -errno. */
int xb_dev_read(struct xb_device *dev, bool fe, const char *key, char **out)
{
	struct xb_device_core *c = core_of(dev);
	const char *dir = fe ? dev->fe_path : dev->be_path;
	unsigned int len;
	char *path, *v;

	if (!dir)
		return -ENOENT;
	path = path_join(dir, key);
	if (!path)
		return -ENOMEM;
	v = xs_read(c->d->xsh, XBT_NULL, path, &len);
	free(path);
	if (!v)
		return -errno;
	*out = v;
	return 0;
}

/* Strict unsigned parse of a xenstore value; 0, -EINVAL or -ERANGE. */
static int parse_uint(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Returns 0, -ENOENT (missing), -EINVAL (malformed), -ERANGE (> max). */
int xb_dev_read_uint(struct xb_device *dev, bool fe, const char *key,
		     unsigned long long max, unsigned long long *out)
{
	char *v;
	int r;

	r = xb_dev_read(dev, fe, key, &v);
	if (r < 0)
		return r;
	r = parse_uint(v, max, out);
	free(v);
	return r;
}

int xb_dev_read_uint_def(struct xb_device *dev, bool fe, const char *key,
			 unsigned long long max, unsigned long long def,
			 unsigned long long *out)
{
	int r = xb_dev_read_uint(dev, fe, key, max, out);

	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	return r;
}

/*
 * Write <be_path>/<key> only while the device directory still exists, so a
 * late write never re-creates a device the toolstack removed (the kernel's
 * xenbus_switch_state checks the same). Returns 0, -ENODEV or -errno.
 */
static int write_checked(struct xb_device_core *c, const char *key,
			 const char *val)
{
	struct xs_handle *xsh = c->d->xsh;
	char *path = path_join(c->dev.be_path, key);
	int r = 0;

	if (!path)
		return -ENOMEM;
	for (int tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(xsh);
		unsigned int len;
		char *v;

		if (t == XBT_NULL) {
			r = -errno;
			break;
		}
		v = xs_read(xsh, t, c->dev.be_path, &len);
		if (!v) {
			r = errno == ENOENT ? -ENODEV : -errno;
			xs_transaction_end(xsh, t, true);
			break;
		}
		free(v);
		if (!xs_write(xsh, t, path, val, strlen(val))) {
			r = -errno;
			xs_transaction_end(xsh, t, true);
			break;
		}
		if (xs_transaction_end(xsh, t, false)) {
			r = 0;
			break;
		}
		r = -errno;
		if (r != -EAGAIN)
			break;
	}
	free(path);
	return r;
}

static int remember_key(struct xb_device_core *c, const char *key)
{
	char **n;

	for (unsigned int i = 0; i < c->nwritten; i++)
		if (!strcmp(c->written[i], key))
			return 0;
	n = realloc(c->written, (c->nwritten + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->written = n;
	c->written[c->nwritten] = strdup(key);
	if (!c->written[c->nwritten])
		return -ENOMEM;
	c->nwritten++;
	return 0;
}

/* Returns 0 or -errno. */
int xb_dev_write(struct xb_device *dev, const char *key, const char *fmt, ...)
{
	struct xb_device_core *c = core_of(dev);
	va_list ap;
	char *val;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&val, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = remember_key(c, key);
	if (!r)
		r = write_checked(c, key, val);
	free(val);
	return r;
}

/* Returns 0 or -errno (a missing key is not an error). */
int xb_dev_remove(struct xb_device *dev, const char *key)
{
	struct xb_device_core *c = core_of(dev);
	char *path = path_join(dev->be_path, key);
	int r = 0;

	if (!path)
		return -ENOMEM;
	if (!xs_rm(c->d->xsh, XBT_NULL, path) && errno != ENOENT)
		r = -errno;
	free(path);
	for (unsigned int i = 0; i < c->nwritten; i++) {
		if (!strcmp(c->written[i], key)) {
			free(c->written[i]);
			c->written[i] = c->written[--c->nwritten];
			break;
		}
	}
	return r;
}

static void remove_written(struct xb_device_core *c)
{
	while (c->nwritten)
		xb_dev_remove(&c->dev, c->written[c->nwritten - 1]);
	free(c->written);
	c->written = NULL;
}

static void set_state(struct xb_device_core *c, enum xenbus_state st)
{
	char v[4];
	int r;

	unsigned long long cur;

	/* Compare with the node, not our cache: the toolstack writes it too
	 * (libxl's removal sets Closing). */
	if (c->dev.state == st &&
	    xb_dev_read_uint(&c->dev, false, "state", 8, &cur) == 0 &&
	    cur == (unsigned long long)st)
		return;
	snprintf(v, sizeof(v), "%d", (int)st);
	r = write_checked(c, "state", v);
	if (r < 0 && r != -ENODEV) {
		dev_err_errno(&c->dev, r, "cannot switch to %s",
			      xb_state_name(st));
		return;
	}
	dev_debug(&c->dev, "%s -> %s", xb_state_name(c->dev.state),
		  xb_state_name(st));
	c->dev.state = st;
}

static char *error_path(struct xb_device_core *c)
{
	char *p;

	/* be_path is /local/domain/<us>/backend/...: the kernel writes the
	 * node at /local/domain/<us>/error/backend/.../error. */
	const char *rel = strstr(c->dev.be_path, "/backend/");

	if (!rel || asprintf(&p, "/local/domain/%u/error%s",
			     c->d->cfg->backend_domid, rel) < 0)
		return NULL;
	return p;
}

static void write_error_node(struct xb_device_core *c, int err,
			     const char *msg)
{
	char *dir = error_path(c), *path, *val;

	if (!dir)
		return;
	path = path_join(dir, "error");
	if (path && asprintf(&val, "%d %s", err < 0 ? -err : err, msg) >= 0) {
		if (!xs_write(c->d->xsh, XBT_NULL, path, val, strlen(val)))
			dev_warn_errno(&c->dev, -errno, "writing %s", path);
		free(val);
	}
	free(path);
	free(dir);
}

static void remove_error_node(struct xb_device_core *c)
{
	char *dir = error_path(c);

	if (dir)
		xs_rm(c->d->xsh, XBT_NULL, dir);
	free(dir);
}

static void do_disconnect(struct xb_device_core *c)
{
	if (!c->connected)
		return;
	c->dev.ops->disconnect(&c->dev);
	c->connected = false;
	dev_info(&c->dev, "disconnected");
}

static void do_release(struct xb_device_core *c)
{
	do_disconnect(c);
	/* free also undoes a probe or prepare that failed half way. */
	if (c->probe_ran)
		c->dev.ops->free(&c->dev);
	c->probe_ran = c->probed = c->prepared = false;
}

void xb_dev_fatal(struct xb_device *dev, int err, const char *fmt, ...)
{
	struct xb_device_core *c = core_of(dev);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev_err_errno(dev, err, "fatal: %s", msg);
	write_error_node(c, err, msg);
	c->failed = true;
	do_disconnect(c);
	set_state(c, XenbusStateClosing);
}

void xb_dev_fatal_async(struct xb_device *dev, const char *msg)
{
	struct xb_device_core *c = core_of(dev);
	struct xb_daemon *d = c->d;
	size_t len = strlen(msg) + 1;
	struct xb_fatal_msg *m = malloc(sizeof(*m) + len);
	uint64_t one = 1;

	if (!m)
		return;
	m->id = c->id;
	memcpy(m->msg, msg, len);
	pthread_mutex_lock(&d->fatal_lock);
	m->next = d->fatal_list;
	d->fatal_list = m;
	pthread_mutex_unlock(&d->fatal_lock);
	if (write(d->fatal_fd, &one, sizeof(one)) < 0)
		log_warn_errno(-errno, "fatal eventfd");
}

static struct xb_device_core *find_by_id(struct xb_daemon *d, uint64_t id)
{
	for (struct xb_device_core *c = d->devices; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void fatal_ready(evutil_socket_t fd, short what, void *arg)
{
	struct xb_daemon *d = arg;
	struct xb_fatal_msg *list;
	uint64_t v;

	if (read(d->fatal_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn_errno(-errno, "fatal eventfd read");
	pthread_mutex_lock(&d->fatal_lock);
	list = d->fatal_list;
	d->fatal_list = NULL;
	pthread_mutex_unlock(&d->fatal_lock);
	while (list) {
		struct xb_fatal_msg *m = list;
		struct xb_device_core *c = find_by_id(d, m->id);

		list = m->next;
		/* Gone already, or already failed: nothing to do. */
		if (c && c->connected && !c->failed)
			xb_dev_fatal(&c->dev, -EPROTO, "%s", m->msg);
		free(m);
	}
}

/* The frontend's state; Unknown when missing or not a number. */
static enum xenbus_state read_fe_state(struct xb_device_core *c)
{
	unsigned long long v;

	if (xb_dev_read_uint(&c->dev, true, "state", XenbusStateReconfigured,
			     &v) < 0)
		return XenbusStateUnknown;
	return (enum xenbus_state)v;
}

/* 1 if hotplug is done (or there is no script), 0 if not yet. */
static int hotplug_done(struct xb_device_core *c)
{
	char *v;
	int r;

	r = xb_dev_read(&c->dev, false, "script", &v);
	if (r == -ENOENT)
		return 1;
	if (r == 0)
		free(v);
	r = xb_dev_read(&c->dev, false, "hotplug-status", &v);
	if (r < 0)
		return 0;
	r = !strcmp(v, "connected");
	free(v);
	return r;
}

static bool device_online(struct xb_device_core *c)
{
	unsigned long long v;

	if (xb_dev_read_uint(&c->dev, false, "online", 1, &v) < 0)
		return true; /* libxl always writes it; absent means no removal */
	return v == 1;
}

/* Returns 0 or -errno (the device failed). */
static int run_hook(struct xb_device_core *c, const char *what,
		    int (*hook)(struct xb_device *dev))
{
	int r = hook(&c->dev);

	if (r < 0) {
		xb_dev_fatal(&c->dev, r, "%s failed", what);
		return r;
	}
	return 0;
}

/*
 * Closed. With release (the device is going away: online=0, domain death,
 * shutdown) also undo probe/prepare and remove every key we wrote; without
 * it (the frontend closed, the device stays) keep them, as the kernel's
 * backends do, so a reconnect finds the same tap, file and features.
 */
static void go_closed(struct xb_device_core *c, bool release)
{
	if (release) {
		do_release(c);
		remove_written(c);
	} else {
		do_disconnect(c);
	}
	set_state(c, XenbusStateClosed);
	c->failed = false;
}

static void device_update_states(struct xb_device_core *c,
				 enum xenbus_state fe);

static void device_update(struct xb_device_core *c)
{
	struct xb_device *dev = &c->dev;
	enum xenbus_state fe = read_fe_state(c);
	bool changed = fe != dev->fe_state;

	if (changed)
		dev_debug(dev, "frontend %s -> %s", xb_state_name(dev->fe_state),
			  xb_state_name(fe));
	if (fe != XenbusStateUnknown)
		c->had_frontend = true;
	dev->fe_state = fe;
	device_update_states(c, fe);
	/* What the core does not act on itself (e.g. netfront's
	 * Reconfiguring) goes to the backend of a live device. */
	if (changed && c->connected && dev->ops->frontend_changed)
		dev->ops->frontend_changed(dev, fe);
}

/* Returns 0 or -errno. */
int xb_dev_switch_state(struct xb_device *dev, enum xenbus_state st)
{
	set_state(core_of(dev), st);
	return dev->state == st ? 0 : -EIO;
}

int xb_dev_announce_state(struct xb_device *dev)
{
	char v[4];

	snprintf(v, sizeof(v), "%d", (int)dev->state);
	return write_checked(core_of(dev), "state", v);
}

static void device_update_states(struct xb_device_core *c,
				 enum xenbus_state fe)
{
	struct xb_device *dev = &c->dev;
	bool online = device_online(c);

	if (c->dom_dead) {
		if (dev->state != XenbusStateClosed)
			dev_info(dev, "domain %u died", dev->domid);
		go_closed(c, true);
		return;
	}

	switch (fe) {
	case XenbusStateClosing:
		do_disconnect(c);
		if (dev->state != XenbusStateClosed)
			set_state(c, XenbusStateClosing);
		return;
	case XenbusStateClosed:
		if (!online)
			go_closed(c, true);
		else if (dev->state != XenbusStateClosed &&
			 dev->state != XenbusStateUnknown &&
			 dev->state != XenbusStateInitialising)
			go_closed(c, false);
		return;
	case XenbusStateUnknown:
		/* The frontend went away (its directory was removed). */
		if (c->had_frontend) {
			go_closed(c, true);
			return;
		}
		break;
	default:
		if (fe > XenbusStateReconfigured) /* impossible: parse bounded */
			return;
		break;
	}

	if (!online) {
		/* The toolstack is removing us: let a live frontend close. */
		if (fe == XenbusStateConnected || fe == XenbusStateInitialised)
			set_state(c, XenbusStateClosing);
		else
			go_closed(c, true);
		return;
	}
	if (c->failed)
		return;

	/* A frontend returning to Initialising after Closed: start again. */
	if (dev->state == XenbusStateClosed &&
	    fe != XenbusStateInitialising)
		return;

	if (!c->probed) {
		remove_error_node(c);
		c->probe_ran = true;
		if (run_hook(c, "probe", dev->ops->probe) < 0)
			return;
		c->probed = true;
	}
	if (!c->connected && dev->state != XenbusStateInitWait) {
		set_state(c, XenbusStateInitWait);
		if (c->failed)
			return;
	}
	if (!c->prepared) {
		if (!hotplug_done(c))
			return;
		if (dev->ops->prepare &&
		    run_hook(c, "prepare", dev->ops->prepare) < 0)
			return;
		c->prepared = true;
	}
	if (!c->connected &&
	    (fe == XenbusStateInitialised || fe == XenbusStateConnected)) {
		int r = dev->ops->connect(dev);

		if (r < 0) {
			/* connect may leave things half made: the fatal path's
			 * disconnect undoes them. */
			c->connected = true;
			xb_dev_fatal(dev, r, "connect failed");
			return;
		}
		c->connected = true;
		set_state(c, XenbusStateConnected);
		dev_info(dev, "connected");
	}
}

static void device_free(struct xb_device_core *c)
{
	struct xb_daemon *d = c->d;

	do_release(c);
	if (c->fe_watched) {
		xs_unwatch(d->xsh, c->fe_state_path, c->token);
		for (const char *const *k = c->dev.ops->fe_watch_keys; k && *k;
		     k++) {
			char *p = path_join(c->dev.fe_path, *k);

			if (p)
				xs_unwatch(d->xsh, p, c->token);
			free(p);
		}
	}
	remove_error_node(c);
	for (unsigned int i = 0; i < c->nwritten; i++)
		free(c->written[i]);
	free(c->written);
	free(c->fe_state_path);
	free(c->dev.fe_path);
	free(c->dev.be_path);
	free(c);
}

/*
 * Validate the toolstack's frontend path: it must be inside the frontend
 * domain's own tree. Returns 0 or -EINVAL.
 */
static int check_fe_path(const char *p, unsigned int domid)
{
	char prefix[40];
	size_t n = (size_t)snprintf(prefix, sizeof(prefix), "/local/domain/%u/",
				    domid);

	if (strncmp(p, prefix, n) || strstr(p, "//") || strstr(p, "/../") ||
	    p[strlen(p) - 1] == '/' || strlen(p) > 200)
		return -EINVAL;
	return 0;
}

static struct xb_device_core *device_new(struct xb_daemon *d,
					 const struct backend_ops *ops,
					 unsigned int domid, uint32_t devid)
{
	struct xb_device_core *c = calloc(1, sizeof(*c));
	struct xb_device *dev;
	unsigned long long fid;
	int r;

	if (!c)
		return NULL;
	dev = &c->dev;
	dev->core = c;
	c->d = d;
	c->id = ++d->next_id;
	dev->ops = ops;
	dev->domid = (xb_domid_t)domid;
	dev->devid = devid;
	dev->plat = d->plat;
	dev->workers = d->workers;
	dev->cfg = d->cfg;
	dev->state = XenbusStateUnknown;
	snprintf(dev->name, sizeof(dev->name), "d%u/%s%u", domid, ops->type,
		 devid);
	snprintf(c->token, sizeof(c->token), "fe:%" PRIu64, c->id);
	if (asprintf(&dev->be_path, "/local/domain/%u/backend/%s/%u/%u",
		     d->cfg->backend_domid, ops->type, domid, devid) < 0) {
		dev->be_path = NULL;
		goto err;
	}
	c->next = d->devices;
	d->devices = c;
	d->ndevices++;

	r = xb_dev_read(dev, false, "frontend", &dev->fe_path);
	if (r == 0 && check_fe_path(dev->fe_path, domid) < 0) {
		xb_dev_fatal(dev, -EINVAL, "bad frontend path %s",
			     dev->fe_path);
		free(dev->fe_path);
		dev->fe_path = NULL;
		return c;
	}
	if (r < 0) {
		xb_dev_fatal(dev, r, "reading frontend");
		return c;
	}
	r = xb_dev_read_uint(dev, false, "frontend-id", XB_DOMID_MAX, &fid);
	if (r < 0 || fid != domid) {
		xb_dev_fatal(dev, r < 0 ? r : -EINVAL, "bad frontend-id");
		return c;
	}
	c->fe_state_path = path_join(dev->fe_path, "state");
	if (!c->fe_state_path || !xs_watch(d->xsh, c->fe_state_path, c->token)) {
		xb_dev_fatal(dev, -errno, "watching the frontend");
		return c;
	}
	c->fe_watched = true;
	for (const char *const *k = ops->fe_watch_keys; k && *k; k++) {
		char *p = path_join(dev->fe_path, *k);

		if (!p || !xs_watch(d->xsh, p, c->token)) {
			free(p);
			xb_dev_fatal(dev, -errno, "watching the frontend");
			return c;
		}
		free(p);
	}
	dev_info(dev, "new device, frontend %s", dev->fe_path);
	return c;
err:
	free(c);
	return NULL;
}

static void device_unlink_free(struct xb_device_core *c)
{
	struct xb_daemon *d = c->d;

	for (struct xb_device_core **pp = &d->devices; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			d->ndevices--;
			break;
		}
	}
	dev_info(&c->dev, "removed");
	device_free(c);
}

static struct xb_device_core *find_dev(struct xb_daemon *d,
				       const struct backend_ops *ops,
				       unsigned int domid, uint32_t devid)
{
	for (struct xb_device_core *c = d->devices; c; c = c->next)
		if (c->dev.ops == ops && c->dev.domid == domid &&
		    c->dev.devid == devid)
			return c;
	return NULL;
}

static bool node_exists(struct xb_daemon *d, const char *path)
{
	unsigned int len;
	char *v = xs_read(d->xsh, XBT_NULL, path, &len);

	free(v);
	return v != NULL;
}

static void notify_status(struct xb_daemon *d);

/* Bring one device in line with xenstore; key is the changed key or NULL. */
static void device_check(struct xb_daemon *d, const struct backend_ops *ops,
			 unsigned int domid, uint32_t devid, const char *key)
{
	struct xb_device_core *c = find_dev(d, ops, domid, devid);
	char path[128];

	snprintf(path, sizeof(path), "/local/domain/%u/backend/%s/%u/%u",
		 d->cfg->backend_domid, ops->type, domid, devid);
	if (!node_exists(d, path)) {
		if (c) {
			device_unlink_free(c);
			notify_status(d);
		}
		return;
	}
	if (!c) {
		/* libxl writes a device in one transaction; wait for it. */
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
			 "/frontend");
		if (!node_exists(d, path))
			return;
		c = device_new(d, ops, domid, devid);
		if (!c) {
			log_err("d%u/%s%u: out of memory", domid, ops->type,
				devid);
			return;
		}
		notify_status(d);
	}
	if (c->failed && !c->fe_watched)
		return;
	if (key && ops->watch_keys && c->connected) {
		for (const char *const *k = ops->watch_keys; *k; k++)
			if (!strcmp(*k, key))
				ops->backend_changed(&c->dev, key);
	}
	device_update(c);
}

/* Parse a decimal id in [0, max]; returns 0 or -EINVAL. */
static int parse_id(const char *s, size_t len, unsigned long max,
		    unsigned long *out)
{
	char buf[16];
	unsigned long long v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (parse_uint(buf, max, &v) < 0)
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

static void scan_domain(struct xb_daemon *d, const struct backend_ops *ops,
			const char *root, unsigned long domid)
{
	char path[96];
	unsigned int n;
	char **devs;

	snprintf(path, sizeof(path), "%s/%lu", root, domid);
	devs = xs_directory(d->xsh, XBT_NULL, path, &n);
	for (unsigned int i = 0; devs && i < n; i++) {
		unsigned long devid;

		if (parse_id(devs[i], strlen(devs[i]), UINT32_MAX, &devid) == 0)
			device_check(d, ops, (unsigned int)domid,
				     (uint32_t)devid, NULL);
	}
	free(devs);
	/* Devices whose directory vanished with the domain's directory. */
	for (struct xb_device_core *c = d->devices, *next; c; c = next) {
		next = c->next;
		if (c->dev.ops == ops && c->dev.domid == domid)
			device_check(d, ops, c->dev.domid, c->dev.devid, NULL);
	}
}

static void scan_type(struct xb_daemon *d, const struct backend_ops *ops,
		      const char *root)
{
	unsigned int n;
	char **doms = xs_directory(d->xsh, XBT_NULL, root, &n);

	for (unsigned int i = 0; doms && i < n; i++) {
		unsigned long domid;

		if (parse_id(doms[i], strlen(doms[i]), XB_DOMID_MAX, &domid) == 0)
			scan_domain(d, ops, root, domid);
	}
	free(doms);
	for (struct xb_device_core *c = d->devices, *next; c; c = next) {
		next = c->next;
		if (c->dev.ops == ops)
			device_check(d, ops, c->dev.domid, c->dev.devid, NULL);
	}
}

static void backend_event(struct xb_daemon *d, const struct backend_ops *ops,
			  const char *path)
{
	char root[64];
	size_t rl;
	const char *p, *slash;
	unsigned long domid, devid;

	rl = (size_t)snprintf(root, sizeof(root), "/local/domain/%u/backend/%s",
			      d->cfg->backend_domid, ops->type);
	if (strncmp(path, root, rl) || (path[rl] && path[rl] != '/')) {
		return;
	}
	if (!path[rl] || !path[rl + 1]) {
		scan_type(d, ops, root);
		return;
	}
	p = path + rl + 1;
	slash = strchr(p, '/');
	if (parse_id(p, slash ? (size_t)(slash - p) : strlen(p), XB_DOMID_MAX,
		     &domid) < 0)
		return;
	if (!slash || !slash[1]) {
		scan_domain(d, ops, root, domid);
		return;
	}
	p = slash + 1;
	slash = strchr(p, '/');
	if (parse_id(p, slash ? (size_t)(slash - p) : strlen(p), UINT32_MAX,
		     &devid) < 0)
		return;
	device_check(d, ops, (unsigned int)domid, (uint32_t)devid,
		     slash && slash[1] ? slash + 1 : NULL);
}

/* A watched frontend node changed: its state, or a key of fe_watch_keys. */
static void frontend_event(struct xb_device_core *c, const char *path)
{
	struct xb_device *dev = &c->dev;
	size_t n = dev->fe_path ? strlen(dev->fe_path) : 0;
	const char *key;

	if (!n || strncmp(path, dev->fe_path, n) || path[n] != '/') {
		device_update(c);
		return;
	}
	key = path + n + 1;
	if (!strcmp(key, "state")) {
		device_update(c);
		return;
	}
	for (const char *const *k = dev->ops->fe_watch_keys; k && *k; k++)
		if (!strcmp(*k, key) && c->connected &&
		    dev->ops->frontend_key_changed)
			dev->ops->frontend_key_changed(dev, key);
}

static void release_domain_event(struct xb_daemon *d)
{
	for (struct xb_device_core *c = d->devices; c; c = c->next) {
		if (c->dom_dead || c->dev.domid == d->cfg->backend_domid)
			continue;
		if (!xs_is_domain_introduced(d->xsh, c->dev.domid)) {
			c->dom_dead = true;
			device_update(c);
		}
	}
}

static void notify_status(struct xb_daemon *d)
{
	sd_notifyf(0, "STATUS=Serving %u device%s", d->ndevices,
		   d->ndevices == 1 ? "" : "s");
}

static void xs_readable(evutil_socket_t fd, short what, void *arg)
{
	struct xb_daemon *d = arg;
	char **vec;

	while ((vec = xs_check_watch(d->xsh))) {
		const char *path = vec[XS_WATCH_PATH];
		const char *token = vec[XS_WATCH_TOKEN];

		if (!strncmp(token, "be:", 3)) {
			unsigned long i;

			if (parse_id(token + 3, strlen(token + 3), d->ntypes - 1,
				     &i) == 0)
				backend_event(d, d->types[i], path);
		} else if (!strncmp(token, "fe:", 3)) {
			unsigned long long id;

			if (parse_uint(token + 3, UINT64_MAX, &id) == 0) {
				struct xb_device_core *c = find_by_id(d, id);

				if (c)
					frontend_event(c, path);
			}
		} else if (!strcmp(token, "rel")) {
			release_domain_event(d);
		}
		free(vec);
	}
	if (errno != EAGAIN)
		log_warn_errno(-errno, "xenstore watch");
}

/* Register the watches and the event sources. Returns 0 or -errno. */
int xb_devices_init(struct xb_daemon *d)
{
	int fd;

	d->fatal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->fatal_fd < 0)
		return -errno;
	pthread_mutex_init(&d->fatal_lock, NULL);
	d->fatal_ev = event_new(d->base, d->fatal_fd, EV_READ | EV_PERSIST,
				fatal_ready, d);
	if (!d->fatal_ev || event_add(d->fatal_ev, NULL) < 0)
		return -ENOMEM;

	fd = xs_fileno(d->xsh);
	if (fd < 0)
		return -errno;
	d->xs_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, xs_readable, d);
	if (!d->xs_ev || event_add(d->xs_ev, NULL) < 0)
		return -ENOMEM;

	for (unsigned int i = 0; i < d->ntypes; i++) {
		char path[64], token[16];

		snprintf(path, sizeof(path), "/local/domain/%u/backend/%s",
			 d->cfg->backend_domid, d->types[i]->type);
		snprintf(token, sizeof(token), "be:%u", i);
		if (!xs_watch(d->xsh, path, token))
			return log_err_errno(-errno, "watching %s", path);
	}
	if (!xs_watch(d->xsh, "@releaseDomain", "rel"))
		return log_err_errno(-errno, "watching @releaseDomain");
	return 0;
}

void xb_devices_shutdown(struct xb_daemon *d)
{
	for (struct xb_device_core *c = d->devices; c; c = c->next) {
		if (c->dev.state != XenbusStateClosed &&
		    c->dev.state != XenbusStateUnknown)
			dev_info(&c->dev, "closing for shutdown");
		go_closed(c, true);
	}
}

void xb_devices_fini(struct xb_daemon *d)
{
	while (d->devices) {
		struct xb_device_core *c = d->devices;

		d->devices = c->next;
		device_free(c);
	}
	d->ndevices = 0;
	if (d->fatal_ev)
		event_free(d->fatal_ev);
	if (d->xs_ev)
		event_free(d->xs_ev);
	while (d->fatal_list) {
		struct xb_fatal_msg *m = d->fatal_list;

		d->fatal_list = m->next;
		free(m);
	}
	if (d->fatal_fd >= 0) {
		close(d->fatal_fd);
		pthread_mutex_destroy(&d->fatal_lock);
	}
}

void xb_devices_foreach(struct xb_daemon *d, xb_device_visit_fn fn, void *arg)
{
	for (struct xb_device_core *c = d->devices; c; c = c->next)
		fn(&c->dev, arg);
}
