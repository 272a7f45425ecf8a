/* xb-tcp - a byte-verified TCP stream for the vm tier (dom0 <-> guest over the bridge).
 *
 *   xb-tcp recv [-p PORT] [-c STREAMS]        serve: verify every byte of each stream,
 *                                             answer 'K' (all bytes as expected) or 'X'
 *   xb-tcp send HOST PORT BYTES [-P STREAMS]  BYTES in total over STREAMS connections,
 *                                             exit 0 only when every receiver answered 'K'
 *
 * The data: each stream sends 64 KiB chunks of one pseudo-random pattern whose first 16
 * bytes are replaced by (stream seed, chunk index): a lost, duplicated, reordered or
 * corrupted byte fails the comparison. The sender first sends a 16-byte header (magic,
 * seed, length); after its last byte it shuts down its write side and waits for the
 * verdict. Both sides print bytes, seconds and Mbit/s ("xb-tcp: ..." lines).
 * recv serves each connection in its own thread, forever, or with -c until STREAMS
 * streams ended (exit 0 only if all of them were verified).
 * Static, no libraries: it goes into both initramfs images. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define MAGIC 0x58422d544350ull /* "XB-TCP" */

static unsigned char pattern[CHUNK];

static void make_pattern(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < CHUNK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}
}

/* the chunk `idx` of the stream `seed` */
static void chunk(unsigned char *b, uint64_t seed, uint64_t idx)
{
	memcpy(b, pattern, CHUNK);
	memcpy(b, &seed, 8);
	memcpy(b + 8, &idx, 8);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t r = write(fd, (const char *)buf + put, n - put);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		put += r;
	}
	return 0;
}

struct conn {
	int fd;
	int ok;
	uint64_t bytes;
	double secs;
	char peer[64];
};

static void *serve(void *arg)
{
	struct conn *c = arg;
	uint64_t hdr[3], len, seed, off = 0;
	unsigned char *exp = malloc(CHUNK), *buf = malloc(CHUNK);
	double t0;
	char verdict = 'X';

	c->ok = 0;
	if (read_full(c->fd, hdr, sizeof(hdr)) || hdr[0] != MAGIC) {
		fprintf(stderr, "xb-tcp: %s: bad header\n", c->peer);
		goto out;
	}
	seed = hdr[1];
	len = hdr[2];
	t0 = now();
	while (off < len) {
		size_t in = off % CHUNK, want = CHUNK - in;
		ssize_t r;

		if (want > len - off)
			want = len - off;
		if (in == 0)
			chunk(exp, seed, off / CHUNK);
		r = read(c->fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "xb-tcp: %s: stream ended at %llu of %llu bytes\n",
				c->peer, (unsigned long long)off, (unsigned long long)len);
			goto out;
		}
		if (memcmp(buf, exp + in, r)) {
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != exp[in + i]) {
					fprintf(stderr, "xb-tcp: %s: byte %llu differs\n", c->peer,
						(unsigned long long)(off + i));
					break;
				}
			goto out;
		}
		off += r;
	}
	/* nothing may follow */
	if (read(c->fd, buf, 1) != 0) {
		fprintf(stderr, "xb-tcp: %s: bytes after the end\n", c->peer);
		goto out;
	}
	c->secs = now() - t0;
	c->bytes = len;
	c->ok = 1;
	verdict = 'K';
	printf("xb-tcp: recv %llu bytes from %s in %.3f s = %.1f Mbit/s, verified\n",
	       (unsigned long long)len, c->peer, c->secs, len * 8 / c->secs / 1e6);
	fflush(stdout);
out:
	if (write_full(c->fd, &verdict, 1))
		c->ok = 0;
	close(c->fd);
	free(exp);
	free(buf);
	return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int ndone, nbad;

static void *serve_thread(void *arg)
{
	struct conn *c = arg;

	serve(c);
	pthread_mutex_lock(&lock);
	ndone++;
	nbad += !c->ok;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&lock);
	free(c);
	return NULL;
}

/* serve every connection in its own thread; with count > 0, exit once `count` streams
 * ended: 0 if all of them were verified */
static int do_recv(int port, int count)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int one = 1, ls = socket(AF_INET6, SOCK_STREAM, 0), accepted = 0;

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 64)) {
		perror("xb-tcp: listen");
		return 2;
	}
	printf("xb-tcp: listening on port %d\n", port);
	fflush(stdout);
	while (count <= 0 || accepted < count) {
		struct sockaddr_in6 p;
		socklen_t pl = sizeof(p);
		char h[INET6_ADDRSTRLEN];
		struct conn *c = calloc(1, sizeof(*c));
		pthread_t t;

		c->fd = accept(ls, (struct sockaddr *)&p, &pl);
		if (c->fd < 0) {
			perror("xb-tcp: accept");
			return 2;
		}
		inet_ntop(AF_INET6, &p.sin6_addr, h, sizeof(h));
		snprintf(c->peer, sizeof(c->peer), "%s", strncmp(h, "::ffff:", 7) ? h : h + 7);
		pthread_create(&t, NULL, serve_thread, c);
		pthread_detach(t);
		accepted++;
	}
	pthread_mutex_lock(&lock);
	while (ndone < count)
		pthread_cond_wait(&done_cond, &lock);
	pthread_mutex_unlock(&lock);
	return nbad ? 1 : 0;
}

