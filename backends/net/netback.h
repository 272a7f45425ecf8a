/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netback internals: the vif, its queues and the control ring. Private to
 * backends/net/.
 *
 * Ownership: struct netback_vif belongs to the main thread (xenbus hooks),
 * except the members under `lock` (hash configuration and multicast list,
 * written by the control ring's and the tx queues' workers, read by the rx
 * queues) and the queues' `stats`. Between start and stop everything else
 * in a struct netback_queue belongs to the queue's worker thread; the
 * control ring likewise belongs to its worker.
 */
#ifndef NETBACK_H
#define NETBACK_H

#include <linux/virtio_net.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "netback_abi.h"
#include "xb_device.h"
#include "xb_platform.h"

struct xb_worker;
struct netback_queue;
struct io_uring;

#define NETBACK_MAX_QUEUES 16
#define NETBACK_MCAST_MAX  64 /* Linux: XEN_NETBK_MCAST_MAX */

/* Largest frame either way: 64 KiB GSO plus the virtio header. */
#define NETBACK_VNET_HDR_LEN ((unsigned int)sizeof(struct virtio_net_hdr))
#define NETBACK_MAX_FRAME    65535u
/* Packets moved per pass, and bytes of buffer a pass may fill. */
#define NETBACK_BATCH	   64u
#define NETBACK_ARENA_SIZE (1u << 20)

/* What the frontend said it can take (read at connect; xdp_headroom again
 * at Reconfiguring, mcast_ctrl whenever request-multicast-control changes:
 * the queues then take a copy through netback_queue_set_feat). */
struct netback_fe_feat {
	bool can_sg;
	bool ip_csum; /* ipv4 checksum offload (no feature-no-csum-offload) */
	bool ipv6_csum;
	uint8_t gso_mask; /* 1 << XEN_NETIF_GSO_TYPE_TCPV4/6 */
	bool mcast_ctrl;
	uint16_t xdp_headroom;
	bool rx_notify;
};

/* The receive-side hash, configured through the control ring. */
struct netback_hash {
	uint32_t alg; /* XEN_NETIF_CTRL_HASH_ALGORITHM_ */
	uint32_t flags;
	uint8_t key[NETBACK_HASH_KEY_SIZE];
	uint32_t size; /* entries of mapping in use */
	uint32_t mapping[NETBACK_HASH_MAPPING_SIZE];
};

struct netback_queue_stats {
	uint64_t tx_packets, tx_bytes; /* guest -> tap */
	uint64_t rx_packets, rx_bytes; /* tap -> guest */
	uint64_t tx_errors, rx_drops;
	uint64_t ring_errors;
};

struct netback_ctrl;

struct netback_vif {
	struct xb_device *dev;
	char ifname[IFNAMSIZ];	/* the tap's current name */
	char vifname[IFNAMSIZ]; /* `vifname`: what hotplug renames it to */
	int tapfd[NETBACK_MAX_QUEUES]; /* one per tap queue, -1 closed */
	unsigned int ntaps;
	unsigned int max_queues; /* offered */
	unsigned int mtu;
	bool mtu_lowered; /* to 1500 for a guest without sg, until closed */
	uint8_t mac[6];	  /* the guest's (from `mac`) */

	/* connect .. disconnect */
	struct netback_fe_feat feat;
	unsigned int nqueues;
	struct netback_queue **queues;
	struct netback_ctrl *ctrl;
	uint64_t credit_bytes; /* `rate`: UINT64_MAX = unlimited */
	uint64_t credit_usec;
	/* Frames waiting this long for rx buffers are dropped; a queue with
	 * no buffer for rx_stall_usec since it last took a frame is stalled
	 * (0: never; without feature-rx-notify, as Linux: 30 ms and never). */
	uint64_t rx_drain_usec, rx_stall_usec;

	/* Shared between workers: the control ring writes the hash, tx
	 * queues the multicast list; rx queues take a copy when gen moves. */
	pthread_mutex_t lock;
	uint32_t hash_gen; /* atomic */
	struct netback_hash hash;
	uint8_t mcast[NETBACK_MCAST_MAX][6];
	unsigned int nmcast;
	unsigned int stalled_queues; /* the tap's carrier is off while > 0 */
};

/* A packet read from the tap, waiting in a queue's inbox (steering). */
struct netback_fwd {
	struct netback_fwd *next;
	uint32_t len; /* virtio header included */
	uint32_t hash;
	int8_t hash_type; /* -1: none */
	uint8_t data[];
};

/* One packet read from the tap, in the rx arena. */
struct netback_rxpkt {
	uint8_t *buf; /* virtio header, then the frame */
	uint32_t len; /* frame length */
	uint32_t hash;
	int8_t hash_type; /* -1: none */
	uint8_t gso_type; /* XEN_NETIF_GSO_TYPE_* */
	uint16_t gso_size;
	uint16_t rxflags; /* NETRXF_* checksum flags */
};

/* Read buffer for one frame from the tap (64 KiB GSO and headers). */
#define NETBACK_RX_BUF (NETBACK_VNET_HDR_LEN + 65536u + 1024u)

/* One guest packet gathered from the tx ring. */
struct netback_txpkt {
	uint8_t *buf; /* virtio header, then the frame */
	uint32_t len;
	uint16_t first_seg, nsegs;
	uint16_t nslots;	     /* slots consumed, extras included */
	uint16_t flags;		     /* first slot's NETTXF_* */
	struct netif_extra_info gso; /* type 0 if none */
	uint16_t first_rsp; /* its slots' staged responses in txrsp[] */
};

struct netback_queue {
	struct netback_vif *vif;
	struct xb_device *dev;
	unsigned int id;
	struct xb_worker *worker;

