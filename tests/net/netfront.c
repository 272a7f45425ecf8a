/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "netfront.h"

/* ---- toolstack ---- */

static void vif_paths(const struct nf_opts *o, char *be, size_t bl, char *fe,
		      size_t fl)
{
	if (be)
		snprintf(be, bl, "/local/domain/0/backend/vif/%u/%u", o->domid,
			 o->devid);
	if (fe)
		snprintf(fe, fl, "/local/domain/%u/device/vif/%u", o->domid,
			 o->devid);
}

static int wr(struct xs_handle *xs, xs_transaction_t t, const char *dir,
	      const char *key, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (!xs_write(xs, t, path, val, strlen(val)))
		return -errno;
	return 0;
}

/* backend/vif as libxl writes it (ts_dev_add does the common part). */
int nf_vif_add(struct xs_handle *xs, const struct nf_opts *o)
{
	char be[128], fe[128], handle[16], mtu[16], mac[32];
	const char *be_kv[24], *fe_kv[8];
	int n = 0;

	vif_paths(o, be, sizeof(be), fe, sizeof(fe));
	snprintf(mac, sizeof(mac), "00:16:3e:%02x:%02x:%02x", o->domid & 0xff,
		 (o->devid >> 8) & 0xff, o->devid & 0xff);
	snprintf(handle, sizeof(handle), "%u", o->devid);
	snprintf(mtu, sizeof(mtu), "%u", o->mtu);
#define KV(a, k, val) (a[n++] = (k), a[n++] = (val))
	KV(be_kv, "script", "/etc/xen/scripts/vif-bridge");
	KV(be_kv, "mac", mac);
	KV(be_kv, "bridge", "xenbr0");
	KV(be_kv, "handle", handle);
	KV(be_kv, "type", "vif");
	if (o->vifname)
		KV(be_kv, "vifname", o->vifname);
	if (o->rate)
		KV(be_kv, "rate", o->rate);
	if (o->mtu)
		KV(be_kv, "mtu", mtu);
	be_kv[n] = NULL;
	n = 0;
	KV(fe_kv, "handle", handle);
	KV(fe_kv, "mac", mac);
	fe_kv[n] = NULL;
#undef KV
	return ts_dev_add(xs, be, fe, o->domid, be_kv, fe_kv);
}

void nf_kernel_name(const struct nf_opts *o, char name[16])
{
	snprintf(name, 16, "vif%u.%u", o->domid % 100000, o->devid % 100000);
}

int nf_vif_hotplug(struct xs_handle *xs, const struct nf_opts *o)
{
	char be[128];

	vif_paths(o, be, sizeof(be), NULL, 0);
	if (o->vifname) {
		struct ifreq ifr = {0};
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

		if (s < 0)
			return -errno;
		nf_kernel_name(o, ifr.ifr_name);
		snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", o->vifname);
		if (ioctl(s, SIOCSIFNAME, &ifr) < 0)
			r = -errno;
		close(s);
		if (r)
			return r;
	}
	return wr(xs, XBT_NULL, be, "hotplug-status", "connected");
}

int nf_vif_remove(struct xs_handle *xs, const struct nf_opts *o, int timeout_ms)
{
	char be[128], fe[128];
	int r;

	vif_paths(o, be, sizeof(be), fe, sizeof(fe));
	r = wr(xs, XBT_NULL, be, "online", "0");
	r = r ?: wr(xs, XBT_NULL, be, "state", "5");
	if (r)
		return r;
	r = ts_wait_state(xs, be, XenbusStateClosed, timeout_ms);
	xs_rm(xs, XBT_NULL, be);
	xs_rm(xs, XBT_NULL, fe);
	return r;
}

/* ---- frontend ---- */

