#!/usr/bin/python3
"""Stateful fuzz of the whole handshake: seeded random byte streams at the real binary.

Each stream is built from a grammar of SOCKS5 (greeting, RFC 1929 request, request) and
SOCKS4/4a messages, with valid and near-valid values, then maybe mutated (bytes flipped,
inserted, deleted, lengths changed, cut short), split at random points and sent over loopback
TCP with small gaps, and then the client half-closes, holds the connection open or just closes.
A model of the server's parsers (RFC 1928, 1929, SOCKS4/4a) says what must come back for the
bytes as a whole, whatever the split: the method reply, the auth status, the request's reply
(exact where the target is known: the echo target, a closed port, a denied address), the echo
of the bytes after the request, or a plain close; never a hang past the handshake timeout.
At the end the server must still run, have written no sanitizer report, and hold no more
sockets than before once its clients are gone.

Two servers run, one open and one with -u/-P; every destination outside loopback is denied
(--deny), and names are resolved only where tests/run's namespace makes that local.

    sh tests/run fuzz_handshake                        from the black-box suite (make test)
    MS_FUZZ_STREAMS=20000 sh tests/run fuzz_handshake  as make fuzz runs it
    MS_FUZZ_SEED=7 MS_FUZZ_ONLY=123 sh tests/run fuzz_handshake   one stream again, verbosely
Run directly (python3 tests/fuzz/handshake_fuzz.py --help) it does the same outside the
namespace, where it never sends a name but "localhost" to the resolver.
"""

import os
import random
import socket
import struct
import sys
import threading
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import (  # noqa: E402
    ARCH, EMULATOR, ISOLATED, MIPS_SO_ERROR, Fail, Server, T, Target, check, hexs, run_cleanups)

# where reply 05 (refused) is expected, what the emulator may give instead (see MIPS_SO_ERROR)
REFUSED_ALSO = {1} if EMULATOR and ARCH in MIPS_SO_ERROR[0] else set()

USER, PASSWORD = b'alice', b'Pa55-w0rd-xyzzy'
HANDSHAKE_TIMEOUT = 2     # --handshake-timeout
CONNECT_TIMEOUT = 1       # --connect-timeout
BIND_TIMEOUT = 1          # --bind-timeout
REPLY_LINGER = 1.0        # the server drains a refused client's input this long (sockssrv.c)
HS_BUFSIZE = 1536         # the server's handshake buffer (sockssrv.c)
RELAY_POOLSIZE = 32       # pipes the relay keeps for reuse (relay.h): 2 fds each
WORKERS = 32              # streams at once
# the longest a stream may take from connect to the server's close: every timeout that can
# run one after the other in a handshake, and slack
STREAM_LIMIT = HANDSHAKE_TIMEOUT + CONNECT_TIMEOUT + 2 * BIND_TIMEOUT + REPLY_LINGER + T.SLACK

MAX_GAPS = 0.3            # seconds of gaps in one stream at most
DEFAULT_STREAMS = 300
DEFAULT_SEED = 1


def deny_ranges():
    """--deny for everything but 127.0.0.0/8 and ::1 (v4-mapped addresses count as IPv4): for
    each prefix length n, the range of length n next to the one kept."""
    def ranges(keep, bits, length, fmt):
        out = []
        for n in range(1, length + 1):
            net = (keep ^ (1 << (bits - n))) >> (bits - n) << (bits - n)
            out.append(fmt(net) + f'/{n}')
        return out
    v4 = ranges(127 << 24, 32, 8, lambda a: socket.inet_ntoa(a.to_bytes(4, 'big')))
    v6 = ranges(1, 128, 128, lambda a: '[' + socket.inet_ntop(socket.AF_INET6, a.to_bytes(16, 'big')) + ']')
    return ','.join(v4 + v6)


# ================================================================ the grammar

Stream = namedtuple('Stream', 'data splits gaps end auth')
# end: 'shut' (SHUT_WR after the last byte), 'hold' (stay open), 'close' (close at once)


