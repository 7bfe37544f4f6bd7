#!/usr/bin/python3
"""Black-box tests for microsocks: the real binary, real loopback sockets, real clients.

Normally started by tests/run (which sets up a private network namespace first):
    sh tests/run                 all unit-test binaries ($UNIT_TESTS) and all cases
    sh tests/run half_close      only the cases named half_close or half_close_*
    sh tests/run unit            only the unit-test binaries
Output: one line per case (ok / FAIL / SKIP), then "N passed, N failed, N skipped".
The contract tested is the microsocks spec (issue 2, plus SOCKS4/4a and BIND from issue 4);
every case says what it checks.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    EMULATOR, MIPS_SO_ERROR, need_native, skip_on_arch,
    ATYP_V4, ATYP_V6, BIND, CONNECT, ISOLATED, MICROSOCKS, NO_ACCEPTABLE, NOAUTH, REP_ATYP,
    REP_CMD, REP_FAIL, REP_HOST_UNREACH, REP_NET_UNREACH, REP_NOT_ALLOWED, REP_OK, REP_REFUSED,
    REP_TTL, S4_BIND, S4_CONNECT, S4_GRANTED, SOCKS4_REJECT, USERPASS, Closed, Fail,
    Server, Skip, SocksClient, T, Target, auth_request,
    check, closed_port, connect_errno, connect_request, connect_to, defer, describe_status, duplex,
    error_reply, free_port, greeting,
    hexs, is_readable, need_isolation, recv_exact, recv_until_eof, reserve_port, run_cleanups,
    run_microsocks, socks4_request, tunnel, wait_eof,
    CASES, PASSWORD, USER, WRONG_PASSWORD, auth_server, case, check_bad_options, expect_closed_between,
    expect_connect_error, need_errno, noauth_client, open_fds, wait_fds_down_to, wait_refused)


# ================================================================ reply codes

@case
def reply_refused():
    """CONNECT to a closed port on 127.0.0.1 -> 05 05, then close."""
    skip_on_arch(*MIPS_SO_ERROR)
    expect_connect_error(Server(), '127.0.0.1', closed_port(), REP_REFUSED)


@case
def reply_net_unreachable():
    """CONNECT to 127.1.0.1 (no route in the namespace, ENETUNREACH) -> 05 03."""
    need_isolation()
    need_errno('127.1.0.1', 101)
    expect_connect_error(Server(), '127.1.0.1', 80, REP_NET_UNREACH)


@case
def reply_host_unreachable():
    """CONNECT to 127.2.0.1 (unreachable route, EHOSTUNREACH) -> 05 04."""
    need_isolation()
    need_errno('127.2.0.1', 113)
    expect_connect_error(Server(), '127.2.0.1', 80, REP_HOST_UNREACH)


@case
def reply_unresolvable_name():
    """CONNECT to nosuchhost.invalid (does not resolve) -> 05 04."""
    need_isolation()
    expect_connect_error(Server(), 'nosuchhost.invalid', 80, REP_HOST_UNREACH)


def expect_connect_timeout(host, port):
    c = noauth_client(Server('--connect-timeout', '1'))
    start = time.monotonic()
    c.send(connect_request(host, port))
    got = c.recv_exact(10, timeout=1 + T.SLACK)
    elapsed = time.monotonic() - start
    check(got == error_reply(REP_TTL), f'expected 05 06 reply, got {hexs(got)}')
    check(elapsed >= T.EARLY, f'05 06 after only {elapsed:.2f}s with --connect-timeout 1')
    c.wait_eof()


@case
def reply_connect_timeout_full_backlog():
    """--connect-timeout 1, target a listener whose accept queue is full (SYNs dropped) -> 05 06."""
    listener = socket.socket()
    defer(listener.close)
    listener.bind(('127.0.0.1', 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    for _ in range(64):
        probe = connect_errno('127.0.0.1', port, timeout=0.3)
        if probe == 'timeout':  # SYNs are dropped now
            break
        check(probe is None, f'precondition: connect to the listener failed: errno {probe}')
        filler = socket.socket()
        defer(filler.close)
        filler.setblocking(False)
        filler.connect_ex(('127.0.0.1', port))
    else:
        raise Fail('precondition: could not fill the accept queue')
    expect_connect_timeout('127.0.0.1', port)


@case
def reply_connect_timeout_dropped_syn():
    """--connect-timeout 1, target 127.3.0.1 (routed to lo, SYNs dropped as martians) -> 05 06."""
    need_isolation()
    need_errno('127.3.0.1', 'timeout')
    expect_connect_timeout('127.3.0.1', 80)


@case
def reply_command_not_supported():
    """cmd 0 and cmd 9 -> 05 07, then close (BIND and UDP ASSOCIATE: see the bind_ and udp_ cases)."""
    server = Server()
    target = Target()
    for cmd in (0, 9):
        c = noauth_client(server)
        c.send(connect_request('127.0.0.1', target.port, cmd=cmd))
        c.expect_error(REP_CMD, f'cmd {cmd}')


@case
def reply_address_type_not_supported():
    """ATYP 5 -> 05 08, then close."""
    c = noauth_client(Server())
    c.send(bytes([5, CONNECT, 0, 5, 127, 0, 0, 1, 0, 80]))
    c.expect_error(REP_ATYP, 'ATYP 5')


@case
def reply_general_failure():
    """Request version byte 4, an empty domain name, a name with a NUL -> 05 01, then close."""
    server = Server()
    target = Target()
    bad = {'request version 4': connect_request('127.0.0.1', target.port, version=4),
           'empty domain': connect_request('', target.port, atyp=3),
           'domain with NUL': connect_request(b'local\0host', target.port, atyp=3)}
    for what, request in bad.items():
        c = noauth_client(server)
        c.send(request)
        c.expect_error(REP_FAIL, what)


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


# ================================================================ destinations and BND

def check_bnd(target, reply, atyp):
    peer = target.next_peer()
    check(reply.atyp == atyp, f'reply ATYP {reply.atyp}, expected {atyp}')
    check((reply.addr, reply.port) == peer, f'BND {reply.addr}:{reply.port} but the target saw {peer}')


@case
def connect_ipv4_bnd():
    """CONNECT 127.0.0.1: echo works; BND.ADDR/PORT (ATYP 1) = the peer address the target saw."""
    server = Server()
    target = Target()
    c, r = tunnel(server, '127.0.0.1', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_ipv6_bnd():
    """CONNECT [::1]: echo works; BND.ADDR/PORT (ATYP 4) = the peer address the target saw."""
    server = Server()
    target = Target(host='::1')
    c, r = tunnel(server, '::1', target.port)
    check_bnd(target, r, ATYP_V6)
    c.echo_check()


@case
def connect_domain_localhost():
    """CONNECT localhost (::1, 127.0.0.1) with the target only on 127.0.0.1 -> falls through to it."""
    need_isolation()
    server = Server()
    target = Target()
    reserve_port('::1', target.port)
    c, r = tunnel(server, 'localhost', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_domain_multi():
    """CONNECT multi.test (127.0.0.5 refuses, then 127.0.0.1) -> second address used."""
    need_isolation()
    addrs = [a[4][0] for a in socket.getaddrinfo('multi.test', 80, 0, socket.SOCK_STREAM)]
    if addrs != ['127.0.0.5', '127.0.0.1']:
        raise Skip(f'precondition: multi.test resolves to {addrs}')
    server = Server()
    target = Target()
    reserve_port('127.0.0.5', target.port)
    c, r = tunnel(server, 'multi.test', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_domain_v6only():
    """CONNECT v6only.test (only ::1) -> works, reply ATYP 4."""
    need_isolation()
    server = Server()
    target = Target(host='::1')
    c, r = tunnel(server, 'v6only.test', target.port)
    check_bnd(target, r, ATYP_V6)
    c.echo_check()


@case
def listen_ipv6():
    """-i ::1: the log says [::1]:PORT and clients connecting to ::1 are served."""
    server = Server(listen='::1')
    check(re.search(r'listening on \[::1\]:\d+', server.stderr()), 'no "listening on [::1]:PORT" line')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def bind_address():
    """-b 127.0.0.2: the target sees 127.0.0.2 as its peer and BND.ADDR says 127.0.0.2."""
    server = Server('-b', '127.0.0.2')
    target = Target()
    c, r = tunnel(server, '127.0.0.1', target.port)
    check(r.addr == '127.0.0.2', f'BND.ADDR {r.addr}, expected 127.0.0.2')
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def bind_address_family_first():
    """-b 127.0.0.2, CONNECT localhost with targets on ::1 and 127.0.0.1 -> IPv4 tried first."""
    need_isolation()
    server = Server('-b', '127.0.0.2')
    target4 = Target()
    try:
        target6 = Target(host='::1', port=target4.port)
    except OSError as e:
        raise Skip(f'cannot listen on [::1]:{target4.port}: {e}')
    c, r = tunnel(server, 'localhost', target4.port)
    check(target6.peers.empty(), f'connected to ::1 first (peer {target6.peers.queue})')
    check(r.addr == '127.0.0.2', f'BND.ADDR {r.addr}, expected 127.0.0.2')
    check_bnd(target4, r, ATYP_V4)
    c.echo_check()


# ================================================================ relay

@case
def half_close_client_first():
    """Client sends a request and shuts down writing; the target reads EOF, then answers 1 MiB
    and closes; the client receives all of it."""
    request, response = os.urandom(5000), os.urandom(1 << 20)

    def handler(conn):
        got = recv_until_eof(conn)
        conn.sendall(response)
        return got

    server = Server()
    target = Target(handler)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.send(request)
    c.sock.shutdown(socket.SHUT_WR)
    got = c.recv_until_eof()
    check(target.result() == request, 'target did not receive the request intact')
    check(got == response, f'client got {len(got)} bytes of the {len(response)}-byte response')


@case
def half_close_target_first():
    """Target sends a banner and shuts down writing; the client reads it up to EOF, then sends
    1 MiB and shuts down; the target receives all of it."""
    banner, upload = os.urandom(3000), os.urandom(1 << 20)

    def handler(conn):
        conn.sendall(banner)
        conn.shutdown(socket.SHUT_WR)
        return recv_until_eof(conn)

    server = Server()
    target = Target(handler)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    check(c.recv_until_eof() == banner, 'client did not get the banner intact before EOF')
    c.send(upload)
    c.sock.shutdown(socket.SHUT_WR)
    got = target.result()
    check(got == upload, f'target got {len(got)} of {len(upload)} bytes after its own EOF')


@case
def large_transfer():
    """100 MiB each way at the same time through one tunnel, both checked by SHA-256."""
    nbytes = 100 << 20
    server = Server()
    target = Target(lambda conn: duplex(conn, nbytes, T.TRANSFER), timeout=T.TRANSFER)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    up, down = duplex(c.sock, nbytes, T.TRANSFER)
    t_sent, t_received = target.result(T.TRANSFER)
    check(t_received == up, f'upload: sent {up}, target received {t_received}')
    check(down == t_sent, f'download: target sent {t_sent}, client received {down}')


@case
def concurrent_clients():
    """50 tunnels open at once, each echoing its own data."""
    server = Server()
    target = Target()
    clients = [tunnel(server, '127.0.0.1', target.port)[0] for _ in range(50)]
    for i, c in enumerate(clients):
        c.echo_check(os.urandom(1000 + i))


# ================================================================ timeouts

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


@case
def idle_timeout():
    """--idle-timeout 1: a tunnel without traffic is closed after ~1 s (client and target see EOF)."""
    server = Server('--idle-timeout', '1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    start = time.monotonic()
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'idle tunnel')
    target.result()


@case
def halfclose_timeout():
    """--halfclose-timeout 1: after the client's EOF, a silent target direction is closed after ~1 s."""
    server = Server('--halfclose-timeout', '1')
    done = threading.Event()
    target = Target(lambda conn: (recv_until_eof(conn), done.wait(T.IO)))
    defer(done.set)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    start = time.monotonic()
    c.sock.shutdown(socket.SHUT_WR)
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'half-closed tunnel')


