/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The xenbus device lifecycle against the real xenstored, a simulated
 * toolstack and simulated guests. One program, one case per argument:
 * connect, reconnect, death, online0, stuck, many, malformed, shutdown.
 * Exit 0 pass, 1 fail, 77 skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "fixture.h"
#include "minifront.h"

#define T_MS 10000

static struct sf fx;
static char img[320];
static char envpath[200], envarg[220];
static const char *const args[] = { envarg, NULL };

/* Returns 0, 77 (skip) or 1. */
static int fx_start(void)
{
	int r, fd;

	snprintf(envpath, sizeof(envpath), "/tmp/xb-env-%d", (int)getpid());
	snprintf(envarg, sizeof(envarg), "--env-file=%s", envpath);
	r = sf_start(&fx, args);
	if (r)
		return r;
	snprintf(img, sizeof(img), "%s/disk.img", fx.td.dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 16 << 20) < 0)
		return 1;
	close(fd);
	return 0;
}

static struct sg_domain *fx_domain(unsigned int domid)
{
	return sf_domain(&fx, domid, 512, 1024);
}

static struct ts_vbd vbd(unsigned int domid, unsigned int devid)
{
	struct ts_vbd v = {
		.domid = domid,
		.devid = devid,
		.vdev = "xvda",
		.target = img,
		.discard_enable = -1,
		.script = true,
	};
	return v;
}

/* Add a device like xl and run its hotplug step once it is in InitWait. */
static int add_dev(const struct ts_vbd *v)
{
	char be[128];
	int r;

	ts_vbd_paths(v, be, sizeof(be), NULL, 0);
	r = ts_vbd_add(fx.xs, v);
	if (r)
		return r;
	r = ts_wait_state(fx.xs, be, XenbusStateInitWait, T_MS);
	if (r)
		return r;
	return ts_vbd_hotplug(fx.xs, v);
}

