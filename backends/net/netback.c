/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netback ("vif"): the xenbus side of the network backend. Runs on the
 * main thread; the rings are served by netback_queue.c on worker threads.
 *
 * What happens when follows Linux xen-netback: probe creates the tap the
 * hotplug script (vif-bridge) looks for, named vif<domid>.<handle> as
 * netback names its vif (libxl passes that name to the script as `vif=`,
 * and the script renames it to `vifname` when the key is set; without a
 * `script` we do that rename ourselves once hotplug is done), and
 * publishes the features; connect reads the
 * frontend's rings, event channels and offloads and starts one queue per
 * ring pair. The tap is a multi-queue tap with virtio headers: one queue fd
 * per netif queue, so each worker owns its own fd. Its MAC is
 * fe:ff:ff:ff:ff:ff like a netback vif (the numerically largest
 * non-broadcast address, so a bridge never takes it as its own); the
 * guest's MAC (`mac`) is checked and logged.
 *
 * Untrusted: every frontend key (counts, refs, ports, flags) is read once,
 * range-checked, and only then used.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netback.h"
#include "xb_config.h"
#include "xb_log.h"
#include "xb_worker.h"

#ifndef TUNSETCARRIER
#define TUNSETCARRIER _IOW('T', 226, int)
#endif

#define DEF_MTU 1500u

/* ---- the tap ---- */

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

/* Open one queue of the tap; returns the fd or -errno. */
static int tap_open_queue(struct netback_vif *vif, bool multi)
{
	struct ifreq ifr = {0};
	int fd, hdr = (int)NETBACK_VNET_HDR_LEN;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memcpy(ifr.ifr_name, vif->ifname, strlen(vif->ifname) + 1);
	ifr.ifr_flags =
	    IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	memcpy(vif->ifname, ifr.ifr_name, IFNAMSIZ);
	vif->ifname[IFNAMSIZ - 1] = 0;
	return fd;
}

/* The tap's name now: a hotplug script may have renamed it. */
static void tap_refresh_name(struct netback_vif *vif)
{
	struct ifreq ifr = {0};

	if (vif->ntaps && ioctl(vif->tapfd[0], TUNGETIFF, &ifr) == 0) {
		memcpy(vif->ifname, ifr.ifr_name, IFNAMSIZ);
		vif->ifname[IFNAMSIZ - 1] = 0;
	}
}

static int tap_ifreq(struct netback_vif *vif, unsigned long req,
		     struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	tap_refresh_name(vif);
	memcpy(ifr->ifr_name, vif->ifname, IFNAMSIZ);
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

static int tap_set_mtu(struct netback_vif *vif, unsigned int mtu)
{
	struct ifreq ifr = {.ifr_mtu = (int)mtu};

	return tap_ifreq(vif, SIOCSIFMTU, &ifr);
}

void netback_tap_carrier(struct netback_vif *vif, bool on)
{
	int v = on;

	if (vif->ntaps && ioctl(vif->tapfd[0], TUNSETCARRIER, &v) < 0)
		dev_debug(vif->dev, "TUNSETCARRIER: %s", strerror(errno));
}

/* Bridge port states (linux/if_bridge.h BR_STATE_*). */
#define BRPORT_DISABLED 0
#define BRPORT_BLOCKING 4
/* How long connect waits for the kernel to apply the carrier. */
#define LINK_WAIT_MS 2000u

/* The tap's bridge port state (sysfs brport/state); -1 if it is none. */
static int tap_brport_state(struct netback_vif *vif)
{
	char path[48 + IFNAMSIZ];
	int st = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brport/state",
		 vif->ifname);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &st) != 1)
		st = -1;
	fclose(f);
	return st;
}

/*
 * Has what the tap is plugged into taken its carrier? The kernel applies a
 * carrier change later, in its linkwatch work: the operstate
 * (IFF_RUNNING), then the bridge port leaves the disabled state; until
 * then a bridge drops what we write. 1 yes (or the tap is down: nothing
 * forwards anyway), 0 not yet, -errno if it cannot be told (the tap is in
 * another network namespace).
 */