class Gen:
    """Streams for one seed; stream i depends on (seed, i) alone."""

    def __init__(self, seed, echo_port, closed_port, isolated):
        self.seed, self.echo_port, self.closed_port = seed, echo_port, closed_port
        self.isolated = isolated

    def port(self, r):
        return r.choice([self.echo_port] * 12 + [self.closed_port] * 2 + [0, r.randrange(65536)])

    def name(self, r):
        names = [b'localhost'] * 3 + [b'v4only.test', b'v6only.test', b'multi.test',
                                      b'no-such-name.test', b'x' * r.randrange(1, 256)]
        return r.choice(names if self.isolated else [b'localhost'])

    def address(self, r):
        """ATYP DST.ADDR DST.PORT"""
        port = struct.pack('>H', self.port(r))
        k = r.randrange(10)
        if k < 5:
            a = r.choice(['127.0.0.1'] * 4 + ['127.0.0.2', '10.0.0.1', '0.0.0.0', '8.8.8.8'])
            return b'\x01' + socket.inet_aton(a) + port
        if k < 7:
            a = r.choice(['::1', '::1', '::ffff:127.0.0.1', '::', '2001:db8::1'])
            return b'\x04' + socket.inet_pton(socket.AF_INET6, a) + port
        if k < 9:
            n = self.name(r)
            return b'\x03' + bytes([len(n)]) + n + port
        return bytes([r.choice([0, 2, 5, 0xff])]) + socket.inet_aton('127.0.0.1') + port

    def payload(self, r):
        return bytes(r.randrange(256) for _ in range(r.choice([0, 0, 1, 5, 64, 300])))

    def socks5(self, r, auth):
        methods = r.choice([[2] if auth else [0]] * 18 + [[0, 2], [2, 0], [], [1], [0x80, 2],
                                                      [r.randrange(256) for _ in range(r.randrange(1, 12))]])
        data = bytes([5, len(methods)] + methods)
        if auth and 2 in methods or r.random() < 0.05:
            user, pw = r.choice([(USER, PASSWORD)] * 3 + [(USER, b'wrong'), (b'', b''),
                                                          (b'u' * 255, b'p' * 255)])
            data += bytes([1, len(user)]) + user + bytes([len(pw)]) + pw
        cmd = r.choice([1] * 8 + [2, 3, 0, 9])
        data += bytes([5, cmd, 0]) + self.address(r)
        return data + self.payload(r)

    def socks4(self, r):
        cd = r.choice([1] * 6 + [2, 3])
        port = struct.pack('>H', self.port(r))
        userid = r.choice([b'', b'bob', b'u' * 255])
        if r.random() < 0.4:
            name = self.name(r) if r.random() < 0.9 else b''
            return bytes([4, cd]) + port + bytes([0, 0, 0, r.randrange(1, 256)]) + userid + \
                b'\0' + name + b'\0' + self.payload(r)
        ip = socket.inet_aton(r.choice(['127.0.0.1'] * 4 + ['0.0.0.0', '10.0.0.1']))
        return bytes([4, cd]) + port + ip + userid + b'\0' + self.payload(r)

    @staticmethod
    def mutate(r, data):
        data = bytearray(data)
        for _ in range(r.randrange(1, 4)):
            k = r.randrange(6)
            i = r.randrange(len(data) + 1)
            if k == 0 and data:      # change a byte, often a small value: a length, ATYP, CMD
                data[min(i, len(data) - 1)] = r.choice([0, 1, 2, 3, 4, 5, 0xff, r.randrange(256)])
            elif k == 1:
                data[i:i] = bytes([r.randrange(256)])
            elif k == 2 and data:
                del data[min(i, len(data) - 1)]
            elif k == 3:             # cut short
                del data[i:]
            elif k == 4 and data:    # repeat a piece
                j = r.randrange(len(data))
                data[i:i] = data[j:j + r.randrange(1, 16)]
            else:                    # junk
                data[i:i] = bytes(r.randrange(256) for _ in range(r.randrange(1, 8)))
        return bytes(data)

    def stream(self, i):
        r = random.Random(f'{self.seed}:{i}')
        k = r.random()
        auth = r.random() < (0.3 if k < 0.7 else 0.1)
        if k < 0.7:
            data = self.socks5(r, auth)
        elif k < 0.95:
            data = self.socks4(r)
        else:
            data = bytes(r.randrange(256) for _ in range(r.randrange(0, 40)))
        if r.random() < 0.4:
            data = self.mutate(r, data)
        data = data[:HS_BUFSIZE - 32]
        nsplit = r.choice([0, 0, 1, 2, 3, 8, len(data)])
        splits = sorted(set(r.randrange(1, len(data)) for _ in range(nsplit))) if len(data) > 1 else []
        gaps = [r.choice([0, 0, 0.001, 0.005, 0.02]) for _ in splits]
        # all of it well within the handshake timeout, which would end it otherwise
        total = sum(gaps)
        if total > MAX_GAPS:
            gaps = [g * MAX_GAPS / total for g in gaps]
        end = r.choices(['shut', 'hold', 'close'], [75, 15, 10])[0]
        return Stream(data, splits, gaps, end, auth)


