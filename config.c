/* SPDX-License-Identifier: MIT */
/* The options: the command line read into struct config, with every
 * value checked, and a message naming the option for each mistake. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "config.h"
#include "logfmt.h"
#include "rules.h"

#define VERSION "1.1.0"

/* zero but for the defaults that config_read() sets: all of it in .bss,
 * not in the binary */
struct config config;

/* the options' values when not given */
static void
set_defaults(void)
{
	config.once_ttl_ms = 3600 * 1000L;
	config.once_max = 1024;
	config.fail_max = 10;
	config.fail_ban_ms = 600 * 1000L;
	config.connect_ms = 10 * 1000;
	config.connect_tries = 8;
	config.bind_ms = 60 * 1000;
	config.idle_ms = 15 * 60 * 1000;
	config.handshake_ms = 10 * 1000;
	config.halfclose_ms = 60 * 1000;
	config.log_format = LOGFMT_DEFAULT;
	config.grace_ms = 10 * 1000;
	config.port = 1080;
}

static const char usage_text[] =
"usage: microsocks [-1] [-q] [-i listenip[:port]]... [-p port]\n"
"                  [-u user -P password] [-b bindaddr] [-w ip[,ip...]]\n"
"                  [long options] [-V] [-h]\n"
"  -1  auth once: an IP that authenticated needs no password again\n"
"  -q  log nothing        -i  listen address (0.0.0.0), repeatable\n"
"  -p  port (1080)        -b  address to connect to targets from\n"
"  -u, -P  user name and password\n"
"  -w  client IPs or ranges that need no password\n"
"long options, see microsocks(1) (defaults in brackets):\n"
"  --users file  --auth-once-ttl secs (3600)  --auth-once-max n (1024)\n"
"  --auth-fail-max n (10)  --auth-fail-ban secs (600)\n"
"  --allow ranges  --deny ranges  --max-clients n  --max-per-ip n\n"
"  --bind-interface if  --udp-announce addr  --udp-ports lo-hi\n"
"  --idle-timeout secs (900)  --handshake-timeout secs (10)\n"
"  --connect-timeout secs (10)  --connect-tries n (8)\n"
"  --halfclose-timeout secs (60)\n"
"  --bind-timeout secs (60)  --log-format fmt  --log-time utc|local\n"
"  --syslog  --grace secs (10)  --reuseport  --proxy-protocol ranges\n";

/* the message for a mistake at start, on stderr, and the usage when
 * asked: before logging is set up, and without stdio's stream */
static void
vsay_error(int with_usage, const char *opt, const char *fmt, va_list ap)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof buf, "microsocks: %s: ", opt);
	if (n < 0 || (size_t)n >= sizeof buf)
		n = 0;
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	dprintf(2, "%s\n%s", buf, with_usage ? usage_text : "");
}

_Noreturn void
config_usage_fail(const char *opt, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay_error(1, opt, fmt, ap);
	va_end(ap);
	exit(1);
}

_Noreturn void
config_fail(const char *opt, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay_error(0, opt, fmt, ap);
	va_end(ap);
	exit(1);
}

int
config_in(const sblist *l, const union sockaddr_union *addr)
{
	return l && rules_match(sblist_get(l, 0), sblist_getsize(l), addr);
}

/* out of memory while reading the options: nothing can run */
static _Noreturn void
no_memory(void)
{
	perror("microsocks");
	exit(1);
}

/* a number in [min, max] from option opt's argument, or exit */
static long
parse_num(const char *opt, const char *s, long min, long max)
{
	long v;

	if (args_num(s, min, max, &v) < 0)
		config_usage_fail(opt, "'%s' is not a number from %ld to %ld",
		    s, min, max);
	return v;
}

/* a timeout in seconds, as milliseconds */
static int
parse_timeout(const char *opt, const char *s)
{
	return (int)parse_num(opt, s, 1, 2000000) * 1000;
}

static void
resolve_or_die(const char *opt, const char *host, struct addrinfo **res)
{
	int err = server_resolve(host, 0, AI_PASSIVE, res);

	if (err)
		config_usage_fail(opt, "cannot resolve '%s': %s", host,
		    gai_strerror(err));
}

/* the first address of a name, for option opt, or exit */
static void
resolve_addr(const char *opt, const char *host, union sockaddr_union *u)
{
	struct addrinfo *res;

	resolve_or_die(opt, host, &res);
	memset(u, 0, sizeof *u);
	memcpy(u, res->ai_addr, res->ai_addrlen > sizeof *u ? sizeof *u :
	    res->ai_addrlen);
	freeaddrinfo(res);
	sa_unmap(u);
}

