/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xen/io/xenbus.h>

#include "blktest.h"

uint64_t bt_rand(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int bt_image(const char *path, uint64_t size, bool fill)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t seed = 42;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		goto out;
	}
	if (fill) {
		static uint64_t buf[1 << 14];

		for (uint64_t off = 0; off < size; off += sizeof(buf)) {
			size_t n = size - off < sizeof(buf) ? size - off :
							      sizeof(buf);

			for (size_t i = 0; i < sizeof(buf) / 8; i++)
				buf[i] = bt_rand(&seed);
			if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
				r = -EIO;
				goto out;
			}
		}
	}
out:
	close(fd);
	return r;
}

void bt_paths(const struct ts_vbd *v, char *be, char *fe)
{
	ts_vbd_paths(v, be, 128, fe, 128);
}

int bt_add_vbd(struct sf *t, struct ts_vbd *v)
{
	char be[128];
	int r;

	ts_vbd_paths(v, be, sizeof(be), NULL, 0);
	r = ts_vbd_add(t->xs, v);
	if (r)
		return r;
	r = ts_wait_state(t->xs, be, XenbusStateInitWait, BT_MS);
	if (r)
		return r;
	return ts_vbd_hotplug(t->xs, v);
}

long long bt_stat(struct sf *t, const char *dev, const char *key)
{
	static char buf[65536];
	char needle[96], *p, *end;

	if (td_ctl(&t->td, "list", buf, sizeof(buf)) < 0)
		return -1;
	snprintf(needle, sizeof(needle), "\"name\":\"%s\"", dev);
	p = strstr(buf, needle);
	if (!p) {
		/* json-c may escape the slash */
		const char *sl = strchr(dev, '/');

		if (!sl)
			return -1;
		snprintf(needle, sizeof(needle), "\"name\":\"%.*s\\/%s\"",
			 (int)(sl - dev), dev, sl + 1);
		p = strstr(buf, needle);
		if (!p)
			return -1;
	}
	end = strchr(p, '}');
	snprintf(needle, sizeof(needle), "\"%s\":", key);
	p = strstr(p, needle);
	if (!p || (end && p > end))
		return -1;
	return strtoll(p + strlen(needle), NULL, 10);
}

/* ---- integrity ---- */

struct slot {
	struct bf_io io;
	uint8_t *buf;
	struct ld *ld;
};

struct ld {
	struct blkfront *f;
	uint8_t *model;
	uint8_t *busy;     /* per sector: in flight */
	unsigned long long bad;
	unsigned long long errors;
	unsigned int inflight;
};

static void io_done(struct bf_io *io)
{
	struct slot *s = io->priv;
	struct ld *ld = s->ld;
	size_t off = (size_t)io->sector * 512;
	size_t len = (size_t)io->nr_sectors * 512;

	if (io->status != BLKIF_RSP_OKAY) {
		if (ld->errors++ < 5)
			fprintf(stderr, "op %u at %llu+%u: status %d\n", io->op,
				(unsigned long long)io->sector, io->nr_sectors,
				io->status);
	} else if (io->op == BLKIF_OP_READ) {
		if (memcmp(s->buf, ld->model + off, len)) {
			if (ld->bad++ < 5)
				fprintf(stderr,
					"read at %llu+%u: data mismatch\n",
					(unsigned long long)io->sector,
					io->nr_sectors);
		}
	} else {
		memcpy(ld->model + off, s->buf, len);
	}
	memset(ld->busy + io->sector, 0, io->nr_sectors);
	ld->inflight--;
	s->io.priv = NULL; /* free */
}

static bool range_free(struct ld *ld, uint64_t s, uint32_t n)
{
	return !memchr(ld->busy + s, 1, n);
}

