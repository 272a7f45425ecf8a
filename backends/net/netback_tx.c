/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest transmit: tx ring -> tap.
 *
 * One pass gathers up to NETBACK_BATCH packets (first slot, extra-info
 * slots, the more_data chain), grant-copies all their data into the
 * queue's arena in one batch, answers every slot in ring order (the data
 * is ours by then: the guest refills its ring while we write), and writes
 * each frame to the tap queue behind a virtio_net_hdr built from the GSO
 * extra and the checksum flags. The writes of a pass go in one
 * io_uring submission: one syscall, and one chance of being preempted by
 * the receivers they wake, per pass instead of per frame.
 *
 * Untrusted: req_prod and every request. req_prod is read once per pass and
 * bounded by our own req_cons; each slot is copied once (RING_COPY_REQUEST)
 * and only the copy is used. Checks follow Linux's xenvif_count_requests
 * and xenvif_get_extras: what only hurts the packet drops it with an error
 * response, what breaks the ring (a packet running past req_prod, too many
 * slots, a slot crossing its page, an unknown extra type, a bad GSO extra)
 * takes the vif down.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "netback.h"
#include "xb_log.h"

#define ETH_HLEN_ 14

static inline void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* Linux's tx_add_credit: a burst big enough for a 128 KiB packet. */
static void tx_add_credit(struct netback_queue *q)
{
	uint64_t max_burst =
	    q->credit_bytes > 131072 ? q->credit_bytes : 131072;
	uint64_t c = q->remaining_credit + q->credit_bytes;

	if (c < q->remaining_credit)
		c = UINT64_MAX;
	q->remaining_credit = c < max_burst ? c : max_burst;
}

/* True if size bytes may go now; else arms the window timer. */
static bool tx_credit_ok(struct netback_queue *q, uint32_t size)
{
	uint64_t now, next;
	struct itimerspec its = {0};

	if (q->credit_bytes == UINT64_MAX || !q->credit_usec)
		return true;
	if (size <= q->remaining_credit)
		return true;
	now = netback_now_usec();
	next = q->credit_window_start + q->credit_usec;
	if (now >= next) {
		q->credit_window_start = now;
		next = now + q->credit_usec;
		tx_add_credit(q);
		if (size <= q->remaining_credit)
			return true;
	}
	its.it_value.tv_sec = (time_t)((next - now) / 1000000);
	its.it_value.tv_nsec = (long)((next - now) % 1000000) * 1000;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	timerfd_settime(q->timerfd, 0, &its, NULL);
	q->rate_limited = true;
	return false;
}

/* Per-pass state. */
struct tx_pass {
	unsigned int npkts, nsegs, nrsp;
	size_t pos; /* in the arena */
};

static void stage_rsp(struct netback_queue *q, struct tx_pass *p, uint16_t id,
		      int16_t status)
{
	q->txrsp[p->nrsp].id = id;
	q->txrsp[p->nrsp].status = status;
	p->nrsp++;
}

/* Set every data slot of the packet starting at first_rsp to status. */
static void pkt_status(struct netback_queue *q, unsigned int first_rsp,
		       unsigned int nslots, int16_t status)
{
	for (unsigned int i = first_rsp; i < first_rsp + nslots; i++)
		if (q->txrsp[i].status != NETIF_RSP_NULL)
			q->txrsp[i].status = status;
}

static int mcast_update(struct netback_vif *vif, const uint8_t *addr, bool add)
{
	int r = 0;

	pthread_mutex_lock(&vif->lock);
	for (unsigned int i = 0; i < vif->nmcast; i++) {
		if (!memcmp(vif->mcast[i], addr, 6)) {
			if (!add)
				memcpy(vif->mcast[i], vif->mcast[--vif->nmcast],
				       6);
			goto out;
		}
	}
	if (add) {
		if (vif->nmcast == NETBACK_MCAST_MAX)
			r = -ENOSPC;
		else
			memcpy(vif->mcast[vif->nmcast++], addr, 6);
	}
out:
	pthread_mutex_unlock(&vif->lock);
	return r;
}

/*
 * Gather the packet whose first slot (already copied) is at *cons. Returns
 * 1 if it was gathered for transmission, 0 if it was consumed and answered
 * without transmission (dropped, multicast control), -EPROTO if the guest
 * broke the ring (the queue is then broken).
 */
