/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest side of the sim platform: a simulated domain's memory, grant table
 * and event channels (layout and protocol in xb_sim.h).
 *
 * Event channels: a server thread per domain owns the listening socket and
 * every connection; the port table is shared with the API calls under
 * d->lock. A bound port's connection is the binding: when it closes the port
 * returns to unbound, as Xen does when dom0 closes its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "simguest.h"

#define SG_MAX_CONNS 64

enum sg_port_state {
	SG_PORT_FREE,
	SG_PORT_UNBOUND,
	SG_PORT_BOUND,
};

struct sg_port {
	enum sg_port_state state;
	unsigned int remote_domid;
	int guest_fd; /* backend -> guest kicks; lives as long as the port */
	int back_fd;  /* guest -> backend kicks; one per binding */
	int conn_fd;  /* the binding's connection (owned by the server) */
};

/* A backend connection; owned by the server thread. */
struct sg_conn {
	int fd;
	unsigned int port; /* bound port, 0 while not bound */
};

struct sg_domain {
	char path[PATH_MAX]; /* our directory (a temporary name until ready) */
	unsigned int domid;
	unsigned int nr_frames;
	unsigned int nr_grants;
	uint8_t *mem;
	void *gnt;
	size_t gnt_size;
	struct xb_sim_gnttab_hdr *hdr;
	struct xb_sim_gnt_entry *ents;
	int32_t *pin_pid;

	pthread_mutex_t lock; /* allocators and ports[] */
	uint8_t *page_used;
	uint8_t *ref_used;
	struct sg_port ports[XB_SIM_MAX_PORTS];

	int listen_fd;
	int wake_fd;
	bool thread_started;
	pthread_t thread;
	struct sg_conn conns[SG_MAX_CONNS];
};

/* Builds <dir>/<leaf>; 0 or -ENAMETOOLONG. */
static int sg_path(char *buf, size_t size, const char *dir, const char *leaf)
{
	int n = snprintf(buf, size, "%s/%s", dir, leaf);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static void sg_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Creates <d->path>/<leaf> of size bytes and maps it shared; returns the
 * mapping or MAP_FAILED with errno set. */
static void *sg_file_map(struct sg_domain *d, const char *leaf, size_t size)
{
	char path[PATH_MAX];
	void *va;
	int fd, r;

	r = sg_path(path, sizeof(path), d->path, leaf);
	if (r < 0) {
		errno = -r;
		return MAP_FAILED;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return MAP_FAILED;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = errno;
		close(fd);
		errno = r;
		return MAP_FAILED;
	}
	va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r = errno;
	close(fd);
	errno = r;
	return va;
}

/* ---- event channel server ---- */

/* Sends a reply with nfds fds; 0 or -errno. */
static int sg_reply(int fd, int status, unsigned int port, const int *fds,
		    unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cbuf;
	struct xb_sim_evtchn_rep rep = {.status = status, .port = port};
	struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/* Back to unbound, re-bindable by the same remote domain. Caller holds
 * d->lock. */
static void sg_port_unbind(struct sg_port *p)
{
	p->state = SG_PORT_UNBOUND;
	sg_close(&p->back_fd);
	p->conn_fd = -1;
}

/* Handles BIND on c; replies with the fds or an error (Xen's checks of
 * EVTCHNOP_bind_interdomain: -EINVAL unless unbound for the binder). */
static void sg_serve_bind(struct sg_domain *d, struct sg_conn *c,
			  const struct xb_sim_evtchn_req *req)
{
	struct sg_port *p = NULL;
	int st = 0, fds[2];

	pthread_mutex_lock(&d->lock);
	if (c->port)
		st = -EBUSY;
	else if (req->port == 0 || req->port >= XB_SIM_MAX_PORTS)
		st = -EINVAL;
	else if (d->ports[req->port].state != SG_PORT_UNBOUND ||
		 d->ports[req->port].remote_domid != req->domid)
		st = -EINVAL;
	if (st) {
		sg_reply(c->fd, st, req->port, NULL, 0);
		goto out;
	}
	p = &d->ports[req->port];
	/* Starts pending: Xen sets the new local port pending on bind so
	 * that kicks sent while nobody was bound are not lost. */
	p->back_fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->back_fd < 0) {
		sg_reply(c->fd, -errno, req->port, NULL, 0);
		goto out;
	}
	fds[0] = p->back_fd;
	fds[1] = p->guest_fd;
	if (sg_reply(c->fd, 0, req->port, fds, 2) < 0) {
		sg_close(&p->back_fd);
		goto out;
	}
	p->state = SG_PORT_BOUND;
	p->conn_fd = c->fd;
	c->port = req->port;
out:
	pthread_mutex_unlock(&d->lock);
}

/* Unbinds c's port if c still holds it. Caller holds d->lock. */
static void sg_conn_unbind(struct sg_domain *d, struct sg_conn *c)
{
	struct sg_port *p;

	if (!c->port)
		return;
	p = &d->ports[c->port];
	if (p->state == SG_PORT_BOUND && p->conn_fd == c->fd)
		sg_port_unbind(p);
	c->port = 0;
}

static void sg_conn_drop(struct sg_domain *d, struct sg_conn *c)
{
	pthread_mutex_lock(&d->lock);
	sg_conn_unbind(d, c);
	sg_close(&c->fd);
	pthread_mutex_unlock(&d->lock);
}

static void sg_conn_serve(struct sg_domain *d, struct sg_conn *c)
{
	struct xb_sim_evtchn_req req;
	ssize_t n;

	n = recv(c->fd, &req, sizeof(req), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sg_conn_drop(d, c);
		return;
	}
	if ((size_t)n != sizeof(req)) {
		sg_reply(c->fd, -EINVAL, 0, NULL, 0);
		return;
	}
	switch (req.op) {
	case XB_SIM_EVTCHN_BIND:
		sg_serve_bind(d, c, &req);
		break;
	case XB_SIM_EVTCHN_UNBIND:
		/* Reply only once unbound: the backend's unbind is synchronous,
		 * so it may re-bind the moment it returns. */
		pthread_mutex_lock(&d->lock);
		sg_conn_unbind(d, c);
		pthread_mutex_unlock(&d->lock);
		sg_reply(c->fd, 0, 0, NULL, 0);
		break;
	default:
		sg_reply(c->fd, -EINVAL, 0, NULL, 0);
		break;
	}
}

static void sg_accept(struct sg_domain *d)
{
	unsigned int i;
	int fd;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < SG_MAX_CONNS; i++) {
		if (d->conns[i].fd < 0) {
			d->conns[i].fd = fd;
			d->conns[i].port = 0;
			return;
		}
	}
	close(fd); /* too many backends: they see the connection reset */
}

