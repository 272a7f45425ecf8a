/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkback: the xenbus side of the block backend ("vbd", and "qdisk" with
 * the same code). Runs on the main thread; the rings are served by
 * blkback_queue.c on worker threads.
 *
 * What is published when follows Linux xen-blkback: probe writes the
 * transport limits (feature-max-indirect-segments, multi-queue-max-queues,
 * max-ring-page-order); connect writes the device properties
 * (feature-flush-cache, feature-discard..., feature-barrier,
 * feature-persistent, sectors, info, sector-size, physical-sector-size)
 * just before the core switches to Connected.
 *
 * Untrusted: every frontend key (protocol, ring refs, ports, counts) is
 * read once, range-checked, and only then used.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <linux/major.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blkback.h"
#include "xb_config.h"
#include "xb_log.h"
#include "xb_worker.h"


/* ---- configuration ---- */

static int parse_engine(const char *s, enum blkback_engine_kind *out)
{
	if (!s || !*s || !strcmp(s, "auto"))
		*out = BLKBACK_ENGINE_AUTO;
	else if (!strcmp(s, "io_uring") || !strcmp(s, "uring"))
		*out = BLKBACK_ENGINE_URING;
	else if (!strcmp(s, "aio") || !strcmp(s, "libaio"))
		*out = BLKBACK_ENGINE_AIO;
	else if (!strcmp(s, "null"))
		*out = BLKBACK_ENGINE_NULL;
	else
		return -EINVAL;
	return 0;
}

/* The CLI (daemon/main.c) validated the ranges and set the defaults; the
 * clamps only guard the fixed-size arrays. */
static unsigned int clamp(unsigned int v, unsigned int min, unsigned int max)
{
	return v < min ? min : v > max ? max : v;
}

static int blkback_config(struct blkback_dev *bd)
{
	const struct xb_config *cfg = bd->dev->cfg;
	int err;

	err = parse_engine(cfg->blk_engine, &bd->engine);
	if (err)
		return dev_err_errno(bd->dev, err, "unknown engine '%s'",
				     cfg->blk_engine);
	bd->max_queues = clamp(cfg->blk_max_queues, 1, BLKBACK_MAX_QUEUES);
	bd->max_ring_order = clamp(cfg->blk_max_ring_order, 0,
				   BLKBACK_MAX_RING_ORDER);
	bd->max_indirect = clamp(cfg->blk_max_indirect,
				 BLKIF_MAX_SEGMENTS_PER_REQUEST,
				 BLKBACK_MAX_INDIRECT);
	bd->max_persistent = clamp(cfg->blk_max_persistent, 0, 1u << 20);
	bd->persistent_idle = clamp(cfg->blk_persistent_idle, 1, 86400);
	bd->poll_ns = (uint64_t)clamp(cfg->blk_poll_us, 0, 1000) * 1000;
	return 0;
}

/* ---- probe ---- */

static int blkback_probe(struct xb_device *dev)
{
	struct blkback_dev *bd = dev->priv;
	int err;

	if (!bd) {
		bd = calloc(1, sizeof(*bd));
		if (!bd)
			return -ENOMEM;
		bd->dev = dev;
		bd->fd = -1;
		dev->priv = bd;
	}
	err = blkback_config(bd);
	if (err)
		return err;

	err = xb_dev_write(dev, "feature-max-indirect-segments", "%u",
			   bd->max_indirect);
	if (!err)
		err = xb_dev_write(dev, "multi-queue-max-queues", "%u",
				   bd->max_queues);
	if (!err)
		err = xb_dev_write(dev, "max-ring-page-order", "%u",
				   bd->max_ring_order);
	if (err)
		return dev_err_errno(dev, err, "publishing features");
	return 0;
}

/* ---- prepare: the backing store ---- */

/* Reads an unsigned from /sys/dev/block/M:m/<rel>. Returns 0 or -errno. */
static int sysfs_uint(dev_t rdev, const char *rel, unsigned long long *out)
{
	char path[128];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(rdev),
		 minor(rdev), rel);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu", out);
	fclose(f);
	return n == 1 ? 0 : -EINVAL;
}

