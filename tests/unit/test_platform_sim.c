/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sim platform against the simguest library: shared memory through
 * grants, grant copy, Xen's strictness, revoke while mapped, event channels
 * both ways, re-binding, and the same from a second process.
 *
 * Exit 0 pass, 1 fail, 77 skip.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simguest.h"
#include "xb_platform.h"

#define GUEST	  5
#define NR_FRAMES 64
#define NR_GRANTS 128

static int failures;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #c);                                 \
			failures++;                                            \
		}                                                              \
	} while (0)

#define CHECK_RC(expr, want)                                                   \
	do {                                                                   \
		long _r = (long)(expr);                                        \
		if (_r != (long)(want)) {                                      \
			fprintf(stderr, "%s:%d: %s = %ld, want %ld\n",         \
				__FILE__, __LINE__, #expr, _r, (long)(want));  \
			failures++;                                            \
		}                                                              \
	} while (0)

static char sim_dir[64];

/* True once fd is readable, within ms. */
static bool readable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

static bool pinned(struct sg_domain *g, uint32_t ref)
{
	return sg_grant_flags(g, ref) & (GTF_reading | GTF_writing);
}

/* Front and back share memory, both ways; revoke refused while mapped. */
static void test_shared_memory(struct xb_platform *p, struct sg_domain *g)
{
	uint32_t frames[3];
	xb_gref_t refs[3];
	uint8_t *gva[3], *bva;
	void *addr;
	int i, ref;

	gva[0] = sg_page_alloc(g, &frames[0]);
	CHECK(gva[0]);
	ref = sg_grant_access(g, 0, frames[0], false);
	CHECK(ref >= 8);
	refs[0] = ref;

	CHECK_RC(xb_gnt_map(p, GUEST, 1, refs, true, &addr), 0);
	bva = addr;
	CHECK(sg_grant_flags(g, refs[0]) ==
	      (GTF_permit_access | GTF_reading | GTF_writing));
	memcpy(bva, "from back", 10);
	CHECK(!memcmp(gva[0], "from back", 10));
	memcpy(gva[0] + 100, "from front", 11);
	CHECK(!memcmp(bva + 100, "from front", 11));

	CHECK_RC(sg_grant_end(g, refs[0]), -EBUSY);
	CHECK_RC(xb_gnt_unmap(p, addr, 2), -EINVAL); /* wrong count */
	CHECK_RC(xb_gnt_unmap(p, (uint8_t *)addr + 4096, 1), -EINVAL);
	CHECK_RC(xb_gnt_unmap(p, addr, 1), 0);
	CHECK(!pinned(g, refs[0]));
	CHECK_RC(sg_grant_end(g, refs[0]), 0);
	CHECK_RC(sg_grant_end(g, refs[0]), -EINVAL); /* already free */

	/* Contiguous multi-page mapping, one frame per ref, in order. */
	for (i = 0; i < 3; i++) {
		if (i) {
			gva[i] = sg_page_alloc(g, &frames[i]);
			CHECK(gva[i]);
		}
		refs[i] = sg_grant_access(g, 0, frames[i], false);
	}
	CHECK_RC(xb_gnt_map(p, GUEST, 3, refs, true, &addr), 0);
	for (i = 0; i < 3; i++)
		((uint8_t *)addr)[i * 4096 + 7] = (uint8_t)(0xa0 + i);
	for (i = 0; i < 3; i++)
		CHECK(gva[i][7] == 0xa0 + i);
	CHECK_RC(xb_gnt_unmap(p, addr, 3), 0);

	/* A read-only mapping of a writable grant sets only GTF_reading. */
	CHECK_RC(xb_gnt_map(p, GUEST, 1, refs, false, &addr), 0);
	CHECK(sg_grant_flags(g, refs[0]) == (GTF_permit_access | GTF_reading));
	CHECK(((uint8_t *)addr)[7] == 0xa0);
	/* Mapped twice: the flags stay until the last unmap. */
	{
		void *addr2;

		CHECK_RC(xb_gnt_map(p, GUEST, 1, refs, true, &addr2), 0);
		CHECK_RC(xb_gnt_unmap(p, addr2, 1), 0);
		CHECK(sg_grant_flags(g, refs[0]) ==
		      (GTF_permit_access | GTF_reading));
		CHECK_RC(sg_grant_end(g, refs[0]), -EBUSY);
	}
	CHECK_RC(xb_gnt_unmap(p, addr, 1), 0);

	for (i = 0; i < 3; i++) {
		CHECK_RC(sg_grant_end(g, refs[i]), 0);
		sg_page_free(g, gva[i]);
	}
}

/* gnt_map_each: per-ref results, good refs stay mapped. */
static void test_map_each(struct xb_platform *p, struct sg_domain *g)
{
	uint32_t f0, f1;
	uint8_t *g0 = sg_page_alloc(g, &f0), *g1 = sg_page_alloc(g, &f1);
	xb_gref_t refs[3];
	void *addrs[3];
	int errs[3];

	refs[0] = sg_grant_access(g, 0, f0, false);
	refs[1] = NR_GRANTS + 5; /* beyond the table */
	refs[2] = sg_grant_access(g, 0, f1, true);
	CHECK(p->ops->gnt_map_each(p, GUEST, 3, refs, false, addrs, errs) < 0);
	CHECK(errs[0] == 0 && addrs[0]);
	CHECK(errs[1] < 0 && !addrs[1]);
	CHECK(errs[2] == 0 && addrs[2]);
	g0[1] = 0x11;
	g1[1] = 0x22;
	CHECK(((uint8_t *)addrs[0])[1] == 0x11);
	CHECK(((uint8_t *)addrs[2])[1] == 0x22);
	CHECK_RC(xb_gnt_unmap(p, addrs[0], 1), 0);
	CHECK_RC(xb_gnt_unmap(p, addrs[2], 1), 0);
	CHECK_RC(sg_grant_end(g, refs[0]), 0);
	CHECK_RC(sg_grant_end(g, refs[2]), 0);
	sg_page_free(g, g0);
	sg_page_free(g, g1);
}

static void test_copy(struct xb_platform *p, struct sg_domain *g)
{
	uint32_t f0, f1;
	uint8_t *g0 = sg_page_alloc(g, &f0), *g1 = sg_page_alloc(g, &f1);
	int rw = sg_grant_access(g, 0, f0, false);
	int ro = sg_grant_access(g, 0, f1, true);
	char out[16] = "copied-in", in[16] = {0}, ro_in[8] = "XXXXXXX";
	struct xb_gnt_copy segs[4] = {
	    {.to_guest = true,
	     .domid = GUEST,
	     .ref = rw,
	     .offset = 4000,
	     .len = 10,
	     .local = out},
	    {.to_guest = false,
	     .domid = GUEST,
	     .ref = ro,
	     .offset = 96,
	     .len = 5,
	     .local = in},
	    /* Writing into a read-only grant: refused. */
	    {.to_guest = true,
	     .domid = GUEST,
	     .ref = ro,
	     .offset = 0,
	     .len = 8,
	     .local = ro_in},
	    /* Crossing the frame end: refused. */
	    {.to_guest = true,
	     .domid = GUEST,
	     .ref = rw,
	     .offset = 4090,
	     .len = 7,
	     .local = out},
	};

	memcpy(g1 + 96, "hello", 5);
	CHECK_RC(xb_gnt_copy(p, 4, segs), 0);
	CHECK_RC(segs[0].status, GNTST_okay);
	CHECK(!memcmp(g0 + 4000, "copied-in", 10));
	CHECK_RC(segs[1].status, GNTST_okay);
	CHECK(!memcmp(in, "hello", 5));
	CHECK(segs[2].status < 0);
	CHECK(g1[0] == 0);
	CHECK_RC(segs[3].status, GNTST_bad_copy_arg);
	CHECK(g0[4090] == 0);
	/* Copies pin only for their duration. */
	CHECK(!pinned(g, rw) && !pinned(g, ro));
	CHECK_RC(sg_grant_end(g, rw), 0);
	CHECK_RC(sg_grant_end(g, ro), 0);
	sg_page_free(g, g0);
	sg_page_free(g, g1);
}

/* Every way a hostile or confused guest can make a grant invalid. */
static void test_strict(struct xb_platform *p, struct sg_domain *g)
{
	static const struct {
		const char *what;
		uint16_t flags, domid;
		uint32_t frame;
		bool writable;
	} bad[] = {
	    {"no permit_access", 0, 0, 1, false},
	    {"readonly without permit", GTF_readonly, 0, 1, false},
	    {"transitive", GTF_transitive, 0, 1, false},
	    {"accept_transfer", GTF_accept_transfer, 0, 1, false},
	    {"sub_page map", GTF_permit_access | GTF_sub_page, 0, 1, false},
	    {"other grantee", GTF_permit_access, 1, 1, false},
	    {"frame out of range", GTF_permit_access, 0, NR_FRAMES, false},
	    {"frame huge", GTF_permit_access, 0, 0xffffffffu, false},
	    {"write to r/o", GTF_permit_access | GTF_readonly, 0, 1, true},
	};
	const uint32_t ref = 100;
	struct xb_gnt_copy seg;
	char buf[8] = {0};
	xb_gref_t refs[2];
	unsigned int i;
	void *addr;
	int ok;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RC(sg_grant_raw(g, ref, bad[i].flags, bad[i].domid,
				      bad[i].frame),
			 0);
		refs[0] = ref;
		addr = NULL;
		if (xb_gnt_map(p, GUEST, 1, refs, bad[i].writable, &addr) >=
		    0) {
			fprintf(stderr, "map accepted: %s\n", bad[i].what);
			failures++;
			xb_gnt_unmap(p, addr, 1);
		}
		CHECK(!pinned(g, ref));
		seg = (struct xb_gnt_copy){.to_guest = bad[i].writable,
					   .domid = GUEST,
					   .ref = ref,
					   .len = 8,
					   .local = buf};
		CHECK_RC(xb_gnt_copy(p, 1, &seg), 0);
		/* Copies may use sub-page grants (Xen allows it); the rest
		 * must fail. */
		if (!(bad[i].flags & GTF_sub_page) && seg.status >= 0) {
			fprintf(stderr, "copy accepted: %s\n", bad[i].what);
			failures++;
		}
		CHECK(!pinned(g, ref));
		CHECK_RC(sg_grant_end(g, ref), 0);
	}

	/* A ref beyond the table, and one of a domain that does not exist. */
	refs[0] = NR_GRANTS;
	CHECK(xb_gnt_map(p, GUEST, 1, refs, false, &addr) < 0);
	refs[0] = 0xffffffffu;
	CHECK(xb_gnt_map(p, GUEST, 1, refs, false, &addr) < 0);
	seg = (struct xb_gnt_copy){
	    .domid = GUEST, .ref = NR_GRANTS, .len = 1, .local = buf};
	CHECK_RC(xb_gnt_copy(p, 1, &seg), 0);
	CHECK_RC(seg.status, GNTST_bad_gntref);
	refs[0] = 8;
	CHECK_RC(xb_gnt_map(p, 77, 1, refs, false, &addr), -ESRCH);
	seg =
	    (struct xb_gnt_copy){.domid = 77, .ref = 8, .len = 1, .local = buf};
	CHECK_RC(xb_gnt_copy(p, 1, &seg), 0);
	CHECK_RC(seg.status, GNTST_bad_domain);
	CHECK(xb_gnt_map(p, GUEST, 0, refs, false, &addr) < 0);

	/* All or nothing: a good ref followed by a bad one leaves nothing
	 * mapped or pinned. */
	ok = sg_grant_access(g, 0, 2, false);
	refs[0] = ok;
	refs[1] = 101; /* never granted */
	CHECK(xb_gnt_map(p, GUEST, 2, refs, true, &addr) < 0);
	CHECK(!pinned(g, ok));
	CHECK_RC(sg_grant_end(g, ok), 0);

	/* Revoked after use: a map of a revoked ref fails. */
	ok = sg_grant_access(g, 0, 2, false);
	refs[0] = ok;
	CHECK_RC(sg_grant_end(g, ok), 0);
	CHECK(xb_gnt_map(p, GUEST, 1, refs, false, &addr) < 0);
}

