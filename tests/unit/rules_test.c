/* SPDX-License-Identifier: MIT */
/* Unit tests of address ranges: parsing, good and bad, and matching. */
#include <arpa/inet.h>
#include <string.h>

#include "rules.h"
#include "unit.h"
#include "unit_addr.h"

/* 1 when the range s (parsed with_port) holds ip:port */
static int
holds(const char *s, int with_port, const char *ip, unsigned short port)
{
	struct rule r;
	union sockaddr_union u = unit_addr(ip, port);

	CHECK(rule_parse(s, with_port, &r) == 0);
	return rules_match(&r, 1, &u);
}

static void
test_ranges(void)
{
	CHECK(holds("10.0.0.0/8", 0, "10.255.1.2", 1));
	CHECK(!holds("10.0.0.0/8", 0, "11.0.0.1", 1));
	CHECK(holds("192.168.1.7", 0, "192.168.1.7", 9));
	CHECK(!holds("192.168.1.7", 0, "192.168.1.8", 9));
	CHECK(holds("127.0.0.0/30", 0, "127.0.0.3", 1));
	CHECK(!holds("127.0.0.0/30", 0, "127.0.0.4", 1));
	CHECK(holds("0.0.0.0/0", 0, "8.8.8.8", 1));
	CHECK(!holds("0.0.0.0/0", 0, "::1", 1));
	CHECK(holds("::1", 0, "::1", 1));
	CHECK(!holds("::1", 0, "::2", 1));
	CHECK(holds("fe80::/10", 0, "febf::1", 1));
	CHECK(!holds("fe80::/10", 0, "fec0::1", 1));
	CHECK(!holds("::1/128", 0, "127.0.0.1", 1));
}

static void
test_ports(void)
{
	CHECK(holds(":25", 1, "1.2.3.4", 25));
	CHECK(holds(":25", 1, "::1", 25));
	CHECK(!holds(":25", 1, "1.2.3.4", 26));
	CHECK(holds("169.254.0.0/16:80", 1, "169.254.169.254", 80));
	CHECK(!holds("169.254.0.0/16:80", 1, "169.254.169.254", 81));
	CHECK(holds("169.254.0.0/16", 1, "169.254.169.254", 81));
	CHECK(holds("[::1]", 1, "::1", 5));
	CHECK(holds("[::1]:25", 1, "::1", 25));
	CHECK(!holds("[::1]:25", 1, "::1", 26));
	CHECK(holds("[fd00::]/8:25", 1, "fdff::9", 25));
	CHECK(!holds("[fd00::]/8:25", 1, "fe00::9", 25));
	CHECK(holds("[::]/0", 1, "2001:db8::1", 1));
}

static void
test_bad(void)
{
	static const char *const bad[] = {
		"", "1.2.3", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x",
		"::1/129", "host.example", "1.2.3.4/8/8", " 1.2.3.4",
	};
	static const char *const bad_port[] = {
		"::1:25", "[::1:25", "[::1]x", "[::1]/129", "[1.2.3.4]",
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", ":", ":x",
		"[::1]:", "[::1]/64x", "1.2.3.4:25:26",
	};
	struct rule r;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(rule_parse(bad[i], 0, &r) < 0);
		CHECK(rule_parse(bad[i], 1, &r) < 0);
	}
	for (i = 0; i < sizeof bad_port / sizeof bad_port[0]; i++)
		CHECK(rule_parse(bad_port[i], 1, &r) < 0);
	/* without ports, a colon is IPv6's */
	CHECK(rule_parse("::1", 0, &r) == 0 && r.family == AF_INET6);
	CHECK(rule_parse("1.2.3.4:25", 0, &r) < 0);
}

static void
test_from_addr(void)
{
	union sockaddr_union u = unit_addr("10.1.2.3", 7);
	union sockaddr_union v = unit_addr("10.1.2.4", 7);
	struct rule r;

	rule_from_addr(&u, &r);
	CHECK(rules_match(&r, 1, &u) && !rules_match(&r, 1, &v));
	CHECK(!rules_match(&r, 0, &u));
}

/* 1 when rules_effective() turns ip into want (port kept) */
static int
effective_is(const char *ip, const char *want)
{
	union sockaddr_union u = unit_addr(ip, 80), w = unit_addr(want, 80), out;
	int changed = rules_effective(&u, &out);

	return changed == (strcmp(ip, want) != 0) &&
	    out.sa.sa_family == w.sa.sa_family &&
	    (w.sa.sa_family == AF_INET ?
	    out.v4.sin_addr.s_addr == w.v4.sin_addr.s_addr &&
	    out.v4.sin_port == w.v4.sin_port :
	    !memcmp(&out.v6.sin6_addr, &w.v6.sin6_addr, 16) &&
	    out.v6.sin6_port == w.v6.sin6_port);
}