static void
add_or_die(sblist *l, const void *item)
{
	if (sblist_add(l, item) < 0)
		no_memory();
}

/* -w: comma-separated address ranges, or names for all their addresses,
 * added to config.auth_ips */
static void
parse_whitelist(const char *list)
{
	struct addrinfo *res, *ai;
	union sockaddr_union u;
	struct rule r;
	char *copy, *tok, *save = NULL;

	if (!*list || list[strlen(list) - 1] == ',' || strstr(list, ",,") ||
	    *list == ',')
		config_usage_fail("-w", "empty entry in '%s'", list);
	if (!(copy = strdup(list)))
		no_memory();
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (rule_parse(tok, 0, &r) == 0) {
			add_or_die(config.auth_ips, &r);
			continue;
		}
		if (strchr(tok, '/'))
			config_usage_fail("-w", "'%s' is not an address range",
			    tok);
		resolve_or_die("-w", tok, &res);
		for (ai = res; ai; ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof u)
				continue;
			memcpy(&u, ai->ai_addr, ai->ai_addrlen);
			sa_unmap(&u);
			rule_from_addr(&u, &r);
			add_or_die(config.auth_ips, &r);
		}
		freeaddrinfo(res);
	}
	free(copy);
}

/* --allow, --deny: comma-separated address ranges, with ports for the
 * latter, added to the list l (NULL: a new one); returns the list */
static sblist *
parse_rules(const char *opt, const char *list, int with_port, sblist *l)
{
	const char *p = list, *comma;
	char entry[128];
	struct rule r;
	size_t n;

	if (!l && !(l = sblist_new(sizeof(struct rule), 8)))
		no_memory();
	for (;;) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof entry)
			config_usage_fail(opt, "bad entry in '%s'", list);
		memcpy(entry, p, n);
		entry[n] = '\0';
		if (rule_parse(entry, with_port, &r) < 0)
			config_usage_fail(opt, "'%s' is not an address range%s",
			    entry, with_port ?
			    " (with [brackets] for IPv6 and a port)" : "");
		add_or_die(l, &r);
		if (!comma)
			return l;
		p = comma + 1;
	}
}

/* copies an RFC 1929 user name or password into its 256-byte buffer */
static size_t
copy_secret(const char *opt, const char *arg, char *buf, const char *what)
{
	size_t n = strlen(arg);

	if (n > 255)
		config_usage_fail(opt, "longer than 255 bytes");
	if (n == 0)
		config_usage_fail(opt, "an empty %s", what);
	memcpy(buf, arg, n);
	return n;
}

/* -b must be an address of this host: a socket bound to it (any port)
 * tells at start, rather than every CONNECT failing with reply 01 */
static void
check_bind_addr(const char *arg)
{
	const union sockaddr_union *u = &config.bind_addr;
	int fd, err = 0;

	fd = socket(u->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &u->sa, sa_len(u)) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err)
		config_fail("-b", "cannot bind to %s: %s", arg, strerror(err));
}

enum {
	OPT_IDLE = 256,
	OPT_HANDSHAKE,
	OPT_CONNECT,
	OPT_CONNECT_TRIES,
	OPT_HALFCLOSE,
	OPT_BIND_TIMEOUT,
	OPT_UDP_ANNOUNCE,
	OPT_UDP_PORTS,
	OPT_ALLOW,
	OPT_DENY,
	OPT_MAX_CLIENTS,
	OPT_MAX_PER_IP,
	OPT_BIND_IFACE,
	OPT_USERS,
	OPT_ONCE_TTL,
	OPT_ONCE_MAX,
	OPT_FAIL_MAX,
	OPT_FAIL_BAN,
	OPT_LOG_FORMAT,
	OPT_LOG_TIME,
	OPT_SYSLOG,
	OPT_GRACE,
	OPT_REUSEPORT,
	OPT_PROXY_PROTOCOL,
};

