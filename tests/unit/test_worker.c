/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Worker pool: calls run on the worker thread, fds fire their callbacks,
 * a callback may remove another fd of the same batch, queues spread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
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
	xb_worker_put(b);
	xb_worker_put(d);
	xb_workers_stop(ws);
	close(c.efd[0]);
	close(c.efd[1]);
	printf("worker: PASS\n");
	return 0;
}
