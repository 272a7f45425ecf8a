/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One netif queue (a tx ring, an rx ring and one tap queue) served on one
 * worker thread.
 *
 * The worker waits on: the tx and rx event channels (one fd when shared),
 * the tap queue fd (readable: frames for the guest), a timerfd (the
 * credit scheduler's next window), another for the rx side's deadlines
 * (frames waiting too long for the guest's buffers, a stalled guest) and
 * an eventfd for frames other queues read from the tap but the guest's
 * hash steers to this queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "netback.h"
#include "xb_log.h"
#include "xb_worker.h"

/* Frames waiting in one inbox before new ones are dropped. */
#define INBOX_MAX 1024

uint64_t netback_coarse_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t netback_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * The guest broke the protocol: stop serving this queue (the fds stay
 * registered but every callback returns at once) and let the main thread
 * take the whole vif down.
 */
void netback_queue_broken(struct netback_queue *q, const char *why)
{
	char msg[160];

	if (q->broken)
		return;
	q->broken = true;
	__atomic_add_fetch(&q->stats.ring_errors, 1, __ATOMIC_RELAXED);
	snprintf(msg, sizeof(msg), "queue %u: %s", q->id, why);
	xb_dev_fatal_async(q->dev, msg);
}

/*
 * The tx ring is served before the event channel is acknowledged (the ack
 * is two trips through the hypervisor under a PV dom0 that the frames need
 * not wait for), then once more after it: what the guest sent between the
 * last look and the ack is not missed, however the platform signals it.
 * (Looking at the tx ring costs no system call; the rx side reads the tap,
 * so its event is acknowledged first, as before.)
 */
static void evtchn_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;
	int r;

	if (!q->broken)
		netback_tx_run(q);
	r = xb_evtchn_ack(q->ec_tx);
	if (r < 0)
		dev_warn_errno(q->dev, r, "queue %u: event channel", q->id);
	if (q->broken)
		return;
	netback_tx_run(q);
	if (!q->ec_rx && !q->broken)
		netback_rx_run(q);
}

static void evtchn_rx_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;
	int r;

	r = xb_evtchn_ack(q->ec_rx);
	if (r < 0)
		dev_warn_errno(q->dev, r, "queue %u: rx event channel", q->id);
	if (!q->broken)
		netback_rx_run(q);
}

static void tap_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;

	if (!q->broken)
		netback_rx_run(q);
}

/* Reset a timerfd's or an eventfd's count. */
static void fd_consume(struct netback_queue *q, int fd, const char *what)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		dev_warn_errno(q->dev, -errno, "queue %u: %s", q->id, what);
}

static void timer_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;

	fd_consume(q, fd, "timerfd");
	q->rate_limited = false;
	if (!q->broken)
		netback_tx_run(q);
}

static void rx_timer_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;

	fd_consume(q, fd, "rx timerfd");
	if (!q->broken)
		netback_rx_timer(q);
}

static void inbox_cb(int fd, uint32_t events, void *arg)
{
	struct netback_queue *q = arg;

	fd_consume(q, fd, "inbox");
	if (!q->broken)
		netback_rx_run(q);
}

/* Thread-safe: the caller gives f away; dropped when the inbox is full. */
void netback_queue_forward(struct netback_queue *to, struct netback_fwd *f)
{
	uint64_t one = 1;
	bool wake;

	f->next = NULL;
	pthread_mutex_lock(&to->inbox_lock);
	if (to->inbox_len >= INBOX_MAX || !to->started) {
		pthread_mutex_unlock(&to->inbox_lock);
		__atomic_add_fetch(&to->stats.rx_drops, 1, __ATOMIC_RELAXED);
		free(f);
		return;
	}
	wake = to->inbox_len == 0;
	*to->inbox_tail = f;
	to->inbox_tail = &f->next;
	to->inbox_len++;
	__atomic_store_n(&to->inbox_len_hint, to->inbox_len, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&to->inbox_lock);
	if (wake && write(to->inboxfd, &one, sizeof(one)) < 0)
		dev_warn_errno(to->dev, -errno, "queue %u: inbox wake", to->id);
}