static int tx_gather(struct netback_queue *q, struct tx_pass *p, RING_IDX *cons,
		     RING_IDX prod, const struct netif_tx_request *first)
{
	struct netif_extra_info extras[NETBACK_EXTRA_TYPE_MAX - 1];
	struct netif_tx_request slots[NETBACK_SLOTS_FATAL];
	struct netback_txpkt *pkt = &q->txpkts[p->npkts];
	unsigned int first_rsp = p->nrsp, nslots = 1, i;
	RING_IDX idx = *cons + 1;
	uint32_t remaining = first->size, acc;
	uint16_t flags = first->flags;
	bool drop = false;

	memset(extras, 0, sizeof(extras));
	slots[0] = *first;
	stage_rsp(q, p, first->id, NETIF_RSP_OKAY);

	if (first->flags & NETTXF_extra_info) {
		for (;;) {
			struct netif_extra_info e;

			if (idx == prod) {
				netback_queue_broken(q, "missing extra info");
				return -EPROTO;
			}
			RING_COPY_REQUEST(&q->tx, idx, &slots[1]);
			memcpy(&e, &slots[1], sizeof(e));
			idx++;
			stage_rsp(q, p, 0, NETIF_RSP_NULL);
			if (e.type == XEN_NETIF_EXTRA_TYPE_NONE ||
			    e.type >= NETBACK_EXTRA_TYPE_MAX) {
				netback_queue_broken(q, "invalid extra type");
				return -EPROTO;
			}
			extras[e.type - 1] = e;
			if (!(e.flags & XEN_NETIF_EXTRA_FLAG_MORE))
				break;
		}
	}

	/* Multicast control: the packet only carries the address (Linux
	 * consumes the first slot and its extras, nothing more). */
	if (extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].type ||
	    extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].type) {
		int r = 0;

		if (extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].type)
			r = mcast_update(
			    q->vif,
			    extras[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1]
				.u.mcast.addr,
			    true);
		if (extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].type)
			mcast_update(q->vif,
				     extras[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1]
					 .u.mcast.addr,
				     false);
		pkt_status(q, first_rsp, p->nrsp - first_rsp,
			   r ? NETIF_RSP_ERROR : NETIF_RSP_OKAY);
		*cons = idx;
		return 0;
	}

	while (flags & NETTXF_more_data) {
		struct netif_tx_request *s;

		if (nslots >= NETBACK_SLOTS_FATAL) {
			netback_queue_broken(q, "too many slots");
			return -EPROTO;
		}
		if (idx == prod) {
			netback_queue_broken(q, "packet runs past req_prod");
			return -EPROTO;
		}
		s = &slots[nslots];
		RING_COPY_REQUEST(&q->tx, idx, s);
		idx++;
		stage_rsp(q, p, s->id, NETIF_RSP_OKAY);
		if (!drop && nslots >= NETBACK_SLOTS_MAX)
			drop = true; /* too many slots for a legacy frontend */
		if (!drop && s->size > remaining)
			drop = true; /* fragments larger than the packet */
		if ((uint32_t)s->offset + s->size > XEN_PAGE_SIZE) {
			netback_queue_broken(q, "slot crosses its page");
			return -EPROTO;
		}
		if (!drop)
			remaining -= s->size;
		flags = s->flags;
		nslots++;
	}
	*cons = idx;

	/* What is left of the total is the first slot's own data. */
	if (!drop && (uint32_t)first->offset + remaining > XEN_PAGE_SIZE) {
		netback_queue_broken(q, "first slot crosses its page");
		return -EPROTO;
	}
	if (drop || remaining < ETH_HLEN_) {
		pkt_status(q, first_rsp, p->nrsp - first_rsp, NETIF_RSP_ERROR);
		stat_add(&q->stats.tx_errors, 1);
		return 0;
	}
	memset(&pkt->gso, 0, sizeof(pkt->gso));
	if (extras[XEN_NETIF_EXTRA_TYPE_GSO - 1].type) {
		const struct netif_extra_info *g =
		    &extras[XEN_NETIF_EXTRA_TYPE_GSO - 1];

		if (g->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
		    g->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6) {
			netback_queue_broken(q, "bad GSO type");
			return -EPROTO;
		}
		if (!g->u.gso.size) {
			netback_queue_broken(q, "GSO size must not be zero");
			return -EPROTO;
		}
		pkt->gso = *g;
	}

	pkt->buf = q->tx_arena + p->pos;
	pkt->len = first->size;
	pkt->flags = first->flags;
	pkt->first_rsp = (uint16_t)first_rsp;
	pkt->nslots = (uint16_t)(p->nrsp - first_rsp);
	pkt->first_seg = (uint16_t)p->nsegs;
	acc = 0;
	for (i = 0; i < nslots; i++) {
		uint32_t len = i == 0 ? remaining : slots[i].size;
		struct xb_gnt_copy *seg;

		if (!len)
			continue;
		seg = &q->txsegs[p->nsegs++];
		seg->to_guest = false;
		seg->domid = q->dev->domid;
		seg->ref = slots[i].gref;
		seg->offset = slots[i].offset;
		seg->len = (uint16_t)len;
		seg->local = pkt->buf + NETBACK_VNET_HDR_LEN + acc;
		acc += len;
	}
	pkt->nsegs = (uint16_t)(p->nsegs - pkt->first_seg);
	p->pos += (NETBACK_VNET_HDR_LEN + pkt->len + 63) & ~(size_t)63;
	p->npkts++;
	return 1;
}

