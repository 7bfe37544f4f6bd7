/* SPDX-License-Identifier: MIT */
/* SOCKS4 and SOCKS4a wire format: the request parser and the reply. */
#include <netinet/in.h>
#include <string.h>

#include "socks4.h"

/* Copies the NUL-terminated string at buf[*pos..len) into dst (256 bytes)
 * and moves *pos past its NUL. */
static enum parse
rd_cstring(const unsigned char *buf, size_t len, size_t *pos, char *dst)
{
	const unsigned char *nul;
	size_t avail = len - *pos, n;

	nul = memchr(buf + *pos, '\0', avail < 256 ? avail : 256);
	if (!nul)
		return avail < 256 ? PARSE_NEED_MORE : PARSE_ERROR;
	n = (size_t)(nul - (buf + *pos));
	memcpy(dst, buf + *pos, n + 1);
	*pos += n + 1;
	return PARSE_DONE;
}

enum parse
socks4_parse_request(const unsigned char *buf, size_t len,
    struct socks4_request *req, size_t *used)
{
	size_t pos = 8;
	enum parse p;

	if (len < 1)
		return PARSE_NEED_MORE;
	if (buf[0] != 4)
		return PARSE_ERROR;
	if (len < 8)
		return PARSE_NEED_MORE;
	req->cd = buf[1];
	req->port = (unsigned short)(buf[2] << 8 | buf[3]);
	memcpy(req->ip, buf + 4, 4);
	req->host[0] = '\0';
	if ((p = rd_cstring(buf, len, &pos, req->userid)) != PARSE_DONE)
		return p;
	/* SOCKS4a: 0.0.0.x, x != 0, says a name follows */
	if (!req->ip[0] && !req->ip[1] && !req->ip[2] && req->ip[3]) {
		if ((p = rd_cstring(buf, len, &pos, req->host)) != PARSE_DONE)
			return p;
		if (!req->host[0])
			return PARSE_ERROR;
	}
	*used = pos;
	return PARSE_DONE;
}

size_t
socks4_reply(unsigned char *out, int rep, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const void *)sa;

	memset(out, 0, SOCKS4_REPLY_LEN);
	out[1] = (unsigned char)rep;
	if (sa && sa->sa_family == AF_INET) {
		/* both already in network byte order */
		memcpy(out + 2, &sin->sin_port, 2);
		memcpy(out + 4, &sin->sin_addr, 4);
	}
	return SOCKS4_REPLY_LEN;
}
