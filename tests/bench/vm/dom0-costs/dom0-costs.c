/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a system call, an eventfd round trip, a wake-up and an event channel
 * notification cost where it runs: run in dom0 by ../dom0-costs.sh (under
 * QEMU's TCG a PV dom0's system call is ~100x a native one). Prints
 * "COST <what> <us per operation>". Usage: dom0-costs [iterations]
 */
#define _GNU_SOURCE
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xenevtchn.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void report(const char *what, double t0, int n)
{
	printf("COST %-32s %9.2f us\n", what, (now_us() - t0) / n);
	fflush(stdout);
}

static int ping, pong;

/* The other side of the ping-pong: each round wakes it and then us. */
static void *ponger(void *arg)
{
	uint64_t v;

	(void)arg;
	while (read(ping, &v, sizeof(v)) == sizeof(v)) {
		v = 1;
		if (write(pong, &v, sizeof(v)) != sizeof(v))
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	struct epoll_event ev = {.events = EPOLLIN};
	struct io_uring ring;
	xenevtchn_handle *xa, *xb;
	pthread_t th;
	uint64_t v = 1;
	int efd, ep, pa, pb;
	double t0;

	if (n <= 0)
		n = 20000;
	t0 = now_us();
	for (int i = 0; i < n; i++)
		syscall(SYS_getppid);
	report("getppid", t0, n);

	efd = eventfd(0, EFD_NONBLOCK);
	t0 = now_us();
	for (int i = 0; i < n; i++)
		if (write(efd, &v, 8) != 8 || read(efd, &v, 8) != 8)
			return 1;
	report("eventfd write + read", t0, n);

	ep = epoll_create1(0);
	if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0 ||
	    write(efd, &v, 8) != 8)
		return 1;
	t0 = now_us();
	for (int i = 0; i < n; i++)
		epoll_wait(ep, &ev, 1, 0);
	report("epoll_wait, one fd ready", t0, n);

	if (io_uring_queue_init(8, &ring, 0) < 0)
		return 1;
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;

		io_uring_prep_nop(sqe);
		io_uring_submit_and_wait(&ring, 1);
		if (io_uring_peek_cqe(&ring, &cqe) == 0)
			io_uring_cqe_seen(&ring, cqe);
	}
	report("io_uring NOP submit and wait", t0, n);

	ping = eventfd(0, 0);
	pong = eventfd(0, 0);
	if (ping < 0 || pong < 0 || pthread_create(&th, NULL, ponger, NULL))
		return 1;
	t0 = now_us();
	for (int i = 0; i < n / 10; i++)
		if (write(ping, &v, 8) != 8 || read(pong, &v, 8) != 8)
			return 1;
	report("two threads' ping-pong (2 wakes)", t0, n / 10);

	/* An interdomain channel from dom0 to itself: notify one end. */
	xa = xenevtchn_open(NULL, 0);
	xb = xenevtchn_open(NULL, 0);
	if (!xa || !xb) {
		printf("COST no event channels here (/dev/xen/evtchn)\n");
		return 0;
	}
	pa = xenevtchn_bind_unbound_port(xa, 0);
	pb = pa < 0 ? -1 : xenevtchn_bind_interdomain(xb, 0, (uint32_t)pa);
	if (pb < 0) {
		printf("COST event channel bind failed\n");
		return 1;
	}
	t0 = now_us();
	for (int i = 0; i < n; i++)
		xenevtchn_notify(xb, (uint32_t)pb);
	report("event channel notify (ioctl)", t0, n);
	/* The receiving end: read the port and unmask it, as a backend
	 * acknowledges each event (the notifications above left one). */
	t0 = now_us();
	for (int i = 0; i < n / 10; i++) {
		int p;

		xenevtchn_notify(xb, (uint32_t)pb);
		p = xenevtchn_pending(xa);
		if (p < 0 || xenevtchn_unmask(xa, (uint32_t)p) < 0)
			return 1;
	}
	report("notify + read + unmask, same CPU", t0, n / 10);
	return 0;
}
