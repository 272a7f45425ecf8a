// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xs_harness: starts Debian's xenstored 4.17 with xsstub.so preloaded in a
 * private dir, and plays the hypervisor + toolstack for fake domains.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "xs_harness.h"

#define XSH_START_TIMEOUT_MS   10000
#define XSH_STOP_TIMEOUT_MS    2000
#define XSH_RELEASE_TIMEOUT_MS 5000
/* Port the fake guest's xenstore event channel has on its side. */
#define XSH_GUEST_STORE_PORT 1
/* Store page frame libxl would pass; xenstored 4.17 ignores it. */
#define XSH_GUEST_STORE_GFN 0xfeffeUL

extern char **environ;

struct xs_harness {
	char dir[PATH_MAX];
	char rundir[PATH_MAX];
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char domains[PATH_MAX];
	char fifo[PATH_MAX];
	char log[PATH_MAX];
	char pidfile[PATH_MAX];
	pid_t pid;
	struct xs_handle *xs;
};

static const char *const xsh_env_names[] = {
    "XENSTORED_PATH",	  "XENSTORED_RUNDIR", "XSSTUB_DOMAINS_DIR",
    "XSSTUB_EVTCHN_FIFO", "XSH_DIR",
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Returns 0, or -ENAMETOOLONG if the result did not fit. */
static int pathf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* Writes a whole file atomically (tmp + rename). Returns 0 or -errno. */
static int write_file_atomic(const char *dir, const char *name,
			     const char *data)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t len = strlen(data);
	int fd, r;

	/* The dot keeps xsstub from taking the temp file for a domain. */
	r = pathf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	if (!r)
		r = pathf(path, sizeof(path), "%s/%s", dir, name);
	if (r)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len) {
		r = errno ? -errno : -EIO;
		close(fd);
		unlink(tmp);
		return r;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}

/* Finds xsstub.so (see xs_harness.h). Returns 0 or -ENOENT. */
static int find_stub(char *buf, size_t size)
{
	const char *env = getenv("XB_XSSTUB");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env)
		return access(env, R_OK) ? -ENOENT
					 : pathf(buf, size, "%s", env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (!pathf(buf, size, "%s/xsstub.so", exe) &&
			    !access(buf, R_OK))
				return 0;
		}
	}
	env = getenv("XB_BUILD_ROOT");
	if (env && *env &&
	    !pathf(buf, size, "%s/tests/harness/xsstub.so", env) &&
	    !access(buf, R_OK))
		return 0;
	return -ENOENT;
}

static int set_env(const struct xs_harness *h)
{
	if (setenv("XENSTORED_PATH", h->socket, 1) ||
	    setenv("XENSTORED_RUNDIR", h->rundir, 1) ||
	    setenv("XSSTUB_DOMAINS_DIR", h->domains, 1) ||
	    setenv("XSSTUB_EVTCHN_FIFO", h->fifo, 1) ||
	    setenv("XSH_DIR", h->dir, 1))
		return -errno;
	return 0;
}

static void unset_env(const struct xs_harness *h)
{
	size_t i;
	const char *v = getenv("XSH_DIR");

	/* Only undo our own settings, not a later harness's. */
	if (!v || strcmp(v, h->dir))
		return;
	for (i = 0; i < sizeof(xsh_env_names) / sizeof(xsh_env_names[0]); i++)
		unsetenv(xsh_env_names[i]);
}

/*
 * Builds xenstored's environment: ours (already holding the XENSTORED_*
 * and XSSTUB_* settings) with LD_PRELOAD replaced by the stub alone.
 * Built before fork() because the child may only call async-signal-safe
 * functions. Returns a malloc'ed vector (strings but the last borrowed),
 * or NULL.
 */
static char **child_env(const char *stub)
{
	size_t n = 0, i, j = 0;
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			envp[j++] = environ[i];
	if (asprintf(&envp[j], "LD_PRELOAD=%s", stub) < 0) {
		free(envp);
		return NULL;
	}
	return envp;
}

static void free_child_env(char **envp)
{
	size_t n = 0;

	if (!envp)
		return;
	while (envp[n])
		n++;
	free(envp[n - 1]); /* the LD_PRELOAD string is the last one */
	free(envp);
}

