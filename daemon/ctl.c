/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a unix stream socket, root only. A client sends one
 * line ("version", "list", "log-level LEVEL") and gets one line of JSON
 * back, then the connection closes. xenbackctl is the client.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "xb_build.h"
#include "xb_daemon.h"
#include "xb_log.h"

#define CTL_MAX_LINE 256

struct xb_ctl {
	struct xb_daemon *d;
	struct evconnlistener *listener;
	char *path;
};

/* The counters of struct xb_dev_stats, by their JSON names. */
static const struct {
	const char *key;
	size_t off;
} counters[] = {
#define C(f) { #f, offsetof(struct xb_dev_stats, f) }
	C(requests),   C(bytes_read), C(bytes_written), C(errors),
	C(ring_errors), C(poll_hits), C(poll_misses),   C(grant_maps),
	C(persistent_hits),
#undef C
};

static void add_dev(struct xb_device *dev, void *arg)
{
	json_object *arr = arg, *o = json_object_new_object();
	struct xb_dev_stats st = { 0 };

	if (dev->ops->get_stats && dev->priv)
		dev->ops->get_stats(dev, &st);
	json_object_object_add(o, "name", json_object_new_string(dev->name));
	json_object_object_add(o, "type",
			       json_object_new_string(dev->ops->type));
	json_object_object_add(o, "domid", json_object_new_int(dev->domid));
	json_object_object_add(o, "devid", json_object_new_int64(dev->devid));
	json_object_object_add(o, "state",
			       json_object_new_string(xb_state_name(dev->state)));
	json_object_object_add(
		o, "frontend_state",
		json_object_new_string(xb_state_name(dev->fe_state)));
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		json_object_object_add(
		    o, counters[i].key,
		    json_object_new_uint64(*(const uint64_t *)((const char *)&st +
							       counters[i].off)));
	json_object_array_add(arr, o);
}

/* The disk of domain domid with device id devid (vbd or qdisk: one
 * frontend directory device/vbd/<devid> has one backend). */
struct find_disk {
	unsigned long domid, devid;
	struct xb_device *dev;
};

static void find_disk(struct xb_device *dev, void *arg)
{
	struct find_disk *f = arg;

	if (!f->dev && dev->ops->rescan && dev->domid == f->domid &&
	    dev->devid == f->devid)
		f->dev = dev;
}

/* "DOMID DEVID": true with both, in range. */
static bool parse_dom_dev(const char *s, unsigned long *domid,
			  unsigned long *devid)
{
	char *end;

	errno = 0;
	*domid = strtoul(s, &end, 10);
	if (errno || end == s || *end != ' ' || *domid > 0x7fef)
		return false;
	s = end + 1;
	*devid = strtoul(s, &end, 10);
	return !errno && end != s && !*end && *devid <= UINT32_MAX &&
	       s[0] != '-';
}

static void reply_error(json_object *o, const char *msg)
{
	json_object_object_add(o, "error", json_object_new_string(msg));
}

/* "resize DOMID DEVID": the disk's size looked at again (rescan). */
static void ctl_resize(struct xb_ctl *ctl, const char *args, json_object *o)
{
	struct find_disk f = {0};
	uint64_t sectors = 0;
	int r;

	if (!parse_dom_dev(args, &f.domid, &f.devid)) {
		reply_error(o, "usage: resize DOMID DEVID");
		return;
	}
	xb_devices_foreach(ctl->d, find_disk, &f);
	if (!f.dev) {
		reply_error(o, "no such disk");
		return;
	}
	r = f.dev->ops->rescan(f.dev, &sectors);
	if (r < 0) {
		reply_error(o, strerror(-r));
		return;
	}
	json_object_object_add(o, "device", json_object_new_string(f.dev->name));
	json_object_object_add(o, "sectors", json_object_new_uint64(sectors));
}

/* Returns a JSON reply object for one command line. */
static json_object *handle_cmd(struct xb_ctl *ctl, const char *line)
{
	json_object *o = json_object_new_object();

	if (!strcmp(line, "version")) {
		json_object_object_add(o, "version",
				       json_object_new_string(XB_VERSION));
		json_object_object_add(
			o, "platform",
			json_object_new_string(ctl->d->plat->ops->name));
		json_object_object_add(
			o, "log_level",
			json_object_new_string(xb_log_level_name(xb_log_level)));
	} else if (!strcmp(line, "list")) {
		json_object *arr = json_object_new_array();

		xb_devices_foreach(ctl->d, add_dev, arr);
		json_object_object_add(o, "devices", arr);
	} else if (!strncmp(line, "log-level ", 10)) {
		int lvl = xb_log_parse_level(line + 10);

		if (lvl < 0) {
			reply_error(o, "bad log level");
		} else {
			xb_log_level = lvl;
			json_object_object_add(
				o, "log_level",
				json_object_new_string(xb_log_level_name(lvl)));
		}
	} else if (!strncmp(line, "resize ", 7)) {
		ctl_resize(ctl, line + 7, o);
	} else {
		reply_error(o, "unknown command");
	}
	return o;
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void conn_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct xb_ctl *ctl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	json_object *reply;
	const char *s;

	if (!line) {
		if (evbuffer_get_length(in) > CTL_MAX_LINE)
			bufferevent_free(bev);
		return;
	}
	reply = handle_cmd(ctl, line);
	free(line);
	s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	bufferevent_write(bev, s, strlen(s));
	bufferevent_write(bev, "\n", 1);
	json_object_put(reply);
	bufferevent_setcb(bev, NULL, conn_written, conn_event, ctl);
	bufferevent_disable(bev, EV_READ);
}

static void ctl_accept(struct evconnlistener *l, evutil_socket_t fd,
		       struct sockaddr *sa, int socklen, void *arg)
{
	struct xb_ctl *ctl = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct bufferevent *bev;
	struct timeval tv = { .tv_sec = 5 };

	/* The socket's mode already limits it to root; check anyway. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != 0) {
		close(fd);
		return;
	}
	bev = bufferevent_socket_new(ctl->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, conn_read, NULL, conn_event, ctl);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ);
}

/* Returns 0 or -errno. */
int xb_ctl_start(struct xb_daemon *d, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct xb_ctl *ctl;
	mode_t old;
	char *dir, *slash;

	if (strlen(path) >= sizeof(sun.sun_path))
		return log_err_errno(-ENAMETOOLONG, "control socket %s", path);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->d = d;
	ctl->path = strdup(path);
	dir = strdup(path);
	if (!ctl->path || !dir) {
		free(dir);
		xb_ctl_stop(ctl);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			log_warn_errno(-errno, "mkdir %s", dir);
	}
	free(dir);
	strcpy(sun.sun_path, path);
	unlink(path);
	old = umask(0077);
	ctl->listener = evconnlistener_new_bind(
		d->base, ctl_accept, ctl,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 8,
		(struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!ctl->listener) {
		int r = -errno;

		xb_ctl_stop(ctl);
		return log_err_errno(r ? r : -EIO, "control socket %s", path);
	}
	d->ctl = ctl;
	return 0;
}

void xb_ctl_stop(struct xb_ctl *ctl)
{
	if (!ctl)
		return;
	if (ctl->listener) {
		evconnlistener_free(ctl->listener);
		unlink(ctl->path);
	}
	free(ctl->path);
	free(ctl);
}