# ================================================================ the model

class Expect:
    """What the server must answer a stream: replies, then the end."""

    def __init__(self):
        self.parts = []        # ('exact', bytes) | ('reply5', set of REP or None) | ('reply4', set)
        self.after = 'eof'     # 'eof' | 'echo' | 'udp' | 'any' (a tunnel to who knows what)
        self.echo = b''        # what the echo target sends back
        self.resolves = None   # a name the server looks up
        self.timeout = False   # the server closes only when the handshake time is up
        self.bind = False      # a BIND: a second reply may follow the first

    def __repr__(self):
        return f'{self.parts} then {self.after}' + (' (after the handshake timeout)' if self.timeout else '')


ANY_REP = None


class Model:
    """The server's handshake on a whole stream (sockssrv.c: handshake(), socks5_negotiate(),
    socks4_negotiate(), authenticate(), do_connect(), do_bind(), do_udp())."""

    def __init__(self, echo_port, closed_port, isolated):
        self.echo_port, self.closed_port, self.isolated = echo_port, closed_port, isolated

    def target(self, atyp, addr, port, e):
        """The reply codes a CONNECT to this address may get (ANY_REP: any), and what follows
        success: 'echo' or 'any'."""
        if port == 0 or port not in (self.echo_port, self.closed_port):
            # nothing or who knows what listens there: only a denied address is sure
            if atyp == 1 and addr[0] != 127:
                return {2}, None
            if atyp == 4 and addr != b'\0' * 15 + b'\1' and addr[:12] != b'\0' * 10 + b'\xff\xff':
                return {2}, None
            return ANY_REP, 'any'
        echo = port == self.echo_port
        if atyp == 3:
            if not self.isolated:
                return ANY_REP, 'any'
            # names of tests/hosts; the others get no answer from the namespace's resolver
            if addr in (b'localhost', b'v4only.test', b'multi.test'):
                return ({0}, 'echo') if echo else ({5}, None)
            if addr == b'v6only.test':
                return {5}, None    # only 127.0.0.1 listens
            if addr == b'no-such-name.test' or addr == b'x' * len(addr):
                return {4}, None
            return ANY_REP, 'any'
        if atyp == 4:
            if addr[:12] == b'\0' * 10 + b'\xff\xff':
                return self.target(1, addr[12:], port, e)
            if addr != b'\0' * 15 + b'\1':
                return {2}, None
            return {5}, None        # only 127.0.0.1 listens
        if addr[0] != 127:
            return {2}, None
        if addr == b'\x7f\0\0\x01':
            return ({0}, 'echo') if echo else ({5}, None)
        return ANY_REP, 'any'

    def run(self, s):
        e = Expect()
        d = s.data
        if not d:
            e.timeout = s.end == 'hold'
            return e
        if d[0] == 5:
            self.socks5(d, s, e)
        elif d[0] == 4:
            self.socks4(d, s, e)
        return e

    def need(self, d, n, s, e):
        """True when d has n bytes; else the server waits for more and closes at EOF or time."""
        if len(d) >= n:
            return True
        e.after = 'eof'
        e.timeout = s.end == 'hold'
        return False

    def socks5(self, d, s, e):
        if not self.need(d, 2, s, e) or not self.need(d, 2 + d[1], s, e):
            return
        methods = d[2:2 + d[1]]
        d = d[2 + d[1]:]
        method = (2 if 2 in methods else 0xff) if s.auth else (0 if 0 in methods else 0xff)
        e.parts.append(('exact', bytes([5, method])))
        if method == 0xff:
            return
        if method == 2:
            if not self.need(d, 1, s, e):
                return
            if d[0] != 1:
                e.parts.append(('exact', b'\x01\x01'))
                return
            if not self.need(d, 2, s, e) or not self.need(d, 3 + d[1], s, e):
                return
            ulen = d[1]
            plen = d[2 + ulen]
            if not self.need(d, 3 + ulen + plen, s, e):
                return
            ok = d[2:2 + ulen] == USER and d[3 + ulen:3 + ulen + plen] == PASSWORD
            e.parts.append(('exact', b'\x01\x00' if ok else b'\x01\x01'))
            if not ok:
                return
            d = d[3 + ulen + plen:]
        # the request
        if not self.need(d, 1, s, e):
            return
        if d[0] != 5:
            e.parts.append(('reply5', {1}))
            return
        if not self.need(d, 4, s, e):
            return
        cmd, atyp = d[1], d[3]
        if atyp == 1:
            alen = 4
        elif atyp == 4:
            alen = 16
        elif atyp == 3:
            if not self.need(d, 5, s, e):
                return
            alen = 1 + d[4]
        else:
            e.parts.append(('reply5', {8}))
            return
        if not self.need(d, 4 + alen, s, e):
            return
        addr = d[4:4 + alen] if atyp != 3 else d[5:4 + alen]
        if atyp == 3 and (not addr or b'\0' in addr):
            e.parts.append(('reply5', {1}))    # refused before the port comes
            return
        if not self.need(d, 4 + alen + 2, s, e):
            return
        port = struct.unpack('>H', d[4 + alen:6 + alen])[0]
        rest = d[6 + alen:]
        self.command(cmd, atyp, addr, port, rest, s, e, 5)

    def socks4(self, d, s, e):
        if not self.need(d, 8, s, e):
            return
        cd, port, ip = d[1], struct.unpack('>H', d[2:4])[0], d[4:8]
        rest = d[8:]
        userid, rest = self.cstring(rest, s, e)
        if userid is None:
            return
        atyp, addr = 1, ip
        if ip[:3] == b'\0\0\0' and ip[3]:
            addr, rest = self.cstring(rest, s, e)
            if addr is None:
                return
            atyp = 3
            if not addr:
                e.parts.append(('reply4', {0x5b}))
                return
        if s.auth:
            e.parts.append(('reply4', {0x5b}))
            return
        self.command(cd if cd in (1, 2) else 0, atyp, addr, port, rest, s, e, 4)

    def cstring(self, d, s, e):
        """(string, rest) for a NUL-terminated string of at most 255 bytes at d; (None, None)
        when the server refuses it (too long) or waits for more."""
        end = d.find(b'\0', 0, 256)
        if end >= 0:
            return d[:end], d[end + 1:]
        if len(d) >= 256:
            e.parts.append(('reply4', {0x5b}))
        else:
            self.need(d, len(d) + 1, s, e)
        return None, None

    def command(self, cmd, atyp, addr, port, rest, s, e, version):
        kind = 'reply5' if version == 5 else 'reply4'

        def reps(codes):
            if version == 5 or codes is ANY_REP:
                return codes
            return {0x5a if c == 0 else 0x5b for c in codes}

        if atyp == 3:
            e.resolves = addr.decode('latin-1')
        if cmd == 1:
            codes, after = self.target(atyp, addr, port, e)
            e.parts.append((kind, reps(codes)))
            if codes is not ANY_REP and 0 not in codes:
                return
            if after == 'echo' and codes == {0}:
                e.after, e.echo = 'echo', rest
            else:
                e.after, e.echo = 'any', rest
        elif cmd == 2:
            # the first reply (success, or why not), then maybe a second: the peer that never
            # comes (TTL expired), the client gone (failure), or refused
            e.parts.append((kind, ANY_REP if version == 5 else {0x5a, 0x5b}))
            e.bind = True
            e.after = 'any'
        elif cmd == 3 and version == 5:
            e.parts.append((kind, {0, 1}))
            e.after = 'udp'   # the association lasts as long as the connection
        else:
            e.parts.append((kind, reps({7})))


