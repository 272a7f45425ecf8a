/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "toolstack.h"

long long ts_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void ts_vbd_paths(const struct ts_vbd *v, char *be, size_t belen, char *fe,
		  size_t felen)
{
	const char *type = v->type ? v->type : "vbd";

	if (be)
		snprintf(be, belen, "/local/domain/0/backend/%s/%u/%u", type,
			 v->domid, v->devid);
	if (fe)
		snprintf(fe, felen, "/local/domain/%u/device/vbd/%u", v->domid,
			 v->devid);
}

static int wr(struct xs_handle *xs, xs_transaction_t t, const char *dir,
	      const char *key, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (!xs_write(xs, t, path, val, strlen(val)))
		return -errno;
	return 0;
}

int ts_write(struct xs_handle *xs, const char *dir, const char *key,
	     const char *val)
{
	return wr(xs, XBT_NULL, dir, key, val);
}

/*
 * What libxl's device add writes for every kind of device, in one
 * transaction: the backend directory (owned by the backend domain, readable
 * by the guest) and the frontend's (owned by the guest, readable by the
 * backend), linked both ways, both Initialising, plus the type's own keys
 * (NULL-terminated key/value pairs). Returns 0 or -errno.
 */
int ts_dev_add(struct xs_handle *xs, const char *be, const char *fe,
	       unsigned int domid, const char *const *be_kv,
	       const char *const *fe_kv)
{
	struct xs_permissions be_perms[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = domid, .perms = XS_PERM_READ },
	};
	struct xs_permissions fe_perms[2] = {
		{ .id = domid, .perms = XS_PERM_NONE },
		{ .id = 0, .perms = XS_PERM_READ },
	};
	char num[16];
	int r = 0;

	snprintf(num, sizeof(num), "%u", domid);
	for (int tries = 0; tries < 10; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);

		if (t == XBT_NULL)
			return -errno;
		xs_rm(xs, t, be);
		xs_rm(xs, t, fe);
		if (!xs_mkdir(xs, t, be) ||
		    !xs_set_permissions(xs, t, be, be_perms, 2) ||
		    !xs_mkdir(xs, t, fe) ||
		    !xs_set_permissions(xs, t, fe, fe_perms, 2)) {
			r = -errno;
			xs_transaction_end(xs, t, true);
			return r;
		}
		r = wr(xs, t, be, "frontend", fe);
		r = r ?: wr(xs, t, be, "frontend-id", num);
		r = r ?: wr(xs, t, be, "online", "1");
		r = r ?: wr(xs, t, be, "state", "1");
		r = r ?: wr(xs, t, fe, "backend", be);
		r = r ?: wr(xs, t, fe, "backend-id", "0");
		r = r ?: wr(xs, t, fe, "state", "1");
		for (int i = 0; be_kv && be_kv[i] && !r; i += 2)
			r = wr(xs, t, be, be_kv[i], be_kv[i + 1]);
		for (int i = 0; fe_kv && fe_kv[i] && !r; i += 2)
			r = wr(xs, t, fe, fe_kv[i], fe_kv[i + 1]);
		if (r) {
			xs_transaction_end(xs, t, true);
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

int ts_vbd_add(struct xs_handle *xs, const struct ts_vbd *v)
{
	char be[128], fe[128], devid[16];
	const char *be_kv[32], *fe_kv[8];
	int n = 0;

	ts_vbd_paths(v, be, sizeof(be), fe, sizeof(fe));
	snprintf(devid, sizeof(devid), "%u", v->devid);
#define KV(a, k, val) (a[n++] = (k), a[n++] = (val))
	KV(be_kv, "params", v->target);
	if (v->script)
		KV(be_kv, "script", "/etc/xen/scripts/block");
	KV(be_kv, "removable", v->cdrom ? "1" : "0");
	KV(be_kv, "bootable", "1");
	KV(be_kv, "dev", v->vdev ? v->vdev : "xvda");
	KV(be_kv, "type", "phy");
	KV(be_kv, "mode", v->readonly ? "r" : "w");
	KV(be_kv, "device-type", v->cdrom ? "cdrom" : "disk");
	if (v->discard_enable >= 0)
		KV(be_kv, "discard-enable", v->discard_enable ? "1" : "0");
	be_kv[n] = NULL;
	n = 0;
	KV(fe_kv, "virtual-device", devid);
	KV(fe_kv, "device-type", v->cdrom ? "cdrom" : "disk");
	fe_kv[n] = NULL;
#undef KV
	return ts_dev_add(xs, be, fe, v->domid, be_kv, fe_kv);
}

int ts_vbd_hotplug(struct xs_handle *xs, const struct ts_vbd *v)
{
	char be[128], num[32];
	struct stat st;
	int r;

	ts_vbd_paths(v, be, sizeof(be), NULL, 0);
	if (stat(v->target, &st) == 0 && S_ISBLK(st.st_mode)) {
		snprintf(num, sizeof(num), "%x:%x", major(st.st_rdev),
			 minor(st.st_rdev));
		r = wr(xs, XBT_NULL, be, "physical-device", num);
		if (r)
			return r;
	}
	r = wr(xs, XBT_NULL, be, "physical-device-path", v->target);
	return r ?: wr(xs, XBT_NULL, be, "hotplug-status", "connected");
}

long ts_read_int(struct xs_handle *xs, const char *dir, const char *key)
{
	char path[256], *v, *end;
	unsigned int len;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	v = xs_read(xs, XBT_NULL, path, &len);
	if (!v)
		return -1;
	n = strtol(v, &end, 10);
	if (end == v || *end)
		n = -1;
	free(v);
	return n;
}

bool ts_exists(struct xs_handle *xs, const char *path)
{
	unsigned int len;
	char *v = xs_read(xs, XBT_NULL, path, &len);

	free(v);
	return v != NULL;
}

int ts_wait_state(struct xs_handle *xs, const char *dir, int state,
		  int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;

	do {
		if (ts_read_int(xs, dir, "state") == state)
			return 0;
		usleep(5000);
	} while (ts_now_ms() < end);
	return -ETIMEDOUT;
}

int ts_wait_exists(struct xs_handle *xs, const char *path, bool want,
		   int timeout_ms)
{
	long long end = ts_now_ms() + timeout_ms;

	do {
		if (ts_exists(xs, path) == want)
			return 0;
		usleep(5000);
	} while (ts_now_ms() < end);
	return -ETIMEDOUT;
}

int ts_count_nodes(struct xs_handle *xs, const char *path)
{
	unsigned int n;
	char **ents = xs_directory(xs, XBT_NULL, path, &n);
	int total = 0;

	if (!ents)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		char sub[512];

		snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]);
		total += 1 + ts_count_nodes(xs, sub);
	}
	free(ents);
	return total;
}

