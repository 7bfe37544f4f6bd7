/* SPDX-License-Identifier: MIT */
/* Users from a file of "user:password" lines, the password in clear or
 * as a crypt(3) hash. */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>

#include "userline.h"

struct users;

/* Reads the users file at path. Returns the users, or NULL with the
 * reason in *why and the line it is about in *lineno (0: the file as a
 * whole; *why NULL: it could not be read, with errno set). A file with
 * no users, a hash that crypt(3) cannot check, a user given twice are
 * each refused. */
struct users *users_load(const char *path, unsigned long *lineno,
    const char **why);

void users_free(struct users *u);

size_t users_count(const struct users *u);

/* 1 when user (ulen bytes) is one of u's */
int users_has(const struct users *u, const char *user, size_t ulen);

/* A user's password as users_find() copies it out, so that no lock on
 * the users need be held while it is checked; wipe it after use. */
struct users_entry {
	char pass[256];		/* NUL-padded */
	size_t plen;
	int hashed;		/* a crypt(3) hash: see users_hash_begin() */
};

/* 1 with user's (ulen bytes) password in *e when user is one of u's;
 * else 0 */
int users_find(const struct users *u, const char *user, size_t ulen,
    struct users_entry *e);

/* Waits, until deadline at most (ms of CLOCK_MONOTONIC), for one of the
 * few hash checks that may run at once (one per CPU). Returns the slot,
 * to be given to users_hash_check() or back with users_hash_end(); or -1
 * when the deadline passed first. */
int users_hash_begin(long long deadline);
void users_hash_end(int slot);

/* 1 when pass (plen bytes) hashes to e's hash, else 0; runs in the slot
 * from users_hash_begin(), and gives it back */
int users_hash_check(int slot, const struct users_entry *e, const char *pass,
    size_t plen);

/* 1 when the secrets a and b, each of 256 NUL-padded bytes, are equal,
 * in time that does not depend on where they differ */
int users_secret_equal(const char *a, size_t alen, const char *b,
    size_t blen);

#endif /* USERS_H */
