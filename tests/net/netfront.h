/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated netfront, written against netif.h: rings in simulated guest
 * memory, one page per tx/rx slot, keys published as Linux's xen-netfront
 * does. Plus the toolstack's side of a vif (what libxl writes) and the
 * peer end of the tap (a network namespace with a packet socket).
 */
#ifndef XB_NETFRONT_H
#define XB_NETFRONT_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_net.h>

#include "netback_abi.h"
#include "simguest.h"
#include "toolstack.h"

#define NF_MAX_QUEUES 8
#define NF_TX_SIZE    NETBACK_TX_RING_SIZE
#define NF_RX_SIZE    NETBACK_RX_RING_SIZE

struct nf_opts {
	unsigned int domid, devid;
	const char *vifname;  /* `vifname`: the tap's name after hotplug */
	const char *rate;     /* `rate` key, NULL: none */
	unsigned int mtu;     /* 0: no key */
	unsigned int nqueues; /* 0/1: single queue keys */
	bool split;	      /* event-channel-tx/-rx */
	bool no_sg, no_gso, no_csum, no_ipv6_csum;
	bool ctrl; /* control ring */
	uint16_t xdp_headroom;
	bool no_rx_copy; /* leave out request-rx-copy (must be refused) */
	bool mcast_ctrl; /* request-multicast-control at connect */
	bool no_rx_notify; /* no feature-rx-notify: never kicks for rx */
};

struct nf_queue {
	struct netfront *nf;
	unsigned int id;
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	void *tx_ring, *rx_ring;
	int tx_ring_ref, rx_ring_ref;
	int port_tx, port_rx; /* equal when shared */
	/* One page per slot, by id (tx) / by ring slot (rx). */
	uint8_t *txbuf[NF_TX_SIZE];
	int txref[NF_TX_SIZE];
	bool txbusy[NF_TX_SIZE];
	unsigned int next_id;
	uint8_t *rxbuf[NF_RX_SIZE];
	int rxref[NF_RX_SIZE];
	unsigned int tx_inflight;
	unsigned int rx_unposted; /* frames taken since the last refill */
	bool defer_push; /* nf_send leaves pushing to nf_tx_flush */
	uint64_t tx_errors, tx_ok;
};

struct netfront {
	struct sg_domain *sg;
	struct xs_handle *xs;
	struct nf_opts o;
	char be[128], fe[128];
	unsigned int nq;
	struct nf_queue q[NF_MAX_QUEUES];
	void *ctrl_ring;
	int ctrl_ref, ctrl_port;
	xen_netif_ctrl_front_ring_t ctrl;
};

/* What a received frame came with. */
struct nf_rxinfo {
	uint16_t flags;	  /* NETRXF_* of the first slot */
	uint8_t gso_type; /* XEN_NETIF_GSO_TYPE_* */
	uint16_t gso_size;
	bool has_hash;
	uint8_t hash_type;
	uint32_t hash;
	bool has_xdp;
	uint16_t xdp_headroom;
	uint16_t first_offset;
	unsigned int slots;
};

/* Toolstack: write backend + frontend dirs like libxl. 0 or -errno. */
int nf_vif_add(struct xs_handle *xs, const struct nf_opts *o);
/* What vif-bridge does once the backend is in InitWait: rename the tap
 * from netback's name to `vifname` (if set) and report connected. */
int nf_vif_hotplug(struct xs_handle *xs, const struct nf_opts *o);
/* The name netback gives the tap: vif<domid>.<devid>. */
void nf_kernel_name(const struct nf_opts *o, char name[16]);
int nf_vif_remove(struct xs_handle *xs, const struct nf_opts *o,
		  int timeout_ms);

void nf_init(struct netfront *nf, struct sg_domain *sg, struct xs_handle *xs,
	     const struct nf_opts *o);
/* Negotiate and reach Connected. 0 or -errno. */
int nf_connect(struct netfront *nf, int timeout_ms);
/* nf_connect in two halves: rings, keys, rx buffers and Initialised, after
 * which frames may be queued (as Linux netfront does, whose carrier is on
 * from the backend's InitWait); then wait for the backend's Connected and
 * go Connected. 0 or -errno. */
