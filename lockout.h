/* SPDX-License-Identifier: MIT */
/* Client addresses that gave wrong passwords too often, refused for a
 * while: a table of a fixed size, made at the first failure. */
#ifndef LOCKOUT_H
#define LOCKOUT_H

/* entries at most; what does not fit gives way as lockout_fail() says */
#define LOCKOUT_SLOTS 1024

/* Sets the bounds: the max_fails-th failure of an address, each within
 * ban_ms of the one before, starts its ban of ban_ms. Before the first
 * client. */
void lockout_init(unsigned max_fails, long long ban_ms);

/* Counts a failure of the address key (16 bytes, see sa_key) at now, in
 * ms of a monotonic clock. Returns 1 when it starts the key's ban, else
 * 0. When the key's part of the table is full, the entry that failed
 * least recently gives way, of those not banned; of banned ones, the one
 * whose ban ends first. */
int lockout_fail(const unsigned char *key, long long now);

/* 1 when key is banned at now */
int lockout_banned(const unsigned char *key, long long now);

#endif /* LOCKOUT_H */