int ts_vbd_remove_begin(struct xs_handle *xs, const struct ts_vbd *v)
{
	char be[128];

	ts_vbd_paths(v, be, sizeof(be), NULL, 0);
	for (;;) {
		xs_transaction_t t = xs_transaction_start(xs);
		int r;

		if (t == XBT_NULL)
			return -errno;
		r = wr(xs, t, be, "online", "0");
		r = r ?: wr(xs, t, be, "state", "5");
		if (r) {
			xs_transaction_end(xs, t, true);
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
}

int ts_vbd_remove(struct xs_handle *xs, const struct ts_vbd *v,
		  int timeout_ms)
{
	char be[128], fe[128];
	int r;

	ts_vbd_paths(v, be, sizeof(be), fe, sizeof(fe));
	/* libxl only asks a Connected backend to close; any other it just
	 * removes. */
	if (ts_read_int(xs, be, "state") != 4) {
		xs_rm(xs, XBT_NULL, be);
		xs_rm(xs, XBT_NULL, fe);
		return 0;
	}
	r = ts_vbd_remove_begin(xs, v);
	if (r)
		return r;
	r = ts_wait_state(xs, be, 6, timeout_ms);
	xs_rm(xs, XBT_NULL, be);
	xs_rm(xs, XBT_NULL, fe);
	return r;
}

/* ---- the daemon under test ---- */

bool td_alive(struct td_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	return waitpid(d->pid, &st, WNOHANG) == 0;
}

void td_dump_log(struct td_daemon *d)
{
	char buf[4096];
	ssize_t n;
	int fd = open(d->log_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	fprintf(stderr, "---- %s ----\n", d->log_path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	close(fd);
}

int td_start(struct td_daemon *d, const char *const *extra_args)
{
	const char *daemon_path = getenv("XB_DAEMON");
	const char *tmp = getenv("XB_TMPDIR");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *argv[64];
	char notify_path[300];
	int argc = 0, nfd, r;
	long long end;

	if (!daemon_path)
		daemon_path = "xenbackd";
	/* A restart keeps the directory, so guests' sim domains stay. */
	if (!d->dir[0]) {
		snprintf(d->dir, sizeof(d->dir), "%s/xbd-XXXXXX",
			 tmp ? tmp : "/tmp");
		if (!mkdtemp(d->dir))
			return -errno;
	}
	snprintf(d->sim_dir, sizeof(d->sim_dir), "%s/sim", d->dir);
	snprintf(d->ctl_path, sizeof(d->ctl_path), "%s/ctl.sock", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/daemon.log", d->dir);
	snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", d->dir);
	if (mkdir(d->sim_dir, 0700) < 0 && errno != EEXIST)
		return -errno;

	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nfd < 0)
		return -errno;
	strcpy(sun.sun_path, notify_path);
	if (bind(nfd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		close(nfd);
		return r;
	}

	argv[argc++] = daemon_path;
	argv[argc++] = "--foreground";
	argv[argc++] = "--platform=sim";
	argv[argc++] = "--sim-dir";
	argv[argc++] = d->sim_dir;
	argv[argc++] = "--control-socket";
	argv[argc++] = d->ctl_path;
	argv[argc++] = "--log-target=stderr";
	argv[argc++] = "--log-level=debug";
	for (int i = 0; extra_args && extra_args[i] && argc < 62; i++)
		argv[argc++] = extra_args[i];
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0) {
		r = -errno;
		close(nfd);
		return r;
	}
	if (d->pid == 0) {
		int lfd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (lfd >= 0) {
			dup2(lfd, 2);
			dup2(lfd, 1);
		}
		setenv("NOTIFY_SOCKET", notify_path, 1);
		execv(daemon_path, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", daemon_path, strerror(errno));
		_exit(127);
	}

	end = ts_now_ms() + 15000;
	r = -ETIMEDOUT;
	while (ts_now_ms() < end) {
		struct pollfd p = { .fd = nfd, .events = POLLIN };
		char msg[512];
		ssize_t n;

		if (poll(&p, 1, 100) > 0) {
			n = recv(nfd, msg, sizeof(msg) - 1, 0);
			if (n > 0) {
				msg[n] = 0;
				if (strstr(msg, "READY=1")) {
					r = 0;
					break;
				}
			}
		}
		if (!td_alive(d)) {
			d->pid = -1;
			r = -ECHILD;
			break;
		}
	}
	close(nfd);
	unlink(notify_path);
	if (r < 0) {
		fprintf(stderr, "xenbackd did not become ready: %s\n",
			strerror(-r));
		td_dump_log(d);
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = -1;
		}
	}
	return r;
}

int td_stop(struct td_daemon *d)
{
	long long end;
	int st;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	end = ts_now_ms() + 20000;
	while (ts_now_ms() < end) {
		pid_t p = waitpid(d->pid, &st, WNOHANG);

		if (p == d->pid) {
			d->pid = -1;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				return 0;
			fprintf(stderr, "xenbackd exited with %s %d\n",
				WIFEXITED(st) ? "status" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			td_dump_log(d);
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "xenbackd did not stop in 20 s; killing it\n");
	td_dump_log(d);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = -1;
	return -1;
}

int td_ctl(struct td_daemon *d, const char *cmd, char *buf, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t got = 0;
	int fd, r = 0;

	strcpy(sun.sun_path, d->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - got - 1);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	return got ? 0 : -EIO;
}
