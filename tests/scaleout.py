"""Black-box cases for running several instances: --reuseport (scaleout_reuseport_*), the PROXY
protocol with headers the cases write themselves (proxy_*), and two instances behind a real
HAProxy running contrib/haproxy.cfg (scaleout_haproxy_*, SKIP without haproxy).

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

from clients import HttpTarget, curl, need_program
from harness import (
    NO_ACCEPTABLE, NOAUTH, PASSWORD, REP_OK, ROOT, T, UDP_ASSOCIATE, USER, USERPASS, Fail, Server,
    Skip, SocksClient, Target, case, check, connect_request, defer, describe_status,
    expect_closed_between, family_of, free_port, greeting, hexs, need_isolation, recv_until_eof,
    run_microsocks, tunnel)
from ops import show, temp_dir, write_file
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
    return show(*c.sock.getsockname()[:2])


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
def proxy_local_check_quiet():
    """A balancer's health check that passes is not logged: a v2 LOCAL header, greeting, correct
    login, then the balancer closes before any request: no session line names it (HAProxy checks
    every second, a line each would bury the clients'). One with a wrong password is logged,
    "auth failed", and so is one that sends no request after a v1 UNKNOWN header and a greeting
    the server refuses (05 ff)."""
    server = pp_server('-u', USER, '-P', PASSWORD)
    c = via_balancer(server, v2_header() + greeting(USERPASS))
    check(c.read_method() == USERPASS and c.auth(USER, PASSWORD) == 0, 'the check could not log in')
    passed = own_name(c)
    c.sock.shutdown(socket.SHUT_WR)
    recv_until_eof(c.sock)    # the server closed its end: its session is over, logged or not
    c = via_balancer(server, v2_header() + greeting(USERPASS))
    check(c.read_method() == USERPASS and c.auth(USER, 'wrong') == 1, 'a wrong password accepted')
    me = own_name(c)
    expect_reason(server, me, 'auth failed', 'a check with a wrong password', balancer=me)
    c = via_balancer(server, b'PROXY UNKNOWN\r\n' + greeting(NOAUTH))
    check(c.read_method() == NO_ACCEPTABLE, 'no-auth accepted from the balancer')
    me = own_name(c)
    expect_reason(server, me, 'no acceptable method', 'a check offering no-auth', balancer=me)
    check(passed not in pp_clients(server), f'the passing check {passed} was logged')


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
def proxy_auth_ban():
    """--auth-fail-max 3 behind a balancer goes by the header's address, and holds an IPv6 client's
    /64: after three wrong passwords from [2001:db8::1], [2001:db8::2] gets 05 ff even with the
    right password, and "2001:db8::/64: 3 wrong passwords" is logged; [2001:db8:0:1::1] and
    127.0.0.5 log in through the same balancer, and so does its own LOCAL connection."""
    server = pp_server('-u', USER, '-P', PASSWORD, '--auth-fail-max', '3')
    for port in (7200, 7201, 7202):
        c = via_balancer(server, v1_header('2001:db8::1', port, '::1') + greeting(USERPASS))
        check(c.read_method() == USERPASS and c.auth(USER, 'wrong') == 1,
              f'wrong password from [2001:db8::1]:{port}: not refused')
        c.close()
    server.wait_line(re.compile(r'microsocks: 2001:db8::/64: 3 wrong passwords, refused for 600 s$'))
    for header, expected, what in ((v1_header('2001:db8::2', 7203, '::1'), NO_ACCEPTABLE, '[2001:db8::2]'),
                                   (v1_header('2001:db8:0:1::1', 7204, '::1'), USERPASS, '[2001:db8:0:1::1]'),
                                   (v2_header('127.0.0.5', 7205), USERPASS, '127.0.0.5'),
                                   (v2_header(), USERPASS, 'LOCAL (the balancer)')):
        c = via_balancer(server, header + greeting(USERPASS))
        got = c.read_method()
        check(got == expected, f'header for {what}: method {got:#04x}, expected {expected:#04x}')
        if got == USERPASS:
            check(c.auth(USER, PASSWORD) == 0, f'header for {what}: right password refused')
        c.close()


@case
def proxy_auth_once_local():
    """-1 and a balancer's own connections (v2 LOCAL, as HAProxy's health checks): -1 does not
    remember them, so that an authenticating health check (contrib/haproxy.cfg) works with -1:
    after one LOCAL connection authenticated, the next one still gets user/password (05 02) for
    greeting 05 02 00 02, and can log in again; a header naming 127.0.0.5 gets 05 02 too."""
    server = pp_server('-u', USER, '-P', PASSWORD, '-1')
    for n in ('first', 'second'):
        c = via_balancer(server, v2_header() + greeting(NOAUTH, USERPASS))
        check(c.read_method() == USERPASS and c.auth(USER, PASSWORD) == 0,
              f'{n} LOCAL: not asked for a password, or not authenticated')
        c.close()
    c = via_balancer(server, v2_header('127.0.0.5', 7100) + greeting(NOAUTH, USERPASS))
    got = c.read_method()
    check(got == USERPASS, f'a header naming 127.0.0.5: method {got:#04x}, not 02')


@case
def proxy_missing_header():
    """From a --proxy-protocol range, what is not a valid PROXY header is closed at once, without
    a byte in reply, and logged "bad PROXY header" with %B (and %a) the balancer's own
    connection: a plain SOCKS5 greeting, a SOCKS4
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
        expect_reason(server, own_name(c), 'bad PROXY header', what, balancer=own_name(c))


