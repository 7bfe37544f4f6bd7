/* SPDX-License-Identifier: MIT */
/* SOCKS5 wire format: parsers over a byte buffer and the reply encoder. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "rd.h"
#include "socks5.h"

/* RFC 1928 section 3: VER NMETHODS METHODS[NMETHODS] */
enum parse
socks5_parse_greeting(const unsigned char *buf, size_t len,
    struct socks5_greeting *g, size_t *used)
{
	struct rd r = { buf, len, 0 };
	unsigned char ver, n, m;

	if (rd_u8(&r, &ver) < 0)
		return PARSE_NEED_MORE;
	if (ver != 5)
		return PARSE_ERROR;
	if (rd_u8(&r, &n) < 0)
		return PARSE_NEED_MORE;
	g->offers = 0;
	while (n-- > 0) {
		if (rd_u8(&r, &m) < 0)
			return PARSE_NEED_MORE;
		if (m == METHOD_NOAUTH)
			g->offers |= OFFER_NOAUTH;
		else if (m == METHOD_USERPASS)
			g->offers |= OFFER_USERPASS;
	}
	*used = r.pos;
	return PARSE_DONE;
}

/* reads a one-byte length and that many bytes into a NUL-terminated dst */
static enum parse
rd_string(struct rd *r, char dst[256], unsigned char *dlen)
{
	unsigned char n;

	if (rd_u8(r, &n) < 0 || rd_bytes(r, dst, n) < 0)
		return PARSE_NEED_MORE;
	dst[n] = '\0';
	*dlen = n;
	return PARSE_DONE;
}

/* RFC 1929 section 2: VER ULEN UNAME PLEN PASSWD */
enum parse
socks5_parse_auth(const unsigned char *buf, size_t len,
    struct socks5_auth *a, size_t *used)
{
	struct rd r = { buf, len, 0 };
	unsigned char ver;

	if (rd_u8(&r, &ver) < 0)
		return PARSE_NEED_MORE;
	if (ver != 1)
		return PARSE_ERROR;
	if (rd_string(&r, a->user, &a->ulen) != PARSE_DONE ||
	    rd_string(&r, a->pass, &a->plen) != PARSE_DONE)
		return PARSE_NEED_MORE;
	*used = r.pos;
	return PARSE_DONE;
}

/* ATYP DST.ADDR DST.PORT, as in requests and UDP headers, into req */
static enum parse
rd_address(struct rd *r, struct socks5_request *req)
{
	unsigned char hi, lo, n;

	if (rd_u8(r, &req->atyp) < 0)
		return PARSE_NEED_MORE;
	switch (req->atyp) {
	case ATYP_IPV4:
		if (rd_bytes(r, req->addr, 4) < 0)
			return PARSE_NEED_MORE;
		break;
	case ATYP_IPV6:
		if (rd_bytes(r, req->addr, 16) < 0)
			return PARSE_NEED_MORE;
		break;
	case ATYP_DOMAIN:
		if (rd_string(r, req->host, &n) != PARSE_DONE)
			return PARSE_NEED_MORE;
		/* access rules and the resolver must see the same name */
		if (n == 0 || memchr(req->host, '\0', n))
			return PARSE_ERROR;
		break;
	default:
		req->rep = REP_ATYP_UNSUPPORTED;
		return PARSE_ERROR;
	}
	if (rd_u8(r, &hi) < 0 || rd_u8(r, &lo) < 0)
		return PARSE_NEED_MORE;
	req->port = (unsigned short)(hi << 8 | lo);
	return PARSE_DONE;
}

/* RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT */
enum parse
socks5_parse_request(const unsigned char *buf, size_t len,
    struct socks5_request *req, size_t *used)
{
	struct rd r = { buf, len, 0 };
	unsigned char ver, rsv;
	enum parse p;

	req->rep = REP_FAILURE;
	if (rd_u8(&r, &ver) < 0)
		return PARSE_NEED_MORE;
	if (ver != 5)
		return PARSE_ERROR;
	if (rd_u8(&r, &req->cmd) < 0 || rd_u8(&r, &rsv) < 0)
		return PARSE_NEED_MORE;
	if ((p = rd_address(&r, req)) != PARSE_DONE)
		return p;
	req->rep = REP_SUCCESS;
	*used = r.pos;
	return PARSE_DONE;
}

/* RFC 1928 section 7: RSV RSV FRAG ATYP DST.ADDR DST.PORT, then data */
enum parse
socks5_parse_udp(const unsigned char *buf, size_t len,
    struct socks5_request *req, unsigned char *frag, size_t *used)
{
	struct rd r = { buf, len, 0 };
	unsigned char rsv1, rsv2;
	enum parse p;

	req->rep = REP_FAILURE;
	req->cmd = CMD_UDP_ASSOCIATE;
	if (rd_u8(&r, &rsv1) < 0 || rd_u8(&r, &rsv2) < 0 ||
	    rd_u8(&r, frag) < 0)
		return PARSE_NEED_MORE;
	if ((p = rd_address(&r, req)) != PARSE_DONE)
		return p;
	req->rep = REP_SUCCESS;
	*used = r.pos;
	return PARSE_DONE;
}

size_t
socks5_reply(unsigned char *out, int rep, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	static const unsigned char noport[2];
	const unsigned char *port;
	size_t alen;

	out[0] = 5;
	out[1] = (unsigned char)rep;
	out[2] = 0;
	if (sa && sa->sa_family == AF_INET6) {
		out[3] = ATYP_IPV6;
		alen = 16;
		memcpy(out + 4, &sin6->sin6_addr, alen);
		port = (const unsigned char *)&sin6->sin6_port;
	} else {
		out[3] = ATYP_IPV4;
		alen = 4;
		if (sa && sa->sa_family == AF_INET) {
			memcpy(out + 4, &sin->sin_addr, alen);
			port = (const unsigned char *)&sin->sin_port;
		} else {
			memset(out + 4, 0, alen);
			port = noport;
		}
	}
	/* the port is already in network byte order */
	out[4 + alen] = port[0];
	out[5 + alen] = port[1];
	return 6 + alen;
}

size_t
socks5_udp_header(unsigned char *out, const struct sockaddr *sa)
{
	size_t n = socks5_reply(out, 0, sa);

	/* the same address block as a reply, behind RSV RSV FRAG */
	out[0] = out[1] = out[2] = 0;
	return n;
}

const char *
socks5_rep_str(int rep)
{
	static const char *const str[] = {
		"succeeded", "general failure", "not allowed by ruleset",
		"network unreachable", "host unreachable", "connection refused",
		"timed out", "command not supported",
		"address type not supported",
	};

	return rep >= 0 && rep <= REP_ATYP_UNSUPPORTED ? str[rep] : "?";
}

const char *
socks5_cmd_str(int cmd)
{
	return cmd == CMD_CONNECT ? "CONNECT" : cmd == CMD_BIND ? "BIND" :
	    cmd == CMD_UDP_ASSOCIATE ? "UDP" : NULL;
}

int
socks5_errno_rep(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return REP_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
		return REP_NET_UNREACH;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return REP_HOST_UNREACH;
	case ETIMEDOUT:
		return REP_TTL_EXPIRED;
	case EAFNOSUPPORT:
	case EPROTONOSUPPORT:
		return REP_ATYP_UNSUPPORTED;
	default:
		return REP_FAILURE;
	}
}
