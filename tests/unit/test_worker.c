/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Worker pool: calls run on the worker thread, fds fire their callbacks,
 * a callback may remove another fd of the same batch, queues spread, an
 * interrupted wait calls the callbacks that asked for it (and only them). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xb_worker.h"

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			return 1;                                           \
		}                                                           \
	} while (0)

struct ctx {
	struct xb_worker *w;
	pthread_t thread;
	int efd[2];
	int hits[2];
};

static void on_fd(int fd, uint32_t events, void *arg)
{
	struct ctx *c = arg;
	uint64_t v;
	int i = fd == c->efd[0] ? 0 : 1;

	if (read(fd, &v, sizeof(v)) == sizeof(v))
		c->hits[i]++;
	/* The first callback removes the other fd, which may be in the
	 * same epoll batch: its registration must not be used after. */
	xb_worker_del_fd(c->w, c->efd[1 - i]);
}

static int add(void *arg)
{
	struct ctx *c = arg;

	c->thread = pthread_self();
	if (xb_worker_add_fd(c->w, c->efd[0], EPOLLIN, on_fd, c) < 0 ||
	    xb_worker_add_fd(c->w, c->efd[1], EPOLLIN, on_fd, c) < 0)
		return -1;
	return 42;
}

static int del_rest(void *arg)
{
	struct ctx *c = arg;

	xb_worker_del_fd(c->w, c->efd[0]);
	xb_worker_del_fd(c->w, c->efd[1]);
	return xb_worker_del_fd(c->w, c->efd[0]);
}

/* xb_worker_fd_on_wake: fd a is marked, b is not; neither is readable. */
struct wctx {
	struct xb_worker *w;
	pthread_t thread;
	int fd[2];
	volatile int zero_events[2]; /* callbacks with events 0 */
};

static void on_wake_cb(int fd, uint32_t events, void *arg)
{
	struct wctx *c = arg;

	if (!events)
		c->zero_events[fd == c->fd[0] ? 0 : 1]++;
}

static int wake_add(void *arg)
{
	struct wctx *c = arg;

	c->thread = pthread_self();
	if (xb_worker_add_fd(c->w, c->fd[0], EPOLLIN, on_wake_cb, c) < 0 ||
	    xb_worker_add_fd(c->w, c->fd[1], EPOLLIN, on_wake_cb, c) < 0 ||
	    xb_worker_fd_on_wake(c->w, c->fd[0]) < 0)
		return -1;
	return xb_worker_fd_on_wake(c->w, -1) == -ENOENT ? 0 : -1;
}

static int wake_del(void *arg)
{
	struct wctx *c = arg;

	return xb_worker_del_fd(c->w, c->fd[0]) | xb_worker_del_fd(c->w, c->fd[1]);
}

static void on_sig(int sig)
{
	(void)sig;
}

int main(void)
{
	struct xb_workers *ws;
	struct ctx c = { 0 };
	struct xb_worker *a, *b, *d;
	uint64_t one = 1;

	CHECK(xb_workers_start(0, NULL, &ws) == -EINVAL);
	CHECK(xb_workers_start(2, NULL, &ws) == 0);
	a = xb_workers_get(ws);
	b = xb_workers_get(ws);
	CHECK(a != b); /* spread over the least loaded */
	xb_worker_put(a);
	d = xb_workers_get(ws);
	CHECK(d == a);
	c.w = a;
	c.efd[0] = eventfd(0, EFD_NONBLOCK);
	c.efd[1] = eventfd(0, EFD_NONBLOCK);
	CHECK(xb_worker_call(a, add, &c) == 42);
	CHECK(!pthread_equal(c.thread, pthread_self()));
	CHECK(write(c.efd[0], &one, 8) == 8 && write(c.efd[1], &one, 8) == 8);
	for (int i = 0; i < 200 && c.hits[0] + c.hits[1] == 0; i++)
		usleep(5000);
	usleep(20000);
	CHECK(c.hits[0] + c.hits[1] == 1);
	CHECK(xb_worker_call(a, del_rest, &c) == -ENOENT);

	/* A signal without SA_RESTART interrupts the worker's epoll_wait as
	 * io_uring's task work does. */
	{
		struct wctx wc = { .w = b };
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sig;
		CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
		wc.fd[0] = eventfd(0, EFD_NONBLOCK);
		wc.fd[1] = eventfd(0, EFD_NONBLOCK);
		CHECK(xb_worker_call(b, wake_add, &wc) == 0);
		for (int i = 0; i < 400 && !wc.zero_events[0]; i++) {
			pthread_kill(wc.thread, SIGUSR1);
			usleep(5000);
		}
		CHECK(wc.zero_events[0] > 0);
		CHECK(wc.zero_events[1] == 0);
		CHECK(xb_worker_call(b, wake_del, &wc) == 0);
		close(wc.fd[0]);
		close(wc.fd[1]);
	}
	xb_worker_put(b);
	xb_worker_put(d);
	xb_workers_stop(ws);
	close(c.efd[0]);
	close(c.efd[1]);
	printf("worker: PASS\n");
	return 0;
}
