// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xsh-run [-d domid]... [--] cmd [args...]
 *
 * Starts a private xenstored (xs_harness), creates the given fake domains,
 * runs cmd with XENSTORED_PATH & co. in its environment, stops xenstored
 * and exits with cmd's status (128+signal if it was killed). Scripts can
 * kill a domain themselves: `echo dying > $XSSTUB_DOMAINS_DIR/<domid>`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xs_harness.h"

static void usage(void)
{
	fprintf(stderr, "usage: xsh-run [-d domid]... [--] cmd [args...]\n");
}

/* Returns the child's exit status, or 128+signal; -errno on failure. */
static int run(char **argv)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Ignored signals would stay ignored across exec. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "xsh-run: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	unsigned int doms[64], ndoms = 0, i;
	struct xs_harness *h;
	int opt, r;

	while ((opt = getopt(argc, argv, "+d:h")) != -1) {
		switch (opt) {
		case 'd':
			if (ndoms == sizeof(doms) / sizeof(doms[0]))
				return 2;
			doms[ndoms++] = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	/* Our own death (Ctrl-C) must still run xsh_stop. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	r = xsh_start(&h);
	if (r) {
		fprintf(stderr, "xsh-run: cannot start xenstored: %s\n",
			strerror(-r));
		return r == -ENOENT ? 77 : 1;
	}
	for (i = 0; i < ndoms; i++) {
		r = xsh_domain_create(h, doms[i]);
		if (r) {
			fprintf(stderr, "xsh-run: domain %u: %s\n", doms[i],
				strerror(-r));
			xsh_stop(h);
			return 1;
		}
	}
	r = run(argv + optind);
	xsh_stop(h);
	if (r < 0) {
		fprintf(stderr, "xsh-run: %s\n", strerror(-r));
		return 1;
	}
	return r;
}