static int tap_link_ready(struct netback_vif *vif)
{
	struct ifreq ifr = {0};
	int r, st;

	r = tap_ifreq(vif, SIOCGIFFLAGS, &ifr);
	if (r < 0)
		return r;
	if (!(ifr.ifr_flags & IFF_UP))
		return 1;
	if (!(ifr.ifr_flags & IFF_RUNNING))
		return 0;
	st = tap_brport_state(vif);
	return st != BRPORT_DISABLED && st != BRPORT_BLOCKING;
}

/*
 * Carrier on, then wait until the kernel has applied it before the rings
 * are served. We connect after the hotplug script has put the tap, up,
 * into its bridge, with the carrier still off (the port disabled); the
 * guest's netfront has had its own carrier since our InitWait and may
 * have queued frames all that time (an ARP, a DHCP request): written at
 * once they would all be dropped by the disabled port. Linux's
 * xen-netback loses none of them: it turns the carrier on at connect,
 * before the script ran, and serves its ring only from the vif's
 * ndo_open, when the script sets it up on the bridge. Bounded: this is the
 * main thread.
 */
static void tap_carrier_on_wait(struct netback_vif *vif)
{
	uint64_t t0 = netback_now_usec(), waited;
	useconds_t pause = 200;
	int r;

	netback_tap_carrier(vif, true);
	while ((r = tap_link_ready(vif)) == 0) {
		waited = netback_now_usec() - t0;
		if (waited >= LINK_WAIT_MS * 1000ull) {
			dev_warn(vif->dev,
				 "%s: link not up %u ms after carrier on "
				 "(bridge port state %d)",
				 vif->ifname, LINK_WAIT_MS,
				 tap_brport_state(vif));
			return;
		}
		usleep(pause);
		if (pause < 20000)
			pause *= 2;
	}
	if (r < 0)
		dev_debug_errno(vif->dev, r, "%s: link state unknown",
				vif->ifname);
	else
		dev_debug(vif->dev,
			  "%s: link up %" PRIu64 " us after carrier on",
			  vif->ifname, netback_now_usec() - t0);
}

/* Attach queues [0, n) and detach the rest; returns 0 or -errno. */
static int tap_attach(struct netback_vif *vif, unsigned int n)
{
	if (vif->ntaps < 2)
		return 0;
	for (unsigned int i = 0; i < vif->ntaps; i++) {
		struct ifreq ifr = {0};

		ifr.ifr_flags = i < n ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
		/* Queue 0 stays attached: a tap with no queue loses its
		 * configuration and the bridge port. */
		if (i == 0)
			continue;
		if (ioctl(vif->tapfd[i], TUNSETQUEUE, &ifr) < 0 &&
		    errno != EINVAL)
			return -errno;
	}
	return 0;
}

static void tap_close(struct netback_vif *vif)
{
	tap_refresh_name(vif);
	for (unsigned int i = 0; i < vif->ntaps; i++)
		if (vif->tapfd[i] >= 0)
			close(vif->tapfd[i]);
	if (vif->ntaps)
		dev_info(vif->dev, "removed %s", vif->ifname);
	vif->ntaps = 0;
}

/* Returns 0 or -errno. */
static int tap_create(struct netback_vif *vif)
{
	static const uint8_t dummy[6] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct xb_device *dev = vif->dev;
	bool multi = vif->max_queues > 1;
	struct ifreq ifr = {0};
	int fd, r;

	/* TUNSETIFF on the name of a live multi-queue tap would add queues
	 * to it: never share someone else's device. */
	if (if_nametoindex(vif->ifname))
		return dev_err_errno(dev, -EEXIST, "%s exists already",
				     vif->ifname);
	for (unsigned int i = 0; i < vif->max_queues; i++) {
		fd = tap_open_queue(vif, multi);
		if (fd < 0) {
			r = dev_err_errno(dev, fd, "creating tap %s queue %u",
					  vif->ifname, i);
			goto err;
		}
		vif->tapfd[vif->ntaps++] = fd;
	}
	/* Nothing offloaded until the guest says what it takes. */
	if (ioctl(vif->tapfd[0], TUNSETOFFLOAD, 0) < 0) {
		r = dev_err_errno(dev, -errno, "TUNSETOFFLOAD");
		goto err;
	}
	ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
	memcpy(ifr.ifr_hwaddr.sa_data, dummy, 6);
	r = tap_ifreq(vif, SIOCSIFHWADDR, &ifr);
	if (r < 0) {
		dev_err_errno(dev, r, "setting the MAC of %s", vif->ifname);
		goto err;
	}
	r = tap_set_mtu(vif, vif->mtu);
	if (r < 0) {
		dev_err_errno(dev, r, "setting MTU %u on %s", vif->mtu,
			      vif->ifname);
		goto err;
	}
	netback_tap_carrier(vif, false);
	r = tap_attach(vif, 1);
	if (r < 0) {
		dev_err_errno(dev, r, "detaching queues of %s", vif->ifname);
		goto err;
	}
	dev_info(dev, "created %s (%u queue%s, mtu %u)", vif->ifname,
		 vif->max_queues, multi ? "s" : "", vif->mtu);
	return 0;
err:
	tap_close(vif);
	return r;
}

