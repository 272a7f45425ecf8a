/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netback benchmark: the same frames, the same peer (a packet socket in a
 * network namespace) and the same two-thread shape, through
 *   (a) a raw tap: a thread writes / reads the tap fd with virtio headers;
 *   (b) xenbackd: a thread drives our simulated netfront, whose frames the
 *       daemon moves between the rings and the tap.
 * For 64-byte frames (Mpps) and 64 KiB GSO frames (Gb/s), each direction:
 * tx = guest (or tap writer) -> peer, rx = peer -> guest (or tap reader).
 * Counts what arrives at the receiving end. Prints the figures and the
 * ratio (b)/(a), the CPU time the whole path (this process's threads and
 * the daemon's) spent per frame that arrived, and that of the tap side:
 * the daemon in (b), the raw tap's writer or reader thread in (a). On a
 * loaded machine the throughput ratio follows whoever gets the CPUs, the
 * cost per frame does not; where the tap side is what limits (tx 64 KiB
 * GSO: the daemon and the raw writer each keep a CPU busy), the throughput
 * ratio cannot beat the ratio of the tap sides' costs.
 * Usage: bench_net [seconds per run, default 2] [repetitions, default 3]
 * [case...] with cases tx64, rx64, txgso, rxgso (default: all four). Both setups stay up for the whole run; each repetition runs raw
 * and xenbackd back to back (order swapped every repetition) and the
 * medians are printed, since the machine may be shared.
 * CPUS=split (2+ CPUs): the guest's side (our netfront's thread) runs on
 * CPU 0, everything else on the other CPUs: the daemon, the peer's thread,
 * and in (a) both tap threads, which stand for the host side, as under a
 * hypervisor, where the guest's vCPU is not dom0's. Then the host's side
 * of (b) does all its copies (tap and grant) on the CPU that (a) has for
 * its one. The default, CPUS=shared, places nothing: three busy threads
 * share two CPUs in (b), two in (a), and the ratio follows the scheduler's
 * choices (0.54 to 0.82 for tx GSO in runs minutes apart).
 * Exit 0, 1 on a setup failure, 77 when the machine lacks what it needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "netfront.h"
#include "xs_harness.h"

#define T_MS 10000

static struct xs_harness *xsh;
static struct xs_handle *xs;
static struct td_daemon td;
static struct sg_domain *sg;
static double run_secs = 2.0;
static bool split; /* CPUS=split: guest on CPU 0, the rest elsewhere */
static cpu_set_t guest_cpus, host_cpus;

struct run {
	/* in */
	bool xen, tx, gso;
	int tapfd;
	struct nf_peer *peer;
	struct nf_queue *q;
	pid_t daemon; /* 0: none */
	/* shared */
	volatile bool stop;
	uint64_t rx_frames, rx_bytes; /* receiver thread only */
};

static uint32_t make_frame(uint8_t *f, bool gso, struct virtio_net_hdr *h)
{
	uint32_t len = gso ? 65000 : 64;

	memset(f, 0, len);
	memset(h, 0, sizeof(*h));
	memcpy(f, (uint8_t[]){0x00, 0x16, 0x3e, 1, 0, 0}, 6);
	memcpy(f + 6, (uint8_t[]){0x02, 0, 0, 0, 0, 1}, 6);
	if (!gso) {
		f[12] = 0x88;
		f[13] = 0xb5;
		return len;
	}
	/* IPv4/TCP, partial checksum, MSS 1448. */
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((len - 14) >> 8);
	f[17] = (uint8_t)(len - 14);
	f[22] = 64;
	f[23] = 6;
	f[26] = 10;
	f[29] = 1;
	f[30] = 10;
	f[33] = 2;
	f[46] = 0x50;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->gso_size = 1448;
	h->hdr_len = 54;
	h->csum_start = 34;
	h->csum_offset = 16;
	return len;
}

/* CPUS=split: this thread on the guest's CPU or on the host's. */
static void place(bool guest)
{
	if (split)
		sched_setaffinity(0, sizeof(cpu_set_t),
				  guest ? &guest_cpus : &host_cpus);
}