void nf_init(struct netfront *nf, struct sg_domain *sg, struct xs_handle *xs,
	     const struct nf_opts *o)
{
	memset(nf, 0, sizeof(*nf));
	nf->sg = sg;
	nf->xs = xs;
	nf->o = *o;
	nf->nq = o->nqueues ? o->nqueues : 1;
	nf->ctrl_ref = nf->ctrl_port = -1;
	vif_paths(o, nf->be, sizeof(nf->be), nf->fe, sizeof(nf->fe));
}

static int fe_write(struct netfront *nf, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fe_write(struct netfront *nf, const char *key, const char *fmt, ...)
{
	char val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return wr(nf->xs, XBT_NULL, nf->fe, key, val);
}

static int page_grant(struct netfront *nf, void **va, int *ref, bool ro)
{
	uint32_t frame;

	*va = sg_page_alloc(nf->sg, &frame);
	if (!*va)
		return -ENOMEM;
	*ref = sg_grant_access(nf->sg, 0, frame, ro);
	return *ref < 0 ? *ref : 0;
}

static int queue_setup(struct netfront *nf, struct nf_queue *q)
{
	char pfx[24] = "", key[64];
	int r;

	q->nf = nf;
	r = page_grant(nf, &q->tx_ring, &q->tx_ring_ref, false);
	r = r ?: page_grant(nf, &q->rx_ring, &q->rx_ring_ref, false);
	if (r)
		return r;
	SHARED_RING_INIT((netif_tx_sring_t *)q->tx_ring);
	FRONT_RING_INIT(&q->tx, (netif_tx_sring_t *)q->tx_ring, XEN_PAGE_SIZE);
	SHARED_RING_INIT((netif_rx_sring_t *)q->rx_ring);
	FRONT_RING_INIT(&q->rx, (netif_rx_sring_t *)q->rx_ring, XEN_PAGE_SIZE);
	for (unsigned int i = 0; i < NF_TX_SIZE; i++) {
		void *va;

		r = page_grant(nf, &va, &q->txref[i], true);
		if (r)
			return r;
		q->txbuf[i] = va;
	}
	for (unsigned int i = 0; i < NF_RX_SIZE; i++) {
		void *va;

		r = page_grant(nf, &va, &q->rxref[i], false);
		if (r)
			return r;
		q->rxbuf[i] = va;
	}
	q->port_tx = sg_evtchn_alloc_unbound(nf->sg, 0);
	if (q->port_tx < 0)
		return q->port_tx;
	q->port_rx = q->port_tx;
	if (nf->o.split) {
		q->port_rx = sg_evtchn_alloc_unbound(nf->sg, 0);
		if (q->port_rx < 0)
			return q->port_rx;
	}
	if (nf->nq > 1)
		snprintf(pfx, sizeof(pfx), "queue-%u/", q->id);
	snprintf(key, sizeof(key), "%stx-ring-ref", pfx);
	r = fe_write(nf, key, "%d", q->tx_ring_ref);
	snprintf(key, sizeof(key), "%srx-ring-ref", pfx);
	r = r ?: fe_write(nf, key, "%d", q->rx_ring_ref);
	if (nf->o.split) {
		snprintf(key, sizeof(key), "%sevent-channel-tx", pfx);
		r = r ?: fe_write(nf, key, "%d", q->port_tx);
		snprintf(key, sizeof(key), "%sevent-channel-rx", pfx);
		r = r ?: fe_write(nf, key, "%d", q->port_rx);
	} else {
		snprintf(key, sizeof(key), "%sevent-channel", pfx);
		r = r ?: fe_write(nf, key, "%d", q->port_tx);
	}
	return r;
}

int nf_connect_start(struct netfront *nf, int timeout_ms)
{
	const struct nf_opts *o = &nf->o;
	int r;

	r = ts_wait_state(nf->xs, nf->be, XenbusStateInitWait, timeout_ms);
	if (r)
		return r;
	for (unsigned int i = 0; i < nf->nq; i++) {
		nf->q[i].id = i;
		r = queue_setup(nf, &nf->q[i]);
		if (r)
			return r;
	}
	if (nf->nq > 1)
		r = fe_write(nf, "multi-queue-num-queues", "%u", nf->nq);
	if (!r && o->ctrl) {
		r = page_grant(nf, &nf->ctrl_ring, &nf->ctrl_ref, false);
		if (r)
			return r;
		SHARED_RING_INIT((xen_netif_ctrl_sring_t *)nf->ctrl_ring);
		FRONT_RING_INIT(&nf->ctrl,
				(xen_netif_ctrl_sring_t *)nf->ctrl_ring,
				XEN_PAGE_SIZE);
		nf->ctrl_port = sg_evtchn_alloc_unbound(nf->sg, 0);
		if (nf->ctrl_port < 0)
			return nf->ctrl_port;
		r = fe_write(nf, "ctrl-ring-ref", "%d", nf->ctrl_ref);
		r = r
			?: fe_write(nf, "event-channel-ctrl", "%d",
				    nf->ctrl_port);
	}
	if (!r && !o->no_rx_copy)
		r = fe_write(nf, "request-rx-copy", "1");
	if (!r && !o->no_rx_notify)
		r = fe_write(nf, "feature-rx-notify", "1");
	r = r ?: fe_write(nf, "feature-sg", "%d", !o->no_sg);
	r = r ?: fe_write(nf, "feature-gso-tcpv4", "%d", !o->no_gso);
	r = r ?: fe_write(nf, "feature-gso-tcpv6", "%d", !o->no_gso);
	r = r ?: fe_write(nf, "feature-no-csum-offload", "%d", o->no_csum);
	r = r
		?: fe_write(nf, "feature-ipv6-csum-offload", "%d",
			    !o->no_ipv6_csum && !o->no_csum);
	if (!r && o->xdp_headroom)
		r = fe_write(nf, "xdp-headroom", "%u", o->xdp_headroom);
	if (!r && o->mcast_ctrl)
		r = fe_write(nf, "request-multicast-control", "1");
	r = r ?: fe_write(nf, "state", "%d", XenbusStateInitialised);
	if (r)
		return r;
	/* Like netfront: buffers go in before the backend connects. */
	for (unsigned int i = 0; i < nf->nq; i++)
		nf_rx_post(&nf->q[i]);
	return 0;
}

int nf_connect_finish(struct netfront *nf, int timeout_ms)
{
	int r;

	r = ts_wait_state(nf->xs, nf->be, XenbusStateConnected, timeout_ms);
	if (r)
		return r;
	r = fe_write(nf, "state", "%d", XenbusStateConnected);
	for (unsigned int i = 0; !r && i < nf->nq; i++) {
		sg_evtchn_notify(nf->sg, nf->q[i].port_tx);
		if (nf->q[i].port_rx != nf->q[i].port_tx)
			sg_evtchn_notify(nf->sg, nf->q[i].port_rx);
	}
	return r;
}

int nf_connect(struct netfront *nf, int timeout_ms)
{
	int r = nf_connect_start(nf, timeout_ms);

	return r ? r : nf_connect_finish(nf, timeout_ms);
}

static int end_grant(struct netfront *nf, int *ref)
{
	int r = 0;

	if (*ref >= 0)
		r = sg_grant_end(nf->sg, (uint32_t)*ref);
	*ref = -1;
	return r;
}

int nf_close(struct netfront *nf, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int r, bad = 0;

	r = fe_write(nf, "state", "%d", XenbusStateClosing);
	if (r)
		return r;
	for (;;) {
		long st = ts_read_int(nf->xs, nf->be, "state");

		if (st == XenbusStateClosing || st == XenbusStateClosed)
			break;
		if (ts_now_ms() > end)
			return -ETIMEDOUT;
		usleep(5000);
	}
	r = fe_write(nf, "state", "%d", XenbusStateClosed);
	if (r)
		return r;
	r = ts_wait_state(nf->xs, nf->be, XenbusStateClosed, timeout_ms);
	if (r)
		return r;
	for (unsigned int i = 0; i < nf->nq; i++) {
		struct nf_queue *q = &nf->q[i];

		bad |= end_grant(nf, &q->tx_ring_ref);
		bad |= end_grant(nf, &q->rx_ring_ref);
	}
	bad |= end_grant(nf, &nf->ctrl_ref);
	return bad ? -EBUSY : 0;
}

void nf_release(struct netfront *nf)
{
	for (unsigned int i = 0; i < nf->nq; i++) {
		struct nf_queue *q = &nf->q[i];

		end_grant(nf, &q->tx_ring_ref);
		end_grant(nf, &q->rx_ring_ref);
		for (unsigned int j = 0; j < NF_TX_SIZE; j++)
			if (q->txbuf[j])
				end_grant(nf, &q->txref[j]);
		for (unsigned int j = 0; j < NF_RX_SIZE; j++)
			if (q->rxbuf[j])
				end_grant(nf, &q->rxref[j]);
	}
	end_grant(nf, &nf->ctrl_ref);
}

int nf_restart(struct netfront *nf, int timeout_ms)
{
	static const char *const keys[] = {
	    "tx-ring-ref",
	    "rx-ring-ref",
	    "event-channel",
	    "event-channel-tx",
	    "event-channel-rx",
	    "multi-queue-num-queues",
	    "ctrl-ring-ref",
	    "event-channel-ctrl",
	    "xdp-headroom",
	    "request-multicast-control",
	    NULL,
	};
	char path[256];
	int r;

	for (int i = 0; keys[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", nf->fe, keys[i]);
		xs_rm(nf->xs, XBT_NULL, path);
	}
	for (unsigned int i = 0; i < NF_MAX_QUEUES; i++) {
		snprintf(path, sizeof(path), "%s/queue-%u", nf->fe, i);
		xs_rm(nf->xs, XBT_NULL, path);
	}
	r = fe_write(nf, "state", "%d", XenbusStateInitialising);
	return r
		   ?: ts_wait_state(nf->xs, nf->be, XenbusStateInitWait,
				    timeout_ms);
}

int nf_reconfigure_xdp(struct netfront *nf, uint16_t headroom, int timeout_ms)
{
	int r;

	r = fe_write(nf, "xdp-headroom", "%u", headroom);
	r = r ?: fe_write(nf, "state", "%d", XenbusStateReconfiguring);
	r = r
		?: ts_wait_state(nf->xs, nf->be, XenbusStateReconfigured,
				 timeout_ms);
	r = r ?: fe_write(nf, "state", "%d", XenbusStateConnected);
	return r
		   ?: ts_wait_state(nf->xs, nf->be, XenbusStateConnected,
				    timeout_ms);
}

int nf_set_mcast_ctrl(struct netfront *nf, bool on)
{
	return fe_write(nf, "request-multicast-control", "%d", on);
}

/* ---- tx ---- */

static int take_id(struct nf_queue *q)
{
	/* Ids come back about in order: look on from the last one taken. */
	for (unsigned int k = 0; k < NF_TX_SIZE; k++) {
		unsigned int i = (q->next_id + k) % NF_TX_SIZE;

		if (!q->txbusy[i]) {
			q->txbusy[i] = true;
			q->next_id = i + 1;
			return (int)i;
		}
	}
	return -EAGAIN;
}

static void tx_push(struct nf_queue *q)
{
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, notify);
	if (notify)
		sg_evtchn_notify(q->nf->sg, q->port_tx);
}

int nf_send(struct nf_queue *q, const uint8_t *frame, uint32_t len,
	    uint16_t csum, uint8_t gso_type, uint16_t gso_size,
	    uint16_t first_off)
{
	unsigned int first_len =
	    len < XEN_PAGE_SIZE - first_off ? len : XEN_PAGE_SIZE - first_off;
	unsigned int nslots = 1 + (gso_type ? 1 : 0), off;
	RING_IDX i = q->tx.req_prod_pvt;

	if (len > first_len)
		nslots += (len - first_len + XEN_PAGE_SIZE - 1) / XEN_PAGE_SIZE;
	if (RING_FREE_REQUESTS(&q->tx) < nslots ||
	    q->tx_inflight + nslots > NF_TX_SIZE)
		return -EAGAIN;
	for (off = 0; off < len || off == 0;) {
		bool first = off == 0;
		unsigned int chunk =
		    first ? first_len
			  : (len - off < XEN_PAGE_SIZE ? len - off
						       : XEN_PAGE_SIZE);
		struct netif_tx_request *req = RING_GET_REQUEST(&q->tx, i++);
		int id = take_id(q);

		if (id < 0)
			return id;
		if (frame)
			memcpy(q->txbuf[id] + (first ? first_off : 0),
			       frame + off, chunk);
		req->gref = (grant_ref_t)q->txref[id];
		req->offset = first ? first_off : 0;
		req->id = (uint16_t)id;
		req->size = (uint16_t)(first ? len : chunk);
		off += chunk;
		req->flags = off < len ? NETTXF_more_data : 0;
		if (first) {
			req->flags |= csum;
			if (gso_type) {
				struct netif_extra_info *e =
				    (struct netif_extra_info *)RING_GET_REQUEST(
					&q->tx, i++);

				req->flags |= NETTXF_extra_info;
				memset(e, 0, sizeof(*e));
				e->type = XEN_NETIF_EXTRA_TYPE_GSO;
				e->u.gso.type = gso_type;
				e->u.gso.size = gso_size;
			}
		}
		if (len == 0)
			break;
	}
	q->tx.req_prod_pvt = i;
	q->tx_inflight += nslots;
	if (!q->defer_push)
		tx_push(q);
	return (int)nslots;
}

int nf_send_mcast(struct nf_queue *q, const uint8_t addr[6], bool add)
{
	RING_IDX i = q->tx.req_prod_pvt;
	struct netif_tx_request *req;
	struct netif_extra_info *e;
	int id;

	if (RING_FREE_REQUESTS(&q->tx) < 2 || q->tx_inflight + 2 > NF_TX_SIZE)
		return -EAGAIN;
	id = take_id(q);
	if (id < 0)
		return id;
	req = RING_GET_REQUEST(&q->tx, i++);
	memset(req, 0, sizeof(*req));
	req->gref = (grant_ref_t)q->txref[id];
	req->id = (uint16_t)id;
	req->flags = NETTXF_extra_info;
	e = (struct netif_extra_info *)RING_GET_REQUEST(&q->tx, i++);
	memset(e, 0, sizeof(*e));
	e->type = add ? XEN_NETIF_EXTRA_TYPE_MCAST_ADD
		      : XEN_NETIF_EXTRA_TYPE_MCAST_DEL;
	memcpy(e->u.mcast.addr, addr, 6);
	q->tx.req_prod_pvt = i;
	q->tx_inflight += 2;
	tx_push(q);
	return 2;
}

void nf_tx_flush(struct nf_queue *q)
{
	tx_push(q);
}

int nf_send_raw(struct nf_queue *q, const struct netif_tx_request *slots,
		unsigned int n, RING_IDX prod_bump)
{
	RING_IDX i = q->tx.req_prod_pvt;

	for (unsigned int k = 0; k < n; k++)
		*RING_GET_REQUEST(&q->tx, i++) = slots[k];
	q->tx.req_prod_pvt = i + prod_bump;
	q->tx_inflight += n;
	tx_push(q);
	return 0;
}

int nf_tx_reap(struct nf_queue *q)
{
	RING_IDX prod, cons;
	int done = 0;

	do {
		prod = q->tx.sring->rsp_prod;
		rmb();
		for (cons = q->tx.rsp_cons; cons != prod; cons++) {
			struct netif_tx_response *rsp =
			    RING_GET_RESPONSE(&q->tx, cons);

			q->tx_inflight--;
			if (rsp->status == NETIF_RSP_NULL)
				continue;
			if (rsp->id < NF_TX_SIZE)
				q->txbusy[rsp->id] = false;
			if (rsp->status == NETIF_RSP_OKAY)
				q->tx_ok++;
			else
				q->tx_errors++;
			done++;
		}
		q->tx.rsp_cons = cons;
		RING_FINAL_CHECK_FOR_RESPONSES(&q->tx, prod);
	} while (prod);
	return done;
}

int nf_tx_wait(struct nf_queue *q, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int fd = sg_evtchn_fd(q->nf->sg, q->port_tx);

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		sg_evtchn_ack(q->nf->sg, q->port_tx);
		nf_tx_reap(q);
		if (!q->tx_inflight)
			return 0;
		if (ts_now_ms() > end)
			return -ETIMEDOUT;
		poll(&p, 1, 10);
	}
}