# ================================================================ one stream

class Outcome(Exception):
    pass


def recv_some(sock, deadline):
    """Bytes, or b'' at EOF or reset; None when the deadline passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return b''


class Reader:
    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.buf, self.eof = sock, deadline, b'', False

    def fill(self, n):
        """At least n bytes buffered, or as many as came before EOF; Outcome on a hang."""
        while len(self.buf) < n and not self.eof:
            data = recv_some(self.sock, self.deadline)
            if data is None:
                raise Outcome(f'hang: got {hexs(self.buf)}, then nothing more and no close in time')
            if not data:
                self.eof = True
            self.buf += data
        return len(self.buf) >= n

    def take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def read_reply5(rd, codes):
    """A reply VER REP RSV ATYP BND.ADDR BND.PORT, with REP in codes (None: any)."""
    if not rd.fill(4):
        raise Outcome(f'EOF inside a reply: {hexs(rd.buf)}')
    head = rd.buf[:4]
    if head[0] != 5 or head[2] != 0 or head[1] > 8 or head[3] not in (1, 4):
        raise Outcome(f'not a SOCKS5 reply: {hexs(rd.buf)}')
    n = 4 + (4 if head[3] == 1 else 16) + 2
    if not rd.fill(n):
        raise Outcome(f'EOF inside a reply: {hexs(rd.buf)}')
    reply = rd.take(n)
    if codes is not None and 5 in codes:
        codes = codes | REFUSED_ALSO
    if codes is not None and reply[1] not in codes:
        raise Outcome(f'reply {hexs(reply)}: REP {reply[1]}, expected one of {sorted(codes)}')
    if reply[1] != 0 and reply[3:] != b'\x01' + b'\0' * 6:
        raise Outcome(f'error reply {hexs(reply)} with an address')
    return reply[1]


def read_reply4(rd, codes):
    if not rd.fill(8):
        raise Outcome(f'EOF inside a SOCKS4 reply: {hexs(rd.buf)}')
    reply = rd.take(8)
    if reply[0] != 0 or reply[1] not in (0x5a, 0x5b):
        raise Outcome(f'not a SOCKS4 reply: {hexs(reply)}')
    if codes is not None and reply[1] not in codes:
        raise Outcome(f'SOCKS4 reply {hexs(reply)}, expected CD {sorted(codes)}')
    if reply[1] == 0x5b and reply != b'\0\x5b' + b'\0' * 6:
        raise Outcome(f'SOCKS4 rejection {hexs(reply)} with an address')
    return reply[1]


def send_stream(sock, s):
    pieces, last = [], 0
    for cut in s.splits:
        pieces.append(s.data[last:cut])
        last = cut
    pieces.append(s.data[last:])
    sock.settimeout(T.IO)
    for i, piece in enumerate(pieces):
        if piece:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                return False    # the server closed early: what it said is read below
        if i < len(s.gaps) and s.gaps[i]:
            time.sleep(s.gaps[i])   # a gap between segments, not synchronisation
    return True


def check_outcome(rd, e, s, start):
    """Reads what the server says and holds it to e."""
    ok_so_far = True
    for kind, want in e.parts:
        if kind == 'exact':
            if not rd.fill(len(want)):
                raise Outcome(f'expected {hexs(want)}, got {hexs(rd.buf)} then EOF')
            got = rd.take(len(want))
            if got != want:
                raise Outcome(f'expected {hexs(want)}, got {hexs(got)}')
        else:
            rep = (read_reply5 if kind == 'reply5' else read_reply4)(rd, want)
            ok_so_far = rep in (0, 0x5a)
    if not e.parts or not ok_so_far or e.after == 'eof':
        # nothing more: a close, within the time the server had
        if rd.fill(1):
            raise Outcome(f'{len(rd.buf)} bytes more than expected: {hexs(rd.buf)}')
        took = time.monotonic() - start
        if not e.timeout and s.end == 'hold' and took > HANDSHAKE_TIMEOUT + T.SLACK + REPLY_LINGER:
            raise Outcome(f'closed only after {took:.1f}s')
        return
    if e.after == 'echo':
        if s.end == 'shut':
            # the tunnel carries the rest both ways, then closes after our half-close
            rd.fill(len(e.echo) + 1)
            if rd.buf != e.echo:
                raise Outcome(f'echo of {len(e.echo)} bytes expected, got {len(rd.buf)}: '
                              f'{hexs(rd.buf)}; sent after the request: {hexs(e.echo)}')
        else:
            rd.fill(len(e.echo))
            if rd.buf != e.echo[:len(rd.buf)] or (len(rd.buf) < len(e.echo) and not rd.eof):
                raise Outcome(f'echo of {len(e.echo)} bytes expected, got {hexs(rd.buf)}')
        return
    if e.bind and s.end == 'shut':
        # a second reply: the client is gone, or nobody came in time
        if rd.fill(1):
            read_reply5(rd, None) if rd.buf[0] == 5 else read_reply4(rd, None)
            if rd.fill(1):
                raise Outcome(f'data after the second BIND reply: {hexs(rd.buf)}')
        return
    # a UDP association ends with the connection, at our EOF; a tunnel to something else ends
    # as that something pleases: we close it
    if e.after == 'udp' and s.end == 'shut':
        if rd.fill(1):
            raise Outcome(f'data on the connection of a UDP association: {hexs(rd.buf)}')


def run_stream(address, s, model):
    """Sends stream s to the server; returns None or a description of what went wrong."""
    e = model.run(s)
    start = time.monotonic()
    sock = socket.socket()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(T.IO)
        sock.connect(address)
        sent = send_stream(sock, s)
        if s.end == 'close':
            return None
        if s.end == 'shut' and sent:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        # a client that stops halfway is dropped at the handshake timeout
        rd = Reader(sock, start + (HANDSHAKE_TIMEOUT + T.SLACK if e.timeout else STREAM_LIMIT))
        try:
            check_outcome(rd, e, s, start)
        except Outcome as o:
            return f'{o}; expected {e}'
        return None
    finally:
        sock.close()


# ================================================================ the run

def short(splits, n=12):
    return str(splits[:n])[:-1] + (f', ... {len(splits)} in all]' if len(splits) > n else ']')


def fd_counts(pid):
    """(sockets, other fds) the process holds; None once it is gone."""
    socks = other = 0
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                link = os.readlink(f'/proc/{pid}/fd/{fd}')
            except FileNotFoundError:
                continue
            if link.startswith('socket:'):
                socks += 1
            else:
                other += 1
    except FileNotFoundError:
        return None
    return socks, other


def wait_fds(pid, base_socks, limit_other, timeout):
    """Wait until the server holds its base sockets again; returns the last counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = fd_counts(pid)
        if counts is None or (counts[0] <= base_socks and counts[1] <= limit_other):
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(T.POLL)   # a bounded poll of /proc, not synchronisation