static void segv_exit(int sig)
{
	_exit(99);
}

/* A child writing through a read-only mapping faults (SIGSEGV, or ASan's
 * report and a non-zero exit). */
static void test_ro_fault(struct xb_platform *p, struct sg_domain *g)
{
	uint32_t f;
	uint8_t *gva = sg_page_alloc(g, &f);
	xb_gref_t ref = sg_grant_access(g, 0, f, true);
	int status;
	void *addr;
	pid_t pid;

	CHECK_RC(xb_gnt_map(p, GUEST, 1, &ref, false, &addr), 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = {.sa_handler = segv_exit};

		/* Our own handler: a quiet exit instead of ASan's report. */
		sigaction(SIGSEGV, &sa, NULL);
		*(volatile uint8_t *)addr = 1;
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 99) ||
	      (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV));
	CHECK(gva[0] == 0);
	CHECK_RC(xb_gnt_unmap(p, addr, 1), 0);
	CHECK_RC(sg_grant_end(g, ref), 0);
	sg_page_free(g, gva);
}

/* Another process maps and dies holding the mapping: memory is shared
 * across processes, and the dead mapper's pin does not block a revoke (the
 * kernel would have unmapped it). */
static void test_other_process(struct sg_domain *g)
{
	struct xb_platform_args args = {.sim_dir = sim_dir};
	uint32_t f;
	uint8_t *gva = sg_page_alloc(g, &f);
	xb_gref_t ref = sg_grant_access(g, 0, f, false);
	int port = sg_evtchn_alloc_unbound(g, 0);
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct xb_platform *cp;
		struct xb_evtchn *ec;
		void *addr;

		if (xb_platform_open("sim", &args, &cp) < 0 ||
		    xb_gnt_map(cp, GUEST, 1, &ref, true, &addr) < 0 ||
		    cp->ops->evtchn_bind(cp, GUEST, port, &ec) < 0)
			_exit(2);
		memcpy(addr, "child", 6);
		/* Consume the pending event a fresh binding starts with. */
		if (xb_evtchn_ack(ec) != 1 || xb_evtchn_notify(ec) < 0)
			_exit(3);
		/* Wait for the guest's answer, then die without cleanup. */
		if (!readable(xb_evtchn_fd(ec), 5000))
			_exit(4);
		while (xb_evtchn_ack(ec) == 1)
			;
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK(readable(sg_evtchn_fd(g, port), 5000));
	CHECK_RC(sg_evtchn_ack(g, port), 1);
	CHECK(!memcmp(gva, "child", 6));
	CHECK(sg_evtchn_is_bound(g, port));
	CHECK_RC(sg_grant_end(g, ref), -EBUSY);
	CHECK_RC(sg_evtchn_notify(g, port), 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The dead process's socket closed: the port goes back to unbound. */
	for (int i = 0; i < 500 && sg_evtchn_is_bound(g, port); i++)
		usleep(10000);
	CHECK(!sg_evtchn_is_bound(g, port));
	CHECK(pinned(g, ref));
	CHECK_RC(sg_grant_end(g, ref), 0);
	CHECK_RC(sg_evtchn_close(g, port), 0);
	sg_page_free(g, gva);
}

static void test_evtchn(struct xb_platform *p, struct sg_domain *g)
{
	struct xb_evtchn *ec, *ec2;
	int port, other;

	port = sg_evtchn_alloc_unbound(g, 0);
	CHECK(port > 0);
	CHECK_RC(sg_evtchn_notify(g, port), -ENOTCONN);
	CHECK(!sg_evtchn_is_bound(g, port));

	CHECK_RC(p->ops->evtchn_bind(p, GUEST, port, &ec), 0);
	CHECK(sg_evtchn_is_bound(g, port));
	/* Xen sets a freshly bound port pending once. */
	CHECK_RC(xb_evtchn_ack(ec), 1);
	CHECK_RC(xb_evtchn_ack(ec), 0);
	CHECK(!readable(xb_evtchn_fd(ec), 0));

	/* Guest -> backend, coalescing like an event channel. */
	CHECK_RC(sg_evtchn_notify(g, port), 0);
	CHECK_RC(sg_evtchn_notify(g, port), 0);
	CHECK(readable(xb_evtchn_fd(ec), 1000));
	CHECK_RC(xb_evtchn_ack(ec), 1);
	CHECK_RC(xb_evtchn_ack(ec), 0);

	/* Backend -> guest. */
	CHECK(!readable(sg_evtchn_fd(g, port), 0));
	CHECK_RC(xb_evtchn_notify(ec), 0);
	CHECK(readable(sg_evtchn_fd(g, port), 1000));
	CHECK_RC(sg_evtchn_ack(g, port), 1);
	CHECK_RC(sg_evtchn_ack(g, port), 0);

	/* A bound port cannot be bound again. */
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, port, &ec2), -EINVAL);

	/* Unbind is synchronous and the port re-bindable, same guest fd. */
	xb_evtchn_unbind(ec);
	CHECK(!sg_evtchn_is_bound(g, port));
	CHECK_RC(sg_evtchn_notify(g, port), -ENOTCONN);
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, port, &ec), 0);
	CHECK(sg_evtchn_is_bound(g, port));
	CHECK_RC(xb_evtchn_notify(ec), 0);
	CHECK(readable(sg_evtchn_fd(g, port), 1000));
	CHECK_RC(sg_evtchn_ack(g, port), 1);

	/* Wrong port, wrong remote domain, no such domain. */
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, 0, &ec2), -EINVAL);
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, 40, &ec2), -EINVAL);
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, 100000, &ec2), -EINVAL);
	other = sg_evtchn_alloc_unbound(g, 3);
	CHECK(other > 0);
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, other, &ec2), -EINVAL);
	CHECK_RC(p->ops->evtchn_bind(p, 77, port, &ec2), -ESRCH);
	CHECK_RC(sg_evtchn_close(g, other), 0);

	/* The guest closes a bound port: our end keeps working (kicks go
	 * nowhere) and the port cannot be bound any more. */
	CHECK_RC(sg_evtchn_close(g, port), 0);
	CHECK_RC(xb_evtchn_notify(ec), 0);
	CHECK(xb_evtchn_ack(ec) >= 0);
	xb_evtchn_unbind(ec);
	CHECK_RC(p->ops->evtchn_bind(p, GUEST, port, &ec2), -EINVAL);
	CHECK_RC(sg_evtchn_notify(g, port), -EINVAL);
}