/* ---- rx ---- */

/* Frames netfront's NAPI poll takes before it refills (its weight). */
#define NF_RX_BUDGET 64

int nf_rx_post(struct nf_queue *q)
{
	RING_IDX i = q->rx.req_prod_pvt;
	int n = 0, notify;

	/* One buffer per ring slot: slot s always posts page s. */
	while (i - q->rx.rsp_cons < NF_RX_SIZE) {
		struct netif_rx_request *req = RING_GET_REQUEST(&q->rx, i);
		unsigned int s = i & (NF_RX_SIZE - 1);

		req->id = (uint16_t)s;
		req->gref = (grant_ref_t)q->rxref[s];
		i++;
		n++;
	}
	q->rx.req_prod_pvt = i;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, notify);
	/* Without feature-rx-notify the backend looks for buffers itself. */
	if (notify && !q->nf->o.no_rx_notify)
		sg_evtchn_notify(q->nf->sg, q->port_rx);
	return n;
}

/* Responses available from rsp_cons; waits up to timeout_ms for need. */
static bool rx_wait(struct nf_queue *q, unsigned int need, int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;
	int fd = sg_evtchn_fd(q->nf->sg, q->port_rx);

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		RING_IDX prod = q->rx.sring->rsp_prod;

		rmb();
		if (prod - q->rx.rsp_cons >= need)
			return true;
		q->rx.sring->rsp_event = q->rx.rsp_cons + need;
		mb();
		if (q->rx.sring->rsp_prod - q->rx.rsp_cons >= need)
			continue;
		if (ts_now_ms() > end)
			return false;
		if (poll(&p, 1, 5) > 0)
			sg_evtchn_ack(q->nf->sg, q->port_rx);
	}
}

