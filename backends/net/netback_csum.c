/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Header parsing and checksums for frames netback moves. Pure functions
 * over a private copy of the frame (never over guest-shared memory), so
 * every length read here is bounded by len and nothing is read twice from
 * a place the guest can change.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "netback.h"

#define ETH_HLEN_   14
#define ETH_P_IP_   0x0800
#define ETH_P_IPV6_ 0x86dd

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Returns 0 or -errno; see netback.h. */
int netback_parse_l4(const uint8_t *frame, uint32_t len, struct netback_l4 *l)
{
	uint32_t off = ETH_HLEN_, l4;
	uint8_t proto;

	if (len < ETH_HLEN_)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->l3_proto = get16(frame + 12);
	l->l3_off = ETH_HLEN_;
	if (l->l3_proto == ETH_P_IP_) {
		uint32_t ihl;

		if (len < off + 20)
			return -EINVAL;
		if ((frame[off] >> 4) != 4)
			return -EINVAL;
		ihl = (uint32_t)(frame[off] & 0xf) * 4;
		if (ihl < 20 || len < off + ihl)
			return -EINVAL;
		/* A fragment's transport header is not all there. */
		if (get16(frame + off + 6) & 0x3fff)
			return -EPROTONOSUPPORT;
		proto = frame[off + 9];
		l4 = off + ihl;
	} else if (l->l3_proto == ETH_P_IPV6_) {
		if (len < off + 40 || (frame[off] >> 4) != 6)
			return -EINVAL;
		proto = frame[off + 6];
		l4 = off + 40;
		/* Extension headers, bounded: each one moves l4 forward. */
		for (int i = 0; i < 8; i++) {
			if (proto == IPPROTO_HOPOPTS ||
			    proto == IPPROTO_ROUTING ||
			    proto == IPPROTO_DSTOPTS) {
				if (len < l4 + 8)
					return -EINVAL;
				proto = frame[l4];
				l4 += 8 + (uint32_t)frame[l4 + 1] * 8;
			} else if (proto == IPPROTO_FRAGMENT) {
				return -EPROTONOSUPPORT;
			} else {
				break;
			}
		}
	} else {
		return -EPROTONOSUPPORT;
	}
	if (proto == IPPROTO_TCP) {
		uint32_t doff;

		if (len < l4 + 20)
			return -EINVAL;
		doff = (uint32_t)(frame[l4 + 12] >> 4) * 4;
		if (doff < 20 || len < l4 + doff)
			return -EINVAL;
		l->l4_hlen = (uint16_t)doff;
		l->csum_off = 16;
	} else if (proto == IPPROTO_UDP) {
		if (len < l4 + 8)
			return -EINVAL;
		l->csum_off = 6;
	} else {
		return -EPROTONOSUPPORT;
	}
	if (l4 > 0xffff)
		return -EINVAL;
	l->l4_off = (uint16_t)l4;
	l->l4_proto = proto;
	return 0;
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

void netback_set_pseudo_csum(uint8_t *frame, uint32_t len,
			     const struct netback_l4 *l)
{
	uint32_t l4len = len - l->l4_off, sum = 0;
	uint16_t s;

	if (l->l3_proto == ETH_P_IP_)
		sum = sum16(0, frame + l->l3_off + 12, 8);
	else
		sum = sum16(0, frame + l->l3_off + 8, 32);
	sum += l->l4_proto;
	sum += l4len >> 16;
	sum += l4len & 0xffff;
	s = fold(sum);
	frame[l->l4_off + l->csum_off] = (uint8_t)(s >> 8);
	frame[l->l4_off + l->csum_off + 1] = (uint8_t)s;
}

/* Returns 0 or -EINVAL. */
int netback_finish_csum(uint8_t *frame, uint32_t len, uint32_t start,
			uint32_t off)
{
	uint16_t s;

	if (start >= len || off + 2 > len - start)
		return -EINVAL;
	/* The field holds the pseudo-header sum: it is summed along. */
	s = (uint16_t)~fold(sum16(0, frame + start, len - start));
	if (s == 0 && off == 6)
		s = 0xffff; /* UDP: 0 means "no checksum" */
	frame[start + off] = (uint8_t)(s >> 8);
	frame[start + off + 1] = (uint8_t)s;
	return 0;
}
