/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xs_harness: a private, real xenstored (Debian's 4.17 binary) for tests
 * and the demo, running without a hypervisor thanks to xsstub.so.
 *
 * Layout of the private dir (xsh_dir()):
 *   run/            XENSTORED_RUNDIR; run/socket is the unix socket
 *   domains/<id>    fake domains for xsstub ("running", "shutdown", "dying")
 *   evtchn          FIFO: a byte written here fires VIRQ_DOM_EXC
 *   xenstored.log   xenstored's stdout/stderr
 *   xenstored.pid
 *
 * xsh_start() exports XENSTORED_PATH, XENSTORED_RUNDIR, XSSTUB_DOMAINS_DIR,
 * XSSTUB_EVTCHN_FIFO and XSH_DIR into this process's environment, so
 * libxenstore clients and child processes find the daemon.
 *
 * Not thread-safe: one harness per process, driven from one thread.
 */
#ifndef XS_HARNESS_H
#define XS_HARNESS_H

#include <sys/types.h>

#define XSH_XENSTORED "/usr/lib/xen-4.17/bin/xenstored"

struct xs_harness;

/*
 * Starts xenstored with the preload in a fresh private dir (mkdtemp under
 * $XB_TMPDIR or /tmp) and waits until it accepts a client. xsstub.so is
 * found through $XB_XSSTUB, else next to the running executable, else in
 * $XB_BUILD_ROOT/tests/harness. Returns 0 or -errno; -ENOENT if xenstored
 * is not installed (the caller skips with exit 77).
 */
int xsh_start(struct xs_harness **out);
const char *xsh_dir(const struct xs_harness *h);
const char *xsh_socket_path(const struct xs_harness *h);
pid_t xsh_pid(const struct xs_harness *h);

/*
 * A fake running domain, introduced to xenstored like libxl's build does:
 * /local/domain/<domid> (owner dom0, domid may read), its name, domid, vm,
 * device/, control/, data/ ... subtrees, then XS_INTRODUCE.
 * Returns 0 or -errno (-EEXIST if the domain exists).
 */
int xsh_domain_create(struct xs_harness *h, unsigned int domid);

/*
 * Hypervisor-side death only: marks the domain dying and fires
 * VIRQ_DOM_EXC, so xenstored releases it and fires @releaseDomain.
 * xenstore is left as it is (as between death and libxl's cleanup).
 * Returns 0 or -errno.
 */
int xsh_domain_kill(struct xs_harness *h, unsigned int domid);

/*
 * Full destroy: xsh_domain_kill(), then what libxl's destroy does in
 * xenstore (rm /local/domain/<domid> and /vm/<uuid>, XS_RELEASE), then the
 * domain disappears from the hypervisor. Returns 0 or -errno.
 */
int xsh_domain_destroy(struct xs_harness *h, unsigned int domid);

/* Fires VIRQ_DOM_EXC: xenstored re-checks every domain. Returns 0/-errno. */
int xsh_fire_dom_exc(struct xs_harness *h);

/* Stops xenstored (SIGTERM, then SIGKILL), reaps it, removes the dir,
 * and unsets the environment xsh_start() set. Accepts NULL. */
void xsh_stop(struct xs_harness *h);

#endif