int nf_recv(struct nf_queue *q, uint8_t *buf, uint32_t cap,
	    struct nf_rxinfo *info, int timeout_ms)
{
	struct nf_rxinfo dummy;
	uint32_t len = 0;
	bool more, first = true;
	int err = 0;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if (!rx_wait(q, 1, timeout_ms))
		return 0;
	do {
		RING_IDX i = q->rx.rsp_cons;
		struct netif_rx_response rsp;
		unsigned int s = i & (NF_RX_SIZE - 1);

		if (!rx_wait(q, 1, 2000))
			return -EPROTO; /* a packet cut in the middle */
		rsp = *RING_GET_RESPONSE(&q->rx, i);
		q->rx.rsp_cons++;
		info->slots++;
		if (rsp.id != s)
			err = -EPROTO; /* not in its request's slot */
		if (rsp.status < 0 ||
		    (uint32_t)rsp.offset + (uint32_t)rsp.status > XEN_PAGE_SIZE)
			err = err ?: -EIO;
		else if (buf && len + (uint32_t)rsp.status <= cap)
			memcpy(buf + len, q->rxbuf[s] + rsp.offset,
			       (size_t)rsp.status);
		if (rsp.status > 0)
			len += (uint32_t)rsp.status;
		more = rsp.flags & NETRXF_more_data;
		if (first) {
			info->flags = rsp.flags;
			info->first_offset = rsp.offset;
			if (rsp.flags & NETRXF_extra_info) {
				bool emore;

				do {
					struct netif_extra_info e;

					if (!rx_wait(q, 1, 2000))
						return -EPROTO;
					memcpy(&e,
					       RING_GET_RESPONSE(
						   &q->rx, q->rx.rsp_cons),
					       sizeof(e));
					q->rx.rsp_cons++;
					info->slots++;
					emore =
					    e.flags & XEN_NETIF_EXTRA_FLAG_MORE;
					if (e.type ==
					    XEN_NETIF_EXTRA_TYPE_GSO) {
						info->gso_type = e.u.gso.type;
						info->gso_size = e.u.gso.size;
					} else if (e.type ==
						   XEN_NETIF_EXTRA_TYPE_HASH) {
						info->has_hash = true;
						info->hash_type = e.u.hash.type;
						memcpy(&info->hash,
						       e.u.hash.value, 4);
					} else if (e.type ==
						   XEN_NETIF_EXTRA_TYPE_XDP) {
						info->has_xdp = true;
						info->xdp_headroom =
						    netback_extra_xdp(&e);
					} else {
						err = -EPROTO;
					}
				} while (emore);
			}
			first = false;
		}
	} while (more);
	/* Refill as netfront's NAPI poll does: once it has taken what the
	 * backend pushed, or a poll's budget of frames, not after each one
	 * (which would wake a backend waiting for buffers once per frame). */
	if (++q->rx_unposted >= NF_RX_BUDGET ||
	    __atomic_load_n(&q->rx.sring->rsp_prod, __ATOMIC_ACQUIRE) ==
		q->rx.rsp_cons) {
		q->rx_unposted = 0;
		nf_rx_post(q);
	}
	if (err)
		return err;
	return buf && len > cap ? -EMSGSIZE : (int)len;
}

