"""Black-box cases for running several instances: --reuseport, and (with a real HAProxy in
front) the PROXY protocol.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import re
import socket
import struct
import subprocess
import sys
import time

from harness import (
    NO_ACCEPTABLE, NOAUTH, PASSWORD, REP_OK, T, UDP_ASSOCIATE, USER, USERPASS, Server, Skip,
    SocksClient, Target, case, check, connect_request, defer, expect_closed_between, family_of,
    greeting, hexs, need_isolation, recv_until_eof, run_microsocks, tunnel)
from udp import UdpEcho, parse_udp, recv_datagram, udp_header, udp_socket

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


# ================================================================ the PROXY protocol, by hand
#
# A server with --proxy-protocol 127.0.0.1/32 takes every connection from 127.0.0.1 for a
# balancer's: the case writes the PROXY header itself, naming whatever client address it likes.
# The session lines are in PP_FORMAT, which shows the balancer (%B) beside the client (%a).

PP_FORMAT = 'pp %a %B %U %N %E %T'
PP_RE = re.compile(r'^pp (?P<client>\S+) (?P<balancer>\S+) (?P<user>\S+) (?P<cmd>\S+) (?P<rep>\S+) '
                   r'(?P<reason>.*)$')
V2_SIG = b'\r\n\r\n\0\r\nQUIT\n'
PP2_TYPE_NOOP = 0x04  # a TLV that the receiver skips (proxy-protocol.txt, section 2.2.8)


def v1_header(src, sport, dst='127.0.0.1', dport=1080):
    """A PROXY v1 line for a TCP connection from src:sport (IPv4 or IPv6) to dst:dport."""
    proto = 'TCP6' if ':' in src else 'TCP4'
    return f'PROXY {proto} {src} {dst} {sport} {dport}\r\n'.encode()


def v2_header(src=None, sport=0, dst=None, dport=1080, tlvs=b''):
    """A PROXY v2 header: PROXY for a TCP connection from src:sport (IPv4 or IPv6, dst of the same
    family), or LOCAL when src is None."""
    if src is None:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack('>H', len(tlvs)) + tlvs
    family = family_of(src)
    dst = dst or ('::1' if family == socket.AF_INET6 else '127.0.0.1')
    body = (socket.inet_pton(family, src) + socket.inet_pton(family, dst)
            + struct.pack('>HH', sport, dport) + tlvs)
    fam = 0x21 if family == socket.AF_INET6 else 0x11
    return V2_SIG + bytes([0x21, fam]) + struct.pack('>H', len(body)) + body


def pp_server(*args):
    """A server that takes 127.0.0.1 for a balancer, logging in PP_FORMAT."""
    return Server('--proxy-protocol', '127.0.0.1/32', '--log-format', PP_FORMAT, *args)


def via_balancer(server, header, source=None):
    """A SocksClient from 127.0.0.1 (the balancer; source overrides) that has sent header."""
    c = SocksClient(server.address, source)
    c.send(header)
    return c


def own_name(c):
    """ADDR:PORT of the client's end of its connection, as %a and %B write it."""
    host, port = c.sock.getsockname()[:2]
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def pp_line(servers, client, timeout=None):
    """The first PP_FORMAT session line naming client (ADDR:PORT) as %a on one of servers, waiting
    at most timeout; returns (the server, the match)."""
    servers = servers if isinstance(servers, (list, tuple)) else [servers]
    timeout = T.IO if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        for s in servers:
            for line in s.stderr().splitlines():
                m = PP_RE.match(line)
                if m and m.group('client') == client:
                    return s, m
        check(time.monotonic() < deadline,
              f'no session line for client {client} within {timeout:.1f}s; last lines: '
              + ' / '.join(s.stderr_tail(4) for s in servers))
        time.sleep(T.POLL)


def pp_clients(server):
    """The %a of every PP_FORMAT session line the server has logged so far."""
    return [m.group('client') for m in map(PP_RE.match, server.stderr().splitlines()) if m]


def expect_shut_out(c, what):
    """The server closes c without sending a byte."""
    got = recv_until_eof(c.sock)
    check(got == b'', f'{what}: the server answered {hexs(got)} before closing')