@case
def proxy_truncated_header():
    """With --handshake-timeout 1, a balancer's connection that sends part of a header and then
    nothing ("PROXY TCP4 127.0.0.5", and a v2 header whose length promises 12 bytes of which 4
    came) is closed between 0.9 and 1 + slack seconds, without a byte in reply, logged
    "handshake timeout" with %B the balancer's connection; one that sends a part and shuts down
    its side is closed at once."""
    server = pp_server('--handshake-timeout', '1')
    start = time.monotonic()
    parts = ((b'PROXY TCP4 127.0.0.5', 'part of a v1 line'),
             (V2_SIG + bytes([0x21, 0x11, 0, 12]) + bytes(4), 'part of a v2 header'))
    clients = [(via_balancer(server, data), what) for data, what in parts]
    for c, what in clients:
        expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, what)
    for c, what in clients:
        expect_reason(server, own_name(c), 'handshake timeout', what, balancer=own_name(c))
    c = via_balancer(server, b'PROXY TCP4 127.0.0.5')
    c.sock.shutdown(socket.SHUT_WR)
    start = time.monotonic()
    expect_shut_out(c, 'part of a v1 line, then EOF')
    check(time.monotonic() - start < T.EARLY, 'part of a v1 line, then EOF: closed only at the timeout')


@case
def proxy_v2_oversized():
    """A v2 header whose length field makes it 537 bytes (one more than the 536 taken), and a v1
    line of 108 bytes without CRLF, are closed as soon as they are seen, long before the
    handshake timeout (10 s), without a byte in reply: "bad PROXY header", %B the balancer's
    connection."""
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
        expect_reason(server, own_name(c), 'bad PROXY header', what, balancer=own_name(c))


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


# ================================================================ behind HAProxy
#
# HAProxy on 127.0.0.1 in front of two instances, its configuration made from the shipped
# contrib/haproxy.cfg: the bind and server lines get the test's addresses, the health checks a
# shorter interval, and the global section a stats socket for asking HAProxy what it thinks of
# the servers. The instances take 127.0.0.1 (HAProxy's side) for a balancer and read the check
# user's name and password from a users file, as the shipped comments say; clients come from
# 127.0.0.5 (in -w), 127.0.0.6 and 127.0.0.8 (with alice's password).

HAPROXY_CFG = os.path.join(ROOT, 'contrib', 'haproxy.cfg')
INTER_MS = 200      # the health checks' interval in the test's config (1 s in the shipped one)
FALL = 3            # HAProxy's default: failed checks in a row that mark a server DOWN
GRACE = 30          # the instances' --grace, longer than any case waits


def check_credentials(text):
    """(user, password) of the RFC 1929 request in the config's health check; the config's
    comments must show the same users-file line."""
    reqs = re.findall(r'(?m)^\s*tcp-check send-binary (01[0-9a-fA-F]+)\s*$', text)
    check(len(reqs) == 1, f'{HAPROXY_CFG}: {len(reqs)} RFC 1929 requests in the health check')
    b = bytes.fromhex(reqs[0])
    ulen = b[1]
    plen = b[2 + ulen] if len(b) > 2 + ulen else -1
    check(ulen > 0 and plen > 0 and len(b) == 3 + ulen + plen,
          f'{HAPROXY_CFG}: the check\'s RFC 1929 request {reqs[0]} is malformed')
    user, password = b[2:2 + ulen].decode(), b[3 + ulen:].decode()
    check(re.search(rf'(?m)^#\s+{re.escape(user)}:{re.escape(password)}$', text),
          f'{HAPROXY_CFG}: the check sends {user}:{password}, which no comment shows')
    return user, password


