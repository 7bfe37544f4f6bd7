/* SPDX-License-Identifier: MIT */
/* Fuzz target: the whole handshake (handshake.c, auth.c and the parsers
 * they call) in-process, as a client's byte stream over a socketpair,
 * with the target layer replaced by a stub that reaches nothing.
 *
 * The input is CONF STUB STREAM...:
 *   CONF  bits 0-1  credentials: none, -u/-P, --users, both
 *         bits 2-3  -w: none, a range holding the client, one without it
 *         bit 4     -1; bit 5: the client authenticated before
 *         bits 6-7  the client's address: 127.0.0.1, ::ffff:127.0.0.1,
 *                   ::1, 10.0.0.1; with -1 a fresh one of that kind
 *                   each run, in 10.0.0.0/8 or 2001:db8::/32
 *   STUB  bits 0-3  0 or 9-15: the stub succeeds; 1-8: it fails with
 *                   that reply code
 *         bit 4     a failed CONNECT is the client leaving (ECANCELED)
 *         bit 5     BIND's accept fails (reply 06) after the listen
 *         bit 6     the addresses the stub reports are IPv6
 *   STREAM          what the client sends before it shuts down its side
 *
 * What the server writes back must be a sequence of whole, valid replies
 * for the client's version (or nothing), then the end of the stream; the
 * method chosen, the RFC 1929 answer and whether the stub is reached at
 * all must follow from the configuration and the credentials; the fd
 * returned is the stub's, *why is set exactly when it is -1, no fd is
 * left open, and no run waits for its handshake deadline.
 *
 * The stub's definitions of target_*() keep target.o out of the link:
 * an archive member is linked only for a symbol that is still undefined. */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "handshake.h"
#include "rules.h"
#include "session.h"
#include "socks4.h"
#include "socks5.h"
#include "target.h"

/* the longest stream: more than the server's buffer, less than a socket's */
#define STREAM_MAX 4096
/* the fds below this are compared before and after each run */
#define FD_SCAN 128

#define USER "user"
#define PASS "pass"
#define FILE_USER "alice"
#define FILE_PASS "wonderland"

/* what the stub was asked, and what it answered */
static struct stub {
	unsigned char how;	/* the STUB byte */
	int calls;		/* target_connect, _bind_listen, _udp */
	int failed;		/* the last call returned -1 */
	int rep;		/* its reply code then */
	int fd;			/* the last fd handed out, -1: none */
	int fd_end;		/* its socketpair's other end */
	int keep[4];		/* our ends of its socketpairs, -1: none */
	union sockaddr_union bound, peer;
} stub;

static sblist *ips_with, *ips_without;
static char *users_path;

/* the stub's failure code, 0 for success */
static int
stub_rep(void)
{
	int r = stub.how & 0x0f;

	return r >= 1 && r <= 8 ? r : 0;
}

/* an address of the family the input picked, port port */
static void
stub_addr(union sockaddr_union *u, unsigned short port)
{
	memset(u, 0, sizeof *u);
	if (stub.how & 0x40) {
		u->v6.sin6_family = AF_INET6;
		u->v6.sin6_addr.s6_addr[15] = 1;
		u->v6.sin6_port = htons(port);
	} else {
		u->v4.sin_family = AF_INET;
		u->v4.sin_addr.s_addr = htonl(0x7f000001);
		u->v4.sin_port = htons(port);
	}
}

/* One end of a new socketpair, non-blocking as the real ones are; the
 * other end is kept, to read what was sent and to close after the run. */
static int
stub_socket(void)
{
	int sv[2], i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) < 0) {
		perror("handshake_fuzz: socketpair");
		abort();
	}
	for (i = 0; i < 4 && stub.keep[i] >= 0; i++)
		;
	FUZZ_CHECK(i < 4);
	stub.keep[i] = stub.fd_end = sv[1];
	return stub.fd = sv[0];
}

/* a call's failure with reply code rep */
static int
stub_fail(int rep, int *out)
{
	stub.failed = 1;
	stub.rep = *out = rep;
	stub.fd = -1;
	return -1;
}

