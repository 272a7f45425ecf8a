/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xenbackd logging: one header for every part of the daemon.
 *
 * log_err/warn/info/debug print a message; the _errno variants take a
 * negative errno value r, append strerror(-r) and return r so a caller can
 * write "return log_err_errno(r, ...)". dev_* variants prefix the device
 * name ("d7/vbd51712"); anything with a `name` string member works.
 */
#ifndef XB_LOG_H
#define XB_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum xb_log_target {
	XB_LOG_TARGET_STDERR,
	XB_LOG_TARGET_SYSLOG,
	XB_LOG_TARGET_JOURNAL,
};

/* Set once at start-up and on SIGHUP by the main thread; read by all. */
extern int xb_log_level;

void xb_log_setup(enum xb_log_target target, const char *ident);
/* Returns err unchanged; appends strerror(-err) when err < 0. */
int xb_logv(int level, const char *prefix, int err, const char *fmt,
	    va_list ap);
int xb_log(int level, const char *prefix, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Parses "err|warn|info|debug" (or 0..7); returns a level or -EINVAL. */
int xb_log_parse_level(const char *s);
const char *xb_log_level_name(int level);

#define XB_LOGP(lvl, prefix, err, ...)                                        \
	((lvl) <= xb_log_level ? xb_log((lvl), (prefix), (err), __VA_ARGS__) \
			       : (err))

#define log_err(...) ((void)XB_LOGP(LOG_ERR, NULL, 0, __VA_ARGS__))
#define log_warn(...) ((void)XB_LOGP(LOG_WARNING, NULL, 0, __VA_ARGS__))
#define log_info(...) ((void)XB_LOGP(LOG_INFO, NULL, 0, __VA_ARGS__))
#define log_debug(...) ((void)XB_LOGP(LOG_DEBUG, NULL, 0, __VA_ARGS__))
#define log_err_errno(r, ...) XB_LOGP(LOG_ERR, NULL, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) XB_LOGP(LOG_WARNING, NULL, (r), __VA_ARGS__)
#define log_info_errno(r, ...) XB_LOGP(LOG_INFO, NULL, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) XB_LOGP(LOG_DEBUG, NULL, (r), __VA_ARGS__)

#define dev_err(d, ...) ((void)XB_LOGP(LOG_ERR, (d)->name, 0, __VA_ARGS__))
#define dev_warn(d, ...) \
	((void)XB_LOGP(LOG_WARNING, (d)->name, 0, __VA_ARGS__))
#define dev_info(d, ...) ((void)XB_LOGP(LOG_INFO, (d)->name, 0, __VA_ARGS__))
#define dev_debug(d, ...) \
	((void)XB_LOGP(LOG_DEBUG, (d)->name, 0, __VA_ARGS__))
#define dev_err_errno(d, r, ...) XB_LOGP(LOG_ERR, (d)->name, (r), __VA_ARGS__)
#define dev_warn_errno(d, r, ...) \
	XB_LOGP(LOG_WARNING, (d)->name, (r), __VA_ARGS__)
#define dev_debug_errno(d, r, ...) \
	XB_LOGP(LOG_DEBUG, (d)->name, (r), __VA_ARGS__)

#endif
