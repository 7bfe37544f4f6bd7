/* SPDX-License-Identifier: MIT */
/* A keyed hash of IP addresses. */
#include <sys/random.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iphash.h"

uint64_t
iphash_key(void)
{
	uint64_t key;

	if (getrandom(&key, sizeof key, GRND_NONBLOCK) != sizeof key)
		key = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&key;
	return key;
}

/* multiply and xor-shift, a round per 4 bytes, and a last one */
uint64_t
iphash(const unsigned char *ip, uint64_t key)
{
	uint64_t h = key;
	uint32_t w;
	int i;

	for (i = 0; i < 16; i += 4) {
		memcpy(&w, ip + i, 4);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h = (h ^ key) * 0xc4ceb9fe1a85ec53ull;
	return h ^ h >> 29;
}