/* ---- probe ---- */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int netback_config(struct netback_vif *vif)
{
	struct xb_device *dev = vif->dev;
	const struct xb_config *cfg = dev->cfg;
	unsigned long long v;
	char *s = NULL;
	int r;

	vif->max_queues = cfg && cfg->net_max_queues ? cfg->net_max_queues
			  : cfg && cfg->workers	     ? cfg->workers
						     : 1;
	if (vif->max_queues > NETBACK_MAX_QUEUES)
		vif->max_queues = NETBACK_MAX_QUEUES;

	r = xb_dev_read(dev, false, "vifname", &s);
	if (r == 0) {
		if (!ifname_ok(s)) {
			r = dev_err_errno(dev, -EINVAL, "bad vifname '%s'", s);
			free(s);
			return r;
		}
		snprintf(vif->vifname, sizeof(vif->vifname), "%s", s);
		free(s);
	} else if (r != -ENOENT) {
		return dev_err_errno(dev, r, "reading vifname");
	}
	r = snprintf(vif->ifname, sizeof(vif->ifname), "vif%u.%u", dev->domid,
		     dev->devid);
	if (r < 0 || (size_t)r >= sizeof(vif->ifname))
		return dev_err_errno(dev, -ENAMETOOLONG,
				     "vif%u.%u is too long a name", dev->domid,
				     dev->devid);

	r = xb_dev_read(dev, false, "mac", &s);
	if (r == 0) {
		r = parse_mac(s, vif->mac);
		if (r < 0)
			dev_err(dev, "bad mac '%s'", s);
		free(s);
		if (r < 0)
			return r;
	} else if (r != -ENOENT) {
		return dev_err_errno(dev, r, "reading mac");
	}

	r = xb_dev_read_uint_def(dev, false, "mtu", 65535, DEF_MTU, &v);
	if (r < 0 || v < 68)
		return dev_err_errno(dev, r < 0 ? r : -ERANGE, "bad mtu");
	vif->mtu = (unsigned int)v;
	return 0;
}

static int netback_publish(struct xb_device *dev, unsigned int max_queues)
{
	static const char *const ones[] = {
	    "feature-sg",
	    "feature-gso-tcpv4",
	    "feature-gso-tcpv6",
	    "feature-ipv6-csum-offload",
	    "feature-rx-copy",
	    "feature-multicast-control",
	    "feature-dynamic-multicast-control",
	    "feature-split-event-channels",
	    "feature-ctrl-ring",
	    "feature-xdp-headroom",
	    NULL,
	};
	int r = 0;

	for (int i = 0; ones[i] && !r; i++)
		r = xb_dev_write(dev, ones[i], "1");
	if (!r)
		r = xb_dev_write(dev, "feature-rx-flip", "0");
	if (!r)
		r = xb_dev_write(dev, "multi-queue-max-queues", "%u",
				 max_queues);
	return r;
}

static void netback_free(struct xb_device *dev);

/*
 * Runs once per device (again only after a failure, which undid
 * everything: the core frees only what a successful probe made). A
 * frontend that closes and comes back finds the same tap, bridged.
 * Returns 0 or -errno.
 */