static int ctl_count(const char *needle)
{
	char buf[16384], *p;
	int n = 0;

	if (td_ctl(&fx.td, "list", buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The daemon lists n devices within 2 s. */
static bool wait_devices(int n)
{
	for (int i = 0; i < 200; i++) {
		if (ctl_count("\"name\"") == n)
			return true;
		usleep(10000);
	}
	return false;
}

/* Every key left in be must be one the toolstack or the scripts wrote. */
static int only_toolstack_keys(const char *be)
{
	static const char *const ok[] = {
		"frontend", "frontend-id", "params", "script", "online",
		"removable", "bootable", "state", "dev", "type", "mode",
		"device-type", "discard-enable", "physical-device",
		"physical-device-path", "hotplug-status", NULL,
	};
	unsigned int n;
	char **ents = xs_directory(fx.xs, XBT_NULL, be, &n);
	int bad = 0;

	for (unsigned int i = 0; ents && i < n; i++) {
		bool found = false;

		for (int k = 0; ok[k]; k++)
			found |= !strcmp(ents[i], ok[k]);
		if (!found) {
			fprintf(stderr, "left behind: %s/%s\n", be, ents[i]);
			bad++;
		}
	}
	free(ents);
	return bad == 0;
}

static bool error_node(const struct ts_vbd *v)
{
	char p[160];

	snprintf(p, sizeof(p),
		 "/local/domain/0/error/backend/vbd/%u/%u/error", v->domid,
		 v->devid);
	return ts_exists(fx.xs, p);
}

static int case_connect(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v = vbd(1, 51712);
	struct minifront f;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
	TS_CHECK(ctl_count("\"state\":\"Connected\"") == 1);
	/* The ring is mapped while connected: the guest cannot revoke it. */
	TS_CHECK(sg_grant_end(sg, (uint32_t)f.ref) == -EBUSY);
	TS_CHECK(mf_close(&f, T_MS) == 0); /* revokes: proves the unmap */
	TS_CHECK(!error_node(&v));
	TS_CHECK(ts_vbd_remove(fx.xs, &v, T_MS) == 0);
	TS_CHECK(ts_count_nodes(fx.xs, "/local/domain/0/backend/vbd/1") == 0);
	TS_CHECK(wait_devices(0));
	TS_CHECK(ts_count_nodes(fx.xs, "/local/domain/0/error") == 0);
	mf_release(&f);
	return 0;
}

static int case_reconnect(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v = vbd(1, 51712);
	struct minifront f;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	for (int round = 0; round < 3; round++) {
		TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
		TS_CHECK(mf_close(&f, T_MS) == 0);
		TS_CHECK(mf_reinit(&f) == 0);
	}
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
	TS_CHECK(ctl_count("\"state\":\"Connected\"") == 1);
	TS_CHECK(mf_close(&f, T_MS) == 0);
	TS_CHECK(ts_vbd_remove(fx.xs, &v, T_MS) == 0);
	mf_release(&f);
	return 0;
}

static int case_death(void)
{
	struct sg_domain *sg1 = fx_domain(1), *sg2 = fx_domain(2);
	struct ts_vbd v1 = vbd(1, 51712), v2 = vbd(2, 51712);
	struct minifront f1, f2;

	TS_CHECK(sg1 && sg2);
	TS_CHECK(add_dev(&v1) == 0 && add_dev(&v2) == 0);
	mf_init(&f1, sg1, fx.xs, &v1);
	mf_init(&f2, sg2, fx.xs, &v2);
	TS_CHECK(mf_connect(&f1, NULL, T_MS) == 0);
	TS_CHECK(mf_connect(&f2, NULL, T_MS) == 0);
	/* Domain 1 dies with its device connected. */
	TS_CHECK(xsh_domain_kill(fx.xsh, 1) == 0);
	TS_CHECK(ts_wait_state(fx.xs, f1.be, XenbusStateClosed, T_MS) == 0);
	/* The daemon let go of the ring: the grant can be revoked now. */
	TS_CHECK(sg_grant_end(sg1, (uint32_t)f1.ref) == 0);
	f1.ref = -1;
	/* The other domain is untouched. */
	TS_CHECK(ts_read_int(fx.xs, f2.be, "state") == XenbusStateConnected);
	TS_CHECK(sg_grant_end(sg2, (uint32_t)f2.ref) == -EBUSY);
	/* libxl's cleanup removes the backend directory. */
	TS_CHECK(xsh_domain_destroy(fx.xsh, 1) == 0);
	xs_rm(fx.xs, XBT_NULL, f1.be);
	TS_CHECK(wait_devices(1));
	TS_CHECK(mf_close(&f2, T_MS) == 0);
	mf_release(&f1);
	mf_release(&f2);
	return 0;
}

static int case_online0(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v = vbd(1, 51712);
	struct minifront f;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
	/* xl block-detach: online=0 + Closing; the frontend closes. */
	TS_CHECK(ts_vbd_remove_begin(fx.xs, &v) == 0);
	TS_CHECK(mf_close(&f, T_MS) == 0);
	TS_CHECK(ts_wait_state(fx.xs, f.be, XenbusStateClosed, T_MS) == 0);
	TS_CHECK(only_toolstack_keys(f.be));
	xs_rm(fx.xs, XBT_NULL, f.be);
	xs_rm(fx.xs, XBT_NULL, f.fe);
	TS_CHECK(wait_devices(0));
	mf_release(&f);
	return 0;
}

/* A frontend that never answers removal: libxl gives up and removes. */
static int case_stuck(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v = vbd(1, 51712);
	struct minifront f;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
	TS_CHECK(ts_vbd_remove(fx.xs, &v, 500) == -ETIMEDOUT);
	TS_CHECK(wait_devices(0));
	TS_CHECK(sg_grant_end(sg, (uint32_t)f.ref) == 0);
	f.ref = -1;
	mf_release(&f);
	return 0;
}

static int case_many(void)
{
	static const unsigned int devids[] = { 51712, 51728, 51744 };
	struct minifront f[2][3];

	for (unsigned int d = 0; d < 2; d++) {
		struct sg_domain *sg = fx_domain(d + 1);

		TS_CHECK(sg);
		for (unsigned int i = 0; i < 3; i++) {
			struct ts_vbd v = vbd(d + 1, devids[i]);

			TS_CHECK(ts_vbd_add(fx.xs, &v) == 0);
			mf_init(&f[d][i], sg, fx.xs, &v);
		}
	}
	for (unsigned int d = 0; d < 2; d++) {
		for (unsigned int i = 0; i < 3; i++) {
			TS_CHECK(ts_wait_state(fx.xs, f[d][i].be,
					       XenbusStateInitWait, T_MS) == 0);
			TS_CHECK(ts_vbd_hotplug(fx.xs, &f[d][i].vbd) == 0);
		}
	}
	for (unsigned int d = 0; d < 2; d++)
		for (unsigned int i = 0; i < 3; i++)
			TS_CHECK(mf_connect(&f[d][i], NULL, T_MS) == 0);
	TS_CHECK(ctl_count("\"state\":\"Connected\"") == 6);
	for (unsigned int d = 0; d < 2; d++) {
		for (unsigned int i = 0; i < 3; i++) {
			TS_CHECK(mf_close(&f[d][i], T_MS) == 0);
			TS_CHECK(ts_vbd_remove(fx.xs, &f[d][i].vbd, T_MS) == 0);
			mf_release(&f[d][i]);
		}
	}
	TS_CHECK(wait_devices(0));
	return 0;
}

/* A bad frontend value fails that device only. */
static int bad_frontend(struct sg_domain *sg, unsigned int devid,
			const struct mf_bad *bad)
{
	struct ts_vbd v = vbd(1, devid);
	struct minifront f;

	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	TS_CHECK(mf_connect(&f, bad, 2000) == -ETIMEDOUT);
	TS_CHECK(ts_wait_state(fx.xs, f.be, XenbusStateClosing, T_MS) == 0);
	TS_CHECK(error_node(&v));
	/* The frontend closes; the device goes Closed and lets go of all. */
	TS_CHECK(mf_close(&f, T_MS) == 0);
	TS_CHECK(ts_vbd_remove(fx.xs, &v, T_MS) == 0);
	mf_release(&f);
	return 0;
}

static int case_malformed(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd good = vbd(1, 51712), v;
	struct mf_bad b1 = { .ring_ref = "banana" };
	struct mf_bad b2 = { .no_event_channel = true };
	struct mf_bad b3 = { .ring_page_order = "30" };
	struct mf_bad b4 = { .ring_ref = "4294967296" };
	struct minifront f;
	char be[128];

	TS_CHECK(sg);
	TS_CHECK(add_dev(&good) == 0);
	mf_init(&f, sg, fx.xs, &good);
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);

	TS_CHECK(bad_frontend(sg, 51728, &b1) == 0);
	TS_CHECK(bad_frontend(sg, 51744, &b2) == 0);
	TS_CHECK(bad_frontend(sg, 51760, &b3) == 0);
	TS_CHECK(bad_frontend(sg, 51776, &b4) == 0);

	/* Toolstack values: a backing file that does not exist. */
	v = vbd(1, 51792);
	v.target = "/nonexistent/disk.img";
	TS_CHECK(add_dev(&v) == 0);
	ts_vbd_paths(&v, be, sizeof(be), NULL, 0);
	TS_CHECK(ts_wait_state(fx.xs, be, XenbusStateClosing, T_MS) == 0);
	TS_CHECK(error_node(&v));
	TS_CHECK(ts_vbd_remove(fx.xs, &v, 500) == -ETIMEDOUT ||
		 !ts_exists(fx.xs, be));
	/* A frontend path outside the guest's own tree. */
	v = vbd(1, 51808);
	ts_vbd_paths(&v, be, sizeof(be), NULL, 0);
	{
		xs_transaction_t t = xs_transaction_start(fx.xs);
		char p[200];

		TS_CHECK(t != XBT_NULL);
		snprintf(p, sizeof(p), "%s/frontend", be);
		xs_write(fx.xs, t, p, "/local/domain/2/device/vbd/1", 28);
		snprintf(p, sizeof(p), "%s/frontend-id", be);
		xs_write(fx.xs, t, p, "1", 1);
		snprintf(p, sizeof(p), "%s/state", be);
		xs_write(fx.xs, t, p, "1", 1);
		TS_CHECK(xs_transaction_end(fx.xs, t, false));
	}
	TS_CHECK(ts_wait_state(fx.xs, be, XenbusStateClosing, T_MS) == 0);
	TS_CHECK(error_node(&v));
	xs_rm(fx.xs, XBT_NULL, be);

	/* Through all this the good device stayed connected, the daemon
	 * lives, and a new device still connects. */
	TS_CHECK(td_alive(&fx.td));
	TS_CHECK(ts_read_int(fx.xs, f.be, "state") == XenbusStateConnected);
	TS_CHECK(sg_grant_end(sg, (uint32_t)f.ref) == -EBUSY);
	{
		struct ts_vbd v2 = vbd(1, 51824);
		struct minifront f2;

		TS_CHECK(add_dev(&v2) == 0);
		mf_init(&f2, sg, fx.xs, &v2);
		TS_CHECK(mf_connect(&f2, NULL, T_MS) == 0);
		TS_CHECK(mf_close(&f2, T_MS) == 0);
		TS_CHECK(ts_vbd_remove(fx.xs, &v2, T_MS) == 0);
		mf_release(&f2);
	}
	TS_CHECK(mf_close(&f, T_MS) == 0);
	TS_CHECK(ts_vbd_remove(fx.xs, &good, T_MS) == 0);
	mf_release(&f);
	return 0;
}

static int case_shutdown(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v1 = vbd(1, 51712), v2 = vbd(1, 51728);
	struct minifront f1, f2;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v1) == 0 && add_dev(&v2) == 0);
	mf_init(&f1, sg, fx.xs, &v1);
	mf_init(&f2, sg, fx.xs, &v2);
	TS_CHECK(mf_connect(&f1, NULL, T_MS) == 0);
	TS_CHECK(mf_connect(&f2, NULL, T_MS) == 0);
	TS_CHECK(td_stop(&fx.td) == 0);
	TS_CHECK(ts_read_int(fx.xs, f1.be, "state") == XenbusStateClosed);
	TS_CHECK(ts_read_int(fx.xs, f2.be, "state") == XenbusStateClosed);
	TS_CHECK(sg_grant_end(sg, (uint32_t)f1.ref) == 0);
	TS_CHECK(sg_grant_end(sg, (uint32_t)f2.ref) == 0);
	f1.ref = f2.ref = -1;
	/* A restarted daemon picks the devices up again. */
	TS_CHECK(td_start(&fx.td, NULL) == 0);
	TS_CHECK(mf_reinit(&f1) == 0);
	TS_CHECK(mf_connect(&f1, NULL, T_MS) == 0);
	TS_CHECK(mf_close(&f1, T_MS) == 0);
	mf_release(&f1);
	mf_release(&f2);
	return 0;
}