/* ---- control ring ---- */

int nf_ctrl_page(struct netfront *nf, const void *buf, uint32_t len,
		 void **page)
{
	int ref, r;

	r = page_grant(nf, page, &ref, true);
	if (r)
		return r;
	memcpy(*page, buf, len);
	return ref;
}

int nf_ctrl(struct netfront *nf, uint16_t type, uint32_t d0, uint32_t d1,
	    uint32_t d2, uint32_t *data)
{
	struct xen_netif_ctrl_request *req;
	long long end = ts_now_ms() + 5000;
	RING_IDX i = nf->ctrl.req_prod_pvt;
	int notify, fd = sg_evtchn_fd(nf->sg, nf->ctrl_port);

	req = RING_GET_REQUEST(&nf->ctrl, i);
	req->id = (uint16_t)i;
	req->type = type;
	req->data[0] = d0;
	req->data[1] = d1;
	req->data[2] = d2;
	nf->ctrl.req_prod_pvt = i + 1;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->ctrl, notify);
	if (notify)
		sg_evtchn_notify(nf->sg, nf->ctrl_port);
	while (nf->ctrl.sring->rsp_prod == nf->ctrl.rsp_cons) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (ts_now_ms() > end)
			return -ETIMEDOUT;
		if (poll(&p, 1, 5) > 0)
			sg_evtchn_ack(nf->sg, nf->ctrl_port);
	}
	rmb();
	{
		struct xen_netif_ctrl_response *rsp =
		    RING_GET_RESPONSE(&nf->ctrl, nf->ctrl.rsp_cons);

		nf->ctrl.rsp_cons++;
		if (rsp->id != (uint16_t)i || rsp->type != type)
			return -EPROTO;
		if (data)
			*data = rsp->data;
		return (int)rsp->status;
	}
}

