"""Black-box cases for UDP ASSOCIATE (spec: "Issue 4: UDP ASSOCIATE", RFC 1928 section 7).

Imported by tests/runner.py after the TCP case modules; the cases register with harness's @case
and run after the TCP cases; `sh tests/run udp` selects them.
  UdpEcho       a UDP socket echoing every datagram to its sender, recording what it received
  Association   a UDP ASSOCIATE: the control connection, its reply and the client's UDP socket
A datagram that must NOT be relayed is checked by watching for QUIET seconds that nothing
arrives, and then sending a valid datagram: the next one the echo receives must be that one.
"""

import hashlib
import os
import queue
import random
import socket
import struct
import threading
import time

from harness import (
    ATYP_DOMAIN, ATYP_V4, ATYP_V6, ISOLATED, NO_ACCEPTABLE, NOAUTH, REP_FAIL, REP_OK, UDP_ASSOCIATE,
    USERPASS, Fail, Server, Skip, SocksClient, T, check, connect_request, defer, encode_address,
    family_of, greeting, hexs, is_readable, need_isolation, PASSWORD, USER, auth_server, case,
    check_bad_options, noauth_client)

QUIET = 0.5 * T.SCALE          # how long "no datagram arrives" is watched
UDP_MAX = 65507                # largest UDP payload over IPv4
BUFFER = 1 << 22               # SO_RCVBUF asked for (the kernel caps it at rmem_max)


# ================================================================ datagrams

def zero_host(host):
    return '::' if family_of(host) == socket.AF_INET6 else '0.0.0.0'


def show(address):
    host, port = address[:2]
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def udp_header(host, port, atyp=None, frag=0):
    """RSV(2) FRAG ATYP DST.ADDR DST.PORT of a client datagram."""
    return bytes([0, 0, frag]) + encode_address(host, atyp) + struct.pack('>H', port)


def parse_udp(datagram):
    """(atyp, addr, port, data) of a datagram from the relay; Fail if its header is malformed."""
    check(len(datagram) >= 4 and datagram[:3] == b'\0\0\0',
          f'relayed datagram: bad RSV/FRAG header {hexs(datagram[:10])}')
    atyp = datagram[3]
    sizes = {ATYP_V4: (socket.AF_INET, 4), ATYP_V6: (socket.AF_INET6, 16)}
    check(atyp in sizes, f'relayed datagram: ATYP {atyp} ({hexs(datagram[:24])})')
    family, size = sizes[atyp]
    check(len(datagram) >= 4 + size + 2, f'relayed datagram: truncated header {hexs(datagram)}')
    addr = socket.inet_ntop(family, datagram[4:4 + size])
    port = struct.unpack('>H', datagram[4 + size:6 + size])[0]
    return atyp, addr, port, datagram[6 + size:]


def udp_socket(host='127.0.0.1', port=0):
    """A UDP socket bound to host:port with a large receive buffer, closed after the case."""
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    defer(s.close)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    s.bind((host, port))
    return s


def recv_datagram(sock, timeout=None, what='a datagram'):
    """(data, (host, port)) of the next datagram on sock within timeout, else Fail."""
    timeout = T.IO if timeout is None else timeout
    check(is_readable(sock, timeout), f'{what}: nothing arrived within {timeout:.1f}s')
    data, peer = sock.recvfrom(1 << 16)
    return data, peer[:2]


def expect_no_datagram(sock, what, wait=QUIET):
    """Nothing arrives on sock for wait seconds."""
    if is_readable(sock, wait):
        data, peer = sock.recvfrom(1 << 16)
        raise Fail(f'{what}: got {len(data)} bytes from {peer[:2]}: {hexs(data)}')


def udp_stats():
    """The Udp: counters of this network namespace (InDatagrams, RcvbufErrors, ...), or {}."""
    try:
        with open('/proc/net/snmp') as f:
            rows = [line.split()[1:] for line in f if line.startswith('Udp:')]
        return dict(zip(rows[0], map(int, rows[1])))
    except (OSError, IndexError, ValueError):
        return {}


