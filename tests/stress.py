"""Fault and load cases for microsocks (`make stress`; not part of `make test`).

Imported by tests/runner.py only when MS_STRESS=1; the cases register with harness's @case and
are all named stress_*, so `make stress` runs `MS_STRESS=1 sh tests/run stress`.

Every case ends with the same checks (finish()): the server is alive, a fresh client gets a
working tunnel, and once the server has gone idle its fds (/proc/PID/fd) and threads
(/proc/PID/status Threads) are back to the idle baseline taken before the load, and its RSS is
within RSS_SLACK of it.

Hundreds of sockets at once are driven by one selector in one thread (class Loop), not by a
Python thread each. Environment:
    MS_STRESS_SOAK      length of stress_soak in seconds (default 60)
    MS_STRESS_TUNNELS   tunnels in stress_soak (default 1000)
    MS_STRESS_SEED      replay stress_random_handshakes with this seed (a failure names it)
"""

import errno
import os
import random
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from ops import is_dynamic
from harness import (
    NOAUTH, REP_FAIL, REP_OK, REP_TTL, SERVER_BINARY, USERPASS, Fail, Server, Skip, SocksClient, T,
    Target, auth_request, check, closed_port, connect_request, defer, error_reply, greeting, hexs,
    is_readable, need_isolation, recv_exact, socks4_request, tunnel, PASSWORD, USER, case)

SOAK_SECONDS = float(os.environ.get('MS_STRESS_SOAK', '60'))
SOAK_TUNNELS = int(os.environ.get('MS_STRESS_TUNNELS', '1000'))
RSS_SLACK = 2048            # KiB the idle server's RSS may have grown after a case
PROMPT = 2 * T.SCALE        # a client served "promptly" while the server is under load
QUIET = 0.5 * T.SCALE       # a bounded quiet time: what did not happen within it does not happen
NOFILE_NEEDED = 8192        # the soak: 1,000 tunnels are 2,000 fds here and 2,000+ in the server
HELD = 10 * T.TRANSFER      # how long a target's handler waits for a held tunnel's next bytes


def raise_nofile(n=NOFILE_NEEDED):
    """Our own RLIMIT_NOFILE (and so the server's, which inherits it) at least n, or Skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(hard, n)))
    except (ValueError, OSError) as e:
        raise Skip(f'cannot raise RLIMIT_NOFILE from {soft}/{hard} to {n}: {e}')


# ================================================================ the server's resources

class Usage:
    """fds, threads, RSS and address space of a process, from /proc."""

    def __init__(self, pid):
        self.fds = len(os.listdir(f'/proc/{pid}/fd'))
        with open(f'/proc/{pid}/status') as f:
            status = dict(line.split(':', 1) for line in f if ':' in line)
        self.threads = int(status['Threads'])
        self.rss = int(status['VmRSS'].split()[0])     # KiB
        self.vm = int(status['VmSize'].split()[0])     # KiB

    def __str__(self):
        return f'{self.fds} fds, {self.threads} threads, RSS {self.rss} KiB'


def fd_kinds(pid):
    kinds = {}
    for fd in os.listdir(f'/proc/{pid}/fd'):
        try:
            k = re.sub(r'\[\d+\]', '', os.readlink(f'/proc/{pid}/fd/{fd}'))
        except OSError:
            continue
        kinds[k] = kinds.get(k, 0) + 1
    return ', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))


def wait_idle(server, base, what='after the load'):
    """Wait until the server holds no more fds and threads than base and its RSS is within
    RSS_SLACK of base's. The server gives back parked threads, pooled pipes and freed heap once
    it has been idle for two seconds, so the deadline is that plus T.IO."""
    timeout = 2 + T.IO
    deadline = time.monotonic() + timeout
    while True:
        check(server.alive(), f'server died {what}')
        now = Usage(server.pid)
        if now.fds <= base.fds and now.threads <= base.threads and now.rss <= base.rss + RSS_SLACK:
            return now
        if time.monotonic() > deadline:
            raise Fail(f'{what}: server not back to idle within {timeout:.0f}s: {now} '
                       f'({fd_kinds(server.pid)}); idle before: {base} (+{RSS_SLACK} KiB RSS allowed)')
        time.sleep(T.POLL)


def fresh_client(server, target, user=None, password=None, within=None):
    """A new client gets a tunnel to the echo target and 64 KiB echoed (within `within`)."""
    start = time.monotonic()
    try:
        c, _ = tunnel(server, '127.0.0.1', target.port, user, password)
        c.echo_check(os.urandom(65536))
    except (Fail, OSError) as e:
        raise Fail(f'a fresh client was not served: {e}')
    elapsed = time.monotonic() - start
    c.close()
    if within is not None:
        check(elapsed <= within, f'a fresh client took {elapsed:.2f}s (more than {within:.1f}s)')
    return elapsed


def idle_baseline(server, target, user=None, password=None):
    """The idle server's usage after one client (which opens and maps what any first client
    does): taken once its threads are back to what they were before that client."""
    start = Usage(server.pid)
    fresh_client(server, target, user, password)
    deadline = time.monotonic() + 2 + T.IO
    while True:
        now = Usage(server.pid)
        if now.threads <= start.threads:
            return now
        check(time.monotonic() < deadline, f'after the first client the server kept {now.threads} '
                                           f'threads for {2 + T.IO:.0f}s (before: {start.threads})')
        time.sleep(T.POLL)


def finish(server, target, base, user=None, password=None):
    """The closing checks of every case: alive, serves a fresh client, back to idle."""
    check(server.alive(), 'server died')
    fresh_client(server, target, user, password)
    return wait_idle(server, base)


def abort(sock):
    """Make the next close() send a reset (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass


# ================================================================ one selector, many sockets

class Loop:
    """Non-blocking sockets and their handlers, run by one selector in this thread; all its
    sockets are closed after the case."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.socks = set()
        defer(self.close)

    def socket(self, family=socket.AF_INET):
        return self.adopt(socket.socket(family))

    def adopt(self, s):
        s.setblocking(False)
        self.socks.add(s)
        return s

    def watch(self, sock, events, fn=None):
        """Call fn(events) when sock is ready for events (0: stop watching)."""
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            key = None
        if not events:
            if key:
                self.sel.unregister(sock)
        elif key:
            self.sel.modify(sock, events, fn or key.data)
        else:
            self.sel.register(sock, events, fn)

    def drop(self, sock, reset=False):
        """Stop watching sock and close it (with a reset if asked)."""
        self.watch(sock, 0)
        if reset:
            abort(sock)
        sock.close()
        self.socks.discard(sock)

    def run(self, done, timeout, what):
        """Handle events until done() (checked between rounds), at most timeout seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f'{what}: not done within {timeout:.0f}s')
            for key, events in self.sel.select(min(left, 0.25)):
                key.data(events)

    def close(self):
        for s in self.socks:
            s.close()
        self.socks.clear()
        self.sel.close()


