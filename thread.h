/* SPDX-License-Identifier: MIT */
/* Client threads on small stacks of their own, joined by a reaper thread
 * as soon as they end, and their stacks unmapped. */
#ifndef THREAD_H
#define THREAD_H

#include <stddef.h>

/* room for the argument that thread_start() copies for the thread */
#define THREAD_ARGSIZE 64

/* Starts the reaper, which also calls idle, on its own thread, once all
 * threads have ended and none started for a few seconds: the time to give
 * back what the busy times left over. Returns 0, or -1 with errno set. */
int thread_init(void (*idle)(void));

/* Starts fn on a thread of its own with a copy of the len (at most
 * THREAD_ARGSIZE) bytes at arg, which live as long as the thread. Returns
 * 0, or -1 with errno set when there is no memory or no thread to be had. */
int thread_start(void (*fn)(void *), const void *arg, size_t len);

/* Gives back the pages of the calling thread's stack below its current
 * frame, but for margin bytes that its later calls may need. Deep calls
 * (name resolution, formatting) touched them once; a thread that then
 * waits for long would hold them for nothing. */
void thread_trim_stack(size_t margin);

#endif /* THREAD_H */
