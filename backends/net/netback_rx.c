/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest receive: tap -> rx ring.
 *
 * A pass reads up to NETBACK_BATCH frames (from the inbox of frames other
 * queues steered here, then from the tap queue), lays each over as many of
 * the guest's posted buffers as it needs (first data slot, the extra-info
 * slots, the rest of the data), grant-copies the whole batch at once and
 * writes the responses, each into its request's slot. A frame that does not
 * fit in the buffers posted so far waits at the head of the arena, the tap
 * is no longer polled, and req_event asks the guest to kick us when it
 * posts more.
 *
 * A guest that posts no more (hung, or hostile) must not hold frames
 * forever, nor the bridge's traffic: as Linux's xen-netback, frames that
 * have waited rx_drain_usec are dropped (the one at the arena's head, what
 * the tap queue and the inbox hold: all of it has waited at most that
 * long), and a queue whose ring has had no buffer for rx_stall_usec since
 * the guest last took a frame is stalled: the tap's carrier goes off (the
 * bridge stops forwarding to it) until the guest posts a buffer again.
 *
 * Untrusted: req_prod (read once per pass, bounded by req_cons) and each
 * request (copied once; id and gref are only echoed / handed to grant
 * copy, which checks the grant).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "netback.h"
#include "xb_log.h"
#include "xb_worker.h"

static inline void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

struct rx_pass {
	unsigned int npkts, nsegs, nrsp;
	size_t pos;
	RING_IDX start; /* ring index of staged response 0 */
};

static void refresh_hash(struct netback_queue *q)
{
	struct netback_vif *vif = q->vif;
	uint32_t gen = __atomic_load_n(&vif->hash_gen, __ATOMIC_ACQUIRE);

	if (gen == q->hash_gen)
		return;
	pthread_mutex_lock(&vif->lock);
	q->hash = vif->hash;
	q->hash_gen = vif->hash_gen;
	pthread_mutex_unlock(&vif->lock);
}

static bool mcast_allowed(struct netback_vif *vif, const uint8_t *dst)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	bool ok = false;

	if (!(dst[0] & 1) || !memcmp(dst, bcast, 6))
		return true;
	pthread_mutex_lock(&vif->lock);
	for (unsigned int i = 0; i < vif->nmcast && !ok; i++)
		ok = !memcmp(vif->mcast[i], dst, 6);
	pthread_mutex_unlock(&vif->lock);
	return ok;
}

/*
 * Make a frame just read into what the guest can take: checksum flags,
 * GSO type, software checksum where the guest cannot finish one.
 * Returns 0, or -EINVAL to drop it.
 */
static int rx_prepare(struct netback_queue *q, struct netback_rxpkt *pkt)
{
	const struct netback_fe_feat *f = &q->vif->feat;
	struct virtio_net_hdr h;
	uint8_t *frame = pkt->buf + NETBACK_VNET_HDR_LEN;

	memcpy(&h, pkt->buf, sizeof(h));
	pkt->rxflags = 0;
	pkt->gso_type = XEN_NETIF_GSO_TYPE_NONE;
	pkt->gso_size = 0;
	if (pkt->len < 14)
		return -EINVAL;
	switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		pkt->gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		pkt->gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
		break;
	default:
		return -EINVAL;
	}
	if (pkt->gso_type) {
		if (!(f->gso_mask & (1u << pkt->gso_type)) || !h.gso_size)
			return -EINVAL;
		pkt->gso_size = h.gso_size;
	}
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		bool v6 = frame[12] == 0x86 && frame[13] == 0xdd;
		bool can = v6 ? f->ipv6_csum : f->ip_csum;

		if (can) {
			pkt->rxflags =
			    NETRXF_csum_blank | NETRXF_data_validated;
		} else {
			if (pkt->gso_type ||
			    netback_finish_csum(frame, pkt->len, h.csum_start,
						h.csum_offset) < 0)
				return -EINVAL;
			pkt->rxflags = NETRXF_data_validated;
		}
	} else if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		pkt->rxflags = NETRXF_data_validated;
	}
	if (q->mcast_ctrl && !mcast_allowed(q->vif, frame))
		return -EINVAL;
	return 0;
}

