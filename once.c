/* SPDX-License-Identifier: MIT */
/* The -1 list, in constant time per lookup however many addresses it
 * holds: a hash table of chains, and a list in order of use whose tail
 * is the least recently used. The hash is keyed (iphash.h), so that a
 * client who chooses its addresses (one IPv6 /64 has plenty) cannot pile
 * them into one chain. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iphash.h"
#include "once.h"

struct entry {
	unsigned char ip[16];		/* IPv4 as ::ffff:a.b.c.d */
	long long used;
	struct entry *chain;		/* next in the bucket */
	struct entry *newer, *older;	/* in order of use */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* under lock: */
static struct entry **table;		/* made at the first add */
static struct entry *newest, *oldest;
static size_t n;

/* set before the first client: */
static size_t max_n, buckets;
static long long ttl;
static uint64_t key;

int
once_init(size_t max, long long ttl_ms)
{
	max_n = max;
	ttl = ttl_ms;
	/* a bucket per address at most, 64 Ki buckets at most */
	for (buckets = 16; buckets < max_n && buckets < 65536; buckets *= 2)
		;
	key = iphash_key();
	return 0;
}

static size_t
bucket_of(const unsigned char *ip)
{
	return (size_t)iphash(ip, key) & (buckets - 1);
}

/* the chain link that holds ip, or the chain's end */
static struct entry **
find(const unsigned char *ip)
{
	struct entry **p;

	for (p = &table[bucket_of(ip)]; *p; p = &(*p)->chain)
		if (!memcmp((*p)->ip, ip, 16))
			break;
	return p;
}

static void
unlink_use(struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
}

static void
link_newest(struct entry *e)
{
	e->newer = NULL;
	e->older = newest;
	if (newest)
		newest->newer = e;
	newest = e;
	if (!oldest)
		oldest = e;
}

/* takes e out of the table and the order of use, and frees it */
static void
forget(struct entry *e)
{
	struct entry **p = &table[bucket_of(e->ip)];

	while (*p && *p != e)
		p = &(*p)->chain;
	if (*p)
		*p = e->chain;
	unlink_use(e);
	free(e);
	n--;
}

int
once_admits(const union sockaddr_union *a, long long now)
{
	unsigned char ip[16];
	struct entry **p;
	int found = 0;

	sa_key(a, ip);
	pthread_mutex_lock(&lock);
	if (table && *(p = find(ip))) {
		if (now - (*p)->used > ttl) {
			forget(*p);
		} else {
			(*p)->used = now;
			unlink_use(*p);
			link_newest(*p);
			found = 1;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void
once_add(const union sockaddr_union *a, long long now)
{
	unsigned char ip[16];
	struct entry **p, *e;

	sa_key(a, ip);
	pthread_mutex_lock(&lock);
	/* out of memory only costs the client its next authentication */
	if (!table && !(table = calloc(buckets, sizeof(struct entry *))))
		goto out;
	p = find(ip);
	if (*p) {
		e = *p;
		unlink_use(e);
	} else {
		if (n == max_n && oldest)
			forget(oldest);
		if (!(e = malloc(sizeof *e)))
			goto out;
		memcpy(e->ip, ip, 16);
		/* the chain may have changed with the drop */
		p = find(ip);
		e->chain = *p;
		*p = e;
		n++;
	}
	e->used = now;
	link_newest(e);
out:
	pthread_mutex_unlock(&lock);
}