def expect_reason(server, client, reason, what, balancer='-'):
    """The session line of client (ADDR:PORT) says reason and names balancer as %B."""
    _, m = pp_line(server, client)
    check(m.group('reason') == reason and m.group('balancer') == balancer,
          f'{what}: session line {m.group(0)!r}, expected %B {balancer} and reason "{reason}"')


@case
def proxy_v1():
    """A connection from a --proxy-protocol range that starts with a v1 line "PROXY TCP4
    127.0.0.5 127.0.0.1 4242 1080" (alone in its segment), then a SOCKS5 greeting and CONNECT
    in one write: the tunnel echoes, and its session line names 127.0.0.5:4242 as the client
    (%a) and the connection's own 127.0.0.1:PORT as the balancer (%B). The same with "PROXY TCP6
    ::5 ::1 4243 1080": the client is [::5]:4243."""
    server = pp_server()
    target = Target()
    for src, sport, shown in (('127.0.0.5', 4242, '127.0.0.5:4242'), ('::5', 4243, '[::5]:4243')):
        c = via_balancer(server, v1_header(src, sport, '::1' if ':' in src else '127.0.0.1'))
        time.sleep(T.SPLIT_GAP)
        c.send(greeting(NOAUTH) + connect_request(*target.address))
        check(c.read_method() == NOAUTH, f'v1 header for {shown}: no-auth not chosen')
        r = c.read_reply()
        check(r.rep == REP_OK, f'v1 header for {shown}: CONNECT reply {r.rep:#04x}')
        c.echo_check()
        balancer = own_name(c)
        c.close()
        _, m = pp_line(server, shown)
        check((m.group('balancer'), m.group('cmd'), m.group('rep')) == (balancer, 'CONNECT', '0'),
              f'v1 header for {shown}: session line {m.group(0)!r}, expected %B {balancer}, '
              f'CONNECT, reply 0')


@case
def proxy_v2():
    """v2 PROXY headers, each in one write with the greeting after it: TCP over IPv6 from
    [::5]:5000 -> the session line's client is [::5]:5000; from ::ffff:127.0.0.5 (IPv4-mapped)
    -> 127.0.0.5:5001, as a client from 127.0.0.5 is written; TCP over IPv4 with a NOOP TLV
    making the header 536 bytes long, the most taken -> 127.0.0.6:5002. Each gets its no-auth
    method and a working tunnel; %B is the connection's own 127.0.0.1:PORT."""
    server = pp_server()
    target = Target()
    tlv = bytes([PP2_TYPE_NOOP]) + struct.pack('>H', 536 - 16 - 12 - 3) + bytes(536 - 16 - 12 - 3)
    headers = ((v2_header('::5', 5000), '[::5]:5000'),
               (v2_header('::ffff:127.0.0.5', 5001), '127.0.0.5:5001'),
               (v2_header('127.0.0.6', 5002, tlvs=tlv), '127.0.0.6:5002'))
    check(len(headers[2][0]) == 536, f'the long header is {len(headers[2][0])} bytes')
    for header, shown in headers:
        c = via_balancer(server, header + greeting(NOAUTH))
        check(c.read_method() == NOAUTH, f'v2 header for {shown}: no-auth not chosen')
        r = c.request(*target.address)
        check(r.rep == REP_OK, f'v2 header for {shown}: CONNECT reply {r.rep:#04x}')
        c.echo_check()
        balancer = own_name(c)
        c.close()
        _, m = pp_line(server, shown)
        check((m.group('balancer'), m.group('cmd')) == (balancer, 'CONNECT'),
              f'v2 header for {shown}: session line {m.group(0)!r}, expected %B {balancer}, CONNECT')


