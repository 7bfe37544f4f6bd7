/* SPDX-License-Identifier: MIT */
/* Socket activation and readiness notification, as described in
 * sd_listen_fds(3) and sd_notify(3). */
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "systemd.h"

#define LISTEN_FDS_START 3

int
systemd_listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long p, n, i;
	int flags;

	if (!pid || !fds || args_num(pid, 1, 0x7fffffff, &p) < 0 ||
	    p != (long)getpid() || args_num(fds, 1, 1024, &n) < 0)
		n = 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (i = 0; i < n; i++) {
		int fd = LISTEN_FDS_START + (int)i;

		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return -1;
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
			return -1;
	}
	return (int)n;
}

void
systemd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t n;
	int fd;

	if (!path || (*path != '/' && *path != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	/* "@name" is a name in the abstract namespace */
	if (*path == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* the manager learns nothing if this fails: there is no one to
	 * tell but the log, and the manager's own timeout will */
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}
