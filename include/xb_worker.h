/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads. Each worker is one thread running an epoll loop over the
 * fds of the queues assigned to it (event channel fds, io_uring fds, tap
 * fds). Queues never share a worker's state with another thread: the main
 * thread hands work to a worker only through xb_worker_call().
 */
#ifndef XB_WORKER_H
#define XB_WORKER_H

#include <stdint.h>

struct xb_worker;

/* Called on the worker thread when fd is ready; events are EPOLL* bits. */
typedef void (*xb_fd_cb)(int fd, uint32_t events, void *arg);

/*
 * Run fn(arg) on the worker's thread and wait until it returned. Returns
 * fn's return value. Must not be called from a worker thread.
 */
int xb_worker_call(struct xb_worker *w, int (*fn)(void *arg), void *arg);

/* Only from the worker's own thread (e.g. inside xb_worker_call). */
int xb_worker_add_fd(struct xb_worker *w, int fd, uint32_t events,
		     xb_fd_cb cb, void *arg);
int xb_worker_mod_fd(struct xb_worker *w, int fd, uint32_t events);
int xb_worker_del_fd(struct xb_worker *w, int fd);
/*
 * Also call fd's callback (events 0) each time the worker's wait is
 * interrupted by the kernel's task work, which is how io_uring posts a
 * completion to a sleeping submitter: the callback reaps it without waiting
 * for the fd to be reported. Returns 0 or -ENOENT.
 */
int xb_worker_fd_on_wake(struct xb_worker *w, int fd);
/* Index of the worker (0..n-1), for logs and CPU pinning. */
unsigned int xb_worker_index(const struct xb_worker *w);

/* Pool management (daemon/). cpus: NULL or a list of n CPU numbers. */
struct xb_workers;
int xb_workers_start(unsigned int n, const int *cpus,
		     struct xb_workers **out);
void xb_workers_stop(struct xb_workers *ws);
/* The worker with the fewest queues; the caller counts via
 * xb_worker_get/put so placement spreads queues evenly. */
struct xb_worker *xb_workers_get(struct xb_workers *ws);
void xb_worker_put(struct xb_worker *w);

#endif
