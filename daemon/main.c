/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xenbackd: command line, start-up, signals and the main loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <systemd/sd-daemon.h>
#include <xenstore.h>

#include "xb_build.h"
#include "xb_daemon.h"
#include "xb_log.h"
#include "xb_worker.h"

#define DEFAULT_CTL_PATH XB_RUNSTATEDIR "/xenbackd/control.sock"
#define DEFAULT_ENV_FILE "/etc/default/xenbackd"

static struct xb_config cfg;
static const char *env_file = DEFAULT_ENV_FILE;
static int cli_log_level = -1;

enum {
	OPT_SIM_DIR = 256,
	OPT_LOG_TARGET,
	OPT_PID_FILE,
	OPT_BACKEND_DOMID,
	OPT_ENV_FILE,
	OPT_BLK_ENGINE,
	OPT_BLK_MAX_QUEUES,
	OPT_BLK_MAX_RING_ORDER,
	OPT_BLK_MAX_INDIRECT,
	OPT_BLK_MAX_PERSISTENT,
	OPT_BLK_PERSISTENT_IDLE,
	OPT_BLK_POLL_US,
	OPT_BLK_LOOP,
	OPT_NET_MAX_QUEUES,
	OPT_NET_RX_DRAIN_MS,
	OPT_NET_RX_STALL_MS,
};

static const struct option long_opts[] = {
	{ "types", required_argument, NULL, 't' },
	{ "platform", required_argument, NULL, 'p' },
	{ "sim-dir", required_argument, NULL, OPT_SIM_DIR },
	{ "workers", required_argument, NULL, 'w' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "log-target", required_argument, NULL, OPT_LOG_TARGET },
	{ "foreground", no_argument, NULL, 'f' },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "control-socket", required_argument, NULL, 's' },
	{ "backend-domid", required_argument, NULL, OPT_BACKEND_DOMID },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "blk-engine", required_argument, NULL, OPT_BLK_ENGINE },
	{ "blk-max-queues", required_argument, NULL, OPT_BLK_MAX_QUEUES },
	{ "blk-max-ring-order", required_argument, NULL,
	  OPT_BLK_MAX_RING_ORDER },
	{ "blk-max-indirect", required_argument, NULL, OPT_BLK_MAX_INDIRECT },
	{ "blk-max-persistent", required_argument, NULL,
	  OPT_BLK_MAX_PERSISTENT },
	{ "blk-persistent-idle", required_argument, NULL,
	  OPT_BLK_PERSISTENT_IDLE },
	{ "blk-poll-us", required_argument, NULL, OPT_BLK_POLL_US },
	{ "blk-loop", required_argument, NULL, OPT_BLK_LOOP },
	{ "net-max-queues", required_argument, NULL, OPT_NET_MAX_QUEUES },
	{ "net-rx-drain-ms", required_argument, NULL, OPT_NET_RX_DRAIN_MS },
	{ "net-rx-stall-ms", required_argument, NULL, OPT_NET_RX_STALL_MS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: xenbackd [OPTION]...\n"
"Serve Xen guests' disks and network interfaces from userspace, in place of\n"
"the kernel's xen-blkback and xen-netback, for the devices the toolstack (xl)\n"
"writes into xenstore.\n"
"\n"
"  -t, --types LIST          device types to serve, comma-separated, from:\n"
"                            %s (default: vbd,vif)\n"
"  -p, --platform NAME       hypervisor access: auto, xen, shim or sim\n"
"                            (default: auto = shim if loaded, else xen)\n"
"      --sim-dir DIR         sim platform: the simulated domains' directory\n"
"  -w, --workers N           worker threads serving the rings, 1..256\n"
"                            (default: the number of online CPUs)\n"
"  -c, --cpus LIST           pin worker i to the i-th CPU of LIST (e.g. 2-3,6)\n"
"  -l, --log-level LEVEL     err, warn, info or debug (default: info, or\n"
"                            XENBACKD_LOG_LEVEL from the environment)\n"
"      --log-target TARGET   stderr, syslog, journal or auto (default: auto =\n"
"                            journal under systemd, else stderr)\n"
"  -f, --foreground          do not detach (systemd runs it this way)\n"
"      --pid-file PATH       write the daemon's pid to PATH\n"
"  -s, --control-socket PATH where xenbackctl connects\n"
"                            (default: " DEFAULT_CTL_PATH ")\n"
"      --backend-domid N     the domain this daemon runs in (default: 0)\n"
"      --env-file PATH       on SIGHUP, re-read XENBACKD_LOG_LEVEL from PATH\n"
"                            (default: " DEFAULT_ENV_FILE ")\n"
"\n"
"Block backend (vbd, qdisk):\n"
"      --blk-engine NAME     auto, io_uring, aio or null (default: auto =\n"
"                            io_uring, libaio if io_uring is unavailable;\n"
"                            null answers every request without I/O, for\n"
"                            measuring ring overhead only)\n"
"      --blk-max-queues N    queues offered to a frontend, 1..64\n"
"                            (default: the number of workers)\n"
"      --blk-max-ring-order N  largest ring offered, 2^N pages, 0..4\n"
"                            (default: 4)\n"
"      --blk-max-indirect N  segments per indirect request, 11..256\n"
"                            (default: 256)\n"
"      --blk-max-persistent N  persistent grants kept per queue, 0..65536\n"
"                            (default: 1056; 0 disables persistent grants)\n"
"      --blk-persistent-idle SECONDS  unmap a persistent grant unused this\n"
"                            long, 1..86400 (default: 60); 32 at a time,\n"
"                            100 ms apart\n"
"      --blk-poll-us N       after answering every request it holds, a queue\n"
"                            keeps looking at its ring N microseconds before\n"
"                            it sleeps, 0..1000 (default: 0, off): lower\n"
"                            latency at low queue depth for a CPU spent\n"
"                            spinning\n"
"      --blk-loop MODE       a loop device over a whole file (what the block\n"
"                            hotplug script makes of a file target): file =\n"
"                            serve the file itself, device = the loop device\n"
"                            (default: file)\n"
"\n"
"Network backend (vif):\n"
"      --net-max-queues N    queues (tap queues) offered to a frontend, 1..16\n"
"                            (default: the number of workers)\n"
"      --net-rx-drain-ms N   frames that have waited N ms for a guest's rx\n"
"                            buffers are dropped, 10..3600000 (default:\n"
"                            10000, as Linux's xen-netback)\n"
"      --net-rx-stall-ms N   a queue whose guest has posted no rx buffer for\n"
"                            N ms since it last took a frame is stalled:\n"
"                            the tap's carrier goes off until it posts one,\n"
"                            10..3600000, 0 = never (default: 60000)\n"
"\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"Signals: SIGTERM/SIGINT close every device and exit; SIGHUP re-reads the\n"
"log level. Exit status: 0 after a clean shutdown, 1 on a start-up failure,\n"
"2 on a bad command line.\n",
		xb_backend_names());
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xenbackd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'xenbackd --help' for more information.\n");
	exit(2);
}