static const struct option long_options[] = {
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "connect-tries", required_argument, NULL, OPT_CONNECT_TRIES },
	{ "halfclose-timeout", required_argument, NULL, OPT_HALFCLOSE },
	{ "bind-timeout", required_argument, NULL, OPT_BIND_TIMEOUT },
	{ "udp-announce", required_argument, NULL, OPT_UDP_ANNOUNCE },
	{ "udp-ports", required_argument, NULL, OPT_UDP_PORTS },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "deny", required_argument, NULL, OPT_DENY },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
	{ "bind-interface", required_argument, NULL, OPT_BIND_IFACE },
	{ "users", required_argument, NULL, OPT_USERS },
	{ "auth-once-ttl", required_argument, NULL, OPT_ONCE_TTL },
	{ "auth-once-max", required_argument, NULL, OPT_ONCE_MAX },
	{ "auth-fail-max", required_argument, NULL, OPT_FAIL_MAX },
	{ "auth-fail-ban", required_argument, NULL, OPT_FAIL_BAN },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "log-time", required_argument, NULL, OPT_LOG_TIME },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "reuseport", no_argument, NULL, OPT_REUSEPORT },
	{ "proxy-protocol", required_argument, NULL, OPT_PROXY_PROTOCOL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* the option that getopt_long() just looked at, for error messages */
static const char *
opt_name(char **argv, int longidx, int c, char *buf, size_t size)
{
	if (longidx >= 0)
		snprintf(buf, size, "--%s", long_options[longidx].name);
	else if (c > 0 && c < 256)
		snprintf(buf, size, "-%c", c);
	else
		return argv[optind - 1];
	return buf;
}

/* -i ARG */
static void
add_listen(const char *arg)
{
	struct config_listen *l = &config.listen[config.nlisten];

	if (config.nlisten == CONFIG_MAX_LISTEN)
		config_usage_fail("-i", "more than %d addresses",
		    CONFIG_MAX_LISTEN);
	if (args_hostport(arg, l->host, sizeof l->host, &l->port) < 0)
		config_usage_fail("-i", "'%s' is not ADDR, ADDR:PORT or "
		    "[ADDR]:PORT", arg);
	config.nlisten++;
}

/* --log-format ARG */
static void
set_log_format(const char *arg)
{
	const char *bad;

	if (logfmt_check(arg, &bad) < 0 && !bad[1])
		config_usage_fail("--log-format", "'%%' at the end");
	if (logfmt_check(arg, &bad) < 0)
		config_usage_fail("--log-format", "unknown '%c%c'", bad[0],
		    bad[1]);
	config.log_format = arg;
}

/* the options that need no other to be read: all but -w and -b's check,
 * which are kept in *w and *b */
static void
read_option(int c, char *arg, sblist **w, const char **b, int *pass_given)
{
	switch (c) {
	case '1':
		config.auth_once = 1;
		break;
	case 'q':
		config.quiet = 1;
		break;
	case 'b':
		resolve_addr("-b", arg, &config.bind_addr);
		config.have_bind_addr = 1;
		*b = arg;
		break;
	case 'i':
		add_listen(arg);
		break;
	case 'p':
		config.port = parse_num("-p", arg, 0, 65535);
		break;
	case 'u':
		if (config.have_user)
			config_usage_fail("-u", "given twice; more users go "
			    "in a --users file");
		config.ulen = copy_secret("-u", arg, config.user,
		    "user name");
		config.auth_required = config.have_user = 1;
		break;
	case 'P':
		if (*pass_given)
			config_usage_fail("-P", "given twice; more users go "
			    "in a --users file");
		config.plen = copy_secret("-P", arg, config.pass,
		    "password");
		*pass_given = 1;
		/* keep the password out of ps */
		explicit_bzero(arg, config.plen);
		break;
	case 'w':
		/* read once -u and -1 are known; each adds */
		if (!*w && !(*w = sblist_new(sizeof(char *), 4)))
			no_memory();
		add_or_die(*w, &arg);
		break;
	case OPT_IDLE:
		config.idle_ms = parse_timeout("--idle-timeout", arg);
		break;
	case OPT_HANDSHAKE:
		config.handshake_ms = parse_timeout("--handshake-timeout", arg);
		break;
	case OPT_CONNECT:
		config.connect_ms = parse_timeout("--connect-timeout", arg);
		break;
	case OPT_CONNECT_TRIES:
		config.connect_tries = (int)parse_num("--connect-tries", arg,
		    1, 64);
		break;
	case OPT_HALFCLOSE:
		config.halfclose_ms = parse_timeout("--halfclose-timeout", arg);
		break;
	case OPT_BIND_TIMEOUT:
		config.bind_ms = parse_timeout("--bind-timeout", arg);
		break;
	case OPT_UDP_ANNOUNCE:
		resolve_addr("--udp-announce", arg, &config.udp_announce);
		config.have_udp_announce = 1;
		break;
	case OPT_UDP_PORTS:
		if (args_range(arg, &config.udp_port_lo,
		    &config.udp_port_hi) < 0)
			config_usage_fail("--udp-ports", "'%s' is not a port "
			    "range LO-HI", arg);
		break;
	case OPT_ALLOW:
		config.allow = parse_rules("--allow", arg, 0, config.allow);
		break;
	case OPT_DENY:
		config.deny = parse_rules("--deny", arg, 1, config.deny);
		break;
	case OPT_MAX_CLIENTS:
		config.max_clients = parse_num("--max-clients", arg, 1,
		    1000000);
		break;
	case OPT_MAX_PER_IP:
		config.max_per_ip = parse_num("--max-per-ip", arg, 1, 1000000);
		break;
	case OPT_BIND_IFACE:
#ifdef SO_BINDTODEVICE
		if (!if_nametoindex(arg))
			config_usage_fail("--bind-interface",
			    "no interface '%s'", arg);
		config.bind_device = arg;
#else
		config_usage_fail("--bind-interface",
		    "not supported on this system");
#endif
		break;
	case OPT_USERS:
		config.users_path = arg;
		config.auth_required = 1;
		break;
	case OPT_ONCE_TTL:
		config.once_ttl_ms = parse_timeout("--auth-once-ttl", arg);
		break;
	case OPT_ONCE_MAX:
		config.once_max = (size_t)parse_num("--auth-once-max", arg, 1,
		    1000000);
		break;
	case OPT_FAIL_MAX:
		config.fail_max = (int)parse_num("--auth-fail-max", arg, 0,
		    1000000);
		break;
	case OPT_FAIL_BAN:
		config.fail_ban_ms = parse_timeout("--auth-fail-ban", arg);
		break;
	case OPT_LOG_FORMAT:
		set_log_format(arg);
		break;
	case OPT_LOG_TIME:
		if (strcmp(arg, "utc") && strcmp(arg, "local"))
			config_usage_fail("--log-time",
			    "'%s' is not utc or local", arg);
		config.log_local = !strcmp(arg, "local");
		break;
	case OPT_SYSLOG:
		config.syslog = 1;
		break;
	case OPT_PROXY_PROTOCOL:
		config.proxy_from = parse_rules("--proxy-protocol", arg, 0,
		    config.proxy_from);
		break;
	case OPT_REUSEPORT:
		config.reuseport = 1;
		break;
	case OPT_GRACE:
		config.grace_ms = (int)parse_num("--grace", arg, 0, 2000000) *
		    1000;
		break;
	}
}

void
config_read(int argc, char **argv)
{
	sblist *whitelists = NULL;
	const char *bind_arg = NULL;
	char name[32];
	size_t i;
	int c, longidx, pass_given = 0;

	set_defaults();
	opterr = 0;
	for (;;) {
		longidx = -1;
		c = getopt_long(argc, argv, ":1qb:i:p:u:P:w:Vh", long_options,
		    &longidx);
		if (c == -1)
			break;
		switch (c) {
		case 'V':
			dprintf(1, "microsocks %s\n", VERSION);
			exit(0);
		case 'h':
			dprintf(1, "%s", usage_text);
			exit(0);
		case ':':
			config_usage_fail(opt_name(argv, longidx, optopt, name,
			    sizeof name), "requires an argument");
		case '?':
			config_usage_fail(opt_name(argv, -1, optopt, name,
			    sizeof name), "unknown option");
		default:
			read_option(c, optarg, &whitelists, &bind_arg,
			    &pass_given);
		}
	}
	if (optind < argc)
		config_usage_fail(argv[optind], "unexpected argument");
	if (config.have_user && !pass_given)
		config_usage_fail("-u", "needs -P");
	if (pass_given && !config.have_user)
		config_usage_fail("-P", "needs -u");
	if (config.auth_once && !config.auth_required)
		config_usage_fail("-1", "needs -u and -P, or --users");
	if (whitelists && !config.auth_required)
		config_usage_fail("-w", "needs -u and -P, or --users");
	if (whitelists &&
	    !(config.auth_ips = sblist_new(sizeof(struct rule), 8)))
		no_memory();
	for (i = 0; whitelists && i < sblist_getsize(whitelists); i++)
		parse_whitelist(*(char **)sblist_get(whitelists, i));
	sblist_free(whitelists);
	if (bind_arg)
		check_bind_addr(bind_arg);
}