/* CPUS=split: every thread of pid on the host's CPUs. 0 or -errno. */
static int place_daemon(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    sched_setaffinity(atoi(e->d_name), sizeof(cpu_set_t),
				      &host_cpus) < 0)
			r = -errno;
	closedir(d);
	return r;
}

static void *sender(void *arg)
{
	struct run *r = arg;
	struct virtio_net_hdr h;
	static uint8_t f[70000];
	uint8_t wbuf[70000 + sizeof(h)];
	uint32_t len = make_frame(f, r->gso, &h);

	place(r->xen && r->tx);

	memcpy(wbuf, &h, sizeof(h));
	memcpy(wbuf + sizeof(h), f, len);
	while (!r->stop) {
		if (!r->tx) {
			nf_peer_send(r->peer, &h, f, len);
		} else if (!r->xen) {
			if (write(r->tapfd, wbuf, sizeof(h) + len) < 0 &&
			    errno == EAGAIN)
				usleep(10);
		} else {
			struct nf_queue *q = r->q;
			int n = 0;

			while (nf_send(q, NULL, len,
				       r->gso ? NETTXF_csum_blank |
						    NETTXF_data_validated
					      : 0,
				       r->gso ? XEN_NETIF_GSO_TYPE_TCPV4 : 0,
				       1448, 0) > 0)
				n++;
			if (n)
				nf_tx_flush(q);
			if (!nf_tx_reap(q) && !n) {
				struct pollfd p = {
				    .fd = sg_evtchn_fd(sg, q->port_tx),
				    .events = POLLIN,
				};

				poll(&p, 1, 1);
				sg_evtchn_ack(sg, q->port_tx);
			}
		}
	}
	return NULL;
}

static void *receiver(void *arg)
{
	struct run *r = arg;
	static uint8_t buf[70000 + 64];
	struct virtio_net_hdr h;

	place(r->xen && !r->tx);
	while (!r->stop) {
		int n;

		if (r->tx) {
			n = nf_peer_recv(r->peer, &h, buf, 70000, 50);
		} else if (!r->xen) {
			struct pollfd p = {.fd = r->tapfd, .events = POLLIN};
			struct iovec iov[2] = {
			    {.iov_base = &h, .iov_len = sizeof(h)},
			    {.iov_base = buf, .iov_len = 70000},
			};

			n = (int)readv(r->tapfd, iov, 2);
			if (n < 0) {
				poll(&p, 1, 50);
				continue;
			}
			n -= (int)sizeof(h);
		} else {
			/* Frames stay in the guest's pages, as in netfront. */
			n = nf_recv(r->q, NULL, 70000, NULL, 50);
			if (n > 0 && r->q->rxbuf[0])
				buf[12] = 0x08;
		}
		if (n > 0 && buf[12] != 0x86 && buf[12] != 0x08 &&
		    buf[13] != 0xb5)
			continue;
		if (n > 0) {
			r->rx_frames++;
			r->rx_bytes += (uint64_t)n;
		}
	}
	return NULL;
}

/* CPU time of pid's threads, in us. */
static double daemon_cpu_us(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	double us = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char sp[384];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "%s/%s/schedstat", path, e->d_name);
		f = fopen(sp, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			us += (double)ns / 1e3;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return us;
}

/* CPU time of this process (every thread) and of pid's threads, in us. */
static double cpu_us(pid_t pid)
{
	struct rusage ru;
	double us;

	getrusage(RUSAGE_SELF, &ru);
	us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	     (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	return pid ? us + daemon_cpu_us(pid) : us;
}

/* CPU time of one thread of this process, in us. */
static double thread_cpu_us(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) < 0)
		return 0;
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * One measured run; frames and bytes per second, CPU us per frame: all of
 * it (cpf), and the tap side's (tpf): in (b) the daemon's, in (a) the one
 * thread that writes (tx) or reads (rx) the tap. The tap side is the
 * serial stage both setups have: the throughput ratio cannot beat the
 * ratio of their costs when that stage is what limits.
 */
