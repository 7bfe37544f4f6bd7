/* SPDX-License-Identifier: MIT */
/* The addresses that failed to authenticate, in a table of sets of
 * WAYS entries: an address lives in the set its keyed hash (iphash.h)
 * names, so a lookup reads WAYS entries at most, and a client that
 * chooses its addresses cannot tell which share a set. A table that
 * never grows, nor frees, keeps what a stranger can make it cost fixed;
 * the price is that an attacker with very many addresses can push out
 * another's count (never a ban, while a set has an entry that is not
 * banned). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iphash.h"
#include "lockout.h"

#define WAYS 8
#define SETS (LOCKOUT_SLOTS / WAYS)

struct entry {
	unsigned char key[16];
	unsigned fails;		/* 0: the entry is free */
	long long last;		/* the last failure */
	long long until;	/* banned before this; 0: not banned */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* under lock; made at the first failure, for most servers see none */
static struct entry *table;

/* set before the first client: */
static unsigned max;
static long long ban;
static uint64_t hkey;

void
lockout_init(unsigned max_fails, long long ban_ms)
{
	max = max_fails;
	ban = ban_ms;
	hkey = iphash_key();
}

static struct entry *
set_of(const unsigned char *key)
{
	return table + ((size_t)iphash(key, hkey) % SETS) * WAYS;
}

/* key's entry in its set, or NULL */
static struct entry *
find(struct entry *set, const unsigned char *key)
{
	int i;

	for (i = 0; i < WAYS; i++)
		if (set[i].fails && !memcmp(set[i].key, key, 16))
			return &set[i];
	return NULL;
}

/* 1 when e's ban, or if it has none its count, has run out */
static int
expired(const struct entry *e, long long now)
{
	return e->until ? now >= e->until : now - e->last > ban;
}

/* The entry to give to a new key: a free one, else one whose count or
 * ban ran out, else the least recent failure of those not banned, else
 * the ban that ends first. */
static struct entry *
victim(struct entry *set, long long now)
{
	struct entry *e, *best = NULL;
	int i;

	for (i = 0; i < WAYS; i++) {
		e = &set[i];
		if (!e->fails || expired(e, now))
			return e;
		if (!best || (!e->until && best->until) ||
		    (!e->until && !best->until && e->last < best->last) ||
		    (e->until && best->until && e->until < best->until))
			best = e;
	}
	return best;
}

int
lockout_fail(const unsigned char *key, long long now)
{
	struct entry *set, *e;
	int starts = 0;

	if (!max)
		return 0;
	pthread_mutex_lock(&lock);
	/* out of memory only costs the count */
	if (!table && !(table = calloc(SETS * WAYS, sizeof *table)))
		goto out;
	set = set_of(key);
	e = find(set, key);
	if (e && expired(e, now))
		e->fails = 0;
	if (!e || !e->fails) {
		if (!e)
			e = victim(set, now);
		memcpy(e->key, key, 16);
		e->fails = 0;
		e->until = 0;
	}
	e->last = now;
	/* a failure while banned (one that began before the ban) counts
	 * for nothing */
	if (!e->until && ++e->fails >= max) {
		e->until = now + ban;
		starts = 1;
	}
out:
	pthread_mutex_unlock(&lock);
	return starts;
}

int
lockout_banned(const unsigned char *key, long long now)
{
	struct entry *e;
	int banned = 0;

	if (!max)
		return 0;
	pthread_mutex_lock(&lock);
	if (table && (e = find(set_of(key), key)))
		banned = e->until && now < e->until;
	pthread_mutex_unlock(&lock);
	return banned;
}