class Exchange:
    """A client that connects, sends `payload` (then shuts down writing if `shut`), and collects
    what comes back until `want` bytes arrived (if want), EOF or a reset. Afterwards .end is
    'full', 'eof', 'reset' or 'connect: ERR', and .t_end when; a 'full' socket stays open."""

    def __init__(self, loop, address, payload, want=None, shut=False, source=None):
        self.loop, self.out, self.want, self.shut = loop, payload, want, shut
        self.got, self.end, self.t_end, self.connected = bytearray(), None, None, False
        self.sock = loop.socket(socket.AF_INET6 if ':' in address[0] else socket.AF_INET)
        if source:
            self.sock.bind((source, 0))
        self.t0 = time.monotonic()
        err = self.sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            self._finish(f'connect: {errno.errorcode.get(err, err)}')
            return
        loop.watch(self.sock, selectors.EVENT_WRITE | selectors.EVENT_READ, self.event)

    def _finish(self, how):
        self.end, self.t_end = how, time.monotonic()
        if how == 'full':
            self.loop.watch(self.sock, 0)
        else:
            self.loop.drop(self.sock)

    def event(self, events):
        if not self.connected:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self._finish(f'connect: {errno.errorcode.get(err, err)}')
            if not events & selectors.EVENT_WRITE:
                return
            self.connected = True
        if events & selectors.EVENT_WRITE:
            try:
                if self.out:
                    self.out = self.out[self.sock.send(self.out):]
                if not self.out:
                    if self.shut:
                        self.sock.shutdown(socket.SHUT_WR)
                    self.loop.watch(self.sock, selectors.EVENT_READ)
            except BlockingIOError:
                pass
            except OSError:
                return self._finish('reset')
        if events & selectors.EVENT_READ:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                return self._finish('reset')
            if not data:
                return self._finish('eof')
            self.got += data
            if self.want and len(self.got) >= self.want:
                return self._finish('full')

    @property
    def done(self):
        return self.end is not None

    def describe(self):
        return f'{self.end or "pending"} after {len(self.got)} bytes: {hexs(bytes(self.got), 16)}'


def run_all(loop, conns, timeout, what):
    loop.run(lambda: all(c.done for c in conns), timeout, what)


def tunnel_request(port, host='127.0.0.1'):
    """Greeting and CONNECT in one write; the answer is 2 + 10 bytes."""
    return greeting(NOAUTH) + connect_request(host, port)


TUNNEL_OK = bytes([5, NOAUTH, 5, REP_OK, 0, 1, 127, 0, 0, 1])
TUNNEL_FAIL = bytes([5, NOAUTH]) + error_reply(REP_FAIL)


def tunnel_outcome(x):
    """'ok' (05 00, 05 00 00 01 127.0.0.1 PORT), 'refused' (closed or reset before a wrong
    byte, or 05 00, 05 01), else Fail."""
    got = bytes(x.got)
    if x.end == 'full' and got[:10] == TUNNEL_OK:
        return 'ok'
    if x.end == 'full' and got == TUNNEL_FAIL:
        return 'refused'
    if x.end in ('eof', 'reset') and (TUNNEL_OK.startswith(got) or TUNNEL_FAIL.startswith(got)):
        return 'refused'
    raise Fail(f'unexpected answer to a CONNECT while short of resources: {x.describe()}')


def open_tunnels(server, target, n):
    """n clients asking for a tunnel to target at once; returns (ok Exchanges, refused count)."""
    loop = Loop()
    conns = [Exchange(loop, server.address, tunnel_request(target.port), want=12) for _ in range(n)]
    try:
        run_all(loop, conns, T.IO * 4, f'{n} clients asking for tunnels')
    except Fail as e:
        states = {}
        for x in conns:
            k = x.end or ('pending, ' + ('connected' if x.connected else 'connecting') +
                          f', {len(x.got)} bytes')
            states[k] = states.get(k, 0) + 1
        raise Fail(f'{e}: {states}; server log: {server.stderr_tail(3)}')
    held, refused = [], 0
    for x in conns:
        if tunnel_outcome(x) == 'ok':
            x.sock.setblocking(True)
            held.append(x)
        else:
            refused += 1
    return held, refused


