"""Black-box cases for the handshake: the greeting and method choice, RFC 1929 user/password
(with -1 and -w), handshakes split one byte per segment or pipelined with data in one write, and
the handshake timeout.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import time

from harness import (
    NO_ACCEPTABLE, NOAUTH, PASSWORD, REP_OK, T, USER, USERPASS, WRONG_PASSWORD, Server, SocksClient,
    Target, auth_request, auth_server, case, check, connect_request, expect_closed_between, greeting,
    hexs, is_readable, need_isolation, noauth_client, tunnel)


# ================================================================ greeting and methods

@case
def greeting_bad_version():
    """A first byte other than 4 or 5 (6, 0, an HTTP request) -> closed without any reply."""
    server = Server()
    for first in (bytes([6, 1, 0]), bytes([0, 1, 0, 80, 127, 0, 0, 1, 0]), b'GET / HTTP/1.0\r\n\r\n'):
        c = SocksClient(server.address)
        c.send(first)
        got = c.recv_until_eof()
        check(got == b'', f'first bytes {hexs(first)}: expected close without reply, got {hexs(got)}')


@case
def method_none_acceptable():
    """05 FF then close: only 02 offered to a no-auth server; only 00 offered to an auth server."""
    for server, offered in ((Server(), USERPASS), (auth_server(), NOAUTH)):
        c = SocksClient(server.address)
        method = c.greet(offered)
        check(method == NO_ACCEPTABLE,
              f'offered only {offered:#04x} to {server.argv[1:]}: got method {method:#04x}')
        c.wait_eof()


# ================================================================ authentication

def expect_auth_rejected(user, password):
    server = auth_server()
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
    status = c.auth(user, password)
    check(status != 0, f'bad credentials {user!r}/{password!r} accepted')
    c.wait_eof()


@case
def auth_wrong_user():
    """RFC 1929 with a wrong user -> 01 xx (xx != 0), then close."""
    expect_auth_rejected('mallory', PASSWORD)


@case
def auth_wrong_password():
    """RFC 1929 with a wrong password -> 01 xx (xx != 0), then close."""
    expect_auth_rejected(USER, WRONG_PASSWORD)


@case
def auth_correct():
    """Correct credentials -> 01 00 and a working tunnel; 02 is chosen when 00 and 02 are offered."""
    server = auth_server()
    target = Target()
    c = SocksClient(server.address)
    check(c.greet(NOAUTH, USERPASS) == USERPASS, 'offered 00 and 02: 02 not chosen')
    check(c.auth(USER, PASSWORD) == 0, 'correct credentials rejected')
    check(c.request('127.0.0.1', target.port).rep == REP_OK, 'CONNECT failed')
    c.echo_check()


def greet_only(server, method, source=None):
    return SocksClient(server.address, source).greet(method)


@case
def auth_once():
    """-1: no-auth refused until the IP authenticated once, then accepted (only for that IP)."""
    server = auth_server('-1')
    target = Target()
    check(greet_only(server, NOAUTH) == NO_ACCEPTABLE, 'no-auth accepted before any authentication')
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD)
    c.echo_check()
    c, _ = tunnel(server, '127.0.0.1', target.port)  # no-auth now
    c.echo_check()
    check(greet_only(server, NOAUTH, source='127.0.0.2') == NO_ACCEPTABLE,
          'no-auth accepted from 127.0.0.2, which never authenticated')


@case
def whitelist():
    """-w 127.0.0.3,127.0.0.1 with -u/-P: no-auth from 127.0.0.1 works; 127.0.0.2 must authenticate."""
    server = auth_server('-w', '127.0.0.3,127.0.0.1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    check(greet_only(server, NOAUTH, source='127.0.0.2') == NO_ACCEPTABLE,
          'no-auth accepted from non-whitelisted 127.0.0.2')
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD, source='127.0.0.2')
    c.echo_check()


# ================================================================ handshake as a byte stream

def split_handshake(server, target_host, target_port, user=None):
    c = SocksClient(server.address)
    method = USERPASS if user else NOAUTH
    c.send_bytewise(greeting(method))
    check(c.read_method() == method, 'split greeting: wrong method')
    if user:
        c.send_bytewise(auth_request(user, PASSWORD))
        check(c.read_auth_status() == 0, 'split auth: rejected')
    c.send_bytewise(connect_request(target_host, target_port))
    r = c.read_reply()
    check(r.rep == REP_OK, f'split request: reply {r.rep:#04x}')
    c.echo_check()


@case
def split_handshake_noauth():
    """Greeting and request (IPv4) sent one byte per segment -> works."""
    target = Target()
    split_handshake(Server(), '127.0.0.1', target.port)


@case
def split_handshake_auth():
    """Greeting, RFC 1929 auth and a domain request sent one byte per segment -> works."""
    need_isolation()
    target = Target()
    split_handshake(auth_server(), 'v4only.test', target.port, user=USER)


def pipelined(server, user=None):
    target = Target()
    payload = os.urandom(3000)
    c = SocksClient(server.address)
    auth = auth_request(user, PASSWORD) if user else b''
    request = connect_request('127.0.0.1', target.port)
    c.send(greeting(USERPASS if user else NOAUTH) + auth + request + payload)
    check(c.read_method() == (USERPASS if user else NOAUTH), 'wrong method')
    if user:
        check(c.read_auth_status() == 0, 'auth rejected')
    check(c.read_reply().rep == REP_OK, 'CONNECT failed')
    got = c.recv_exact(len(payload))
    check(got == payload, 'payload sent with the handshake came back altered')


@case
def pipelined_noauth():
    """Greeting + request + payload in one write -> replies, then the payload echoed intact."""
    pipelined(Server())


@case
def pipelined_auth():
    """Greeting + auth + request + payload in one write -> replies, then the payload echoed intact."""
    pipelined(auth_server(), user=USER)


# ================================================================ handshake timeouts

@case
def handshake_timeout_silent():
    """--handshake-timeout 1: a silent client is dropped after ~1 s while another client is served
    meanwhile, and the other (established) tunnel survives."""
    server = Server('--handshake-timeout', '1')
    target = Target()
    start = time.monotonic()
    silent = SocksClient(server.address)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    check(not is_readable(silent.sock), 'silent client closed before the other client was served')
    expect_closed_between(silent.sock, start, T.EARLY, 1 + T.SLACK, 'silent client')
    c.echo_check()


@case
def handshake_timeout_partial():
    """--handshake-timeout 1: a client that stops in the middle of its request is dropped after ~1 s."""
    server = Server('--handshake-timeout', '1')
    start = time.monotonic()
    c = noauth_client(server)
    c.send(connect_request('127.0.0.1', 80)[:5])
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'client stopped mid-request')
