/* SPDX-License-Identifier: MIT */
/* SOCKS5 wire format (RFC 1928, RFC 1929): pure parsers and encoders, no I/O. */
#ifndef SOCKS5_H
#define SOCKS5_H

#include <stddef.h>
#include <sys/socket.h>

enum parse {
	PARSE_NEED_MORE,	/* the message is not complete yet */
	PARSE_DONE,		/* parsed; *used bytes belong to it */
	PARSE_ERROR,		/* malformed; the reply code says what to answer */
};

enum socks5_method {
	METHOD_NOAUTH = 0x00,
	METHOD_USERPASS = 0x02,
	METHOD_NONE = 0xff,
};

/* RFC 1928 section 6 */
enum socks5_rep {
	REP_SUCCESS = 0x00,
	REP_FAILURE = 0x01,
	REP_NOT_ALLOWED = 0x02,
	REP_NET_UNREACH = 0x03,
	REP_HOST_UNREACH = 0x04,
	REP_REFUSED = 0x05,
	REP_TTL_EXPIRED = 0x06,
	REP_CMD_UNSUPPORTED = 0x07,
	REP_ATYP_UNSUPPORTED = 0x08,
};

enum socks5_cmd {
	CMD_CONNECT = 0x01,
	CMD_BIND = 0x02,
	CMD_UDP_ASSOCIATE = 0x03,
};

enum socks5_atyp {
	ATYP_IPV4 = 0x01,
	ATYP_DOMAIN = 0x03,
	ATYP_IPV6 = 0x04,
};

/* longest messages: greeting 2+255, RFC 1929 request 3+255+255, request 7+255 */
#define SOCKS5_GREETING_MAX 257
#define SOCKS5_AUTH_MAX 513
#define SOCKS5_REQUEST_MAX 262
#define SOCKS5_REPLY_MAX 22

/* which of the methods we know of the client offered */
#define OFFER_NOAUTH 1u
#define OFFER_USERPASS 2u

struct socks5_greeting {
	unsigned offers;	/* OFFER_* bits */
};

struct socks5_auth {
	unsigned char ulen, plen;
	char user[256];		/* NUL-terminated */
	char pass[256];		/* NUL-terminated */
};

struct socks5_request {
	unsigned char cmd;
	unsigned char atyp;
	unsigned char addr[16];	/* ATYP_IPV4: 4 bytes, ATYP_IPV6: 16 */
	char host[256];		/* ATYP_DOMAIN: NUL-terminated, no NUL inside */
	unsigned short port;	/* host byte order */
	unsigned char rep;	/* on PARSE_ERROR: the reply code to send */
};

enum parse socks5_parse_greeting(const unsigned char *buf, size_t len,
    struct socks5_greeting *g, size_t *used);
enum parse socks5_parse_auth(const unsigned char *buf, size_t len,
    struct socks5_auth *a, size_t *used);
enum parse socks5_parse_request(const unsigned char *buf, size_t len,
    struct socks5_request *req, size_t *used);

/* Parses the header of a UDP datagram: RSV RSV FRAG ATYP DST.ADDR
 * DST.PORT. The address goes to req, FRAG to *frag, the header's length
 * to *used (the data follows). A datagram is whole: PARSE_NEED_MORE
 * means it was cut short. */
enum parse socks5_parse_udp(const unsigned char *buf, size_t len,
    struct socks5_request *req, unsigned char *frag, size_t *used);

/* Writes the UDP header for a datagram from sa (IPv4 or IPv6) to out,
 * which holds at least SOCKS5_REPLY_MAX bytes. Returns its length. */
size_t socks5_udp_header(unsigned char *out, const struct sockaddr *sa);

/* Writes a reply with code rep and bound address sa (which may be NULL or
 * of another family: 0.0.0.0:0 is sent then) to out, which holds at least
 * SOCKS5_REPLY_MAX bytes. Returns the reply's length. */
size_t socks5_reply(unsigned char *out, int rep, const struct sockaddr *sa);

/* a reply code's meaning, "?" for one RFC 1928 does not name */
const char *socks5_rep_str(int rep);

/* a command's name: "CONNECT", "BIND", "UDP"; NULL for another */
const char *socks5_cmd_str(int cmd);

/* the reply code for a failed connect()'s errno */
int socks5_errno_rep(int err);

#endif /* SOCKS5_H */