def haproxy_config(text, frontend, servers, stats):
    """The shipped config with the frontend's bind on frontend, the servers on servers (in
    order), checks every INTER_MS and a stats socket; returns (config, server names)."""
    text, n = re.subn(r'(?m)^(\s*bind\s+)\S+', lambda m: m.group(1) + show(*frontend), text)
    check(n == 1, f'{HAPROXY_CFG}: {n} bind lines, expected 1')
    names = re.findall(r'(?m)^\s*server\s+(\S+)\s', text)
    check(len(names) == len(servers), f'{HAPROXY_CFG}: servers {names}, expected {len(servers)}')
    spots = iter(servers)
    text = re.sub(r'(?m)^(\s*server\s+\S+\s+)\S+', lambda m: m.group(1) + show(*next(spots)), text)
    text, n = re.subn(r'(?m)^(\s*server\s.*\binter\s+)\S+', rf'\g<1>{INTER_MS}ms', text)
    check(n == len(servers), f'{HAPROXY_CFG}: {n} server lines with "inter"')
    text, n = re.subn(r'(?m)^global\n', f'global\n\tstats socket {stats}\n', text)
    check(n == 1, f'{HAPROXY_CFG}: no global section')
    return text, names


class HAProxy:
    """haproxy -db (in the foreground) on the shipped config made to fit, in front of
    instances; its output goes to a file shown when something goes wrong. Stopped after the
    case."""

    def __init__(self, program, text, instances, directory):
        self.address = ('127.0.0.1', free_port())
        self.stats_path = os.path.join(directory, 'stats.sock')
        text, self.names = haproxy_config(text, self.address, [s.address for s in instances],
                                          self.stats_path)
        self.instances = dict(zip(self.names, instances))
        self.cfg = write_file(os.path.join(directory, 'haproxy.cfg'), text)
        self.log = os.path.join(directory, 'haproxy.log')
        p = subprocess.run([program, '-c', '-f', self.cfg], capture_output=True, text=True,
                           timeout=T.PROGRAM)
        check(p.returncode == 0, f'haproxy -c on the test\'s config: exit {p.returncode}: '
                                 f'{(p.stdout + p.stderr)[-400:]!r}')
        with open(self.log, 'wb') as out:
            self.proc = subprocess.Popen([program, '-db', '-f', self.cfg], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        defer(self.stop)

    def output(self, n=6):
        with open(self.log, errors='replace') as f:
            return ' | '.join(f.read().splitlines()[-n:]) or '(nothing)'

    def stats(self):
        """{server name: its row of "show stat"} for the backend, or None while the stats socket
        does not answer."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(T.IO)
        try:
            s.connect(self.stats_path)
            s.sendall(b'show stat\n')
            text = recv_until_eof(s).decode()
        except OSError:
            return None
        finally:
            s.close()
        lines = text.splitlines()
        if not lines or not lines[0].startswith('# '):
            return None
        fields = lines[0][2:].split(',')
        rows = [dict(zip(fields, line.split(','))) for line in lines[1:] if line]
        return {r['svname']: r for r in rows if r.get('svname') in self.names}

    def wait_states(self, want, timeout, what):
        """Wait until each server named in want has the state given there: 'UP' (its last
        check passed, L7OK) or 'DOWN'."""
        deadline = time.monotonic() + timeout
        while True:
            check(self.proc.poll() is None, f'{what}: haproxy exited: {self.output()}')
            rows = self.stats() or {}
            states = {n: rows[n]['status'] if n in rows else '?' for n in want}
            if all(states[n] == s and (s != 'UP' or rows[n]['check_status'] == 'L7OK')
                   for n, s in want.items()):
                return
            check(time.monotonic() < deadline,
                  f'{what}: servers {states} after {timeout:.1f}s, expected {want}; '
                  f'haproxy: {self.output()}')
            time.sleep(T.POLL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(T.STOP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return [f'haproxy did not exit within {T.STOP:.0f}s of SIGTERM']
        return []


def behind_haproxy():
    """Two instances behind HAProxy, both UP by their health checks; returns the HAProxy."""
    need_isolation()
    program = need_program('haproxy')
    with open(HAPROXY_CFG) as f:
        text = f.read()
    user, password = check_credentials(text)
    d = temp_dir()
    users = write_file(os.path.join(d, 'users'), f'{user}:{password}\n')
    # -1 as in the shipped comments: it must not remember the checks' connections
    instances = [pp_server('--users', users, '-u', USER, '-P', PASSWORD, '-w', '127.0.0.5', '-1',
                           '-b', '127.0.0.2', '--grace', str(GRACE)) for _ in range(2)]
    hp = HAProxy(program, text, instances, d)
    hp.wait_states({n: 'UP' for n in hp.names}, T.START + 3 * INTER_MS / 1000, 'at start')
    return hp


def down_within():
    """How long HAProxy may take to mark a server DOWN: FALL checks, one interval apart, and
    one more interval for the check that was under way."""
    return T.IO + (FALL + 1) * INTER_MS / 1000


def via_haproxy(hp, source, user=None):
    """A tunnel through HAProxy from source to an echo target; returns the SocksClient after
    one echo."""
    target = Target()
    c, _ = tunnel(hp, *target.address, user=user, password=PASSWORD if user else None,
                  source=source)
    c.echo_check()
    return c


def served_by(hp, client):
    """The instance whose session line names client (ADDR:PORT), waiting for it."""
    return pp_line(list(hp.instances.values()), client)[0]


def reap(server, what):
    """Wait (T.STOP at most) for an instance the case stopped to exit; returns its status, and
    marks it stopped, so that its cleanup does not complain."""
    try:
        rc = server.proc.wait(T.STOP)
    except subprocess.TimeoutExpired:
        raise Fail(f'{what}: still running after {T.STOP:.0f}s; stderr: {server.stderr_tail()}')
    server.stopped = True
    server.reader.join(T.STOP)
    return rc


@case
def scaleout_haproxy_config():
    """contrib/haproxy.cfg as shipped passes `haproxy -c`; its health check's RFC 1929 request
    is well formed and the same user:password line is shown in its comments."""
    program = need_program('haproxy')
    p = subprocess.run([program, '-c', '-f', HAPROXY_CFG], capture_output=True, text=True,
                       timeout=T.PROGRAM)
    check(p.returncode == 0, f'haproxy -c -f {HAPROXY_CFG}: exit {p.returncode}: '
                             f'{(p.stdout + p.stderr)[-400:]!r}')
    with open(HAPROXY_CFG) as f:
        check_credentials(f.read())


@case
def scaleout_haproxy_clients():
    """HAProxy with the shipped config in front of two instances (--proxy-protocol 127.0.0.1/32,
    -u alice, a users file with the check user, -w 127.0.0.5): HAProxy's stats show both
    servers UP with check L7OK, and no instance logged a session line for those checks, which
    log in as the check user and pass. curl from 127.0.0.5 fetches a page
    without a password; from 127.0.0.6 no-auth gets 05 ff, and curl fails without --proxy-user
    and fetches the page with it. Their session lines name 127.0.0.5 and 127.0.0.6 with curl's
    ports as the client and 127.0.0.1 as %B. A PROXY header sent straight to an instance from
    127.0.0.7 naming 127.0.0.5:4242 is closed, "not a SOCKS client", and no line names
    127.0.0.5:4242."""
    hp = behind_haproxy()
    with open(HAPROXY_CFG) as f:
        user, _ = check_credentials(f.read())
    for server in hp.instances.values():
        c = via_balancer(server, v1_header('127.0.0.5', 4242) + greeting(NOAUTH), source='127.0.0.7')
        expect_shut_out(c, 'a header sent straight to an instance from 127.0.0.7')
        expect_reason(server, own_name(c), 'not a SOCKS client', 'a header from 127.0.0.7')
        check('127.0.0.5:4242' not in pp_clients(server), 'a session line names 127.0.0.5:4242')
    http = HttpTarget()
    proxy = show(*hp.address)
    c = SocksClient(hp.address, '127.0.0.6')
    check(c.greet(NOAUTH) == NO_ACCEPTABLE, '127.0.0.6 through HAProxy: no-auth accepted')
    runs = (('127.0.0.5', [], True), ('127.0.0.6', [], False),
            ('127.0.0.6', ['--proxy-user', f'{USER}:{PASSWORD}'], True))
    for source, extra, fetches in runs:
        what = f'curl --interface {source} {" ".join(extra)}'
        http.peers.clear()
        p = curl('--interface', source, '--socks5', proxy, *extra, '-w', '%{local_port}\\n',
                 '-o', '/dev/null', http.url())
        if not fetches:
            check(p.returncode != 0 and not http.peers, f'{what}: fetched without a password')
            continue
        check(p.returncode == 0 and http.peers == ['127.0.0.2'],
              f'{what}: exit {p.returncode}, peers {http.peers}: {p.stderr[-300:]!r}')
        client = f'{source}:{p.stdout.decode().strip()}'
        _, m = pp_line(list(hp.instances.values()), client)
        check(m.group('balancer').startswith('127.0.0.1:') and m.group('cmd') == 'CONNECT'
              and m.group('rep') == '0' and m.group('user') == ('-' if not extra else USER),
              f'{what}: session line {m.group(0)!r}, expected %B 127.0.0.1:PORT, CONNECT, reply 0')
    # by now each instance has passed many checks (every INTER_MS), and logged the clients since
    for name, server in hp.instances.items():
        lines = [m.group(0) for m in map(PP_RE.match, server.stderr().splitlines())
                 if m and m.group('user') == user]
        check(not lines, f'{name}: health checks that passed were logged: {lines[:2]!r}')


@case
def scaleout_haproxy_drain():
    """Behind HAProxy (balance source), a tunnel from 127.0.0.5 is open through instance X (the
    one that served 127.0.0.5's first tunnel: the same source goes to the same server) when X
    gets SIGTERM: HAProxy marks X DOWN within (fall + 1) check intervals; the open tunnel still
    echoes both ways; new tunnels from 127.0.0.5 are served by the other instance; when the
    client closes, X logs the tunnel's session line and exits 0 within T.STOP, long before its
    --grace (30 s) is up."""
    hp = behind_haproxy()
    first = via_haproxy(hp, '127.0.0.5')
    client = own_name(first)
    first.close()
    x = served_by(hp, client)
    name_x = next(n for n, s in hp.instances.items() if s is x)
    open_one = via_haproxy(hp, '127.0.0.5')
    x.proc.send_signal(signal.SIGTERM)
    x.wait_line(re.compile(r'microsocks: stopping, \d+ clients, grace \d+ s$'))
    hp.wait_states({name_x: 'DOWN'}, down_within(), 'after SIGTERM')
    open_one.echo_check()
    for i in range(3):
        c = via_haproxy(hp, '127.0.0.5')
        client = own_name(c)
        c.close()
        check(served_by(hp, client) is not x, f'new tunnel {i} after SIGTERM: served by {name_x}')
    open_one.echo_check()
    kept = own_name(open_one)
    open_one.close()
    _, m = pp_line(x, kept)
    check(m.group('cmd') == 'CONNECT' and m.group('rep') == '0',
          f'the tunnel open across SIGTERM: session line {m.group(0)!r}')
    rc = reap(x, f'{name_x} after SIGTERM and its last tunnel\'s end')
    check(rc == 0, f'{name_x} after SIGTERM and its last tunnel\'s end: {describe_status(rc)}')


@case
def scaleout_haproxy_killed():
    """Behind HAProxy, SIGKILL to instance X (the one serving 127.0.0.5): new tunnels from
    127.0.0.5, one after another, succeed 5 times in a row within (fall + 1) check intervals and
    slack, HAProxy's stats show X DOWN, and those 5 were served by the other instance."""
    hp = behind_haproxy()
    c = via_haproxy(hp, '127.0.0.5')
    client = own_name(c)
    c.close()
    x = served_by(hp, client)
    name_x = next(n for n, s in hp.instances.items() if s is x)
    y = next(s for s in hp.instances.values() if s is not x)
    x.proc.kill()
    reap(x, f'{name_x} after SIGKILL')
    deadline = time.monotonic() + down_within()
    served, errors, tries = [], [], 0
    while True:
        tries += 1
        try:
            c = via_haproxy(hp, '127.0.0.5')
            served.append(own_name(c))
            c.close()
        except (Fail, OSError) as e:
            served, errors = [], errors + [repr(e)]
        rows = hp.stats() or {}
        if len(served) >= 5 and rows.get(name_x, {}).get('status') == 'DOWN':
            break
        check(time.monotonic() < deadline,
              f'after SIGKILL: {len(served)} tunnels in a row, {name_x} '
              f'{rows.get(name_x, {}).get("status")} after {tries} tries; errors {errors[-3:]}')
        time.sleep(T.POLL)
    for client in served:
        check(served_by(hp, client) is y, f'tunnel from {client}: not served by the other instance')
