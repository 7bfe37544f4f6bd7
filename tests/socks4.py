"""Black-box cases for SOCKS4 and SOCKS4a CONNECT: raw requests, split and pipelined, SOCKS4a
names, rejections, the handshake timeout, the user id in the log, and -u/-P, -w and -1.
(SOCKS4 BIND: tests/bind.py; SOCKS4 through real clients: tests/clients.py.)

Imported by tests/runner.py; the cases register with harness's @case. tests/rules.py and
tests/bind.py use its helpers.
"""

import os
import re
import time

from harness import (
    ISOLATED, PASSWORD, S4_BIND, S4_CONNECT, S4_GRANTED, T, USER, Server, SocksClient, Target,
    auth_server, case, check, closed_port, expect_closed_between, need_isolation, reserve_port,
    socks4_request, tunnel)


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