int
target_connect(const struct socks5_request *req, int client,
    union sockaddr_union *peer, union sockaddr_union *bound, int *rep)
{
	(void)req;
	(void)client;
	stub.calls++;
	if (stub_rep()) {
		stub_fail(stub_rep(), rep);
		errno = stub.how & 0x10 ? ECANCELED : ECONNREFUSED;
		return -1;
	}
	stub_addr(&stub.peer, 80);
	stub_addr(&stub.bound, 40000);
	*peer = stub.peer;
	*bound = stub.bound;
	return stub_socket();
}

int
target_bind_listen(const struct socks5_request *req, int client,
    union sockaddr_union *want, union sockaddr_union *bound, int *rep)
{
	(void)req;
	(void)client;
	stub.calls++;
	if (stub_rep())
		return stub_fail(stub_rep(), rep);
	stub_addr(want, 0);
	stub_addr(&stub.bound, 40001);
	*bound = stub.bound;
	return stub_socket();
}

int
target_bind_accept(int lfd, int client, const union sockaddr_union *want,
    union sockaddr_union *peer, int *rep)
{
	(void)client;
	(void)want;
	FUZZ_CHECK(lfd == stub.fd && lfd >= 0);
	close(lfd);
	if (stub.how & 0x20)
		return stub_fail(REP_TTL_EXPIRED, rep);
	stub_addr(&stub.peer, 40002);
	*peer = stub.peer;
	return stub_socket();
}

int
target_udp(int client, union sockaddr_union *bound, int *rep)
{
	(void)client;
	stub.calls++;
	if (stub_rep())
		return stub_fail(stub_rep(), rep);
	stub_addr(&stub.bound, 40003);
	*bound = stub.bound;
	return stub_socket();
}

void
target_udp_opts(struct udp_opts *o)
{
	memset(o, 0, sizeof *o);
}

static sblist *
rules_of(const char *const *ranges)
{
	sblist *l = sblist_new(sizeof(struct rule), 4);
	struct rule r;

	for (; l && *ranges; ranges++)
		if (rule_parse(*ranges, 0, &r) < 0 || sblist_add(l, &r) < 0)
			abort();
	if (!l)
		abort();
	return l;
}

/* the configuration that no input changes, and the users file */
static void
setup(void)
{
	static const char *const with[] = {
		"127.0.0.0/8", "::1", "10.0.0.0/8", "2001:db8::/32", NULL
	};
	static const char *const without[] = { "192.0.2.0/24", NULL };
	static const char text[] = "# the fuzz target's users\n"
	    FILE_USER ":" FILE_PASS "\nbob:builder\n";
	char path[] = "/tmp/handshake_fuzz.XXXXXX", why[256];
	int fd;

	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, sizeof text - 1) !=
	    (ssize_t)(sizeof text - 1) || close(fd) < 0)
		abort();
	users_path = strdup(path);
	/* no run waits: the client has shut down its side before it starts */
	config.handshake_ms = 2000;
	config.connect_ms = 1000;
	config.connect_tries = 1;
	config.bind_ms = 1000;
	config.idle_ms = 1000;
	config.halfclose_ms = 1000;
	config.log_format = LOGFMT_DEFAULT;
	memcpy(config.user, USER, sizeof USER);
	memcpy(config.pass, PASS, sizeof PASS);
	config.ulen = strlen(USER);
	config.plen = strlen(PASS);
	config.users_path = users_path;
	/* few, to turn the least recently used out often */
	config.auth_once = 1;
	config.once_max = 4;
	config.once_ttl_ms = 60 * 1000;
	if (auth_init(why, sizeof why) < 0) {
		fprintf(stderr, "handshake_fuzz: auth_init: %s\n", why);
		abort();
	}
	unlink(path);
	ips_with = rules_of(with);
	ips_without = rules_of(without);
}

/* the client's address after CONF; with -1 a new one each run, so that
 * the -1 list holds only what this run put there */