struct hammer {
	struct xb_platform *p;
	xb_gref_t ref;
	int errors;
};

/* Maps, copies and unmaps one ref in a loop alongside other threads. */
static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	char buf[4];
	struct xb_gnt_copy seg = {
	    .domid = GUEST, .ref = h->ref, .len = 4, .local = buf};
	void *addr;

	for (int i = 0; i < 500; i++) {
		if (xb_gnt_map(h->p, GUEST, 1, &h->ref, i & 1, &addr) < 0) {
			h->errors++;
			continue;
		}
		if (xb_gnt_copy(h->p, 1, &seg) < 0 || seg.status)
			h->errors++;
		if (xb_gnt_unmap(h->p, addr, 1) < 0)
			h->errors++;
	}
	return NULL;
}

static void test_threads(struct xb_platform *p, struct sg_domain *g)
{
	struct hammer h[4];
	pthread_t t[4];
	uint32_t f;
	uint8_t *gva = sg_page_alloc(g, &f);
	int ref = sg_grant_access(g, 0, f, false);
	int i;

	for (i = 0; i < 4; i++) {
		h[i] = (struct hammer){.p = p, .ref = ref};
		CHECK(pthread_create(&t[i], NULL, hammer_thread, &h[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_RC(h[i].errors, 0);
	}
	CHECK(!pinned(g, ref));
	CHECK_RC(sg_grant_end(g, ref), 0);
	sg_page_free(g, gva);
}

/* The domain disappears while mapped, then comes back under the same
 * domid: the old mapping stays harmless, the new domain is seen afresh. */
static void test_recreate(struct xb_platform *p, struct sg_domain **gp)
{
	struct sg_domain *g = *gp;
	uint32_t f;
	uint8_t *gva = sg_page_alloc(g, &f);
	xb_gref_t ref = sg_grant_access(g, 0, f, false);
	void *old, *addr;

	CHECK_RC(xb_gnt_map(p, GUEST, 1, &ref, true, &old), 0);
	sg_domain_destroy(g);
	*gp = NULL;
	((uint8_t *)old)[0] = 1; /* still our memory, no crash */
	CHECK_RC(xb_gnt_map(p, GUEST, 1, &ref, true, &addr), -ESRCH);

	CHECK_RC(sg_domain_create(sim_dir, GUEST, NR_FRAMES, NR_GRANTS, gp), 0);
	if (!*gp)
		return;
	g = *gp;
	gva = sg_page_alloc(g, &f);
	ref = sg_grant_access(g, 0, f, false);
	CHECK_RC(xb_gnt_map(p, GUEST, 1, &ref, true, &addr), 0);
	CHECK(gva[0] == 0);
	((uint8_t *)addr)[0] = 2;
	CHECK(gva[0] == 2);
	CHECK_RC(xb_gnt_unmap(p, addr, 1), 0);
	CHECK_RC(xb_gnt_unmap(p, old, 1), 0);
	CHECK_RC(sg_grant_end(g, ref), 0);
	CHECK_RC(sg_domain_create(sim_dir, GUEST, NR_FRAMES, NR_GRANTS, &g),
		 -EEXIST);
}

static void test_open(void)
{
	struct xb_platform_args args = {.sim_dir = sim_dir};
	struct xb_platform_args none = {0};
	struct xb_platform *p;

	CHECK_RC(xb_platform_open("shim", &args, &p), -ENOTSUP);
	CHECK_RC(xb_platform_open("bogus", &args, &p), -EINVAL);
	CHECK_RC(xb_platform_open("sim", &none, &p), -EINVAL);
	if (access("/dev/xen/gntdev", F_OK) < 0) {
		CHECK_RC(xb_platform_open("xen", &args, &p), -ENOENT);
		CHECK_RC(xb_platform_open("auto", &args, &p), -ENOENT);
	}
}

int main(void)
{
	struct xb_platform_args args = {.sim_dir = sim_dir};
	struct xb_platform *p;
	struct sg_domain *g;
	int r;

	snprintf(sim_dir, sizeof(sim_dir), "/dev/shm/xb-sim-XXXXXX");
	if (!mkdtemp(sim_dir)) {
		snprintf(sim_dir, sizeof(sim_dir), "/tmp/xb-sim-XXXXXX");
		if (!mkdtemp(sim_dir)) {
			printf("SKIP: cannot create a sim dir: %s\n",
			       strerror(errno));
			return 77;
		}
	}
	r = sg_domain_create(sim_dir, GUEST, NR_FRAMES, NR_GRANTS, &g);
	if (r < 0) {
		fprintf(stderr, "sg_domain_create: %s\n", strerror(-r));
		rmdir(sim_dir);
		return 1;
	}
	r = xb_platform_open("sim", &args, &p);
	if (r < 0) {
		fprintf(stderr, "xb_platform_open(sim): %s\n", strerror(-r));
		sg_domain_destroy(g);
		rmdir(sim_dir);
		return 1;
	}

	test_open();
	test_shared_memory(p, g);
	test_map_each(p, g);
	test_copy(p, g);
	test_strict(p, g);
	test_ro_fault(p, g);
	test_evtchn(p, g);
	test_other_process(g);
	test_threads(p, g);
	test_recreate(p, &g);

	p->ops->close(p);
	sg_domain_destroy(g);
	if (rmdir(sim_dir) < 0) {
		fprintf(stderr, "sim dir not empty after destroy: %s\n",
			strerror(errno));
		failures++;
	}
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("platform_sim: all checks passed\n");
	return 0;
}