def fuzz(count, seed, only=None, verbose=False, log=print):
    """Runs count streams (or stream `only`) at two servers; raises Fail with every problem."""
    isolated = ISOLATED
    echo = Target()
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))    # bound, never listening: refuses
    closed_port = closed.getsockname()[1]
    common = ['--handshake-timeout', str(HANDSHAKE_TIMEOUT), '--connect-timeout', str(CONNECT_TIMEOUT),
              '--bind-timeout', str(BIND_TIMEOUT), '--deny', deny_ranges(),
              # every stream comes from 127.0.0.1, and the model knows no ban
              '--auth-fail-max', '0']
    servers = {False: Server(*common), True: Server('-u', USER.decode(), '-P', PASSWORD.decode(), *common)}
    gen = Gen(seed, echo.port, closed_port, isolated)
    model = Model(echo.port, closed_port, isolated)
    base = {a: fd_counts(srv.pid) for a, srv in servers.items()}
    indices = [only] if only is not None else list(range(count))
    problems, lock = [], threading.Lock()
    stats = {'run': 0, 'skipped': 0, 'echo': 0, 'refused': 0, 'timeout': 0, 'closed': 0}
    started = time.monotonic()
    it = iter(indices)

    def worker():
        while True:
            with lock:
                i = next(it, None)
                if i is None or len(problems) >= 10:
                    return
            s = gen.stream(i)
            e = model.run(s)
            if not isolated and e.resolves not in (None, 'localhost'):
                with lock:
                    stats['skipped'] += 1
                continue    # outside the namespace no name but localhost goes to the resolver
            with lock:
                stats['run'] += 1
                stats['echo'] += e.after == 'echo'
                stats['refused'] += not e.parts or e.after == 'eof'
                stats['timeout'] += e.timeout
                stats['closed'] += s.end == 'close'
            if verbose:
                log(f'stream {i}: {"auth " if s.auth else ""}{s.end} {hexs(s.data, 2000)} '
                    f'split at {s.splits}; expect {e}')
            try:
                why = run_stream(servers[s.auth].address, s, model)
            except OSError as err:
                why = f'{type(err).__name__}: {err}'
            if why:
                with lock:
                    problems.append(f'stream {i} (seed {seed}): {why}; sent {"to the -u server " if s.auth else ""}'
                                    f'{hexs(s.data, 80)} split at {short(s.splits)}, then {s.end}')

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(WORKERS, len(indices)))]
    for th in threads:
        th.start()
    limit = started + len(indices) * STREAM_LIMIT / max(1, len(threads)) + 2 * STREAM_LIMIT
    for th in threads:
        th.join(max(0.0, limit - time.monotonic()))
    check(not any(th.is_alive() for th in threads), f'streams still running after {limit - started:.0f}s')
    streams_done = time.monotonic() - started

    for auth, srv in servers.items():
        check(srv.alive(), f'server {"with -u " if auth else ""}died: {srv.stderr_tail()}')
        # every client is closed: the server must let go of their sockets; the relay may keep
        # up to RELAY_POOLSIZE pipes for reuse
        b_socks, b_other = base[auth]
        got = wait_fds(srv.pid, b_socks, b_other + 2 * RELAY_POOLSIZE,
                       HANDSHAKE_TIMEOUT + BIND_TIMEOUT + REPLY_LINGER + T.SLACK)
        if got is None or got[0] > b_socks or got[1] > b_other + 2 * RELAY_POOLSIZE:
            problems.append(f'server {"with -u " if auth else ""}holds {got} (sockets, other fds) '
                            f'after all clients closed, {base[auth]} before')
    closed.close()
    if problems:
        raise Fail(f'{len(problems)} problem(s), first: ' + ' | '.join(problems[:3]))
    return stats, streams_done