	/* Set up by the main thread before start. */
	xb_gref_t tx_ref, rx_ref;
	uint32_t tx_port, rx_port; /* equal: one shared channel */
	void *tx_va, *rx_va;
	struct xb_evtchn *ec_tx, *ec_rx; /* ec_rx NULL when shared */
	int tapfd;
	int timerfd;
	int rx_timerfd; /* rx: drain and stall deadlines */
	int inboxfd;
	bool started;

	/* Worker thread only. */
	netif_tx_back_ring_t tx;
	netif_rx_back_ring_t rx;
	bool broken;
	bool tap_paused; /* waiting for rx buffers */
	bool rx_stalled;
	uint64_t rx_wait_since; /* usec: a frame waits for buffers; 0: none */
	uint64_t rx_last;	/* usec: the guest last took a frame */
	uint64_t rx_timer_at;	/* usec: the rx timer fires then; 0: unset */
	bool rate_limited;
	uint64_t remaining_credit;
	uint64_t credit_window_start; /* usec, monotonic */
	uint64_t credit_bytes, credit_usec;
	uint32_t hash_gen;
	struct netback_hash hash; /* our copy */
	uint16_t xdp_headroom;	  /* copies of vif->feat's changing members */
	bool mcast_ctrl;

	uint8_t *tx_arena;
	struct io_uring *tx_uring; /* NULL: one write() per frame */
	struct netback_txpkt *txpkts;
	struct xb_gnt_copy *txsegs;
	struct netif_tx_response *txrsp; /* staged, ring order */

	uint8_t *rx_arena;
	struct netback_rxpkt *rxpkts;
	unsigned int rx_pending; /* packets read but not yet delivered */
	struct xb_gnt_copy *rxsegs;
	uint16_t *rxseg_rsp; /* staged response each segment fills */
	struct netif_rx_response *rxrsp; /* staged, ring order */

	/* Packets other queues read for us; lock-protected list. */
	pthread_mutex_t inbox_lock;
	struct netback_fwd *inbox_head, **inbox_tail;
	unsigned int inbox_len;
	unsigned int inbox_len_hint; /* inbox_len, readable without the lock */

	struct netback_queue_stats stats; /* relaxed atomics for readers */
};

/* netback.c: the tap's carrier (any thread; TUNSETCARRIER). */
void netback_tap_carrier(struct netback_vif *vif, bool on);

/* netback_queue.c: worker-side entry points (xb_worker_call arguments). */
int netback_queue_start(void *q);
int netback_queue_stop(void *q);
/* Apply vif->credit_* to the queue (worker thread). */
int netback_queue_set_rate(void *q);
/* Take vif->feat's xdp_headroom and mcast_ctrl (worker thread). */
int netback_queue_set_feat(void *q);
void netback_queue_broken(struct netback_queue *q, const char *why);
/* Drop every frame in the queue's inbox; how many. */
unsigned int netback_queue_inbox_purge(struct netback_queue *q);
/* Hand a packet to another queue; takes ownership of f. */
void netback_queue_forward(struct netback_queue *to, struct netback_fwd *f);
uint64_t netback_now_usec(void);
/* The same to a clock tick (ms), for the rx side's deadlines (seconds):
 * read on every rx pass, it must never cost a system call. */
uint64_t netback_coarse_usec(void);

/* netback_tx.c: guest -> tap. */
void netback_tx_run(struct netback_queue *q);
/* The queue's io_uring for tap writes (worker thread): 0 or -errno, and
 * then frames go out one write() each. fini accepts a queue without. */
int netback_tx_uring_init(struct netback_queue *q);
void netback_tx_uring_fini(struct netback_queue *q);

/* netback_rx.c: tap -> guest. */
void netback_rx_run(struct netback_queue *q);
void netback_rx_inbox(struct netback_queue *q);
/* The rx timer fired: drain and stall deadlines. */
void netback_rx_timer(struct netback_queue *q);
/* The queue stops: a stall it holds ends (no carrier change). */
void netback_rx_stop(struct netback_queue *q);

/* netback_ctrl.c */
int netback_ctrl_connect(struct netback_vif *vif, xb_gref_t ref, uint32_t port);
void netback_ctrl_disconnect(struct netback_vif *vif);
/* Hash of a frame under h: 0 and *hash, *type if h applies, else -ENOENT. */
int netback_hash_frame(const struct netback_hash *h, const uint8_t *frame,
		       uint32_t len, uint32_t *hash, int *type);

/* netback_csum.c: header parsing, pure functions. */
struct netback_l4 {
	uint16_t l3_proto; /* ETH_P_IP / ETH_P_IPV6 (host order) */
	uint16_t l3_off;
	uint16_t l4_off;
	uint8_t l4_proto;  /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t l4_hlen;  /* TCP header length (0 for UDP) */
	uint16_t csum_off; /* of the checksum field, from l4_off */
};
/* Find the L4 header of an Ethernet frame: 0, or -EINVAL/-EPROTONOSUPPORT
 * (not TCP/UDP over IPv4/IPv6, fragments, truncated). */
int netback_parse_l4(const uint8_t *frame, uint32_t len, struct netback_l4 *l);
/* Write the pseudo-header sum into the L4 checksum field (what a
 * CHECKSUM_PARTIAL packet carries). */
void netback_set_pseudo_csum(uint8_t *frame, uint32_t len,
			     const struct netback_l4 *l);
/* Complete a partial checksum in software: fold the sum from start over the
 * rest of the frame into start+off. -EINVAL if out of range. */
int netback_finish_csum(uint8_t *frame, uint32_t len, uint32_t start,
			uint32_t off);

#endif