/* ---- peer ---- */

int nf_peer_sh(struct nf_peer *p, const char *fmt, ...)
{
	char cmd[512], full[640];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full),
		 "ip netns exec %s sh -c '%s' >/dev/null 2>&1", p->ns, cmd);
	st = system(full);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

int nf_peer_open(struct nf_peer *p, const char *ns, const char *ifname)
{
	char cmd[256], path[64];
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	int one = 1, r;

	memset(p, 0, sizeof(*p));
	p->nsfd = p->origfd = p->sock = -1;
	snprintf(p->ns, sizeof(p->ns), "%s", ns);
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
	snprintf(cmd, sizeof(cmd), "ip netns add %s", ns);
	if (system(cmd) != 0)
		return -EPERM;
	/* No IPv6 autoconfiguration traffic towards the guest. */
	nf_peer_sh(p, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; "
		      "sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
	snprintf(cmd, sizeof(cmd), "ip link set dev %s netns %s", ifname, ns);
	if (system(cmd) != 0)
		return -ENODEV;
	if (nf_peer_sh(p, "ip link set dev %s up", ifname) != 0)
		return -ENODEV;
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	p->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	p->origfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (p->nsfd < 0 || p->origfd < 0)
		return -errno;
	if (setns(p->nsfd, CLONE_NEWNET) < 0)
		return -errno;
	p->sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	r = p->sock < 0 ? -errno : 0;
	if (!r) {
		p->ifindex = (int)if_nametoindex(ifname);
		sll.sll_protocol = htons(ETH_P_ALL);
		sll.sll_ifindex = p->ifindex;
		if (setsockopt(p->sock, SOL_PACKET, PACKET_VNET_HDR, &one,
			       sizeof(one)) < 0 ||
		    setsockopt(p->sock, SOL_PACKET, PACKET_IGNORE_OUTGOING,
			       &one, sizeof(one)) < 0 ||
		    bind(p->sock, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			r = -errno;
		else {
			int sz = 32 << 20;

			setsockopt(p->sock, SOL_SOCKET, SO_RCVBUFFORCE, &sz,
				   sizeof(sz));
			setsockopt(p->sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz,
				   sizeof(sz));
		}
	}
	if (setns(p->origfd, CLONE_NEWNET) < 0 && !r)
		r = -errno;
	return r;
}

void nf_peer_close(struct nf_peer *p)
{
	char cmd[128];

	if (p->sock >= 0)
		close(p->sock);
	if (p->nsfd >= 0)
		close(p->nsfd);
	if (p->origfd >= 0)
		close(p->origfd);
	p->sock = p->nsfd = p->origfd = -1;
	if (p->ns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null",
			 p->ns);
		if (system(cmd) != 0)
			fprintf(stderr, "could not delete netns %s\n", p->ns);
		p->ns[0] = 0;
	}
}

int nf_peer_send(struct nf_peer *p, const struct virtio_net_hdr *h,
		 const uint8_t *frame, uint32_t len)
{
	struct iovec iov[2] = {
	    {.iov_base = (void *)h, .iov_len = sizeof(*h)},
	    {.iov_base = (void *)frame, .iov_len = len},
	};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	if (sendmsg(p->sock, &msg, 0) < 0)
		return -errno;
	return 0;
}

int nf_peer_recv(struct nf_peer *p, struct virtio_net_hdr *h, uint8_t *frame,
		 uint32_t cap, int timeout_ms)
{
	struct iovec iov[2] = {
	    {.iov_base = h, .iov_len = sizeof(*h)},
	    {.iov_base = frame, .iov_len = cap},
	};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	struct pollfd pf = {.fd = p->sock, .events = POLLIN};
	ssize_t n;

	n = recvmsg(p->sock, &msg, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && errno == EAGAIN) {
		if (poll(&pf, 1, timeout_ms) <= 0)
			return 0;
		n = recvmsg(p->sock, &msg, MSG_DONTWAIT | MSG_TRUNC);
	}
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if ((size_t)n < sizeof(*h))
		return -EPROTO;
	return (int)(n - (ssize_t)sizeof(*h));
}
