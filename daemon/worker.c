/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads: each runs an epoll loop over the fds its queues
 * registered. The main thread talks to a worker only through
 * xb_worker_call(), a one-slot mailbox guarded by a mutex and woken by an
 * eventfd; nothing else is shared.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xb_log.h"
#include "xb_worker.h"

struct fd_reg {
	int fd;
	xb_fd_cb cb;
	void *arg;
	bool dead;
	bool on_wake; /* also called when the wait is interrupted */
	struct fd_reg *next;
};

struct xb_worker {
	unsigned int index;
	pthread_t thread;
	int epfd;
	int wakefd;
	bool stopping; /* under lock */
	unsigned int nqueues; /* main thread only */

	/* Mailbox: the main thread fills it and waits for done. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*call_fn)(void *arg);
	void *call_arg;
	int call_ret;
	bool call_done;

	/* Worker thread only. */
	struct fd_reg *regs;
	struct fd_reg *graveyard;
};

struct xb_workers {
	unsigned int n;
	struct xb_worker *w;
};

static __thread struct xb_worker *current_worker;

unsigned int xb_worker_index(const struct xb_worker *w)
{
	return w->index;
}

/* Returns 0 or -errno. Worker thread only. */
int xb_worker_add_fd(struct xb_worker *w, int fd, uint32_t events,
		     xb_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct fd_reg *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->cb = cb;
	r->arg = arg;
	ev.data.ptr = r;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r_err = -errno;

		free(r);
		return r_err;
	}
	r->next = w->regs;
	w->regs = r;
	return 0;
}

static struct fd_reg *find_reg(struct xb_worker *w, int fd,
			       struct fd_reg ***pprev)
{
	for (struct fd_reg **pp = &w->regs; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			if (pprev)
				*pprev = pp;
			return *pp;
		}
	}
	return NULL;
}

/* Returns 0 or -errno. Worker thread only. */
int xb_worker_mod_fd(struct xb_worker *w, int fd, uint32_t events)
{
	struct fd_reg *r = find_reg(w, fd, NULL);
	struct epoll_event ev = { .events = events };

	if (!r)
		return -ENOENT;
	ev.data.ptr = r;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

/*
 * Returns 0 or -ENOENT. Worker thread only. The registration is freed after
 * the current batch of events, which may still name it.
 */
int xb_worker_del_fd(struct xb_worker *w, int fd)
{
	struct fd_reg **pp, *r = find_reg(w, fd, &pp);

	if (!r)
		return -ENOENT;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	*pp = r->next;
	r->dead = true;
	r->next = w->graveyard;
	w->graveyard = r;
	return 0;
}

/* Returns 0 or -ENOENT. Worker thread only. */
int xb_worker_fd_on_wake(struct xb_worker *w, int fd)
{
	struct fd_reg *r = find_reg(w, fd, NULL);

	if (!r)
		return -ENOENT;
	r->on_wake = true;
	return 0;
}

/*
 * epoll_wait was interrupted: the kernel woke this thread to run task work
 * (an io_uring completion is posted that way), which it has run by now.
 * Call the callbacks that asked for it before waiting again: their ring's
 * fd would be reported by the next epoll_wait, one more system call (~20
 * us under a PV dom0) between the completion and the guest's response. A
 * snapshot first: a callback may delete registrations.
 */
static void run_on_wake(struct xb_worker *w)
{
	struct fd_reg *snap[32];
	unsigned int n = 0;

	for (struct fd_reg *r = w->regs; r && n < 32; r = r->next)
		if (r->on_wake)
			snap[n++] = r;
	for (unsigned int i = 0; i < n; i++)
		if (!snap[i]->dead)
			snap[i]->cb(snap[i]->fd, 0, snap[i]->arg);
}

static void run_mailbox(struct xb_worker *w)
{
	uint64_t v;
	int (*fn)(void *arg);

	if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker %u: wake fd read failed", w->index);
	pthread_mutex_lock(&w->lock);
	fn = w->call_fn;
	w->call_fn = NULL;
	pthread_mutex_unlock(&w->lock);
	if (!fn)
		return;
	/* The caller waits, so call_arg is stable until call_done is set. */
	w->call_ret = fn(w->call_arg);
	pthread_mutex_lock(&w->lock);
	w->call_done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct xb_worker *w = arg;
	struct epoll_event evs[64];

	current_worker = w;
	for (;;) {
		int n = epoll_wait(w->epfd, evs, 64, -1);
		bool stop;

		if (n < 0) {
			if (errno == EINTR) {
				run_on_wake(w);
				n = 0;
				goto reap;
			}
			log_err_errno(-errno, "worker %u: epoll_wait", w->index);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct fd_reg *r = evs[i].data.ptr;

			if (!r) {
				run_mailbox(w);
				continue;
			}
			if (!r->dead)
				r->cb(r->fd, evs[i].events, r->arg);
		}
reap:
		while (w->graveyard) {
			struct fd_reg *r = w->graveyard;

			w->graveyard = r->next;
			free(r);
		}
		pthread_mutex_lock(&w->lock);
		stop = w->stopping;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
	}
	return NULL;
}

/* Returns fn's result, or -errno if the call could not be made. */
int xb_worker_call(struct xb_worker *w, int (*fn)(void *arg), void *arg)
{
	uint64_t one = 1;
	int ret;

	if (current_worker)
		return log_err_errno(-EDEADLK, "xb_worker_call from a worker");
	pthread_mutex_lock(&w->lock);
	w->call_fn = fn;
	w->call_arg = arg;
	w->call_done = false;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wakefd, &one, sizeof(one)) < 0)
		return -errno;
	pthread_mutex_lock(&w->lock);
	while (!w->call_done)
		pthread_cond_wait(&w->cond, &w->lock);
	ret = w->call_ret;
	pthread_mutex_unlock(&w->lock);
	return ret;
}