@case
def proxy_v2_local():
    """A v2 LOCAL header (what HAProxy's health checks send) and a v1 "PROXY UNKNOWN" line, each
    followed by a greeting: the client is the balancer itself, so its session line has the
    connection's own 127.0.0.1:PORT as both %a and %B; with -u and -w 127.0.0.5 the balancer
    must authenticate (no-auth refused, method ff), and can."""
    server = pp_server('-u', USER, '-P', PASSWORD, '-w', '127.0.0.5')
    for header, what in ((v2_header(), 'v2 LOCAL'), (b'PROXY UNKNOWN\r\n', 'v1 UNKNOWN')):
        c = via_balancer(server, header + greeting(NOAUTH))
        check(c.read_method() == NO_ACCEPTABLE, f'{what}: no-auth accepted from the balancer')
        expect_shut_out(c, f'{what}: after method ff')
        me = own_name(c)
        expect_reason(server, me, 'no acceptable method', what, balancer=me)
        c = via_balancer(server, header + greeting(USERPASS))
        check(c.read_method() == USERPASS, f'{what}: user/password not chosen')
        check(c.auth(USER, PASSWORD) == 0, f'{what}: correct credentials rejected')


@case
def proxy_whitelist():
    """-u with -w 127.0.0.5 behind a balancer: a header naming 127.0.0.5 gets no-auth (05 00);
    one naming 127.0.0.6 gets 05 ff, and with user/password gets in; -w goes by the header's
    address, not the balancer's 127.0.0.1."""
    server = pp_server('-u', USER, '-P', PASSWORD, '-w', '127.0.0.5')
    c = via_balancer(server, v1_header('127.0.0.5', 6000) + greeting(NOAUTH))
    check(c.read_method() == NOAUTH, 'header naming 127.0.0.5 (-w): no-auth not chosen')
    c = via_balancer(server, v2_header('127.0.0.6', 6001) + greeting(NOAUTH))
    check(c.read_method() == NO_ACCEPTABLE, 'header naming 127.0.0.6: no-auth accepted')
    c = via_balancer(server, v2_header('127.0.0.6', 6002) + greeting(USERPASS))
    check(c.read_method() == USERPASS and c.auth(USER, PASSWORD) == 0,
          'header naming 127.0.0.6: user/password refused')


@case
def proxy_auth_once():
    """-1 behind a balancer goes by the header's address: after a client named 127.0.0.5 by its
    header authenticated, another header naming 127.0.0.5 (another port) gets no-auth; one
    naming 127.0.0.6 still gets 05 ff, and so does the balancer's own LOCAL connection."""
    server = pp_server('-u', USER, '-P', PASSWORD, '-1')
    c = via_balancer(server, v1_header('127.0.0.5', 7000) + greeting(USERPASS))
    check(c.read_method() == USERPASS and c.auth(USER, PASSWORD) == 0, 'first client: not authenticated')
    c.close()
    for header, expected, what in ((v1_header('127.0.0.5', 7001), NOAUTH, '127.0.0.5 again'),
                                   (v2_header('127.0.0.6', 7002), NO_ACCEPTABLE, '127.0.0.6'),
                                   (v2_header(), NO_ACCEPTABLE, 'LOCAL (the balancer)')):
        c = via_balancer(server, header + greeting(NOAUTH))
        got = c.read_method()
        check(got == expected, f'-1, header for {what}: method {got:#04x}, expected {expected:#04x}')


@case
def proxy_missing_header():
    """From a --proxy-protocol range, what is not a valid PROXY header is closed at once, without
    a byte in reply, and logged "bad PROXY header" with %B "-": a plain SOCKS5 greeting, a SOCKS4
    request, a v1 line with a bad address ("PROXY TCP4 127.0.0.256 ..."), a v1 line with LF only,
    a v2 signature with version 1, v2 PROXY over UDP (family 0x12)."""
    server = pp_server()
    bad = ((greeting(NOAUTH), 'a SOCKS5 greeting'),
           (bytes([4, 1, 0, 80, 127, 0, 0, 1, 0]), 'a SOCKS4 request'),
           (b'PROXY TCP4 127.0.0.256 127.0.0.1 1 2\r\n', 'v1, address 127.0.0.256'),
           (b'PROXY TCP4 127.0.0.5 127.0.0.1 1 2\n', 'v1, LF without CR'),
           (V2_SIG + bytes([0x11, 0x11, 0, 12]) + bytes(12), 'v2 signature, version 1'),
           (V2_SIG + bytes([0x21, 0x12, 0, 12]) + bytes(12), 'v2 PROXY over UDP'))
    clients = [(via_balancer(server, data + greeting(NOAUTH)), what) for data, what in bad]
    for c, what in clients:
        expect_shut_out(c, what)
    for c, what in clients:
        expect_reason(server, own_name(c), 'bad PROXY header', what)


