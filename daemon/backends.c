/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one explicit table of device types. The core never switches on it. */
#include <string.h>

#include "xb_daemon.h"

static const struct backend_ops *const backends[] = {
	&blkback_ops,
	&blkback_qdisk_ops,
	&netback_ops,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct backend_ops *xb_backend_find(const char *type)
{
	for (unsigned int i = 0; i < NBACKENDS; i++)
		if (!strcmp(backends[i]->type, type))
			return backends[i];
	return NULL;
}

const char *xb_backend_names(void)
{
	static char names[128];

	if (!names[0]) {
		for (unsigned int i = 0; i < NBACKENDS; i++) {
			if (names[0])
				strcat(names, ",");
			strcat(names, backends[i]->type);
		}
	}
	return names;
}