unsigned int netback_queue_inbox_purge(struct netback_queue *q)
{
	unsigned int n = 0;

	pthread_mutex_lock(&q->inbox_lock);
	while (q->inbox_head) {
		struct netback_fwd *f = q->inbox_head;

		q->inbox_head = f->next;
		free(f);
		n++;
	}
	q->inbox_tail = &q->inbox_head;
	q->inbox_len = 0;
	__atomic_store_n(&q->inbox_len_hint, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->inbox_lock);
	return n;
}

static void queue_free_mem(struct netback_queue *q)
{
	netback_tx_uring_fini(q);
	free(q->tx_arena);
	free(q->txpkts);
	free(q->txsegs);
	free(q->txrsp);
	free(q->rx_arena);
	free(q->rxpkts);
	free(q->rxsegs);
	free(q->rxseg_rsp);
	free(q->rxrsp);
	q->tx_arena = q->rx_arena = NULL;
	q->txpkts = NULL;
	q->txsegs = q->rxsegs = NULL;
	q->txrsp = NULL;
	q->rxpkts = NULL;
	q->rxseg_rsp = NULL;
	q->rxrsp = NULL;
}

/* Segments one pass may need: every slot of a full batch of max packets. */
#define TX_MAX_SEGS (NETBACK_TX_RING_SIZE)
#define RX_MAX_SEGS (NETBACK_RX_RING_SIZE * 2)

static int queue_alloc_mem(struct netback_queue *q)
{
	q->tx_arena = aligned_alloc(64, NETBACK_ARENA_SIZE);
	q->rx_arena = aligned_alloc(64, NETBACK_ARENA_SIZE);
	q->txpkts = calloc(NETBACK_BATCH, sizeof(*q->txpkts));
	q->txsegs = calloc(TX_MAX_SEGS, sizeof(*q->txsegs));
	q->txrsp = calloc(NETBACK_TX_RING_SIZE, sizeof(*q->txrsp));
	q->rxpkts = calloc(NETBACK_BATCH, sizeof(*q->rxpkts));
	q->rxsegs = calloc(RX_MAX_SEGS, sizeof(*q->rxsegs));
	q->rxseg_rsp = calloc(RX_MAX_SEGS, sizeof(*q->rxseg_rsp));
	q->rxrsp = calloc(NETBACK_RX_RING_SIZE, sizeof(*q->rxrsp));
	if (!q->tx_arena || !q->rx_arena || !q->txpkts || !q->txsegs ||
	    !q->txrsp || !q->rxpkts || !q->rxsegs || !q->rxseg_rsp ||
	    !q->rxrsp) {
		queue_free_mem(q);
		return -ENOMEM;
	}
	return 0;
}

/* Worker thread. Returns 0. */
int netback_queue_set_rate(void *arg)
{
	struct netback_queue *q = arg;
	struct netback_vif *vif = q->vif;

	q->credit_bytes = vif->credit_bytes;
	q->credit_usec = vif->credit_usec;
	q->remaining_credit = q->credit_bytes;
	q->credit_window_start = netback_now_usec();
	if (q->rate_limited) {
		/* Let the new rate decide at once. */
		struct itimerspec its = {.it_value = {0, 1}};

		timerfd_settime(q->timerfd, 0, &its, NULL);
	}
	return 0;
}

/* Worker thread. Returns 0. */
int netback_queue_set_feat(void *arg)
{
	struct netback_queue *q = arg;

	q->xdp_headroom = q->vif->feat.xdp_headroom;
	q->mcast_ctrl = q->vif->feat.mcast_ctrl;
	return 0;
}

/*
 * Worker thread (xb_worker_call). inbox_lock and inbox_tail are set up by
 * the main thread when the queue is allocated: other workers may touch the
 * inbox until every queue of the vif has stopped. Returns 0 or -errno.
 */