static void *sg_server(void *arg)
{
	struct sg_domain *d = arg;
	struct pollfd pfd[2 + SG_MAX_CONNS];
	struct sg_conn *who[2 + SG_MAX_CONNS];
	unsigned int i, n;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){.fd = d->wake_fd, .events = POLLIN};
		pfd[n++] =
		    (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
		for (i = 0; i < SG_MAX_CONNS; i++) {
			if (d->conns[i].fd < 0)
				continue;
			who[n] = &d->conns[i];
			pfd[n++] = (struct pollfd){.fd = d->conns[i].fd,
						   .events = POLLIN};
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			sg_accept(d);
		for (i = 2; i < n; i++) {
			if (pfd[i].revents)
				sg_conn_serve(d, who[i]);
		}
	}
	return NULL;
}

/* ---- domain ---- */

static int sg_domain_init_gnttab(struct sg_domain *d)
{
	d->gnt_size = xb_sim_gnttab_size(d->nr_grants);
	d->gnt = sg_file_map(d, XB_SIM_GNTTAB, d->gnt_size);
	if (d->gnt == MAP_FAILED) {
		d->gnt = NULL;
		return -errno;
	}
	d->hdr = d->gnt;
	d->ents = (struct xb_sim_gnt_entry *)((uint8_t *)d->gnt +
					      XB_SIM_GNTTAB_ENTRIES_OFF);
	d->pin_pid = (int32_t *)((uint8_t *)d->gnt +
				 xb_sim_gnttab_pids_off(d->nr_grants));
	d->hdr->version = XB_SIM_VERSION;
	d->hdr->nr_entries = d->nr_grants;
	d->hdr->nr_frames = d->nr_frames;
	/* Magic last: a header with it is complete. */
	__atomic_store_n(&d->hdr->magic, XB_SIM_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* Binds and listens on <path>/evtchn.sock; final is the path the daemon
 * will use (checked to fit too). Returns 0 or -errno. */
static int sg_domain_init_evtchn(struct sg_domain *d, const char *final)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char fin[sizeof(sa.sun_path)];
	int r;

	r = sg_path(fin, sizeof(fin), final, XB_SIM_EVTCHN_SOCK);
	if (r < 0)
		return r;
	r = sg_path(sa.sun_path, sizeof(sa.sun_path), d->path,
		    XB_SIM_EVTCHN_SOCK);
	if (r < 0)
		return r;
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->wake_fd < 0)
		return -errno;
	d->listen_fd =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->listen_fd < 0)
		return -errno;
	if (bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(d->listen_fd, 16) < 0)
		return -errno;
	r = pthread_create(&d->thread, NULL, sg_server, d);
	if (r)
		return -r;
	d->thread_started = true;
	return 0;
}

