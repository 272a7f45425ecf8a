/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xenbackctl: talk to xenbackd's control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "xb_build.h"

#define DEFAULT_CTL_PATH XB_RUNSTATEDIR "/xenbackd/control.sock"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: xenbackctl [OPTION]... COMMAND\n"
"Query a running xenbackd.\n"
"\n"
"Commands:\n"
"  list              devices: domain, device id, type, states and counters\n"
"  version           the daemon's version and platform\n"
"  log-level LEVEL   set the daemon's log level (err, warn, info, debug)\n"
"  resize DOMID DEVID  look at a disk's backing size again and give a new\n"
"                    one to the guest (a file grown or shrunk; a block\n"
"                    device's resize is seen by itself)\n"
"\n"
"Options:\n"
"  -s, --control-socket PATH  (default: " DEFAULT_CTL_PATH ")\n"
"  -j, --json                 print the daemon's JSON reply as it is\n"
"  -h, --help\n"
"  -V, --version\n"
"Exit status: 0 ok, 1 the daemon answered an error or is not running,\n"
"2 bad usage.\n");
}

/* Returns the reply line (malloc'd) or NULL with a message printed. */
static char *request(const char *path, const char *cmd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t cap = 4096, len = 0;
	char *buf;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xenbackctl: socket path too long\n");
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "xenbackctl: cannot reach xenbackd at %s: %s\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		fprintf(stderr, "xenbackctl: write: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		ssize_t n = read(fd, buf + len, cap - len - 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (!buf || len == 0) {
		fprintf(stderr, "xenbackctl: no reply from xenbackd\n");
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return "?";
	return json_object_get_string(v);
}

static void print_list(json_object *reply)
{
	json_object *devs;
	size_t n;

	if (!json_object_object_get_ex(reply, "devices", &devs))
		return;
	n = json_object_array_length(devs);
	printf("%-5s %-6s %-8s %-12s %-12s %10s %14s %14s %8s\n", "DOM", "TYPE",
	       "DEVID", "STATE", "FRONTEND", "REQUESTS", "READ(B)",
	       "WRITTEN(B)", "ERRORS");
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(devs, i);

		printf("%-5s %-6s %-8s %-12s %-12s %10s %14s %14s %8s\n",
		       str(d, "domid"), str(d, "type"), str(d, "devid"),
		       str(d, "state"), str(d, "frontend_state"),
		       str(d, "requests"), str(d, "bytes_read"),
		       str(d, "bytes_written"), str(d, "errors"));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control-socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CTL_PATH;
	char cmd[128], *line;
	json_object *reply, *err;
	bool json = false;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "s:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xenbackctl %s\n", XB_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "list") || !strcmp(argv[optind], "version")) {
		if (argc - optind != 1) {
			usage(stderr);
			return 2;
		}
		snprintf(cmd, sizeof(cmd), "%s", argv[optind]);
	} else if (!strcmp(argv[optind], "log-level") && argc - optind == 2 &&
		   strlen(argv[optind + 1]) < 32) {
		snprintf(cmd, sizeof(cmd), "log-level %s", argv[optind + 1]);
	} else if (!strcmp(argv[optind], "resize") && argc - optind == 3 &&
		   strlen(argv[optind + 1]) < 16 &&
		   strlen(argv[optind + 2]) < 16) {
		snprintf(cmd, sizeof(cmd), "resize %s %s", argv[optind + 1],
			 argv[optind + 2]);
	} else {
		fprintf(stderr, "xenbackctl: unknown command '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	line = request(path, cmd);
	if (!line)
		return 1;
	reply = json_tokener_parse(line);
	if (!reply) {
		fprintf(stderr, "xenbackctl: bad reply: %s", line);
		free(line);
		return 1;
	}
	if (json_object_object_get_ex(reply, "error", &err)) {
		fprintf(stderr, "xenbackctl: %s\n", json_object_get_string(err));
		ret = 1;
	} else if (json) {
		fputs(line, stdout);
	} else if (!strcmp(cmd, "list")) {
		print_list(reply);
	} else if (!strcmp(cmd, "version")) {
		printf("xenbackd %s (platform %s)\n", str(reply, "version"),
		       str(reply, "platform"));
	} else if (!strncmp(cmd, "resize ", 7)) {
		json_object *sec = NULL;

		json_object_object_get_ex(reply, "sectors", &sec);
		printf("%s: %s sectors of 512 bytes\n", str(reply, "device"),
		       sec ? json_object_get_string(sec) : "?");
	} else {
		printf("log level: %s\n", str(reply, "log_level"));
	}
	json_object_put(reply);
	free(line);
	return ret;
}