static int netback_probe(struct xb_device *dev)
{
	struct netback_vif *vif;
	int r;

	netback_free(dev);
	vif = calloc(1, sizeof(*vif));
	if (!vif)
		return -ENOMEM;
	vif->dev = dev;
	pthread_mutex_init(&vif->lock, NULL);
	vif->credit_bytes = UINT64_MAX;
	dev->priv = vif;
	r = netback_config(vif);
	if (!r)
		r = tap_create(vif);
	if (!r) {
		r = netback_publish(dev, vif->max_queues);
		if (r)
			dev_err_errno(dev, r, "publishing features");
	}
	if (r)
		netback_free(dev);
	return r;
}

/*
 * Hotplug is done. vif-bridge renamed the tap to `vifname` if asked; a
 * toolstack that runs no script (no `script` key) gets the same rename
 * from us, while the tap is still down. Returns 0 or -errno.
 */
static int netback_prepare(struct xb_device *dev)
{
	struct netback_vif *vif = dev->priv;
	struct ifreq ifr = {0};
	char *script = NULL;
	int r;

	if (!vif || !vif->ntaps)
		return -ENODEV;
	tap_refresh_name(vif);
	if (!vif->vifname[0] || !strcmp(vif->vifname, vif->ifname))
		return 0;
	r = xb_dev_read(dev, false, "script", &script);
	free(script);
	if (r == 0) {
		dev_info(dev,
			 "%s kept its name: the hotplug script did not "
			 "rename it to %s",
			 vif->ifname, vif->vifname);
		return 0;
	}
	memcpy(ifr.ifr_newname, vif->vifname, IFNAMSIZ);
	r = tap_ifreq(vif, SIOCSIFNAME, &ifr);
	if (r < 0)
		return dev_err_errno(dev, r, "renaming %s to %s", vif->ifname,
				     vif->vifname);
	dev_info(dev, "renamed %s to %s", vif->ifname, vif->vifname);
	tap_refresh_name(vif);
	return 0;
}

/* ---- rate ---- */

/* `rate` is "bytes,usec" (libxl); missing or malformed means unlimited,
 * as in Linux's xen_net_read_rate. */
static void read_rate(struct netback_vif *vif)
{
	unsigned long long b, u;
	char *s, end;

	vif->credit_bytes = UINT64_MAX;
	vif->credit_usec = 0;
	if (xb_dev_read(vif->dev, false, "rate", &s) < 0)
		return;
	if (sscanf(s, "%llu,%llu%c", &b, &u, &end) == 2 && b && u) {
		vif->credit_bytes = b;
		vif->credit_usec = u;
		dev_info(vif->dev, "rate %llu bytes per %llu us", b, u);
	} else {
		dev_warn(vif->dev, "ignoring malformed rate '%s'", s);
	}
	free(s);
}

static void netback_backend_changed(struct xb_device *dev, const char *key)
{
	struct netback_vif *vif = dev->priv;

	if (!vif || strcmp(key, "rate"))
		return;
	read_rate(vif);
	for (unsigned int i = 0; i < vif->nqueues; i++) {
		struct netback_queue *q = vif->queues[i];

		if (q && q->started)
			xb_worker_call(q->worker, netback_queue_set_rate, q);
	}
}

/* ---- connect ---- */

static bool fe_flag(struct xb_device *dev, const char *key, bool def)
{
	unsigned long long v;

	if (xb_dev_read_uint_def(dev, true, key, 1, def, &v) < 0)
		return def;
	return v == 1;
}

/* The frontend's xdp-headroom (0 when absent). Returns 0 or -errno. */
static int read_xdp_headroom(struct netback_vif *vif, uint16_t *out)
{
	struct xb_device *dev = vif->dev;
	unsigned long long v;
	int r;

	r = xb_dev_read_uint_def(dev, true, "xdp-headroom", 0xffff, 0, &v);
	if (r < 0)
		return dev_err_errno(dev, r, "reading xdp-headroom");
	if (v > NETBACK_MAX_XDP_HEADROOM)
		v = NETBACK_MAX_XDP_HEADROOM;
	/* Linux clamps only at 0x7fff; a headroom past the page would leave
	 * no room for data at all. */
	if (v > XEN_PAGE_SIZE / 2)
		return dev_err_errno(dev, -EINVAL, "xdp-headroom %llu too big",
				     v);
	*out = (uint16_t)v;
	return 0;
}

