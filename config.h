/* SPDX-License-Identifier: MIT */
/* The options: every one of them read from the command line into one
 * struct config, which is read-only once the first thread starts; and
 * the messages for mistakes in them. */
#ifndef CONFIG_H
#define CONFIG_H
#include <stddef.h>

#include "sblist.h"
#include "server.h"

/* listening sockets at most: -i given so often, or passed by systemd */
#define CONFIG_MAX_LISTEN 32

/* -i: ADDR or ADDR:PORT */
struct config_listen {
	char host[256];
	long port;		/* -1: -p's */
};

struct config {
	/* -u, -P: zero-padded to 256 bytes, as users_secret_equal()
	 * compares them */
	char user[256], pass[256];
	size_t ulen, plen;
	int have_user;
	const char *users_path;		/* --users */
	int auth_required;		/* -u or --users */
	sblist *auth_ips;		/* -w: struct rule; NULL: none */
	int auth_once;			/* -1 */
	long once_ttl_ms;
	size_t once_max;
	int fail_max;			/* --auth-fail-max; 0: no ban */
	long fail_ban_ms;		/* --auth-fail-ban */

	sblist *allow, *deny;		/* --allow, --deny; NULL: none */
	sblist *proxy_from;		/* --proxy-protocol; NULL: none */
	long max_clients, max_per_ip;	/* 0: no limit */

	union sockaddr_union bind_addr;	/* -b */
	int have_bind_addr;
	const char *bind_device;	/* --bind-interface; NULL: none */
	int connect_ms, connect_tries, bind_ms;
	union sockaddr_union udp_announce;
	int have_udp_announce;
	unsigned short udp_port_lo, udp_port_hi;	/* 0: any */

	int idle_ms, handshake_ms, halfclose_ms;

	int quiet;			/* -q */
	const char *log_format;
	int log_local;			/* --log-time local */
	int syslog;
	int grace_ms;

	struct config_listen listen[CONFIG_MAX_LISTEN];
	int nlisten;
	long port;			/* -p */
	int reuseport;			/* --reuseport */
};

/* the program's options, set by config_read() */
extern struct config config;

/* Reads the command line into config, or exits: 0 after -h and -V, 1
 * after a mistake, with a message naming the option. */
void config_read(int argc, char **argv);

/* Exits 1 after "microsocks: OPT: message" on stderr: for an option that
 * is well written but cannot be served (a file, an address, a socket). */
_Noreturn void config_fail(const char *opt, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Exits 1 after "microsocks: OPT: message" and the usage on stderr: for
 * a mistake on the command line. */
_Noreturn void config_usage_fail(const char *opt, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* 1 when addr falls in one of the ranges of the list l (which may be
 * NULL: an empty list) */
int config_in(const sblist *l, const union sockaddr_union *addr);

#endif /* CONFIG_H */