def echo_all(held):
    """Each held tunnel still echoes."""
    for i, x in enumerate(held):
        data = b'still alive %d' % i
        x.sock.settimeout(T.IO)
        try:
            x.sock.sendall(data)
            got = recv_exact(x.sock, len(data))
        except (Fail, OSError) as e:
            raise Fail(f'tunnel {i} of {len(held)} held while short of resources: {e}')
        check(got == data, f'tunnel {i}: echo mismatch')


def close_all(conns):
    for x in conns:
        x.loop.drop(x.sock)


# ================================================================ resource exhaustion

def exhaustion(server, target, base, n, shortage_log=None):
    """n tunnels at once from a server short of something: some served, the others refused
    (closed or 05 01), the served ones keep working, the server does not spin, the log names
    the shortage; then all closed -> finish(). Returns (served, refused)."""
    held, refused = open_tunnels(server, target, n)
    check(held, f'not one of {n} tunnels was served')
    check(refused, f'all {n} tunnels were served: the limit was never reached')
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    try:
        echo_all(held)
    except Fail as e:
        raise Fail(f'{e}; server log: {server.stderr_tail(4)}')
    extra, _ = open_tunnels(server, target, 5)      # refused too, most likely
    elapsed = time.monotonic() - t0
    if elapsed < QUIET:
        time.sleep(QUIET - elapsed)   # the rest of a measurement window (not synchronisation)
    cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    check(cpu < 0.5, f'server used {cpu:.0%} CPU while short of resources')
    if shortage_log:
        server.wait_line(re.compile(shortage_log))
    close_all(held + extra)
    finish(server, target, base)
    if shortage_log:
        server.wait_line(re.compile('serving clients again'))
    return len(held), refused


@case
def stress_fd_exhaustion():
    """RLIMIT_NOFILE 64 and 300 tunnels asked for at once: some served, the rest closed or
    answered 05 01, no spinning; after they close a fresh client is served and fds, threads and
    RSS are back to idle."""
    server, target = Server(nofile=64), Target(backlog=512, timeout=HELD)
    base = idle_baseline(server, target)
    exhaustion(server, target, base, 300)


NPROC_UID = 48879    # an otherwise unused uid: RLIMIT_NPROC counts all of its tasks
NPROC = 24


def uid_tasks(uid):
    n = 0
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                n += os.stat(f'/proc/{pid}').st_uid == uid
            except OSError:
                pass
    return n


