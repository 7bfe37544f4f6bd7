/* SPDX-License-Identifier: MIT */
/* The PROXY protocol header, versions 1 and 2 (HAProxy's proxy-protocol.txt):
 * a pure parser, no I/O. */
#ifndef PROXYPROTO_H
#define PROXYPROTO_H

#include <stddef.h>

#include "addr.h"
#include "socks5.h"

enum proxy_cmd {
	PROXY_LOCAL,	/* use the connection's own addresses */
	PROXY_PROXY,	/* relayed: the addresses are the client's */
};

struct proxy_header {
	int version;			/* 1 or 2 */
	enum proxy_cmd cmd;		/* v2's command; v1: PROXY_PROXY for
					 * TCP4 and TCP6, PROXY_LOCAL for
					 * UNKNOWN */
	union sockaddr_union src, dst;	/* ports in network byte order */
};

/* The longest header accepted. Version 1 is at most 107 bytes (section
 * 2.1). Version 2 is 16 bytes and the length field's count (section 2.2):
 * the addresses, up to 216 bytes for AF_UNIX, and TLVs. Both formats are
 * meant to fit in the smallest segment every TCP host takes, 576 - 40 =
 * 536 bytes (section 2), and so does this bound: after IPv6 addresses it
 * leaves 484 bytes of TLVs (after AF_UNIX ones 304), room for HAProxy's
 * ALPN, authority (SNI), SSL version, cipher and CN, unique ID and CRC.
 * A client's handshake buffer of 1536 bytes keeps 1000 for the SOCKS
 * bytes that follow: the greeting and RFC 1929 request at their longest
 * (257 + 513) with room to spare. */
#define PROXY_MAX 536

/* Parses the PROXY header at the start of buf, either version. Returns
 * PARSE_DONE with the header in *h and its length in *used (the bytes
 * after it are the client's); PARSE_NEED_MORE for a valid prefix of one;
 * PARSE_ERROR for anything else: a first byte that starts neither
 * signature, a v1 line without CRLF in its first 107 bytes, a v2 header
 * longer than PROXY_MAX, and every field the specification does not allow
 * (each is refused as soon as it arrives). *h and *used are written on
 * PARSE_DONE only.
 *
 * The caller uses the connection's own addresses whenever h->src is
 * AF_UNSPEC: for PROXY_LOCAL (v2 LOCAL, v1 UNKNOWN), and for a v2 PROXY
 * of family UNSPEC or AF_UNIX, which cmd still says PROXY_PROXY of. Else
 * src and dst are both AF_INET or both AF_INET6; IPv4-mapped IPv6
 * addresses are left as sent (sa_unmap() turns them into IPv4). */
enum parse proxy_parse(const unsigned char *buf, size_t len,
    struct proxy_header *h, size_t *used);

#endif /* PROXYPROTO_H */