/* Builds the virtio header; 0, or -EINVAL if the frame cannot carry what
 * the flags ask (it is then dropped, as netback's checksum_setup does). */
static int tx_vnet_hdr(struct netback_txpkt *pkt)
{
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)pkt->buf;
	uint8_t *frame = pkt->buf + NETBACK_VNET_HDR_LEN;
	struct netback_l4 l;
	bool partial = pkt->flags & NETTXF_csum_blank;
	bool gso = pkt->gso.type != 0;

	memset(h, 0, sizeof(*h));
	if (!partial && !gso) {
		if (pkt->flags & NETTXF_data_validated)
			h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
		return 0;
	}
	if (netback_parse_l4(frame, pkt->len, &l) < 0)
		return -EINVAL;
	/* A GSO packet must be partial; some frontends forget the flag, so
	 * recompute the pseudo-header sum as Linux does. */
	if (gso && !partial)
		netback_set_pseudo_csum(frame, pkt->len, &l);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = l.l4_off;
	h->csum_offset = l.csum_off;
	if (gso) {
		bool v4 = pkt->gso.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4;

		if (l.l4_proto != IPPROTO_TCP ||
		    (v4 ? l.l3_proto != 0x0800 : l.l3_proto != 0x86dd))
			return -EINVAL;
		h->gso_type =
		    v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		h->gso_size = pkt->gso.u.gso.size;
		h->hdr_len = (uint16_t)(l.l4_off + l.l4_hlen);
	}
	return 0;
}

static void tx_push(struct netback_queue *q, struct tx_pass *p)
{
	RING_IDX i, prod = q->tx.rsp_prod_pvt;
	bool notify;

	for (i = 0; i < p->nrsp; i++)
		*RING_GET_RESPONSE(&q->tx, prod + i) = q->txrsp[i];
	q->tx.rsp_prod_pvt = prod + p->nrsp;
	wmb(); /* the guest sees responses before the index */
	q->tx.sring->rsp_prod = q->tx.rsp_prod_pvt;
	mb(); /* publish rsp_prod before reading rsp_event */
	/* Untrusted rsp_event: read once; it only decides a notification. */
	notify = (RING_IDX)(q->tx.rsp_prod_pvt -
			    __atomic_load_n(&q->tx.sring->rsp_event,
					    __ATOMIC_RELAXED)) <
		 (RING_IDX)(q->tx.rsp_prod_pvt - prod);
	if (notify)
		xb_evtchn_notify(q->ec_tx);
}

int netback_tx_uring_init(struct netback_queue *q)
{
	/* The worker is the only submitter; completions are all reaped in
	 * the submitting call. Older kernels refuse the flags: retry bare. */
	static const unsigned int flags[] = {
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, 0};
	struct io_uring *ring = calloc(1, sizeof(*ring));
	int err = -EINVAL;

	if (!ring)
		return -ENOMEM;
	for (unsigned int i = 0; err == -EINVAL && i < 2; i++)
		err = io_uring_queue_init(NETBACK_BATCH, ring, flags[i]);
	if (err) {
		free(ring);
		return err;
	}
	q->tx_uring = ring;
	return 0;
}

void netback_tx_uring_fini(struct netback_queue *q)
{
	if (!q->tx_uring)
		return;
	io_uring_queue_exit(q->tx_uring);
	free(q->tx_uring);
	q->tx_uring = NULL;
}

static void tx_sent(struct netback_queue *q, int res, uint32_t len)
{
	if (res < 0) {
		/* Accepted from the guest, lost on our side. */
		stat_add(&q->stats.tx_errors, 1);
		return;
	}
	stat_add(&q->stats.tx_packets, 1);
	stat_add(&q->stats.tx_bytes, len);
}

/*
 * Write the n frames queued as SQEs and reap their completions. A ring
 * that fails to submit is given up (its frames counted lost: we cannot
 * tell which went out) and the queue falls back to write().
 */