static void measure(struct run *r, double *pps, double *bps, double *cpf,
		    double *tpf)
{
	pthread_t s, v;
	clockid_t tap_clk;
	uint64_t f0, b0, f1;
	long long t0, t1;
	double c0, c1, d0 = 0, d1 = 0;

	r->stop = false;
	r->rx_frames = r->rx_bytes = 0;
	pthread_create(&v, NULL, receiver, r);
	pthread_create(&s, NULL, sender, r);
	if (pthread_getcpuclockid(r->tx ? s : v, &tap_clk))
		tap_clk = (clockid_t)-1;
	usleep(300000); /* warm up */
	f0 = __atomic_load_n(&r->rx_frames, __ATOMIC_RELAXED);
	b0 = __atomic_load_n(&r->rx_bytes, __ATOMIC_RELAXED);
	t0 = ts_now_ms();
	if (r->daemon)
		d0 = daemon_cpu_us(r->daemon);
	else if (tap_clk != (clockid_t)-1)
		d0 = thread_cpu_us(tap_clk);
	c0 = cpu_us(r->daemon);
	usleep((useconds_t)(run_secs * 1e6));
	c1 = cpu_us(r->daemon);
	if (r->daemon)
		d1 = daemon_cpu_us(r->daemon);
	else if (tap_clk != (clockid_t)-1)
		d1 = thread_cpu_us(tap_clk);
	t1 = ts_now_ms();
	f1 = __atomic_load_n(&r->rx_frames, __ATOMIC_RELAXED);
	*cpf = f1 > f0 ? (c1 - c0) / (double)(f1 - f0) : 0;
	*tpf = f1 > f0 ? (d1 - d0) / (double)(f1 - f0) : 0;
	*pps = (double)(f1 - f0) * 1000.0 / (double)(t1 - t0);
	*bps = (double)(__atomic_load_n(&r->rx_bytes, __ATOMIC_RELAXED) - b0) *
	       8000.0 / (double)(t1 - t0);
	r->stop = true;
	pthread_join(s, NULL);
	pthread_join(v, NULL);
}

/* Drain whatever is left between runs. */
static void drain(struct run *r)
{
	static uint8_t buf[70000 + 64];
	struct virtio_net_hdr h;
	long long end = ts_now_ms() + 300;

	while (ts_now_ms() < end) {
		if (r->peer)
			while (nf_peer_recv(r->peer, &h, buf, 70000, 0) > 0)
				;
		if (r->xen) {
			nf_tx_reap(r->q);
			while (nf_recv(r->q, buf, 70000, NULL, 1) > 0)
				;
		} else {
			while (read(r->tapfd, buf, sizeof(buf)) > 0)
				;
		}
		usleep(10000);
	}
}

