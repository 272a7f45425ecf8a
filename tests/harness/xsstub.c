// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xsstub.so: LD_PRELOAD library that lets Debian's real xenstored 4.17
 * (`xenstored -N`) run on a machine without a hypervisor.
 *
 * It answers the hypervisor calls xenstored makes (libxenctrl,
 * libxenevtchn, libxengnttab) and the two /proc/xen files dom0's kernel
 * would provide:
 *   - /proc/xen/xsd_port reads as a port number; /proc/xen/xsd_kva is a
 *     memfd page (dom0's ring, never written by anyone).
 *   - xc_domain_getinfo() reports dom0 plus one domain per file
 *     $XSSTUB_DOMAINS_DIR/<domid> whose content is "running", "shutdown",
 *     "crashed" or "dying" (anything else reads as running, so a file
 *     caught half-written never kills a domain).
 *   - the event channel fd xenstored polls is an epoll fd over a FIFO
 *     ($XSSTUB_EVTCHN_FIFO) and an inotify watch on the domains dir: a
 *     byte written to the FIFO, or any change in the domains dir, makes
 *     xenevtchn_pending() return the VIRQ_DOM_EXC port, so xenstored
 *     re-checks every domain and fires @releaseDomain for dead ones, just
 *     as the hypervisor's VIRQ would.
 *   - interdomain binds return fresh local ports; mapping a domain's
 *     xenstore ring (GNTTAB_RESERVED_XENSTORE) gives a zeroed anonymous
 *     page, nobody produces requests on it.
 *
 * The exported symbols are the interposed library functions, prototyped by
 * the real Xen headers; everything else is static.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xen/grant_table.h>

#define XSSTUB_MAX_DOMS 1024
#define XSSTUB_XSD_PORT "1"

struct xc_interface_core {
	int unused;
};

struct xengntdev_handle {
	int unused;
};

struct xenevtchn_handle {
	int epfd;		 /* what xenstored polls */
	int fifofd;		 /* harness pokes: -1 if not configured */
	int inofd;		 /* domains dir changes: -1 if not configured */
	evtchn_port_t virq_port; /* 0 until VIRQ_DOM_EXC is bound */
	evtchn_port_t next_port;
};

enum dom_state {
	DOM_RUNNING,
	DOM_SHUTDOWN,
	DOM_CRASHED,
	DOM_DYING,
};

/* Bypasses our own open() so that internal opens never recurse. */
static int real_open(const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* Returns a memfd holding `data` (size bytes, or a zeroed page if NULL). */
static int memfd_with(const char *name, const char *data, size_t size,
		      int flags)
{
	int fd, err;

	fd = memfd_create(name, (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return -1;
	if (data) {
		if (write(fd, data, size) != (ssize_t)size)
			goto fail;
		if (lseek(fd, 0, SEEK_SET) < 0)
			goto fail;
	} else if (ftruncate(fd, (off_t)size) < 0) {
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err ? err : EIO;
	return -1;
}

/* Answers the /proc/xen files xenstored reads; -2 means "not ours". */
static int stub_open(const char *path, int flags)
{
	if (!path)
		return -2;
	if (!strcmp(path, "/proc/xen/xsd_port"))
		return memfd_with("xsd_port", XSSTUB_XSD_PORT "\n",
				  strlen(XSSTUB_XSD_PORT "\n"), flags);
	if (!strcmp(path, "/proc/xen/xsd_kva"))
		return memfd_with("xsd_kva", NULL, (size_t)getpagesize(),
				  flags);
	return -2;
}

static mode_t open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int fd;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	fd = stub_open(path, flags);
	if (fd != -2)
		return fd;
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int fd;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	fd = stub_open(path, flags);
	if (fd != -2)
		return fd;
	return real_open(path, flags | O_LARGEFILE, mode);
}

/* ---- domains ---------------------------------------------------------- */

static const char *domains_dir(void)
{
	const char *d = getenv("XSSTUB_DOMAINS_DIR");

	return (d && *d) ? d : NULL;
}

/* Returns the state in the domain's file, or -ENOENT if it has none. */
static int dom_read_state(unsigned int domid)
{
	char path[PATH_MAX], buf[32];
	const char *dir = domains_dir();
	ssize_t n;
	int fd;

	if (!dir)
		return -ENOENT;
	if (snprintf(path, sizeof(path), "%s/%u", dir, domid) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = real_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (!strncmp(buf, "dying", 5))
		return DOM_DYING;
	if (!strncmp(buf, "crashed", 7))
		return DOM_CRASHED;
	if (!strncmp(buf, "shutdown", 8))
		return DOM_SHUTDOWN;
	return DOM_RUNNING;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return (x > y) - (x < y);
}

/* Fills ids with dom0 and every <domid> file, sorted; returns the count. */
static unsigned int dom_list(unsigned int *ids, unsigned int max)
{
	const char *dir = domains_dir();
	struct dirent *de;
	unsigned int n = 0;
	DIR *d;

	ids[n++] = 0;
	d = dir ? opendir(dir) : NULL;
	while (d && (de = readdir(d)) && n < max) {
		char *end;
		unsigned long v;

		/* Only plain numbers: skips ".", "..", and temp files. */
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtoul(de->d_name, &end, 10);
		if (errno || *end || v == 0 || v >= DOMID_FIRST_RESERVED)
			continue;
		ids[n++] = (unsigned int)v;
	}
	if (d)
		closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_uint);
	return n;
}

xc_interface *xc_interface_open(xentoollog_logger *logger,
				xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	return calloc(1, sizeof(struct xc_interface_core));
}

int xc_interface_close(xc_interface *xch)
{
	free(xch);
	return 0;
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
		      unsigned int max_doms, xc_dominfo_t *info)
{
	static unsigned int ids[XSSTUB_MAX_DOMS];
	unsigned int i, n, out = 0;

	if (!xch || !info) {
		errno = EINVAL;
		return -1;
	}
	n = dom_list(ids, XSSTUB_MAX_DOMS);
	for (i = 0; i < n && out < max_doms; i++) {
		xc_dominfo_t *di = &info[out];
		int st;

		if (ids[i] < first_domid || (i && ids[i] == ids[i - 1]))
			continue;
		/* dom0 needs no file: it is always there and running. */
		st = ids[i] ? dom_read_state(ids[i]) : DOM_RUNNING;
		if (st < 0)
			continue; /* removed since the listing */
		memset(di, 0, sizeof(*di));
		di->domid = ids[i];
		di->running = st == DOM_RUNNING;
		di->shutdown = st == DOM_SHUTDOWN || st == DOM_CRASHED;
		di->crashed = st == DOM_CRASHED;
		di->dying = st == DOM_DYING;
		di->xenstore = ids[i] == 0;
		di->max_vcpu_id = 0;
		di->nr_online_vcpus = 1;
		out++;
	}
	return (int)out;
}

/* ---- event channels --------------------------------------------------- */

static int evtchn_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Opens (creating if needed) the poke FIFO; -1 if none is configured. */
static int evtchn_open_fifo(void)
{
	const char *path = getenv("XSSTUB_EVTCHN_FIFO");

	if (!path || !*path)
		return -1;
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return -1;
	/*
	 * O_RDWR: a FIFO with a writer of our own never reports POLLHUP when
	 * the harness closes its end, and xenstored kills itself on any
	 * revents other than POLLIN.
	 */
	return real_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
}

static int evtchn_open_inotify(void)
{
	const char *dir = domains_dir();
	int fd;

	if (!dir)
		return -1;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static xenevtchn_handle *evtchn_new(int epfd)
{
	xenevtchn_handle *xce = calloc(1, sizeof(*xce));

	if (!xce)
		return NULL;
	xce->epfd = epfd;
	xce->fifofd = evtchn_open_fifo();
	xce->inofd = evtchn_open_inotify();
	xce->next_port = 10;
	if (xce->fifofd >= 0)
		evtchn_add(epfd, xce->fifofd);
	if (xce->inofd >= 0)
		evtchn_add(epfd, xce->inofd);
	return xce;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	xenevtchn_handle *xce;
	int epfd;

	epfd =
	    epoll_create1((flags & XENEVTCHN_NO_CLOEXEC) ? 0 : EPOLL_CLOEXEC);
	if (epfd < 0)
		return NULL;
	xce = evtchn_new(epfd);
	if (!xce)
		close(epfd);
	return xce;
}

/* Live update hands the polled fd over; it is our epoll fd, so reuse it. */
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned open_flags)
{
	return evtchn_new(fd);
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	if (!xce)
		return 0;
	if (xce->fifofd >= 0)
		close(xce->fifofd);
	if (xce->inofd >= 0)
		close(xce->inofd);
	close(xce->epfd);
	free(xce);
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	return xce->epfd;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce,
						     uint32_t domid,
						     evtchn_port_t remote_port)
{
	return (xenevtchn_port_or_error_t)xce->next_port++;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce,
					      unsigned int virq)
{
	evtchn_port_t port = xce->next_port++;

	if (virq == VIRQ_DOM_EXC)
		xce->virq_port = port;
	return (xenevtchn_port_or_error_t)port;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

static void drain(int fd)
{
	char buf[4096];

	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Every wake-up is reported as VIRQ_DOM_EXC: xenstored treats -1 as fatal,
 * and a spurious domain re-check costs nothing.
 */
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	drain(xce->fifofd);
	drain(xce->inofd);
	return (xenevtchn_port_or_error_t)xce->virq_port;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

/* ---- grants ----------------------------------------------------------- */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	return calloc(1, sizeof(struct xengntdev_handle));
}

int xengnttab_close(xengnttab_handle *xgt)
{
	free(xgt);
	return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	return 0;
}

/* Only the xenstore ring of a live domain can be mapped, as on Xen. */
void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
			      uint32_t ref, int prot)
{
	void *p;
	int st;

	if (ref != GNTTAB_RESERVED_XENSTORE) {
		errno = EINVAL;
		return NULL;
	}
	st = domid ? dom_read_state(domid) : DOM_RUNNING;
	if (st < 0 || st == DOM_DYING) {
		errno = ESRCH;
		return NULL;
	}
	p = mmap(NULL, (size_t)getpagesize(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	return munmap(start_address, (size_t)count * (size_t)getpagesize());
}