static void
client_addr(unsigned char conf, union sockaddr_union *u)
{
	static uint32_t fresh;
	uint32_t n = conf & 0x10 ? ++fresh & 0xffffff : 1;

	memset(u, 0, sizeof *u);
	switch (conf >> 6) {
	case 0:
		u->v4.sin_family = AF_INET;
		u->v4.sin_addr.s_addr = htonl(conf & 0x10 ? 0x0a000000 | n :
		    0x7f000001);
		break;
	case 1:
		u->v6.sin6_family = AF_INET6;
		u->v6.sin6_addr.s6_addr[10] = 0xff;
		u->v6.sin6_addr.s6_addr[11] = 0xff;
		u->v6.sin6_addr.s6_addr[12] = conf & 0x10 ? 10 : 127;
		u->v6.sin6_addr.s6_addr[13] = (unsigned char)(n >> 16);
		u->v6.sin6_addr.s6_addr[14] = (unsigned char)(n >> 8);
		u->v6.sin6_addr.s6_addr[15] = (unsigned char)n;
		break;
	case 2:
		u->v6.sin6_family = AF_INET6;
		if (conf & 0x10) {
			u->v6.sin6_addr.s6_addr[0] = 0x20;
			u->v6.sin6_addr.s6_addr[1] = 0x01;
			u->v6.sin6_addr.s6_addr[2] = 0x0d;
			u->v6.sin6_addr.s6_addr[3] = 0xb8;
		}
		u->v6.sin6_addr.s6_addr[13] = (unsigned char)(n >> 16);
		u->v6.sin6_addr.s6_addr[14] = (unsigned char)(n >> 8);
		u->v6.sin6_addr.s6_addr[15] = (unsigned char)n;
		break;
	default:
		u->v4.sin_family = AF_INET;
		u->v4.sin_addr.s_addr = htonl(0x0a000000 | n);
		break;
	}
	u->v4.sin_port = htons(50000);
}

/* CONF into config; returns 1 when the client must authenticate */
static int
configure(unsigned char conf, const union sockaddr_union *client)
{
	int exempt;

	config.have_user = conf & 1;
	config.users_path = conf & 2 ? users_path : NULL;
	config.auth_required = (conf & 3) != 0;
	config.auth_ips = (conf >> 2 & 3) == 1 ? ips_with :
	    (conf >> 2 & 3) == 2 ? ips_without : NULL;
	config.auth_once = (conf & 0x10) != 0;
	if ((conf & 0x30) == 0x30)
		auth_passed(client);
	exempt = (conf >> 2 & 3) == 1 || (conf & 0x30) == 0x30;
	return config.auth_required && !exempt;
}

/* 1 when the RFC 1929 request a holds credentials that work */
static int
credentials_ok(const struct socks5_auth *a)
{
	if (config.have_user && a->ulen == strlen(USER) &&
	    a->plen == strlen(PASS) && !strcmp(a->user, USER) &&
	    !strcmp(a->pass, PASS))
		return 1;
	return config.users_path && a->ulen == strlen(FILE_USER) &&
	    a->plen == strlen(FILE_PASS) && !strcmp(a->user, FILE_USER) &&
	    !strcmp(a->pass, FILE_PASS);
}