static int read_features(struct netback_vif *vif)
{
	struct xb_device *dev = vif->dev;
	struct netback_fe_feat *f = &vif->feat;
	unsigned long long v;
	int r;

	r = xb_dev_read_uint_def(dev, true, "request-rx-copy", 1, 0, &v);
	if (r < 0 || v != 1) {
		dev_err(dev, "frontend does not request rx-copy: page "
			     "flipping is not supported");
		return -EOPNOTSUPP;
	}
	memset(f, 0, sizeof(*f));
	f->rx_notify = fe_flag(dev, "feature-rx-notify", false);
	f->can_sg = fe_flag(dev, "feature-sg", false);
	if (fe_flag(dev, "feature-gso-tcpv4", false))
		f->gso_mask |= 1u << XEN_NETIF_GSO_TYPE_TCPV4;
	if (fe_flag(dev, "feature-gso-tcpv6", false))
		f->gso_mask |= 1u << XEN_NETIF_GSO_TYPE_TCPV6;
	f->ip_csum = !fe_flag(dev, "feature-no-csum-offload", false);
	f->ipv6_csum = fe_flag(dev, "feature-ipv6-csum-offload", false);
	f->mcast_ctrl = fe_flag(dev, "request-multicast-control", false);
	/* GSO needs scatter-gather and checksum offload (netdev rules). */
	if (!f->can_sg || !f->ip_csum)
		f->gso_mask &= (uint8_t) ~(1u << XEN_NETIF_GSO_TYPE_TCPV4);
	if (!f->can_sg || !f->ipv6_csum)
		f->gso_mask &= (uint8_t) ~(1u << XEN_NETIF_GSO_TYPE_TCPV6);

	return read_xdp_headroom(vif, &f->xdp_headroom);
}

/* TUNSETOFFLOAD from what the guest takes: the kernel segments and
 * checksums for a guest that cannot. */
static int set_offloads(struct netback_vif *vif)
{
	const struct netback_fe_feat *f = &vif->feat;
	unsigned int off = 0;

	if (f->ip_csum || f->ipv6_csum)
		off |= TUN_F_CSUM;
	if (f->gso_mask & (1u << XEN_NETIF_GSO_TYPE_TCPV4))
		off |= TUN_F_TSO4;
	if (f->gso_mask & (1u << XEN_NETIF_GSO_TYPE_TCPV6))
		off |= TUN_F_TSO6;
	if (off & (TUN_F_TSO4 | TUN_F_TSO6))
		off |= TUN_F_TSO_ECN;
	if (ioctl(vif->tapfd[0], TUNSETOFFLOAD, off) < 0)
		return -errno;
	return 0;
}

static void queue_free(struct netback_queue *q)
{
	struct xb_device *dev;

	if (!q)
		return;
	dev = q->dev;
	if (q->started) {
		xb_worker_call(q->worker, netback_queue_stop, q);
		q->started = false;
	}
	if (q->worker)
		xb_worker_put(q->worker);
	xb_evtchn_unbind(q->ec_rx);
	xb_evtchn_unbind(q->ec_tx);
	if (q->tx_va)
		xb_gnt_unmap(dev->plat, q->tx_va, 1);
	if (q->rx_va)
		xb_gnt_unmap(dev->plat, q->rx_va, 1);
	pthread_mutex_destroy(&q->inbox_lock);
	free(q);
}