static void worker_fini(struct xb_worker *w)
{
	while (w->regs) {
		struct fd_reg *r = w->regs;

		w->regs = r->next;
		free(r);
	}
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

/* Returns 0 or -errno; on failure nothing is left running. */
int xb_workers_start(unsigned int n, const int *cpus,
		     struct xb_workers **out)
{
	struct xb_workers *ws;
	unsigned int i;
	int r;

	if (n == 0)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->w = calloc(n, sizeof(*ws->w));
	if (!ws->w) {
		free(ws);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct xb_worker *w = &ws->w[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		w->index = i;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->epfd < 0 || w->wakefd < 0 ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) {
			r = -errno;
			goto err_worker;
		}
		r = -pthread_create(&w->thread, NULL, worker_main, w);
		if (r)
			goto err_worker;
		{
			char tname[16];

			snprintf(tname, sizeof(tname), "xb-worker%u", i % 1000);
			pthread_setname_np(w->thread, tname);
		}
		if (cpus) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpus[i], &set);
			r = -pthread_setaffinity_np(w->thread, sizeof(set),
						    &set);
			if (r)
				log_warn_errno(r, "worker %u: pin to CPU %d", i,
					       cpus[i]);
		}
	}
	ws->n = n;
	*out = ws;
	return 0;

err_worker:
	worker_fini(&ws->w[i]);
	ws->n = i;
	xb_workers_stop(ws);
	return r;
}

/* Stops and joins every worker; accepts NULL and a partial pool. */
void xb_workers_stop(struct xb_workers *ws)
{
	uint64_t one = 1;

	if (!ws)
		return;
	for (unsigned int i = 0; i < ws->n; i++) {
		struct xb_worker *w = &ws->w[i];

		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_mutex_unlock(&w->lock);
		if (write(w->wakefd, &one, sizeof(one)) < 0)
			log_warn_errno(-errno, "worker %u: wake", i);
		pthread_join(w->thread, NULL);
		worker_fini(w);
	}
	free(ws->w);
	free(ws);
}

struct xb_worker *xb_workers_get(struct xb_workers *ws)
{
	struct xb_worker *best = &ws->w[0];

	for (unsigned int i = 1; i < ws->n; i++)
		if (ws->w[i].nqueues < best->nqueues)
			best = &ws->w[i];
	best->nqueues++;
	return best;
}

void xb_worker_put(struct xb_worker *w)
{
	if (w && w->nqueues)
		w->nqueues--;
}