int netback_queue_start(void *arg)
{
	struct netback_queue *q = arg;
	int err;

	err = queue_alloc_mem(q);
	if (err)
		return err;
	err = netback_tx_uring_init(q);
	if (err)
		dev_debug(q->dev,
			  "queue %u: no io_uring (%s), write() per frame",
			  q->id, strerror(-err));
	q->timerfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	q->rx_timerfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	q->inboxfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->timerfd < 0 || q->rx_timerfd < 0 || q->inboxfd < 0) {
		err = -errno;
		goto err_fds;
	}
	BACK_RING_INIT(&q->tx, (netif_tx_sring_t *)q->tx_va, XEN_PAGE_SIZE);
	BACK_RING_INIT(&q->rx, (netif_rx_sring_t *)q->rx_va, XEN_PAGE_SIZE);
	netback_queue_set_rate(q);
	netback_queue_set_feat(q);
	q->hash_gen = (uint32_t)-1;

	err = xb_worker_add_fd(q->worker, xb_evtchn_fd(q->ec_tx), EPOLLIN,
			       evtchn_cb, q);
	if (err)
		goto err_fds;
	if (q->ec_rx) {
		err = xb_worker_add_fd(q->worker, xb_evtchn_fd(q->ec_rx),
				       EPOLLIN, evtchn_rx_cb, q);
		if (err)
			goto err_tx;
	}
	err = xb_worker_add_fd(q->worker, q->tapfd, EPOLLIN, tap_cb, q);
	if (err)
		goto err_rx;
	err = xb_worker_add_fd(q->worker, q->timerfd, EPOLLIN, timer_cb, q);
	if (err)
		goto err_tap;
	err = xb_worker_add_fd(q->worker, q->rx_timerfd, EPOLLIN, rx_timer_cb,
			       q);
	if (err)
		goto err_timer;
	err = xb_worker_add_fd(q->worker, q->inboxfd, EPOLLIN, inbox_cb, q);
	if (err)
		goto err_rx_timer;
	q->rx_last = netback_coarse_usec();
	q->rx_wait_since = q->rx_timer_at = 0;
	q->rx_stalled = false;
	pthread_mutex_lock(&q->inbox_lock);
	q->started = true;
	pthread_mutex_unlock(&q->inbox_lock);
	dev_debug(q->dev, "queue %u on worker %u (%s event channels)", q->id,
		  xb_worker_index(q->worker), q->ec_rx ? "split" : "shared");
	/* Requests the guest queued before we were listening. */
	netback_tx_run(q);
	if (!q->broken)
		netback_rx_run(q);
	return 0;

err_rx_timer:
	xb_worker_del_fd(q->worker, q->rx_timerfd);
err_timer:
	xb_worker_del_fd(q->worker, q->timerfd);
err_tap:
	xb_worker_del_fd(q->worker, q->tapfd);
err_rx:
	if (q->ec_rx)
		xb_worker_del_fd(q->worker, xb_evtchn_fd(q->ec_rx));
err_tx:
	xb_worker_del_fd(q->worker, xb_evtchn_fd(q->ec_tx));
err_fds:
	if (q->timerfd >= 0)
		close(q->timerfd);
	if (q->rx_timerfd >= 0)
		close(q->rx_timerfd);
	if (q->inboxfd >= 0)
		close(q->inboxfd);
	q->timerfd = q->rx_timerfd = q->inboxfd = -1;
	queue_free_mem(q);
	return err;
}

/* Worker thread (xb_worker_call). Returns 0. */
int netback_queue_stop(void *arg)
{
	struct netback_queue *q = arg;

	if (!q->started)
		return 0;
	pthread_mutex_lock(&q->inbox_lock);
	q->started = false;
	pthread_mutex_unlock(&q->inbox_lock);
	xb_worker_del_fd(q->worker, q->inboxfd);
	xb_worker_del_fd(q->worker, q->rx_timerfd);
	xb_worker_del_fd(q->worker, q->timerfd);
	xb_worker_del_fd(q->worker, q->tapfd);
	if (q->ec_rx)
		xb_worker_del_fd(q->worker, xb_evtchn_fd(q->ec_rx));
	xb_worker_del_fd(q->worker, xb_evtchn_fd(q->ec_tx));
	netback_queue_inbox_purge(q);
	netback_rx_stop(q);
	close(q->timerfd);
	close(q->rx_timerfd);
	close(q->inboxfd);
	q->timerfd = q->rx_timerfd = q->inboxfd = -1;
	queue_free_mem(q);
	q->rx_pending = 0;
	q->tap_paused = false;
	return 0;
}