int nf_connect_start(struct netfront *nf, int timeout_ms);
int nf_connect_finish(struct netfront *nf, int timeout_ms);
/* Close and revoke every grant (-EBUSY: still mapped). */
int nf_close(struct netfront *nf, int timeout_ms);
void nf_release(struct netfront *nf);
/* After nf_close and nf_release: remove the last connection's keys and go
 * back to Initialising, as a netfront that reconnects (the backend answers
 * InitWait). nf_init + nf_connect follow. 0 or -errno. */
int nf_restart(struct netfront *nf, int timeout_ms);
/* Linux netfront's XDP switch: write xdp-headroom, go Reconfiguring, wait
 * for the backend's Reconfigured, go Connected (and wait for the backend's
 * Connected). 0 or -errno. */
int nf_reconfigure_xdp(struct netfront *nf, uint16_t headroom, int timeout_ms);
/* Write request-multicast-control. */
int nf_set_mcast_ctrl(struct netfront *nf, bool on);
/* Send a multicast add/remove request (a slot carrying only the extra). */
int nf_send_mcast(struct nf_queue *q, const uint8_t addr[6], bool add);

/* Queue a frame for transmission (not waiting for responses); frame NULL
 * sends what the pages already hold, as a netfront granting skb pages.
 * csum: NETTXF_csum_blank / data_validated bits; gso_type 0 for none.
 * first_off: offset of the data in the first slot's page.
 * Returns slots used, -EAGAIN if the ring is full, or -errno. */
int nf_send(struct nf_queue *q, const uint8_t *frame, uint32_t len,
	    uint16_t csum, uint8_t gso_type, uint16_t gso_size,
	    uint16_t first_off);
/* Raw slots for hostile tests: copied as they are and pushed. */
int nf_send_raw(struct nf_queue *q, const struct netif_tx_request *slots,
		unsigned int n, RING_IDX prod_bump);
/* Push requests queued with defer_push. */
void nf_tx_flush(struct nf_queue *q);
/* Reap tx responses; returns how many packets completed. */
int nf_tx_reap(struct nf_queue *q);
/* Wait until every sent frame has its response. 0 or -ETIMEDOUT. */
int nf_tx_wait(struct nf_queue *q, int timeout_ms);
/* Post every free rx buffer. */
int nf_rx_post(struct nf_queue *q);
/* Receive one frame into buf (cap bytes; NULL: leave it in the pages, as a
 * netfront attaching them to an skb). Returns its length, 0 when none
 * came within timeout_ms, or -errno (-EPROTO: malformed responses). */
int nf_recv(struct nf_queue *q, uint8_t *buf, uint32_t cap,
	    struct nf_rxinfo *info, int timeout_ms);

/* Control ring: one request, waits for the response. Returns the status
 * (XEN_NETIF_CTRL_STATUS_*) with *data, or -errno. */
int nf_ctrl(struct netfront *nf, uint16_t type, uint32_t d0, uint32_t d1,
	    uint32_t d2, uint32_t *data);
/* Grant a page holding len bytes of buf for the control ring; the ref. */
int nf_ctrl_page(struct netfront *nf, const void *buf, uint32_t len,
		 void **page);

/* ---- the peer side: a network namespace with a packet socket ---- */
struct nf_peer {
	char ns[32];
	char ifname[16];
	int nsfd, origfd;
	int sock; /* AF_PACKET on ifname inside ns, with PACKET_VNET_HDR */
	int ifindex;
};

/* Create namespace ns, move the tap into it, bring it up, open the socket.
 * 0, or -errno (-EPERM etc.: the caller may skip). */
int nf_peer_open(struct nf_peer *p, const char *ns, const char *ifname);
void nf_peer_close(struct nf_peer *p);
/* Send a frame out of the tap (to the guest) with a virtio header. */
int nf_peer_send(struct nf_peer *p, const struct virtio_net_hdr *h,
		 const uint8_t *frame, uint32_t len);
/* Receive a frame the guest sent; length, 0 on timeout, -errno. */
int nf_peer_recv(struct nf_peer *p, struct virtio_net_hdr *h, uint8_t *frame,
		 uint32_t cap, int timeout_ms);
/* Run a shell command inside the namespace; exit status. */
int nf_peer_sh(struct nf_peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
