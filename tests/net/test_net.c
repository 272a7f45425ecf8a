/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netback end to end: a real xenstored, xenbackd on the sim platform, our
 * simulated netfront in a simulated guest, and the tap moved into a network
 * namespace the test creates, where a packet socket (with virtio headers)
 * checks every frame byte for byte. One case per argument:
 *   sizes     every frame size 60..1514 and GSO up to 64 KiB, both ways
 *   mq        two queues, split event channels, control-ring hash steering
 *   offload   a guest without sg/csum/gso: the kernel segments and
 *             checksums; a guest without ipv6 csum: we checksum
 *   xdp       xdp-headroom: data after the headroom, XDP extra; changed
 *             while connected through Reconfiguring/Reconfigured
 *   mcast     request-multicast-control turned on and off while connected,
 *             multicast add/remove requests filter what reaches the guest
 *   reconnect the frontend closes and comes back (2, 1, 2 queues): the same
 *             tap, still in its bridge, carries traffic both ways
 *   vifbridge /etc/xen/scripts/vif-bridge run as libxl runs it puts the tap
 *             (renamed to vifname when set) into xenbr0; its
 *             hotplug-status=connected lets the vif connect; frames the
 *             guest queued before that all reach the bridge; offline after
 * Each run in a network (and mount, for /sys) namespace of its own.
 *   rate      `rate` holds throughput under its bound, and a change of the
 *             key while connected takes effect
 *   hostile   bad slots: dropped with an error, or the vif (only) goes down
 *   norxcopy  a frontend without request-rx-copy is refused cleanly
 *   twovif    two vifs of one domain (the second added while the first is
 *             connected, or both at once; 1 or 2 queues each): frames both
 *             ways on both, byte-checked, each only on its own vif
 *   rxstall   a guest that stops posting rx buffers: what waits for them is
 *             dropped after --net-rx-drain-ms, the tap's carrier goes off
 *             after --net-rx-stall-ms, and comes back on with the buffers;
 *             no stale frame ever reaches the guest
 *   rxpoll    a frontend without feature-rx-notify posts buffers without a
 *             kick: the daemon finds them itself, and never calls it
 *             stalled
 * Exit 0 pass, 1 fail, 77 skip.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#define XEN_NETIF_DEFINE_TOEPLITZ
#include "fixture.h"
#include "netfront.h"

#define T_MS  10000
#define CHECK TS_CHECK

struct fx {
	struct sf sf; /* xenstored, xenbackd, the guest domain */
	struct sg_domain *sg;
	struct nf_peer peer;
	struct nf_peer peer1; /* twovif: the second vif's tap */
	char ifname[16];
	char ns[32];
};

static struct fx fx;
static uint8_t *tbuf, *rbuf;

static int fx_start(const char *const *args)
{
	static const char *const def[] = {"--types=vif", NULL};
	int r;

	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		printf("SKIP: no /dev/net/tun\n");
		return 77;
	}
	if (geteuid() != 0) {
		printf("SKIP: needs root for taps and network namespaces\n");
		return 77;
	}
	r = sf_start(&fx.sf, args ? args : def);
	if (r)
		return r;
	fx.sg = sf_domain(&fx.sf, 1, 8192, 8192);
	if (!fx.sg)
		return 1;
	snprintf(fx.ifname, sizeof(fx.ifname), "xb%d.0", (int)getpid());
	snprintf(fx.ns, sizeof(fx.ns), "xbnet%d", (int)getpid());
	fx.peer1.sock = fx.peer1.nsfd = fx.peer1.origfd = -1;
	tbuf = malloc(70000);
	rbuf = malloc(70000);
	return tbuf && rbuf ? 0 : 1;
}

static int fx_stop(void)
{
	nf_peer_close(&fx.peer);
	nf_peer_close(&fx.peer1);
	return sf_stop(&fx.sf);
}

static struct nf_opts opts(unsigned int devid, const char *ifname)
{
	struct nf_opts o = {.domid = 1, .devid = devid, .vifname = ifname};

	return o;
}

/* Add the vif, check the tap, hotplug, optionally move the tap into the
 * peer namespace, connect. 0 or 1. */
static int bring_up(struct netfront *nf, const struct nf_opts *o, bool peer)
{
	char be[128], kname[16];

	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%u", o->domid,
		 o->devid);
	CHECK(nf_vif_add(fx.sf.xs, o) == 0);
	CHECK(ts_wait_state(fx.sf.xs, be, XenbusStateInitWait, T_MS) == 0);
	/* The tap exists before InitWait under netback's name, as
	 * vif-bridge needs; hotplug renames it to vifname. */
	nf_kernel_name(o, kname);
	CHECK(if_nametoindex(kname) > 0);
	CHECK(ts_read_int(fx.sf.xs, be, "feature-rx-copy") == 1);
	CHECK(ts_read_int(fx.sf.xs, be, "feature-xdp-headroom") == 1);
	CHECK(nf_vif_hotplug(fx.sf.xs, o) == 0);
	CHECK(if_nametoindex(o->vifname) > 0);
	if (peer) {
		int r = nf_peer_open(&fx.peer, fx.ns, o->vifname);

		if (r < 0) {
			fprintf(stderr, "peer namespace: %s\n", strerror(-r));
			return 1;
		}
	}
	nf_init(nf, fx.sg, fx.sf.xs, o);
	CHECK(nf_connect(nf, T_MS) == 0);
	if (peer) {
		/* Carrier on at connect, as netback does; the kernel applies
		 * it (and starts the qdisc) asynchronously: wait for it. */
		int i;

		for (i = 0; i < 300; i++) {
			if (nf_peer_sh(
				&fx.peer,
				"grep -qx up /sys/class/net/%s/operstate",
				o->vifname) == 0)
				break;
			usleep(10000);
		}
		CHECK(i < 300);
	}
	return 0;
}

/* ---- frames ---- */