/* everything readable on fd until its end, into buf (size bytes) */
static size_t
read_all(int fd, unsigned char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	for (;;) {
		r = recv(fd, buf + n, size - n, MSG_DONTWAIT);
		if (r > 0 && (n += (size_t)r) < size)
			continue;
		FUZZ_CHECK(r <= 0 || n < size);
		/* the server closed its end or shut it down: nothing waits */
		FUZZ_CHECK(r == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
		return n;
	}
}

/* the address of a SOCKS5 reply at p (after VER REP RSV), n bytes there;
 * returns its length, 0 when it is not whole or of a type we never send */
static size_t
reply_addr(const unsigned char *p, size_t n, const union sockaddr_union *u)
{
	size_t alen;

	if (n < 1)
		return 0;
	if (p[0] == ATYP_IPV4)
		alen = 4;
	else if (p[0] == ATYP_IPV6)
		alen = 16;
	else
		return 0;
	if (n < 1 + alen + 2)
		return 0;
	if (u) {
		/* what the stub reported, as it reported it */
		FUZZ_CHECK(u->sa.sa_family == (p[0] == ATYP_IPV4 ? AF_INET :
		    AF_INET6));
		FUZZ_CHECK(!memcmp(p + 1 + alen, &u->v4.sin_port, 2));
	}
	return 1 + alen + 2;
}

/* The replies of a SOCKS5 server in out (n bytes): the method, the RFC
 * 1929 answer if asked for, the replies to the request; each checked
 * against what the client sent (s, len) and what the stub did. */
static void
check_socks5(const unsigned char *out, size_t n, const unsigned char *s,
    size_t len, int needed, int fd)
{
	struct socks5_greeting g;
	struct socks5_auth a;
	size_t used, k, i;
	int method, replies, rep;

	if (n == 0) {
		FUZZ_CHECK(fd < 0 && stub.calls == 0);
		return;
	}
	/* a method was chosen: the greeting was whole and sound */
	FUZZ_CHECK(socks5_parse_greeting(s, len, &g, &used) == PARSE_DONE);
	FUZZ_CHECK(n >= 2 && out[0] == 5);
	method = out[1];
	if (!config.auth_required || !needed)
		FUZZ_CHECK(method == (g.offers & OFFER_NOAUTH ? METHOD_NOAUTH :
		    config.auth_required && g.offers & OFFER_USERPASS ?
		    METHOD_USERPASS : METHOD_NONE));
	else
		FUZZ_CHECK(method == (g.offers & OFFER_USERPASS ?
		    METHOD_USERPASS : METHOD_NONE));
	out += 2;
	n -= 2;
	s += used;
	len -= used;
	if (method == METHOD_NONE) {
		FUZZ_CHECK(n == 0 && fd < 0 && stub.calls == 0);
		return;
	}
	if (method == METHOD_USERPASS) {
		if (n == 0) {
			FUZZ_CHECK(fd < 0 && stub.calls == 0);
			return;
		}
		FUZZ_CHECK(n >= 2 && out[0] == 1 && out[1] <= 1);
		memset(&a, 0, sizeof a);
		if (socks5_parse_auth(s, len, &a, &used) == PARSE_DONE) {
			FUZZ_CHECK(out[1] == !credentials_ok(&a));
			s += used;
			len -= used;
		} else {
			/* a malformed request fails */
			FUZZ_CHECK(out[1] == 1);
		}
		if (out[1] != 0) {
			FUZZ_CHECK(n == 2 && fd < 0 && stub.calls == 0);
			return;
		}
		out += 2;
		n -= 2;
	}
	/* the client may in: the request's replies */
	for (replies = 0; n > 0; replies++) {
		FUZZ_CHECK(replies < 2);
		FUZZ_CHECK(n >= 3 && out[0] == 5 && out[1] <= 8 && out[2] == 0);
		rep = out[1];
		if (rep == REP_SUCCESS) {
			FUZZ_CHECK(stub.calls == 1);
		} else if (stub.failed) {
			/* a failure of the stub's is told as it was */
			FUZZ_CHECK(rep == stub.rep);
		}
		k = reply_addr(out + 3, n - 3, rep != REP_SUCCESS ? NULL :
		    replies == 0 ? &stub.bound : &stub.peer);
		FUZZ_CHECK(k > 0);
		/* a failure tells no address: 0.0.0.0:0 */
		for (i = 0; rep != REP_SUCCESS && i < k; i++)
			FUZZ_CHECK(out[3 + i] == (i == 0 ? ATYP_IPV4 : 0));
		out += 3 + k;
		n -= 3 + k;
		if (rep != REP_SUCCESS)
			FUZZ_CHECK(n == 0 && fd < 0);
	}
	/* a tunnel is told of with a success, the last reply */
	if (fd >= 0)
		FUZZ_CHECK(replies >= 1 && stub.calls == 1 && !stub.failed);
}

/* SOCKS4: one or two 8-byte replies, 00 5A or 00 5B and an address */
static void
check_socks4(const unsigned char *out, size_t n, int needed, int fd)
{
	int replies;

	for (replies = 0; n > 0; replies++) {
		FUZZ_CHECK(replies < 2);
		FUZZ_CHECK(n >= SOCKS4_REPLY_LEN && out[0] == 0);
		FUZZ_CHECK(out[1] == SOCKS4_GRANTED ||
		    out[1] == SOCKS4_REJECTED);
		if (out[1] == SOCKS4_GRANTED)
			FUZZ_CHECK(!needed && stub.calls == 1);
		n -= SOCKS4_REPLY_LEN;
		if (out[1] == SOCKS4_REJECTED)
			FUZZ_CHECK(n == 0 && fd < 0);
		out += SOCKS4_REPLY_LEN;
	}
	if (needed)
		FUZZ_CHECK(stub.calls == 0 && fd < 0);
	if (fd >= 0)
		FUZZ_CHECK(replies >= 1 && stub.calls == 1 && !stub.failed);
}

/* which fds below FD_SCAN are open, one byte each */
static void
fds_open(unsigned char *open)
{
	int fd;

	for (fd = 0; fd < FD_SCAN; fd++)
		open[fd] = fcntl(fd, F_GETFD) >= 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static unsigned char out[STREAM_MAX], got[STREAM_MAX];
	unsigned char before[FD_SCAN], after[FD_SCAN];
	const unsigned char *s = data + 2;
	struct session ses;
	/* neither NULL nor a string: handshake() must set it */
	const char *why = (const char *)1;
	size_t len, n, m;
	long long start;
	int sv[2], fd, needed, i;

	if (size < 2 || size > 2 + STREAM_MAX)
		return 0;
	if (!ready) {
		setup();
		ready = 1;
	}
	len = size - 2;
	fds_open(before);
	memset(&stub, 0, sizeof stub);
	stub.how = data[1];
	stub.fd = -1;
	for (i = 0; i < 4; i++)
		stub.keep[i] = -1;
	memset(&ses, 0, sizeof ses);
	client_addr(data[0], &ses.c.addr);
	needed = configure(data[0], &ses.c.addr);
	ses.r.client = ses.c.addr;
	ses.r.rep = -1;
	ses.r.peer.sa.sa_family = AF_UNSPEC;
	ses.r.bound.sa.sa_family = AF_UNSPEC;
	ses.tfd = -1;

	/* the client's whole stream, then its end */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("handshake_fuzz: socketpair");
		abort();
	}
	FUZZ_CHECK(len == 0 || send(sv[1], s, len, MSG_DONTWAIT) ==
	    (ssize_t)len);
	shutdown(sv[1], SHUT_WR);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	ses.c.fd = sv[0];
	start = now_ms();
	fd = handshake(&ses, &why);
	FUZZ_CHECK(now_ms() - start < config.handshake_ms);
	close(sv[0]);

	FUZZ_CHECK((fd < 0) == (why != NULL));
	FUZZ_CHECK(fd < 0 || fd == stub.fd);
	n = read_all(sv[1], out, sizeof out);
	close(sv[1]);
	if (len == 0 || (s[0] != 4 && s[0] != 5))
		FUZZ_CHECK(n == 0 && fd < 0 && stub.calls == 0);
	else if (s[0] == 5)
		check_socks5(out, n, s, len, needed, fd);
	else
		check_socks4(out, n, needed, fd);
	FUZZ_CHECK(stub.calls <= 1);

	/* the early data the target got is a piece of the client's stream */
	if (fd >= 0 && ses.r.cmd != CMD_UDP_ASSOCIATE) {
		m = read_all(stub.fd_end, got, sizeof got);
		FUZZ_CHECK(m <= len);
		FUZZ_CHECK(m == 0 || memmem(s, len, got, m) != NULL);
	}
	for (i = 0; i < 4 && stub.keep[i] >= 0; i++)
		close(stub.keep[i]);
	if (fd >= 0)
		close(fd);
	free(ses.r.user);
	fds_open(after);
	FUZZ_CHECK(!memcmp(before, after, sizeof before));
	return 0;
}
