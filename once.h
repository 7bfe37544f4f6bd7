/* SPDX-License-Identifier: MIT */
/* The -1 list: client addresses that authenticated, and may come back
 * without a password while they keep using the proxy. */
#ifndef ONCE_H
#define ONCE_H

#include <stddef.h>

#include "server.h"

/* Sets the list's bounds: at most max addresses (the least recently
 * used gives way to a new one), each forgotten once unused for ttl_ms.
 * Returns 0, or -1 when out of memory. */
int once_init(size_t max, long long ttl_ms);

/* 1 when the IP address of a authenticated and has been used within the
 * time to live, which starts anew; else 0 (a stale entry goes). now:
 * milliseconds of a monotonic clock. Takes the same time however long
 * the list is. */
int once_admits(const union sockaddr_union *a, long long now);

/* remembers that the IP address of a authenticated, at now */
void once_add(const union sockaddr_union *a, long long now);

#endif /* ONCE_H */
