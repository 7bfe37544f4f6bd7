/* SPDX-License-Identifier: MIT */
/* Client threads on small stacks of their own, that take their clients
 * themselves, and are kept for the next client when they are done.
 *
 * A thread serves one client at a time, from its first byte to its close.
 * Done with it, the thread is a spare, and waits in take() for the next
 * one: a client taken by the thread that serves it costs one wake-up,
 * where a client handed over from an accepting thread costs two, in turn,
 * both in its handshake's time; and a new thread costs a clone(), its
 * TLS and stack set up, and page faults. There is always a spare, unless
 * no thread could be had: the one that takes the last spare's place
 * starts another. Spares are bounded in number, and those beyond the
 * first end when they had no client for a while.
 *
 * The stacks are ours, not the libc's: an idle thread's stack is its main
 * cost, and knowing the stack's bounds lets a thread give back the pages
 * that a deep call touched (thread_trim_stack); and glibc keeps up to
 * 40 MiB of the stacks of ended threads, where an unmapped stack gives its
 * memory back. */
#include <sys/mman.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "thread.h"

#ifndef MAP_STACK
#define MAP_STACK 0
#endif

/* Stack of a client thread. Its own frames need a few KiB; the rest is
 * for getaddrinfo(), which in glibc may load NSS modules that use more. */
#ifndef THREAD_STACK_SIZE
#if defined(__GLIBC__)
#define THREAD_STACK_SIZE (64 * 1024)
#else
#define THREAD_STACK_SIZE (32 * 1024)
#endif
#endif

/* spare threads at most */
#ifndef THREAD_SPARES
#define THREAD_SPARES 64
#endif

/* How long a spare waits for a client before it ends, and how long all
 * is quiet before the idle callback runs. */
#define IDLE_DELAY_MS 2000