static const uint8_t gmac[6] = {0x00, 0x16, 0x3e, 0x01, 0x00, 0x00};
static const uint8_t pmac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static void fill(uint8_t *p, uint32_t n, uint32_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* A frame of an experimental ethertype: nothing in the peer stack reacts. */
static uint32_t raw_frame(uint8_t *f, uint32_t len, uint32_t seed,
			  bool to_guest)
{
	memcpy(f, to_guest ? gmac : pmac, 6);
	memcpy(f + 6, to_guest ? pmac : gmac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, &seed, 4);
	fill(f + 18, len - 18, seed);
	return len;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* TCP over IPv4 or IPv6; the checksum field holds the pseudo-header sum
 * (partial) or the full checksum. Returns the frame length. */
static uint32_t tcp_frame(uint8_t *f, uint32_t len, uint32_t seed, bool v6,
			  bool to_guest, uint16_t sport, uint16_t dport,
			  bool partial)
{
	uint32_t l3 = 14, l4 = v6 ? 54 : 34, tl = len - l4, s = 0;
	uint16_t c;

	memset(f, 0, l4 + 20);
	memcpy(f, to_guest ? gmac : pmac, 6);
	memcpy(f + 6, to_guest ? pmac : gmac, 6);
	if (!v6) {
		f[12] = 0x08;
		f[13] = 0x00;
		f[l3] = 0x45;
		f[l3 + 2] = (uint8_t)((len - l3) >> 8);
		f[l3 + 3] = (uint8_t)(len - l3);
		f[l3 + 6] = 0x40; /* DF */
		f[l3 + 8] = 64;
		f[l3 + 9] = 6;
		memcpy(f + l3 + 12, (uint8_t[]){10, 0, 0, 1}, 4);
		memcpy(f + l3 + 16, (uint8_t[]){10, 0, 0, 2}, 4);
		c = (uint16_t)~fold(sum16(0, f + l3, 20));
		f[l3 + 10] = (uint8_t)(c >> 8);
		f[l3 + 11] = (uint8_t)c;
		s = sum16(0, f + l3 + 12, 8);
	} else {
		f[12] = 0x86;
		f[13] = 0xdd;
		f[l3] = 0x60;
		f[l3 + 4] = (uint8_t)((len - l4 + 0) >> 8);
		f[l3 + 5] = (uint8_t)(len - l4);
		f[l3 + 6] = 6;
		f[l3 + 7] = 64;
		f[l3 + 8] = 0xfd;
		f[l3 + 23] = 1;
		f[l3 + 24] = 0xfd;
		f[l3 + 39] = 2;
		s = sum16(0, f + l3 + 8, 32);
	}
	f[l4] = (uint8_t)(sport >> 8);
	f[l4 + 1] = (uint8_t)sport;
	f[l4 + 2] = (uint8_t)(dport >> 8);
	f[l4 + 3] = (uint8_t)dport;
	memcpy(f + l4 + 4, &seed, 4);
	f[l4 + 12] = 0x50;
	f[l4 + 13] = 0x18;
	f[l4 + 14] = 0xff;
	fill(f + l4 + 20, len - l4 - 20, seed);
	s += 6 + (tl >> 16) + (tl & 0xffff);
	if (partial) {
		c = fold(s);
	} else {
		c = (uint16_t)~fold(sum16(s, f + l4, tl));
	}
	f[l4 + 16] = (uint8_t)(c >> 8);
	f[l4 + 17] = (uint8_t)c;
	return len;
}

/* True if the TCP checksum of an IPv4/IPv6 frame verifies. */
static bool tcp_csum_ok(const uint8_t *f, uint32_t len)
{
	bool v6 = f[12] == 0x86;
	uint32_t l4 = v6 ? 54 : 34, tl = len - l4, s;

	s = v6 ? sum16(0, f + 22, 32) : sum16(0, f + 26, 8);
	s += 6 + (tl >> 16) + (tl & 0xffff);
	return fold(sum16(s, f + l4, tl)) == 0xffff;
}

/* Guest -> peer: send, then find it at the peer. 0 or 1. */
static int g2p(struct nf_queue *q, const uint8_t *f, uint32_t len,
	       uint16_t csum, uint8_t gso, uint16_t mss, uint16_t off,
	       const struct virtio_net_hdr *want)
{
	struct virtio_net_hdr h;
	int n;

	CHECK(nf_send(q, f, len, csum, gso, mss, off) > 0);
	CHECK(nf_tx_wait(q, T_MS) == 0);
	for (;;) {
		n = nf_peer_recv(&fx.peer, &h, rbuf, 70000, 2000);
		if (n <= 0) {
			fprintf(stderr,
				"g2p: frame of %u bytes not seen (%d)\n", len,
				n);
			return 1;
		}
		if (rbuf[12] == f[12] && rbuf[13] == f[13])
			break; /* skip anything of another kind */
	}
	if ((uint32_t)n != len || memcmp(rbuf, f, len)) {
		fprintf(stderr, "g2p: %u bytes sent, %d differ\n", len, n);
		return 1;
	}
	if (want && (h.flags != want->flags || h.gso_type != want->gso_type ||
		     h.gso_size != want->gso_size ||
		     (want->flags && (h.csum_start != want->csum_start ||
				      h.csum_offset != want->csum_offset)))) {
		fprintf(stderr,
			"g2p: vnet hdr flags %u gso %u/%u csum %u+%u, "
			"want %u %u/%u %u+%u\n",
			h.flags, h.gso_type, h.gso_size, h.csum_start,
			h.csum_offset, want->flags, want->gso_type,
			want->gso_size, want->csum_start, want->csum_offset);
		return 1;
	}
	return 0;
}

/* Peer -> guest on queue q. 0 or 1. */
static int p2g(struct nf_queue *q, const struct virtio_net_hdr *h,
	       const uint8_t *f, uint32_t len, struct nf_rxinfo *info)
{
	int n;

	CHECK(nf_peer_send(&fx.peer, h, f, len) == 0);
	for (;;) {
		n = nf_recv(q, rbuf, 70000, info, 3000);
		if (n <= 0) {
			fprintf(stderr,
				"p2g: frame of %u bytes not seen (%d)\n", len,
				n);
			return 1;
		}
		if (rbuf[12] == f[12] && rbuf[13] == f[13])
			break;
	}
	if ((uint32_t)n != len || memcmp(rbuf, f, len)) {
		fprintf(stderr, "p2g: %u bytes sent, %d received differ\n", len,
			n);
		return 1;
	}
	return 0;
}

static struct virtio_net_hdr gso_hdr(bool v6, uint16_t mss)
{
	struct virtio_net_hdr h = {
	    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .gso_type =
		mss ? (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4)
		    : VIRTIO_NET_HDR_GSO_NONE,
	    .hdr_len = (uint16_t)((v6 ? 54 : 34) + 20),
	    .gso_size = mss,
	    .csum_start = v6 ? 54 : 34,
	    .csum_offset = 16,
	};
	return h;
}

/* Frame i of a burst: 64 KiB GSO and small ones, alternating. */
static uint32_t burst_frame(uint8_t *f, unsigned int i,
			    struct virtio_net_hdr *h)
{
	static const struct virtio_net_hdr none = {0};
	uint32_t len = 60 + i * 97 % 1400;

	if (i % 2) {
		*h = none;
		return raw_frame(f, len, 5000 + i, true);
	}
	*h = gso_hdr(false, 1448);
	return tcp_frame(f, 65000 - i, 5000 + i, false, true, 80, 1000, true);
}

/* More to the guest than its ring holds while it takes nothing: frames
 * wait in the backend for buffers; then every one arrives, in order, byte
 * for byte. 0 or 1. */
static int burst_to_guest(struct nf_queue *q)
{
	enum { BURST = 40 }; /* ~20 x 18 slots of GSO: past 256 */
	struct virtio_net_hdr h;
	uint32_t len;
	int n;

	for (unsigned int i = 0; i < BURST; i++) {
		len = burst_frame(tbuf, i, &h);
		CHECK(nf_peer_send(&fx.peer, &h, tbuf, len) == 0);
	}
	usleep(100000); /* the backend fills the ring and waits */
	for (unsigned int i = 0; i < BURST; i++) {
		len = burst_frame(tbuf, i, &h);
		do
			n = nf_recv(q, rbuf, 70000, NULL, 3000);
		while (n >= 14 &&
		       !(rbuf[12] == tbuf[12] && rbuf[13] == tbuf[13]));
		if ((uint32_t)n != len || memcmp(rbuf, tbuf, len)) {
			fprintf(stderr,
				"burst: frame %u of %u (%u bytes): %d "
				"bytes%s\n",
				i, (unsigned int)BURST, len, n,
				n > 0 ? ", differ" : "");
			return 1;
		}
	}
	printf("a burst of %d frames past the ring while the guest waits: "
	       "ok\n",
	       (int)BURST);
	return 0;
}

/* ---- cases ---- */

static int case_sizes(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	struct virtio_net_hdr none = {0};
	static const uint32_t gso_sizes[] = {1600,  4096,  9000,
					     30001, 65000, 65535};
	struct nf_rxinfo info;

	if (bring_up(&nf, &o, true))
		return 1;
	for (uint32_t len = 60; len <= 1514; len++) {
		raw_frame(tbuf, len, len, false);
		if (g2p(&nf.q[0], tbuf, len, 0, 0, 0,
			(uint16_t)(len * 13 % 4000), &none))
			return 1;
		raw_frame(tbuf, len, len + 1, true);
		if (p2g(&nf.q[0], &none, tbuf, len, &info))
			return 1;
	}
	printf("every size 60..1514 both ways: ok\n");
	for (unsigned int i = 0; i < sizeof(gso_sizes) / 4; i++) {
		for (int v6 = 0; v6 < 2; v6++) {
			uint32_t len = gso_sizes[i];
			struct virtio_net_hdr h = gso_hdr(v6, 1448);

			tcp_frame(tbuf, len, len, v6, false, 1000, 80, true);
			if (g2p(&nf.q[0], tbuf, len,
				NETTXF_csum_blank | NETTXF_data_validated,
				v6 ? XEN_NETIF_GSO_TYPE_TCPV6
				   : XEN_NETIF_GSO_TYPE_TCPV4,
				1448, 100, &h))
				return 1;
			tcp_frame(tbuf, len, len, v6, true, 80, 1000, true);
			if (p2g(&nf.q[0], &h, tbuf, len, &info))
				return 1;
			CHECK(info.gso_type == (v6 ? XEN_NETIF_GSO_TYPE_TCPV6
						   : XEN_NETIF_GSO_TYPE_TCPV4));
			CHECK(info.gso_size == 1448);
			CHECK(info.flags & NETRXF_csum_blank);
			/* A checksummed, non-GSO TCP frame: data_validated. */
		}
	}
	/* Partial checksum without GSO, both ways. */
	{
		struct virtio_net_hdr h = gso_hdr(false, 0);

		h.hdr_len = 0;
		tcp_frame(tbuf, 1000, 7, false, false, 5, 6, true);
		if (g2p(&nf.q[0], tbuf, 1000,
			NETTXF_csum_blank | NETTXF_data_validated, 0, 0, 0, &h))
			return 1;
		tcp_frame(tbuf, 1000, 8, false, true, 6, 5, true);
		if (p2g(&nf.q[0], &h, tbuf, 1000, &info))
			return 1;
		CHECK((info.flags &
		       (NETRXF_csum_blank | NETRXF_data_validated)) ==
		      (NETRXF_csum_blank | NETRXF_data_validated));
	}
	printf("GSO 1600..65535 TCPv4/v6 both ways: ok\n");
	if (burst_to_guest(&nf.q[0]))
		return 1;
	CHECK(nf.q[0].tx_errors == 0);
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static int case_mq(void)
{
	static const uint8_t key[40] = {
	    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
	    0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
	    0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
	    0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	};
	uint32_t map[8] = {0, 1, 1, 0, 1, 0, 0, 1}, bad[2] = {0, 2}, d;
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	void *kp, *mp, *bp;
	int kref, mref, bref, seen[2] = {0, 0};

	o.nqueues = 2;
	o.split = true;
	o.ctrl = true;
	if (bring_up(&nf, &o, true))
		return 1;
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0, &d) ==
	      0);
	CHECK(d & XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
	/* Flags before an algorithm: refused, as Linux does. */
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
		      XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, 0, 0,
		      NULL) == XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
		      XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0, NULL) == 0);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
		      XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP |
			  XEN_NETIF_CTRL_HASH_TYPE_IPV4,
		      0, 0, NULL) == 0);
	kref = nf_ctrl_page(&nf, key, sizeof(key), &kp);
	mref = nf_ctrl_page(&nf, map, sizeof(map), &mp);
	bref = nf_ctrl_page(&nf, bad, sizeof(bad), &bp);
	CHECK(kref > 0 && mref > 0 && bref > 0);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, (uint32_t)kref, 41,
		      0, NULL) == XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, (uint32_t)kref, 40,
		      0, NULL) == 0);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0, 0, 0,
		      &d) == 0 &&
	      d >= 8);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 8, 0, 0,
		      NULL) == 0);
	/* A queue that does not exist, and a range past the size. */
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, (uint32_t)bref,
		      2, 0, NULL) == XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, (uint32_t)mref,
		      8, 1, NULL) == XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, (uint32_t)mref,
		      8, 0, NULL) == 0);
	CHECK(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, 0, 0, 0,
		      NULL) == XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);

	for (unsigned int i = 0; i < 64; i++) {
		uint16_t sport = (uint16_t)(20000 + i * 17), dport = 80;
		struct virtio_net_hdr h = {0};
		uint8_t in[12];
		uint32_t hash, want;
		int n = 0, got = -1;
		struct nf_rxinfo info;

		tcp_frame(tbuf, 200, i, false, true, sport, dport, false);
		memcpy(in, tbuf + 26, 8);
		memcpy(in + 8, tbuf + 34, 4);
		hash = xen_netif_toeplitz_hash(key, 40, in, 12);
		want = map[hash % 8];
		CHECK(nf_peer_send(&fx.peer, &h, tbuf, 200) == 0);
		for (int t = 0; t < 400 && got < 0; t++) {
			for (int qi = 0; qi < 2 && got < 0; qi++) {
				n = nf_recv(&nf.q[qi], rbuf, 70000, &info, 5);
				if (n > 0 && rbuf[12] == 0x08)
					got = qi;
			}
		}
		CHECK(got >= 0);
		CHECK(n == 200 && !memcmp(rbuf, tbuf, 200));
		if ((uint32_t)got != want || !info.has_hash ||
		    info.hash != hash ||
		    info.hash_type != _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP) {
			fprintf(stderr,
				"frame %u: queue %d (want %u), hash %d %#x "
				"type %u (want %#x)\n",
				i, got, want, info.has_hash, info.hash,
				info.hash_type, hash);
			return 1;
		}
		seen[got]++;
	}
	CHECK(seen[0] && seen[1]);
	/* Both queues transmit. */
	for (unsigned int qi = 0; qi < 2; qi++) {
		raw_frame(tbuf, 300, qi, false);
		if (g2p(&nf.q[qi], tbuf, 300, 0, 0, 0, 0, NULL))
			return 1;
	}
	printf("2 queues, split channels, hash steering: %d/%d\n", seen[0],
	       seen[1]);
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static int case_offload(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	struct nf_rxinfo info;
	struct virtio_net_hdr h = gso_hdr(false, 1448);
	uint32_t len = 30000, got = 0, frames = 0;
	int n;

	o.no_sg = o.no_gso = o.no_csum = true;
	if (bring_up(&nf, &o, true))
		return 1;
	/* 30000 bytes of TCP in one GSO frame arrive segmented, each segment
	 * with a valid checksum, the payload intact. */
	tcp_frame(tbuf, len, 3, false, true, 1, 2, true);
	CHECK(nf_peer_send(&fx.peer, &h, tbuf, len) == 0);
	while (got < len - 54) {
		n = nf_recv(&nf.q[0], rbuf, 70000, &info, 3000);
		CHECK(n > 0);
		if (rbuf[12] != 0x08)
			continue;
		CHECK(n <= 1514 && info.slots == 1 && !info.gso_type);
		CHECK(!(info.flags & NETRXF_csum_blank));
		CHECK(tcp_csum_ok(rbuf, (uint32_t)n));
		CHECK(!memcmp(rbuf + 54, tbuf + 54 + got, (size_t)n - 54));
		got += (uint32_t)n - 54;
		frames++;
	}
	printf("no offloads: 30000-byte GSO frame -> %u checksummed "
	       "segments\n",
	       frames);
	/* A guest without sg gets no frame larger than a page. */
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	nf_peer_close(&fx.peer);

	/* ipv4 csum offload but no ipv6: we finish v6 checksums. */
	o = opts(1, fx.ifname);
	o.no_ipv6_csum = true;
	if (bring_up(&nf, &o, true))
		return 1;
	h = gso_hdr(true, 0);
	tcp_frame(tbuf, 1200, 4, true, true, 1, 2, true);
	CHECK(nf_peer_send(&fx.peer, &h, tbuf, 1200) == 0);
	do {
		n = nf_recv(&nf.q[0], rbuf, 70000, &info, 3000);
		CHECK(n > 0);
	} while (rbuf[12] != 0x86);
	CHECK(n == 1200 && tcp_csum_ok(rbuf, 1200));
	CHECK(!(info.flags & NETRXF_csum_blank) &&
	      (info.flags & NETRXF_data_validated));
	/* Everything but the checksum field itself is as sent. */
	CHECK(!memcmp(rbuf, tbuf, 54 + 16) &&
	      !memcmp(rbuf + 54 + 18, tbuf + 54 + 18, 1200 - 54 - 18));
	/* ... and v4 stays partial. */
	h = gso_hdr(false, 0);
	tcp_frame(tbuf, 1200, 5, false, true, 1, 2, true);
	if (p2g(&nf.q[0], &h, tbuf, 1200, &info))
		return 1;
	CHECK(info.flags & NETRXF_csum_blank);
	printf("ipv6 checksum finished in software: ok\n");
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static int case_xdp(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	struct nf_rxinfo info;
	struct virtio_net_hdr none = {0}, h = gso_hdr(false, 1448);

	o.xdp_headroom = 256;
	if (bring_up(&nf, &o, true))
		return 1;
	for (uint32_t len = 60; len <= 1514; len += 97) {
		raw_frame(tbuf, len, len, true);
		if (p2g(&nf.q[0], &none, tbuf, len, &info))
			return 1;
		CHECK(info.has_xdp && info.xdp_headroom == 256);
		CHECK(info.first_offset == 256);
	}
	tcp_frame(tbuf, 65000, 9, false, true, 1, 2, true);
	if (p2g(&nf.q[0], &h, tbuf, 65000, &info))
		return 1;
	CHECK(info.has_xdp && info.first_offset == 256 && info.gso_type);
	printf("xdp headroom 256: ok\n");
	/* Linux netfront switching XDP on and off while connected. */
	CHECK(nf_reconfigure_xdp(&nf, 0, T_MS) == 0);
	raw_frame(tbuf, 1000, 1, true);
	if (p2g(&nf.q[0], &none, tbuf, 1000, &info))
		return 1;
	CHECK(!info.has_xdp && info.first_offset == 0);
	CHECK(nf_reconfigure_xdp(&nf, 512, T_MS) == 0);
	raw_frame(tbuf, 1514, 2, true);
	if (p2g(&nf.q[0], &none, tbuf, 1514, &info))
		return 1;
	CHECK(info.has_xdp && info.xdp_headroom == 512 &&
	      info.first_offset == 512);
	tcp_frame(tbuf, 65000, 10, false, true, 1, 2, true);
	if (p2g(&nf.q[0], &h, tbuf, 65000, &info))
		return 1;
	CHECK(info.has_xdp && info.first_offset == 512 && info.gso_type);
	printf("xdp headroom 256 -> 0 -> 512 while connected: ok\n");
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

/* Peer sends a frame to multicast group grp, then a unicast one: 1 if the
 * guest got the multicast frame, 0 if it was filtered, -1 on failure. */
static int mcast_passes(struct nf_queue *q, const uint8_t grp[6], uint32_t seed)
{
	struct virtio_net_hdr none = {0};
	uint32_t got;
	int n, seen = 0;

	raw_frame(tbuf, 100, seed, true);
	memcpy(tbuf, grp, 6);
	if (nf_peer_send(&fx.peer, &none, tbuf, 100) < 0)
		return -1;
	raw_frame(tbuf, 100, seed + 1, true);
	if (nf_peer_send(&fx.peer, &none, tbuf, 100) < 0)
		return -1;
	for (;;) {
		n = nf_recv(q, rbuf, 70000, NULL, 3000);
		if (n <= 0)
			return -1;
		if (n != 100 || rbuf[12] != 0x88 || rbuf[13] != 0xb5)
			continue;
		memcpy(&got, rbuf + 14, 4);
		if (got == seed)
			seen = 1;
		if (got == seed + 1)
			return seen;
	}
}

static int case_mcast(void)
{
	static const uint8_t grp[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x42};
	static const uint8_t grp2[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x43};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	struct nf_queue *q;
	uint32_t seed = 100;
	int i;

	if (bring_up(&nf, &o, true))
		return 1;
	q = &nf.q[0];
	/* Off: everything passes. */
	CHECK(mcast_passes(q, grp, seed += 2) == 1);
	/* On while connected: unsubscribed groups are filtered (the watch
	 * fires asynchronously: wait for the first filtered frame). */
	CHECK(nf_set_mcast_ctrl(&nf, true) == 0);
	for (i = 0; i < 200 && mcast_passes(q, grp, seed += 2) != 0; i++)
		usleep(10000);
	CHECK(i < 200);
	CHECK(mcast_passes(q, bcast, seed += 2) == 1);
	CHECK(nf_send_mcast(q, grp, true) == 2);
	CHECK(nf_tx_wait(q, T_MS) == 0 && q->tx_errors == 0);
	CHECK(mcast_passes(q, grp, seed += 2) == 1);
	CHECK(mcast_passes(q, grp2, seed += 2) == 0);
	CHECK(nf_send_mcast(q, grp, false) == 2);
	CHECK(nf_tx_wait(q, T_MS) == 0 && q->tx_errors == 0);
	CHECK(mcast_passes(q, grp, seed += 2) == 0);
	printf("multicast control on: filtered, add/remove obeyed\n");
	/* Off again: everything passes. */
	CHECK(nf_set_mcast_ctrl(&nf, false) == 0);
	for (i = 0; i < 200 && mcast_passes(q, grp2, seed += 2) != 1; i++)
		usleep(10000);
	CHECK(i < 200);
	printf("multicast control off again: ok\n");
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

/* Traffic both ways on every queue of nf. 0 or 1. */
static int both_ways(struct netfront *nf, uint32_t seed)
{
	struct virtio_net_hdr none = {0};

	for (unsigned int i = 0; i < nf->nq; i++) {
		raw_frame(tbuf, 700, seed + i, false);
		if (g2p(&nf->q[i], tbuf, 700, 0, 0, 0, 0, NULL))
			return 1;
	}
	raw_frame(tbuf, 800, seed, true);
	/* Without a hash every frame from the tap goes to queue... whichever
	 * tap queue the kernel picked: look on each. */
	CHECK(nf_peer_send(&fx.peer, &none, tbuf, 800) == 0);
	for (int t = 0; t < 600; t++) {
		for (unsigned int i = 0; i < nf->nq; i++) {
			int n = nf_recv(&nf->q[i], rbuf, 70000, NULL, 5);

			if (n == 800 && !memcmp(rbuf, tbuf, 800))
				return 0;
		}
	}
	fprintf(stderr, "both_ways: frame to the guest not seen\n");
	return 1;
}

static int case_reconnect(void)
{
	static const unsigned int nq[] = {2, 1, 2};
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	int idx;

	o.nqueues = nq[0];
	if (bring_up(&nf, &o, true))
		return 1;
	idx = fx.peer.ifindex;
	CHECK(idx > 0);
	CHECK(nf_peer_sh(&fx.peer,
			 "ip link add xbbr0 type bridge && ip link set xbbr0 "
			 "up && ip link set %s master xbbr0",
			 fx.ifname) == 0);
	if (both_ways(&nf, 1))
		return 1;
	for (unsigned int k = 1; k < sizeof(nq) / sizeof(nq[0]); k++) {
		int i;

		CHECK(nf_close(&nf, T_MS) == 0);
		nf_release(&nf);
		/* The device stays: the same tap, in its bridge, no carrier. */
		CHECK(nf_peer_sh(&fx.peer,
				 "grep -qx %d /sys/class/net/%s/ifindex && "
				 "test -e /sys/class/net/xbbr0/brif/%s && "
				 "grep -qx 0 /sys/class/net/%s/carrier",
				 idx, fx.ifname, fx.ifname, fx.ifname) == 0);
		CHECK(nf_restart(&nf, T_MS) == 0);
		o.nqueues = nq[k];
		nf_init(&nf, fx.sg, fx.sf.xs, &o);
		CHECK(nf_connect(&nf, T_MS) == 0);
		for (i = 0; i < 300; i++) {
			if (nf_peer_sh(&fx.peer,
				       "grep -qx 1 /sys/class/net/%s/carrier",
				       fx.ifname) == 0)
				break;
			usleep(10000);
		}
		CHECK(i < 300);
		CHECK(nf_peer_sh(&fx.peer,
				 "grep -qx %d /sys/class/net/%s/ifindex && "
				 "test -e /sys/class/net/xbbr0/brif/%s",
				 idx, fx.ifname, fx.ifname) == 0);
		if (both_ways(&nf, 10 * k))
			return 1;
		printf("reconnect %u (%u queue%s): same tap %d, bridged, "
		       "traffic both ways\n",
		       k, nq[k], nq[k] > 1 ? "s" : "", idx);
	}
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	/* Removal takes the tap (and so its bridge port) away. */
	for (int i = 0; i < 200; i++) {
		if (nf_peer_sh(&fx.peer, "test -e /sys/class/net/%s",
			       fx.ifname) != 0)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "tap still there after removal\n");
	return 1;
}

/* ---- two vifs of one domain ---- */

/* Frames of ours (ethertype 0x88b5) waiting at peer p: drained, counted. */
static int peer_strays(struct nf_peer *p)
{
	struct virtio_net_hdr h;
	int n, strays = 0;

	while ((n = nf_peer_recv(p, &h, rbuf, 70000, 50)) > 0)
		if (n >= 14 && rbuf[12] == 0x88 && rbuf[13] == 0xb5)
			strays++;
	return strays;
}

/* Frames of ours waiting on any queue of nf: drained, counted. */
static int guest_strays(struct netfront *nf)
{
	int strays = 0;

	for (unsigned int i = 0; i < nf->nq; i++) {
		int n;

		while ((n = nf_recv(&nf->q[i], rbuf, 70000, NULL, 20)) > 0)
			if (n >= 14 && rbuf[12] == 0x88 && rbuf[13] == 0xb5)
				strays++;
	}
	return strays;
}

/* A frame like an ARP request: 42 bytes (netfront does not pad), to the
 * broadcast address. */
static uint32_t bcast_frame(uint8_t *f, uint32_t seed, bool to_guest)
{
	raw_frame(f, 42, seed, to_guest);
	memset(f, 0xff, 6);
	return 42;
}

/*
 * Traffic both ways on every queue of vif nf (tap at peer p), byte-checked,
 * and none of it at the other vif (on, at op). Unicast and broadcast, small
 * and not. 0 or 1.
 */
static int twovif_traffic(const char *what, struct netfront *nf,
			  struct nf_peer *p, struct netfront *on,
			  struct nf_peer *op, uint32_t seed)
{
	static const uint32_t lens[] = {42, 60, 700, 1514};
	struct virtio_net_hdr h, none = {0};
	int n;

	for (unsigned int i = 0; i < nf->nq; i++) {
		for (unsigned int k = 0; k < 5; k++) {
			uint32_t s = seed + i * 16 + k, len;

			len = k == 4 ? bcast_frame(tbuf, s, false)
				     : raw_frame(tbuf, lens[k], s, false);
			CHECK(nf_send(&nf->q[i], tbuf, len, 0, 0, 0, 0) > 0);
			CHECK(nf_tx_wait(&nf->q[i], T_MS) == 0);
			for (;;) {
				n = nf_peer_recv(p, &h, rbuf, 70000, 2000);
				if (n <= 0 ||
				    (rbuf[12] == 0x88 && rbuf[13] == 0xb5))
					break;
			}
			if (n != (int)len || memcmp(rbuf, tbuf, len)) {
				fprintf(stderr,
					"%s: guest queue %u -> tap: frame %u "
					"of %u bytes: got %d%s\n",
					what, i, s, len, n,
					n > 0 ? " bytes, differing" : "");
				return 1;
			}
		}
	}
	for (unsigned int k = 0; k < 8; k++) {
		uint32_t s = seed + 1000 + k, len;
		bool got = false;

		len = k % 4 == 3 ? bcast_frame(tbuf, s, true)
				 : raw_frame(tbuf, lens[k % 4], s, true);
		CHECK(nf_peer_send(p, &none, tbuf, len) == 0);
		for (int t = 0; t < 600 && !got; t++) {
			for (unsigned int i = 0; i < nf->nq && !got; i++) {
				n = nf_recv(&nf->q[i], rbuf, 70000, NULL, 5);
				if (n == (int)len && !memcmp(rbuf, tbuf, len))
					got = true;
				else if (n > 0 && rbuf[12] == 0x88 &&
					 rbuf[13] == 0xb5) {
					fprintf(stderr,
						"%s: tap -> guest: frame %u "
						"of %u bytes: a different "
						"one (%d bytes) came\n",
						what, s, len, n);
					return 1;
				}
			}
		}
		if (!got) {
			fprintf(stderr,
				"%s: tap -> guest: frame %u of %u bytes not "
				"seen\n",
				what, s, len);
			return 1;
		}
	}
	if (on && (n = guest_strays(on)) != 0) {
		fprintf(stderr, "%s: %d frames reached the other vif's guest\n",
			what, n);
		return 1;
	}
	if (op && (n = peer_strays(op)) != 0) {
		fprintf(stderr, "%s: %d frames reached the other vif's tap\n",
			what, n);
		return 1;
	}
	return 0;
}

/* Bring vif o up with its tap at peer p (namespace ns). 0 or 1. */
static int twovif_up(struct netfront *nf, const struct nf_opts *o,
		     struct nf_peer *p, const char *ns)
{
	int i, r;

	if (bring_up(nf, o, false))
		return 1;
	r = nf_peer_open(p, ns, o->vifname);
	if (r < 0) {
		fprintf(stderr, "peer namespace: %s\n", strerror(-r));
		return 1;
	}
	for (i = 0; i < 300; i++) {
		if (nf_peer_sh(p, "grep -qx up /sys/class/net/%s/operstate",
			       o->vifname) == 0)
			break;
		usleep(10000);
	}
	CHECK(i < 300);
	return 0;
}

/*
 * vif handle 0 connected and carrying traffic, then handle 1 added (or both
 * at once: together), nq0 and nq1 queues: traffic both ways on both, each
 * frame only where it belongs. 0 or 1.
 */
static int twovif_run(unsigned int nq0, unsigned int nq1, bool together,
		      bool split, unsigned int round)
{
	char name1[16], ns1[40], what[64];
	struct nf_opts o0 = opts(0, fx.ifname), o1;
	struct netfront nf0, nf1;
	struct nf_peer *p1 = &fx.peer1;

	snprintf(name1, sizeof(name1), "xb%d.1", (int)getpid());
	snprintf(ns1, sizeof(ns1), "%sb", fx.ns);
	o1 = opts(1, name1);
	/* A fresh domain each round: the simulated guest's memory is not
	 * reused. */
	fx.sg = sf_domain(&fx.sf, 2 + round, 8192, 8192);
	CHECK(fx.sg);
	o0.domid = o1.domid = 2 + round;
	o0.nqueues = nq0;
	o1.nqueues = nq1;
	o0.split = o1.split = split;
	snprintf(what, sizeof(what), "round %u (%u+%u queues%s%s)", round, nq0,
		 nq1, split ? ", split channels" : "",
		 together ? ", together" : "");
	if (together) {
		if (twovif_up(&nf0, &o0, &fx.peer, fx.ns) ||
		    twovif_up(&nf1, &o1, p1, ns1))
			return 1;
	} else {
		if (twovif_up(&nf0, &o0, &fx.peer, fx.ns))
			return 1;
		if (twovif_traffic(what, &nf0, &fx.peer, NULL, NULL, 100))
			return 1;
		if (twovif_up(&nf1, &o1, p1, ns1))
			return 1;
	}
	for (unsigned int k = 0; k < 3; k++) {
		if (twovif_traffic(what, &nf1, p1, &nf0, &fx.peer,
				   200 + k * 1000) ||
		    twovif_traffic(what, &nf0, &fx.peer, &nf1, p1,
				   300 + k * 1000))
			return 1;
	}
	printf("%s: both vifs, both ways, each frame on its own vif\n", what);
	CHECK(nf_close(&nf1, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o1, T_MS) == 0);
	nf_release(&nf1);
	CHECK(nf_close(&nf0, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o0, T_MS) == 0);
	nf_release(&nf0);
	nf_peer_close(p1);
	nf_peer_close(&fx.peer);
	return 0;
}

static int case_twovif(void)
{
	static const struct {
		unsigned int nq0, nq1;
		bool together, split;
	} v[] = {
	    {2, 2, false, true}, {2, 2, false, false}, {1, 1, false, true},
	    {2, 2, true, true},	 {2, 1, false, true},  {1, 2, false, false},
	};
	const char *only = getenv("TWOVIF_ROUND");

	for (unsigned int i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (only && (unsigned int)atoi(only) != i)
			continue;
		if (twovif_run(v[i].nq0, v[i].nq1, v[i].together, v[i].split,
			       i))
			return 1;
	}
	return 0;
}

#define VIF_BRIDGE "/etc/xen/scripts/vif-bridge"

/* Run vif-bridge as libxl does (libxl_linux.c get_hotplug_env): its own
 * environment plus script, XENBUS_TYPE, XENBUS_PATH (relative to dom0's
 * home), XENBUS_BASE_PATH, netdev and vif (netback's name for the device),
 * one argument online|offline. In the background after delay_ms when
 * status is set (its exit status then lands in that file). */
static int run_vif_bridge(const struct nf_opts *o, const char *action,
			  int delay_ms, const char *status)
{
	char env[512], cmd[1200], kname[16];
	int st;

	nf_kernel_name(o, kname);
	snprintf(env, sizeof(env),
		 "script=%s XENBUS_TYPE=vif XENBUS_PATH=backend/vif/%u/%u "
		 "XENBUS_BASE_PATH=backend netdev= vif=%s",
		 VIF_BRIDGE, o->domid, o->devid, kname);
	if (status)
		snprintf(cmd, sizeof(cmd),
			 "(sleep %d.%03d; %s %s %s >/dev/null 2>&1; "
			 "echo $? > %s) &",
			 delay_ms / 1000, delay_ms % 1000, env, VIF_BRIDGE,
			 action, status);
	else
		snprintf(cmd, sizeof(cmd), "%s %s %s >/dev/null 2>&1", env,
			 VIF_BRIDGE, action);
	st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

/* Frames the guest queues before the backend connects. */
#define EARLY_FRAMES 8

/* One vif through the real vif-bridge: hotplug-status=connected from the
 * script is what lets the backend connect; what the guest queued before
 * that reaches the bridge. 0 or 1. */
static int vifbridge_one(unsigned int devid, const char *vifname, bool peer)
{
	struct nf_opts o = opts(devid, vifname);
	char be[128], kname[16], stfile[400], path[200], *v;
	const char *name;
	struct netfront nf;
	unsigned int len;
	int i, st = -1;
	long long t0;
	FILE *f;

	nf_kernel_name(&o, kname);
	name = vifname ? vifname : kname;
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%u", o.domid,
		 o.devid);
	snprintf(stfile, sizeof(stfile), "%s/vif-bridge.%u", fx.sf.td.dir,
		 devid);
	CHECK(nf_vif_add(fx.sf.xs, &o) == 0);
	CHECK(ts_wait_state(fx.sf.xs, be, XenbusStateInitWait, T_MS) == 0);
	CHECK(if_nametoindex(kname) > 0);
	/* The frontend is ready before the script has run: the backend
	 * must wait for it. */
	t0 = ts_now_ms();
	CHECK(run_vif_bridge(&o, "online", 300, stfile) == 0);
	nf_init(&nf, fx.sg, fx.sf.xs, &o);
	CHECK(nf_connect_start(&nf, T_MS) == 0);
	/* Linux netfront's carrier is on from our InitWait: the guest queues
	 * frames (an ARP, a DHCP request) while the script runs. None may be
	 * lost: they must wait for the port to take the carrier. */
	for (i = 0; peer && i < EARLY_FRAMES; i++) {
		bcast_frame(tbuf, 900 + (uint32_t)i, false);
		CHECK(nf_send(&nf.q[0], tbuf, 42, 0, 0, 0, 0) > 0);
	}
	CHECK(nf_connect_finish(&nf, T_MS) == 0);
	CHECK(ts_now_ms() - t0 >= 250); /* not before the script's word */
	f = fopen(stfile, "r");
	CHECK(f && fscanf(f, "%d", &st) == 1);
	fclose(f);
	CHECK(st == 0);
	snprintf(path, sizeof(path), "%s/hotplug-status", be);
	v = xs_read(fx.sf.xs, XBT_NULL, path, &len);
	CHECK(v && !strcmp(v, "connected"));
	free(v);
	CHECK(if_nametoindex(name) > 0);
	if (vifname)
		CHECK(if_nametoindex(kname) == 0);
	/* A forwarding port of xenbr0 once the carrier is on. */
	snprintf(path, sizeof(path), "/sys/class/net/xenbr0/brif/%s/state",
		 name);
	for (i = 0; i < 300; i++) {
		f = fopen(path, "r");
		st = -1;
		if (f && fscanf(f, "%d", &st) != 1)
			st = -1;
		if (f)
			fclose(f);
		if (st == 3)
			break;
		usleep(10000);
	}
	CHECK(i < 300);
	if (peer) {
		struct virtio_net_hdr none = {0};
		int n = 0;

		CHECK(nf_tx_wait(&nf.q[0], T_MS) == 0);
		for (i = 0; i < EARLY_FRAMES; i++) {
			bcast_frame(tbuf, 900 + (uint32_t)i, false);
			do
				n = nf_peer_recv(&fx.peer, &none, rbuf, 70000,
						 2000);
			while (n >= 14 &&
			       !(rbuf[12] == 0x88 && rbuf[13] == 0xb5));
			if (n != 42 || memcmp(rbuf, tbuf, 42)) {
				fprintf(stderr,
					"vif-bridge: frame %d of %d queued "
					"before the backend connected: %s\n",
					i, EARLY_FRAMES,
					n > 0 ? "differs" : "lost");
				return 1;
			}
		}
		memset(&none, 0, sizeof(none));
		/* Through the bridge both ways: xenbr0 -- xbp0 == xbp1 in the
		 * peer namespace. */
		raw_frame(tbuf, 1000, 77, false);
		if (g2p(&nf.q[0], tbuf, 1000, 0, 0, 0, 0, NULL))
			return 1;
		raw_frame(tbuf, 1200, 78, true);
		if (p2g(&nf.q[0], &none, tbuf, 1200, NULL))
			return 1;
	}
	printf("vif-bridge online: %s%s%s in xenbr0, connected%s\n", kname,
	       vifname ? " renamed " : "", vifname ? vifname : "",
	       peer ? ", the frames queued before it and traffic both ways"
		    : "");
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	/* libxl runs offline once the backend is closed. */
	CHECK(run_vif_bridge(&o, "offline", 0, NULL) == 0);
	CHECK(!ts_exists(fx.sf.xs, be) && if_nametoindex(name) == 0);
	return 0;
}

static int case_vifbridge(void)
{
	char name[16];
	int r;

	if (access(VIF_BRIDGE, X_OK) < 0) {
		printf("SKIP: %s missing (apt-get install xen-utils-common)\n",
		       VIF_BRIDGE);
		return 77;
	}
	if (system("ip link add xenbr0 type bridge && ip link set xenbr0 up "
		   "&& ip link add xbp0 type veth peer name xbp1 && ip link "
		   "set xbp0 master xenbr0 && ip link set xbp0 up") != 0) {
		fprintf(stderr, "cannot make the bridge\n");
		return 1;
	}
	r = nf_peer_open(&fx.peer, fx.ns, "xbp1");
	if (r < 0) {
		fprintf(stderr, "peer namespace: %s\n", strerror(-r));
		return 1;
	}
	if (vifbridge_one(0, NULL, true))
		return 1;
	snprintf(name, sizeof(name), "xbvb%d", (int)getpid() % 100000);
	return vifbridge_one(1, name, false);
}

/* Send for ms milliseconds as fast as the ring takes it; bytes the peer
 * saw. */
static uint64_t blast(struct netfront *nf, int ms, double *secs)
{
	long long start = ts_now_ms(), end = start + ms, last = start;
	struct virtio_net_hdr h;
	uint64_t bytes = 0;
	uint32_t seq = 0;

	raw_frame(tbuf, 1500, 0, false);
	while (ts_now_ms() < end) {
		int n;

		while (nf_send(&nf->q[0], tbuf, 1500, 0, 0, 0, 0) > 0)
			seq++;
		nf_tx_reap(&nf->q[0]);
		while ((n = nf_peer_recv(&fx.peer, &h, rbuf, 70000, 0)) > 0) {
			bytes += (uint64_t)n;
			last = ts_now_ms();
		}
		usleep(200);
	}
	*secs = (double)(last - start) / 1000.0;
	return bytes;
}

static int case_rate(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	uint64_t b1, b2, bound;
	double s1, s2;
	char be[128];

	/* 200000 bytes per 50 ms: 4 MB/s. */
	o.rate = "200000,50000";
	if (bring_up(&nf, &o, true))
		return 1;
	b1 = blast(&nf, 3000, &s1);
	/* Rate over the time plus the initial credit and one burst. */
	bound = (uint64_t)(4e6 * (s1 + 0.05)) + 200000 + 200000 + 1500;
	printf("rate 4 MB/s: %.0f bytes/s over %.2f s (%llu bytes, bound "
	       "%llu)\n",
	       (double)b1 / s1, s1, (unsigned long long)b1,
	       (unsigned long long)bound);
	CHECK(b1 > 0 && b1 <= bound);
	/* Let the ring drain, then raise the rate while connected. */
	nf_tx_wait(&nf.q[0], T_MS);
	while (nf_peer_recv(&fx.peer, &(struct virtio_net_hdr){0}, rbuf, 70000,
			    100) > 0)
		;
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/1/0");
	CHECK(ts_write(fx.sf.xs, be, "rate", "2000000,50000") == 0);
	usleep(200000);
	b2 = blast(&nf, 2000, &s2);
	bound = (uint64_t)(40e6 * (s2 + 0.05)) + 2000000 + 2000000 + 1500;
	printf("rate 40 MB/s: %.0f bytes/s over %.2f s\n", (double)b2 / s2, s2);
	CHECK(b2 <= bound);
	/* Taking effect: well above what the old rate allowed. */
	CHECK((double)b2 / s2 > 2 * 4e6);
	nf_tx_wait(&nf.q[0], T_MS);
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

/* ---- a guest that stops taking frames ---- */

/* A 64-byte frame for the guest carrying seq. 0, or -errno (a peer whose
 * tap has no carrier drops it). */
static int peer_send_seq(uint32_t seq)
{
	uint8_t f[64];

	raw_frame(f, sizeof(f), seq, true);
	return nf_peer_send(&fx.peer, &(struct virtio_net_hdr){0}, f,
			    sizeof(f));
}

/* Take every frame the guest has (each within ms of the last), reposting
 * buffers as netfront does; the seqs of ours into seqs[]. How many, or -1
 * if the responses were malformed. */
static int guest_take(struct nf_queue *q, int ms, uint32_t *seqs,
		      unsigned int max)
{
	unsigned int n = 0;
	int len;

	while ((len = nf_recv(q, rbuf, 70000, NULL, ms)) > 0) {
		if (len == 64 && rbuf[12] == 0x88 && rbuf[13] == 0xb5 &&
		    n < max)
			memcpy(&seqs[n++], rbuf + 14, 4);
	}
	if (len < 0) {
		fprintf(stderr, "guest_take: %s\n", strerror(-len));
		return -1;
	}
	return (int)n;
}

/* The tap's carrier, as the peer namespace sees it: 1, 0, -1 unknown. */
static int carrier(const char *ifname)
{
	if (nf_peer_sh(&fx.peer, "grep -qx 1 /sys/class/net/%s/carrier",
		       ifname) == 0)
		return 1;
	if (nf_peer_sh(&fx.peer, "grep -qx 0 /sys/class/net/%s/carrier",
		       ifname) == 0)
		return 0;
	return -1;
}

static bool log_has(const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(fx.sf.td.log_path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Frames the daemon counts as dropped or lost for the one vif (its
 * `errors` in xenbackctl's list), -1 if not found. */
static long long vif_errors(void)
{
	static char buf[16384];
	char *p;

	if (td_ctl(&fx.sf.td, "list", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "\"type\":\"vif\"");
	p = p ? strstr(p, "\"errors\":") : NULL;
	return p ? strtoll(p + 9, NULL, 10) : -1;
}

static bool seq_in(const uint32_t *seqs, unsigned int n, uint32_t lo,
		   uint32_t hi)
{
	for (unsigned int i = 0; i < n; i++)
		if (seqs[i] >= lo && seqs[i] <= hi)
			return true;
	return false;
}

/* Wait up to ms for the tap's carrier to be want; what it was last. */
static int wait_carrier(const char *ifname, int want, int ms)
{
	long long t = ts_now_ms();
	int c;

	while ((c = carrier(ifname)) != want && ts_now_ms() - t < ms)
		usleep(20000);
	return c;
}

/*
 * One round from base: 256 + extra frames, 256 fill the guest's buffers,
 * the extra wait and are dropped; with trickle, frames keep coming (as
 * through a bridge) while the guest takes none, else none come. Either
 * way the queue is stalled 1.5 s after the guest took its last frame:
 * carrier off. Then the guest takes its 256 and posts buffers (which must
 * kick the daemon, even when no frame waited): carrier on; fresh frames
 * get through, the extra never do. 0 or 1.
 */
static int rxstall_round(struct netfront *nf, const char *ifname,
			 uint32_t base, unsigned int extra, bool trickle)
{
	static uint32_t seqs[2048];
	long long errs = vif_errors(), t;
	unsigned int i;
	int n, more, c = -1;

	for (i = 0; i < 256 + extra; i++)
		CHECK(peer_send_seq(base + i) == 0);
	usleep(1000000); /* past the drain time */
	CHECK(vif_errors() >= errs + extra);
	t = ts_now_ms();
	for (i = 0; ts_now_ms() - t < 5000; i++) {
		if (trickle)
			peer_send_seq(base + 500 + i); /* lost once off */
		c = carrier(ifname);
		if (c == 0)
			break;
		usleep(100000);
	}
	printf("rxstall: %u waiting, %s: carrier off %lld ms after the "
	       "guest's last buffer\n",
	       extra, trickle ? "frames coming" : "no more frames",
	       ts_now_ms() - t + 1000);
	CHECK(c == 0);
	n = guest_take(&nf->q[0], 300, seqs, 2048);
	CHECK(n >= 256);
	for (i = 0; i < 256; i++)
		CHECK(seqs[i] == base + i);
	t = ts_now_ms();
	CHECK(wait_carrier(ifname, 1, 5000) == 1);
	printf("rxstall: carrier on %lld ms after the guest posted buffers\n",
	       ts_now_ms() - t);
	/* Back on the bridge's way: wait for the link before sending. */
	for (i = 0; i < 300 && nf_peer_sh(&fx.peer,
					   "grep -qx up "
					   "/sys/class/net/%s/operstate",
					   ifname);
	     i++)
		usleep(10000);
	for (i = 0; i < 10; i++)
		CHECK(peer_send_seq(base + 1000 + i) == 0);
	more = guest_take(&nf->q[0], 1000, seqs + n, 2048 - (unsigned int)n);
	CHECK(more >= 10);
	n += more;
	for (i = 0; i < 10; i++)
		CHECK(seq_in(seqs, (unsigned int)n, base + 1000 + i,
			     base + 1000 + i));
	CHECK(!extra ||
	      !seq_in(seqs, (unsigned int)n, base + 256, base + 255 + extra));
	return 0;
}

/* The daemon runs with --net-rx-drain-ms=400 --net-rx-stall-ms=1500. */
static int case_rxstall(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;

	if (bring_up(&nf, &o, true))
		return 1;
	CHECK(carrier(o.vifname) == 1);
	CHECK(rxstall_round(&nf, o.vifname, 0, 44, true) == 0);
	CHECK(log_has("guest rx stalled"));
	CHECK(log_has("guest rx ready"));
	CHECK(rxstall_round(&nf, o.vifname, 10000, 44, false) == 0);
	CHECK(rxstall_round(&nf, o.vifname, 20000, 0, false) == 0);
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

/* Same daemon options; a frontend without feature-rx-notify. */
static int case_rxpoll(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	static uint32_t seqs[2048];
	unsigned int i;
	long long t;
	int n;

	o.no_rx_notify = true;
	if (bring_up(&nf, &o, true))
		return 1;
	/* 257 frames: the last waits for a buffer. The guest takes its 256
	 * and posts them again without a kick; whether the one waiting is
	 * found within Linux's 30 ms for such frontends or dropped, the
	 * queue must go on serving what comes next. */
	for (i = 0; i < 257; i++)
		CHECK(peer_send_seq(i) == 0);
	usleep(20000);
	n = guest_take(&nf.q[0], 300, seqs, 2048);
	CHECK(n >= 256);
	printf("rxpoll: the frame that waited was %s\n",
	       seq_in(seqs, (unsigned int)n, 256, 256) ? "delivered"
						       : "not delivered");
	for (i = 0; i < 10; i++)
		CHECK(peer_send_seq(1000 + i) == 0);
	n = guest_take(&nf.q[0], 1000, seqs, 2048);
	CHECK(n == 10);
	for (i = 0; i < 10; i++)
		CHECK(seqs[i] == 1000 + i);
	/* A guest that takes nothing for longer than the stall time, traffic
	 * coming: without rx-notify it is never called stalled. */
	for (i = 0; i < 300; i++)
		CHECK(peer_send_seq(2000 + i) == 0);
	for (t = ts_now_ms(); ts_now_ms() - t < 2500;) {
		CHECK(peer_send_seq(3000) == 0);
		usleep(100000);
	}
	CHECK(carrier(o.vifname) == 1);
	CHECK(!log_has("guest rx stalled"));
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static bool error_node(unsigned int devid)
{
	char p[160];

	snprintf(p, sizeof(p), "/local/domain/0/error/backend/vif/1/%u/error",
		 devid);
	return ts_exists(fx.sf.xs, p);
}

/* One fatal ring violation per vif: the vif goes Closing with an error
 * node, the daemon and the other vifs go on. */
static int hostile_fatal(unsigned int devid, int kind)
{
	char name[16], be[128];
	struct nf_opts o;
	struct netfront nf;
	struct netif_tx_request s[24];
	struct netif_extra_info ex = {0};
	struct nf_queue *q;
	unsigned int n = 0;
	RING_IDX bump = 0;

	snprintf(name, sizeof(name), "xb%d.%u", (int)getpid(), devid);
	o = opts(devid, name);
	if (bring_up(&nf, &o, false))
		return 1;
	q = &nf.q[0];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 24; i++) {
		s[i].gref = (grant_ref_t)q->txref[i];
		s[i].id = (uint16_t)i;
		s[i].size = 100;
	}
	switch (kind) {
	case 0: /* a slot crossing its page */
		s[0].offset = 4000;
		s[0].size = 200;
		n = 1;
		break;
	case 1: /* unknown extra type */
		s[0].flags = NETTXF_extra_info;
		memset(&s[1], 0, sizeof(s[1]));
		ex.type = 9;
		memcpy(&s[1], &ex, sizeof(ex));
		n = 2;
		break;
	case 2: /* too many slots */
		s[0].size = 2000;
		for (int i = 0; i < 21; i++) {
			s[i].flags = NETTXF_more_data;
			if (i)
				s[i].size = 10;
		}
		s[21].flags = 0;
		n = 22;
		break;
	case 3: /* a producer index beyond the ring */
		n = 1;
		bump = 400;
		break;
	case 4: /* GSO of size zero */
		s[0].flags = NETTXF_extra_info;
		memset(&s[1], 0, sizeof(s[1]));
		ex.type = XEN_NETIF_EXTRA_TYPE_GSO;
		ex.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
		memcpy(&s[1], &ex, sizeof(ex));
		n = 2;
		break;
	case 5: /* more_data, and then nothing */
		s[0].flags = NETTXF_more_data;
		n = 1;
		break;
	}
	CHECK(nf_send_raw(q, s, n, bump) == 0);
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/1/%u", devid);
	if (ts_wait_state(fx.sf.xs, be, XenbusStateClosing, T_MS) != 0) {
		fprintf(stderr, "hostile kind %d: vif not taken down\n", kind);
		return 1;
	}
	CHECK(error_node(devid));
	CHECK(td_alive(&fx.sf.td));
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static int case_hostile(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	struct netif_tx_request s[3];
	struct nf_queue *q;
	struct virtio_net_hdr none = {0};

	if (bring_up(&nf, &o, true))
		return 1;
	q = &nf.q[0];
	/* Dropped with an error, the vif stays: a fragment larger than the
	 * packet, a packet shorter than an Ethernet header. */
	memset(s, 0, sizeof(s));
	s[0] = (struct netif_tx_request){.gref = (grant_ref_t)q->txref[0],
					 .id = 0,
					 .size = 100,
					 .flags = NETTXF_more_data};
	s[1] = (struct netif_tx_request){
	    .gref = (grant_ref_t)q->txref[1], .id = 1, .size = 200};
	s[2] = (struct netif_tx_request){
	    .gref = (grant_ref_t)q->txref[2], .id = 2, .size = 10};
	q->txbusy[0] = q->txbusy[1] = q->txbusy[2] = true;
	CHECK(nf_send_raw(q, s, 3, 0) == 0);
	CHECK(nf_tx_wait(q, T_MS) == 0);
	CHECK(q->tx_errors == 3);
	/* A revoked grant: the copy fails, an error response. */
	{
		int ref = q->txref[3];

		CHECK(sg_grant_end(fx.sg, (uint32_t)ref) == 0);
		s[0] = (struct netif_tx_request){
		    .gref = (grant_ref_t)ref, .id = 3, .size = 100};
		q->txbusy[3] = true;
		CHECK(nf_send_raw(q, s, 1, 0) == 0);
		CHECK(nf_tx_wait(q, T_MS) == 0);
		CHECK(q->tx_errors == 4);
		q->txref[3] = -1;
		q->txbusy[3] = true; /* never again */
	}
	raw_frame(tbuf, 500, 1, false);
	if (g2p(q, tbuf, 500, 0, 0, 0, 0, NULL))
		return 1;
	printf("bad packets dropped with errors, the vif goes on\n");
	for (int kind = 0; kind < 6; kind++)
		if (hostile_fatal(1 + (unsigned int)kind, kind))
			return 1;
	printf("6 kinds of broken rings: each took its vif down only\n");
	/* The first vif still works both ways. */
	raw_frame(tbuf, 600, 2, false);
	if (g2p(q, tbuf, 600, 0, 0, 0, 0, NULL))
		return 1;
	raw_frame(tbuf, 600, 3, true);
	if (p2g(q, &none, tbuf, 600, NULL))
		return 1;
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	nf_release(&nf);
	return 0;
}

static int case_norxcopy(void)
{
	struct nf_opts o = opts(0, fx.ifname);
	struct netfront nf;
	char be[128];

	o.no_rx_copy = true;
	CHECK(nf_vif_add(fx.sf.xs, &o) == 0);
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/1/0");
	CHECK(ts_wait_state(fx.sf.xs, be, XenbusStateInitWait, T_MS) == 0);
	CHECK(nf_vif_hotplug(fx.sf.xs, &o) == 0);
	nf_init(&nf, fx.sg, fx.sf.xs, &o);
	CHECK(nf_connect(&nf, 2000) != 0);
	CHECK(ts_read_int(fx.sf.xs, be, "state") == XenbusStateClosing);
	CHECK(error_node(0));
	CHECK(td_alive(&fx.sf.td));
	CHECK(nf_close(&nf, T_MS) == 0);
	CHECK(nf_vif_remove(fx.sf.xs, &o, T_MS) == 0);
	/* The tap went with the device. */
	for (int i = 0; i < 200 && if_nametoindex(fx.ifname); i++)
		usleep(10000);
	CHECK(if_nametoindex(fx.ifname) == 0);
	nf_release(&nf);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const rx_timeouts[] = {
	    "--types=vif", "--net-rx-drain-ms=400", "--net-rx-stall-ms=1500",
	    NULL};
	static const struct {
		const char *name;
		int (*fn)(void);
		const char *const *args; /* NULL: --types=vif */
	} cases[] = {
	    {"sizes", case_sizes, NULL},
	    {"mq", case_mq, NULL},
	    {"offload", case_offload, NULL},
	    {"xdp", case_xdp, NULL},
	    {"rate", case_rate, NULL},
	    {"hostile", case_hostile, NULL},
	    {"norxcopy", case_norxcopy, NULL},
	    {"mcast", case_mcast, NULL},
	    {"reconnect", case_reconnect, NULL},
	    {"vifbridge", case_vifbridge, NULL},
	    {"twovif", case_twovif, NULL},
	    {"rxstall", case_rxstall, rx_timeouts},
	    {"rxpoll", case_rxpoll, rx_timeouts},
	};
	int r, st;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 1;
	}
	/* A network namespace of our own: taps named vif<domid>.<devid> as
	 * netback names them, bridges, scripts, never the host's or another
	 * test's; and a /sys that shows it (as `ip netns exec` does), since
	 * vif-bridge looks there. */
	if (geteuid() == 0 &&
	    (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	     mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	     umount2("/sys", MNT_DETACH) < 0 ||
	     mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)) {
		printf("SKIP: cannot make a network namespace: %s\n",
		       strerror(errno));
		return 77;
	}
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		r = fx_start(cases[i].args);
		if (r) {
			if (r != 77)
				td_dump_log(&fx.sf.td);
			return r;
		}
		r = cases[i].fn();
		if (r)
			td_dump_log(&fx.sf.td);
		st = fx_stop();
		if (st != 0) {
			fprintf(stderr, "daemon exit status %d\n", st);
			r = 1;
		}
		printf("%s: %s\n", argv[1], r ? "FAIL" : "PASS");
		return r;
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return 1;
}
