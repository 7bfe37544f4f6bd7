# microsocks: a small multithreaded SOCKS5 server

prog = microsocks
prefix = /usr/local
bindir = $(prefix)/bin
mandir = $(prefix)/share/man

# sockssrv.c has main(); the rest is also the library that the unit
# tests and fuzz targets link
SRCS = sockssrv.c $(LIB_SRCS)
LIB_SRCS = accept.c addr.c args.c auth.c clients.c config.c handshake.c iphash.c lockout.c log.c logfmt.c \
	once.c proxyproto.c relay.c rules.c sblist.c server.c session.c socks4.c socks5.c systemd.c \
	target.c thread.c udp.c userline.c users.c
OBJS = $(SRCS:.c=.o)
LIB = lib$(prog).a

# a unit test is tests/unit/NAME_test.c, linked with the library
UNIT_TESTS = $(patsubst %.c,%,$(wildcard tests/unit/*_test.c))

# libFuzzer targets, one per parser: tests/fuzz/NAME_fuzz.c; `make test`
# replays their corpus with NAME_replay, built without libFuzzer
FUZZ_TARGETS = socks5_greeting socks5_auth socks5_request socks5_udp \
	socks4_request rules args_num args_range args_hostport users_line logfmt \
	proxyproto handshake
FUZZ_LIB = tests/fuzz/lib.a
FUZZ_OBJS = $(LIB_SRCS:%.c=tests/fuzz/obj/%.o)
FUZZ_BINS = $(FUZZ_TARGETS:%=tests/fuzz/%_fuzz)
FUZZ_REPLAYS = $(FUZZ_TARGETS:%=tests/fuzz/%_replay)
UNIT_TESTS += $(FUZZ_REPLAYS)
FUZZ_CC = clang
FUZZ_SAN = address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer
FUZZ_TIME = 60
FUZZ_STREAMS = 20000

CFLAGS ?= -O2
override CFLAGS += -Wall -Wextra -std=c11
# 64-bit file offsets and times on 32-bit machines too: a 32-bit readdir() or
# stat() fails with EOVERFLOW on a file system with 64-bit inode numbers, and
# a 32-bit time_t ends in 2038 (glibc 2.34 and later; musl has it always)
override CPPFLAGS += -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
override LDLIBS += -lpthread

MUSL_CC = musl-gcc
SAN_FLAGS = -g -O1 -fno-omit-frame-pointer -DTHREAD_STACK_SIZE=1048576

-include config.mak

all: $(prog)

$(prog): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

# each object's headers, as the compiler found them
%.o: %.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(SRCS:.c=.d)

$(LIB): $(LIB_SRCS:.c=.o)
	rm -f $@
	$(AR) rc $@ $^

tests/unit/%_test: tests/unit/%_test.c tests/unit/unit.h tests/unit/unit_addr.h $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) -I. -o $@ $< $(LIB) $(LDLIBS)

tests/fuzz/%_replay: tests/fuzz/%_fuzz.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DFUZZ_REPLAY -I. -o $@ $< tests/fuzz/replay.c $(LIB) $(LDLIBS)

# the library again, instrumented for libFuzzer and the sanitizers
tests/fuzz/obj/%.o: %.c
	@mkdir -p tests/fuzz/obj
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -MMD -MP -c -o $@ $<

-include $(FUZZ_OBJS:.o=.d)

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@
	$(AR) rc $@ $^

tests/fuzz/%_fuzz: tests/fuzz/%_fuzz.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -I. -o $@ $< $(FUZZ_LIB) $(LDLIBS)

units: $(UNIT_TESTS)

test: $(prog) $(UNIT_TESTS)
	MICROSOCKS=$${MICROSOCKS:-./$(prog)} UNIT_TESTS="$(UNIT_TESTS)" sh tests/run

# the whole suite again under the sanitizers, built from scratch; the
# instrumented build is removed whatever the outcome, for a later `make
# stress` or `make fuzz` would take it for the plain one
asan:
	$(MAKE) clean
	$(MAKE) test CFLAGS="$(SAN_FLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined"; st=$$?; $(MAKE) clean; exit $$st

tsan:
	$(MAKE) clean
	$(MAKE) test CFLAGS="$(SAN_FLAGS) -fsanitize=thread" LDFLAGS="-fsanitize=thread"; \
		st=$$?; $(MAKE) clean; exit $$st

# the static musl binary must stay under 128 KiB; -z noseparate-code
# keeps the linker from padding its segments to pages, and --gc-sections
# drops the parts of libc's objects that nothing calls. -z norelro: musl
# makes no part of a static (not PIE) binary read-only after start (its
# RELRO pages are mapped rw-p all along), so the RELRO segment protects
# nothing, but its end aligned to a page cost up to 4 KiB of padding
static: $(prog)-static

$(prog)-static: $(SRCS) *.h Makefile
	$(MUSL_CC) -static -Os -s -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections -Wl,--gc-sections -Wl,-z,noseparate-code -Wl,-z,norelro $(CPPFLAGS) -Wall -Wextra -std=c11 -o $@ $(SRCS) -lpthread
	@echo "$@: $$(wc -c < $@) bytes"
	@test $$(wc -c < $@) -lt 131072 || { echo "$@: not under 128 KiB"; rm -f $@; exit 1; }

# the parsers, which tests/pure.sh holds to bytes in, a result out
PARSERS = addr args logfmt proxyproto rules socks4 socks5 userline

check: $(prog)
	mandoc -Tlint -Wwarning $(prog).1
	for h in *.h; do $(CC) $(CPPFLAGS) -fsyntax-only -x c $$h || exit 1; done
	sh tests/pure.sh $(PARSERS)

install: $(prog)
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1
	install -m 755 $(prog) $(DESTDIR)$(bindir)/$(prog)
	install -m 644 $(prog).1 $(DESTDIR)$(mandir)/man1/$(prog).1
	install -d $(DESTDIR)$(prefix)/lib/systemd/system
	for u in $(prog).service $(prog).socket $(prog)@.service; do \
		sed 's|@bindir@|$(bindir)|g' $$u > $(DESTDIR)$(prefix)/lib/systemd/system/$$u && \
		chmod 644 $(DESTDIR)$(prefix)/lib/systemd/system/$$u || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(bindir)/$(prog) $(DESTDIR)$(mandir)/man1/$(prog).1
	rm -f $(DESTDIR)$(prefix)/lib/systemd/system/$(prog).service \
		$(DESTDIR)$(prefix)/lib/systemd/system/$(prog).socket \
		$(DESTDIR)$(prefix)/lib/systemd/system/$(prog)@.service

clean:
	rm -f $(prog) $(prog)-static $(OBJS) $(SRCS:.c=.d) $(LIB) $(UNIT_TESTS) $(FUZZ_BINS)
	rm -rf cross tests/fuzz/obj $(FUZZ_LIB)

# each libFuzzer target for FUZZ_TIME seconds, keeping in its corpus what
# adds coverage, then FUZZ_STREAMS byte streams at the handshake
fuzz: $(prog) $(FUZZ_BINS)
	sh tests/fuzz/run $(FUZZ_TIME) $(FUZZ_TARGETS)
	MS_FUZZ_STREAMS=$(FUZZ_STREAMS) MICROSOCKS=$${MICROSOCKS:-./$(prog)} sh tests/run fuzz_handshake

.PHONY: all units test asan tsan fuzz static check install uninstall clean

# the benchmark against a direct connection and the installed peers, see
# bench/README; options through BENCH_ARGS="...", the peers that
# bench/peers.sh built under DIR through PEERS=DIR
bench: $(prog)
	$(MAKE) -C bench run $(if $(PEERS),PEERS=$(abspath $(PEERS)))
	/usr/bin/python3 bench/plot.py

.PHONY: bench

# fault and load cases (tests/stress.py, stress_*): a few minutes, MS_STRESS_SOAK=secs for the soak
stress: $(prog)
	MICROSOCKS=$${MICROSOCKS:-./$(prog)} MS_STRESS=1 sh tests/run stress

# black-box cases with the server under valgrind memcheck (tests/valgrind), rebuilt with -g;
# any error or definitely lost block fails. VALGRIND_CASES: a subset that runs in about a
# minute; VALGRIND_CASES= runs all (4-5 minutes), where password_hidden_in_cmdline,
# ops_users_crypt, ops_syslog_quiet and bind_wait_not_cut_short cannot pass under valgrind
VALGRIND_SCALE = 4
VALGRIND_CASES = reply greeting_bad_version method_none_acceptable auth split_handshake $\
	pipelined connect_ipv4_bnd connect_domain half_close large_transfer concurrent_clients $\
	handshake_timeout_partial idle_timeout socks4_connect_raw socks4a_connect_raw $\
	socks4_rejects bind_socks5 bind_timeout bind_no_fd_leak fd_exhaustion udp_ipv4_raw $\
	udp_domain udp_ends_with_tcp rules_deny_connect ops_users_reload ops_auth_once_max $\
	ops_log_format ops_drain_transfer
valgrind:
	$(MAKE) clean
	$(MAKE) $(prog) CFLAGS="-g -O1"
	MICROSOCKS=tests/valgrind MS_TEST_TIME_SCALE=$(VALGRIND_SCALE) sh tests/run $(VALGRIND_CASES); \
		st=$$?; $(MAKE) clean; exit $$st

# static analysis of the server's sources; any finding fails. Left out of clang-tidy as noise:
# swappable parameters, memcpy_s advice, widening of constant products, char narrowing,
# !memcmp() style, length-counted copies without a NUL, and va_list passed down (false reports)
TIDY_CHECKS = clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters,$\
	-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,$\
	-bugprone-implicit-widening-of-multiplication-result,-bugprone-narrowing-conversions,$\
	-bugprone-suspicious-string-compare,-bugprone-not-null-terminated-result,$\
	-clang-analyzer-valist.Uninitialized
analyze:
	cppcheck -q --enable=warning,portability,performance --error-exitcode=1 --inline-suppr \
		--std=c11 $(CPPFLAGS) $(SRCS)
	clang-tidy --quiet --checks='-*,$(TIDY_CHECKS)' --warnings-as-errors='*' $(SRCS) -- \
		$(CPPFLAGS) -std=c11

.PHONY: stress valgrind analyze

# The suite for another machine: built with Debian's cross compiler, run under qemu-user, in a
# copy of the tree under cross/ARCH (so that several run side by side). The server runs through
# cross/ARCH/microsocks-qemu, a script that starts it under the emulator, the unit tests with
# the emulator's command line in MS_QEMU. ARCH: aarch64 armhf mips i386.
# CROSS_CASES: the black-box cases to run (empty: all); CROSS_SCALE stretches every deadline.
ARCH = aarch64
CROSS_aarch64 = aarch64-linux-gnu
CROSS_armhf = arm-linux-gnueabihf
CROSS_mips = mips-linux-gnu
CROSS_i386 = i686-linux-gnu
QEMU_aarch64 = qemu-aarch64
QEMU_armhf = qemu-arm
QEMU_mips = qemu-mips
QEMU_i386 = qemu-i386
# qemu-i386 7.2 hangs in the first pthread_create() of a dynamically linked
# glibc program (five lines show it); a static one runs
CROSS_LDFLAGS_i386 = -static
CROSS_CASES =
CROSS_SCALE = 3
CROSS_DIR = $(CURDIR)/cross/$(ARCH)
CROSS_QEMU = $(QEMU_$(ARCH)) -L /usr/$(CROSS_$(ARCH))
cross-test:
	@test -n "$(CROSS_$(ARCH))" || { echo "cross-test: ARCH=$(ARCH): one of aarch64 armhf mips i386"; exit 1; }
	rm -rf $(CROSS_DIR) && mkdir -p $(CROSS_DIR)
	tar -c --exclude=./cross --exclude=./.git --exclude='*.o' --exclude=./$(prog) . | tar -x -C $(CROSS_DIR)
	$(MAKE) -C $(CROSS_DIR) -s clean
	$(MAKE) -C $(CROSS_DIR) -s CC=$(CROSS_$(ARCH))-gcc LDFLAGS="$(CROSS_LDFLAGS_$(ARCH))" all units
	printf '#!/bin/sh\nexec %s %s "$$@"\n' "$(CROSS_QEMU)" $(CROSS_DIR)/$(prog) > $(CROSS_DIR)/$(prog)-qemu
	chmod +x $(CROSS_DIR)/$(prog)-qemu
	cd $(CROSS_DIR) && MS_QEMU="$(CROSS_QEMU)" MS_QEMU_BINARY=$(CROSS_DIR)/$(prog) \
		MS_TEST_ARCH=$(ARCH) MS_TEST_TIME_SCALE=$(CROSS_SCALE) MICROSOCKS=$(CROSS_DIR)/$(prog)-qemu \
		UNIT_TESTS="$(UNIT_TESTS)" sh tests/run $(CROSS_CASES)

.PHONY: cross-test
