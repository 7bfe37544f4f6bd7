/* SPDX-License-Identifier: MIT */
/* Client threads on small stacks of their own, kept for the next client
 * when they are done, and joined by a reaper thread when they end.
 *
 * A thread serves one client at a time, from its first byte to its close.
 * Done with it, the thread waits, parked, for the next client: handing a
 * client to a parked thread costs a wake-up, where a new thread costs a
 * clone(), its TLS and stack set up, and page faults. Parked threads are
 * bounded in number and end when the server has been idle a while.
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

/* threads that wait, parked, for a client at most */
#ifndef THREAD_SPARES
#define THREAD_SPARES 64
#endif

/* how long all is quiet before the parked threads end and the idle
 * callback runs */
#define IDLE_DELAY_MS 2000

struct thread {
	pthread_t pt;
	pthread_cond_t wake;	/* a parked thread waits on it */
	void (*fn)(void *);	/* the work handed over; NULL: end */
	int waiting;		/* parked, under lock */
	char *map;		/* the stack's mapping, guard page first */
	size_t mapsize;
	struct thread *next;	/* on the parked or the ended list */
	union {
		unsigned char bytes[THREAD_ARGSIZE];
		long double align;
		void *ptr;
	} arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_wake;
/* under lock: */
static struct thread *parked;	/* waiting for a client */
static int nparked;
static struct thread *ended;	/* to be joined */
static int busy;		/* threads serving a client */
static long long quiet_since;	/* when busy last fell to 0, in ms */
static int idled;		/* all was quiet since the last client */

static void (*idle_fn)(void);
static size_t pagesize;

/* the lowest stack address of a thread started here, 0 on others */
static _Thread_local uintptr_t stack_lo;

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
thread_free(struct thread *t)
{
	pthread_cond_destroy(&t->wake);
	munmap(t->map, t->mapsize);
	free(t);
}

/* a thread struct with its stack, or NULL with errno set */
static struct thread *
thread_new(void)
{
	struct thread *t;
	size_t size = THREAD_STACK_SIZE;

	if (size < (size_t)PTHREAD_STACK_MIN)
		size = (size_t)PTHREAD_STACK_MIN;
	size = (size + pagesize - 1) & ~(pagesize - 1);
	t = malloc(sizeof *t);
	if (!t)
		return NULL;
	if (pthread_cond_init(&t->wake, NULL) != 0) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->mapsize = size + pagesize;
	t->map = mmap(NULL, t->mapsize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (t->map == MAP_FAILED) {
		pthread_cond_destroy(&t->wake);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	/* a guard page below the stack: an overflow faults, corrupts not */
	if (mprotect(t->map, pagesize, PROT_NONE) < 0) {
		thread_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

/* With lock held: parks t until it is handed a client (returns 1) or
 * told to end (returns 0). */
static int
park(struct thread *t)
{
	if (nparked >= THREAD_SPARES || idled)
		return 0;
	t->fn = NULL;
	t->next = parked;
	parked = t;
	nparked++;
	/* thread_start() and unpark_all() take t off the list */
	t->waiting = 1;
	while (t->waiting)
		pthread_cond_wait(&t->wake, &lock);
	return t->fn != NULL;
}

static void *
start(void *arg)
{
	struct thread *t = arg;

	stack_lo = (uintptr_t)t->map + pagesize;
	for (;;) {
		t->fn(&t->arg);
		pthread_mutex_lock(&lock);
		/* the reaper sees when the last one went, on its own time:
		 * a wake-up per client would cost more than it saves */
		if (--busy == 0)
			quiet_since = mono_ms();
		if (!park(t))
			break;
		pthread_mutex_unlock(&lock);
	}
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
	at = (busy > 0 ? mono_ms() : quiet_since) + IDLE_DELAY_MS;
	ts.tv_sec = (time_t)(at / 1000);
	ts.tv_nsec = (long)(at % 1000) * 1000000L;
	pthread_cond_timedwait(&reaper_wake, &lock, &ts);
	return !ended && busy == 0 && mono_ms() >= quiet_since + IDLE_DELAY_MS;
}

/* With lock held: ends the parked threads. */
static void
unpark_all(void)
{
	struct thread *t, *next;

	for (t = parked; t; t = next) {
		next = t->next;
		t->fn = NULL;
		t->waiting = 0;
		pthread_cond_signal(&t->wake);
	}
	parked = NULL;
	nparked = 0;
}

static void *
reaper(void *unused)
{
	struct thread *t, *next;

	(void)unused;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (!ended) {
			if (reaper_wait()) {
				/* all quiet: give everything back */
				idled = 1;
				unpark_all();
				pthread_mutex_unlock(&lock);
				idle_fn();
				pthread_mutex_lock(&lock);
			}
			continue;
		}
		t = ended;
		ended = NULL;
		pthread_mutex_unlock(&lock);
		for (; t; t = next) {
			next = t->next;
			/* returns once the thread is off its stack */
			pthread_join(t->pt, NULL);
			thread_free(t);
		}
		pthread_mutex_lock(&lock);
	}
	return NULL;
}

int
thread_init(void (*idle)(void))
{
	pthread_condattr_t ca;
	pthread_t pt;
	int err;

	pagesize = (size_t)sysconf(_SC_PAGESIZE);
	idle_fn = idle;
	quiet_since = mono_ms();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&reaper_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (!err)
		err = pthread_create(&pt, NULL, reaper, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int
thread_start(void (*fn)(void *), const void *arg, size_t len)
{
	pthread_attr_t attr;
	struct thread *t;
	int err;

	if (len > THREAD_ARGSIZE) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	busy++;
	/* the reaper waits for nothing but ended threads when idle */
	if (idled) {
		idled = 0;
		pthread_cond_signal(&reaper_wake);
	}
	t = parked;
	if (t) {
		parked = t->next;
		nparked--;
		memcpy(&t->arg, arg, len);
		t->fn = fn;
		t->waiting = 0;
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	pthread_mutex_unlock(&lock);

	t = thread_new();
	if (!t) {
		err = errno;
		goto fail;
	}
	t->fn = fn;
	memcpy(&t->arg, arg, len);
	pthread_attr_init(&attr);
	err = pthread_attr_setstack(&attr, t->map + pagesize,
	    t->mapsize - pagesize);
	if (!err)
		err = pthread_create(&t->pt, &attr, start, t);
	pthread_attr_destroy(&attr);
	if (!err)
		return 0;
	thread_free(t);
fail:
	pthread_mutex_lock(&lock);
	if (--busy == 0)
		quiet_since = mono_ms();
	pthread_mutex_unlock(&lock);
	errno = err;
	return -1;
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