# ================================================================ SOCKS4 / SOCKS4a

def check_granted4(reply, what):
    check(reply.cd == S4_GRANTED, f'{what}: reply CD {reply.cd:#04x}, expected 0x5a (granted)')


def check_bnd4(target, reply, what):
    peer = target.next_peer()
    check((reply.addr, reply.port) == peer,
          f'{what}: reply names {reply.addr}:{reply.port} but the target saw {peer}')


def socks4_tunnel(server, host, port, source=None, **kw):
    """A SocksClient with a granted SOCKS4(a) CONNECT; returns (client, reply)."""
    c = SocksClient(server.address, source)
    r = c.request4(S4_CONNECT, host, port, **kw)
    check_granted4(r, f'SOCKS4 CONNECT {kw.get("domain") or host}:{port}')
    return c, r


def expect_rejected4(server, request, what, source=None):
    """request -> 00 5B 00 00 00 00 00 00, then close."""
    c = SocksClient(server.address, source)
    c.send(request)
    c.expect_reject4(what)


def socks4_connect_sent(server, target, send, what, payload=b'', host='127.0.0.1', **kw):
    """A SOCKS4(a) CONNECT (+ payload) sent by send(client, bytes): granted, the reply names the
    address the target saw, the payload arrives first, then echo works."""
    c = SocksClient(server.address)
    kw.setdefault('userid', what.replace(' ', '-'))
    send(c, socks4_request(S4_CONNECT, host, target.port, **kw) + payload)
    r = c.read_reply4()
    check_granted4(r, what)
    check_bnd4(target, r, what)
    check(c.recv_exact(len(payload)) == payload, f'{what}: payload sent with the request came back altered')
    c.echo_check()