static unsigned int parse_num(const char *opt, const char *s, unsigned long min,
			      unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		bad_usage("%s: '%s' is not a number from %lu to %lu", opt, s,
			  min, max);
	return (unsigned int)v;
}

static void parse_types(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		bad_usage("out of memory");
	cfg.ntypes = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		const struct backend_ops *ops = xb_backend_find(tok);
		bool dup = false;

		if (!ops) {
			if (!strcmp(tok, "pci"))
				bad_usage("--types: '%s' is not served by this "
					  "build yet (available: %s)",
					  tok, xb_backend_names());
			bad_usage("--types: unknown device type '%s' "
				  "(available: %s)",
				  tok, xb_backend_names());
		}
		for (unsigned int i = 0; i < cfg.ntypes; i++)
			dup |= !strcmp(cfg.types[i], ops->type);
		if (dup)
			continue;
		if (cfg.ntypes == sizeof(cfg.types) / sizeof(cfg.types[0]))
			bad_usage("--types: too many types");
		cfg.types[cfg.ntypes++] = ops->type;
	}
	free(copy);
	if (!cfg.ntypes)
		bad_usage("--types: empty list");
}

static void parse_cpus(const char *arg)
{
	const char *p = arg;
	long nproc = sysconf(_SC_NPROCESSORS_CONF);

	cfg.ncpus = 0;
	while (*p) {
		char *end;
		long a, b;

		errno = 0;
		a = strtol(p, &end, 10);
		if (errno || end == p || a < 0)
			goto bad;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (errno || end == p || b < a)
				goto bad;
		}
		if (b >= nproc || b >= XB_MAX_CPUS)
			bad_usage("--cpus: CPU %ld does not exist (this machine "
				  "has %ld)",
				  b, nproc);
		for (long c = a; c <= b; c++) {
			if (cfg.ncpus == XB_MAX_CPUS)
				goto bad;
			cfg.cpus[cfg.ncpus++] = (int)c;
		}
		if (*end == ',')
			end++;
		else if (*end)
			goto bad;
		p = end;
	}
	if (cfg.ncpus)
		return;
