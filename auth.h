/* SPDX-License-Identifier: MIT */
/* Who may in: -u and -P, the users of --users (read again on SIGHUP),
 * the ranges of -w, and the addresses of -1 that authenticated. */
#ifndef AUTH_H
#define AUTH_H
#include <stddef.h>

#include "server.h"
#include "socks5.h"

/* Sets up the users' lock, the -1 list, and reads --users, after
 * config_read(). Returns 0, or -1 with a message in why (size bytes). */
int auth_init(char *why, size_t size);

/* --users read anew, for SIGHUP: the new users, or a warning and the old
 * ones kept; both logged */
void auth_reload(void);

/* 1 when the client at a must authenticate, 0 when it may go without:
 * no authentication is asked for, -w names it, or, with once set, -1
 * remembers it */
int auth_needed(const union sockaddr_union *a, int once);

/* Checks a's user name and password. Returns 1 when they are right, 0
 * when not; -1 when the client (fd) left, or deadline (ms of now_ms())
 * passed, before its turn for a hash check came: it gets no check and no
 * answer. No lock is held while a hash is computed. */
int auth_check(const struct socks5_auth *a, int fd, long long deadline);

/* 1 when the client at a is refused for the wrong passwords its address
 * gave (--auth-fail-max, --auth-fail-ban) */
int auth_banned(const union sockaddr_union *a);

/* Counts a wrong password of the client at a; the failure that starts
 * its address's ban is logged. */
void auth_failed(const union sockaddr_union *a);

/* Marks the client at a as authenticated, for -1. */
void auth_passed(const union sockaddr_union *a);

/* Waits the pause that a wrong password costs, or until the client (fd)
 * closes or deadline comes, whichever is first. */
void auth_fail_pause(int fd, long long deadline);

/* 1 when the client closed its connection fd: it cannot take an answer */
int auth_client_gone(int fd);

#endif /* AUTH_H */