@case
def socks4_connect_raw():
    """SOCKS4 CONNECT 127.0.0.1: 00 5A whose DSTPORT/DSTIP = the peer address the target saw, echo
    works; also with the request sent one byte per segment, and pipelined with payload in one write."""
    server = Server()
    target = Target()
    socks4_connect_sent(server, target, SocksClient.send, 'whole request')
    socks4_connect_sent(server, target, SocksClient.send_bytewise, 'request split per byte')
    socks4_connect_sent(server, target, SocksClient.send, 'pipelined request', payload=os.urandom(3000))


@case
def socks4a_connect_raw():
    """SOCKS4a 0.0.0.1 + userid + "localhost" (target only on 127.0.0.1) -> 00 5A naming the address
    the target saw, echo works; also split per byte, and pipelined with payload with marker
    0.0.0.255, a 255-byte userid and v4only.test."""
    need_isolation()
    server = Server()
    target = Target()
    reserve_port('::1', target.port)
    socks4_connect_sent(server, target, SocksClient.send, 'SOCKS4a localhost', host='0.0.0.1',
                        userid='user4a', domain='localhost')
    socks4_connect_sent(server, target, SocksClient.send_bytewise, 'SOCKS4a split per byte', host='0.0.0.1',
                        domain='localhost')
    socks4_connect_sent(server, target, SocksClient.send, 'SOCKS4a pipelined', payload=os.urandom(3000),
                        host='0.0.0.255', userid='u' * 255, domain='v4only.test')


@case
def socks4a_ipv6_target():
    """SOCKS4a v6only.test (only ::1): granted, reply port/address 0.0.0.0:0 (IPv6 has no SOCKS4
    form), echo works."""
    need_isolation()
    server = Server()
    target = Target(host='::1')
    c, r = socks4_tunnel(server, '0.0.0.1', target.port, domain='v6only.test')
    check((r.addr, r.port) == ('0.0.0.0', 0), f'reply names {r.addr}:{r.port}, expected 0.0.0.0:0')
    target.next_peer()
    c.echo_check()


@case
def socks4_rejects():
    """00 5B 00 00 00 00 00 00 then close: refused port, CD 3 and 0, a 300-byte userid without NUL,
    a 256-byte userid, SOCKS4a with an empty, a 256-byte or a 300-byte domain without NUL (and an
    unresolvable one when isolated)."""
    server = Server()
    target = Target()
    port = target.port
    bad = {'refused port': socks4_request(S4_CONNECT, '127.0.0.1', closed_port()),
           'CD 3': socks4_request(3, '127.0.0.1', port),
           'CD 0': socks4_request(0, '127.0.0.1', port),
           '300-byte userid without NUL':
               socks4_request(S4_CONNECT, '127.0.0.1', port, userid=b'u' * 300, nul=False),
           '256-byte userid': socks4_request(S4_CONNECT, '127.0.0.1', port, userid=b'u' * 256),
           'SOCKS4a 256-byte domain': socks4_request(S4_CONNECT, '0.0.0.1', port, domain=b'd' * 256),
           'SOCKS4a empty domain': socks4_request(S4_CONNECT, '0.0.0.1', port, userid='x', domain=''),
           'SOCKS4a 300-byte domain without NUL':
               socks4_request(S4_CONNECT, '0.0.0.1', port, domain=b'd' * 300, nul=False)}
    if ISOLATED:
        bad['SOCKS4a unresolvable name'] = \
            socks4_request(S4_CONNECT, '0.0.0.1', port, domain='nosuchhost.invalid')
    for what, request in bad.items():
        expect_rejected4(server, request, what)
    check(target.peers.empty(), f'a rejected request reached the target (peer {target.peers.queue})')


@case
def socks4_handshake_timeout():
    """--handshake-timeout 1: a SOCKS4 client that stops inside its userid is dropped after ~1 s."""
    server = Server('--handshake-timeout', '1')
    start = time.monotonic()
    c = SocksClient(server.address)
    c.send(socks4_request(S4_CONNECT, '127.0.0.1', 80, userid='unfinished', nul=False))
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'client stopped mid-userid')


@case
def socks4_userid_logged_clean():
    """The user id is logged for its client, cleaned: its control characters (newline, CR, ESC,
    DEL) do not reach the log, so it cannot forge a log line."""
    server = Server()
    target = Target()
    c, _ = socks4_tunnel(server, '127.0.0.1', target.port,
                         userid=b'uid-q7\nmicrosocks: forged line\r\x1b[31m\x7f\x01end')
    c.echo_check()
    port = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'127\.0\.0\.1:{port}\D.*(close|bytes)', re.I))
    lines = server.stderr().splitlines()
    bad = [line for line in lines if line.startswith('microsocks: forged') or re.search(r'[\x00-\x1f\x7f]', line)]
    check(not bad, f'raw user id bytes in the log: {bad!r}')
    check(any(f':{port}' in line and 'uid-q7' in line for line in lines),
          f'user id "uid-q7..." not in any log line of client port {port}: {server.stderr_tail()}')


@case
def socks4_auth_required():
    """With -u/-P SOCKS4 (CONNECT and BIND) gets 5B; -w 127.0.0.1 serves 127.0.0.1 (not 127.0.0.2);
    with -1 SOCKS4 is refused until the IP authenticated once with SOCKS5 user/password, then served."""
    target = Target()
    request = socks4_request(S4_CONNECT, '127.0.0.1', target.port)
    expect_rejected4(auth_server(), request, '-u/-P, SOCKS4 from 127.0.0.1')
    server = auth_server('-w', '127.0.0.1')
    c, _ = socks4_tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    expect_rejected4(server, request, '-w 127.0.0.1, SOCKS4 from 127.0.0.2', source='127.0.0.2')
    server = auth_server('-1')
    expect_rejected4(server, request, '-1, SOCKS4 before any authentication')
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD)
    c.echo_check()
    c, _ = socks4_tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    expect_rejected4(server, request, '-1, SOCKS4 from 127.0.0.2, which never authenticated', source='127.0.0.2')
    expect_rejected4(auth_server(), socks4_request(S4_BIND, '127.0.0.1', 0), '-u/-P, SOCKS4 BIND')


# ================================================================ BIND