struct thread {
	pthread_t pt;
	int serving;		/* started with a client in arg */
	char *map;		/* the stack's mapping, guard page first */
	size_t mapsize;
	struct thread *next;	/* on the ended list */
	union {
		unsigned char bytes[THREAD_ARGSIZE];
		long double align;
		void *ptr;
	} arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_wake;
static pthread_cond_t reaped;	/* the reaper joined what had ended */
/* under lock: */
static struct thread *ended;	/* to be joined */
static int reaping;		/* the reaper joins threads off the list */
static int stopping;		/* the process exits: no thread ends */
static int spares;		/* threads in take(), or about to be */
static int want_spare;		/* the reaper is to start one */
static int busy;		/* threads serving a client */
static long long quiet_since;	/* when busy last fell to 0, in ms */
static int idled;		/* all was quiet since the last client */

static const struct thread_ops *ops;
static size_t pagesize;
static size_t stacksize;	/* of every mapping, guard page not counted */

/* the lowest stack address of a thread started here, 0 on others */
static _Thread_local uintptr_t stack_lo;

static void
thread_free(struct thread *t)
{
	munmap(t->map, t->mapsize);
}

/* The length of a stack mapping, guard page not counted: THREAD_STACK_SIZE,
 * or more where the platform needs more. The libc refuses a stack below
 * its least (PTHREAD_STACK_MIN: 16 KiB with glibc on x86-64, 128 KiB on
 * aarch64 and MIPS; a sysconf() in newer glibc, so read both), and the
 * stack the libc is given is what is left under the struct thread kept at
 * the top of the mapping, rounded down to 64 bytes: the least plus that
 * room, in whole pages. */
static size_t
stack_mapsize(void)
{
	long min = sysconf(_SC_THREAD_STACK_MIN);
	size_t need, size = THREAD_STACK_SIZE;

	if (min < (long)PTHREAD_STACK_MIN)
		min = (long)PTHREAD_STACK_MIN;
	need = (size_t)min + sizeof(struct thread) + 64;
	if (size < need)
		size = need;
	return (size + pagesize - 1) & ~(pagesize - 1);
}

/* A thread struct at the top of its stack's mapping, the page that the
 * thread's first frames touch anyway; or NULL with errno set. Not from
 * malloc(): in glibc, a thread's first malloc() costs it a cache of its
 * own, half a KiB for as long as it lives. */
static struct thread *
thread_new(void)
{
	struct thread *t;
	size_t size = stacksize;
	char *map;

	map = mmap(NULL, size + pagesize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	/* a guard page below the stack: an overflow faults, corrupts not */
	if (mprotect(map, pagesize, PROT_NONE) < 0) {
		munmap(map, size + pagesize);
		errno = ENOMEM;
		return NULL;
	}
	t = (struct thread *)(map + size + pagesize) - 1;
	t->map = map;
	t->mapsize = size + pagesize;
	return t;
}

/* With lock held: one more thread serves a client. */
static void
busy_inc(void)
{
	busy++;
	/* the reaper waits for nothing but ended threads when idle */
	if (idled) {
		idled = 0;
		pthread_cond_signal(&reaper_wake);
	}
}

/* With lock held: one thread fewer serves a client. The reaper sees when
 * the last one went on its own time: a wake-up per client would cost
 * more than it saves. */
static void
busy_dec(void)
{
	if (--busy == 0)
		quiet_since = now_ms();
}

static void *start(void *arg);

/* Starts a thread: serving the client in arg, or a spare without one.
 * Returns 0, or -1 with errno set. */
static int
spawn(const void *arg, size_t len)
{
	pthread_attr_t attr;
	struct thread *t;
	int err;

	t = thread_new();
	if (!t)
		return -1;
	t->serving = arg != NULL;
	if (arg)
		memcpy(&t->arg, arg, len);
	pthread_attr_init(&attr);
	/* the stack: from the guard page up to t, aligned */
	err = pthread_attr_setstack(&attr, t->map + pagesize,
	    ((size_t)((char *)t - t->map) & ~(size_t)63) - pagesize);
	if (!err)
		err = pthread_create(&t->pt, &attr, start, t);
	pthread_attr_destroy(&attr);
	if (!err)
		return 0;
	thread_free(t);
	errno = err;
	return -1;
}

/* Starts a spare. Returns 0, or -1 with errno set. */
static int
spare_start(void)
{
	pthread_mutex_lock(&lock);
	spares++;
	pthread_mutex_unlock(&lock);
	if (spawn(NULL, 0) == 0)
		return 0;
	pthread_mutex_lock(&lock);
	spares--;
	pthread_mutex_unlock(&lock);
	return -1;
}

static void *
start(void *arg)
{
	struct thread *t = arg;
	int serving = t->serving, last;

	stack_lo = (uintptr_t)t->map + pagesize;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (serving) {
			pthread_mutex_unlock(&lock);
			ops->serve(&t->arg);
			pthread_mutex_lock(&lock);
			busy_dec();
			if (spares >= THREAD_SPARES)
				break;
			spares++;
		}
		/* the last spare stays, and need not look at the clock */
		last = spares == 1;
		pthread_mutex_unlock(&lock);
		serving = ops->take(&t->arg, last ? -1 : IDLE_DELAY_MS);
		pthread_mutex_lock(&lock);
		if (!serving) {
			/* no client for a while */
			if (spares > 1) {
				spares--;
				break;
			}
			continue;
		}
		spares--;
		busy_inc();
		/* The next client needs a thread to take it. The reaper
		 * starts it: this thread has a client waiting, and in glibc
		 * a thread that starts another costs itself a malloc()
		 * cache of its own, half a KiB for as long as it lives. */
		if (spares == 0) {
			want_spare = 1;
			pthread_cond_signal(&reaper_wake);
		}
	}
	/* The process exits: stay, for a thread that ended after
	 * thread_stop() would be left unjoined. */
	while (stopping)
		pthread_cond_wait(&reaped, &lock);
	t->next = ended;
	ended = t;
	pthread_cond_signal(&reaper_wake);
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* With lock held: waits until threads ended, or until it is time to
 * look again whether all was quiet a while (returns 1 then). */
static int
reaper_wait(void)
{
	struct timespec ts;
	long long at;

	if (idled) {
		pthread_cond_wait(&reaper_wake, &lock);
		return 0;
	}
	at = (busy > 0 ? now_ms() : quiet_since) + IDLE_DELAY_MS;
	ts.tv_sec = (time_t)(at / 1000);
	ts.tv_nsec = (long)(at % 1000) * 1000000L;
	pthread_cond_timedwait(&reaper_wake, &lock, &ts);
	return !ended && busy == 0 && now_ms() >= quiet_since + IDLE_DELAY_MS;
}

static void *
reaper(void *unused)
{
	struct thread *t, *next;

	(void)unused;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (want_spare) {
			want_spare = 0;
			pthread_mutex_unlock(&lock);
			if (spare_start() < 0)
				ops->no_spares();
			pthread_mutex_lock(&lock);
			continue;
		}
		if (!ended) {
			if (reaper_wait()) {
				/* all quiet: give back what is left over */
				idled = 1;
				pthread_mutex_unlock(&lock);
				ops->idle();
				pthread_mutex_lock(&lock);
			}
			continue;
		}
		t = ended;
		ended = NULL;
		reaping = 1;
		pthread_mutex_unlock(&lock);
		for (; t; t = next) {
			next = t->next;
			/* returns once the thread is off its stack, where t
			 * is */
			pthread_join(t->pt, NULL);
			thread_free(t);
		}
		pthread_mutex_lock(&lock);
		reaping = 0;
		pthread_cond_broadcast(&reaped);
	}
	return NULL;
}

int
thread_init(const struct thread_ops *o)
{
	pthread_condattr_t ca;
	pthread_t pt;
	int err;

	pagesize = (size_t)sysconf(_SC_PAGESIZE);
	stacksize = stack_mapsize();
	ops = o;
	quiet_since = now_ms();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&reaper_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (!err)
		err = pthread_cond_init(&reaped, NULL);
	if (!err)
		err = pthread_create(&pt, NULL, reaper, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	return spare_start();
}

int
thread_start(const void *arg, size_t len)
{
	if (len > THREAD_ARGSIZE) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	busy_inc();
	pthread_mutex_unlock(&lock);
	if (spawn(arg, len) == 0)
		return 0;
	pthread_mutex_lock(&lock);
	busy_dec();
	pthread_mutex_unlock(&lock);
	return -1;
}

void
thread_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	/* the threads on the list have returned, or are about to */
	while (ended || reaping)
		pthread_cond_wait(&reaped, &lock);
	pthread_mutex_unlock(&lock);
}

int
thread_spares(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = spares;
	pthread_mutex_unlock(&lock);
	return n;
}

void
thread_trim_stack(size_t margin)
{
	uintptr_t end;

	if (!stack_lo)
		return;
	end = ((uintptr_t)__builtin_frame_address(0) - margin) &
	    ~(uintptr_t)(pagesize - 1);
	if (end > stack_lo)
		madvise((void *)stack_lo, end - stack_lo, MADV_DONTNEED);
}