def as_other_uid():
    """preexec: RLIMIT_NPROC, then drop root for NPROC_UID (the limit does not bind root)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
    os.setgroups([])
    os.setgid(NPROC_UID)
    os.setuid(NPROC_UID)


@case
def stress_thread_exhaustion():
    """The server as a non-root uid with RLIMIT_NPROC 24 (threads count): 100 tunnels at once,
    at most 24 served, the rest refused, "out of threads" logged; afterwards a fresh client is
    served, "serving clients again" logged, and fds, threads and RSS are back to idle."""
    if os.geteuid() != 0:
        raise Skip('needs root to run the server as another uid (RLIMIT_NPROC does not bind root)')
    check(uid_tasks(NPROC_UID) == 0, f'precondition: uid {NPROC_UID} already runs tasks')
    server, target = Server(preexec=as_other_uid), Target(backlog=512, timeout=HELD)
    base = idle_baseline(server, target)
    held, _ = exhaustion(server, target, base, 100, shortage_log=r'out of threads')
    check(held <= NPROC, f'{held} tunnels served with RLIMIT_NPROC {NPROC}')


@case
def stress_memory_exhaustion():
    """RLIMIT_AS set (prlimit) to the idle server's address space + 4 MiB: 200 tunnels at once,
    some served, the rest refused, "out of memory" logged; afterwards, the limit still in
    place, a fresh client is served and fds, threads and RSS are back to idle."""
    server, target = Server(), Target(backlog=512, timeout=HELD)
    base = idle_baseline(server, target)
    limit = (base.vm + 4096) * 1024
    resource.prlimit(server.pid, resource.RLIMIT_AS, (limit, limit))
    exhaustion(server, target, base, 200, shortage_log=r'out of (memory|threads)')


# ================================================================ slow and silent clients

@case
def stress_silent_clients():
    """--handshake-timeout 5: 1,000 clients connect and send nothing; meanwhile a real client is
    served promptly and none of the silent ones is closed yet; each silent one is closed between
    0.9 x 5 s and 5 s + SLACK after it connected; then back to idle."""
    raise_nofile()
    hs = 5
    server, target = Server('--handshake-timeout', str(hs)), Target()
    base = idle_baseline(server, target)
    loop = Loop()
    silent = [Exchange(loop, server.address, b'') for _ in range(1000)]
    loop.run(lambda: all(x.connected or x.done for x in silent), T.IO * 2, 'connecting 1,000 clients')
    check(server.alive(), 'server died')
    fresh_client(server, target, within=PROMPT)
    for x in silent:
        if not x.done and is_readable(x.sock):
            x.event(selectors.EVENT_READ)
    early = [x for x in silent if x.done]
    check(not early, f'{len(early)} silent clients closed before the real client was served '
                     f'({time.monotonic() - silent[0].t0:.1f}s after the first connected): '
                     f'{early[0].describe() if early else ""}')
    run_all(loop, silent, hs + T.SLACK + T.IO, 'waiting for the silent clients to be closed')
    for x in silent:
        held = x.t_end - x.t0
        check(x.end in ('eof', 'reset') and not x.got, f'silent client: {x.describe()}')
        check(held >= hs * T.EARLY, f'silent client closed after {held:.2f}s (< {hs * T.EARLY:.1f}s)')
        check(held <= hs + T.SLACK, f'silent client closed after {held:.2f}s (--handshake-timeout {hs})')
    finish(server, target, base)


# ================================================================ random and truncated handshakes

def random_handshake(rnd, echo_port, closed):
    """(kind, bytes): a seeded random, mutated, truncated or whole SOCKS4/4a/5 handshake."""
    k = rnd.randrange(8)
    if k == 0:
        return 'random', bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
    dests = [('127.0.0.1', echo_port), ('127.0.0.1', closed), ('127.3.0.1', 80), ('127.1.0.1', 80),
             ('::1', closed), ('nosuch.invalid', 80), ('v4only.test', echo_port)]
    host, port = rnd.choice(dests)
    if k in (1, 2):     # SOCKS4 / 4a
        domain = host if host[0].isalpha() else None
        ip = '0.0.0.1' if domain else '127.0.0.1' if ':' in host else host
        msg = socks4_request(rnd.choice((1, 2, 3)), ip, port, domain=domain,
                             userid=bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(8))))
    else:
        methods = [rnd.randrange(256) for _ in range(rnd.randrange(4))] + [NOAUTH]
        rnd.shuffle(methods)
        msg = bytes([5, len(methods)] + methods) + connect_request(
            host, port, cmd=rnd.choice((1, 1, 2, 3, 9)))
    if rnd.random() < 0.1:
        msg += bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4)))
    if k in (3, 4, 5):
        return 'truncated', msg[:rnd.randrange(len(msg))]
    if k == 6:
        b = bytearray(msg)
        b[rnd.randrange(len(b))] = rnd.randrange(256)
        return 'mutated', bytes(b)
    return 'whole', msg


@case
def stress_random_handshakes():
    """20,000 seeded random, mutated, truncated and whole SOCKS4/4a/5 handshakes, 200 at a time,
    each followed by the client's EOF: the server answers with nothing or a SOCKS reply (first
    byte 00, 01 or 05; nothing at all to a first byte other than 04/05) and closes every one
    within T.IO (--handshake-timeout is 60); then alive, a fresh client served, back to idle.
    A failure names its seed: MS_STRESS_SEED=N replays it."""
    need_isolation()      # names resolve only in the namespace; sources 127.0.1.x
    raise_nofile()
    seed = int(os.environ.get('MS_STRESS_SEED', '0')) or random.randrange(1, 1 << 30)
    rnd = random.Random(seed)
    server = Server('--handshake-timeout', '60', '--connect-timeout', '1', '--bind-timeout', '2')
    target = Target(backlog=512)
    base = idle_baseline(server, target)
    closed = closed_port()
    loop, inflight, failures, kinds = Loop(), [], [], {}
    todo = 20000

    def judge(x):
        got, why = bytes(x.got), None
        if x.end.startswith('connect'):
            why = x.end
        elif x.payload[:1] not in (b'\4', b'\5') and got:
            why = 'answered a first byte other than 04/05'
        elif got and got[0] not in (0, 1, 5):
            why = 'answer does not start with 00, 01 or 05'
        if why:
            failures.append(f'{why}: sent {hexs(x.payload)} ({x.kind}); got {x.describe()}')

    def refill():
        nonlocal todo
        for x in [x for x in inflight if x.done]:
            inflight.remove(x)
            judge(x)
        while todo and len(inflight) < 200:
            kind, payload = random_handshake(rnd, target.port, closed)
            x = Exchange(loop, server.address, payload, shut=True, source=f'127.0.1.{1 + todo % 250}')
            x.kind, x.payload = kind, payload
            kinds[kind] = kinds.get(kind, 0) + 1
            inflight.append(x)
            todo -= 1
        now = time.monotonic()
        stuck = [x for x in inflight if not x.done and now - x.t0 > T.IO]
        if stuck:
            raise Fail(f'seed {seed}: {len(stuck)} connections not closed by the server within '
                       f'{T.IO:.0f}s of the client\'s EOF, e.g. sent {hexs(stuck[0].payload)} '
                       f'({stuck[0].kind}): {stuck[0].describe()}')
        return not todo and not inflight

    loop.run(refill, 300 * T.SCALE, f'seed {seed}: 20,000 handshakes')
    check(not failures, f'seed {seed}: {len(failures)} bad answers, e.g. ' + ' ; '.join(failures[:3]))
    check(sum(kinds.values()) == 20000 and len(kinds) == 4, f'handshakes made: {kinds}')
    finish(server, target, base)


# ================================================================ clients that reset

STAGES = ('connected, nothing sent', 'half a greeting', 'greeting, reply unread',
          'after the method reply', 'half the credentials', 'credentials, status unread',
          'after the auth status', 'half a request', 'while the server connects (SYN dropped)',
          'request, reply unread', 'after the CONNECT reply', 'BIND waiting for its peer',
          'UDP association')


def reset_at(server, target, stage):
    """A client of a user/password server that resets (SO_LINGER 0) at STAGES[stage]."""
    c = SocksClient(server.address)
    creds = auth_request(USER, PASSWORD)
    req = connect_request('127.0.0.1', target.port)
    if stage == 1:
        c.send(b'\5')
    elif stage == 2:
        c.send(greeting(USERPASS))
    elif stage >= 3:
        check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
        if stage == 4:
            c.send(creds[:4])
        elif stage == 5:
            c.send(creds)
        elif stage >= 6:
            check(c.auth(USER, PASSWORD) == 0, 'credentials rejected')
            c.send((req[:5], connect_request('127.3.0.1', 80), req, req,
                    connect_request('127.0.0.1', 0, cmd=2),
                    connect_request('0.0.0.0', 0, cmd=3))[stage - 7] if stage > 6 else b'')
            if stage >= 10:
                r = c.read_reply()
                check(r.rep == REP_OK, f'{STAGES[stage]}: reply {r.rep:#04x}')
    abort(c.sock)
    c.close()


def streaming_target(conn):
    """Reads and writes as fast as it can until the tunnel goes away; returns how it ended."""
    conn.setblocking(False)
    block = os.urandom(65536)
    deadline = time.monotonic() + T.TRANSFER
    while time.monotonic() < deadline:
        r, w, _ = select.select([conn], [conn], [], QUIET)
        try:
            if r and not conn.recv(1 << 16):
                return 'eof'
            if w:
                conn.send(block)
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return 'reset'
    raise Fail(f'tunnel still open after {T.TRANSFER:.0f}s')


@case
def stress_client_resets():
    """A user/password server; clients reset (SO_LINGER 0) at each of 13 stages of the handshake
    (nothing sent, half greeting, greeting, after the method, half and whole credentials, after
    the status, half request, while connecting, request, after the reply, BIND waiting, UDP
    association), 20 times each; then 50 tunnels reset mid-transfer with data in flight both
    ways, whose targets must see their tunnel end within T.IO; then alive, a fresh client
    served, back to idle."""
    need_isolation()      # 127.3.0.1 drops SYNs
    server = Server('-u', USER, '-P', PASSWORD, '--connect-timeout', '3', '--bind-timeout', '30')
    target = Target(backlog=512)
    base = idle_baseline(server, target, USER, PASSWORD)
    for stage in range(len(STAGES)):
        for _ in range(20):
            try:
                reset_at(server, target, stage)
            except Fail as e:
                raise Fail(f'stage "{STAGES[stage]}": {e}')
    check(server.alive(), 'server died')
    streamer = Target(streaming_target, backlog=512, timeout=T.TRANSFER)
    tunnels = [tunnel(server, '127.0.0.1', streamer.port, USER, PASSWORD)[0] for _ in range(50)]
    for c in tunnels:
        c.sock.setblocking(False)
        try:
            c.sock.send(os.urandom(1 << 16))
        except BlockingIOError:
            pass
    for c in tunnels:
        c.sock.settimeout(T.IO)
        check(len(c.sock.recv(1 << 16)) > 0, 'no data from the streaming target')
        abort(c.sock)
        c.close()
    for _ in tunnels:
        how = streamer.result(T.IO)
        check(how in ('eof', 'reset'), f'target after the client\'s reset: {how}')
    finish(server, target, base, USER, PASSWORD)


# ================================================================ misbehaving targets

def resetting_target(conn):
    """Reads 64 KiB, sends 64 KiB, then resets."""
    recv_exact(conn, 65536)
    conn.sendall(os.urandom(65536))
    abort(conn)
    return 'reset'


@case
def stress_target_resets():
    """50 tunnels whose target resets mid-transfer (after 64 KiB each way): each client sees
    its tunnel end (EOF or reset) within T.IO; then alive, fresh client, back to idle."""
    server, target = Server(), Target()
    base = idle_baseline(server, target)
    bad = Target(resetting_target, backlog=512)
    clients = [tunnel(server, '127.0.0.1', bad.port)[0] for _ in range(50)]
    for c in clients:
        c.send(os.urandom(65536))
    for i, c in enumerate(clients):
        deadline = time.monotonic() + T.IO
        while True:                 # its data, then EOF or a reset
            c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not c.sock.recv(1 << 16):
                    break
            except ConnectionResetError:
                break
            except socket.timeout:
                raise Fail(f'tunnel {i}: not closed within {T.IO:.0f}s of the target\'s reset')
        c.close()
    for _ in clients:
        bad.result()
    finish(server, target, base)


def full_listener():
    """The port of a listener that never accepts, its accept queue full: SYNs to it are dropped."""
    listener = socket.socket()
    defer(listener.close)
    listener.bind(('127.0.0.1', 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    loop = Loop()
    for _ in range(64):
        probe = Exchange(loop, ('127.0.0.1', port), b'')
        try:
            loop.run(lambda: probe.connected or probe.done, QUIET, 'probe')
        except Fail:
            return port         # not even a SYN-ACK within QUIET: the queue is full
        check(not probe.done, f'precondition: connecting to the listener: {probe.describe()}')
    raise Fail('precondition: could not fill the accept queue')


@case
def stress_target_never_accepts():
    """--connect-timeout 2: 200 clients at once CONNECT to a listener whose accept queue is full
    and to 127.3.0.1 (SYNs dropped); a real client is served promptly meanwhile; each of the 200
    gets 05 06 between 0.9 x 2 s and 2 s + SLACK; then back to idle."""
    need_isolation()
    server, target = Server('--connect-timeout', '2'), Target()
    base = idle_baseline(server, target)
    port = full_listener()
    loop = Loop()
    conns = [Exchange(loop, server.address, tunnel_request(port) if i % 2 else
                      tunnel_request(80, '127.3.0.1'), want=12) for i in range(200)]
    loop.run(lambda: all(x.connected or x.done for x in conns), T.IO, 'connecting')
    fresh_client(server, target, within=PROMPT)
    run_all(loop, conns, 2 + T.SLACK + T.IO, '200 CONNECTs to targets that never answer')
    for x in conns:
        check(bytes(x.got) == bytes([5, 0]) + error_reply(REP_TTL),
              f'CONNECT to a target that never accepts: {x.describe()}')
        took = x.t_end - x.t0
        check(2 * T.EARLY <= took <= 2 + T.SLACK, f'05 06 after {took:.2f}s with --connect-timeout 2')
    close_all(conns)
    finish(server, target, base)


def writable(sock, timeout):
    return bool(select.select([], [sock], [], timeout)[1])


@case
def stress_target_never_reads():
    """20 tunnels to targets that accept but never read: each client writes until its upstream
    stays full for QUIET (and the server buffers less than 64 MiB of it), yet each target's
    4 MiB reach its client intact, and a fresh client is served promptly meanwhile; after the
    clients close, every target sees its connection end within 3 x T.IO; then back to idle."""
    server, target = Server('--halfclose-timeout', '2'), Target()
    base = idle_baseline(server, target)
    down = os.urandom(4 << 20)
    go = threading.Event()

    def mute(conn):
        check(go.wait(T.TRANSFER), 'never told to send')
        conn.sendall(down)
        r, _, _ = select.select([conn], [], [], 3 * T.IO)
        check(r, f'tunnel not closed within {3 * T.IO:.0f}s after the client went')
        try:        # what it never read comes first, then EOF (or a reset)
            while conn.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        return 'closed'

    mutes = Target(mute, backlog=64, timeout=T.TRANSFER)
    clients = [tunnel(server, '127.0.0.1', mutes.port)[0] for _ in range(20)]
    chunk = os.urandom(1 << 16)
    for i, c in enumerate(clients):
        c.sock.setblocking(False)
        pushed = 0
        while pushed < 64 << 20:
            try:
                pushed += c.sock.send(chunk)
            except BlockingIOError:
                if not writable(c.sock, QUIET):
                    break
        check(pushed < 64 << 20, f'tunnel {i}: 64 MiB written to a target that never reads')
    fresh_client(server, target, within=PROMPT)
    go.set()
    for i, c in enumerate(clients):
        c.sock.setblocking(True)
        got = recv_exact(c.sock, len(down), T.TRANSFER)
        check(got == down, f'tunnel {i}: downstream bytes differ')
    for c in clients:
        c.close()
    for _ in clients:
        mutes.result(4 * T.IO)
    finish(server, target, base)


# ================================================================ soak

PATTERN = os.urandom(1 << 20)
PATTERN2 = PATTERN + PATTERN[:1 << 16]
CHUNK = 1 << 14
WINDOW = 1 << 16            # bytes a tunnel's client has out before it waits for the echo


def expected(off, pos, n):
    """Bytes pos..pos+n of the stream that starts at PATTERN[off] (n <= 64 KiB)."""
    q = (off + pos) % len(PATTERN)
    return PATTERN2[q:q + n]


class SoakClient:
    """A tunnel's client: sends its 4-byte id, then PATTERN from its own offset, at most WINDOW
    ahead of the echo, and checks the echo byte for byte."""

    def __init__(self, soak, tid, address, port):
        self.soak, self.tid, self.off = soak, tid, (tid * 7919) % len(PATTERN)
        self.sent, self.recvd = 4, 0       # the id goes out with the handshake
        self.state, self.error = 'handshake', None
        self.sock = soak.loop.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect_ex(address)
        self.out = tunnel_request(port) + struct.pack('>I', tid)
        self.reply = bytearray()
        self.last = self.max_gap = 0.0
        soak.loop.watch(self.sock, selectors.EVENT_WRITE | selectors.EVENT_READ, self.event)

    def head(self, pos, n):
        """Stream bytes pos..pos+n: the id, then PATTERN from self.off."""
        if pos >= 4:
            return expected(self.off, pos - 4, n)
        return (struct.pack('>I', self.tid) + expected(self.off, 0, n))[pos:pos + n]

    def fail(self, msg):
        self.error = self.error or f'tunnel {self.tid}: {msg}'
        self.state = 'done'
        self.soak.loop.drop(self.sock)

    def event(self, events):
        if self.state == 'done':
            return
        try:
            if events & selectors.EVENT_READ:
                data = self.sock.recv(1 << 16)
                if not data:
                    if self.state != 'closing' or self.recvd != self.sent:
                        return self.fail(f'EOF in state {self.state}: sent {self.sent}, '
                                         f'echoed {self.recvd}')
                    self.state = 'done'
                    self.soak.finished += 1
                    self.soak.loop.drop(self.sock)
                    return
                if self.state == 'handshake':
                    need = 12 - len(self.reply)
                    self.reply += data[:need]
                    data = data[need:]
                    if len(self.reply) == 12:
                        if bytes(self.reply[:10]) != TUNNEL_OK:
                            return self.fail(f'handshake answer {hexs(bytes(self.reply))}')
                        self.state = 'running'
                        self.soak.up += 1
                if data:
                    if data != self.head(self.recvd, len(data)):
                        return self.fail(f'echo differs at byte {self.recvd}')
                    self.recvd += len(data)
                    now = time.monotonic()
                    if self.soak.measuring:
                        self.max_gap = max(self.max_gap, now - self.last)
                    self.last = now
            if events & selectors.EVENT_WRITE:
                if self.out:
                    self.out = self.out[self.sock.send(self.out):]
                elif self.state == 'running' and self.soak.stopping:
                    self.sock.shutdown(socket.SHUT_WR)
                    self.state = 'closing'
                elif self.state == 'running' and self.sent - self.recvd < WINDOW:
                    self.sent += self.sock.send(expected(self.off, self.sent - 4, CHUNK))
        except BlockingIOError:
            pass
        except OSError as e:
            return self.fail(f'{e!r} in state {self.state}')
        if self.state == 'done':
            return
        want = selectors.EVENT_READ
        if self.out or (self.state == 'running' and
                        (self.soak.stopping or self.sent - self.recvd < WINDOW)):
            want |= selectors.EVENT_WRITE
        self.soak.loop.watch(self.sock, want)


class SoakTarget:
    """The echo end, in the same loop: each connection checks what it gets (the id, then
    PATTERN from that tunnel's offset), echoes it, and passes the EOF on."""

    def __init__(self, soak):
        self.soak, self.received = soak, {}
        self.lsock = soak.loop.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(4096)
        self.port = self.lsock.getsockname()[1]
        soak.loop.watch(self.lsock, selectors.EVENT_READ, self.accept)

    def accept(self, events):
        for _ in range(64):
            try:
                conn, _ = self.lsock.accept()
            except BlockingIOError:
                return
            TargetConn(self.soak, self, self.soak.loop.adopt(conn))


class TargetConn:
    def __init__(self, soak, target, sock):
        self.soak, self.target, self.sock = soak, target, sock
        self.client, self.idbuf, self.pos, self.pending, self.eof = None, b'', 0, b'', False
        soak.loop.watch(sock, selectors.EVENT_READ, self.event)

    def check(self, data):
        if self.client is None:
            take = data[:4 - len(self.idbuf)]
            self.idbuf += take
            self.pos += len(take)
            data = data[len(take):]
            if len(self.idbuf) < 4:
                return
            tid = struct.unpack('>I', self.idbuf)[0]
            check(tid < len(self.soak.clients), f'unknown tunnel id {tid}')
            self.client = self.soak.clients[tid]
        if data != self.client.head(self.pos, len(data)):
            raise Fail(f'tunnel {self.client.tid}: upstream bytes differ at byte {self.pos}')
        self.pos += len(data)

    def event(self, events):
        loop = self.soak.loop
        try:
            if events & selectors.EVENT_WRITE and self.pending:
                self.pending = self.pending[self.sock.send(self.pending):]
            if events & selectors.EVENT_READ and not self.pending and not self.eof:
                data = self.sock.recv(1 << 16)
                if data:
                    self.check(data)
                    self.pending = data
                else:
                    self.eof = True
            if self.eof and not self.pending:
                self.target.received[self.client.tid if self.client else -1] = self.pos
                self.sock.shutdown(socket.SHUT_WR)
                loop.drop(self.sock)
                return
        except BlockingIOError:
            pass
        except (Fail, OSError) as e:
            self.soak.errors.append(f'target side: {e}')
            loop.drop(self.sock)
            return
        loop.watch(self.sock, selectors.EVENT_WRITE if self.pending else selectors.EVENT_READ)


class Soak:
    def __init__(self):
        self.loop = Loop()
        self.clients, self.errors = [], []
        self.up = self.finished = 0
        self.stopping = self.measuring = False


@case
def stress_soak():
    """1,000 tunnels at once move data for MS_STRESS_SOAK seconds (default 60), every byte
    checked at the target (upstream) and again at the client (the echo); no tunnel goes more
    than 10 s without progress; then each client half-closes and gets all it sent back and EOF;
    then the server's fds and threads return to idle and RSS to within RSS_SLACK of it."""
    raise_nofile()
    n = SOAK_TUNNELS
    server, target = Server(), Target()
    base = idle_baseline(server, target)
    soak = Soak()
    echo = SoakTarget(soak)
    soak.clients = [SoakClient(soak, i, server.address, echo.port) for i in range(n)]

    def failed():
        errors = [c.error for c in soak.clients if c.error] + soak.errors
        check(not errors, f'{len(errors)} tunnels failed: ' + '; '.join(errors[:3]))
        return False

    soak.loop.run(lambda: failed() or soak.up == n, T.IO * 6, f'setting up {n} tunnels')
    during = Usage(server.pid)
    check(during.fds >= base.fds + 2 * n, f'server holds {during.fds} fds with {n} tunnels open')
    start = time.monotonic()
    soak.measuring = True
    for c in soak.clients:
        c.last = start
    soak.loop.run(lambda: failed() or time.monotonic() - start >= SOAK_SECONDS,
                  SOAK_SECONDS + T.IO, 'soak')
    soak.measuring = False
    now = time.monotonic()
    gap, worst = max((max(c.max_gap, now - c.last), c.tid) for c in soak.clients)
    moved = sum(c.recvd for c in soak.clients)
    slow = min(c.recvd for c in soak.clients)
    check(gap <= 10 * T.SCALE, f'tunnel {worst} made no progress for {gap:.1f}s')
    soak.stopping = True
    for c in soak.clients:
        if c.state == 'running':
            soak.loop.watch(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    soak.loop.run(lambda: failed() or soak.finished == n, T.IO * 6, 'closing the tunnels')
    for c in soak.clients:
        got = soak_target_got = echo.received.get(c.tid)
        check(soak_target_got == c.sent, f'tunnel {c.tid}: sent {c.sent} bytes, target got {got}')
    print(f'  stress_soak: {n} tunnels, {SOAK_SECONDS:.0f}s, {moved / (1 << 20):.0f} MiB echoed '
          f'(least {slow / 1024:.0f} KiB), longest gap {gap:.2f}s; server with all open: {during}',
          flush=True)
    wait_idle(server, base, what='after the soak')
    finish(server, target, base)


# ================================================================ a flood of wrong passwords

# the glibc test vector of crypt(3) SHA-512, password "Hello world!" (as in tests/ops.py)
FLOOD_HASH = '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'
FLOOD_PASSWORD = 'Hello world!'


def need_crypt():
    if not is_dynamic(SERVER_BINARY):
        raise Skip('a static binary has no crypt(3)')


def flood_wrong_passwords(address, user, stop, counts, wait_answer):
    """Until stop is set: connect, send the greeting and a wrong password for user in one write,
    then close at once, or (wait_answer) read the answer first; counts[0] += 1 per try."""
    msg = greeting(USERPASS) + auth_request(user, 'not-the-password')
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=T.IO) as s:
                s.sendall(msg)
                if wait_answer:
                    s.recv(16)
        except OSError:
            pass
        counts[0] += 1


def login_time(server, user, password, target):
    """Seconds that a full login and an echo through a tunnel take."""
    start = time.monotonic()
    c, _ = tunnel(server, '127.0.0.1', target.port, user, password)
    c.echo_check()
    c.close()
    return time.monotonic() - start


@case
def stress_auth_flood():
    """A flood of wrong passwords for a user with a SHA-512 hash, from 8 connections at a time
    (half closing right after sending, half waiting for the answer), while: the real user logs in
    five times, each within 2 s; SIGHUP re-reads the users file within 1 s; SIGTERM with --grace 1
    ends the server within 1 + 1 s. Hash checks run outside every lock, one per CPU at a time, and
    a client that left gets none."""
    need_crypt()
    d = tempfile.mkdtemp(prefix='ms-stress-')
    defer(lambda: shutil.rmtree(d, ignore_errors=True))
    path = os.path.join(d, 'users')
    with open(path, 'w') as f:
        f.write(f'hashed:{FLOOD_HASH}\n')
    # the flood and the user share 127.0.0.1, as a flood from many addresses would not be
    # banned: --auth-fail-max 0 leaves the hash checks' scheduling alone to bear it
    server, target = Server('--users', path, '--grace', '1', '--auth-fail-max', '0'), Target()
    users_re = re.compile(rf'microsocks: {re.escape(path)}: (\d+) users$')
    server.wait_line(users_re)
    stop, counts = threading.Event(), [0]
    flooders = [threading.Thread(target=flood_wrong_passwords, daemon=True,
                                 args=(server.address, 'hashed', stop, counts, i % 2))
                for i in range(8)]
    defer(lambda: [stop.set()] + [t.join(T.IO) for t in flooders] and None)
    for t in flooders:
        t.start()
    deadline = time.monotonic() + T.IO
    while counts[0] < 200 and time.monotonic() < deadline:
        time.sleep(T.POLL)  # bounded: until the flood is under way
    check(counts[0] >= 200, f'the flood made only {counts[0]} tries in {T.IO:.0f}s')
    for i in range(5):
        took = login_time(server, 'hashed', FLOOD_PASSWORD, target)
        check(took <= PROMPT, f'login {i + 1} of the hashed user took {took:.2f}s during the flood')
    with open(path, 'a') as f:
        f.write('second:pw-second\n')
    sent = time.monotonic()
    os.kill(server.pid, signal.SIGHUP)
    m = server.wait_line(re.compile(rf'microsocks: {re.escape(path)}: 2 users$'), 1 + T.SLACK)
    took = time.monotonic() - sent
    check(took <= 1 * T.SCALE + 0.5, f'SIGHUP took {took:.2f}s during the flood: {m.group(0)}')
    check(login_time(server, 'second', 'pw-second', target) <= PROMPT, 'the reloaded user is slow')
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(1 + 1 + T.SLACK)
    except subprocess.TimeoutExpired:
        raise Fail(f'still running {time.monotonic() - sent:.1f}s after SIGTERM with --grace 1 '
                   f'during the flood ({counts[0]} tries)')
    server.stopped = True  # it was signalled here: its exit is expected
    took = time.monotonic() - sent
    check(took <= 2 * T.SCALE + 0.5, f'SIGTERM with --grace 1 took {took:.2f}s during the flood')
    stop.set()