def drops_since(before):
    after = udp_stats()
    return ', '.join(f'{k} +{after[k] - before[k]}' for k in ('RcvbufErrors', 'InErrors')
                     if k in after and k in before) or 'no counters'


# ================================================================ echo

class UdpEcho:
    """A UDP socket on host:port echoing every datagram to its sender (unless reply=False), in a
    thread; each datagram is recorded as (peer, data) in the received queue."""

    def __init__(self, host='127.0.0.1', port=0, reply=True):
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.host, self.port, self.reply = host, self.sock.getsockname()[1], reply
        self.received, self.errors = queue.Queue(), []
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        defer(self.close)

    @property
    def address(self):
        return (self.host, self.port)

    def _serve(self):
        while not self.closing.is_set():
            if not is_readable(self.sock, 0.1):
                continue
            try:
                data, peer = self.sock.recvfrom(1 << 16)
                self.received.put((peer[:2], data))
                if self.reply:
                    self.sock.sendto(data, peer)
            except OSError as e:
                self.errors.append(e)

    def next(self, timeout=None, what='datagram'):
        """(peer, data) of the next datagram the echo received, within timeout."""
        timeout = T.IO if timeout is None else timeout
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise Fail(f'{what}: echo {self.host}:{self.port} received nothing within {timeout:.1f}s'
                       + (f' (echo errors: {self.errors[:3]})' if self.errors else ''))

    def expect_nothing(self, what):
        """The echo receives nothing for QUIET seconds."""
        try:
            peer, data = self.received.get(timeout=QUIET)
        except queue.Empty:
            return
        raise Fail(f'{what}: relayed anyway, echo {self.host}:{self.port} got {len(data)} bytes '
                   f'from {peer}: {hexs(data)}')

    def close(self):
        self.closing.set()
        self.thread.join(T.STOP)
        self.sock.close()


# ================================================================ association

