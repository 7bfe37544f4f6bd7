/* SPDX-License-Identifier: MIT */
/* Parsers of command-line values. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int
args_num(const char *s, long min, long max, long *v)
{
	char *end;
	long n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (*end || errno || n < min || n > max)
		return -1;
	*v = n;
	return 0;
}

int
args_range(const char *s, unsigned short *lo, unsigned short *hi)
{
	char buf[16];
	const char *dash = strchr(s, '-');
	size_t n = dash ? (size_t)(dash - s) : 0;
	long a, b;

	/* the same bound on both numbers */
	if (n == 0 || n >= sizeof buf || strlen(dash + 1) >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (args_num(buf, 1, 65535, &a) < 0 ||
	    args_num(dash + 1, a, 65535, &b) < 0)
		return -1;
	*lo = (unsigned short)a;
	*hi = (unsigned short)b;
	return 0;
}

int
args_hostport(const char *s, char *host, size_t size, long *port)
{
	const char *end, *colon;
	size_t n;

	*port = -1;
	if (*s == '[') {
		s++;
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -1;
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(s, ':');
		/* several colons: an IPv6 address alone */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		end = colon ? colon : s + strlen(s);
	}
	n = (size_t)(end - s);
	if (n == 0 || n >= size)
		return -1;
	if (colon && args_num(colon + 1, 0, 65535, port) < 0)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	return 0;
}