@case
def proxy_truncated_header():
    """With --handshake-timeout 1, a balancer's connection that sends part of a header and then
    nothing ("PROXY TCP4 127.0.0.5", and a v2 header whose length promises 12 bytes of which 4
    came) is closed between 0.9 and 1 + slack seconds, without a byte in reply, logged
    "handshake timeout"; one that sends a part and shuts down its side is closed at once."""
    server = pp_server('--handshake-timeout', '1')
    start = time.monotonic()
    parts = ((b'PROXY TCP4 127.0.0.5', 'part of a v1 line'),
             (V2_SIG + bytes([0x21, 0x11, 0, 12]) + bytes(4), 'part of a v2 header'))
    clients = [(via_balancer(server, data), what) for data, what in parts]
    for c, what in clients:
        expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, what)
    for c, what in clients:
        expect_reason(server, own_name(c), 'handshake timeout', what)
    c = via_balancer(server, b'PROXY TCP4 127.0.0.5')
    c.sock.shutdown(socket.SHUT_WR)
    start = time.monotonic()
    expect_shut_out(c, 'part of a v1 line, then EOF')
    check(time.monotonic() - start < T.EARLY, 'part of a v1 line, then EOF: closed only at the timeout')


@case
def proxy_v2_oversized():
    """A v2 header whose length field makes it 537 bytes (one more than the 536 taken), and a v1
    line of 108 bytes without CRLF, are closed as soon as they are seen, long before the
    handshake timeout (10 s), without a byte in reply: "bad PROXY header"."""
    server = pp_server()
    tlv = bytes([PP2_TYPE_NOOP]) + struct.pack('>H', 537 - 16 - 12 - 3) + bytes(537 - 16 - 12 - 3)
    header = v2_header('127.0.0.5', 8000, tlvs=tlv)
    check(len(header) == 537, f'the oversized header is {len(header)} bytes')
    start = time.monotonic()
    for data, what in ((header[:16], 'the head of a 537-byte v2 header'),
                       (b'PROXY TCP4 127.0.0.5 127.0.0.1 8001 1080 ' + b'x' * 67, 'a 108-byte v1 line')):
        c = via_balancer(server, data)
        expect_shut_out(c, what)
        check(time.monotonic() - start < T.IO, f'{what}: closed only after {time.monotonic() - start:.1f}s')
        expect_reason(server, own_name(c), 'bad PROXY header', what)


@case
def proxy_not_believed():
    """A client outside the --proxy-protocol ranges (127.0.0.7) is served as without the option:
    a plain greeting gets no-auth; a v1 or v2 PROXY header from it naming 127.0.0.5 is bad SOCKS,
    closed without a byte ("not a SOCKS client", %B "-"), and no session line names 127.0.0.5."""
    need_isolation()
    server = pp_server()
    c = SocksClient(server.address, '127.0.0.7')
    check(c.greet(NOAUTH) == NOAUTH, 'a direct client from 127.0.0.7: no-auth not chosen')
    for header, what in ((v1_header('127.0.0.5', 9000), 'v1'), (v2_header('127.0.0.5', 9001), 'v2')):
        c = via_balancer(server, header + greeting(NOAUTH), source='127.0.0.7')
        expect_shut_out(c, f'a {what} header from 127.0.0.7')
        expect_reason(server, own_name(c), 'not a SOCKS client', f'a {what} header from 127.0.0.7')
    named = [a for a in pp_clients(server) if a.startswith('127.0.0.5:')]
    check(not named, f'session lines name the header\'s address: {named}')