/* Returns 0 with h->pid set, or -errno. */
static int spawn_xenstored(struct xs_harness *h, const char *stub)
{
	char *argv[] = {"xenstored", "-N", "-F", h->pidfile, NULL};
	pid_t parent = getpid(), pid;
	char **envp;
	int logfd, r;

	envp = child_env(stub);
	if (!envp)
		return -ENOMEM;
	logfd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = -errno;
		goto out_env;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_log;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		/* A test killed by its timeout must not leak xenstored. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (null >= 0)
			dup2(null, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execve(XSH_XENSTORED, argv, envp);
		_exit(127);
	}
	h->pid = pid;
	r = 0;
out_log:
	close(logfd);
out_env:
	free_child_env(envp);
	return r;
}

static void dump_log(const struct xs_harness *h)
{
	char buf[2048];
	ssize_t n;
	int fd;

	fd = open(h->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	fprintf(stderr, "xs_harness: --- %s ---\n", h->log);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	close(fd);
}

/* Waits until xenstored accepts a client. Returns 0 or -errno. */
static int wait_ready(struct xs_harness *h)
{
	long long deadline = now_ms() + XSH_START_TIMEOUT_MS;
	int status;

	for (;;) {
		pid_t w = waitpid(h->pid, &status, WNOHANG);

		if (w == h->pid) {
			h->pid = 0;
			fprintf(stderr,
				"xs_harness: xenstored exited (status 0x%x)\n",
				status);
			dump_log(h);
			return -ECHILD;
		}
		h->xs = xs_open(XS_OPEN_SOCKETONLY);
		if (h->xs)
			return 0;
		if (now_ms() > deadline) {
			fprintf(stderr,
				"xs_harness: xenstored not ready after %d ms\n",
				XSH_START_TIMEOUT_MS);
			dump_log(h);
			return -ETIMEDOUT;
		}
		sleep_ms(5);
	}
}

static int make_dirs(struct xs_harness *h)
{
	const char *base = getenv("XB_TMPDIR");
	int r;

	if (!base || !*base)
		base = "/tmp";
	r = pathf(h->dir, sizeof(h->dir), "%s/xsh.XXXXXX", base);
	if (r)
		return r;
	if (!mkdtemp(h->dir))
		return -errno;
	r = pathf(h->rundir, sizeof(h->rundir), "%s/run", h->dir);
	if (!r)
		r = pathf(h->socket, sizeof(h->socket), "%s/socket", h->rundir);
	if (!r)
		r = pathf(h->domains, sizeof(h->domains), "%s/domains", h->dir);
	if (!r)
		r = pathf(h->fifo, sizeof(h->fifo), "%s/evtchn", h->dir);
	if (!r)
		r = pathf(h->log, sizeof(h->log), "%s/xenstored.log", h->dir);
	if (!r)
		r = pathf(h->pidfile, sizeof(h->pidfile), "%s/xenstored.pid",
			  h->dir);
	if (r)
		return r;
	if (mkdir(h->rundir, 0700) < 0 || mkdir(h->domains, 0700) < 0)
		return -errno;
	/* Created here, not by the stub, so that pokes never race its start. */
	if (mkfifo(h->fifo, 0600) < 0)
		return -errno;
	return 0;
}

int xsh_start(struct xs_harness **out)
{
	char stub[PATH_MAX];
	struct xs_harness *h;
	int r;

	*out = NULL;
	if (access(XSH_XENSTORED, X_OK)) {
		fprintf(
		    stderr,
		    "xs_harness: %s missing (apt-get install xen-utils-4.17)\n",
		    XSH_XENSTORED);
		return -ENOENT;
	}
	r = find_stub(stub, sizeof(stub));
	if (r) {
		fprintf(stderr,
			"xs_harness: xsstub.so not found (set XB_XSSTUB)\n");
		return -ENOEXEC;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	r = make_dirs(h);
	if (r)
		goto fail;
	r = set_env(h);
	if (r)
		goto fail;
	r = spawn_xenstored(h, stub);
	if (r)
		goto fail;
	r = wait_ready(h);
	if (r)
		goto fail;
	*out = h;
	return 0;
fail:
	xsh_stop(h);
	return r;
}

const char *xsh_dir(const struct xs_harness *h)
{
	return h->dir;
}

const char *xsh_socket_path(const struct xs_harness *h)
{
	return h->socket;
}

pid_t xsh_pid(const struct xs_harness *h)
{
	return h->pid;
}

int xsh_fire_dom_exc(struct xs_harness *h)
{
	char b = 'v';
	int fd, r = 0;

	/* Non-blocking: xsstub keeps a reader open for xenstored's life. */
	fd = open(h->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* EAGAIN means the FIFO is full: a wake-up is pending anyway. */
	if (write(fd, &b, 1) < 0 && errno != EAGAIN)
		r = -errno;
	close(fd);
	return r;
}

static int dom_state_set(struct xs_harness *h, unsigned int domid,
			 const char *state)
{
	char name[16];

	snprintf(name, sizeof(name), "%u", domid);
	return write_file_atomic(h->domains, name, state);
}

static bool dom_exists(const struct xs_harness *h, unsigned int domid)
{
	char path[PATH_MAX];

	if (pathf(path, sizeof(path), "%s/%u", h->domains, domid))
		return false;
	return access(path, F_OK) == 0;
}

static void vm_path(char *buf, size_t size, unsigned int domid)
{
	snprintf(buf, size, "/vm/00000000-0000-0000-0000-%012x", domid);
}

/* xs_write of a printf-formatted value; returns 0 or -errno. */
static int xsh_writef(struct xs_handle *xs, xs_transaction_t t,
		      const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int xsh_writef(struct xs_handle *xs, xs_transaction_t t,
		      const char *path, const char *fmt, ...)
{
	char val[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	return xs_write(xs, t, path, val, (unsigned int)n) ? 0 : -errno;
}

/* libxl__xs_mknod: an empty node with the given permissions. */
static int xsh_mknod(struct xs_handle *xs, xs_transaction_t t, const char *path,
		     struct xs_permissions *perms, unsigned int nperms)
{
	if (!xs_write(xs, t, path, "", 0))
		return -errno;
	return xs_set_permissions(xs, t, path, perms, nperms) ? 0 : -errno;
}

/* Writes the nodes libxl's domain_make/build_post write. 0 or -errno. */
static int dom_write_nodes(struct xs_harness *h, xs_transaction_t t,
			   unsigned int domid)
{
	/*
	 * As libxl: roperm is dom0-owned and readable by the guest, rwperm
	 * is guest-owned (so the guest may write there).
	 */
	struct xs_permissions roperm[2] = {
	    {.id = 0, .perms = XS_PERM_NONE},
	    {.id = domid, .perms = XS_PERM_READ},
	};
	struct xs_permissions rwperm[1] = {
	    {.id = domid, .perms = XS_PERM_NONE},
	};
	static const char *const ro[] = {"", "/device", "/control"};
	static const char *const rw[] = {
	    "/control/shutdown",
	    "/control/feature-poweroff",
	    "/control/feature-reboot",
	    "/control/feature-suspend",
	    "/control/sysrq",
	    "/data",
	    "/drivers",
	    "/feature",
	    "/attr",
	    "/error",
	};
	char dom[64], vm[64], p[160];
	size_t i;
	int r = 0;

	snprintf(dom, sizeof(dom), "/local/domain/%u", domid);
	vm_path(vm, sizeof(vm), domid);
	xs_rm(h->xs, t, dom);
	xs_rm(h->xs, t, vm);
	for (i = 0; !r && i < sizeof(ro) / sizeof(ro[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dom, ro[i]);
		r = xsh_mknod(h->xs, t, p, roperm, 2);
	}
	for (i = 0; !r && i < sizeof(rw) / sizeof(rw[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dom, rw[i]);
		r = xsh_mknod(h->xs, t, p, rwperm, 1);
	}
	if (!r)
		r = xsh_mknod(h->xs, t, vm, roperm, 2);
#define W(key, ...)                                                            \
	do {                                                                   \
		if (!r) {                                                      \
			snprintf(p, sizeof(p), "%s/" key, dom);                \
			r = xsh_writef(h->xs, t, p, __VA_ARGS__);              \
		}                                                              \
	} while (0)
	W("vm", "%s", vm);
	W("name", "xsh-guest%u", domid);
	W("domid", "%u", domid);
	W("memory/static-max", "%u", 131072);
	W("memory/target", "%u", 131072);
	W("memory/videoram", "%u", 0);
	W("cpu/0/availability", "%s", "online");
	W("store/port", "%u", XSH_GUEST_STORE_PORT);
	W("store/ring-ref", "%lu", XSH_GUEST_STORE_GFN);
#undef W
	if (!r) {
		snprintf(p, sizeof(p), "%s/uuid", vm);
		r = xsh_writef(h->xs, t, p, "%s", vm + 4);
	}
	if (!r) {
		snprintf(p, sizeof(p), "%s/name", vm);
		r = xsh_writef(h->xs, t, p, "xsh-guest%u", domid);
	}
	return r;
}

static void dom_forget(struct xs_harness *h, unsigned int domid)
{
	char path[PATH_MAX];

	if (!pathf(path, sizeof(path), "%s/%u", h->domains, domid))
		unlink(path);
}

int xsh_domain_create(struct xs_harness *h, unsigned int domid)
{
	xs_transaction_t t;
	int r;

	if (!domid || domid >= 0x7ff0)
		return -EINVAL;
	if (dom_exists(h, domid))
		return -EEXIST;
	/*
	 * The hypervisor side first: xenstored 4.17 ignores (XS_PERM_IGNORE)
	 * permissions naming a domain xc_domain_getinfo() does not know.
	 */
	r = dom_state_set(h, domid, "running\n");
	if (r)
		return r;
	for (;;) {
		t = xs_transaction_start(h->xs);
		if (t == XBT_NULL) {
			r = -errno;
			goto fail;
		}
		r = dom_write_nodes(h, t, domid);
		if (r) {
			xs_transaction_end(h->xs, t, true);
			goto fail;
		}
		if (xs_transaction_end(h->xs, t, false))
			break;
		if (errno != EAGAIN) {
			r = -errno;
			goto fail;
		}
	}
	/* libxl introduces last, once the guest's store page is ready. */
	if (!xs_introduce_domain(h->xs, domid, XSH_GUEST_STORE_GFN,
				 XSH_GUEST_STORE_PORT)) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	dom_forget(h, domid);
	return r;
}

int xsh_domain_kill(struct xs_harness *h, unsigned int domid)
{
	int r;

	if (!dom_exists(h, domid))
		return -ENOENT;
	r = dom_state_set(h, domid, "dying\n");
	if (r)
		return r;
	/* xsstub's inotify watch already fires; the poke makes it explicit. */
	return xsh_fire_dom_exc(h);
}

int xsh_domain_destroy(struct xs_harness *h, unsigned int domid)
{
	long long deadline = now_ms() + XSH_RELEASE_TIMEOUT_MS;
	char path[PATH_MAX];
	int r;

	r = xsh_domain_kill(h, domid);
	if (r)
		return r;
	/* Let xenstored see the death itself, as it would on Xen. */
	while (xs_is_domain_introduced(h->xs, domid) && now_ms() < deadline)
		sleep_ms(2);
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	xs_rm(h->xs, XBT_NULL, path);
	vm_path(path, sizeof(path), domid);
	xs_rm(h->xs, XBT_NULL, path);
	/* ENOENT once xenstored released it on the VIRQ: expected. */
	xs_release_domain(h->xs, domid);
	dom_forget(h, domid);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	remove(path);
	return 0;
}

void xsh_stop(struct xs_harness *h)
{
	long long deadline;
	int status;

	if (!h)
		return;
	if (h->xs)
		xs_close(h->xs);
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		deadline = now_ms() + XSH_STOP_TIMEOUT_MS;
		while (waitpid(h->pid, &status, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				kill(h->pid, SIGKILL);
				waitpid(h->pid, &status, 0);
				break;
			}
			sleep_ms(2);
		}
	}
	unset_env(h);
	if (h->dir[0] && !getenv("XSH_KEEP"))
		nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(h);
}
