"""Black-box cases for running several instances: --reuseport, and (with a real HAProxy in
front) the PROXY protocol.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import re
import subprocess
import sys
import time

from harness import (
    T, Server, Skip, Target, case, check, defer, run_microsocks, tunnel)

SESSION_RE = re.compile(r' CONNECT ')
IN_USE_RE = re.compile(r'microsocks: .*127\.0\.0\.1.*: Address (already )?in use')


def sessions(server):
    """The session lines of CONNECTs the server has logged so far."""
    return [line for line in server.stderr().splitlines() if SESSION_RE.search(line)]


def wait_sessions(servers, n):
    """Waits (T.IO at most) until the servers have logged n CONNECT session lines in all;
    returns the count of each."""
    deadline = time.monotonic() + T.IO
    while True:
        counts = [len(sessions(s)) for s in servers]
        if sum(counts) >= n or time.monotonic() > deadline:
            return counts
        time.sleep(0.01)


def serve_until_both(a, b, target, most=64):
    """Tunnels to target through the shared port until both a and b have served one (at most
    `most` tunnels); returns how many each served."""
    for n in range(1, most + 1):
        c, _ = tunnel(a, *target.address)
        c.echo_check(b'one tunnel')
        c.close()
        counts = wait_sessions((a, b), n)
        check(sum(counts) == n, f'{n} tunnels, but {sum(counts)} session lines')
        if all(counts):
            break
    return counts


@case
def scaleout_reuseport_shared():
    """Two instances with --reuseport on one address and port both start, and both serve
    clients: the kernel spreads new connections over them (at most 64 tunnels until each has
    logged a session). A third one without --reuseport cannot take the port: exit 1, "Address
    already in use"."""
    target = Target()
    a = Server('--reuseport')
    b = Server('--reuseport', port=a.port)
    na, nb = serve_until_both(a, b, target)
    check(na > 0 and nb > 0, f'sessions: {na} on the first instance, {nb} on the second')
    p = run_microsocks(['-i', '127.0.0.1', '-p', str(a.port)])
    check(p.returncode == 1 and IN_USE_RE.search(p.err),
          f'without --reuseport: exit {p.returncode}, stderr {p.err[:200]!r}')


@case
def scaleout_reuseport_other_user():
    """A listener of another user's process on the port, even one with SO_REUSEPORT, makes the
    start with --reuseport fail: exit 1, "Address already in use"; the kernel shares a port only
    among sockets of one user."""
    if os.geteuid() != 0:
        raise Skip('needs root, to run a listener as another user')
    code = ('import os, socket, sys\n'
            'os.setgid(65534); os.setuid(65534)\n'
            's = socket.socket()\n'
            's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n'
            's.bind(("127.0.0.1", 0)); s.listen()\n'
            'print(s.getsockname()[1], flush=True)\n'
            'sys.stdin.read()\n')
    other = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)

    def stop_other():
        other.kill()
        other.wait()
    defer(stop_other)
    port = other.stdout.readline().strip()
    check(port.isdigit(), f'the other user\'s listener said {port!r}')
    p = run_microsocks(['--reuseport', '-i', '127.0.0.1', '-p', port])
    check(p.returncode == 1 and IN_USE_RE.search(p.err),
          f'beside another user\'s listener: exit {p.returncode}, stderr {p.err[:200]!r}')
