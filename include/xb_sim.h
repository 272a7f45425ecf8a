/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sim platform's shared layout: what the simulated hypervisor's two
 * sides (daemon: daemon/platform_sim.c, guest: tests/simguest/) agree on.
 *
 * A sim dir holds one directory per simulated guest domain:
 *
 *   <sim_dir>/dom<domid>/mem          guest memory, nr_frames * 4 KiB, mmap'd
 *                                     MAP_SHARED by both sides
 *   <sim_dir>/dom<domid>/gnttab       struct xb_sim_gnttab_hdr (one page),
 *                                     then nr_entries struct xb_sim_gnt_entry,
 *                                     then nr_entries int32_t pin pids
 *   <sim_dir>/dom<domid>/evtchn.sock  SOCK_SEQPACKET server of the guest's
 *                                     event channels (see XB_SIM_EVTCHN_*)
 *
 * The guest side builds the directory under a temporary name and renames it
 * into place, so dom<domid>/ either is complete or does not exist.
 *
 * Grant entries: the same bytes as Xen's grant_entry_v1 {u16 flags; u16 domid;
 * u32 frame} on a little-endian machine, but flags and domid are accessed
 * together as one 32-bit word so that both sides can use one 32-bit
 * compare-and-swap, as Xen does on the (flags, domid) pair. The guest writes
 * domid/frame then flags; the daemon ("hypervisor") sets GTF_reading and
 * GTF_writing while the grant is mapped or being copied, and writes its pid
 * into pin_pid[ref] so that a guest can tell a mapping left by a dead daemon
 * (the kernel would have unmapped it) from a live one.
 *
 * Event channels: the daemon connects to evtchn.sock, sends one
 * struct xb_sim_evtchn_req {BIND, port, its domid} and gets a
 * struct xb_sim_evtchn_rep; on success with two eventfds by SCM_RIGHTS:
 * fds[0] "to backend" (the guest's notify increments it, the daemon reads it)
 * and fds[1] "to guest" (the daemon's notify). As in Xen, a fresh binding
 * starts with one pending event (kicks sent while nobody was bound are not
 * lost). The binding lasts as long as the connection: an UNBIND request (the
 * server replies once done) or closing the socket returns the port to
 * unbound, re-bindable by the same remote domain.
 */
#ifndef XB_SIM_H
#define XB_SIM_H

#include <stdint.h>
#include <xen/grant_table.h>

#define XB_SIM_MAGIC	 0x58425347u /* "XBSG" */
#define XB_SIM_VERSION	 1u
#define XB_SIM_PAGE_SIZE 4096u

/* The daemon always plays dom0. */
#define XB_SIM_BACKEND_DOMID 0u

/* Sanity bounds the daemon enforces on a guest-written header. */
#define XB_SIM_MAX_FRAMES (1u << 20)
#define XB_SIM_MAX_GRANTS (1u << 20)
/* Event channel ports per simulated domain (port 0 is never valid). */
#define XB_SIM_MAX_PORTS 64u

#define XB_SIM_DOM_FMT	   "dom%u"
#define XB_SIM_MEM	   "mem"
#define XB_SIM_GNTTAB	   "gnttab"
#define XB_SIM_EVTCHN_SOCK "evtchn.sock"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "xb_sim_gnt_entry mirrors grant_entry_v1 on little-endian only");

struct xb_sim_gnttab_hdr {
	uint32_t magic;	     /* XB_SIM_MAGIC, written last */
	uint32_t version;    /* XB_SIM_VERSION */
	uint32_t nr_entries; /* grant entries (refs 0..nr_entries-1) */
	uint32_t nr_frames;  /* guest memory frames in mem */
};

struct xb_sim_gnt_entry {
	uint32_t word;	/* flags (low 16 bits) | domid << 16 */
	uint32_t frame; /* guest frame number */
};

#define XB_SIM_GNTTAB_ENTRIES_OFF XB_SIM_PAGE_SIZE

static inline uint32_t xb_sim_gnt_word(uint16_t flags, uint16_t domid)
{
	return (uint32_t)flags | (uint32_t)domid << 16;
}

static inline uint16_t xb_sim_gnt_flags(uint32_t word)
{
	return (uint16_t)word;
}

static inline uint16_t xb_sim_gnt_domid(uint32_t word)
{
	return (uint16_t)(word >> 16);
}

/* Offset of the pin pid array. */
static inline uint64_t xb_sim_gnttab_pids_off(uint32_t nr_entries)
{
	return XB_SIM_GNTTAB_ENTRIES_OFF +
	       (uint64_t)nr_entries * sizeof(struct xb_sim_gnt_entry);
}

/* Size of the gnttab file. */
static inline uint64_t xb_sim_gnttab_size(uint32_t nr_entries)
{
	return xb_sim_gnttab_pids_off(nr_entries) +
	       (uint64_t)nr_entries * sizeof(int32_t);
}

enum {
	XB_SIM_EVTCHN_BIND = 1,
	XB_SIM_EVTCHN_UNBIND = 2,
};

struct xb_sim_evtchn_req {
	uint32_t op;	/* XB_SIM_EVTCHN_* */
	uint32_t port;	/* BIND: the guest's unbound port */
	uint32_t domid; /* BIND: the binder's domid (must match the port's) */
	uint32_t pad;
};

struct xb_sim_evtchn_rep {
	int32_t status; /* 0 or -errno (-EINVAL: not unbound for that domid) */
	uint32_t port;
};

#endif
