/* SPDX-License-Identifier: MIT */
/* A keyed hash of IP addresses, for the tables that clients fill. */
#ifndef IPHASH_H
#define IPHASH_H

#include <stdint.h>

/* a random key, from getrandom(2) or, failing that, the time and pid */
uint64_t iphash_key(void);

/* The hash of the 16-byte address ip (see sa_key) under key: a keyed mix,
 * not a cryptographic hash, but without the key a client cannot tell
 * which of its addresses share a bucket, and so cannot pile them into
 * one chain. */
uint64_t iphash(const unsigned char *ip, uint64_t key);

#endif /* IPHASH_H */