int bt_integrity(struct blkfront *f, const char *img,
		 const struct bt_load *l)
{
	uint64_t seed = l->seed ? l->seed : 1;
	uint64_t sectors = f->sectors;
	size_t bytes = (size_t)sectors * 512;
	unsigned int maxs = l->max_sectors ? l->max_sectors :
					     f->max_segs * 8;
	struct slot *slots;
	struct ld ld = { .f = f };
	unsigned int done_ops = 0;
	unsigned int al = l->align > 1 ? l->align : 1;
	uint8_t *chunk;
	int fd, ret = 1;

	if (maxs > f->max_segs * 8)
		maxs = f->max_segs * 8;
	ld.model = malloc(bytes);
	ld.busy = calloc(sectors, 1);
	slots = calloc(l->qd, sizeof(*slots));
	chunk = malloc((size_t)maxs * 512);
	if (!ld.model || !ld.busy || !slots || !chunk)
		goto out;
	fd = open(img, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, ld.model, bytes, 0) != (ssize_t)bytes) {
		fprintf(stderr, "reading %s\n", img);
		goto out;
	}
	close(fd);
	for (unsigned int i = 0; i < l->qd; i++) {
		slots[i].buf = malloc((size_t)maxs * 512 + 4096);
		slots[i].ld = &ld;
		if (!slots[i].buf)
			goto out;
	}

	while (done_ops < l->ops || ld.inflight) {
		bool submitted = false;

		for (unsigned int i = 0; i < l->qd && done_ops < l->ops; i++) {
			struct slot *s = &slots[i];
			uint64_t r = bt_rand(&seed);
			uint32_t n;
			uint64_t sec;
			int rc, tries = 0;

			if (s->io.priv)
				continue;
			/* Sizes: half small, some medium, some large. */
			switch (r % 10) {
			case 0: case 1: case 2: case 3: case 4:
				n = 1 + (uint32_t)(bt_rand(&seed) % 8);
				break;
			case 5: case 6: case 7:
				n = 1 + (uint32_t)(bt_rand(&seed) % 88);
				break;
			default:
				n = 1 + (uint32_t)(bt_rand(&seed) % maxs);
				break;
			}
			memset(&s->io, 0, sizeof(s->io));
			s->io.page_off =
			    l->page_offsets && al == 1
				? (unsigned int)(bt_rand(&seed) % 8)
				: 0;
			if (n + s->io.page_off > maxs)
				n = maxs - s->io.page_off;
			if (n > sectors)
				n = (uint32_t)sectors;
			n = (n + al - 1) / al * al;
			if (n > maxs)
				n = maxs / al * al;
			do {
				sec = bt_rand(&seed) %
				      ((sectors - n) / al + 1) * al;
			} while (!range_free(&ld, sec, n) && ++tries < 8);
			if (!range_free(&ld, sec, n))
				continue;
			s->io.op = bt_rand(&seed) % 100 < l->write_pct ?
					   BLKIF_OP_WRITE :
					   BLKIF_OP_READ;
			s->io.sector = sec;
			s->io.nr_sectors = n;
			s->io.buf = s->buf;
			s->io.queue = -1;
			s->io.done_fn = io_done;
			s->io.priv = s;
			if (s->io.op == BLKIF_OP_WRITE) {
				for (uint32_t k = 0; k < n * 512 / 8; k++)
					((uint64_t *)s->buf)[k] =
						bt_rand(&seed);
			}
			rc = bf_submit(f, &s->io);
			if (rc == -EAGAIN) {
				s->io.priv = NULL;
				break;
			}
			if (rc) {
				fprintf(stderr, "bf_submit: %s\n",
					strerror(-rc));
				goto out;
			}
			memset(ld.busy + sec, 1, n);
			ld.inflight++;
			done_ops++;
			submitted = true;
		}
		if (!submitted || ld.inflight >= l->qd ||
		    done_ops >= l->ops) {
			int rc = bf_poll(f, 10000);

			if (rc == -ETIMEDOUT) {
				fprintf(stderr, "no response in 10 s (%u in "
						"flight)\n",
					ld.inflight);
				goto out;
			}
			if (rc < 0) {
				fprintf(stderr, "bf_poll: %s\n",
					strerror(-rc));
				goto out;
			}
		}
	}
	if (ld.bad || ld.errors) {
		fprintf(stderr, "%llu bad reads, %llu errors\n", ld.bad,
			ld.errors);
		goto out;
	}

	/* Verify pass through the frontend, then the backing file. */
	for (uint64_t s = 0; s < sectors; s += maxs) {
		uint32_t n = sectors - s < maxs ? (uint32_t)(sectors - s) :
						  maxs;
		int st = bf_rw(f, BLKIF_OP_READ, s, chunk, n);

		if (st != BLKIF_RSP_OKAY) {
			fprintf(stderr, "verify read at %llu: %d\n",
				(unsigned long long)s, st);
			goto out;
		}
		if (memcmp(chunk, ld.model + s * 512, (size_t)n * 512)) {
			fprintf(stderr, "verify: mismatch at %llu+%u\n",
				(unsigned long long)s, n);
			goto out;
		}
	}
	fd = open(img, O_RDONLY | O_CLOEXEC);
	for (uint64_t off = 0; fd >= 0 && off < bytes; off += 1 << 20) {
		size_t n = bytes - off < (1 << 20) ? bytes - off : 1 << 20;
		static uint8_t fb[1 << 20];

		if (pread(fd, fb, n, (off_t)off) != (ssize_t)n ||
		    memcmp(fb, ld.model + off, n)) {
			fprintf(stderr, "backing file differs near %zu\n",
				(size_t)off);
			close(fd);
			goto out;
		}
	}
	if (fd < 0)
		goto out;
	close(fd);
	ret = 0;
out:
	for (unsigned int i = 0; slots && i < l->qd; i++)
		free(slots[i].buf);
	free(slots);
	free(chunk);
	free(ld.model);
	free(ld.busy);
	return ret;
}
