/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control ring (feature-ctrl-ring): the frontend sets the receive
 * hash (algorithm, flags, Toeplitz key, queue mapping), which chooses the
 * queue a frame from the tap reaches the guest on and is passed along as a
 * hash extra. Semantics follow Linux's xen-netback hash.c.
 *
 * The ring is served on a worker of its own choosing. The hash lives in the
 * vif under vif->lock; every change bumps vif->hash_gen and the rx queues
 * take a copy when they see it move.
 *
 * Untrusted: req_prod and every request (copied once); the key and mapping
 * are grant-copied into private memory and validated there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define XEN_NETIF_DEFINE_TOEPLITZ
#include "netback.h"
#include "xb_log.h"
#include "xb_worker.h"

struct netback_ctrl {
	struct netback_vif *vif;
	struct xb_worker *worker;
	struct xb_evtchn *ec;
	void *va;
	xen_netif_ctrl_back_ring_t ring;
	bool broken;
};

static int gcopy(struct netback_ctrl *c, xb_gref_t ref, void *buf, uint16_t len)
{
	struct xb_gnt_copy seg = {
	    .to_guest = false,
	    .domid = c->vif->dev->domid,
	    .ref = ref,
	    .offset = 0,
	    .len = len,
	    .local = buf,
	};
	int r = xb_gnt_copy(c->vif->dev->plat, 1, &seg);

	if (r < 0)
		return r;
	return seg.status == GNTST_okay ? 0 : -EACCES;
}

/* Handles one request (our copy); returns a XEN_NETIF_CTRL_STATUS_*. */
static uint32_t ctrl_op(struct netback_ctrl *c,
			const struct xen_netif_ctrl_request *req,
			uint32_t *data)
{
	struct netback_vif *vif = c->vif;
	struct netback_hash *h = &vif->hash;
	uint32_t st = XEN_NETIF_CTRL_STATUS_SUCCESS;
	uint32_t buf[NETBACK_HASH_MAPPING_SIZE];
	uint8_t key[NETBACK_HASH_KEY_SIZE];

	*data = 0;
	switch (req->type) {
	case XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS:
		*data = NETBACK_HASH_FLAGS;
		return st;
	case XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
		*data = NETBACK_HASH_MAPPING_SIZE;
		return st;
	case XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: {
		uint32_t len = req->data[1];

		if (len > NETBACK_HASH_KEY_SIZE)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		memset(key, 0, sizeof(key));
		if (len && gcopy(c, req->data[0], key, (uint16_t)len) < 0)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		memcpy(h->key, key, sizeof(key));
		break;
	}
	case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: {
		uint32_t len = req->data[1], off = req->data[2];

		pthread_mutex_lock(&vif->lock);
		if (off > h->size || len > h->size - off ||
		    len > XB_PAGE_SIZE / sizeof(uint32_t)) {
			pthread_mutex_unlock(&vif->lock);
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		}
		pthread_mutex_unlock(&vif->lock);
		if (len && gcopy(c, req->data[0], buf,
				 (uint16_t)(len * sizeof(uint32_t))) < 0)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		for (uint32_t i = 0; i < len; i++)
			if (buf[i] >= vif->nqueues)
				return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		/* The size may not change under us: only this ring sets it. */
		memcpy(&h->mapping[off], buf, len * sizeof(uint32_t));
		break;
	}
	case XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
		if (req->data[0] & ~(uint32_t)NETBACK_HASH_FLAGS)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		if (h->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) {
			pthread_mutex_unlock(&vif->lock);
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		}
		h->flags = req->data[0];
		break;
	case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
		if (req->data[0] > NETBACK_HASH_MAPPING_SIZE)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		h->size = req->data[0];
		memset(h->mapping, 0, sizeof(h->mapping));
		break;
	case XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
		if (req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE &&
		    req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ)
			return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
		pthread_mutex_lock(&vif->lock);
		h->alg = req->data[0];
		if (h->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE)
			h->flags = 0;
		break;
	default:
		return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
	}
	__atomic_add_fetch(&vif->hash_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vif->lock);
	return st;
}

static void ctrl_run(struct netback_ctrl *c)
{
	for (;;) {
		RING_IDX prod, cons = c->ring.req_cons;
		bool pushed = false;

		prod =
		    __atomic_load_n(&c->ring.sring->req_prod, __ATOMIC_ACQUIRE);
		if (prod - cons > NETBACK_CTRL_RING_SIZE) {
			c->broken = true;
			xb_dev_fatal_async(c->vif->dev,
					   "impossible number of control "
					   "requests");
			return;
		}
		while (cons != prod) {
			struct xen_netif_ctrl_request req;
			struct xen_netif_ctrl_response *rsp;
			uint32_t data;

			RING_COPY_REQUEST(&c->ring, cons, &req);
			cons++;
			rsp = RING_GET_RESPONSE(&c->ring, c->ring.rsp_prod_pvt);
			rsp->status = ctrl_op(c, &req, &data);
			rsp->id = req.id;
			rsp->type = req.type;
			rsp->data = data;
			c->ring.rsp_prod_pvt++;
			pushed = true;
		}
		c->ring.req_cons = cons;
		if (pushed) {
			int notify;

			RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&c->ring, notify);
			if (notify)
				xb_evtchn_notify(c->ec);
			continue;
		}
		c->ring.sring->req_event = cons + 1;
		mb();
		if (__atomic_load_n(&c->ring.sring->req_prod,
				    __ATOMIC_ACQUIRE) == cons)
			return;
	}
}