struct sender {
	struct sockaddr_storage *sa;
	socklen_t salen;
	uint64_t seed, len;
	int ok;
	double secs;
};

static void *send_one(void *arg)
{
	struct sender *s = arg;
	unsigned char *b = malloc(CHUNK);
	uint64_t hdr[3] = { MAGIC, s->seed, s->len }, off = 0;
	double t0;
	char verdict = 0;
	int fd = socket(s->sa->ss_family, SOCK_STREAM, 0);

	s->ok = 0;
	if (fd < 0 || connect(fd, (struct sockaddr *)s->sa, s->salen)) {
		perror("xb-tcp: connect");
		goto out;
	}
	t0 = now();
	if (write_full(fd, hdr, sizeof(hdr)))
		goto broken;
	while (off < s->len) {
		size_t n = s->len - off < CHUNK ? s->len - off : CHUNK;

		chunk(b, s->seed, off / CHUNK);
		if (write_full(fd, b, n))
			goto broken;
		off += n;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, &verdict, 1) != 1 || verdict != 'K') {
		fprintf(stderr, "xb-tcp: the receiver %s the stream (seed %llu)\n",
			verdict == 'X' ? "rejected" : "did not confirm",
			(unsigned long long)s->seed);
		goto out;
	}
	s->secs = now() - t0;
	s->ok = 1;
	goto out;
broken:
	fprintf(stderr, "xb-tcp: send: %s after %llu bytes\n", strerror(errno),
		(unsigned long long)off);
out:
	if (fd >= 0)
		close(fd);
	free(b);
	return NULL;
}

static int do_send(const char *host, const char *port, uint64_t bytes, int streams)
{
	struct sockaddr_storage sa = { 0 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
	struct sender *s = calloc(streams, sizeof(*s));
	pthread_t *t = calloc(streams, sizeof(*t));
	char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], *scope;
	double secs = 0;
	socklen_t salen;
	int ok = 1;

	/* numeric only: 10.0.0.1, fe80::1%eth0 */
	snprintf(addr, sizeof(addr), "%s", host);
	scope = strchr(addr, '%');
	if (scope)
		*scope++ = 0;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(atoi(port));
		salen = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(atoi(port));
		a6->sin6_scope_id = scope ? if_nametoindex(scope) : 0;
		salen = sizeof(*a6);
	} else {
		fprintf(stderr, "xb-tcp: %s: not a numeric address\n", host);
		return 2;
	}
	srand(time(NULL) ^ getpid());
	for (int i = 0; i < streams; i++) {
		s[i].sa = &sa;
		s[i].salen = salen;
		s[i].seed = ((uint64_t)rand() << 32) ^ rand() ^ i;
		s[i].len = bytes / streams + (i == 0 ? bytes % streams : 0);
		pthread_create(&t[i], NULL, send_one, &s[i]);
	}
	for (int i = 0; i < streams; i++) {
		pthread_join(t[i], NULL);
		ok &= s[i].ok;
		if (s[i].secs > secs)
			secs = s[i].secs;
	}
	if (!ok) {
		printf("xb-tcp: send to %s FAILED\n", host);
		return 1;
	}
	printf("xb-tcp: sent %llu bytes to %s over %d stream(s) in %.3f s = %.1f Mbit/s, verified by the receiver\n",
	       (unsigned long long)bytes, host, streams, secs, bytes * 8 / secs / 1e6);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: xb-tcp recv [-p PORT] [-c STREAMS]\n"
			"       xb-tcp send HOST PORT BYTES[k|m|g] [-P STREAMS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	make_pattern();
	if (argc >= 2 && !strcmp(argv[1], "recv")) {
		int port = 5001, count = 0;

		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "-p") && i + 1 < argc)
				port = atoi(argv[++i]);
			else if (!strcmp(argv[i], "-c") && i + 1 < argc)
				count = atoi(argv[++i]);
			else
				usage();
		}
		return do_recv(port, count);
	}
	if (argc >= 5 && !strcmp(argv[1], "send")) {
		char *end;
		uint64_t bytes = strtoull(argv[4], &end, 10);
		int streams = 1;

		switch (*end) {
		case 'g': case 'G': bytes <<= 10; /* fallthrough */
		case 'm': case 'M': bytes <<= 10; /* fallthrough */
		case 'k': case 'K': bytes <<= 10; break;
		case 0: break;
		default: usage();
		}
		for (int i = 5; i < argc; i++) {
			if (!strcmp(argv[i], "-P") && i + 1 < argc)
				streams = atoi(argv[++i]);
			else
				usage();
		}
		if (streams < 1 || streams > 64 || !bytes)
			usage();
		return do_send(argv[2], argv[3], bytes, streams);
	}
	usage();
}