/* Reads queue i's keys (under prefix) into q. Returns 0 or -errno. */
static int queue_read_keys(struct netback_queue *q, const char *prefix)
{
	struct xb_device *dev = q->dev;
	unsigned long long v;
	char key[64];
	int r;

	snprintf(key, sizeof(key), "%stx-ring-ref", prefix);
	r = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
	if (r < 0)
		return dev_err_errno(dev, r, "reading %s", key);
	q->tx_ref = (xb_gref_t)v;
	snprintf(key, sizeof(key), "%srx-ring-ref", prefix);
	r = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
	if (r < 0)
		return dev_err_errno(dev, r, "reading %s", key);
	q->rx_ref = (xb_gref_t)v;

	snprintf(key, sizeof(key), "%sevent-channel-tx", prefix);
	r = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
	if (r == -ENOENT) {
		snprintf(key, sizeof(key), "%sevent-channel", prefix);
		r = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
		if (r < 0)
			return dev_err_errno(dev, r, "reading %s", key);
		q->tx_port = q->rx_port = (uint32_t)v;
		return 0;
	}
	if (r < 0)
		return dev_err_errno(dev, r, "reading %s", key);
	q->tx_port = (uint32_t)v;
	snprintf(key, sizeof(key), "%sevent-channel-rx", prefix);
	r = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
	if (r < 0)
		return dev_err_errno(dev, r, "reading %s", key);
	q->rx_port = (uint32_t)v;
	if (q->rx_port == q->tx_port)
		return dev_err_errno(dev, -EINVAL,
				     "split event channels on one port");
	return 0;
}

static int queue_connect(struct netback_vif *vif, unsigned int i,
			 struct netback_queue **out)
{
	struct xb_device *dev = vif->dev;
	struct xb_platform *plat = dev->plat;
	struct netback_queue *q;
	char prefix[24] = "";
	int r;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->vif = vif;
	q->dev = dev;
	q->id = i;
	q->tapfd = vif->tapfd[i];
	q->timerfd = q->rx_timerfd = q->inboxfd = -1;
	pthread_mutex_init(&q->inbox_lock, NULL);
	q->inbox_tail = &q->inbox_head;
	*out = q;
	if (vif->nqueues > 1)
		snprintf(prefix, sizeof(prefix), "queue-%u/", i);

	r = queue_read_keys(q, prefix);
	if (r)
		return r;
	r = xb_gnt_map(plat, dev->domid, 1, &q->tx_ref, true, &q->tx_va);
	if (r < 0) {
		q->tx_va = NULL;
		return dev_err_errno(dev, r, "queue %u: mapping tx-ring-ref %u",
				     i, q->tx_ref);
	}
	r = xb_gnt_map(plat, dev->domid, 1, &q->rx_ref, true, &q->rx_va);
	if (r < 0) {
		q->rx_va = NULL;
		return dev_err_errno(dev, r, "queue %u: mapping rx-ring-ref %u",
				     i, q->rx_ref);
	}
	r = plat->ops->evtchn_bind(plat, dev->domid, q->tx_port, &q->ec_tx);
	if (r < 0) {
		q->ec_tx = NULL;
		return dev_err_errno(dev, r, "queue %u: binding port %u", i,
				     q->tx_port);
	}
	if (q->rx_port != q->tx_port) {
		r = plat->ops->evtchn_bind(plat, dev->domid, q->rx_port,
					   &q->ec_rx);
		if (r < 0) {
			q->ec_rx = NULL;
			return dev_err_errno(
			    dev, r, "queue %u: binding port %u", i, q->rx_port);
		}
	}
	return 0;
}

/* Start serving queue i's rings on a worker. Returns 0 or -errno. */
static int queue_start(struct netback_vif *vif, unsigned int i)
{
	struct netback_queue *q = vif->queues[i];
	int r;

	q->worker = xb_workers_get(vif->dev->workers);
	r = xb_worker_call(q->worker, netback_queue_start, q);
	if (r < 0)
		return dev_err_errno(vif->dev, r, "queue %u: starting", i);
	q->started = true;
	return 0;
}

static void netback_disconnect(struct xb_device *dev)
{
	struct netback_vif *vif = dev->priv;

	if (!vif)
		return;
	netback_ctrl_disconnect(vif);
	/* Stop every queue before freeing any: a running queue may still
	 * forward a frame into another's inbox. */
	for (unsigned int i = 0; vif->queues && i < vif->nqueues; i++) {
		struct netback_queue *q = vif->queues[i];

		if (q && q->started) {
			xb_worker_call(q->worker, netback_queue_stop, q);
			q->started = false;
		}
	}
	for (unsigned int i = 0; vif->queues && i < vif->nqueues; i++)
		queue_free(vif->queues[i]);
	free(vif->queues);
	vif->queues = NULL;
	vif->nqueues = 0;
	if (vif->ntaps) {
		netback_tap_carrier(vif, false);
		tap_attach(vif, 1);
		if (vif->mtu_lowered && tap_set_mtu(vif, vif->mtu) == 0)
			vif->mtu_lowered = false;
	}
	pthread_mutex_lock(&vif->lock);
	memset(&vif->hash, 0, sizeof(vif->hash));
	vif->nmcast = 0;
	__atomic_add_fetch(&vif->hash_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vif->lock);
}

