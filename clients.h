/* SPDX-License-Identifier: MIT */
/* Who is connected: the client limits, and the counts that SIGUSR1
 * reports. */
#ifndef CLIENTS_H
#define CLIENTS_H

#include "server.h"

/* reply codes counted apart: SOCKS5's 0 to 8 */
#define CLIENTS_REPLIES 9

struct clients_stats {
	unsigned long long now;		/* connected */
	unsigned long long served;	/* admitted since start */
	unsigned long long refused;	/* turned away at accept */
	unsigned long long up, down;	/* bytes of ended sessions */
	unsigned long long auth_failed;
	unsigned long long replies[CLIENTS_REPLIES];
};

enum admit {
	ADMIT_OK,
	ADMIT_FULL,		/* --max-clients reached */
	ADMIT_FULL_IP,		/* --max-per-ip reached */
	ADMIT_NOMEM,
};

/* Sets the limits (0: none) and the fd that is written to when the
 * last client leaves after clients_notify_empty() (-1: none). Returns
 * 0, or -1 when out of memory. */
int clients_init(long max, long max_per_ip, int wake_fd);

/* Counts in the client from a, unless a limit is reached; a NULL: not
 * by its address, which clients_admit_ip() may count later. */
enum admit clients_admit(const union sockaddr_union *a);

/* Counts a client of clients_admit(NULL) in by its address a, once that
 * is known, unless --max-per-ip is reached: then it is counted as turned
 * away, and must still leave with clients_leave(NULL, ...). */
enum admit clients_admit_ip(const union sockaddr_union *a);

/* counts a client of clients_admit() as turned away after all; it must
 * still leave */
void clients_turn_away(void);

/* counts a client turned away before clients_admit() */
void clients_refused(void);

/* undoes clients_admit(a) for a client turned away after all (a as
 * for clients_leave()) */
void clients_cancel(const union sockaddr_union *a);

/* Counts out a client of clients_admit() (a: the address it was counted
 * in by, NULL for none), with what its session did:
 * rep is the reply code sent (-1: none), auth_failed 1 when it failed
 * to authenticate. */
void clients_leave(const union sockaddr_union *a, int rep, int auth_failed,
    unsigned long long up, unsigned long long down);

/* from now on, wake wake_fd when the last client leaves */
void clients_notify_empty(void);

void clients_get(struct clients_stats *st);

#endif /* CLIENTS_H */