@case
def proxy_allow():
    """--allow 127.0.0.5 with the balancer 127.0.0.1 outside it: the balancer's connections are
    read, and the header decides: one naming 127.0.0.6 is closed without a byte ("not allowed"),
    one naming 127.0.0.5 is served."""
    server = pp_server('--allow', '127.0.0.5')
    c = via_balancer(server, v1_header('127.0.0.6', 10000) + greeting(NOAUTH))
    expect_shut_out(c, 'a header naming 127.0.0.6')
    expect_reason(server, '127.0.0.6:10000', 'not allowed', 'a header naming 127.0.0.6',
                  balancer=own_name(c))
    c = via_balancer(server, v2_header('127.0.0.5', 10001) + greeting(NOAUTH))
    check(c.read_method() == NOAUTH, 'a header naming 127.0.0.5: no-auth not chosen')


@case
def proxy_max_per_ip():
    """--max-per-ip 1 counts the header's address, not the balancer's: with a tunnel open for a
    header naming 127.0.0.5, a second header naming 127.0.0.5 is closed without a byte ("too many
    clients from this address"), one naming 127.0.0.6 is served; once the first has ended, a
    header naming 127.0.0.5 is served again."""
    server = pp_server('--max-per-ip', '1')
    target = Target()
    first = via_balancer(server, v1_header('127.0.0.5', 11000) + greeting(NOAUTH))
    check(first.read_method() == NOAUTH, 'first client: no-auth not chosen')
    check(first.request(*target.address).rep == REP_OK, 'first client: CONNECT failed')
    first.echo_check()
    c = via_balancer(server, v1_header('127.0.0.5', 11001) + greeting(NOAUTH))
    expect_shut_out(c, 'a second header naming 127.0.0.5')
    expect_reason(server, '127.0.0.5:11001', 'too many clients from this address',
                  'a second header naming 127.0.0.5', balancer=own_name(c))
    other = via_balancer(server, v2_header('127.0.0.6', 11002) + greeting(NOAUTH))
    check(other.read_method() == NOAUTH, 'a header naming 127.0.0.6: no-auth not chosen')
    check(other.request(*target.address).rep == REP_OK, 'a header naming 127.0.0.6: CONNECT failed')
    other.echo_check()
    first.close()
    pp_line(server, '127.0.0.5:11000')
    c = via_balancer(server, v1_header('127.0.0.5', 11003) + greeting(NOAUTH))
    check(c.read_method() == NOAUTH, '127.0.0.5 after its first tunnel ended: no-auth not chosen')


@case
def proxy_udp_pinned():
    """UDP ASSOCIATE behind a header naming 127.0.0.5: the relay takes datagrams from the header's
    address only. One from the balancer's 127.0.0.1 is not relayed; one from 127.0.0.5 reaches an
    echo and its answer comes back; one from 127.0.0.1 after it is still not relayed."""
    need_isolation()
    server = pp_server()
    echo = UdpEcho()
    client, balancer = udp_socket('127.0.0.5'), udp_socket('127.0.0.1')
    c = via_balancer(server, v1_header('127.0.0.5', client.getsockname()[1]) + greeting(NOAUTH))
    check(c.read_method() == NOAUTH, 'no-auth not chosen')
    r = c.request('0.0.0.0', 0, cmd=UDP_ASSOCIATE)
    check(r.rep == REP_OK, f'UDP ASSOCIATE: reply {r.rep:#04x}')
    relay = (r.addr, r.port)

    def send(sock, data):
        sock.sendto(udp_header(*echo.address) + data, relay)

    send(balancer, b'from the balancer, first')
    echo.expect_nothing('a datagram from the balancer\'s address, before the client\'s')
    data = os.urandom(500)
    send(client, data)
    peer, got = echo.next(what='a datagram from 127.0.0.5')
    check(got == data, f'a datagram from 127.0.0.5: the echo got {hexs(got)}')
    reply, source = recv_datagram(client, what='the answer to 127.0.0.5')
    check(source == relay and parse_udp(reply)[3] == data,
          f'the answer to 127.0.0.5: from {source}, {hexs(reply)}')
    send(balancer, b'from the balancer, later')
    echo.expect_nothing('a datagram from the balancer\'s address, after the client\'s')