/* queue/ attributes live on the whole disk; a partition has none. */
static int sysfs_queue_uint(dev_t rdev, const char *attr,
			    unsigned long long *out)
{
	char rel[96];

	snprintf(rel, sizeof(rel), "queue/%s", attr);
	if (!sysfs_uint(rdev, rel, out))
		return 0;
	snprintf(rel, sizeof(rel), "../queue/%s", attr);
	return sysfs_uint(rdev, rel, out);
}

static int probe_blkdev(struct blkback_dev *bd, const struct stat *st)
{
	unsigned long long v;
	uint64_t bytes;
	int lss, pss;

	if (ioctl(bd->fd, BLKGETSIZE64, &bytes) < 0)
		return -errno;
	if (ioctl(bd->fd, BLKSSZGET, &lss) < 0)
		return -errno;
	if (ioctl(bd->fd, BLKPBSZGET, &pss) < 0)
		pss = lss;
	bd->is_blkdev = true;
	bd->size = bytes;
	bd->sector_size = (unsigned int)lss;
	bd->phys_sector_size = (unsigned int)pss;
	if (!sysfs_uint(st->st_rdev, "removable", &v) && v)
		bd->removable = true;
	if (!bd->readonly &&
	    !sysfs_queue_uint(st->st_rdev, "discard_max_bytes", &v) && v) {
		uint64_t probe[2] = { 1, 0 };

		bd->discard = true;
		if (!sysfs_queue_uint(st->st_rdev, "discard_granularity", &v))
			bd->discard_granularity = (unsigned int)v;
		if (!sysfs_uint(st->st_rdev, "discard_alignment", &v))
			bd->discard_alignment = (unsigned int)v;
		/* A misaligned range: EINVAL if secure erase is there at all,
		 * EOPNOTSUPP if not; nothing is erased either way. */
		if (ioctl(bd->fd, BLKSECDISCARD, probe) < 0 && errno == EINVAL)
			bd->discard_secure = true;
	}
	return 0;
}

/*
 * O_DIRECT on a file needs the filesystem to take 512-byte aligned I/O:
 * the guest sends 512-byte sectors in 512-byte aligned buffers. Returns
 * true if it does (or we cannot tell, and the first I/O will say).
 */
static bool file_dio_ok(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align)
			return false; /* no O_DIRECT on this file */
		return stx.stx_dio_offset_align <= 512 &&
		       stx.stx_dio_mem_align <= 512;
	}
#endif
	return true;
}

/* Discard (punch-hole) granularity on a file: its filesystem's block. */
static unsigned int file_discard_granularity(const struct stat *st)
{
	return st->st_blksize >= 512 ? (unsigned int)st->st_blksize : 512;
}

static void probe_file(struct blkback_dev *bd, const struct stat *st,
		       bool discard_enable)
{
	bd->size = (uint64_t)st->st_size & ~511ull;
	bd->sector_size = 512;
	/* Let the guest see the filesystem's block when the file is made of
	 * whole blocks, so it aligns to it. */
	if (st->st_blksize >= 4096 && !(st->st_size % 4096))
		bd->phys_sector_size = 4096;
	else
		bd->phys_sector_size = 512;
	if (!bd->readonly && discard_enable) {
		bd->discard = true;
		bd->discard_granularity = file_discard_granularity(st);
		bd->discard_alignment = 0;
	}
}

/*
 * True if fd is a regular file on a memory filesystem (tmpfs, ramfs): its
 * buffered writes copy pages and never wait for a device.
 */
static bool on_memory_fs(int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs) < 0)
		return false;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

/*
 * Open path with O_DIRECT where that works for a guest's 512-byte aligned
 * I/O, else buffered; *direct says which. Returns the fd or -errno.
 */
static int open_direct(const char *path, int flags, bool *direct)
{
	struct stat st;
	int fd = open(path, flags | O_DIRECT);

	*direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)
		fd = open(path, flags);
	if (fd < 0)
		return -errno;
	if (*direct && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    !file_dio_ok(fd)) {
		int bfd = open(path, flags);

		if (bfd < 0) {
			bfd = -errno;
			close(fd);
			return bfd;
		}
		close(fd);
		fd = bfd;
		*direct = false;
	}
	return fd;
}