def check_bind_first(r, what):
    """A SOCKS5 BIND's first reply must be 05 00 with a non-zero port."""
    check(r.rep == REP_OK, f'{what}: first reply {r.rep:#04x}')
    check(r.port != 0, f'{what}: first reply names port 0 ({r.addr})')
    return r


def bind_first(c, host, port=0, atyp=None):
    """Send a SOCKS5 BIND for host:port; returns its (checked) first reply."""
    return check_bind_first(c.request(host, port, cmd=BIND, atyp=atyp), f'BIND {host}')


def check_listening(r, atyp, addr, what):
    check((r.atyp, r.addr) == (atyp, addr),
          f'{what}: listening on {r.addr} (ATYP {r.atyp}), expected {addr} (ATYP {atyp})')


def bind_peer(c, address, source, atyp=None):
    """Connect a peer to address from source; it sends a banner at once. SOCKS5 (atyp given): the
    second reply must be 05 00 with that ATYP, else SOCKS4: 00 5A; either naming the peer's own
    address, and the banner follows the reply. Returns the peer."""
    peer = connect_to(address, source)
    banner = os.urandom(100)
    peer.sendall(banner)
    if atyp is None:
        r = c.read_reply4()
        check_granted4(r, 'SOCKS4 BIND second reply')
    else:
        r = c.read_reply()
        check(r.rep == REP_OK, f'BIND second reply {r.rep:#04x}')
        check(r.atyp == atyp, f'BIND second reply ATYP {r.atyp}, expected {atyp}')
    name = peer.getsockname()[:2]
    check((r.addr, r.port) == name, f'second reply names {r.addr}:{r.port}, but the peer is {name}')
    check(c.recv_exact(len(banner)) == banner, 'the banner the peer sent at once came altered')
    return peer


def check_bind_relay(c, peer, client_first=False):
    """Data both ways between the BIND client and its peer; then half-close: one side's EOF
    (the peer's, or the client's when client_first) reaches the other side, which can still
    send; finally its EOF reaches the first side."""
    to_peer, to_client, late = os.urandom(5000), os.urandom(7000), os.urandom(3000)
    c.send(to_peer)
    check(recv_exact(peer, len(to_peer)) == to_peer, 'client -> peer: data altered')
    peer.sendall(to_client)
    check(c.recv_exact(len(to_client)) == to_client, 'peer -> client: data altered')
    first, second = (c.sock, peer) if client_first else (peer, c.sock)
    names = ('client', 'peer') if client_first else ('peer', 'client')
    first.shutdown(socket.SHUT_WR)
    got = recv_until_eof(second)
    check(got == b'', f'{names[1]} got {len(got)} unexpected bytes before the {names[0]}\'s EOF')
    second.sendall(late)
    check(recv_exact(first, len(late)) == late,
          f'{names[1]} -> {names[0]} after the {names[0]}\'s EOF: data altered')
    second.shutdown(socket.SHUT_WR)
    wait_eof(first)


@case
def bind_socks5():
    """BIND 127.0.0.1:0 -> 05 00 naming a listening 127.0.0.1:PORT (the client connection's local
    address); a peer from 127.0.0.1 -> second 05 00 naming the peer, the listener is gone; data
    both ways, half-close."""
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    check_listening(r, ATYP_V4, '127.0.0.1', 'BIND 127.0.0.1')
    check(not is_readable(c.sock), 'second reply (or EOF) before any peer connected')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    wait_refused((r.addr, r.port), 'BIND listener after its one peer')
    check_bind_relay(c, peer)


@case
def bind_ipv6():
    """BIND ATYP 4 ::1 -> an IPv6 listener (ATYP 4) on [::1] for a client on ::1; a peer from ::1
    gets through (second reply ATYP 4 naming it), data both ways. A client on 127.0.0.1 has no IPv6
    address to listen on: 05 08, never a wildcard listener."""
    c = noauth_client(Server(listen='::1'))
    r = bind_first(c, '::1')
    check_listening(r, ATYP_V6, '::1', 'BIND ::1 via a server on ::1')
    peer = bind_peer(c, ('::1', r.port), '::1', ATYP_V6)
    check_bind_relay(c, peer)
    c = noauth_client(Server(listen='127.0.0.1'))
    c.send(connect_request('::1', 0, cmd=BIND))
    c.expect_error(REP_ATYP, 'BIND ::1 via a server on 127.0.0.1')


@case
def bind_domain():
    """BIND v6only.test -> IPv6 listener, a peer from ::1 works; BIND v4only.test -> IPv4 listener,
    a peer from 127.0.0.1 works (the family of the name's first address); each from a client that
    reached the dual-stack server (-i ::) over that family."""
    need_isolation()
    server = Server(listen='::')
    for name, atyp, host in (('v6only.test', ATYP_V6, '::1'), ('v4only.test', ATYP_V4, '127.0.0.1')):
        c = SocksClient((host, server.port))
        check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
        r = bind_first(c, name)
        check(r.atyp == atyp, f'BIND {name}: listener ATYP {r.atyp}, expected {atyp}')
        peer = bind_peer(c, (host, r.port), host, atyp)
        check_bind_relay(c, peer)


# (server options, server listen address, BIND address = peer source, expected listener, ATYP);
# no listener (None): reply 08
BIND_LISTEN = [
    (['-b', '127.0.0.2'], '127.0.0.1', '127.0.0.1', '127.0.0.2', ATYP_V4),  # -b of the family
    (['-b', '::1'], '127.0.0.1', '::1', '::1', ATYP_V6),
    (['-b', '127.0.0.2'], '::1', '::1', '::1', ATYP_V6),  # else the client connection's address
    ([], '::1', '127.0.0.1', None, ATYP_V4),  # else none: never the wildcard
    (['-b', '127.0.0.2'], '127.0.0.1', '::1', None, ATYP_V6),
    (['-b', '0.0.0.0'], '127.0.0.1', '127.0.0.1', '127.0.0.1', ATYP_V4),  # -b a wildcard: not used
]


@case
def bind_listen_address():
    """The listener is bound to -b's address when of the BIND's family (and not a wildcard), else
    to the local address of the client's connection when of that family, else there is none and
    the reply is 05 08; a peer from 127.0.0.1 / ::1 gets through to each listener."""
    for args, listen, host, expected, atyp in BIND_LISTEN:
        what = f'{" ".join(args) or "no -b"}, server on {listen}, BIND {host}'
        c = noauth_client(Server(*args, listen=listen))
        if expected is None:
            c.send(connect_request(host, 0, cmd=BIND))
            c.expect_error(REP_ATYP, what)
            continue
        r = bind_first(c, host)
        check_listening(r, atyp, expected, what)
        peer = bind_peer(c, (host if expected in ('0.0.0.0', '::') else r.addr, r.port), host, atyp)
        check_bind_relay(c, peer)


