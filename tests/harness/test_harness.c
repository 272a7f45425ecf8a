// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves the xenstored harness: a real xenstored 4.17 under xsstub.so does
 * read/write, watches, transactions, permissions, domain introduction and
 * @releaseDomain on domain death, and leaves nothing behind.
 * Exit 0 pass, 1 fail, 77 skip (xenstored not installed).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "xs_harness.h"

#define WATCH_TIMEOUT_MS 5000

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,          \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			goto out;                                              \
		}                                                              \
	} while (0)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for an event (path, token); returns true if it came in time. */
static bool wait_watch(struct xs_handle *xs, const char *path,
		       const char *token, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd pfd = {.fd = xs_fileno(xs), .events = POLLIN};

	for (;;) {
		char **vec;
		long long left;

		while ((vec = xs_check_watch(xs))) {
			bool hit = !strcmp(vec[XS_WATCH_PATH], path) &&
				   !strcmp(vec[XS_WATCH_TOKEN], token);

			free(vec);
			if (hit)
				return true;
		}
		left = deadline - now_ms();
		if (left <= 0)
			return false;
		poll(&pfd, 1, (int)left);
	}
}

/* Reads a node as a string; NULL if missing. Caller frees. */
static char *rd(struct xs_handle *xs, xs_transaction_t t, const char *path)
{
	unsigned int len;

	return xs_read(xs, t, path, &len);
}

static bool rd_is(struct xs_handle *xs, xs_transaction_t t, const char *path,
		  const char *want)
{
	char *v = rd(xs, t, path);
	bool ok = v && !strcmp(v, want);

	free(v);
	return ok;
}

static bool wr(struct xs_handle *xs, xs_transaction_t t, const char *path,
	       const char *val)
{
	return xs_write(xs, t, path, val, strlen(val));
}

static bool test_transactions(struct xs_handle *xs)
{
	xs_transaction_t t;
	char *v;

	/* Writes in a transaction are invisible outside until commit. */
	t = xs_transaction_start(xs);
	if (t == XBT_NULL || !wr(xs, t, "/xsh-test/t/a", "1"))
		return false;
	v = rd(xs, XBT_NULL, "/xsh-test/t/a");
	if (v) {
		free(v);
		return false;
	}
	if (!xs_transaction_end(xs, t, false))
		return false;
	if (!rd_is(xs, XBT_NULL, "/xsh-test/t/a", "1"))
		return false;

	/* A conflicting write outside makes the commit fail with EAGAIN. */
	if (!wr(xs, XBT_NULL, "/xsh-test/c", "0"))
		return false;
	t = xs_transaction_start(xs);
	if (t == XBT_NULL || !rd_is(xs, t, "/xsh-test/c", "0"))
		return false;
	if (!wr(xs, XBT_NULL, "/xsh-test/c", "outside") ||
	    !wr(xs, t, "/xsh-test/c", "inside"))
		return false;
	if (xs_transaction_end(xs, t, false) || errno != EAGAIN)
		return false;
	return rd_is(xs, XBT_NULL, "/xsh-test/c", "outside");
}

static bool perms_are(struct xs_handle *xs, const char *path,
		      const struct xs_permissions *want, unsigned int n)
{
	struct xs_permissions *got;
	unsigned int num, i;
	bool ok;

	got = xs_get_permissions(xs, XBT_NULL, path, &num);
	if (!got)
		return false;
	ok = num == n;
	for (i = 0; ok && i < n; i++)
		ok = got[i].id == want[i].id && got[i].perms == want[i].perms;
	if (!ok)
		for (i = 0; i < num; i++)
			fprintf(stderr, "  %s perm[%u] = %u/%d\n", path, i,
				got[i].id, got[i].perms);
	free(got);
	return ok;
}