static int open_backing(struct blkback_dev *bd, const char *path)
{
	struct xb_device *dev = bd->dev;
	int flags = (bd->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	bd->fd = open_direct(path, flags, &bd->direct);
	if (bd->fd < 0) {
		int err = bd->fd;

		bd->fd = -1;
		return dev_err_errno(dev, err, "opening %s", path);
	}
	if (fstat(bd->fd, &st) < 0)
		return dev_err_errno(dev, -errno, "fstat %s", path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return dev_err_errno(dev, -EINVAL,
				     "%s: not a file or block device", path);
	return 0;
}

/*
 * The `block` hotplug script puts a loop device over a file target, and the
 * kernel's blkback serves the loop device. Each request then takes a trip
 * through the loop driver's worker thread, which does buffered I/O on the
 * file. When the loop maps the whole file (no offset, no size limit, no
 * transfer function), serve the file itself, as QEMU's qdisk does: the
 * same bytes, one layer and one thread hop less, and O_DIRECT where the
 * file's filesystem takes it. The loop device stays attached (the script
 * detaches it when the device goes). Returns 0 when the file is in use,
 * 1 to keep the loop device, -errno on failure.
 */
static int loop_to_file(struct blkback_dev *bd, const struct stat *lst)
{
	struct xb_device *dev = bd->dev;
	struct loop_info64 li;
	char rel[64], path[PATH_MAX + 1], *nl;
	struct stat fst;
	FILE *f;
	int fd, flags = (bd->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	bool direct;
	size_t n;

	if (ioctl(bd->fd, LOOP_GET_STATUS64, &li) < 0)
		return 1;
	if (li.lo_offset || li.lo_sizelimit || li.lo_encrypt_type ||
	    ((li.lo_flags & LO_FLAGS_READ_ONLY) && !bd->readonly))
		return 1;
	snprintf(rel, sizeof(rel), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(lst->st_rdev), minor(lst->st_rdev));
	f = fopen(rel, "re");
	if (!f)
		return 1;
	n = fread(path, 1, sizeof(path) - 1, f);
	fclose(f);
	path[n] = 0;
	nl = strchr(path, '\n');
	if (nl)
		*nl = 0;
	if (!path[0])
		return 1;
	fd = open_direct(path, flags, &direct);
	if (fd < 0)
		return 1; /* e.g. deleted, or not reachable from here */
	/* The very file the loop has (not one renamed over it), whole. */
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    fst.st_dev != (dev_t)li.lo_device ||
	    fst.st_ino != (ino_t)li.lo_inode ||
	    ((uint64_t)fst.st_size & ~511ull) != bd->size) {
		close(fd);
		return 1;
	}
	dev_info(dev, "%s is a loop device over %s: serving the file directly",
		 bd->path, path);
	close(bd->fd);
	bd->fd = fd;
	bd->direct = direct;
	bd->is_blkdev = false;
	bd->removable = false;
	bd->discard_secure = false;
	if (bd->discard) {
		/* punch-hole on the file, as the loop driver would do */
		bd->discard_granularity = file_discard_granularity(&fst);
		if (bd->discard_granularity < bd->sector_size)
			bd->discard_granularity = bd->sector_size;
		bd->discard_alignment = 0;
	}
	free(bd->path);
	bd->path = strdup(path);
	return bd->path ? 0 : -ENOMEM;
}

static void close_backing(struct blkback_dev *bd)
{
	if (bd->fd >= 0)
		close(bd->fd);
	bd->fd = -1;
	bd->rdev = 0;
	free(bd->path);
	bd->path = NULL;
	bd->discard = false;
	bd->discard_secure = false;
	bd->is_blkdev = false;
	bd->removable = false;
}

static int blkback_prepare(struct xb_device *dev)
{
	struct blkback_dev *bd = dev->priv;
	unsigned long long discard_enable = 1;
	char *params = NULL, *mode = NULL;
	const char *path;
	struct stat st;
	int err, ro;

	if (!bd)
		return -EINVAL;
	if (bd->fd >= 0)
		return 0; /* prepared already (reconnect) */

	err = xb_dev_read(dev, false, "mode", &mode);
	if (err == -ENOENT) {
		mode = strdup("w");
		err = mode ? 0 : -ENOMEM;
	}
	if (err)
		return dev_err_errno(dev, err, "reading mode");
	ro = blkback_parse_mode(mode);
	free(mode);
	if (ro < 0)
		return dev_err_errno(dev, ro, "bad mode");
	bd->readonly = ro;

	err = xb_dev_read(dev, false, "physical-device-path", &params);
	if (err == -ENOENT)
		err = xb_dev_read(dev, false, "params", &params);
	if (err)
		return dev_err_errno(dev, err, "reading params");
	path = blkback_backing_path(params);
	if (!path) {
		dev_err(dev, "cannot serve '%s' (not a raw image)", params);
		free(params);
		return -EINVAL;
	}
	bd->path = strdup(path);
	free(params);
	if (!bd->path)
		return -ENOMEM;

	err = xb_dev_read_uint_def(dev, false, "discard-enable", 1, 1,
				   &discard_enable);
	if (err)
		discard_enable = 1;

	err = open_backing(bd, bd->path);
	if (err)
		goto err_close;
	if (fstat(bd->fd, &st) < 0) {
		err = -errno;
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		bd->rdev = st.st_rdev;
		err = probe_blkdev(bd, &st);
		if (err) {
			dev_err_errno(dev, err, "probing %s", bd->path);
			goto err_close;
		}
		if (!discard_enable) {
			bd->discard = false;
			bd->discard_secure = false;
		}
		if (bd->dev->cfg->blk_loop_file &&
		    major(st.st_rdev) == LOOP_MAJOR) {
			err = loop_to_file(bd, &st);
			if (err < 0)
				goto err_close;
		}
	} else {
		probe_file(bd, &st, discard_enable);
	}
	if (bd->sector_size < 512 || (bd->sector_size & (bd->sector_size - 1)) ||
	    bd->sector_size > 4096) {
		err = dev_err_errno(dev, -EINVAL, "sector size %u",
				    bd->sector_size);
		goto err_close;
	}
	if (bd->phys_sector_size < bd->sector_size)
		bd->phys_sector_size = bd->sector_size;
	bd->inline_writes =
		!bd->direct && !bd->readonly && on_memory_fs(bd->fd);
	dev_info(dev, "%s: %" PRIu64 " bytes, %s%s I/O, sector %u/%u%s%s",
		 bd->path, bd->size, bd->readonly ? "read-only, " : "",
		 bd->direct	   ? "direct" :
		 bd->inline_writes ? "buffered (memory filesystem: "
				     "writes inline)" :
				     "buffered",
		 bd->sector_size,
		 bd->phys_sector_size, bd->discard ? ", discard" : "",
		 bd->discard_secure ? " (secure)" : "");
	return 0;

err_close:
	close_backing(bd);
	return err;
}

/* ---- connect ---- */

/* Reads the ring refs and port of queue q from dir ("" or "queue-N/"). */
static int read_queue_keys(struct blkback_dev *bd, struct blkback_queue *q,
			   const char *dir, int order)
{
	struct xb_device *dev = bd->dev;
	unsigned long long v;
	char key[64];
	int err;

	snprintf(key, sizeof(key), "%sevent-channel", dir);
	err = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
	if (err)
		return dev_err_errno(dev, err, "reading %s", key);
	q->evtchn_port = (uint32_t)v;

	q->nr_ring_pages = 1u << (order < 0 ? 0 : order);
	for (unsigned int i = 0; i < q->nr_ring_pages; i++) {
		if (order < 0)
			snprintf(key, sizeof(key), "%sring-ref", dir);
		else
			snprintf(key, sizeof(key), "%sring-ref%u", dir, i);
		err = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
		if (err == -ENOENT && order == 0) {
			/* order 0 written with the single-page key */
			snprintf(key, sizeof(key), "%sring-ref", dir);
			err = xb_dev_read_uint(dev, true, key, UINT32_MAX, &v);
		}
		if (err)
			return dev_err_errno(dev, err, "reading %s", key);
		q->ring_refs[i] = (xb_gref_t)v;
	}
	return 0;
}

/* Maps the ring and binds the port of q. Returns 0 or -errno. */
static int queue_attach(struct blkback_dev *bd, struct blkback_queue *q)
{
	struct xb_device *dev = bd->dev;
	struct xb_platform *plat = dev->plat;
	size_t bytes = (size_t)q->nr_ring_pages * XB_PAGE_SIZE;
	int err;

	err = xb_gnt_map(plat, dev->domid, q->nr_ring_pages, q->ring_refs,
			 true, &q->ring_addr);
	if (err) {
		q->ring_addr = NULL;
		return dev_err_errno(dev, err, "mapping ring of queue %u",
				     q->index);
	}
	if (q->abi == BLKBACK_ABI_X86_32) {
		BACK_RING_INIT(&q->ring.r32,
			       (struct blkback_x86_32_sring *)q->ring_addr,
			       bytes);
		q->ring_size = RING_SIZE(&q->ring.r32);
	} else {
		BACK_RING_INIT(&q->ring.r64,
			       (struct blkback_x86_64_sring *)q->ring_addr,
			       bytes);
		q->ring_size = RING_SIZE(&q->ring.r64);
	}
	err = plat->ops->evtchn_bind(plat, dev->domid, q->evtchn_port, &q->ec);
	if (err) {
		q->ec = NULL;
		return dev_err_errno(dev, err, "binding port %u of queue %u",
				     q->evtchn_port, q->index);
	}
	q->ec_fd = xb_evtchn_fd(q->ec);
	if (q->ec_fd < 0)
		return dev_err_errno(dev, q->ec_fd, "event channel fd");
	return 0;
}

static void stats_add(struct blkback_stats *to, const struct blkback_stats *s)
{
	to->requests += __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	to->bytes_read += __atomic_load_n(&s->bytes_read, __ATOMIC_RELAXED);
	to->bytes_written +=
		__atomic_load_n(&s->bytes_written, __ATOMIC_RELAXED);
	to->errors += __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	to->ring_errors += __atomic_load_n(&s->ring_errors, __ATOMIC_RELAXED);
	to->poll_hits += __atomic_load_n(&s->poll_hits, __ATOMIC_RELAXED);
	to->poll_misses += __atomic_load_n(&s->poll_misses, __ATOMIC_RELAXED);
	to->grant_maps += __atomic_load_n(&s->grant_maps, __ATOMIC_RELAXED);
	to->persistent_hits +=
		__atomic_load_n(&s->persistent_hits, __ATOMIC_RELAXED);
}

static void blkback_disconnect(struct xb_device *dev)
{
	struct blkback_dev *bd = dev->priv;

	if (!bd || !bd->queues)
		return;
	for (unsigned int i = 0; i < bd->nr_queues; i++) {
		struct blkback_queue *q = &bd->queues[i];

		if (q->worker) {
			int err = xb_worker_call(q->worker, blkback_queue_stop,
						 q);

			if (err)
				dev_err_errno(dev, err, "stopping queue %u", i);
			xb_worker_put(q->worker);
			q->worker = NULL;
		}
		xb_evtchn_unbind(q->ec);
		q->ec = NULL;
		if (q->ring_addr) {
			int err = xb_gnt_unmap(dev->plat, q->ring_addr,
					       q->nr_ring_pages);

			if (err)
				dev_err_errno(dev, err, "unmapping ring %u", i);
			q->ring_addr = NULL;
		}
		stats_add(&bd->old_stats, &q->stats);
	}
	free(bd->queues);
	bd->queues = NULL;
	bd->nr_queues = 0;
}

static int publish_connect(struct blkback_dev *bd, bool cdrom)
{
	struct xb_device *dev = bd->dev;
	unsigned int info = 0;
	int err;

	if (cdrom)
		info |= VDISK_CDROM;
	if (bd->removable)
		info |= VDISK_REMOVABLE;
	if (bd->readonly)
		info |= VDISK_READONLY;

	err = xb_dev_write(dev, "feature-flush-cache", "1");
	if (!err && bd->discard) {
		err = xb_dev_write(dev, "discard-granularity", "%u",
				   bd->discard_granularity);
		if (!err)
			err = xb_dev_write(dev, "discard-alignment", "%u",
					   bd->discard_alignment);
		if (!err)
			err = xb_dev_write(dev, "discard-secure", "%d",
					   bd->discard_secure);
	}
	if (!err)
		err = xb_dev_write(dev, "feature-discard", "%d", bd->discard);
	if (!err)
		err = xb_dev_write(dev, "feature-barrier", "1");
	if (!err)
		err = xb_dev_write(dev, "feature-persistent", "%d",
				   bd->max_persistent > 0);
	/* Always 512-byte units, as Linux does, whatever sector-size says. */
	if (!err)
		err = xb_dev_write(dev, "sectors", "%" PRIu64, bd->size >> 9);
	if (!err)
		err = xb_dev_write(dev, "info", "%u", info);
	if (!err)
		err = xb_dev_write(dev, "sector-size", "%u", bd->sector_size);
	if (!err)
		err = xb_dev_write(dev, "physical-sector-size", "%u",
				   bd->phys_sector_size);
	if (err)
		return dev_err_errno(dev, err, "publishing device properties");
	return 0;
}

static int blkback_connect(struct xb_device *dev)
{
	struct blkback_dev *bd = dev->priv;
	unsigned long long nq = 1, pers = 0, order_v = 0;
	enum blkback_abi abi;
	char *proto = NULL, *dtype = NULL;
	bool cdrom = false;
	int order, err;

	if (!bd)
		return -EINVAL;
	if (bd->fd < 0) {
		err = blkback_prepare(dev);
		if (err)
			return err;
	}
	blkback_disconnect(dev); /* a second connect starts from scratch */

	err = xb_dev_read(dev, true, "protocol", &proto);
	if (err && err != -ENOENT)
		return dev_err_errno(dev, err, "reading protocol");
	err = blkback_parse_protocol(err ? NULL : proto, &abi);
	if (err) {
		dev_err(dev, "unknown frontend protocol '%s'", proto);
		free(proto);
		return err;
	}
	free(proto);

	err = xb_dev_read_uint_def(dev, true, "feature-persistent", UINT32_MAX,
				   0, &pers);
	if (err)
		return dev_err_errno(dev, err, "reading feature-persistent");
	err = xb_dev_read_uint_def(dev, true, "multi-queue-num-queues",
				   bd->max_queues, 1, &nq);
	if (err || nq == 0)
		return dev_err_errno(dev, err ? err : -EINVAL,
				     "frontend asks for a bad number of "
				     "queues (max %u)",
				     bd->max_queues);
	err = xb_dev_read_uint(dev, true, "ring-page-order",
			       bd->max_ring_order, &order_v);
	if (err == -ENOENT)
		order = -1; /* single page, "ring-ref" */
	else if (err)
		return dev_err_errno(dev, err,
				     "bad ring-page-order (max %u)",
				     bd->max_ring_order);
	else
		order = (int)order_v;

	if (!xb_dev_read(dev, true, "device-type", &dtype)) {
		cdrom = !strcmp(dtype, "cdrom");
		free(dtype);
	}

	bd->lim.sectors = bd->size >> 9;
	bd->lim.lsect_shift = (unsigned int)__builtin_ctz(bd->sector_size >> 9);
	bd->lim.max_indirect = bd->max_indirect;
	bd->lim.readonly = bd->readonly;
	bd->lim.discard = bd->discard;
	bd->lim.discard_secure = bd->discard_secure;

	bd->queues = calloc(nq, sizeof(*bd->queues));
	if (!bd->queues)
		return -ENOMEM;
	bd->nr_queues = (unsigned int)nq;
	for (unsigned int i = 0; i < bd->nr_queues; i++) {
		struct blkback_queue *q = &bd->queues[i];
		char dir[32] = "";

		q->bd = bd;
		q->index = i;
		q->abi = abi;
		q->ec_fd = -1;
		q->eng_fd = -1;
		q->timer_fd = -1;
		q->persistent = pers != 0;
		snprintf(q->name, sizeof(q->name), "%s/q%u", dev->name, i);
		if (nq > 1)
			snprintf(dir, sizeof(dir), "queue-%u/", i);
		err = read_queue_keys(bd, q, dir, order);
		if (err)
			goto err_disconnect;
		err = queue_attach(bd, q);
		if (err)
			goto err_disconnect;
	}

	err = publish_connect(bd, cdrom);
	if (err)
		goto err_disconnect;

	for (unsigned int i = 0; i < bd->nr_queues; i++) {
		struct blkback_queue *q = &bd->queues[i];

		q->worker = xb_workers_get(dev->workers);
		err = xb_worker_call(q->worker, blkback_queue_start, q);
		if (err) {
			dev_err_errno(dev, err, "starting queue %u", i);
			goto err_disconnect;
		}
	}
	dev_info(dev, "connected: %u queue(s) of %u requests, %s ABI%s, "
		 "engine %s",
		 bd->nr_queues, bd->queues[0].ring_size,
		 abi == BLKBACK_ABI_X86_32 ? "x86_32" : "x86_64",
		 pers ? ", persistent grants" : "",
		 bd->queues[0].eng ? bd->queues[0].eng->name : "?");
	return 0;

err_disconnect:
	blkback_disconnect(dev);
	return err;
}

static void blkback_free(struct xb_device *dev)
{
	struct blkback_dev *bd = dev->priv;

	if (!bd)
		return;
	blkback_disconnect(dev);
	close_backing(bd);
	free(bd);
	dev->priv = NULL;
}

static void blkback_get_stats(struct xb_device *dev, struct xb_dev_stats *st)
{
	struct blkback_dev *bd = dev->priv;
	struct blkback_stats sum;

	memset(st, 0, sizeof(*st));
	if (!bd)
		return;
	sum = bd->old_stats;
	for (unsigned int i = 0; i < bd->nr_queues; i++)
		stats_add(&sum, &bd->queues[i].stats);
	st->requests = sum.requests;
	st->bytes_read = sum.bytes_read;
	st->bytes_written = sum.bytes_written;
	st->errors = sum.errors;
	st->ring_errors = sum.ring_errors;
	st->poll_hits = sum.poll_hits;
	st->poll_misses = sum.poll_misses;
	st->grant_maps = sum.grant_maps;
	st->persistent_hits = sum.persistent_hits;
}

/*
 * Look at the size of the backing store again (the device's, or the
 * file's: one we serve directly, or the file of a loop device that was
 * told it grew, losetup -c), and when it moved, as Linux's blkback: the
 * new `sectors`, the state written again so that the frontend reads it
 * (blkfront then sets its disk's capacity), and requests checked against
 * the new end from now on. 0 and the size in sectors, or -errno.
 */
static int blkback_rescan(struct xb_device *dev, uint64_t *sectors)
{
	struct blkback_dev *bd = dev->priv;
	uint64_t size;
	struct stat st;
	int err;

	if (!bd || bd->fd < 0)
		return -ENODEV;
	if (bd->is_blkdev) {
		if (ioctl(bd->fd, BLKGETSIZE64, &size) < 0)
			return dev_err_errno(dev, -errno, "%s: size", bd->path);
	} else {
		if (fstat(bd->fd, &st) < 0)
			return dev_err_errno(dev, -errno, "%s: size", bd->path);
		size = (uint64_t)st.st_size;
	}
	size &= ~511ull;
	*sectors = size >> 9;
	if (size == bd->size)
		return 0;
	dev_info(dev, "%s: resized from %" PRIu64 " to %" PRIu64 " bytes",
		 bd->path, bd->size, size);
	bd->size = size;
	if (dev->state != XenbusStateConnected)
		return 0; /* connect publishes it */
	__atomic_store_n(&bd->lim.sectors, size >> 9, __ATOMIC_RELAXED);
	err = xb_dev_write(dev, "sectors", "%" PRIu64, size >> 9);
	if (!err)
		err = xb_dev_announce_state(dev);
	if (err)
		return dev_err_errno(dev, err, "announcing the new size");
	return 0;
}

/* The kernel says block device rdev changed: ours? */
static void blkback_blockdev_changed(struct xb_device *dev, dev_t rdev)
{
	struct blkback_dev *bd = dev->priv;
	uint64_t sectors;

	if (bd && bd->fd >= 0 && bd->rdev && rdev == bd->rdev)
		blkback_rescan(dev, &sectors);
}

const struct backend_ops blkback_ops = {
	.type = "vbd",
	.probe = blkback_probe,
	.prepare = blkback_prepare,
	.connect = blkback_connect,
	.disconnect = blkback_disconnect,
	.free = blkback_free,
	.get_stats = blkback_get_stats,
	.blockdev_changed = blkback_blockdev_changed,
	.rescan = blkback_rescan,
};

const struct backend_ops blkback_qdisk_ops = {
	.type = "qdisk",
	.probe = blkback_probe,
	.prepare = blkback_prepare,
	.connect = blkback_connect,
	.disconnect = blkback_disconnect,
	.free = blkback_free,
	.get_stats = blkback_get_stats,
	.blockdev_changed = blkback_blockdev_changed,
	.rescan = blkback_rescan,
};