/*
 * How long frames may wait for the guest's rx buffers, and after how long
 * without any a queue counts as stalled (its tap's carrier then goes off):
 * --net-rx-drain-ms and --net-rx-stall-ms, Linux's rx_drain_timeout_msecs
 * and rx_stall_timeout_msecs. As there, a frontend without
 * feature-rx-notify does not kick us when it posts buffers: we look every
 * 30 ms, its frames wait no longer, and it is never called stalled.
 */
static void rx_timeouts(struct netback_vif *vif)
{
	const struct xb_config *cfg = vif->dev->cfg;

	vif->stalled_queues = 0;
	if (!vif->feat.rx_notify) {
		vif->rx_drain_usec = 30000;
		vif->rx_stall_usec = 0;
		return;
	}
	vif->rx_drain_usec = (uint64_t)(cfg ? cfg->net_rx_drain_ms : 10000) *
			     1000;
	vif->rx_stall_usec = (uint64_t)(cfg ? cfg->net_rx_stall_ms : 60000) *
			     1000;
}

static int netback_connect(struct xb_device *dev)
{
	struct netback_vif *vif = dev->priv;
	unsigned long long n, ref, port;
	int r;

	if (!vif || !vif->ntaps)
		return -ENODEV;
	tap_refresh_name(vif);
	r = read_features(vif);
	if (r)
		return r;
	r = xb_dev_read_uint_def(dev, true, "multi-queue-num-queues",
				 UINT32_MAX, 1, &n);
	if (r < 0 || n == 0 || n > vif->max_queues)
		return dev_err_errno(dev, r < 0 ? r : -ERANGE,
				     "guest requested %llu queues, at most "
				     "%u offered",
				     n, vif->max_queues);
	read_rate(vif);
	rx_timeouts(vif);
	vif->queues = calloc(n, sizeof(*vif->queues));
	if (!vif->queues)
		return -ENOMEM;
	vif->nqueues = (unsigned int)n;
	r = set_offloads(vif);
	if (r < 0)
		return dev_err_errno(dev, r, "TUNSETOFFLOAD");
	r = tap_attach(vif, vif->nqueues);
	if (r < 0)
		return dev_err_errno(dev, r, "attaching tap queues");
	/* A guest without scatter-gather takes one page per frame; the
	 * `mtu` comes back for a later frontend that can take more. */
	if (!vif->feat.can_sg && vif->mtu > DEF_MTU &&
	    tap_set_mtu(vif, DEF_MTU) == 0)
		vif->mtu_lowered = true;

	for (unsigned int i = 0; i < vif->nqueues; i++) {
		r = queue_connect(vif, i, &vif->queues[i]);
		if (r)
			return r;
	}

	r = xb_dev_read_uint(dev, true, "ctrl-ring-ref", UINT32_MAX, &ref);
	if (r == 0) {
		r = xb_dev_read_uint(dev, true, "event-channel-ctrl",
				     UINT32_MAX, &port);
		if (r < 0)
			return dev_err_errno(dev, r,
					     "reading event-channel-ctrl");
		r = netback_ctrl_connect(vif, (xb_gref_t)ref, (uint32_t)port);
		if (r < 0)
			return r;
	} else if (r != -ENOENT) {
		return dev_err_errno(dev, r, "reading ctrl-ring-ref");
	}
	/* Before any queue writes what the guest has queued. */
	tap_carrier_on_wait(vif);
	for (unsigned int i = 0; i < vif->nqueues; i++) {
		r = queue_start(vif, i);
		if (r)
			return r;
	}
	dev_info(dev, "%s: %u queue%s, sg %d, gso %#x, csum %d/%d, xdp %u%s",
		 vif->ifname, vif->nqueues, vif->nqueues > 1 ? "s" : "",
		 vif->feat.can_sg, vif->feat.gso_mask, vif->feat.ip_csum,
		 vif->feat.ipv6_csum, vif->feat.xdp_headroom,
		 vif->ctrl ? ", ctrl ring" : "");
	return 0;
}

