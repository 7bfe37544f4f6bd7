/* SPDX-License-Identifier: MIT */
/* SOCKS4 and SOCKS4a wire format: pure parser and reply encoder, no I/O. */
#ifndef SOCKS4_H
#define SOCKS4_H

#include <stddef.h>
#include <sys/socket.h>

#include "socks5.h"

enum socks4_cd {
	SOCKS4_CONNECT = 1,
	SOCKS4_BIND = 2,
};

enum socks4_rep {
	SOCKS4_GRANTED = 90,
	SOCKS4_REJECTED = 91,
};

#define SOCKS4_REPLY_LEN 8

struct socks4_request {
	unsigned char cd;
	unsigned short port;	/* host byte order */
	unsigned char ip[4];
	char userid[256];	/* NUL-terminated */
	char host[256];		/* SOCKS4a: the name; else empty */
};

/* Parses VN CD DSTPORT DSTIP USERID NUL [DOMAIN NUL] (SOCKS4a when DSTIP
 * is 0.0.0.x, x != 0). Errors: a version other than 4, a user id or name
 * longer than 255 bytes, an empty name. */
enum parse socks4_parse_request(const unsigned char *buf, size_t len,
    struct socks4_request *req, size_t *used);

/* Writes the 8-byte reply with code rep (SOCKS4_*) and the IPv4 address
 * sa (0.0.0.0:0 when NULL or not IPv4) to out; returns its length. */
size_t socks4_reply(unsigned char *out, int rep, const struct sockaddr *sa);

#endif /* SOCKS4_H */