static void
test_effective(void)
{
	/* IPv4 in IPv6 spelling: mapped, compatible, NAT64 */
	CHECK(effective_is("::ffff:127.0.0.1", "127.0.0.1"));
	CHECK(effective_is("::ffff:10.1.2.3", "10.1.2.3"));
	CHECK(effective_is("::127.0.0.1", "127.0.0.1"));
	CHECK(effective_is("::10.1.2.3", "10.1.2.3"));
	CHECK(effective_is("64:ff9b::7f00:1", "127.0.0.1"));
	CHECK(effective_is("64:ff9b::a01:203", "10.1.2.3"));
	/* the unspecified addresses are this host */
	CHECK(effective_is("0.0.0.0", "127.0.0.1"));
	CHECK(effective_is("0.1.2.3", "127.0.0.1"));
	CHECK(effective_is("::", "::1"));
	CHECK(effective_is("::ffff:0.0.0.0", "127.0.0.1"));
	CHECK(effective_is("64:ff9b::", "127.0.0.1"));
	CHECK(effective_is("::0.0.0.2", "127.0.0.1"));
	/* the rest as they are */
	CHECK(effective_is("127.0.0.1", "127.0.0.1"));
	CHECK(effective_is("1.0.0.0", "1.0.0.0"));
	CHECK(effective_is("::1", "::1"));
	CHECK(effective_is("2001:db8::1", "2001:db8::1"));
	CHECK(effective_is("::fffe:127.0.0.1", "::fffe:127.0.0.1"));
	CHECK(effective_is("64:ff9b:1::7f00:1", "64:ff9b:1::7f00:1"));
	CHECK(effective_is("::1:0:0:1", "::1:0:0:1"));
}

/* no spelling of a denied address slips past its rule */
static void
test_spellings(void)
{
	static const char *local[] = {
		"127.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1",
		"64:ff9b::7f00:1", "0.0.0.0", "::ffff:0.0.0.0", "::",
	};
	size_t i;

	/* all but the last, which is IPv6's own loopback */
	for (i = 0; i < sizeof local / sizeof local[0] - 1; i++) {
		CHECK(holds("127.0.0.0/8", 0, local[i], 80));
		CHECK(holds("127.0.0.0/8:80", 1, local[i], 80));
		CHECK(holds("[::ffff:127.0.0.0]/104", 1, local[i], 80));
		CHECK(!holds("::1", 0, local[i], 80));
	}
	CHECK(holds("::1", 0, "::", 80));
	CHECK(!holds("127.0.0.0/8", 0, "::", 80));
	CHECK(holds("0.0.0.0/8", 0, "0.0.0.0", 80));
	CHECK(holds("::/128", 0, "::", 80));
	CHECK(!holds("127.0.0.0/8", 0, "128.0.0.1", 80));
	CHECK(!holds("127.0.0.0/8", 0, "::ffff:128.0.0.1", 80));
}

/* a rule in mapped or NAT64 form is the IPv4 range it holds */
static void
test_mapped_rules(void)
{
	struct rule r;

	CHECK(rule_parse("::ffff:127.0.0.0/104", 0, &r) == 0);
	CHECK(r.family == AF_INET && r.prefix == 8 && r.addr[0] == 127);
	CHECK(rule_parse("[64:ff9b::a00:0]/104:25", 1, &r) == 0);
	CHECK(r.family == AF_INET && r.prefix == 8 && r.addr[0] == 10 &&
	    r.port == 25);
	CHECK(rule_parse("::ffff:1.2.3.4", 0, &r) == 0);
	CHECK(r.family == AF_INET && r.prefix == 32 && r.addr[3] == 4);
	/* shorter than the embedded address: left as IPv6 */
	CHECK(rule_parse("::ffff:0.0.0.0/95", 0, &r) == 0);
	CHECK(r.family == AF_INET6);
	CHECK(holds("::ffff:127.0.0.0/104", 0, "127.0.0.1", 1));
	CHECK(!holds("::ffff:127.0.0.0/104", 0, "10.0.0.1", 1));
}

int
main(void)
{
	run("rules/ranges", test_ranges);
	run("rules/ports", test_ports);
	run("rules/bad", test_bad);
	run("rules/from_addr", test_from_addr);
	run("rules/effective", test_effective);
	run("rules/spellings", test_spellings);
	run("rules/mapped_rules", test_mapped_rules);
	return unit_summary();
}
