/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's uevents, for block devices that changed: a logical volume
 * extended, a loop device told its file grew (losetup -c), a virtual disk
 * whose capacity moved. Linux's blkback notices a new size when it next
 * serves the device; we listen for the kernel's "change" uevent of the
 * block device (no udev needed: the kernel's own netlink group) and tell
 * the devices backed by it (backend_ops.blockdev_changed), which look at
 * their size again.
 *
 * Best effort: without the socket (a sandbox refusing netlink) the daemon
 * runs on, sizes fixed at connect, and says so once.
 */
#include <errno.h>
#include <event2/event.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "xb_daemon.h"
#include "xb_log.h"

/* Value of key in a uevent's NUL-separated KEY=VALUE list, or NULL. */
static const char *uevent_get(const char *buf, size_t len, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < len;) {
		const char *s = buf + i;
		size_t n = strnlen(s, len - i);

		if (n > klen && s[klen] == '=' && !memcmp(s, key, klen))
			return s + klen + 1;
		i += n + 1;
	}
	return NULL;
}

static bool uevent_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xfffff)
		return false;
	*out = (unsigned int)v;
	return true;
}

static void visit(struct xb_device *dev, void *arg)
{
	if (dev->ops->blockdev_changed && dev->priv)
		dev->ops->blockdev_changed(dev, *(const dev_t *)arg);
}

static void on_uevent(evutil_socket_t fd, short what, void *arg)
{
	struct xb_daemon *d = arg;
	char buf[8192];

	for (int i = 0; i < 64; i++) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		const char *action, *subsys;
		unsigned int maj, min;
		dev_t rdev;
		ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT,
				     (struct sockaddr *)&from, &flen);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				/* ENOBUFS: events were lost; sizes are
				 * looked at again on the next one. */
				log_debug("uevent socket: %s", strerror(errno));
			return;
		}
		/* Only the kernel's (pid 0), not a process's forgery. */
		if (flen != sizeof(from) || from.nl_pid != 0)
			continue;
		buf[n] = 0;
		action = uevent_get(buf, (size_t)n, "ACTION");
		subsys = uevent_get(buf, (size_t)n, "SUBSYSTEM");
		if (!action || !subsys || strcmp(action, "change") ||
		    strcmp(subsys, "block") ||
		    !uevent_uint(uevent_get(buf, (size_t)n, "MAJOR"), &maj) ||
		    !uevent_uint(uevent_get(buf, (size_t)n, "MINOR"), &min))
			continue;
		rdev = makedev(maj, min);
		log_debug("block device %u:%u changed%s", maj, min,
			  uevent_get(buf, (size_t)n, "RESIZE") ? " (resize)"
								: "");
		xb_devices_foreach(d, visit, &rdev);
	}
}

int xb_uevent_start(struct xb_daemon *d)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			NETLINK_KOBJECT_UEVENT);

	d->uevent_fd = -1;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_warn_errno(-errno,
			       "no kernel uevents: a backing device's new size "
			       "will not reach its guest");
		if (fd >= 0)
			close(fd);
		return 0;
	}
	d->uevent_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_uevent,
				 d);
	if (!d->uevent_ev || event_add(d->uevent_ev, NULL) < 0) {
		if (d->uevent_ev)
			event_free(d->uevent_ev);
		d->uevent_ev = NULL;
		close(fd);
		return -ENOMEM;
	}
	d->uevent_fd = fd;
	return 0;
}

void xb_uevent_stop(struct xb_daemon *d)
{
	if (d->uevent_ev)
		event_free(d->uevent_ev);
	if (d->uevent_fd >= 0)
		close(d->uevent_fd);
	d->uevent_ev = NULL;
	d->uevent_fd = -1;
}
