/* SPDX-License-Identifier: MIT */
/* Client threads on small stacks of their own, joined by a reaper thread
 * as soon as they end, and their stacks unmapped.
 *
 * The stacks are ours, not the libc's, for two reasons: an idle thread's
 * stack is its main cost, and knowing the stack's bounds lets a thread
 * give back the pages that a deep call touched (thread_trim_stack); and
 * glibc keeps up to 40 MiB of the stacks of ended threads, with pages
 * still resident, where an unmapped stack gives its memory back. */
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

struct thread {
	pthread_t pt;
	void (*fn)(void *);
	char *map;		/* the stack's mapping, guard page first */
	size_t mapsize;
	struct thread *next;	/* on the list of ended threads */
	union {
		unsigned char bytes[THREAD_ARGSIZE];
		long double align;
		void *ptr;
	} arg;
};

/* how long all is quiet before the idle callback runs */
#define IDLE_DELAY_MS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static struct thread *ended;	/* under lock, like the two below */
static int live;		/* threads started and not yet joined */
static int idled;		/* the idle callback ran since the last start */
static void (*idle_fn)(void);
static size_t pagesize;

/* the lowest stack address of a thread started here, 0 on others */
static _Thread_local uintptr_t stack_lo;

static void
thread_free(struct thread *t)
{
	munmap(t->map, t->mapsize);
	free(t);
}

/* waits, with lock held, until threads ended or all was quiet a while;
 * returns 1 for the latter */
static int
reaper_wait(void)
{
	struct timespec ts;

	if (live > 0 || idled) {
		pthread_cond_wait(&cond, &lock);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += IDLE_DELAY_MS / 1000;
	ts.tv_nsec += IDLE_DELAY_MS % 1000 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_cond_timedwait(&cond, &lock, &ts) == ETIMEDOUT &&
	    !ended && live == 0;
}

static void *
reaper(void *unused)
{
	struct thread *t, *next;
	int n;

	(void)unused;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (!ended) {
			if (reaper_wait()) {
				idled = 1;
				pthread_mutex_unlock(&lock);
				idle_fn();
				pthread_mutex_lock(&lock);
			}
			continue;
		}
		t = ended;
		ended = NULL;
		pthread_mutex_unlock(&lock);
		for (n = 0; t; t = next, n++) {
			next = t->next;
			/* returns once the thread is off its stack */
			pthread_join(t->pt, NULL);
			thread_free(t);
		}
		pthread_mutex_lock(&lock);
		live -= n;
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
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!err)
		err = pthread_create(&pt, NULL, reaper, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static void *
start(void *arg)
{
	struct thread *t = arg;

	stack_lo = (uintptr_t)t->map + pagesize;
	t->fn(&t->arg);
	pthread_mutex_lock(&lock);
	t->next = ended;
	ended = t;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
thread_start(void (*fn)(void *), const void *arg, size_t len)
{
	pthread_attr_t attr;
	struct thread *t;
	size_t size = THREAD_STACK_SIZE;
	int err;

	if (size < (size_t)PTHREAD_STACK_MIN)
		size = (size_t)PTHREAD_STACK_MIN;
	size = (size + pagesize - 1) & ~(pagesize - 1);
	t = malloc(sizeof *t);
	if (!t)
		return -1;
	t->fn = fn;
	memcpy(&t->arg, arg, len);
	t->mapsize = size + pagesize;
	t->map = mmap(NULL, t->mapsize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (t->map == MAP_FAILED) {
		free(t);
		return -1;
	}
	/* a guard page below the stack: an overflow faults, corrupts not */
	if (mprotect(t->map, pagesize, PROT_NONE) < 0)
		goto fail;
	pthread_attr_init(&attr);
	err = pthread_attr_setstack(&attr, t->map + pagesize, size);
	pthread_mutex_lock(&lock);
	if (!err)
		err = pthread_create(&t->pt, &attr, start, t);
	if (!err) {
		live++;
		idled = 0;
	}
	pthread_mutex_unlock(&lock);
	pthread_attr_destroy(&attr);
	if (err) {
		errno = err;
		goto fail;
	}
	return 0;
fail:
	err = errno;
	thread_free(t);
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