int main(void)
{
	struct xs_permissions p[2] = {
	    {.id = 5, .perms = XS_PERM_NONE},
	    {.id = 6, .perms = XS_PERM_READ},
	};
	struct xs_permissions dom3[2] = {
	    {.id = 0, .perms = XS_PERM_NONE},
	    {.id = 3, .perms = XS_PERM_READ},
	};
	struct xs_harness *h = NULL;
	struct xs_handle *xs = NULL;
	char dir[4096];
	int r, ret = 1;
	pid_t pid;

	r = xsh_start(&h);
	if (r == -ENOENT) {
		printf("SKIP: %s is not installed\n", XSH_XENSTORED);
		return 77;
	}
	CHECK(r == 0, "xsh_start: %s", strerror(-r));
	printf("xenstored pid %d, dir %s\n", (int)xsh_pid(h), xsh_dir(h));
	CHECK(!strcmp(getenv("XENSTORED_PATH"), xsh_socket_path(h)),
	      "XENSTORED_PATH not exported");

	/* An ordinary client finds the daemon through the environment. */
	xs = xs_open(0);
	CHECK(xs, "xs_open: %s", strerror(errno));

	CHECK(wr(xs, XBT_NULL, "/xsh-test/a", "hello"), "write");
	CHECK(rd_is(xs, XBT_NULL, "/xsh-test/a", "hello"), "read back");

	CHECK(xs_watch(xs, "/xsh-test/w", "w"), "xs_watch");
	/* xenstored fires every new watch once at registration. */
	CHECK(wait_watch(xs, "/xsh-test/w", "w", WATCH_TIMEOUT_MS),
	      "initial watch event");
	CHECK(wr(xs, XBT_NULL, "/xsh-test/w/x", "1"), "write watched");
	CHECK(wait_watch(xs, "/xsh-test/w/x", "w", WATCH_TIMEOUT_MS),
	      "watch did not fire");
	CHECK(xs_unwatch(xs, "/xsh-test/w", "w"), "xs_unwatch");

	CHECK(test_transactions(xs), "transactions (errno %d)", errno);

	/* Permissions naming domains need those domains to exist. */
	r = xsh_domain_create(h, 5);
	CHECK(r == 0, "create dom5: %s", strerror(-r));
	r = xsh_domain_create(h, 6);
	CHECK(r == 0, "create dom6: %s", strerror(-r));
	CHECK(wr(xs, XBT_NULL, "/xsh-test/p", "secret"), "write p");
	CHECK(xs_set_permissions(xs, XBT_NULL, "/xsh-test/p", p, 2),
	      "xs_set_permissions: %s", strerror(errno));
	CHECK(perms_are(xs, "/xsh-test/p", p, 2), "permissions round trip");
	/* dom0 over the socket is privileged: it still reads it. */
	CHECK(rd_is(xs, XBT_NULL, "/xsh-test/p", "secret"), "dom0 read");

	/* Domain 3 as libxl makes it, then its death. */
	r = xsh_domain_create(h, 3);
	CHECK(r == 0, "create dom3: %s", strerror(-r));
	CHECK(xs_is_domain_introduced(xs, 3), "dom3 not introduced");
	CHECK(rd_is(xs, XBT_NULL, "/local/domain/3/domid", "3"), "dom3 domid");
	CHECK(perms_are(xs, "/local/domain/3", dom3, 2), "dom3 perms");
	CHECK(xsh_domain_create(h, 3) == -EEXIST, "dom3 created twice");

	CHECK(xs_watch(xs, "@releaseDomain", "rel"), "watch @releaseDomain");
	CHECK(wait_watch(xs, "@releaseDomain", "rel", WATCH_TIMEOUT_MS),
	      "initial @releaseDomain event");
	r = xsh_domain_destroy(h, 3);
	CHECK(r == 0, "destroy dom3: %s", strerror(-r));
	CHECK(wait_watch(xs, "@releaseDomain", "rel", WATCH_TIMEOUT_MS),
	      "@releaseDomain did not fire for dom3");
	CHECK(!xs_is_domain_introduced(xs, 3), "dom3 still introduced");
	CHECK(!rd(xs, XBT_NULL, "/local/domain/3"), "dom3 nodes left");

	/* Death alone (no toolstack cleanup): only the VIRQ tells xenstored. */
	r = xsh_domain_create(h, 4);
	CHECK(r == 0, "create dom4: %s", strerror(-r));
	r = xsh_domain_kill(h, 4);
	CHECK(r == 0, "kill dom4: %s", strerror(-r));
	CHECK(wait_watch(xs, "@releaseDomain", "rel", WATCH_TIMEOUT_MS),
	      "@releaseDomain did not fire for dom4");
	CHECK(!xs_is_domain_introduced(xs, 4), "dom4 still introduced");

	pid = xsh_pid(h);
	snprintf(dir, sizeof(dir), "%s", xsh_dir(h));
	xs_close(xs);
	xs = NULL;
	xsh_stop(h);
	h = NULL;
	CHECK(kill(pid, 0) < 0 && errno == ESRCH, "xenstored %d still alive",
	      (int)pid);
	CHECK(access(dir, F_OK) < 0, "%s not removed", dir);
	CHECK(!getenv("XENSTORED_PATH"), "XENSTORED_PATH still set");
	printf("PASS\n");
	ret = 0;
out:
	if (xs)
		xs_close(xs);
	xsh_stop(h);
	return ret;
}
