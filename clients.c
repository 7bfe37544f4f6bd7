/* SPDX-License-Identifier: MIT */
/* Client counts, total and per address, under one lock. The per-address
 * counts live in a hash table of chains, keyed (iphash.h) so that no one
 * can choose addresses that share a chain, with an entry only for an
 * address that has a client now. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "iphash.h"

#define BUCKETS 1024

struct ipcount {
	unsigned char ip[16];	/* IPv4 as ::ffff:a.b.c.d */
	unsigned long count;
	struct ipcount *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* under lock: */
static struct clients_stats stats;
static struct ipcount **table;	/* only with a per-address limit */
static int notify_empty;	/* wake wake_fd when the last one leaves */

/* set before the first client: */
static unsigned long long max_total, max_ip;
static int wake;
static uint64_t key;		/* of the hash: see iphash.h */

int
clients_init(long max, long max_per_ip, int wake_fd)
{
	max_total = (unsigned long long)max;
	max_ip = (unsigned long long)max_per_ip;
	wake = wake_fd;
	key = iphash_key();
	if (max_ip && !(table = calloc(BUCKETS, sizeof(struct ipcount *))))
		return -1;
	return 0;
}

/* the chain link that holds ip, or the chain's end */
static struct ipcount **
ip_find(const unsigned char *ip)
{
	struct ipcount **p;

	for (p = &table[iphash(ip, key) & (BUCKETS - 1)]; *p; p = &(*p)->next)
		if (!memcmp((*p)->ip, ip, 16))
			break;
	return p;
}

/* With the lock held: counts in a client from a, unless --max-per-ip is
 * reached */
static enum admit
ip_admit(const union sockaddr_union *a)
{
	unsigned char ip[16];
	struct ipcount **p, *e;

	if (!table)
		return ADMIT_OK;
	sa_key(a, ip);
	p = ip_find(ip);
	if (*p && (*p)->count >= max_ip)
		return ADMIT_FULL_IP;
	if (*p) {
		(*p)->count++;
		return ADMIT_OK;
	}
	if (!(e = malloc(sizeof *e)))
		return ADMIT_NOMEM;
	memcpy(e->ip, ip, 16);
	e->count = 1;
	e->next = NULL;
	*p = e;
	return ADMIT_OK;
}

enum admit
clients_admit(const union sockaddr_union *a)
{
	enum admit r = ADMIT_OK;

	pthread_mutex_lock(&lock);
	if (max_total && stats.now >= max_total)
		r = ADMIT_FULL;
	else if (a)
		r = ip_admit(a);
	if (r == ADMIT_OK) {
		stats.now++;
		stats.served++;
	} else {
		stats.refused++;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

enum admit
clients_admit_ip(const union sockaddr_union *a)
{
	enum admit r;

	pthread_mutex_lock(&lock);
	if ((r = ip_admit(a)) != ADMIT_OK) {
		stats.served--;
		stats.refused++;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void
clients_turn_away(void)
{
	pthread_mutex_lock(&lock);
	stats.served--;
	stats.refused++;
	pthread_mutex_unlock(&lock);
}

void
clients_refused(void)
{
	pthread_mutex_lock(&lock);
	stats.refused++;
	pthread_mutex_unlock(&lock);
}

void
clients_cancel(const union sockaddr_union *a)
{
	clients_leave(a, -1, 0, 0, 0);
	clients_turn_away();
}

void
clients_leave(const union sockaddr_union *a, int rep, int auth_failed,
    unsigned long long up, unsigned long long down)
{
	unsigned char ip[16], one = 1;
	struct ipcount **p, *e;
	int last;

	pthread_mutex_lock(&lock);
	if (table && a) {
		sa_key(a, ip);
		p = ip_find(ip);
		if ((e = *p) && --e->count == 0) {
			*p = e->next;
			free(e);
		}
	}
	stats.now--;
	stats.up += up;
	stats.down += down;
	stats.auth_failed += (unsigned)auth_failed;
	if (rep >= 0 && rep < CLIENTS_REPLIES)
		stats.replies[rep]++;
	last = notify_empty && stats.now == 0;
	pthread_mutex_unlock(&lock);
	if (last && wake >= 0 && write(wake, &one, 1) < 0)
		return;
}

void
clients_notify_empty(void)
{
	unsigned char one = 1;
	int none;

	pthread_mutex_lock(&lock);
	notify_empty = 1;
	none = stats.now == 0;
	pthread_mutex_unlock(&lock);
	if (none && wake >= 0 && write(wake, &one, 1) < 0)
		return;
}

void
clients_get(struct clients_stats *st)
{
	pthread_mutex_lock(&lock);
	*st = stats;
	pthread_mutex_unlock(&lock);
}
