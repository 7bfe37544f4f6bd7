/* SPDX-License-Identifier: MIT */
/* Client threads on small stacks of their own, that take their clients
 * themselves; joined by a reaper thread as soon as they end, and their
 * stacks unmapped. */
#ifndef THREAD_H
#define THREAD_H

#include <stddef.h>

/* room for a client, as thread_start() and take() pass it on */
#define THREAD_ARGSIZE 64

struct thread_ops {
	/* Waits, for timeout_ms at most (-1: for as long as it takes),
	 * for a client and takes it into arg (THREAD_ARGSIZE bytes): 1
	 * when it did, else 0. Runs on the spare threads, several at a
	 * time. */
	int (*take)(void *arg, int timeout_ms);
	/* serves the client in arg, to its end */
	void (*serve)(void *arg);
	/* No spare thread is left to take clients, for want of threads or
	 * memory: until thread_spares() says there is one again, the
	 * caller must take them, with thread_start(). Called on any
	 * thread. */
	void (*no_spares)(void);
	/* all was quiet a while: the time to give back what the busy
	 * times left over; called on the reaper's thread */
	void (*idle)(void);
};

/* Starts the reaper and a first spare thread. Returns 0, or -1 with
 * errno set. */
int thread_init(const struct thread_ops *ops);

/* Serves the client in the len (at most THREAD_ARGSIZE) bytes at arg on
 * a new thread, that is a spare when done. Returns 0, or -1 with errno
 * set when there is no memory or no thread to be had. */
int thread_start(const void *arg, size_t len);

/* Before the process exits: the threads that ended are joined, and
 * those that end from now on wait for the exit instead, so that none is
 * left ended but not joined (which a thread sanitizer reports as a
 * leak). Threads still serving or taking clients go on. */
void thread_stop(void);

/* the threads waiting in take() now */
int thread_spares(void);

/* Gives back the pages of the calling thread's stack below its current
 * frame, but for margin bytes that its later calls may need. Deep calls
 * (name resolution, formatting) touched them once; a thread that then
 * waits for long would hold them for nothing. */
void thread_trim_stack(size_t margin);

#endif /* THREAD_H */