bad:
	bad_usage("--cpus: '%s' is not a CPU list like 0-3,6", arg);
}

static void parse_args(int argc, char **argv)
{
	const char *types = NULL;
	long n;
	int c;

	cfg.platform = "auto";
	cfg.log_level = LOG_INFO;
	cfg.log_target = -1;
	cfg.ctl_path = DEFAULT_CTL_PATH;
	cfg.blk_engine = "auto";
	cfg.blk_max_ring_order = 4;
	cfg.blk_max_indirect = 256;
	cfg.blk_max_persistent = 1056;
	cfg.blk_loop_file = true;
	cfg.blk_persistent_idle = 60;
	cfg.net_rx_drain_ms = 10000;
	cfg.net_rx_stall_ms = 60000;

	while ((c = getopt_long(argc, argv, "t:p:w:c:l:fs:hV", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 't':
			types = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "auto") && strcmp(optarg, "xen") &&
			    strcmp(optarg, "shim") && strcmp(optarg, "sim"))
				bad_usage("--platform: '%s' is not one of auto, "
					  "xen, shim, sim",
					  optarg);
			cfg.platform = optarg;
			break;
		case OPT_SIM_DIR:
			cfg.sim_dir = optarg;
			break;
		case 'w':
			cfg.workers = parse_num("--workers", optarg, 1, 256);
			break;
		case 'c':
			parse_cpus(optarg);
			break;
		case 'l':
			cli_log_level = xb_log_parse_level(optarg);
			if (cli_log_level < 0)
				bad_usage("--log-level: '%s' is not one of err, "
					  "warn, info, debug",
					  optarg);
			break;
		case OPT_LOG_TARGET:
			if (!strcmp(optarg, "stderr"))
				cfg.log_target = XB_LOG_TARGET_STDERR;
			else if (!strcmp(optarg, "syslog"))
				cfg.log_target = XB_LOG_TARGET_SYSLOG;
			else if (!strcmp(optarg, "journal"))
				cfg.log_target = XB_LOG_TARGET_JOURNAL;
			else if (strcmp(optarg, "auto"))
				bad_usage("--log-target: '%s' is not one of "
					  "stderr, syslog, journal, auto",
					  optarg);
			break;
		case 'f':
			cfg.foreground = true;
			break;
		case OPT_PID_FILE:
			cfg.pidfile = optarg;
			break;
		case 's':
			if (!*optarg || strlen(optarg) >= 108)
				bad_usage("--control-socket: bad path '%s'",
					  optarg);
			cfg.ctl_path = optarg;
			break;
		case OPT_BACKEND_DOMID:
			cfg.backend_domid =
				parse_num("--backend-domid", optarg, 0, 0x7fef);
			break;
		case OPT_ENV_FILE:
			env_file = optarg;
			break;
		case OPT_BLK_ENGINE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "io_uring") &&
			    strcmp(optarg, "aio") && strcmp(optarg, "null"))
				bad_usage("--blk-engine: '%s' is not one of "
					  "auto, io_uring, aio, null",
					  optarg);
			cfg.blk_engine = optarg;
			break;
		case OPT_BLK_MAX_QUEUES:
			cfg.blk_max_queues =
				parse_num("--blk-max-queues", optarg, 1, 64);
			break;
		case OPT_BLK_MAX_RING_ORDER:
			cfg.blk_max_ring_order =
				parse_num("--blk-max-ring-order", optarg, 0, 4);
			break;
		case OPT_BLK_MAX_INDIRECT:
			cfg.blk_max_indirect =
				parse_num("--blk-max-indirect", optarg, 11, 256);
			break;
		case OPT_BLK_MAX_PERSISTENT:
			cfg.blk_max_persistent = parse_num(
				"--blk-max-persistent", optarg, 0, 65536);
			break;
		case OPT_BLK_PERSISTENT_IDLE:
			cfg.blk_persistent_idle = parse_num(
				"--blk-persistent-idle", optarg, 1, 86400);
			break;
		case OPT_BLK_POLL_US:
			cfg.blk_poll_us =
				parse_num("--blk-poll-us", optarg, 0, 1000);
			break;
		case OPT_BLK_LOOP:
			if (!strcmp(optarg, "file"))
				cfg.blk_loop_file = true;
			else if (!strcmp(optarg, "device"))
				cfg.blk_loop_file = false;
			else
				bad_usage("--blk-loop: '%s' is not one of "
					  "file, device",
					  optarg);
			break;
		case OPT_NET_MAX_QUEUES:
			cfg.net_max_queues =
				parse_num("--net-max-queues", optarg, 1, 16);
			break;
		case OPT_NET_RX_DRAIN_MS:
			cfg.net_rx_drain_ms = parse_num("--net-rx-drain-ms",
							optarg, 10, 3600000);
			break;
		case OPT_NET_RX_STALL_MS:
			cfg.net_rx_stall_ms = parse_num("--net-rx-stall-ms",
							optarg, 0, 3600000);
			if (cfg.net_rx_stall_ms && cfg.net_rx_stall_ms < 10)
				bad_usage("--net-rx-stall-ms: 0, or 10..3600000");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("xenbackd %s\n", XB_VERSION);
			exit(0);
		default:
			fprintf(stderr,
				"Try 'xenbackd --help' for more information.\n");
			exit(2);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	parse_types(types ? types : "vbd,vif");
	if (!strcmp(cfg.platform, "sim") && !cfg.sim_dir)
		bad_usage("--platform sim needs --sim-dir DIR");
	if (cfg.sim_dir && strcmp(cfg.platform, "sim"))
		bad_usage("--sim-dir goes with --platform sim");
	if (!cfg.workers) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg.workers = n < 1 ? 1 : n > 256 ? 256 : (unsigned int)n;
	}
	if (!cfg.blk_max_queues)
		cfg.blk_max_queues = cfg.workers < 64 ? cfg.workers : 64;
	if (!cfg.net_max_queues)
		cfg.net_max_queues = cfg.workers < 16 ? cfg.workers : 16;
}

