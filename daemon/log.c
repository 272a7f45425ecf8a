/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "xb_log.h"

int xb_log_level = LOG_INFO;
static enum xb_log_target log_target = XB_LOG_TARGET_STDERR;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",     [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void xb_log_setup(enum xb_log_target target, const char *ident)
{
	log_target = target;
	if (target == XB_LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

const char *xb_log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

/* Returns a level 0..7 or -EINVAL. */
int xb_log_parse_level(const char *s)
{
	char *end;
	long v;

	for (int i = 0; i <= LOG_DEBUG; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	if (!strcmp(s, "error"))
		return LOG_ERR;
	if (!strcmp(s, "warning"))
		return LOG_WARNING;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > LOG_DEBUG)
		return -EINVAL;
	return (int)v;
}

int xb_logv(int level, const char *prefix, int err, const char *fmt,
	    va_list ap)
{
	char msg[1024];
	int saved = errno;
	size_t n;

	n = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (err < 0)
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(-err));

	switch (log_target) {
	case XB_LOG_TARGET_SYSLOG:
		syslog(level, "%s%s%s", prefix ? prefix : "",
		       prefix ? ": " : "", msg);
		break;
	case XB_LOG_TARGET_JOURNAL:
		sd_journal_send("MESSAGE=%s%s%s", prefix ? prefix : "",
				prefix ? ": " : "", msg, "PRIORITY=%d", level,
				"XENBACKD_DEVICE=%s", prefix ? prefix : "",
				NULL);
		break;
	default:
		/* One fprintf so lines from several threads do not interleave. */
		fprintf(stderr, "xenbackd[%s]: %s%s%s\n",
			xb_log_level_name(level), prefix ? prefix : "",
			prefix ? ": " : "", msg);
		break;
	}
	errno = saved;
	return err;
}

int xb_log(int level, const char *prefix, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = xb_logv(level, prefix, err, fmt, ap);
	va_end(ap);
	return err;
}
