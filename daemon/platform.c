/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Choosing a platform implementation by name (the --platform CLI flag).
 */
#include <errno.h>
#include <string.h>

#include "xb_platform.h"

/* The shim (/dev/xenback) comes with its own issue; until then it is never
 * available, and "auto" falls through to xen. Returns 0 or -errno. */
static int xb_platform_open_shim(const struct xb_platform_args *args,
				 struct xb_platform **out)
{
	return -ENOTSUP;
}

int xb_platform_open(const char *name, const struct xb_platform_args *args,
		     struct xb_platform **out)
{
	int r;

	if (!name || !strcmp(name, "auto")) {
		r = xb_platform_open_shim(args, out);
		if (r != -ENOTSUP && r != -ENOENT)
			return r;
		return xb_platform_open_xen(args, out);
	}
	if (!strcmp(name, "xen"))
		return xb_platform_open_xen(args, out);
	if (!strcmp(name, "shim"))
		return xb_platform_open_shim(args, out);
	if (!strcmp(name, "sim"))
		return xb_platform_open_sim(args, out);
	return -EINVAL;
}