static void tx_uring_flush(struct netback_queue *q, unsigned int n)
{
	struct io_uring *ring = q->tx_uring;
	struct io_uring_cqe *cqe;
	unsigned int done = 0, head;
	int r;

	if (!n)
		return;
	r = io_uring_submit_and_wait(ring, n);
	if (r != (int)n) {
		dev_warn_errno(q->dev, r < 0 ? r : -EIO,
			       "queue %u: tap writes through io_uring, "
			       "falling back to write()",
			       q->id);
		stat_add(&q->stats.tx_errors, n);
		netback_tx_uring_fini(q);
		return;
	}
	while (done < n) {
		unsigned int seen = 0;

		io_uring_for_each_cqe(ring, head, cqe)
		{
			tx_sent(q, cqe->res, (uint32_t)cqe->user_data);
			seen++;
		}
		/* Advance by what this round reaped, not the running total:
		 * moving the head past the tail makes the kernel see a full
		 * CQ and the next wait never end. */
		io_uring_cq_advance(ring, seen);
		done += seen;
		if (done < n && (r = io_uring_wait_cqe(ring, &cqe)) < 0) {
			/* Cannot happen: the writes were submitted. */
			dev_warn_errno(q->dev, r, "queue %u: tap writes",
				       q->id);
			netback_tx_uring_fini(q);
			return;
		}
	}
}

/* One pass over what the guest has produced up to prod. */
static void tx_pass(struct netback_queue *q, RING_IDX prod)
{
	struct tx_pass p = {0};
	RING_IDX cons = q->tx.req_cons;
	unsigned int nsqe = 0;
	int r;

	while (cons != prod && p.npkts < NETBACK_BATCH &&
	       NETBACK_ARENA_SIZE - p.pos >=
		   NETBACK_VNET_HDR_LEN + NETBACK_MAX_FRAME + 64) {
		struct netif_tx_request first;

		RING_COPY_REQUEST(&q->tx, cons, &first);
		if (!tx_credit_ok(q, first.size))
			break;
		r = tx_gather(q, &p, &cons, prod, &first);
		if (r < 0)
			return;
		if (r > 0 && q->credit_bytes != UINT64_MAX)
			q->remaining_credit -= first.size;
	}
	q->tx.req_cons = cons;

	if (p.nsegs) {
		r = xb_gnt_copy(q->vif->dev->plat, p.nsegs, q->txsegs);
		if (r < 0) {
			/* The copy did not run at all: fail every segment. */
			for (unsigned int i = 0; i < p.nsegs; i++)
				q->txsegs[i].status = GNTST_general_error;
		}
	}
	for (unsigned int i = 0; i < p.npkts; i++) {
		struct netback_txpkt *pkt = &q->txpkts[i];
		uint32_t len = NETBACK_VNET_HDR_LEN + pkt->len;
		struct io_uring_sqe *sqe;
		bool ok = true;

		for (unsigned int s = 0; s < pkt->nsegs; s++)
			ok &=
			    q->txsegs[pkt->first_seg + s].status == GNTST_okay;
		if (!ok) {
			pkt_status(q, pkt->first_rsp, pkt->nslots,
				   NETIF_RSP_ERROR);
			stat_add(&q->stats.tx_errors, 1);
			continue;
		}
		if (tx_vnet_hdr(pkt) < 0) {
			stat_add(&q->stats.tx_errors, 1);
			continue;
		}
		/* At most NETBACK_BATCH frames: the SQ has room. */
		sqe = q->tx_uring ? io_uring_get_sqe(q->tx_uring) : NULL;
		if (sqe) {
			io_uring_prep_write(sqe, q->tapfd, pkt->buf, len, 0);
			sqe->user_data = pkt->len;
			nsqe++;
			continue;
		}
		tx_sent(q, write(q->tapfd, pkt->buf, len) < 0 ? -errno : 0,
			pkt->len);
	}
	/* The data is ours now: give the guest its slots back before the
	 * writes, so that it refills the ring while we write. */
	if (p.nrsp)
		tx_push(q, &p);
	if (q->tx_uring)
		tx_uring_flush(q, nsqe);
}

/* Serve the tx ring until it is empty, rate-limited or broken. */
void netback_tx_run(struct netback_queue *q)
{
	while (!q->broken && !q->rate_limited) {
		RING_IDX prod, cons = q->tx.req_cons;

		prod =
		    __atomic_load_n(&q->tx.sring->req_prod, __ATOMIC_ACQUIRE);
		if (prod - cons > NETBACK_TX_RING_SIZE) {
			netback_queue_broken(q, "impossible number of tx "
						"requests");
			return;
		}
		if (prod == cons) {
			/* Ask for a kick on the next request, then look
			 * again: one may have come in between. */
			q->tx.sring->req_event = cons + 1;
			mb();
			if (__atomic_load_n(&q->tx.sring->req_prod,
					    __ATOMIC_ACQUIRE) == cons)
				return;
			continue;
		}
		tx_pass(q, prod);
	}
}