/* ---- changes while connected ---- */

/* Run fn on every started queue's worker. */
static void queues_call(struct netback_vif *vif, int (*fn)(void *))
{
	for (unsigned int i = 0; vif->queues && i < vif->nqueues; i++) {
		struct netback_queue *q = vif->queues[i];

		if (q && q->started)
			xb_worker_call(q->worker, fn, q);
	}
}

/*
 * Linux netfront changes its XDP headroom by writing xdp-headroom, going
 * Reconfiguring and waiting for our Reconfigured before it goes back to
 * Connected; netback answers the same way (read_xenbus_frontend_xdp).
 */
static void netback_frontend_changed(struct xb_device *dev,
				     enum xenbus_state st)
{
	struct netback_vif *vif = dev->priv;
	uint16_t headroom;
	int r;

	if (!vif)
		return;
	switch (st) {
	case XenbusStateReconfiguring:
		r = read_xdp_headroom(vif, &headroom);
		if (r < 0) {
			xb_dev_fatal(dev, r, "bad xdp-headroom");
			return;
		}
		if (headroom != vif->feat.xdp_headroom) {
			dev_info(dev, "xdp headroom %u -> %u",
				 vif->feat.xdp_headroom, headroom);
			vif->feat.xdp_headroom = headroom;
			queues_call(vif, netback_queue_set_feat);
		}
		xb_dev_switch_state(dev, XenbusStateReconfigured);
		break;
	case XenbusStateConnected:
		if (dev->state == XenbusStateReconfigured)
			xb_dev_switch_state(dev, XenbusStateConnected);
		break;
	default:
		break;
	}
}

/* feature-dynamic-multicast-control: request-multicast-control may change
 * at any time while connected (Linux: xen_mcast_ctrl_changed). */
static void netback_frontend_key_changed(struct xb_device *dev, const char *key)
{
	struct netback_vif *vif = dev->priv;
	bool on;

	if (!vif || strcmp(key, "request-multicast-control"))
		return;
	on = fe_flag(dev, key, false);
	if (on == vif->feat.mcast_ctrl)
		return;
	dev_info(dev, "multicast control %s", on ? "on" : "off");
	vif->feat.mcast_ctrl = on;
	queues_call(vif, netback_queue_set_feat);
}

/* ---- teardown and stats ---- */

static void netback_free(struct xb_device *dev)
{
	struct netback_vif *vif = dev->priv;

	if (!vif)
		return;
	netback_disconnect(dev);
	tap_close(vif);
	pthread_mutex_destroy(&vif->lock);
	free(vif);
	dev->priv = NULL;
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void netback_get_stats(struct xb_device *dev, struct xb_dev_stats *st)
{
	struct netback_vif *vif = dev->priv;

	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; vif && i < vif->nqueues; i++) {
		const struct netback_queue_stats *s;

		if (!vif->queues || !vif->queues[i])
			continue;
		s = &vif->queues[i]->stats;
		st->requests += ld(&s->tx_packets) + ld(&s->rx_packets);
		st->bytes_read += ld(&s->rx_bytes);
		st->bytes_written += ld(&s->tx_bytes);
		st->errors += ld(&s->tx_errors) + ld(&s->rx_drops);
		st->ring_errors += ld(&s->ring_errors);
	}
}

static const char *const netback_watch_keys[] = {"rate", NULL};
static const char *const netback_fe_watch_keys[] = {"request-multicast-control",
						    NULL};

const struct backend_ops netback_ops = {
    .type = "vif",
    .probe = netback_probe,
    .prepare = netback_prepare,
    .connect = netback_connect,
    .frontend_changed = netback_frontend_changed,
    .backend_changed = netback_backend_changed,
    .disconnect = netback_disconnect,
    .free = netback_free,
    .get_stats = netback_get_stats,
    .watch_keys = netback_watch_keys,
    .fe_watch_keys = netback_fe_watch_keys,
    .frontend_key_changed = netback_frontend_key_changed,
};
