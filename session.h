/* SPDX-License-Identifier: MIT */
/* A client's session, from its accept to its log line: the one record
 * of it, and the list of those running, for the stop to end them. */
#ifndef SESSION_H
#define SESSION_H
#include "logfmt.h"
#include "server.h"

/* a client as it was accepted, to be handed to its thread */
struct client {
	int fd;
	long long start;		/* now_ms() at accept */
	union sockaddr_union addr;	/* the client's; a balancer's until
					 * its PROXY header tells */
	unsigned char balancer;		/* a PROXY header is to come first */
	unsigned char local;		/* the balancer's own connection (a
					 * LOCAL header): no -1 for it */
	unsigned char counted;		/* counted in by addr, see clients.h */
};

/* A client's session. It stays on the client thread's stack for the
 * tunnel's life: keep it small. */
struct session {
	struct client c;
	struct logfmt_record r;		/* what its line tells */
	int auth_failed;		/* for the statistics */
	int tfd;			/* the tunnel's other fd, -1: none */
	struct session *next, *prev;	/* on the list of all; under lock */
};

/* Serves the client in arg (a struct client) from its first byte to its
 * log line, and closes it; see struct thread_ops. */
void session_run(void *arg);

/* Ends every session: their sockets shut down, they see the ends of
 * their streams and finish, each with its log line ("stopped"). */
void session_stop_all(void);

/* keeps name (a user name or a SOCKS4 user id) as the session's user */
void session_set_user(struct session *s, const char *name);

#endif /* SESSION_H */