/* The control socket, xenbackctl, SIGHUP, and a device's counters. */
static int case_ctl(void)
{
	struct sg_domain *sg = fx_domain(1);
	struct ts_vbd v = vbd(1, 51712);
	struct minifront f;
	char cmd[1024], buf[4096];
	FILE *p;

	TS_CHECK(sg);
	TS_CHECK(add_dev(&v) == 0);
	mf_init(&f, sg, fx.xs, &v);
	TS_CHECK(mf_connect(&f, NULL, T_MS) == 0);
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' list", getenv("XB_CTL"),
		 fx.td.ctl_path);
	p = popen(cmd, "r");
	TS_CHECK(p);
	buf[fread(buf, 1, sizeof(buf) - 1, p)] = 0;
	TS_CHECK(pclose(p) == 0);
	printf("%s", buf);
	TS_CHECK(strstr(buf, "Connected") && strstr(buf, "51712"));
	TS_CHECK(td_ctl(&fx.td, "version", buf, sizeof(buf)) == 0);
	TS_CHECK(strstr(buf, "\"platform\":\"sim\"") &&
		 strstr(buf, "\"log_level\":\"debug\""));
	TS_CHECK(td_ctl(&fx.td, "log-level info", buf, sizeof(buf)) == 0);
	TS_CHECK(strstr(buf, "\"log_level\":\"info\""));
	TS_CHECK(td_ctl(&fx.td, "log-level shouty", buf, sizeof(buf)) == 0);
	TS_CHECK(strstr(buf, "error"));
	TS_CHECK(td_ctl(&fx.td, "nonsense", buf, sizeof(buf)) == 0);
	TS_CHECK(strstr(buf, "unknown command"));

	/* SIGHUP re-reads XENBACKD_LOG_LEVEL from the env file. */
	p = fopen(envpath, "w");
	TS_CHECK(p);
	fprintf(p, "XENBACKD_OPTS=\"\"\nXENBACKD_LOG_LEVEL=warn\n");
	fclose(p);
	TS_CHECK(kill(fx.td.pid, SIGHUP) == 0);
	for (int i = 0; i < 200; i++) {
		TS_CHECK(td_ctl(&fx.td, "version", buf, sizeof(buf)) == 0);
		if (strstr(buf, "\"log_level\":\"warn\""))
			break;
		usleep(10000);
	}
	unlink(envpath);
	TS_CHECK(strstr(buf, "\"log_level\":\"warn\""));
	TS_CHECK(mf_close(&f, T_MS) == 0);
	mf_release(&f);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "connect", case_connect },	 { "reconnect", case_reconnect },
	{ "death", case_death },	 { "online0", case_online0 },
	{ "stuck", case_stuck },	 { "many", case_many },
	{ "malformed", case_malformed }, { "shutdown", case_shutdown },
	{ "ctl", case_ctl },
};

int main(int argc, char **argv)
{
	int r, st;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		r = fx_start();
		if (r) {
			sf_stop(&fx);
			return r;
		}
		r = cases[i].fn();
		if (r)
			td_dump_log(&fx.td);
		st = sf_stop(&fx);
		if (st != 0) {
			fprintf(stderr, "daemon exit status %d\n", st);
			r = 1;
		}
		printf("%s: %s\n", argv[1], r ? "FAIL" : "PASS");
		return r ? 1 : 0;
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return 1;
}
