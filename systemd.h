/* SPDX-License-Identifier: MIT */
/* The two parts of systemd's service protocol that a daemon needs,
 * with libc alone: socket activation and readiness notification. */
#ifndef SYSTEMD_H
#define SYSTEMD_H

/* The number of listening sockets passed by socket activation (fds 3,
 * 4, ...), made non-blocking and close-on-exec; 0 when there are none.
 * The variables that passed them are removed from the environment. */
int systemd_listen_fds(void);

/* Sends msg ("READY=1", "STOPPING=1") to the service manager when
 * NOTIFY_SOCKET names one; does nothing otherwise. */
void systemd_notify(const char *msg);

#endif /* SYSTEMD_H */
