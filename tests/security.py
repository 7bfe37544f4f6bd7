"""Black-box cases for the claims of SECURITY (the threat model): what a client that has not
authenticated can make the server do, and what it cannot.

Imported by tests/runner.py; the cases register with harness's @case; `sh tests/run security`
selects them. The other claims of SECURITY are checked by the cases it names.
"""

import os
import re
import socket
import time

from ops import temp_dir, write_file
from harness import (
    CONNECT, NO_ACCEPTABLE, NOAUTH, REP_OK, USERPASS, Closed, Fail, Server, SocksClient, T, Target,
    check, connect_request, greeting, is_readable, socks4_request, tunnel, PASSWORD, USER, auth_server,
    case, open_fds, wait_fds_down_to)

# the server keeps at most this much of a handshake (HS_BUFSIZE in sockssrv.c)
HANDSHAKE_MAX = 1536


def no_connection(target, quiet=0.5):
    """1 when target accepts no connection for quiet seconds."""
    try:
        target.next_peer(quiet)
    except Fail:
        return True
    return False


def closed_soon(c, what, timeout=None):
    """c's server side closes (EOF or reset) within timeout; returns the bytes it sent first."""
    try:
        return c.recv_until_eof(T.IO if timeout is None else timeout)
    except (ConnectionResetError, Closed):
        return b''
    except OSError as e:
        raise AssertionError(f'{what}: {e}') from e


@case
def security_unauthenticated_request():
    """With -u/-P, a client that offers only no-auth and sends CONNECT, BIND and UDP requests
    right after its greeting gets 05 FF and a close; the target sees no connection."""
    server = auth_server()
    target = Target()
    for cmd in (CONNECT, 2, 3):
        c = SocksClient(server.address)
        c.send(greeting(NOAUTH) + connect_request('127.0.0.1', target.port, cmd=cmd))
        reply = closed_soon(c, f'command {cmd}')
        check(reply == bytes([5, NO_ACCEPTABLE]), f'command {cmd} without auth: reply {reply!r}')
    check(no_connection(target), 'the target was reached without authentication')


@case
def security_same_answer_any_user():
    """A wrong password for a known user and any password for an unknown user get the same
    bytes back and a close: the replies do not tell which users exist."""
    server = auth_server()
    answers = []
    for user, password in ((USER, 'wrong'), ('nobody-' + USER, PASSWORD), ('nobody', 'wrong')):
        c = SocksClient(server.address)
        check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
        c.send(bytes([1, len(user)]) + user.encode() + bytes([len(password)]) + password.encode())
        answers.append(closed_soon(c, f'{user}/{password}'))
    check(len(set(answers)) == 1 and answers[0][:1] == b'\x01' and answers[0][1:2] != b'\x00',
          f'answers differ or accept: {answers!r}')


@case
def security_handshake_bounded():
    """A client cannot make the server hold more of a handshake than its fields allow: a SOCKS4 user
    id still short of the 255-byte bound is waited for (handshake timeout 60 s), one that never
    ends is refused as soon as it passes the bound (and long before the handshake buffer, which
    bounds the pipelined rest); the server's fds return to what they were."""
    server = Server('--handshake-timeout', '60')
    target = Target()
    # a first client opens the fds kept for good (the spare one for running out)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.close()
    server.wait_line(re.compile(r' CONNECT .*bytes'))
    before = open_fds(server)
    head = socks4_request(1, '127.0.0.1', 80, userid=b'', nul=False)
    fits = SocksClient(server.address)
    fits.send(head + b'u' * 200)
    grows = SocksClient(server.address)
    grows.send(head + b'u' * (HANDSHAKE_MAX - len(head) + 100))
    start = time.monotonic()
    reply = closed_soon(grows, 'user id beyond the bound')
    check(reply in (b'', bytes([0, 91, 0, 0, 0, 0, 0, 0])), f'reply {reply!r}')
    took = time.monotonic() - start
    check(took < T.IO, f'closed after {took:.1f}s, not at once')
    check(not is_readable(fits.sock, 0.5), 'a user id within the bound was refused')
    fits.close()
    grows.close()
    wait_fds_down_to(server, before)


@case
def security_log_cannot_be_forged():
    """Names chosen by the client (a SOCKS5 host name, an RFC 1929 user name) reach the log with
    their control characters replaced: no forged line, no escape sequence, no CR or NUL."""
    users = write_file(os.path.join(temp_dir(), 'users'), 'bob:pw-bob\n')
    server = auth_server('--users', users)
    evil = 'x\nmicrosocks: forged\r\x1b[31m\x7f'
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    c.send(bytes([1, len(evil)]) + evil.encode() + bytes([1]) + b'p')
    closed_soon(c, 'evil user')
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    check(c.auth(USER, PASSWORD) == 0, 'correct credentials rejected')
    c.send(connect_request(evil + '.invalid', 80))
    closed_soon(c, 'evil host')
    server.wait_line(re.compile(r'invalid'))
    server.wait_line(re.compile(r'auth failed'))
    for line in server.stderr().splitlines():
        check(not line.startswith('microsocks: forged'), f'forged line: {line!r}')
        check(not re.search(r'[\x00-\x1f\x7f]', line), f'control character in {line!r}')


@case
def security_authenticated_denied_by_name():
    """An authenticated client asking for a name that resolves to a --deny range gets 0x02 and the
    target is not reached (the check is made on the address, after resolution)."""
    server = auth_server('--deny', '127.0.0.0/8,[::1]')
    target = Target()
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    check(c.auth(USER, PASSWORD) == 0, 'correct credentials rejected')
    r = c.request('localhost', target.port)
    check(r.rep == 2, f'CONNECT localhost:{target.port} with --deny 127.0.0.0/8: reply {r.rep:#04x}')
    check(no_connection(target), 'the denied target was reached')
    c, r = tunnel(Server(), '127.0.0.1', target.port)
    check(r.rep == REP_OK, 'a server without --deny does not reach the target: the case proves nothing')
