/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The demo: xenbackd serving a simulated guest's disk, end to end.
 * Starts Debian's xenstored (no hypervisor needed), xenbackd on the sim
 * platform, a guest domain whose Linux-like blkfront attaches a disk the
 * way xl does, runs I/O through it, checks the backing file, prints the
 * guest's view and xenbackctl's, detaches and stops.
 * Exit 0 when everything checked out, 1 otherwise, 77 when xenstored is
 * not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "blkfront.h"
#include "fixture.h"

#define DISK_MB 64
#define T_MS 10000

static long long t0;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("[%6.3f] ", (ts_now_ms() - t0) / 1000.0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define FAIL(...)                                                             \
	do {                                                                  \
		say("FAILED: " __VA_ARGS__);                                  \
		goto out;                                                     \
	} while (0)

static void pattern(uint8_t *buf, size_t len, uint64_t sector)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (sector + i / 512) * 0x9e3779b97f4a7c15ull + i;

		memcpy(buf + i, &v, 8);
	}
}

int main(int argc, char **argv)
{
	struct sf fx = { 0 };
	struct xs_handle *xs;
	struct sg_domain *sg;
	struct blkfront f = { 0 };
	struct bf_opts o = { .nr_queues = 2, .ring_order = 2, .persistent = true };
	struct ts_vbd v = { .domid = 1, .devid = 51712, .vdev = "xvda",
			    .discard_enable = 1, .script = true };
	char img[400], be[128], fe[128], cmd[1024];
	uint8_t *buf = NULL, *chk = NULL;
	const size_t chunk = 256 * 1024, total = 16u << 20;
	int ret = 1, fd, r, st;
	bool connected = false;
	long long ts;

	t0 = ts_now_ms();
	printf("xenbackd demo: a simulated guest's disk served by xenbackd\n\n");
	r = sf_start(&fx, NULL);
	if (r == 77)
		return 77;
	if (r)
		FAIL("starting xenstored and xenbackd");
	xs = fx.xs;
	say("xenstored (Debian's own) running without a hypervisor, socket %s",
	    xsh_socket_path(fx.xsh));
	say("xenbackd running: pid %d, platform sim, log %s", (int)fx.td.pid,
	    fx.td.log_path);
	sg = sf_domain(&fx, 1, 8192, 8192);
	if (!sg)
		FAIL("creating guest domain 1");
	snprintf(img, sizeof(img), "%s/disk.img", fx.td.dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)DISK_MB << 20) < 0)
		FAIL("disk image: %s", strerror(errno));
	close(fd);
	v.target = img;
	say("guest domain 1 created (32 MiB of simulated memory); disk %s, %d MiB",
	    img, DISK_MB);

	ts_vbd_paths(&v, be, sizeof(be), fe, sizeof(fe));
	if (ts_vbd_add(xs, &v) < 0)
		FAIL("attach");
	say("toolstack: disk = ['target=%s, vdev=xvda, access=rw'] -> %s", img,
	    be);
	if (ts_wait_state(xs, be, XenbusStateInitWait, T_MS) < 0)
		FAIL("backend did not reach InitWait");
	say("xenbackd: backend InitWait; the block hotplug step reports connected");
	if (ts_vbd_hotplug(xs, &v) < 0)
		FAIL("hotplug");
	r = bf_connect(&f, sg, xs, be, fe, &o, T_MS);
	if (r < 0)
		FAIL("blkfront connect: %s", strerror(-r));
	connected = true;
	say("guest blkfront: xvda connected: %llu sectors of %u B (%u B "
	    "physical), %u queue(s), ring order %u, %u segments/request, "
	    "persistent grants %s, flush %s, discard %s",
	    (unsigned long long)f.sectors, f.sector_size, f.phys_sector_size,
	    f.nr_queues, f.ring_order, f.max_segs, f.persistent ? "on" : "off",
	    f.feat_flush ? "yes" : "no", f.feat_discard ? "yes" : "no");

	buf = malloc(chunk);
	chk = malloc(chunk);
	if (!buf || !chk)
		FAIL("out of memory");
	ts = ts_now_ms();
	for (size_t off = 0; off < total; off += chunk) {
		uint64_t sector = off / 512;

		pattern(buf, chunk, sector);
		st = bf_rw(&f, BLKIF_OP_WRITE, sector, buf, chunk / 512);
		if (st != BLKIF_RSP_OKAY)
			FAIL("write at sector %llu: status %d",
			     (unsigned long long)sector, st);
	}
	say("guest wrote %zu MiB in %zu KiB requests (%.0f MiB/s)", total >> 20,
	    chunk >> 10, (total >> 20) * 1000.0 / (double)(ts_now_ms() - ts + 1));
	{
		struct bf_io io = { .op = BLKIF_OP_FLUSH_DISKCACHE, .queue = -1 };

		st = bf_sync(&f, &io, T_MS);
		if (st != BLKIF_RSP_OKAY)
			FAIL("flush: status %d", st);
	}
	say("guest flushed the disk cache: OK");
	ts = ts_now_ms();
	for (size_t off = 0; off < total; off += chunk) {
		uint64_t sector = off / 512;

		st = bf_rw(&f, BLKIF_OP_READ, sector, buf, chunk / 512);
		pattern(chk, chunk, sector);
		if (st != BLKIF_RSP_OKAY || memcmp(buf, chk, chunk))
			FAIL("read back at sector %llu: %s",
			     (unsigned long long)sector,
			     st ? "error" : "data differs");
	}
	say("guest read the %zu MiB back and verified every byte (%.0f MiB/s)",
	    total >> 20,
	    (total >> 20) * 1000.0 / (double)(ts_now_ms() - ts + 1));

	/* The backing file holds exactly what the guest wrote. */
	fd = open(img, O_RDONLY);
	if (fd < 0)
		FAIL("open %s", img);
	for (size_t off = 0; off < total; off += chunk) {
		pattern(chk, chunk, off / 512);
		if (pread(fd, buf, chunk, (off_t)off) != (ssize_t)chunk ||
		    memcmp(buf, chk, chunk)) {
			close(fd);
			FAIL("backing file differs at offset %zu", off);
		}
	}
	close(fd);
	say("dom0 view: %s holds the guest's data at the same offsets: OK",
	    img);

	printf("\n$ xenbackctl list\n");
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' list",
		 getenv("XB_CTL") ? getenv("XB_CTL") : "xenbackctl",
		 fx.td.ctl_path);
	if (system(cmd) != 0)
		FAIL("xenbackctl");
	printf("\n");

	r = bf_close(&f, T_MS);
	connected = false;
	if (r < 0)
		FAIL("blkfront close: %s", strerror(-r));
	say("guest closed xvda; every grant revoked (%llu still mapped by the "
	    "backend)",
	    f.grant_end_failures);
	if (f.grant_end_failures)
		FAIL("the backend kept grants mapped");
	if (ts_vbd_remove(xs, &v, T_MS) < 0)
		FAIL("detach");
	say("toolstack: detached; backend directory removed");
	ret = 0;
out:
	if (connected)
		bf_release(&f);
	free(buf);
	free(chk);
	st = sf_stop(&fx);
	say("xenbackd stopped (exit status %d)", st);
	if (st != 0)
		ret = 1;
	printf("\ndemo: %s\n", ret ? "FAILED" : "OK");
	return ret;
}