static unsigned int rx_extras(const struct netback_queue *q,
			      const struct netback_rxpkt *pkt)
{
	return (pkt->gso_type ? 1 : 0) + (pkt->hash_type >= 0 ? 1 : 0) +
	       (q->xdp_headroom ? 1 : 0);
}

/* Slots the frame needs; 0 if it can never fit this guest. */
static unsigned int rx_slots(const struct netback_queue *q,
			     const struct netback_rxpkt *pkt)
{
	unsigned int first = XEN_PAGE_SIZE - q->xdp_headroom;
	unsigned int data = 1;

	if (pkt->len > first)
		data += (pkt->len - first + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE;
	if (data > 1 && !q->vif->feat.can_sg)
		return 0;
	return data + rx_extras(q, pkt);
}

/* Lay pkt over the requests from q->rx.req_cons on (enough are there). */
static void rx_place(struct netback_queue *q, struct rx_pass *p,
		     const struct netback_rxpkt *pkt)
{
	struct netif_extra_info ex[3];
	unsigned int nex = 0, off = 0, headroom = q->xdp_headroom;
	uint8_t *frame = pkt->buf + NETBACK_VNET_HDR_LEN;
	bool first = true;

	if (pkt->gso_type) {
		memset(&ex[nex], 0, sizeof(ex[0]));
		ex[nex].type = XEN_NETIF_EXTRA_TYPE_GSO;
		ex[nex].u.gso.type = pkt->gso_type;
		ex[nex].u.gso.size = pkt->gso_size;
		nex++;
	}
	if (pkt->hash_type >= 0) {
		memset(&ex[nex], 0, sizeof(ex[0]));
		ex[nex].type = XEN_NETIF_EXTRA_TYPE_HASH;
		ex[nex].u.hash.type = (uint8_t)pkt->hash_type;
		ex[nex].u.hash.algorithm =
		    XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
		memcpy(ex[nex].u.hash.value, &pkt->hash, 4);
		nex++;
	}
	if (headroom) {
		memset(&ex[nex], 0, sizeof(ex[0]));
		ex[nex].type = XEN_NETIF_EXTRA_TYPE_XDP;
		netback_extra_set_xdp(&ex[nex], (uint16_t)headroom);
		nex++;
	}

	while (first || off < pkt->len) {
		struct netif_rx_request req;
		struct netif_rx_response *rsp = &q->rxrsp[p->nrsp];
		unsigned int start = first ? headroom : 0;
		unsigned int take = pkt->len - off;
		struct xb_gnt_copy *seg;

		if (take > XEN_PAGE_SIZE - start)
			take = XEN_PAGE_SIZE - start;
		RING_COPY_REQUEST(&q->rx, q->rx.req_cons, &req);
		q->rx.req_cons++;
		seg = &q->rxsegs[p->nsegs];
		q->rxseg_rsp[p->nsegs++] = (uint16_t)p->nrsp;
		p->nrsp++;
		seg->to_guest = true;
		seg->domid = q->dev->domid;
		seg->ref = req.gref;
		seg->offset = (uint16_t)start;
		seg->len = (uint16_t)take;
		seg->local = frame + off;
		off += take;
		rsp->id = req.id;
		rsp->offset = (uint16_t)start;
		rsp->status = (int16_t)take;
		rsp->flags = off < pkt->len ? NETRXF_more_data : 0;
		if (first) {
			rsp->flags |= pkt->rxflags;
			if (nex)
				rsp->flags |= NETRXF_extra_info;
			/* Extras follow the first data slot. */
			for (unsigned int i = 0; i < nex; i++) {
				struct netif_extra_info *e =
				    (struct netif_extra_info *)&q
					->rxrsp[p->nrsp];

				RING_COPY_REQUEST(&q->rx, q->rx.req_cons, &req);
				q->rx.req_cons++;
				p->nrsp++;
				*e = ex[i];
				if (i + 1 < nex)
					e->flags |= XEN_NETIF_EXTRA_FLAG_MORE;
			}
			first = false;
		}
	}
	stat_add(&q->stats.rx_packets, 1);
	stat_add(&q->stats.rx_bytes, pkt->len);
}

static void rx_push(struct netback_queue *q, struct rx_pass *p)
{
	RING_IDX prod = q->rx.rsp_prod_pvt;
	struct xb_evtchn *ec = q->ec_rx ? q->ec_rx : q->ec_tx;
	int r = 0;

	if (p->nsegs) {
		r = xb_gnt_copy(q->vif->dev->plat, p->nsegs, q->rxsegs);
		for (unsigned int i = 0; i < p->nsegs; i++) {
			if (r < 0 || q->rxsegs[i].status != GNTST_okay) {
				q->rxrsp[q->rxseg_rsp[i]].status =
				    NETIF_RSP_ERROR;
			}
		}
	}
	for (unsigned int i = 0; i < p->nrsp; i++)
		*RING_GET_RESPONSE(&q->rx, prod + i) = q->rxrsp[i];
	q->rx.rsp_prod_pvt = prod + p->nrsp;
	wmb(); /* the guest sees responses before the index */
	q->rx.sring->rsp_prod = q->rx.rsp_prod_pvt;
	mb(); /* publish rsp_prod before reading rsp_event */
	if ((RING_IDX)(q->rx.rsp_prod_pvt -
		       __atomic_load_n(&q->rx.sring->rsp_event,
				       __ATOMIC_RELAXED)) <
	    (RING_IDX)(q->rx.rsp_prod_pvt - prod))
		xb_evtchn_notify(ec);
}

/* Next frame for this queue into the arena at p->pos: 1 got one, 0 none. */
static int rx_next(struct netback_queue *q, struct rx_pass *p,
		   struct netback_rxpkt *pkt)
{
	struct netback_fwd *f = NULL;
	ssize_t n;

	if (__atomic_load_n(&q->inbox_len_hint, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&q->inbox_lock);
		f = q->inbox_head;
		if (f) {
			q->inbox_head = f->next;
			if (!q->inbox_head)
				q->inbox_tail = &q->inbox_head;
			q->inbox_len--;
		}
		__atomic_store_n(&q->inbox_len_hint, q->inbox_len,
				 __ATOMIC_RELAXED);
		pthread_mutex_unlock(&q->inbox_lock);
	}
	pkt->buf = q->rx_arena + p->pos;
	if (f) {
		memcpy(pkt->buf, f->data, f->len);
		pkt->len = f->len - NETBACK_VNET_HDR_LEN;
		pkt->hash = f->hash;
		pkt->hash_type = f->hash_type;
		free(f);
		return 2; /* steered here already */
	}
	if (q->tap_paused)
		return 0;
	n = read(q->tapfd, pkt->buf, NETBACK_RX_BUF);
	if (n < 0)
		return 0; /* EAGAIN: drained; other errors: retried on POLLIN */
	if ((size_t)n <= NETBACK_VNET_HDR_LEN)
		return -1;
	pkt->len = (uint32_t)(n - NETBACK_VNET_HDR_LEN);
	pkt->hash_type = -1;
	return 1;
}

/* Steer by the guest's hash: true if pkt went to another queue. */
static bool rx_steer(struct netback_queue *q, struct netback_rxpkt *pkt)
{
	struct netback_vif *vif = q->vif;
	const struct netback_hash *h = &q->hash;
	unsigned int target;
	struct netback_fwd *f;
	uint32_t hash;
	int type;

	if (h->alg != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ)
		return false;
	if (netback_hash_frame(h, pkt->buf + NETBACK_VNET_HDR_LEN, pkt->len,
			       &hash, &type) < 0)
		return false;
	pkt->hash = hash;
	pkt->hash_type = (int8_t)type;
	if (vif->nqueues < 2)
		return false;
	target = h->size ? h->mapping[hash % h->size] : hash % vif->nqueues;
	if (target >= vif->nqueues || target == q->id)
		return false;
	f = malloc(sizeof(*f) + NETBACK_VNET_HDR_LEN + pkt->len);
	if (!f) {
		stat_add(&q->stats.rx_drops, 1);
		return true;
	}
	f->len = NETBACK_VNET_HDR_LEN + pkt->len;
	f->hash = hash;
	f->hash_type = (int8_t)type;
	memcpy(f->data, pkt->buf, f->len);
	netback_queue_forward(vif->queues[target], f);
	return true;
}

static void tap_pause(struct netback_queue *q, bool pause)
{
	if (q->tap_paused == pause)
		return;
	q->tap_paused = pause;
	xb_worker_mod_fd(q->worker, q->tapfd, pause ? 0 : EPOLLIN);
}

static void rx_stall(struct netback_queue *q)
{
	struct netback_vif *vif = q->vif;

	q->rx_stalled = true;
	pthread_mutex_lock(&vif->lock);
	if (vif->stalled_queues++ == 0) {
		netback_tap_carrier(vif, false);
		dev_info(q->dev,
			 "%s: guest rx stalled (queue %u: no buffer for "
			 "%llu ms): carrier off",
			 vif->ifname, q->id,
			 (unsigned long long)vif->rx_stall_usec / 1000);
	}
	pthread_mutex_unlock(&vif->lock);
}

static void rx_unstall(struct netback_queue *q)
{
	struct netback_vif *vif = q->vif;

	q->rx_stalled = false;
	q->rx_last = netback_coarse_usec();
	pthread_mutex_lock(&vif->lock);
	if (--vif->stalled_queues == 0) {
		netback_tap_carrier(vif, true);
		dev_info(q->dev, "%s: guest rx ready (queue %u): carrier on",
			 vif->ifname, q->id);
	}
	pthread_mutex_unlock(&vif->lock);
}

static bool ring_empty(const struct netback_queue *q)
{
	return __atomic_load_n(&q->rx.sring->req_prod, __ATOMIC_ACQUIRE) ==
	       q->rx.req_cons;
}

/*
 * After a pass or a timer: the queue is stalled if its ring has had no
 * buffer for rx_stall_usec since the guest last took a frame (Linux's
 * test, whether or not a frame waits); then the rx timer is armed for the
 * nearest deadline to come, that stall or the drain of a waiting frame,
 * unless it already fires sooner. A busy guest's ring empties often: the
 * timer is set then at most once per stall period.
 */
static void rx_timer_update(struct netback_queue *q)
{
	const struct netback_vif *vif = q->vif;
	bool stall = vif->rx_stall_usec && !q->rx_stalled && ring_empty(q);
	uint64_t now, at = 0, d;
	struct itimerspec its = {0};

	if (!stall && !q->rx_wait_since)
		return;
	now = netback_coarse_usec();
	if (q->rx_wait_since)
		at = q->rx_wait_since + vif->rx_drain_usec;
	if (stall) {
		uint64_t s = q->rx_last + vif->rx_stall_usec;

		if (s > now) {
			if (!at || s < at)
				at = s;
		} else {
			/* The guest's next buffer must kick us, waiting frame
			 * or not: that is what ends the stall. */
			q->rx.sring->req_event = q->rx.req_cons + 1;
			mb(); /* req_event before we look at req_prod again */
			if (ring_empty(q))
				rx_stall(q);
		}
	}
	if (!at || (q->rx_timer_at && q->rx_timer_at <= at))
		return;
	d = at > now ? at - now : 1;
	its.it_value.tv_sec = (time_t)(d / 1000000);
	its.it_value.tv_nsec = (long)(d % 1000000) * 1000;
	if (timerfd_settime(q->rx_timerfd, 0, &its, NULL) < 0) {
		dev_warn_errno(q->dev, -errno, "queue %u: rx timer", q->id);
		return;
	}
	q->rx_timer_at = at;
}

void netback_rx_stop(struct netback_queue *q)
{
	if (!q->rx_stalled)
		return;
	q->rx_stalled = false;
	pthread_mutex_lock(&q->vif->lock);
	q->vif->stalled_queues--;
	pthread_mutex_unlock(&q->vif->lock);
}

/*
 * Drop what has waited for the guest's buffers since rx_wait_since: the
 * frame at the arena's head, the tap queue's (read until it is empty, at
 * most twice its default length: later arrivals are the next wait's), the
 * inbox. Then the tap is read again.
 */
static void rx_drain(struct netback_queue *q)
{
	unsigned int n = q->rx_pending;

	q->rx_pending = 0;
	while (n < 2048 && read(q->tapfd, q->rx_arena, NETBACK_RX_BUF) >= 0)
		n++;
	n += netback_queue_inbox_purge(q);
	stat_add(&q->stats.rx_drops, n);
	dev_debug(q->dev,
		  "queue %u: %u frame%s dropped after %llu ms without rx "
		  "buffers",
		  q->id, n, n == 1 ? "" : "s",
		  (unsigned long long)q->vif->rx_drain_usec / 1000);
	q->rx_wait_since = 0;
	tap_pause(q, false);
}

void netback_rx_timer(struct netback_queue *q)
{
	q->rx_timer_at = 0;
	/* Buffers may have come without a kick (no feature-rx-notify). */
	netback_rx_run(q);
	if (q->broken)
		return;
	if (q->rx_wait_since &&
	    netback_coarse_usec() - q->rx_wait_since >= q->vif->rx_drain_usec) {
		rx_drain(q);
		/* What the tap holds now came later: serve it (it may wait). */
		netback_rx_run(q);
		if (q->broken)
			return;
	}
	rx_timer_update(q);
}

/*
 * One pass. Returns 1 if there may be more to do now, 0 if the queue is
 * idle (tap drained or waiting for buffers).
 */
static int rx_pass(struct netback_queue *q)
{
	struct rx_pass p = {.start = q->rx.rsp_prod_pvt};
	struct netback_rxpkt *wait = NULL;
	RING_IDX prod;
	unsigned int avail;
	bool drained = false;

	prod = __atomic_load_n(&q->rx.sring->req_prod, __ATOMIC_ACQUIRE);
	if (prod - q->rx.req_cons > NETBACK_RX_RING_SIZE) {
		netback_queue_broken(q, "impossible number of rx requests");
		return 0;
	}
	avail = prod - q->rx.req_cons;
	if (q->rx_stalled && avail)
		rx_unstall(q);

	while (p.npkts < NETBACK_BATCH &&
	       NETBACK_ARENA_SIZE - p.pos >= NETBACK_RX_BUF + 64) {
		struct netback_rxpkt *pkt = &q->rxpkts[p.npkts];
		unsigned int need;
		int r;

		if (q->rx_pending) {
			/* Waited at the arena's head since the last pass. */
			q->rx_pending = 0;
		} else {
			r = rx_next(q, &p, pkt);
			if (r == 0) {
				drained = true;
				break;
			}
			/* Steer before preparing: the target prepares it. */
			if (r == 1 && rx_steer(q, pkt))
				continue;
			if (r < 0 || rx_prepare(q, pkt) < 0) {
				stat_add(&q->stats.rx_drops, 1);
				continue;
			}
		}
		need = rx_slots(q, pkt);
		if (!need) {
			stat_add(&q->stats.rx_drops, 1);
			continue;
		}
		if (need > avail) {
			wait = pkt;
			break;
		}
		avail -= need;
		rx_place(q, &p, pkt);
		p.pos += (NETBACK_VNET_HDR_LEN + pkt->len + 63) & ~(size_t)63;
		p.npkts++;
	}
	if (p.nrsp)
		rx_push(q, &p);
	if (p.npkts)
		q->rx_last = netback_coarse_usec();
	if (wait) {
		/* Keep it for the next pass, at the head of the arena. */
		if (wait != &q->rxpkts[0] || wait->buf != q->rx_arena) {
			memmove(q->rx_arena, wait->buf,
				NETBACK_VNET_HDR_LEN + wait->len);
			q->rxpkts[0] = *wait;
			q->rxpkts[0].buf = q->rx_arena;
		}
		q->rx_pending = 1;
		q->rx.sring->req_event = prod + 1;
		mb(); /* req_event before we look at req_prod again */
		if (__atomic_load_n(&q->rx.sring->req_prod, __ATOMIC_ACQUIRE) !=
		    prod)
			return 1;
		tap_pause(q, true);
		if (!q->rx_wait_since)
			q->rx_wait_since = netback_coarse_usec();
		rx_timer_update(q);
		return 0;
	}
	q->rx_wait_since = 0;
	tap_pause(q, false);
	if (drained)
		rx_timer_update(q);
	return drained ? 0 : 1;
}

/* Serve frames for the guest until the tap is drained or the guest's
 * buffers run out; bounded so one busy queue cannot starve a worker. */
void netback_rx_run(struct netback_queue *q)
{
	refresh_hash(q);
	for (int i = 0; i < 8 && !q->broken; i++)
		if (!rx_pass(q))
			break;
	/* Frames left in the inbox: wake ourselves for them. */
	if (!q->broken &&
	    __atomic_load_n(&q->inbox_len_hint, __ATOMIC_RELAXED)) {
		uint64_t one = 1;

		if (write(q->inboxfd, &one, sizeof(one)) < 0)
			dev_warn_errno(q->dev, -errno, "queue %u: inbox",
				       q->id);
	}
}