@case
def bind_wrong_peer():
    """BIND naming 127.0.0.1, peer from 127.0.0.2 -> the peer is closed, second reply 05 02, then the
    control connection and the listener close; SOCKS4 BIND likewise -> second reply 00 5B."""
    need_isolation()
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    peer = connect_to((r.addr, r.port), source='127.0.0.2')
    c.expect_error(REP_NOT_ALLOWED, 'BIND 127.0.0.1, peer from 127.0.0.2')
    wait_eof(peer)
    wait_refused((r.addr, r.port), 'BIND listener after a wrong peer')
    c = SocksClient(server.address)
    r = c.request4(S4_BIND, '127.0.0.1', 0)
    check_granted4(r, 'SOCKS4 BIND first reply')
    peer = connect_to((r.addr, r.port), source='127.0.0.2')
    c.expect_reject4('SOCKS4 BIND 127.0.0.1, peer from 127.0.0.2')
    wait_eof(peer)


@case
def bind_timeout():
    """--bind-timeout 1 and no peer: second reply 05 06 (SOCKS4: 00 5B) after 1..4 s, then close,
    and the listening port is closed."""
    server = Server('--bind-timeout', '1')
    for version in (5, 4):
        c = SocksClient(server.address)
        if version == 5:
            check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
            r = bind_first(c, '127.0.0.1')
            expected = error_reply(REP_TTL)
        else:
            r = c.request4(S4_BIND, '127.0.0.1', 0)
            check_granted4(r, 'SOCKS4 BIND first reply')
            expected = SOCKS4_REJECT
        start = time.monotonic()
        got = c.recv_exact(len(expected), timeout=1 + T.SLACK)
        elapsed = time.monotonic() - start
        what = f'SOCKS{version} BIND without a peer'
        check(got == expected, f'{what}: expected {hexs(expected)}, got {hexs(got)}')
        check(elapsed >= T.EARLY, f'{what}: second reply after only {elapsed:.2f}s with --bind-timeout 1')
        c.wait_eof()
        wait_refused((r.addr, r.port), f'SOCKS{version} BIND after its timeout')


@case
def bind_client_closes():
    """A BIND client closing its connection ends the wait: the listening port closes soon after
    (the default --bind-timeout is 60 s), and the server keeps serving."""
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    c.close()
    wait_refused((r.addr, r.port), 'BIND whose client closed')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def bind_any_peer():
    """BIND 0.0.0.0 (all zeros: any peer) -> a peer from 127.0.0.2 is accepted."""
    need_isolation()
    c = noauth_client(Server())
    r = bind_first(c, '0.0.0.0')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.2', ATYP_V4)
    check_bind_relay(c, peer)


@case
def bind_pipelined():
    """Greeting + BIND + payload in one write: both replies, and the payload reaches the peer."""
    c = SocksClient(Server().address)
    payload = os.urandom(3000)
    c.send(greeting(NOAUTH) + connect_request('127.0.0.1', 0, cmd=BIND) + payload)
    check(c.read_method() == NOAUTH, 'wrong method')
    r = check_bind_first(c.read_reply(), 'pipelined BIND')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    got = recv_exact(peer, len(payload))
    check(got == payload, 'payload sent with the BIND request reached the peer altered')
    check_bind_relay(c, peer)


@case
def bind_wait_not_cut_short():
    """--handshake-timeout 1 --bind-timeout 10 (more where MS_TEST_TIME_SCALE stretches the slack, so
    that the BIND outlasts the watch): the BIND wait is not cut short by the handshake timeout
    (nothing arrives for 1 + slack seconds), then a peer still gets through."""
    bind_timeout = int(1 + T.SLACK + T.IO) + 1
    c = noauth_client(Server('--handshake-timeout', '1', '--bind-timeout', str(bind_timeout)))
    r = bind_first(c, '127.0.0.1')
    check(not is_readable(c.sock, 1 + T.SLACK), 'second reply or EOF while waiting for the peer')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    check_bind_relay(c, peer)


@case
def bind_idle_timeout():
    """--idle-timeout 1: an established BIND tunnel without traffic is closed after ~1 s (the client
    and the peer see EOF)."""
    c = noauth_client(Server('--idle-timeout', '1'))
    r = bind_first(c, '127.0.0.1')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    start = time.monotonic()
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'idle BIND tunnel')
    expect_closed_between(peer, start, T.EARLY, 1 + T.SLACK, 'idle BIND tunnel (peer)')


@case
def bind_concurrent():
    """Three BINDs at once get distinct ports; peers connecting in reverse order each reach their
    own client."""
    server = Server()
    clients = [noauth_client(server) for _ in range(3)]
    replies = [bind_first(c, '127.0.0.1') for c in clients]
    check(len({r.port for r in replies}) == 3, f'listening ports {[r.port for r in replies]}')
    for c, r in reversed(list(zip(clients, replies))):
        check_bind_relay(c, bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4), client_first=True)


@case
def bind_large_transfer():
    """16 MiB each way at the same time between a BIND client and its peer, checked by SHA-256."""
    nbytes = 16 << 20
    c = noauth_client(Server())
    r = bind_first(c, '127.0.0.1')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    result = {}
    th = threading.Thread(target=lambda: result.update(peer=duplex(peer, nbytes, T.TRANSFER)), daemon=True)
    th.start()
    up, down = duplex(c.sock, nbytes, T.TRANSFER)
    th.join(T.TRANSFER)
    check('peer' in result, 'the peer side did not finish (or failed)')
    p_sent, p_received = result['peer']
    check(p_received == up, f'client -> peer: sent {up}, peer received {p_received}')
    check(down == p_sent, f'peer -> client: peer sent {p_sent}, client received {down}')


@case
def bind_no_fd_leak():
    """After BINDs that succeed, time out, or whose client leaves, the server's open fds come back
    to what they were after a plain CONNECT tunnel (listeners and peers are all closed)."""
    server = Server('--bind-timeout', '1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    port = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'127\.0\.0\.1:{port}\D.*(close|bytes)', re.I))  # tunnel gone
    baseline = open_fds(server)
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    check_bind_relay(c, bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4))
    c.close()
    c = noauth_client(server)
    bind_first(c, '127.0.0.1')
    c.expect_error(REP_TTL, 'BIND without a peer, --bind-timeout 1')
    c = noauth_client(server)
    bind_first(c, '127.0.0.1')
    c.close()
    wait_fds_down_to(server, baseline)