static int raw_tap(const char *name)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	int hdr = sizeof(struct virtio_net_hdr);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD,
		  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int wait_up(struct nf_peer *p, const char *ifname)
{
	for (int i = 0; i < 300; i++) {
		if (nf_peer_sh(p,
			       "grep -qxE \"up|unknown\" "
			       "/sys/class/net/%s/operstate",
			       ifname) == 0)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double loadavg(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f && fscanf(f, "%lf", &l) != 1)
		l = 0;
	if (f)
		fclose(f);
	return l;
}

#define MAX_REPS 15

int main(int argc, char **argv)
{
	static const char *const args[] = {"--types=vif", NULL};
	/* [rep][raw/xen][case][pps,bps,cpu us/frame,daemon's] */
	static double res[MAX_REPS][2][4][4];
	static const char *const names[4] = {"tx 64 B", "rx 64 B",
					     "tx 64 KiB GSO", "rx 64 KiB GSO"};
	static const char *const keys[4] = {"tx64", "rx64", "txgso", "rxgso"};
	bool want[4] = {true, true, true, true}, some = false;
	struct nf_peer rawpeer, peer;
	struct netfront nf;
	struct nf_opts o = {.domid = 1, .devid = 0};
	char ifname[16], ns[32], be[128];
	unsigned int reps = 3;
	double load0, load1;
	int fd, r, a = 1;

	if (a < argc && strspn(argv[a], "0123456789.") == strlen(argv[a]))
		run_secs = atof(argv[a++]);
	if (a < argc && strspn(argv[a], "0123456789") == strlen(argv[a])) {
		reps = (unsigned int)atoi(argv[a++]);
		if (reps < 1 || reps > MAX_REPS) {
			fprintf(stderr, "repetitions: 1..%d\n", MAX_REPS);
			return 1;
		}
	}
	for (int c = 0; c < 4 && a < argc; c++)
		want[c] = false;
	for (; a < argc; a++) {
		bool known = false;

		for (int c = 0; c < 4; c++) {
			if (!strcmp(argv[a], keys[c]))
				want[c] = known = true;
		}
		if (!known) {
			fprintf(stderr,
				"usage: bench_net [seconds] "
				"[repetitions] [tx64|rx64|txgso|rxgso]...\n");
			return 1;
		}
	}
	for (int c = 0; c < 4; c++)
		some |= want[c];
	if (!some)
		return 1;
	memset(res, 0, sizeof(res));
	{
		const char *cpus = getenv("CPUS");
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		split = n >= 2 && cpus && !strcmp(cpus, "split");
		if (cpus && strcmp(cpus, "shared") && strcmp(cpus, "split")) {
			fprintf(stderr, "CPUS: split or shared\n");
			return 1;
		}
		CPU_ZERO(&guest_cpus);
		CPU_ZERO(&host_cpus);
		CPU_SET(0, &guest_cpus);
		for (long i = 1; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, &host_cpus);
	}
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) < 0) {
		printf("SKIP: needs root and /dev/net/tun\n");
		return 77;
	}
	/* Our own network namespace: the vif's tap is vif1.0 there. */
	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: cannot make a network namespace: %s\n",
		       strerror(errno));
		return 77;
	}

	/* (a) raw tap, its peer in namespace ...a */
	snprintf(ifname, sizeof(ifname), "xbb%d", (int)getpid());
	snprintf(ns, sizeof(ns), "xbbench%da", (int)getpid());
	fd = raw_tap(ifname);
	if (fd < 0) {
		printf("SKIP: cannot create a tap: %s\n", strerror(-fd));
		return 77;
	}
	r = nf_peer_open(&rawpeer, ns, ifname);
	if (r < 0 || wait_up(&rawpeer, ifname) < 0) {
		printf("SKIP: network namespace: %s\n", strerror(-r));
		nf_peer_close(&rawpeer);
		return 77;
	}

	/* (b) through xenbackd, its peer in namespace ...b; both stay up so
	 * that the runs can alternate. */
	r = xsh_start(&xsh);
	if (r == -ENOENT) {
		printf("SKIP: %s is not installed\n", XSH_XENSTORED);
		nf_peer_close(&rawpeer);
		return 77;
	}
	xs = r < 0 ? NULL : xs_open(0);
	if (!xs || td_start(&td, args) < 0 || xsh_domain_create(xsh, 1) < 0 ||
	    sg_domain_create(td.sim_dir, 1, 2048, 2048, &sg) < 0) {
		fprintf(stderr, "setup failed\n");
		nf_peer_close(&rawpeer);
		return 1;
	}
	snprintf(ifname, sizeof(ifname), "xbv%d", (int)getpid());
	snprintf(ns, sizeof(ns), "xbbench%db", (int)getpid());
	o.vifname = ifname;
	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/1/0");
	if (nf_vif_add(xs, &o) ||
	    ts_wait_state(xs, be, XenbusStateInitWait, T_MS) ||
	    nf_vif_hotplug(xs, &o) || nf_peer_open(&peer, ns, ifname) < 0) {
		fprintf(stderr, "vif setup failed\n");
		td_dump_log(&td);
		nf_peer_close(&rawpeer);
		return 1;
	}
	nf_init(&nf, sg, xs, &o);
	if (nf_connect(&nf, T_MS) || wait_up(&peer, ifname)) {
		fprintf(stderr, "connect failed\n");
		td_dump_log(&td);
		nf_peer_close(&rawpeer);
		return 1;
	}
	nf.q[0].defer_push = true;
	r = split ? place_daemon(td.pid) : 0;
	if (r < 0) {
		fprintf(stderr, "daemon's CPUs: %s\n", strerror(-r));
		td_dump_log(&td);
		nf_peer_close(&rawpeer);
		return 1;
	}

	/* Raw and xenbackd back to back for each case, the order swapped
	 * every repetition, so that both see the same machine load. */
	load0 = loadavg();
	for (unsigned int rep = 0; rep < reps; rep++) {
		for (int c = 0; c < 4; c++) {
			if (!want[c])
				continue;
			for (int k = 0; k < 2; k++) {
				int xen = k ^ (int)(rep & 1);
				struct run run = {.xen = xen,
						  .tx = !(c & 1),
						  .gso = c >= 2,
						  .tapfd = fd,
						  .q = &nf.q[0],
						  .peer =
						      xen ? &peer : &rawpeer,
						  .daemon = xen ? td.pid : 0};
				double *m = res[rep][xen][c];

				if (xen) {
					static uint8_t f[70000];
					struct virtio_net_hdr h;

					/* The guest's tx pages hold the
					 * frame's head once and for all:
					 * netfront grants the skb's pages,
					 * it copies nothing. */
					make_frame(f, c >= 2, &h);
					for (unsigned int i = 0; i < NF_TX_SIZE;
					     i++)
						memcpy(nf.q[0].txbuf[i], f,
						       4096);
				}
				measure(&run, &m[0], &m[1], &m[2], &m[3]);
				drain(&run);
			}
		}
	}
	load1 = loadavg();
	nf.q[0].defer_push = false;
	close(fd);
	nf_peer_close(&rawpeer);
	nf_close(&nf, T_MS);
	nf_vif_remove(xs, &o, T_MS);
	nf_release(&nf);
	nf_peer_close(&peer);
	r = td_stop(&td);
	sg_domain_destroy(sg);
	xs_close(xs);
	xsh_stop(xsh);

	printf("%u x %.1f s per case, raw and xenbackd alternating; medians "
	       "(ratio: median of each repetition's, [min max]); load "
	       "average %.2f -> %.2f on %ld CPUs\n",
	       reps, run_secs, load0, load1, sysconf(_SC_NPROCESSORS_ONLN));
	if (split)
		printf("CPUS=split: the guest's thread (netfront) on CPU 0; the "
		       "daemon, the peer and the raw tap's threads on the "
		       "others\n");
	else
		printf("CPUS=shared: every thread on every CPU\n");
	printf("%-14s %13s %13s %5s %11s %16s %23s\n", "", "raw tap",
	       "xenbackd", "ratio", "", "CPU us/frame", "tap side us/frame");
	printf("%-14s %13s %13s %5s %11s %8s%8s%8s%8s%7s\n", "", "", "", "",
	       "", "raw", "xb", "raw", "xb", "raw/xb");
	for (int c = 0; c < 4; c++) {
		bool gso = c >= 2;
		int m = gso ? 1 : 0;
		double scale = gso ? 1e9 : 1e6, v[2][MAX_REPS], rat[MAX_REPS],
		       cpu[5][MAX_REPS], lo = 1e9, hi = 0;

		if (!want[c])
			continue;
		for (unsigned int i = 0; i < reps; i++) {
			v[0][i] = res[i][0][c][m] / scale;
			v[1][i] = res[i][1][c][m] / scale;
			rat[i] = v[0][i] > 0 ? v[1][i] / v[0][i] : 0;
			lo = rat[i] < lo ? rat[i] : lo;
			hi = rat[i] > hi ? rat[i] : hi;
			cpu[0][i] = res[i][0][c][2];
			cpu[1][i] = res[i][1][c][2];
			cpu[2][i] = res[i][0][c][3];
			cpu[3][i] = res[i][1][c][3];
			cpu[4][i] = cpu[3][i] > 0 ? cpu[2][i] / cpu[3][i] : 0;
		}
		printf("%-14s %8.3f %-4s %8.3f %-4s %5.2f [%4.2f %4.2f] %7.2f "
		       "%7.2f %7.2f %7.2f %6.2f\n",
		       names[c], median(v[0], reps), gso ? "Gb/s" : "Mpps",
		       median(v[1], reps), gso ? "Gb/s" : "Mpps",
		       median(rat, reps), lo, hi, median(cpu[0], reps),
		       median(cpu[1], reps), median(cpu[2], reps),
		       median(cpu[3], reps), median(cpu[4], reps));
	}
	printf("CPU us/frame: every thread of the path (this process's and the "
	       "daemon's); tap side: the raw tap's writer (tx) or reader (rx) "
	       "thread, and the daemon\n");
	return r == 0 ? 0 : 1;
}
