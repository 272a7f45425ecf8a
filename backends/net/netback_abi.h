/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The netif wire protocol as the backend and the simulated netfront in
 * tests/net/ both see it: Xen's netif.h plus what Linux's copy adds (the
 * XDP headroom extra), and the ring barriers userspace lacks. netif
 * structs are made of 16- and 32-bit fields only, so 32- and 64-bit guests
 * share one layout.
 */
#ifndef NETBACK_ABI_H
#define NETBACK_ABI_H

#include <stdint.h>

/* ring.h wants these; userspace has no kernel barriers. */
#ifndef mb
#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#ifndef rmb
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif
#ifndef wmb
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/netif.h>
#include <xen/io/ring.h>

/* Linux's netif.h: the frontend asks for headroom before rx data. */
#ifndef XEN_NETIF_EXTRA_TYPE_XDP
#define XEN_NETIF_EXTRA_TYPE_XDP 5
#endif
/* Extra types the backend knows, including XDP (Xen's MAX stops at 5). */
#define NETBACK_EXTRA_TYPE_MAX 6

/* Linux: "xdp-headroom" above this is clamped. */
#define NETBACK_MAX_XDP_HEADROOM 0x7fff

/* Control ring hash limits, as Linux netback offers them. */
#define NETBACK_HASH_KEY_SIZE	  40
#define NETBACK_HASH_MAPPING_SIZE 128
#define NETBACK_HASH_FLAGS                                                     \
	(XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP |   \
	 XEN_NETIF_CTRL_HASH_TYPE_IPV6 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)

/* Every slot of a packet, Linux's XEN_NETBK_LEGACY_SLOTS_MAX: more is
 * dropped; FATAL and more takes the vif down (fatal_skb_slots). */
#define NETBACK_SLOTS_MAX   XEN_NETIF_NR_SLOTS_MIN
#define NETBACK_SLOTS_FATAL 20

#define NETBACK_TX_RING_SIZE   __CONST_RING_SIZE(netif_tx, XEN_PAGE_SIZE)
#define NETBACK_RX_RING_SIZE   __CONST_RING_SIZE(netif_rx, XEN_PAGE_SIZE)
#define NETBACK_CTRL_RING_SIZE __CONST_RING_SIZE(xen_netif_ctrl, XEN_PAGE_SIZE)

#ifndef XEN_PAGE_SIZE
#define XEN_PAGE_SIZE 4096u
#endif

/* The XDP extra's layout in the union (Linux: u.xdp.headroom). */
static inline void netback_extra_set_xdp(struct netif_extra_info *e,
					 uint16_t headroom)
{
	e->u.pad[0] = headroom;
	e->u.pad[1] = 0;
	e->u.pad[2] = 0;
}

static inline uint16_t netback_extra_xdp(const struct netif_extra_info *e)
{
	return e->u.pad[0];
}

_Static_assert(sizeof(struct netif_tx_request) == 12, "tx request");
_Static_assert(sizeof(struct netif_extra_info) == 8, "extra info");
_Static_assert(sizeof(struct netif_rx_response) == 8, "rx response");

#endif