@case
def bind_socks4():
    """SOCKS4 BIND (CD 2) 127.0.0.1 -> 00 5A naming the listening 127.0.0.1:PORT; a peer from
    127.0.0.1 -> second 00 5A naming the peer; data both ways, half-close."""
    server = Server()
    c = SocksClient(server.address)
    r = c.request4(S4_BIND, '127.0.0.1', 0, userid='binder')
    check_granted4(r, 'SOCKS4 BIND first reply')
    check(r.addr == '127.0.0.1' and r.port != 0, f'SOCKS4 BIND: listening on {r.addr}:{r.port}')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1')
    check_bind_relay(c, peer)


# ================================================================ resources

def try_tunnel(server, port):
    """'ok' (client kept), 'refused' (closed or 05 01); anything else fails."""
    try:
        c = noauth_client(server)
        r = c.request('127.0.0.1', port)
    except (Closed, ConnectionError):
        return 'refused', None
    if r.rep == REP_FAIL:
        return 'refused', None
    check(r.rep == REP_OK, f'unexpected reply {r.rep:#04x} at the fd limit')
    return 'ok', c


@case
def fd_exhaustion():
    """RLIMIT_NOFILE 32 and 40 tunnels: extra clients are closed or get 05 01, no crash or spin,
    open tunnels keep working, and a new client is served once the others closed."""
    server = Server(nofile=32)
    target = Target()
    outcomes = [try_tunnel(server, target.port) for _ in range(40)]
    held = [c for kind, c in outcomes if kind == 'ok']
    check(held, 'no tunnel at all could be established')
    check(len(held) < 40, '40 tunnels with RLIMIT_NOFILE 32: the limit was never hit')
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    extra = SocksClient(server.address)
    extra.send(greeting(NOAUTH))
    time.sleep(1.0)  # measurement window (not synchronisation): a spinning server burns CPU here
    cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    check(cpu < 0.5, f'server used {cpu:.0%} CPU while at the fd limit')
    for c in held:
        c.echo_check(b'still alive')
        c.close()
    extra.close()
    deadline = time.monotonic() + T.IO
    while True:
        kind, c = try_tunnel(server, target.port)
        if kind == 'ok':
            break
        check(time.monotonic() < deadline, 'no client served after the others closed')
        time.sleep(T.POLL)
    c.echo_check()
    check(server.alive(), 'server died')


# ================================================================ command line

BAD_OPTIONS = [
    (['-p', '70000'], '-p'), (['-p', '-5'], '-p'), (['-p', 'abc'], '-p'), (['-p', '80x'], '-p'),
    (['-p', ''], '-p'), (['-p'], '-p'),
    (['--idle-timeout', '0'], '--idle-timeout'), (['--idle-timeout=abc'], '--idle-timeout'),
    (['--handshake-timeout', '2000001'], '--handshake-timeout'),
    (['--connect-timeout='], '--connect-timeout'), (['--halfclose-timeout', '-1'], '--halfclose-timeout'),
    (['--idle-timeout'], '--idle-timeout'),
    (['--bind-timeout', '0'], '--bind-timeout'), (['--bind-timeout=abc'], '--bind-timeout'),
    (['--bind-timeout', '2000001'], '--bind-timeout'), (['--bind-timeout'], '--bind-timeout'),
    (['-u', USER], ('-u', '-P')), (['-P', PASSWORD], ('-u', '-P')), (['-u', USER, '-P'], '-P'),
    (['-1'], '-1'), (['-w', '127.0.0.1'], '-w'),
    (['-u', 'x' * 256, '-P', PASSWORD], '-u'), (['-u', USER, '-P', 'y' * 256], '-P'),
    (['-x'], '-x'), (['--bogus'], '--bogus'), (['stray'], 'stray'),
]
# resolving these names is only safe inside the namespace (resolv.conf -> 127.0.0.1)
BAD_OPTIONS_ISOLATED = [
    (['-b', 'nosuchhost.invalid'], '-b'), (['-i', 'nosuchhost.invalid'], '-i'),
    (['-u', USER, '-P', PASSWORD, '-w', 'nosuchhost.invalid'], '-w'),
]


@case
def bad_options():
    """Every bad option/value: exit 1, a "microsocks: <option>: ..." line and the usage on stderr."""
    check_bad_options(BAD_OPTIONS + (BAD_OPTIONS_ISOLATED if ISOLATED else []))


@case
def bind_option():
    """--bind-timeout 0 / abc / 2000001 / no value: exit 1 naming the option (rows of the bad-options
    table); --bind-timeout=2000000 and --bind-timeout 1 are accepted and the server serves."""
    check_bad_options([row for row in BAD_OPTIONS if row[1] == '--bind-timeout'])
    target = Target()
    for args in (['--bind-timeout=2000000'], ['--bind-timeout', '1']):
        c, _ = tunnel(Server(*args), '127.0.0.1', target.port)
        c.echo_check()


@case
def help_and_version():
    """-h and --help print the usage to stdout and exit 0; -V prints "microsocks VERSION"."""
    for opt in ('-h', '--help'):
        p = run_microsocks([opt])
        check(p.returncode == 0, f'{opt}: exit {p.returncode}')
        check('usage' in p.out.lower(), f'{opt}: no usage on stdout')
    p = run_microsocks(['-V'])
    check(p.returncode == 0, f'-V: exit {p.returncode}')
    check(re.match(r'microsocks \S+', p.out), f'-V printed {p.out!r}')


@case
def valid_option_forms():
    """--opt=value and --opt value forms (up to 2000000) work together with -w/-u/-P; it serves."""
    server = auth_server('--idle-timeout=2000000', '--handshake-timeout', '5', '--connect-timeout=5',
                         '--halfclose-timeout', '30', '-w', '127.0.0.1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def port_zero():
    """-p 0: two servers get distinct non-zero ports from the kernel and both serve."""
    servers = [Server(), Server()]
    target = Target()
    ports = {s.port for s in servers}
    check(0 not in ports and len(ports) == 2, f'ports {ports}')
    for s in servers:
        c, _ = tunnel(s, '127.0.0.1', target.port)
        c.echo_check()


@case
def listen_port_in_use():
    """A port already in use: exit 1 with "microsocks: <addr>...: <the libc's text for EADDRINUSE>"."""
    busy = socket.socket()
    defer(busy.close)
    busy.bind(('127.0.0.1', 0))
    busy.listen()
    p = run_microsocks(['-i', '127.0.0.1', '-p', str(busy.getsockname()[1])])
    check(p.returncode == 1, f'exit {p.returncode}')
    # glibc says "Address already in use", musl "Address in use"
    check(re.search(r'microsocks: .*127\.0\.0\.1.*: Address (already )?in use', p.err), f'stderr: {p.err[:200]!r}')


@case
def password_hidden_in_cmdline():
    """-P password is wiped from /proc/PID/cmdline, and still works for authentication."""
    need_native("/proc/PID/cmdline is the emulator's own copy of the arguments, which the server cannot reach")
    server = auth_server()
    with open(f'/proc/{server.pid}/cmdline', 'rb') as f:
        cmdline = f.read()
    check(PASSWORD.encode() not in cmdline, f'password visible in cmdline: {cmdline!r}')
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
    check(c.auth(USER, PASSWORD) == 0, 'correct password rejected after wiping argv')


@case
def password_not_logged():
    """With -u/-P, neither the configured nor a wrong password appears in the log."""
    server = auth_server()
    target = Target()
    for password in (WRONG_PASSWORD, PASSWORD):
        c = SocksClient(server.address)
        check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
        c.auth(USER, password)
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD)
    c.echo_check()
    port = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'127\.0\.0\.1:{port}\D.*(close|bytes)', re.I))  # logged its close
    problems = server.stop()
    log = server.stderr()
    check(PASSWORD not in log and WRONG_PASSWORD not in log, 'a password appears in the log')
    check(not problems, '; '.join(problems))


