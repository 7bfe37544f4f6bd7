/* SPDX-License-Identifier: MIT */
/* The listening sockets, and the taking of clients from them: admission
 * by --allow and the client limits, and refusal when resources are short.
 * Spare client threads take their clients themselves; the main thread
 * takes them only when no spare is left. */
#ifndef ACCEPT_H
#define ACCEPT_H

/* Sets up the spare threads' wait for clients, before the first thread
 * starts. Returns 0, or -1 with errno set. */
int accept_init(void);

/* Opens the listeners for the spare threads to take clients from:
 * systemd's sockets, or those of -i and -p, all set up before the first
 * is announced in the log, so that a "listening" line is never followed
 * by a failure to start. Exits on failure. */
void accept_open(void);

/* A spare thread's wait for its next client, as struct thread_ops.take:
 * 1 with a struct client in arg, 0 after timeout_ms (-1: none). */
int accept_take(void *arg, int timeout_ms);

/* No spare thread is left: the main thread takes clients, in
 * accept_serve(), until there is one again; see struct thread_ops. */
void accept_no_spares(void);

/* Takes clients whenever no spare thread does, until sigfd is readable. */
void accept_serve(int sigfd);

/* Admits a balancer's client, whose address its PROXY header told, by
 * --allow and --max-per-ip: NULL, or why it is turned away. */
struct client;
const char *accept_admit(struct client *cl);

/* No client is taken from now on. The listeners are closed, but for
 * systemd's, which it keeps to queue clients for our successor. */
void accept_stop(void);

#endif /* ACCEPT_H */