/* XENBACKD_LOG_LEVEL from the env file; -1 when absent or invalid. */
static int read_env_log_level(void)
{
	FILE *f = fopen(env_file, "re");
	char line[256];
	int lvl = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, "XENBACKD_LOG_LEVEL=", 19))
			continue;
		v = line + 19;
		v[strcspn(v, "\r\n")] = 0;
		if (*v == '"' && v[strlen(v) - 1] == '"' && strlen(v) >= 2) {
			v[strlen(v) - 1] = 0;
			v++;
		}
		lvl = xb_log_parse_level(v);
		if (lvl < 0)
			log_warn("%s: bad XENBACKD_LOG_LEVEL '%s'", env_file,
				 v);
	}
	fclose(f);
	return lvl;
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct xb_daemon *d = arg;

	log_info("signal %d: shutting down", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	int lvl = read_env_log_level();

	if (lvl < 0)
		lvl = cli_log_level >= 0 ? cli_log_level : LOG_INFO;
	log_info("SIGHUP: log level %s -> %s", xb_log_level_name(xb_log_level),
		 xb_log_level_name(lvl));
	xb_log_level = lvl;
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct xb_daemon d = { .cfg = &cfg, .fatal_fd = -1, .uevent_fd = -1 };
	struct xb_platform_args pargs = { 0 };
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	int r, ret = 1;

	parse_args(argc, argv);
	if (cfg.log_target < 0)
		cfg.log_target = getenv("JOURNAL_STREAM") ?
					 XB_LOG_TARGET_JOURNAL :
					 XB_LOG_TARGET_STDERR;
	xb_log_setup(cfg.log_target, "xenbackd");
	if (cli_log_level >= 0) {
		xb_log_level = cli_log_level;
	} else {
		const char *e = getenv("XENBACKD_LOG_LEVEL");
		int lvl = e && *e ? xb_log_parse_level(e) : -1;

		if (e && *e && lvl < 0)
			bad_usage("XENBACKD_LOG_LEVEL: '%s' is not a level", e);
		xb_log_level = lvl >= 0 ? lvl : LOG_INFO;
	}
	cfg.log_level = xb_log_level;

	if (!cfg.foreground && daemon(0, 0) < 0) {
		log_err_errno(-errno, "daemon");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.pidfile) {
		r = write_pidfile(cfg.pidfile);
		if (r < 0) {
			log_err_errno(r, "pid file %s", cfg.pidfile);
			return 1;
		}
	}

	for (unsigned int i = 0; i < cfg.ntypes; i++)
		d.types[d.ntypes++] = xb_backend_find(cfg.types[i]);

	/* Two backends answering the same xenstore directory would corrupt
	 * each other's state: refuse types a kernel driver already serves. */
	for (unsigned int i = 0; strcmp(cfg.platform, "sim") && i < cfg.ntypes;
	     i++) {
		char drv[96];

		snprintf(drv, sizeof(drv), "/sys/bus/xen-backend/drivers/%s",
			 cfg.types[i]);
		if (access(drv, F_OK) == 0) {
			log_err("the kernel already serves '%s' (%s exists): "
				"unload its module (e.g. modprobe -r "
				"xen-blkback) or drop it from --types",
				cfg.types[i], drv);
			goto out;
		}
	}
	pargs.sim_dir = cfg.sim_dir;
	r = xb_platform_open(cfg.platform, &pargs, &d.plat);
	if (r < 0) {
		log_err_errno(r, "cannot open the %s platform", cfg.platform);
		goto out;
	}
	if (cfg.ncpus) {
		/* Spread the listed CPUs over the workers, round robin. */
		int pin[256];

		for (unsigned int i = 0; i < cfg.workers; i++)
			pin[i] = cfg.cpus[i % cfg.ncpus];
		r = xb_workers_start(cfg.workers, pin, &d.workers);
	} else {
		r = xb_workers_start(cfg.workers, NULL, &d.workers);
	}
	if (r < 0) {
		log_err_errno(r, "starting %u workers", cfg.workers);
		goto out;
	}
	d.xsh = xs_open(0);
	if (!d.xsh) {
		log_err_errno(-errno, "cannot connect to xenstored");
		goto out;
	}
	d.base = event_base_new();
	if (!d.base) {
		log_err("event_base_new failed");
		goto out;
	}
	ev_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_stop, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	if (!ev_term || !ev_int || !ev_hup || event_add(ev_term, NULL) ||
	    event_add(ev_int, NULL) || event_add(ev_hup, NULL)) {
		log_err("cannot set up signal handling");
		goto out;
	}
	r = xb_devices_init(&d);
	if (r < 0)
		goto out;
	r = xb_ctl_start(&d, cfg.ctl_path);
	if (r < 0)
		goto out;
	r = xb_uevent_start(&d);
	if (r < 0)
		goto out;

	{
		char types[64] = "";

		for (unsigned int i = 0; i < cfg.ntypes; i++)
			snprintf(types + strlen(types),
				 sizeof(types) - strlen(types), "%s%s",
				 i ? "," : "", cfg.types[i]);
		log_info("xenbackd %s ready: platform %s, %u workers, types %s",
			 XB_VERSION, d.plat->ops->name, cfg.workers, types);
	}
	sd_notify(0, "READY=1\nSTATUS=Serving 0 devices");
	event_base_dispatch(d.base);
	ret = 0;
out:
	sd_notify(0, "STOPPING=1");
	if (d.base)
		xb_devices_shutdown(&d);
	xb_uevent_stop(&d);
	xb_ctl_stop(d.ctl);
	xb_devices_fini(&d);
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_hup)
		event_free(ev_hup);
	if (d.base)
		event_base_free(d.base);
	if (d.xsh)
		xs_close(d.xsh);
	xb_workers_stop(d.workers);
	if (d.plat)
		d.plat->ops->close(d.plat);
	if (cfg.pidfile)
		unlink(cfg.pidfile);
	log_info("exiting with status %d", ret);
	return ret;
}