class Association:
    """A successful UDP ASSOCIATE to server: ctl is the control connection, reply its reply, sock the
    client's UDP socket on client_host. The request names 0s (named=False) or sock's own address
    (named=True). The control connection goes to proxy (default: server.address). Datagrams go to
    relay: the reply's BND unless relay_host is given."""

    def __init__(self, server, client_host='127.0.0.1', named=False, user=None, password=None,
                 relay_host=None, proxy=None):
        self.sock = udp_socket(client_host)
        self.ctl = SocksClient(proxy or server.address)
        if user is None:
            check(self.ctl.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
        else:
            check(self.ctl.greet(USERPASS) == USERPASS, 'user/password method not chosen')
            check(self.ctl.auth(user, password) == 0, 'correct credentials rejected')
        dst = self.sock.getsockname()[:2] if named else (zero_host(client_host), 0)
        r = self.ctl.request(*dst, cmd=UDP_ASSOCIATE)
        check(r.rep == REP_OK, f'UDP ASSOCIATE {show(dst)}: reply {r.rep:#04x}')
        check(r.port != 0, f'UDP ASSOCIATE: reply names port 0 ({r.addr})')
        self.reply = r
        self.relay = (relay_host or r.addr, r.port)

    def send(self, address, data, sock=None, **kw):
        """A datagram for address (host, port) with data, from sock (default: the client's)."""
        self.send_raw(udp_header(*address, **kw) + data, sock)

    def send_raw(self, datagram, sock=None):
        (sock or self.sock).sendto(datagram, self.relay)

    def recv(self, what='reply', timeout=None, sock=None):
        """(atyp, addr, port, data) of the next datagram from the relay on sock."""
        data, peer = recv_datagram(sock or self.sock, timeout, what)
        check(peer == self.relay, f'{what}: came from {peer}, not from the relay {self.relay}')
        return parse_udp(data)

    def round_trip(self, echo, data=None, host=None, atyp=None, what='round trip'):
        """data (random by default) to echo through the relay: the echo receives it intact and its
        answer comes back wrapped with the echo's address. Returns the peer the echo saw."""
        data = os.urandom(1000) if data is None else data
        self.send((host or echo.host, echo.port), data, atyp=atyp)
        peer, got = echo.next(what=what)
        check(got == data, f'{what}: echo got {len(got)} bytes {hexs(got)}, not the {len(data)} sent')
        expect_wrapped(self.recv(what), echo, data, what)
        return peer


def expect_wrapped(parsed, echo, data, what):
    """A reply from echo: ATYP of its family, its address and port, data intact."""
    atyp, addr, port, got = parsed
    want = ATYP_V6 if family_of(echo.host) == socket.AF_INET6 else ATYP_V4
    check((atyp, addr, port) == (want, echo.host, echo.port),
          f'{what}: reply wrapped as ATYP {atyp} {addr}:{port}, expected ATYP {want} {echo.host}:{echo.port}')
    check(got == data, f'{what}: reply data altered ({len(got)} bytes, {len(data)} sent)')


def expect_dropped(a, echo, what, sock=None):
    """Whatever was just sent is not relayed; a valid datagram sent now is the next one relayed."""
    echo.expect_nothing(what)
    expect_no_datagram(sock or a.sock, f'{what}: the sender got something back', wait=0)
    a.round_trip(echo, what=f'valid datagram after: {what}')


def check_bnd(a, atyp, addr):
    r = a.reply
    check((r.atyp, r.addr) == (atyp, addr),
          f'UDP ASSOCIATE reply BND ATYP {r.atyp} {r.addr}, expected ATYP {atyp} {addr}')


# ================================================================ cases

@case
def udp_ipv4_raw():
    """UDP ASSOCIATE 0.0.0.0:0 and naming the client's own UDP address -> 05 00, BND 127.0.0.1:PORT;
    a datagram to an echo on 127.0.0.1 arrives intact and the answer comes back from the relay
    address, wrapped with ATYP 1 and the echo's address and port."""
    server = Server()
    echo = UdpEcho()
    for named in (False, True):
        a = Association(server, named=named)
        check_bnd(a, ATYP_V4, '127.0.0.1')
        peer = a.round_trip(echo, what=f'named={named}')
        check(peer[0] == '127.0.0.1', f'the echo saw the datagram from {peer}')
        a.round_trip(echo, what=f'named={named}, second datagram')


@case
def udp_ipv6_raw():
    """-i ::1, client and echo on ::1: UDP ASSOCIATE (ATYP 4 ::) -> BND ATYP 4 ::1; a datagram with
    ATYP 4 reaches the echo, its answer comes back wrapped with ATYP 4 [::1]:PORT."""
    server = Server(listen='::1')
    echo = UdpEcho('::1')
    for named in (False, True):
        a = Association(server, client_host='::1', named=named)
        check_bnd(a, ATYP_V6, '::1')
        peer = a.round_trip(echo, what=f'IPv6, named={named}')
        check(peer[0] == '::1', f'the echo saw the datagram from {peer}')


@case
def udp_domain():
    """A datagram for "localhost" (ATYP 3, resolved by the server) reaches an echo listening on both
    127.0.0.1 and ::1 (the hosts file's addresses) exactly once; the answer comes back wrapped with
    the address that answered (ATYP 1 or 4)."""
    need_isolation()
    addrs = {a[4][0] for a in socket.getaddrinfo('localhost', 9, 0, socket.SOCK_DGRAM)}
    if not addrs or not addrs <= {'127.0.0.1', '::1'}:
        raise Skip(f'precondition: localhost resolves to {sorted(addrs)}')
    echoes = [UdpEcho('127.0.0.1')]
    try:
        echoes.append(UdpEcho('::1', echoes[0].port))
    except OSError as e:
        raise Skip(f'cannot bind [::1]:{echoes[0].port}: {e}')
    a = Association(Server())
    for i in range(2):
        data = os.urandom(700)
        a.send(('localhost', echoes[0].port), data, atyp=ATYP_DOMAIN)
        parsed = a.recv(f'datagram {i} to localhost')
        hit = [e for e in echoes if not e.received.empty()]
        check(len(hit) == 1, f'datagram {i} to localhost reached {len(hit)} echoes (resolves to {addrs})')
        peer, got = hit[0].next()
        check(got == data, f'datagram {i} to localhost: echo got {len(got)} bytes, not the {len(data)} sent')
        expect_wrapped(parsed, hit[0], data, f'datagram {i} to localhost')
    for e in echoes:
        e.expect_nothing('localhost: a second copy')


@case
def udp_pysocks():
    """PySocks socksocket(AF_INET, SOCK_DGRAM) via the server: sendto the echo, recvfrom gets the
    data and the echo's address."""
    try:
        import socks
    except ImportError:
        raise Skip('PySocks (python3-socks) not installed')
    server = Server()
    echo = UdpEcho()
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    defer(s.close)
    s.settimeout(T.IO)
    s.set_proxy(socks.SOCKS5, '127.0.0.1', server.port)
    for i in range(3):
        data = os.urandom(1200)
        s.sendto(data, echo.address)
        peer, got = echo.next(what=f'PySocks datagram {i}')
        check(got == data, f'PySocks datagram {i}: echo got {len(got)} bytes, not the {len(data)} sent')
        got, source = s.recvfrom(1 << 16)
        check(got == data, f'PySocks datagram {i}: recvfrom got {len(got)} bytes, not the echo')
        check(source == echo.address, f'PySocks datagram {i}: recvfrom names {source}, not {echo.address}')


@case
def udp_foreign_source():
    """A datagram to the relay from 127.0.0.2 (the control connection is from 127.0.0.1) is dropped,
    before and after the client's own datagrams, which are relayed."""
    need_isolation()
    a = Association(Server())
    echo = UdpEcho()
    foreign = udp_socket('127.0.0.2')
    a.send(echo.address, b'from 127.0.0.2, first', sock=foreign)
    expect_dropped(a, echo, 'datagram from 127.0.0.2 before any from the client', foreign)
    a.send(echo.address, b'from 127.0.0.2, later', sock=foreign)
    expect_dropped(a, echo, 'datagram from 127.0.0.2 after the client\'s', foreign)


@case
def udp_named_port():
    """The request names the client's port P: a datagram from 127.0.0.1 but another port is dropped
    (before and after), datagrams from P are relayed."""
    a = Association(Server(), named=True)
    echo = UdpEcho()
    other = udp_socket()
    a.send(echo.address, b'from another port, first', sock=other)
    expect_dropped(a, echo, 'datagram from a port other than the named one', other)
    a.send(echo.address, b'from another port, later', sock=other)
    expect_dropped(a, echo, 'datagram from another port, after the named one\'s', other)


BAD_DATAGRAMS = {
    'FRAG 1': lambda echo: udp_header(*echo.address, frag=1) + b'fragment',
    'FRAG 0x80': lambda echo: udp_header(*echo.address, frag=0x80) + b'last fragment',
    'RSV, FRAG and ATYP only': lambda echo: bytes([0, 0, 0, ATYP_V4]),
    'header cut inside the port': lambda echo: udp_header(*echo.address)[:-1],
    'header without the port': lambda echo: udp_header(*echo.address)[:-2],
    'IPv4 address cut short': lambda echo: udp_header(*echo.address)[:6],
    'ATYP 9': lambda echo: bytes([0, 0, 0, 9]) + udp_header(*echo.address)[4:] + b'atyp 9',
    'domain longer than the datagram': lambda echo: bytes([0, 0, 0, ATYP_DOMAIN, 40]) + b'localhost',
    'empty domain': lambda echo: bytes([0, 0, 0, ATYP_DOMAIN, 0]) + struct.pack('>H', echo.port) + b'x',
    'three bytes': lambda echo: b'\0\0\0',
    'empty datagram': lambda echo: b'',
}


@case
def udp_frag_dropped():
    """FRAG != 0 and malformed headers (truncated, ATYP 9, empty or overlong name, empty datagram)
    are dropped, each sent right after a valid datagram (a server reading past the end would see
    its bytes): the echo gets exactly the valid ones, their answers come back, and the control
    connection stays open."""
    a = Association(Server())
    echo = UdpEcho()
    valid = []
    for what, make in BAD_DATAGRAMS.items():
        valid.append((os.urandom(200), what))
        a.send(echo.address, valid[-1][0])
        a.send_raw(make(echo))
    valid.append((os.urandom(200), None))
    a.send(echo.address, valid[-1][0])
    for i, (data, after) in enumerate(valid):
        peer, got = echo.next(what=f'valid datagram {i}')
        check(got == data, f'expected valid datagram {i}, the echo got {len(got)} bytes {hexs(got)}: '
                           f'probably the "{valid[i - 1][1]}" datagram relayed' if i else
                           f'valid datagram 0 altered: {hexs(got)}')
    echo.expect_nothing(f'after the {len(BAD_DATAGRAMS)} bad datagrams')
    for i, (data, _) in enumerate(valid):
        expect_wrapped(a.recv(f'answer {i}'), echo, data, f'answer {i}')
    check(not is_readable(a.ctl.sock), 'the control connection got data or was closed')


def wait_not_relayed(a, echo, what, timeout):
    """Probe datagrams until one is not relayed within QUIET; Fail if all are for timeout seconds."""
    deadline = time.monotonic() + timeout
    for i in range(1 << 30):
        a.send(echo.address, b'probe %d' % i)
        try:
            echo.next(QUIET)
        except Fail:
            return
        check(time.monotonic() < deadline, f'{what}: datagrams still relayed after {timeout:.1f}s')
        time.sleep(T.POLL)


@case
def udp_ends_with_tcp():
    """Closing the control connection ends the association: within T.IO datagrams are no longer
    relayed (and stay so); a new association still works."""
    server = Server()
    echo = UdpEcho()
    a = Association(server)
    a.round_trip(echo)
    a.ctl.close()
    wait_not_relayed(a, echo, 'control connection closed', T.IO)
    a.send(echo.address, b'after the end')
    echo.expect_nothing('datagram after the association ended')
    Association(server).round_trip(echo, what='new association')


@case
def udp_idle_timeout():
    """--idle-timeout 1: round trips every QUIET seconds (at most 0.5, well within the timeout under
    test, however far MS_TEST_TIME_SCALE stretches QUIET) keep an association alive for 2 s; then,
    after 1 + slack seconds without datagrams, datagrams are no longer relayed."""
    server = Server('--idle-timeout', '1')
    echo = UdpEcho()
    a = Association(server)
    start = time.monotonic()
    while time.monotonic() - start < 2:
        a.round_trip(echo, what=f'{time.monotonic() - start:.1f}s into a busy association')
        expect_no_datagram(a.sock, 'between round trips', wait=min(QUIET, 0.5))
    is_readable(a.ctl.sock, 1 + T.SLACK)  # bounded: the idle timeout under test (or the server's EOF)
    a.send(echo.address, b'after the idle timeout')
    echo.expect_nothing('datagram after 1 + slack idle seconds with --idle-timeout 1')


@case
def udp_idle_dropped():
    """--idle-timeout 1: datagrams that are dropped (from another port of the client's IP, every
    QUIET seconds) do not pass, so they do not keep an idle association alive: after 1 + slack
    seconds a datagram from the client is no longer relayed."""
    server = Server('--idle-timeout', '1')
    echo = UdpEcho()
    a = Association(server)
    a.round_trip(echo)
    other = udp_socket()
    start = time.monotonic()
    while time.monotonic() - start < 1 + T.SLACK:
        a.send(echo.address, b'dropped, from another port', sock=other)
        echo.expect_nothing('datagram from another port than the client\'s')
    a.send(echo.address, b'after the idle timeout')
    echo.expect_nothing(f'datagram after {1 + T.SLACK:.0f}s in which only dropped datagrams came, '
                        'with --idle-timeout 1')


@case
def udp_dual_stack():
    """-i :: and a client connecting to 127.0.0.1: the relay is on 127.0.0.1, the reply says ATYP 1
    127.0.0.1 (not a v4-mapped IPv6 address), and datagrams go through."""
    need_isolation()
    server = Server(listen='::')
    a = Association(server, proxy=('127.0.0.1', server.port))
    check_bnd(a, ATYP_V4, '127.0.0.1')
    a.round_trip(UdpEcho())


@case
def udp_burst():
    """200 datagrams of 1 KiB sent in a burst all reach the echo intact (each hashed, any order) and
    all answers come back; one datagram of 65000 bytes (65010 with the header) goes through whole,
    and its answer comes back whole."""
    a = Association(Server())
    echo = UdpEcho()
    a.round_trip(echo)
    before = udp_stats()
    sent = {}
    for _ in range(200):
        data = os.urandom(1024)
        sent[hashlib.sha256(data).digest()] = data
        a.send(echo.address, data)
    got, back = [], []
    for i in range(200):
        try:
            got.append(hashlib.sha256(echo.next(what=f'burst datagram {i}')[1]).digest())
        except Fail as e:
            raise Fail(f'{e} ({len(got)} of 200 arrived; {drops_since(before)})')
    check(sorted(got) == sorted(sent), f'burst: {len(set(got) & set(sent))} distinct of 200 arrived intact')
    for i in range(200):
        try:
            atyp, addr, port, data = a.recv(f'burst answer {i}')
        except Fail as e:
            raise Fail(f'{e} ({len(back)} of 200 answers back; {drops_since(before)})')
        check((addr, port) == echo.address, f'burst answer {i} wrapped with {addr}:{port}')
        back.append(hashlib.sha256(data).digest())
    check(sorted(back) == sorted(sent), f'burst: {len(set(back) & set(sent))} distinct answers of 200 intact')
    big = os.urandom(65000)
    check(len(udp_header(*echo.address)) + len(big) <= UDP_MAX, 'test bug: the big datagram is too big')
    a.round_trip(echo, big, what='65000-byte datagram')


@case
def udp_limits():
    """A client datagram of exactly 65507 bytes (header + 65497) is relayed whole; an answer of
    65507 bytes (too big once wrapped) is dropped, and the association keeps working."""
    a = Association(Server())
    echo = UdpEcho()
    data = os.urandom(UDP_MAX - len(udp_header(*echo.address)))
    a.send(echo.address, data)
    peer, got = echo.next(what='65507-byte client datagram')
    check(got == data, f'65507-byte client datagram: echo got {len(got)} of {len(data)} bytes')
    wrapped = a.recv('answer of 65497 bytes (65507 once wrapped)')
    expect_wrapped(wrapped, echo, data, 'answer of 65497 bytes')
    mute = UdpEcho(reply=False)
    a.send(mute.address, b'learn the outgoing socket')
    out = mute.next(what='datagram to the mute echo')[0]
    mute.sock.sendto(os.urandom(UDP_MAX), out)
    expect_no_datagram(a.sock, '65507-byte answer (too big to wrap)')
    a.round_trip(echo, what='after the oversized answer')


@case
def udp_reply_filter():
    """Answers from an address the client never sent to are dropped: strangers (127.0.0.2, and
    127.0.0.1 on another port than the echo's) sending to the server's outgoing UDP socket reach
    nobody; the echo's answer still comes back."""
    need_isolation()
    a = Association(Server())
    echo = UdpEcho(reply=False)
    a.send(echo.address, b'hello')
    out = echo.next(what='first datagram')[0]
    for host in ('127.0.0.2', '127.0.0.1'):
        stranger = udp_socket(host)
        stranger.sendto(b'unsolicited', out)
        expect_no_datagram(a.sock, f'datagram from {stranger.getsockname()}, which the client never sent to')
    echo.sock.sendto(b'answer', out)
    expect_wrapped(a.recv('answer from the echo'), echo, b'answer', 'answer from the echo')


@case
def udp_bind_address():
    """-b 127.0.0.2: datagrams reach the echo from 127.0.0.2 (the outgoing socket is bound there);
    the relay itself still answers on 127.0.0.1."""
    a = Association(Server('-b', '127.0.0.2'))
    check_bnd(a, ATYP_V4, '127.0.0.1')
    peer = a.round_trip(UdpEcho())
    check(peer[0] == '127.0.0.2', f'with -b 127.0.0.2 the echo saw the datagram from {peer}')


@case
def udp_auth():
    """With -u/-P: UDP ASSOCIATE after user/password auth works; a client offering only no-auth
    (greeting and request in one write) gets 05 FF and is closed without any reply."""
    server = auth_server()
    a = Association(server, user=USER, password=PASSWORD)
    a.round_trip(UdpEcho())
    c = SocksClient(server.address)
    c.send(greeting(NOAUTH) + connect_request('0.0.0.0', 0, cmd=UDP_ASSOCIATE))
    method = c.read_method()
    check(method == NO_ACCEPTABLE, f'unauthenticated UDP ASSOCIATE: method {method:#04x}')
    got = c.recv_until_eof()
    check(got == b'', f'unauthenticated UDP ASSOCIATE: got {hexs(got)} after 05 FF')


def free_udp_range(n, host='127.0.0.1'):
    """LO with LO..LO+n-1 free for UDP on host (checked by binding), below the ephemeral range."""
    for _ in range(100):
        lo = random.randint(20000, 30000)
        socks = []
        try:
            for port in range(lo, lo + n):
                s = socket.socket(family_of(host), socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
            return lo
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise Skip(f'no {n} consecutive free UDP ports on {host}')


@case
def udp_options():
    """--udp-ports LO-HI (3 free ports): three associations get distinct ports in the range, a
    fourth gets 05 01; bad --udp-ports values exit 1 naming it; --udp-announce 127.0.0.9: BND.ADDR
    127.0.0.9 with the real port (datagrams to 127.0.0.1:PORT work); unresolvable --udp-announce
    exits 1."""
    lo = free_udp_range(3)
    server = Server('--udp-ports', f'{lo}-{lo + 2}')
    echo = UdpEcho()
    held = [Association(server) for _ in range(3)]
    ports = sorted(a.reply.port for a in held)
    check(ports == [lo, lo + 1, lo + 2], f'--udp-ports {lo}-{lo + 2}: relay ports {ports}')
    for a in held:
        a.round_trip(echo, what=f'relay port {a.reply.port}')
    c = noauth_client(server)
    c.send(connect_request('0.0.0.0', 0, cmd=UDP_ASSOCIATE))
    c.expect_error(REP_FAIL, f'UDP ASSOCIATE with all of --udp-ports {lo}-{lo + 2} taken')
    bad = [(['--udp-ports', v], '--udp-ports') for v in ('0-5', '10-5', 'abc', '70000-70001', '')]
    if ISOLATED:
        bad.append((['--udp-announce', 'nosuchhost.invalid'], '--udp-announce'))
    check_bad_options(bad)
    a = Association(Server('--udp-announce', '127.0.0.9'), relay_host='127.0.0.1')
    check_bnd(a, ATYP_V4, '127.0.0.9')
    a.round_trip(echo, what='--udp-announce 127.0.0.9, sent to 127.0.0.1')