static void ctrl_cb(int fd, uint32_t events, void *arg)
{
	struct netback_ctrl *c = arg;

	xb_evtchn_ack(c->ec);
	if (!c->broken)
		ctrl_run(c);
}

static int ctrl_start(void *arg)
{
	struct netback_ctrl *c = arg;
	int r;

	BACK_RING_INIT(&c->ring, (xen_netif_ctrl_sring_t *)c->va,
		       XEN_PAGE_SIZE);
	r = xb_worker_add_fd(c->worker, xb_evtchn_fd(c->ec), EPOLLIN, ctrl_cb,
			     c);
	if (r)
		return r;
	ctrl_run(c);
	return 0;
}

static int ctrl_stop(void *arg)
{
	struct netback_ctrl *c = arg;

	xb_worker_del_fd(c->worker, xb_evtchn_fd(c->ec));
	return 0;
}

/* Main thread. Returns 0 or -errno (nothing left behind). */
int netback_ctrl_connect(struct netback_vif *vif, xb_gref_t ref, uint32_t port)
{
	struct xb_device *dev = vif->dev;
	struct netback_ctrl *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->vif = vif;
	r = xb_gnt_map(dev->plat, dev->domid, 1, &ref, true, &c->va);
	if (r < 0) {
		dev_err_errno(dev, r, "mapping ctrl-ring-ref %u", ref);
		goto err_free;
	}
	r = dev->plat->ops->evtchn_bind(dev->plat, dev->domid, port, &c->ec);
	if (r < 0) {
		dev_err_errno(dev, r, "binding event-channel-ctrl %u", port);
		goto err_unmap;
	}
	c->worker = xb_workers_get(dev->workers);
	r = xb_worker_call(c->worker, ctrl_start, c);
	if (r < 0)
		goto err_put;
	vif->ctrl = c;
	return 0;

err_put:
	xb_worker_put(c->worker);
	xb_evtchn_unbind(c->ec);
err_unmap:
	xb_gnt_unmap(dev->plat, c->va, 1);
err_free:
	free(c);
	return r;
}

/* Main thread; accepts a vif without a control ring. */
void netback_ctrl_disconnect(struct netback_vif *vif)
{
	struct netback_ctrl *c = vif->ctrl;

	if (!c)
		return;
	xb_worker_call(c->worker, ctrl_stop, c);
	xb_worker_put(c->worker);
	xb_evtchn_unbind(c->ec);
	xb_gnt_unmap(vif->dev->plat, c->va, 1);
	free(c);
	vif->ctrl = NULL;
}

/* Returns 0 with *hash and *type (the _XEN_NETIF_CTRL_HASH_TYPE_ bit bit), or
 * -ENOENT when the frame is not of a type h hashes. */
int netback_hash_frame(const struct netback_hash *h, const uint8_t *frame,
		       uint32_t len, uint32_t *hash, int *type)
{
	uint8_t in[36];
	unsigned int n = 0;
	struct netback_l4 l;
	bool v4, tcp;
	int r;

	if (len < 14)
		return -ENOENT;
	r = netback_parse_l4(frame, len, &l);
	if (r < 0) {
		/* Not TCP/UDP (or a fragment): hash the addresses only. */
		l.l3_proto = (uint16_t)(frame[12] << 8 | frame[13]);
		l.l3_off = 14;
		l.l4_proto = 0;
		if (l.l3_proto == 0x0800   ? len < 34
		    : l.l3_proto == 0x86dd ? len < 54
					   : true)
			return -ENOENT;
	}
	v4 = l.l3_proto == 0x0800;
	tcp = r == 0 && l.l4_proto == 6;
	if (v4) {
		memcpy(in, frame + l.l3_off + 12, 8);
		n = 8;
	} else {
		memcpy(in, frame + l.l3_off + 8, 32);
		n = 32;
	}
	if (tcp && (h->flags & (v4 ? XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
				   : XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP))) {
		memcpy(in + n, frame + l.l4_off, 4);
		n += 4;
		*type = v4 ? _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
			   : _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
	} else if (h->flags & (v4 ? XEN_NETIF_CTRL_HASH_TYPE_IPV4
				  : XEN_NETIF_CTRL_HASH_TYPE_IPV6)) {
		*type = v4 ? _XEN_NETIF_CTRL_HASH_TYPE_IPV4
			   : _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
	} else {
		return -ENOENT;
	}
	*hash = xen_netif_toeplitz_hash(h->key, sizeof(h->key), in, n);
	return 0;
}