int sg_domain_create(const char *sim_dir, unsigned int domid,
		     unsigned int nr_frames, unsigned int nr_grants,
		     struct sg_domain **out)
{
	char final[PATH_MAX];
	struct sg_domain *d;
	unsigned int i;
	int n, r;

	if (!sim_dir || domid >= 0x7ff0 || nr_frames == 0 ||
	    nr_frames > XB_SIM_MAX_FRAMES ||
	    nr_grants <= GNTTAB_NR_RESERVED_ENTRIES ||
	    nr_grants > XB_SIM_MAX_GRANTS)
		return -EINVAL;
	n = snprintf(final, sizeof(final), "%s/" XB_SIM_DOM_FMT, sim_dir,
		     domid);
	if (n < 0 || (size_t)n >= sizeof(final))
		return -ENAMETOOLONG;
	if (access(final, F_OK) == 0)
		return -EEXIST;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->domid = domid;
	d->nr_frames = nr_frames;
	d->nr_grants = nr_grants;
	d->listen_fd = d->wake_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	for (i = 0; i < XB_SIM_MAX_PORTS; i++)
		d->ports[i] = (struct sg_port){
		    .guest_fd = -1, .back_fd = -1, .conn_fd = -1};
	for (i = 0; i < SG_MAX_CONNS; i++)
		d->conns[i].fd = -1;

	/* Built under a temporary name, renamed into place when complete. */
	n = snprintf(d->path, sizeof(d->path), "%s/.dom%u-XXXXXX", sim_dir,
		     domid);
	if (n < 0 || (size_t)n >= sizeof(d->path)) {
		r = -ENAMETOOLONG;
		goto err_free;
	}
	if (!mkdtemp(d->path)) {
		r = -errno;
		goto err_free;
	}

	d->page_used = calloc(nr_frames, 1);
	d->ref_used = calloc(nr_grants, 1);
	if (!d->page_used || !d->ref_used) {
		r = -ENOMEM;
		goto err_destroy;
	}
	d->mem =
	    sg_file_map(d, XB_SIM_MEM, (size_t)nr_frames * XB_SIM_PAGE_SIZE);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		r = -errno;
		goto err_destroy;
	}
	r = sg_domain_init_gnttab(d);
	if (r < 0)
		goto err_destroy;
	r = sg_domain_init_evtchn(d, final);
	if (r < 0)
		goto err_destroy;
	if (rename(d->path, final) < 0) {
		r = errno == ENOTEMPTY ? -EEXIST : -errno;
		goto err_destroy;
	}
	memcpy(d->path, final, sizeof(final));
	*out = d;
	return 0;

err_destroy:
	sg_domain_destroy(d);
	return r;
err_free:
	pthread_mutex_destroy(&d->lock);
	free(d);
	return r;
}

unsigned int sg_domain_id(const struct sg_domain *d)
{
	return d->domid;
}

static void sg_unlink(struct sg_domain *d, const char *leaf)
{
	char path[PATH_MAX];

	if (sg_path(path, sizeof(path), d->path, leaf) == 0)
		unlink(path);
}