@case
def quiet():
    """-q: nothing at all on stderr, even with clients and errors."""
    port = free_port()
    server = Server('-q', port=port, wait_listening=False)
    target = Target()
    deadline = time.monotonic() + T.START
    while connect_errno('127.0.0.1', port) is not None:
        check(server.alive() and time.monotonic() < deadline, 'server with -q never listened')
        time.sleep(T.POLL)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    c.close()
    c = SocksClient(server.address)
    c.greet(USERPASS)
    problems = server.stop()
    check(not problems, '; '.join(problems))
    check(server.stderr() == '', f'-q but stderr: {server.stderr()[:200]!r}')


# ================================================================ real clients

def need_program(name):
    path = shutil.which(name)
    if not path:
        raise Skip(f'{name} not installed')
    return path


def clean_env():
    return {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}


def run_program(argv, input=None):
    try:
        return subprocess.run(argv, input=input, capture_output=True, timeout=T.PROGRAM, env=clean_env())
    except subprocess.TimeoutExpired:
        raise Fail(f'{argv[0]} did not finish within {T.PROGRAM:.0f}s')


class HttpTarget:
    """A local HTTP server (python http.server) serving BODY at /file, recording peers."""
    BODY = os.urandom(200_000)

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.peers = []
        peers, body = self.peers, self.BODY

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                peers.append(self.client_address[0])
                self.send_response(200 if self.path == '/file' else 404)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()
        defer(self.close)

    def url(self, host='127.0.0.1'):
        return f'http://{host}:{self.port}/file'

    def check_fetched(self, p, what):
        check(p.returncode == 0, f'{what}: exit {p.returncode}: {p.stderr[-300:]!r}')
        check(p.stdout == self.BODY, f'{what}: got {len(p.stdout)} bytes, not the {len(self.BODY)}-byte body')
        check(self.peers and self.peers[-1] == '127.0.0.2', f'{what}: request did not come through the proxy')

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def proxy_server(auth=False):
    """A server whose outgoing connections come from 127.0.0.2, proving a client used it."""
    return auth_server('-b', '127.0.0.2') if auth else Server('-b', '127.0.0.2')


def curl(*args):
    return run_program([need_program('curl'), '-q', '-sS', '--max-time', str(int(T.PROGRAM) - 5), *args])


@case
def curl_socks5():
    """curl --socks5 (local resolution) fetches the body from a local HTTP server."""
    need_program('curl')
    server, http = proxy_server(), HttpTarget()
    http.check_fetched(curl('--socks5', f'127.0.0.1:{server.port}', http.url()), 'curl --socks5')


@case
def curl_socks5_hostname():
    """curl --socks5-hostname: the proxy resolves v4only.test and fetches the body."""
    need_program('curl')
    need_isolation()
    server, http = proxy_server(), HttpTarget()
    p = curl('--socks5-hostname', f'127.0.0.1:{server.port}', http.url('v4only.test'))
    http.check_fetched(p, 'curl --socks5-hostname')


@case
def curl_auth():
    """curl with user:password (--proxy-user, and socks5h://u:p@ with remote resolution)."""
    need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = curl('--socks5', f'127.0.0.1:{server.port}', '--proxy-user', f'{USER}:{PASSWORD}', http.url())
    http.check_fetched(p, 'curl --proxy-user')
    if ISOLATED:
        p = curl('-x', f'socks5h://{USER}:{PASSWORD}@127.0.0.1:{server.port}', http.url('v4only.test'))
        http.check_fetched(p, 'curl -x socks5h://u:p@')


@case
def curl_wrong_password():
    """curl with a wrong password fails and fetches nothing."""
    need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = curl('--socks5', f'127.0.0.1:{server.port}', '--proxy-user', f'{USER}:{WRONG_PASSWORD}', http.url())
    check(p.returncode != 0 and p.stdout == b'' and not http.peers, 'curl with a wrong password succeeded')


@case
def socks4_curl():
    """curl --socks4, --socks4a, -x socks4:// and -x socks4a:// (the proxy resolving v4only.test when
    isolated) fetch the body from a local HTTP server."""
    need_program('curl')
    server, http = proxy_server(), HttpTarget()
    proxy = f'127.0.0.1:{server.port}'
    name = 'v4only.test' if ISOLATED else '127.0.0.1'
    for args, what in ((['--socks4', proxy, http.url()], 'curl --socks4'),
                       (['--socks4a', proxy, http.url(name)], 'curl --socks4a'),
                       (['-x', f'socks4://{proxy}', http.url()], 'curl -x socks4://'),
                       (['-x', f'socks4a://{proxy}', http.url(name)], 'curl -x socks4a://')):
        http.check_fetched(curl(*args), what)


def check_proxied_echo(target, got, data, what, stderr=b''):
    check(got == data, f'{what}: echoed {len(got)} bytes, not the {len(data)} sent {stderr[-200:]!r}')
    check(target.next_peer()[0] == '127.0.0.2', f'{what}: connection did not come through the proxy')


@case
def ncat_socks5():
    """ncat --proxy-type socks5 to the echo target: stdin comes back on stdout."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(), Target(), os.urandom(50_000)
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks5',
                     '127.0.0.1', str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat', p.stderr)


@case
def ncat_socks5_auth():
    """ncat --proxy-auth u:p (and --proxy-dns remote when isolated) to the echo target."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(auth=True), Target(), os.urandom(50_000)
    dest = ['--proxy-dns', 'remote', 'v4only.test'] if ISOLATED else ['127.0.0.1']
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks5',
                     '--proxy-auth', f'{USER}:{PASSWORD}', *dest, str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat --proxy-auth', p.stderr)