def from_env():
    count = int(os.environ.get('MS_FUZZ_STREAMS', DEFAULT_STREAMS))
    seed = os.environ.get('MS_FUZZ_SEED')
    seed = int(seed) if seed else (DEFAULT_SEED if count <= DEFAULT_STREAMS else int(time.time()) % 100000)
    only = os.environ.get('MS_FUZZ_ONLY')
    return count, seed, int(only) if only else None


if __name__ != '__main__':  # imported by the runner: register the case
    from harness import case

    @case
    def fuzz_handshake():
        """Seeded random SOCKS4/5 byte streams (MS_FUZZ_STREAMS, MS_FUZZ_SEED), valid and mutated,
        split at random points: each gets the replies the RFCs and the model of the parsers say,
        then data or a close, within the handshake timeout; the server survives and leaks no fd."""
        count, seed, only = from_env()
        stats, took = fuzz(count, seed, only, verbose=only is not None)
        if count > DEFAULT_STREAMS:
            print(f'fuzz_handshake: seed {seed}, {took:.1f}s, streams: {describe(stats)}', flush=True)


def describe(stats):
    return (f"{stats['run']} run ({stats['echo']} tunnels to the echo target, {stats['refused']} "
            f"refused or left unfinished, {stats['timeout']} of them until the handshake timeout, "
            f"{stats['closed']} closed at once), {stats['skipped']} left out for naming a host")


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--count', type=int, default=DEFAULT_STREAMS)
    ap.add_argument('--seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--only', type=int, help='run this one stream, and show it')
    args = ap.parse_args()
    socket.setdefaulttimeout(T.IO)
    try:
        stats, took = fuzz(args.count, args.seed, args.only, verbose=args.only is not None)
        status = 'ok'
    except Fail as e:
        status, stats = f'FAIL: {e}', None
    problems = run_cleanups()
    if problems:
        status = 'FAIL: ' + '; '.join(problems)
    print(f'{status} fuzz_handshake: seed {args.seed}' +
          (f', {took:.1f}s, streams: {describe(stats)}' if stats else ''))
    return 0 if status == 'ok' else 1


if __name__ == '__main__':
    sys.exit(main())