void sg_domain_destroy(struct sg_domain *d)
{
	uint64_t one = 1;
	unsigned int i;

	if (!d)
		return;
	if (d->thread_started) {
		if (write(d->wake_fd, &one, sizeof(one)) < 0)
			abort(); /* cannot stop our own thread: invariant */
		pthread_join(d->thread, NULL);
	}
	/* The server is gone: its connections are ours to close now; the
	 * backends see them closed, like a destroyed domain's ports. */
	for (i = 0; i < SG_MAX_CONNS; i++)
		sg_close(&d->conns[i].fd);
	for (i = 0; i < XB_SIM_MAX_PORTS; i++) {
		sg_close(&d->ports[i].guest_fd);
		sg_close(&d->ports[i].back_fd);
	}
	sg_close(&d->listen_fd);
	sg_close(&d->wake_fd);

	sg_unlink(d, XB_SIM_EVTCHN_SOCK);
	sg_unlink(d, XB_SIM_GNTTAB);
	sg_unlink(d, XB_SIM_MEM);
	rmdir(d->path);
	if (d->mem)
		munmap(d->mem, (size_t)d->nr_frames * XB_SIM_PAGE_SIZE);
	if (d->gnt)
		munmap(d->gnt, d->gnt_size);
	free(d->page_used);
	free(d->ref_used);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* ---- memory ---- */

void *sg_page_alloc(struct sg_domain *d, uint32_t *frame)
{
	uint8_t *va = NULL;
	unsigned int i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->nr_frames; i++) {
		if (!d->page_used[i]) {
			d->page_used[i] = 1;
			va = d->mem + (size_t)i * XB_SIM_PAGE_SIZE;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (!va)
		return NULL;
	memset(va, 0, XB_SIM_PAGE_SIZE);
	*frame = i;
	return va;
}

void sg_page_free(struct sg_domain *d, void *va)
{
	uintptr_t off;

	if (!va)
		return;
	off = (uintptr_t)va - (uintptr_t)d->mem;
	if ((uintptr_t)va < (uintptr_t)d->mem || off % XB_SIM_PAGE_SIZE ||
	    off / XB_SIM_PAGE_SIZE >= d->nr_frames)
		abort(); /* not our page: a bug in the test */
	pthread_mutex_lock(&d->lock);
	d->page_used[off / XB_SIM_PAGE_SIZE] = 0;
	pthread_mutex_unlock(&d->lock);
}

void *sg_frame_va(struct sg_domain *d, uint32_t frame)
{
	if (frame >= d->nr_frames)
		return NULL;
	return d->mem + (size_t)frame * XB_SIM_PAGE_SIZE;
}

/* ---- grants ---- */

/* Publishes an entry the way Linux does: frame and domid first, then the
 * flags (here one release store of the flags+domid word). */
static void sg_grant_write(struct sg_domain *d, uint32_t ref, uint16_t flags,
			   uint16_t domid, uint32_t frame)
{
	__atomic_store_n(&d->ents[ref].frame, frame, __ATOMIC_RELAXED);
	__atomic_store_n(&d->ents[ref].word, xb_sim_gnt_word(flags, domid),
			 __ATOMIC_RELEASE);
}

int sg_grant_access(struct sg_domain *d, unsigned int to_domid, uint32_t frame,
		    bool readonly)
{
	uint16_t flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
	unsigned int ref;
	int r = -ENOSPC;

	if (frame >= d->nr_frames || to_domid > UINT16_MAX)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	for (ref = GNTTAB_NR_RESERVED_ENTRIES; ref < d->nr_grants; ref++) {
		if (!d->ref_used[ref]) {
			d->ref_used[ref] = 1;
			sg_grant_write(d, ref, flags, (uint16_t)to_domid,
				       frame);
			r = (int)ref;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* True if the pin was left by a process that no longer exists (the kernel
 * would have unmapped its grants when it died). */
static bool sg_pin_stale(struct sg_domain *d, uint32_t ref)
{
	int32_t pid = __atomic_load_n(&d->pin_pid[ref], __ATOMIC_RELAXED);

	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

int sg_grant_end(struct sg_domain *d, uint32_t ref)
{
	uint32_t old;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	if (ref >= d->nr_grants || !d->ref_used[ref]) {
		r = -EINVAL;
		goto out;
	}
	/* Linux's gnttab_end_foreign_access_ref_v1: clear the entry only if
	 * the backend does not hold it, atomically against its pinning. */
	old = __atomic_load_n(&d->ents[ref].word, __ATOMIC_ACQUIRE);
	do {
		if ((xb_sim_gnt_flags(old) & (GTF_reading | GTF_writing)) &&
		    !sg_pin_stale(d, ref)) {
			r = -EBUSY;
			goto out;
		}
	} while (!__atomic_compare_exchange_n(&d->ents[ref].word, &old, 0,
					      false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	d->ref_used[ref] = 0;
out:
	pthread_mutex_unlock(&d->lock);
	return r;
}

int sg_grant_raw(struct sg_domain *d, uint32_t ref, uint16_t flags,
		 uint16_t domid, uint32_t frame)
{
	if (ref >= d->nr_grants)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->ref_used[ref] = 1;
	sg_grant_write(d, ref, flags, domid, frame);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int sg_grant_flags(struct sg_domain *d, uint32_t ref)
{
	if (ref >= d->nr_grants)
		return -EINVAL;
	return xb_sim_gnt_flags(
	    __atomic_load_n(&d->ents[ref].word, __ATOMIC_ACQUIRE));
}

/* ---- event channels ---- */

int sg_evtchn_alloc_unbound(struct sg_domain *d, unsigned int remote_domid)
{
	struct sg_port *p;
	unsigned int i;
	int r = -ENOSPC;

	pthread_mutex_lock(&d->lock);
	for (i = 1; i < XB_SIM_MAX_PORTS; i++) {
		p = &d->ports[i];
		if (p->state != SG_PORT_FREE)
			continue;
		p->guest_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->guest_fd < 0) {
			r = -errno;
			break;
		}
		p->state = SG_PORT_UNBOUND;
		p->remote_domid = remote_domid;
		r = (int)i;
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Returns the port's entry or NULL if port is not allocated. Caller holds
 * d->lock. */
static struct sg_port *sg_port_get(struct sg_domain *d, int port)
{
	if (port <= 0 || port >= (int)XB_SIM_MAX_PORTS ||
	    d->ports[port].state == SG_PORT_FREE)
		return NULL;
	return &d->ports[port];
}

int sg_evtchn_fd(struct sg_domain *d, int port)
{
	struct sg_port *p;
	int r;

	pthread_mutex_lock(&d->lock);
	p = sg_port_get(d, port);
	r = p ? p->guest_fd : -EINVAL;
	pthread_mutex_unlock(&d->lock);
	return r;
}

int sg_evtchn_ack(struct sg_domain *d, int port)
{
	struct sg_port *p;
	uint64_t v;
	int r;

	pthread_mutex_lock(&d->lock);
	p = sg_port_get(d, port);
	if (!p)
		r = -EINVAL;
	else if (read(p->guest_fd, &v, sizeof(v)) == sizeof(v))
		r = 1;
	else
		r = errno == EAGAIN ? 0 : -errno;
	pthread_mutex_unlock(&d->lock);
	return r;
}

int sg_evtchn_notify(struct sg_domain *d, int port)
{
	struct sg_port *p;
	uint64_t one = 1;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	p = sg_port_get(d, port);
	if (!p)
		r = -EINVAL;
	else if (p->state != SG_PORT_BOUND)
		r = -ENOTCONN;
	else if (write(p->back_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		r = -errno;
	pthread_mutex_unlock(&d->lock);
	return r;
}

bool sg_evtchn_is_bound(struct sg_domain *d, int port)
{
	struct sg_port *p;
	bool bound;

	pthread_mutex_lock(&d->lock);
	p = sg_port_get(d, port);
	bound = p && p->state == SG_PORT_BOUND;
	pthread_mutex_unlock(&d->lock);
	return bound;
}

int sg_evtchn_close(struct sg_domain *d, int port)
{
	struct sg_port *p;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	p = sg_port_get(d, port);
	if (!p) {
		r = -EINVAL;
		goto out;
	}
	/* The server owns the connection; shutting it down makes the server
	 * drop it, and the backend see its channel closed. */
	if (p->state == SG_PORT_BOUND)
		shutdown(p->conn_fd, SHUT_RDWR);
	sg_close(&p->guest_fd);
	sg_close(&p->back_fd);
	p->conn_fd = -1;
	p->state = SG_PORT_FREE;
out:
	pthread_mutex_unlock(&d->lock);
	return r;
}