@case
def socks4_ncat():
    """ncat --proxy-type socks4 to the echo target: stdin comes back on stdout."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(), Target(), os.urandom(50_000)
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks4',
                     '127.0.0.1', str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat socks4', p.stderr)


def pysocks_echo(server, target, host, version=5, **proxy):
    try:
        import socks
    except ImportError:
        raise Skip('PySocks (python3-socks) not installed')
    s = socks.socksocket()
    defer(s.close)
    s.settimeout(T.IO)
    s.set_proxy(socks.SOCKS4 if version == 4 else socks.SOCKS5, '127.0.0.1', server.port, **proxy)
    s.connect((host, target.port))
    data = os.urandom(20_000)
    s.sendall(data)
    check_proxied_echo(target, recv_exact(s, len(data)), data, 'PySocks')


@case
def pysocks():
    """PySocks socksocket (local resolution, no auth) to the echo target."""
    pysocks_echo(proxy_server(), Target(), '127.0.0.1', rdns=False)


@case
def pysocks_auth():
    """PySocks with username/password (and remote resolution of v4only.test when isolated)."""
    host = 'v4only.test' if ISOLATED else '127.0.0.1'
    pysocks_echo(proxy_server(auth=True), Target(), host, rdns=True, username=USER, password=PASSWORD)


@case
def socks4_pysocks():
    """PySocks SOCKS4 with a user id (and SOCKS4a remote resolution of v4only.test when isolated)."""
    host = 'v4only.test' if ISOLATED else '127.0.0.1'
    pysocks_echo(proxy_server(), Target(), host, version=4, rdns=ISOLATED, username='pysocks-user')


def proxychains(server, *argv):
    pc = need_program('proxychains4')
    d = tempfile.mkdtemp(prefix='ms-pc-')
    defer(lambda: shutil.rmtree(d, ignore_errors=True))
    conf = os.path.join(d, 'proxychains.conf')
    with open(conf, 'w') as f:
        f.write('strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n'
                f'[ProxyList]\nsocks5 127.0.0.1 {server.port} {USER} {PASSWORD}\n')
    return run_program([pc, '-q', '-f', conf, *argv])


@case
def proxychains_curl():
    """proxychains4 (socks5 with user/password) running plain curl fetches the body."""
    curl_path = need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = proxychains(server, curl_path, '-q', '-sS', '--max-time', '20', http.url())
    http.check_fetched(p, 'proxychains4 curl')


@case
def proxychains_python():
    """proxychains4 (socks5 with user/password) running python3 urllib fetches the body."""
    server, http = proxy_server(auth=True), HttpTarget()
    code = ('import sys, urllib.request; '
            'sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=20).read())')
    p = proxychains(server, '/usr/bin/python3', '-c', code, http.url())
    http.check_fetched(p, 'proxychains4 python3')


import udp  # noqa: E402,F401 -- tests/udp.py: the UDP ASSOCIATE cases, registered with @case
import rules  # noqa: E402,F401 -- tests/rules.py: the access-rule cases (-w ranges, --allow, --deny)
import ops  # noqa: E402,F401 -- tests/ops.py: listeners, limits, users, session log, syslog, stats, drain
import system  # noqa: E402,F401 -- tests/system.py: socket activation, readiness, unit files, chromium
import security  # noqa: E402,F401 -- tests/security.py: the claims of SECURITY
import attack  # noqa: E402,F401 -- tests/attack.py: ways around --deny, BIND, the log, credentials
import fuzz.handshake_fuzz  # noqa: E402,F401 -- tests/fuzz/handshake_fuzz.py: the stateful handshake fuzz, fuzz_*
if os.environ.get('MS_STRESS') == '1':
    import stress  # noqa: E402,F401 -- tests/stress.py: fault and load cases, for `make stress` only


# ================================================================ runner

def run_case(fn):
    """Run one case and its cleanups; returns ('ok'|'FAIL'|'SKIP', reason)."""
    status, reason = 'ok', ''
    try:
        fn()
    except Skip as e:
        status, reason = 'SKIP', str(e)
    except Fail as e:
        status, reason = 'FAIL', str(e)
    except Exception as e:
        status, reason = 'FAIL', f'{type(e).__name__}: {e}'
    problems = run_cleanups()
    if problems:
        reason = '; '.join(([reason] if status == 'FAIL' else []) + problems)
        status = 'FAIL'
    return status, reason


def run_unit_test(path):
    """Run one unit-test binary, print its lines but its summary; returns (passed, failed)."""
    try:
        p = subprocess.run(EMULATOR + [path], capture_output=True, timeout=T.UNIT)
        lines, rc = p.stdout.decode('utf-8', 'replace').splitlines(), p.returncode
        err = p.stderr.decode('utf-8', 'replace')
    except (OSError, subprocess.TimeoutExpired) as e:
        lines, rc, err = [], None, f'{type(e).__name__}: {e}'
    m = re.fullmatch(r'(\d+) passed, (\d+) failed.*', lines[-1]) if lines else None
    for line in lines[:-1] if m else lines:
        print(line)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if rc != 0 and failed == 0:
        why = describe_status(rc) if rc is not None else 'did not run'
        print(f'FAIL unit {path}: {why}, no failure counted: {" | ".join(err.splitlines()[-5:])}')
        failed = 1
    elif not m:
        print(f'FAIL unit {path}: last line is not "N passed, N failed"')
        failed = 1
    sys.stdout.flush()
    return passed, failed


def select_cases(names):
    chosen = [fn for fn in CASES if not names or any(
        fn.__name__ == n or fn.__name__.startswith(n + '_') for n in names)]
    unknown = [n for n in names if n != 'unit' and not any(
        fn.__name__ == n or fn.__name__.startswith(n + '_') for fn in CASES)]
    return chosen, unknown


def main(argv):
    names = argv[1:]
    socket.setdefaulttimeout(T.IO)
    chosen, unknown = select_cases(names)
    if unknown:
        print(f'unknown case(s): {" ".join(unknown)}; cases: {" ".join(fn.__name__ for fn in CASES)}')
        return 2
    passed = failed = skipped = 0
    if not names or 'unit' in names:
        for path in os.environ.get('UNIT_TESTS', '').split():
            p_n, f_n = run_unit_test(path)
            passed, failed = passed + p_n, failed + f_n
    if chosen and not (os.path.isfile(MICROSOCKS) and os.access(MICROSOCKS, os.X_OK)):
        print(f'FAIL setup: {MICROSOCKS} is not an executable file', flush=True)
        failed += 1
        chosen = []
    for fn in chosen:
        status, reason = run_case(fn)
        print(f'{status} {fn.__name__}' + (f': {reason}' if reason else ''), flush=True)
        passed += status == 'ok'
        failed += status == 'FAIL'
        skipped += status == 'SKIP'
    print(f'{passed} passed, {failed} failed, {skipped} skipped', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
