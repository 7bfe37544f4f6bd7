"""Harness for the microsocks black-box tests (run by tests/runner.py).

Everything here talks to the real binary over real loopback sockets:
  Server        runs microsocks on port 0, finds its port from the log, checks it on stop
  Target        a threaded TCP listener running a handler per connection (echo, ...)
  SocksClient   a raw SOCKS5 (and SOCKS4) client with recv-exactly-with-deadline
  connect_to    a plain TCP socket (the peer of a BIND)
  case, CASES   the registry the case modules fill, and helpers more than one case module uses
Every wait is bounded by one of the timeouts in class T.
"""

import errno
import hashlib
import ipaddress
import os
import queue
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import namedtuple


class T:
    """All timeouts (seconds) in one place; MS_TEST_TIME_SCALE stretches them (slow CI)."""
    SCALE = float(os.environ.get('MS_TEST_TIME_SCALE', '1'))
    START = 5 * SCALE         # server prints its "listening on" line
    IO = 5 * SCALE            # one expected reply, echo or EOF
    STOP = 5 * SCALE          # server exits after SIGTERM
    DRAIN_WAIT = 1 * SCALE    # before a second SIGTERM ends a drain at once
    SLACK = 3 * SCALE         # allowed lateness of a server-side timeout
    TRANSFER = 60 * SCALE     # a 100 MiB transfer
    PROGRAM = 30 * SCALE      # an external client program (curl, ncat, ...)
    UNIT = 120 * SCALE        # one unit-test binary
    EARLY = 0.9               # a server timeout of 1 s must not fire before this
    SPLIT_GAP = 0.005         # pause between single-byte segments (not synchronisation)
    POLL = 0.05               # step of deadline-bounded retry loops


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROSOCKS = os.environ.get('MICROSOCKS') or os.path.join(ROOT, 'microsocks')
if '/' not in MICROSOCKS:  # a bare name is looked up in PATH
    MICROSOCKS = shutil.which(MICROSOCKS) or MICROSOCKS
# Set by tests/run once the private net+mount namespace (hosts, resolv.conf, routes) is set up.
ISOLATED = os.environ.get('MS_TEST_ISOLATED') == '1'
# `make cross-test`: the binaries are another machine's, run under qemu-user. EMULATOR is the
# command line that runs one (the unit tests; MICROSOCKS is then a script that runs the server
# so), SERVER_BINARY the server's own ELF file, ARCH the machine's name.
EMULATOR = os.environ.get('MS_QEMU', '').split()
SERVER_BINARY = (EMULATOR and os.environ.get('MS_QEMU_BINARY')) or MICROSOCKS
ARCH = os.environ.get('MS_TEST_ARCH', '')


def skip_on_arch(archs, why):
    """The case cannot pass under this emulator (a fault of qemu's, not ours): SKIP, with why."""
    if EMULATOR and ARCH in archs:
        raise Skip(f'under qemu for {ARCH}: {why}')


# qemu's own fault on big-endian MIPS: it hands the host's errno from getsockopt(SO_ERROR) to
# the program untranslated, so a refused connect (ECONNREFUSED, 111 on the host, 146 on MIPS)
# reads as an unknown error and gets reply 01 instead of 05
MIPS_SO_ERROR = ('mips',), 'qemu 7.2 does not translate the errno of getsockopt(SO_ERROR): ' \
    'a refused port gives reply 01, not 05'


def need_native(why):
    """The case looks at the server process itself (its /proc, its ELF file), which under
    qemu-user is the emulator's."""
    if EMULATOR:
        raise Skip(f'under qemu-user: {why}')

SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'runtime error:',
                     'WARNING: ThreadSanitizer', 'ThreadSanitizer: SEGV', 'LeakSanitizer',
                     'VALGRIND-ERROR-BEGIN')  # tests/valgrind (make valgrind) marks its errors
# what starts every line the server logs on stderr but the session lines (which have the time
# where --log-format puts it, first by default): the time as %i writes it, UTC or local
STAMP = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:\d\d) '
LISTEN_RE = re.compile(r'listening on \[?([^\]\s]*)\]?:(\d+)')


class Fail(Exception):
    """The case failed."""


class Closed(Fail):
    """The peer closed (EOF or reset) while we expected data."""


class Skip(Exception):
    """The case cannot run here (missing program, no namespace, ...)."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def need_isolation():
    if not ISOLATED:
        raise Skip('needs the private network namespace set up by tests/run')


def hexs(data, limit=48):
    h = data[:limit].hex(' ')
    return h + (' ...' if len(data) > limit else '') if data else '(nothing)'


# ---------------------------------------------------------------- cleanup

_cleanups = []


def defer(fn):
    """Run fn() after the current case; it may return a list of problems (-> FAIL)."""
    _cleanups.append(fn)
    return fn


def run_cleanups():
    problems = []
    while _cleanups:
        fn = _cleanups.pop()
        try:
            problems += fn() or []
        except Exception as e:  # cleanup must not hide other cleanups
            problems.append(f'cleanup {getattr(fn, "__qualname__", fn)}: {e!r}')
    return problems


# ---------------------------------------------------------------- addresses

def family_of(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def closed_port(host='127.0.0.1'):
    """A port on host that refuses connections: bound, never listening, held until cleanup."""
    s = socket.socket(family_of(host))
    s.bind((host, 0))
    defer(s.close)
    return s.getsockname()[1]


def reserve_port(host, port):
    """Make host:port refuse connections for the rest of the case (bound, not listening)."""
    s = socket.socket(family_of(host))
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        raise
    defer(s.close)


def free_port(host='127.0.0.1'):
    with socket.socket(family_of(host)) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def connect_errno(host, port=9, timeout=0.5):
    """errno of a direct connect (None = connected, 'timeout' = no answer)."""
    s = socket.socket(family_of(host))
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return None
    except socket.timeout:
        return 'timeout'
    except OSError as e:
        return e.errno
    finally:
        s.close()


# ---------------------------------------------------------------- sockets

def connect_to(address, source=None, nodelay=False):
    """A TCP socket connected to address (from source, when given), closed after the case."""
    s = socket.socket(family_of(address[0]))
    defer(s.close)
    if source:
        s.bind((source, 0))
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(T.IO)
    s.connect(address)
    return s


def recv_exact(sock, n, timeout=None):
    """Exactly n bytes within timeout; Closed on EOF/reset, Fail on timeout."""
    timeout = T.IO if timeout is None else timeout
    deadline = time.monotonic() + timeout
    buf = b''
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(f'timed out after {timeout:.1f}s waiting for {n} bytes, got {len(buf)}: {hexs(buf)}')
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise Closed(f'connection reset after {len(buf)} of {n} bytes: {hexs(buf)}')
        if not chunk:
            raise Closed(f'EOF after {len(buf)} of {n} bytes: {hexs(buf)}')
        buf += chunk
    return buf


def recv_until_eof(sock, timeout=None, limit=1 << 28):
    """Everything until EOF (reset counts as EOF), within timeout."""
    timeout = T.IO if timeout is None else timeout
    deadline = time.monotonic() + timeout
    chunks, total = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(f'no EOF within {timeout:.1f}s (got {total} bytes)')
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            chunk = b''
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        check(total <= limit, f'more than {limit} bytes before EOF')


def wait_eof(sock, timeout=None):
    """Wait for EOF or reset; Fail if data arrives instead or nothing happens in time."""
    timeout = T.IO if timeout is None else timeout
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        raise Fail(f'connection not closed within {timeout:.1f}s')
    except ConnectionResetError:
        return
    check(data == b'', f'expected EOF, got data: {hexs(data)}')


def is_readable(sock, timeout=0.0):
    return bool(select.select([sock], [], [], timeout)[0])


class Hasher:
    """Counts and SHA-256-hashes a byte stream."""

    def __init__(self):
        self.sha, self.count = hashlib.sha256(), 0

    def update(self, data):
        self.sha.update(data)
        self.count += len(data)

    def result(self):
        return self.count, self.sha.hexdigest()


def send_random(sock, nbytes, deadline, chunk=1 << 16):
    """Send nbytes of fresh random data, then shut down writing; returns (count, sha256)."""
    h = Hasher()
    while h.count < nbytes:
        check(time.monotonic() < deadline, f'sending took too long ({h.count} of {nbytes} bytes sent)')
        data = os.urandom(min(chunk, nbytes - h.count))
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.sendall(data)
        h.update(data)
    sock.shutdown(socket.SHUT_WR)
    return h.result()


def recv_hashing(sock, deadline):
    """Receive until EOF, hashing; returns (count, sha256)."""
    h = Hasher()
    while True:
        left = deadline - time.monotonic()
        check(left > 0, f'receiving took too long ({h.count} bytes received)')
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            return h.result()
        h.update(data)


def duplex(sock, nbytes, timeout):
    """Send nbytes (then SHUT_WR) while receiving until EOF, concurrently.
    Returns (sent, received), each (count, sha256)."""
    deadline = time.monotonic() + timeout
    sent = {}

    def sender():
        try:
            sent['ok'] = send_random(sock, nbytes, deadline)
        except Exception as e:
            sent['err'] = e

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    received = recv_hashing(sock, deadline)
    th.join(max(0.0, deadline - time.monotonic()))
    check(not th.is_alive(), 'sender did not finish in time')
    if 'err' in sent:
        raise Fail(f'sending failed: {sent["err"]!r}')
    return sent['ok'], received


# ---------------------------------------------------------------- server

def describe_status(rc):
    if rc is None:
        return 'still running'
    if rc < 0:
        return f'killed by {signal.Signals(-rc).name}'
    return f'exit status {rc}'


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or None."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            start = text.rfind('\n', 0, i) + 1
            return ' | '.join(text[start:].splitlines()[:6])
    return None


class Server:
    """microsocks listening on `listen` (port 0 unless given), stopped after the case."""

    def __init__(self, *args, listen='127.0.0.1', port=0, nofile=None, preexec=None,
                 wait_listening=True):
        self.argv = [MICROSOCKS]
        if listen is not None:
            self.argv += ['-i', listen]
        if port is not None:
            self.argv += ['-p', str(port)]
        self.argv += list(args)
        self.host, self.port = listen, port
        self.lines, self.eof, self.stopped = [], False, False
        self.cond = threading.Condition()
        if nofile is not None:  # and then preexec, if given (run in the child before exec)
            def preexec(then=preexec):
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
                if then:
                    then()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=preexec)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        defer(self.stop)
        if wait_listening:
            m = self.wait_line(LISTEN_RE, T.START)
            self.port = int(m.group(2))

    @property
    def address(self):
        return (self.host, self.port)

    @property
    def pid(self):
        return self.proc.pid

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def stderr(self):
        with self.cond:
            return '\n'.join(self.lines)

    def wait_line(self, regex, timeout=None):
        """First stderr line matching regex, waiting at most timeout."""
        timeout = T.IO if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    why = 'exited' if self.eof else f'timed out after {timeout:.1f}s'
                    raise Fail(f'{" ".join(self.argv)}: {why} waiting for /{regex.pattern}/; '
                               f'status {describe_status(self.proc.poll())}; stderr: {self.stderr_tail()}')
                self.cond.wait(left)

    def stderr_tail(self, n=8):
        return ' | '.join(self.lines[-n:]) or '(empty)'

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        with open(f'/proc/{self.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def stop(self):
        """SIGTERM, wait; problems: early death, other signal, hang, sanitizer report."""
        if self.stopped:
            return []
        self.stopped = True
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            problems.append(f'server exited unexpectedly ({describe_status(rc)})')
        else:
            # SIGTERM lets open tunnels drain (--grace); a second one ends it at once
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(T.DRAIN_WAIT)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(T.STOP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append(f'server did not exit within {T.STOP:.0f}s of SIGTERM')
            else:
                if rc < 0 and rc != -signal.SIGTERM:
                    problems.append(f'server {describe_status(rc)} after SIGTERM')
        self.reader.join(T.STOP)
        report = sanitizer_report(self.stderr())
        if report:
            problems.append(f'sanitizer report: {report}')
        return problems


def run_microsocks_all(arglists, timeout=None):
    """Run microsocks once per argument list, all at once, each to completion (option errors).
    Returns one subprocess.Popen per list, with .out/.err (text), or a Fail if it did not
    finish within timeout or produced a sanitizer report."""
    timeout = T.START if timeout is None else timeout
    deadline = time.monotonic() + timeout
    procs = [subprocess.Popen([MICROSOCKS] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in arglists]
    results = []
    for args, p in zip(arglists, procs):
        what = 'microsocks ' + ' '.join(args)
        try:
            out, err = p.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            results.append(Fail(f'{what}: still running after {timeout:.0f}s'))
            continue
        p.out, p.err = out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')
        report = sanitizer_report(p.err)
        if report:
            results.append(Fail(f'{what}: sanitizer report: {report}'))
        elif p.returncode < 0:
            results.append(Fail(f'{what}: {describe_status(p.returncode)}'))
        else:
            results.append(p)
    return results


def run_microsocks(args, timeout=None):
    """Run microsocks to completion; returns the Popen with .returncode, .out and .err."""
    result = run_microsocks_all([args], timeout)[0]
    if isinstance(result, Fail):
        raise result
    return result


# ---------------------------------------------------------------- targets

def echo(conn):
    """Echo everything until EOF, then shut down writing; returns the byte count."""
    total = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return total
        conn.sendall(data)
        total += len(data)


class Target:
    """A TCP listener on host:port running handler(conn) in a thread per connection.
    Records each peer address (peers queue) and each handler result (results queue)."""

    def __init__(self, handler=echo, host='127.0.0.1', port=0, backlog=64, timeout=None):
        self.handler, self.timeout = handler, (T.IO if timeout is None else timeout)
        self.sock = socket.socket(family_of(host))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.peers, self.results = queue.Queue(), queue.Queue()
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
                conn, peer = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn, peer), daemon=True).start()

    def _handle(self, conn, peer):
        self.peers.put(peer[:2])
        conn.settimeout(self.timeout)
        try:
            self.results.put((True, self.handler(conn)))
        except Exception as e:
            self.results.put((False, e))
        finally:
            conn.close()

    def next_peer(self, timeout=None):
        """(host, port) of the next connection the target accepted."""
        try:
            return self.peers.get(timeout=T.IO if timeout is None else timeout)
        except queue.Empty:
            raise Fail(f'target {self.address} saw no connection')

    def result(self, timeout=None):
        """Return value of the next finished handler (Fail if it raised or did not finish)."""
        try:
            ok, value = self.results.get(timeout=T.IO if timeout is None else timeout)
        except queue.Empty:
            raise Fail(f'target {self.address}: handler did not finish')
        if not ok:
            raise Fail(f'target {self.address}: handler failed: {value!r}')
        return value

    def close(self):
        self.closing.set()
        self.thread.join(T.STOP)
        self.sock.close()


# ---------------------------------------------------------------- SOCKS5 client

NOAUTH, USERPASS, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CONNECT, BIND, UDP_ASSOCIATE = 1, 2, 3
ATYP_V4, ATYP_DOMAIN, ATYP_V6 = 1, 3, 4
REP_OK, REP_FAIL, REP_NOT_ALLOWED, REP_NET_UNREACH, REP_HOST_UNREACH = 0, 1, 2, 3, 4
REP_REFUSED, REP_TTL, REP_CMD, REP_ATYP = 5, 6, 7, 8

Reply = namedtuple('Reply', 'rep atyp addr port')


def greeting(*methods):
    return bytes([5, len(methods), *methods])


def auth_request(user, password):
    u, p = user.encode(), password.encode()
    return bytes([1, len(u)]) + u + bytes([len(p)]) + p


def encode_address(host, atyp=None):
    """ATYP + DST.ADDR for host (IP literal -> 1/4, else domain 3)."""
    if atyp is None:
        try:
            ip = ipaddress.ip_address(host)
            atyp = ATYP_V4 if ip.version == 4 else ATYP_V6
        except ValueError:
            atyp = ATYP_DOMAIN
    if atyp == ATYP_V4:
        return bytes([atyp]) + socket.inet_pton(socket.AF_INET, host)
    if atyp == ATYP_V6:
        return bytes([atyp]) + socket.inet_pton(socket.AF_INET6, host)
    name = host.encode() if isinstance(host, str) else host
    return bytes([atyp, len(name)]) + name


def connect_request(host, port, cmd=CONNECT, atyp=None, version=5):
    return bytes([version, cmd, 0]) + encode_address(host, atyp) + struct.pack('>H', port)


def error_reply(rep):
    return bytes([5, rep, 0, 1, 0, 0, 0, 0, 0, 0])


class SocksClient:
    """A raw SOCKS5 client connection to a Server (closed after the case)."""

    def __init__(self, server_address, source=None):
        self.sock = connect_to(server_address, source, nodelay=True)

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.settimeout(T.IO)
        self.sock.sendall(data)

    def send_bytewise(self, data):
        """One segment per byte (TCP_NODELAY + a short gap)."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            time.sleep(T.SPLIT_GAP)

    def recv_exact(self, n, timeout=None):
        return recv_exact(self.sock, n, timeout)

    def recv_until_eof(self, timeout=None):
        return recv_until_eof(self.sock, timeout)

    def wait_eof(self, timeout=None):
        wait_eof(self.sock, timeout)

    def read_method(self):
        r = self.recv_exact(2)
        check(r[0] == 5, f'method reply version {r[0]} (reply {hexs(r)})')
        return r[1]

    def greet(self, *methods):
        """Send a greeting, return the chosen method."""
        self.send(greeting(*methods))
        return self.read_method()

    def read_auth_status(self):
        r = self.recv_exact(2)
        check(r[0] == 1, f'auth reply version {r[0]} (reply {hexs(r)})')
        return r[1]

    def auth(self, user, password):
        self.send(auth_request(user, password))
        return self.read_auth_status()

    def read_reply(self):
        head = self.recv_exact(4)
        check(head[0] == 5 and head[2] == 0, f'bad reply header {hexs(head)}')
        atyp = head[3]
        if atyp == ATYP_V4:
            addr = socket.inet_ntop(socket.AF_INET, self.recv_exact(4))
        elif atyp == ATYP_V6:
            addr = socket.inet_ntop(socket.AF_INET6, self.recv_exact(16))
        elif atyp == ATYP_DOMAIN:
            addr = self.recv_exact(self.recv_exact(1)[0]).decode('latin-1')
        else:
            raise Fail(f'reply with ATYP {atyp}: {hexs(head)}')
        port = struct.unpack('>H', self.recv_exact(2))[0]
        return Reply(head[1], atyp, addr, port)

    def request(self, host, port, **kw):
        self.send(connect_request(host, port, **kw))
        return self.read_reply()

    def expect_error(self, rep, what=''):
        """The 10-byte error reply 05 rep 00 01 0... then the server closes."""
        got = self.recv_exact(10)
        check(got == error_reply(rep),
              f'{what}: expected reply {hexs(error_reply(rep))}, got {hexs(got)}')
        self.wait_eof()

    def read_reply4(self):
        """An 8-byte SOCKS4 reply 00 CD DSTPORT DSTIP."""
        r = self.recv_exact(8)
        check(r[0] == 0, f'SOCKS4 reply version byte {r[0]} (reply {hexs(r)})')
        return Reply4(r[1], socket.inet_ntop(socket.AF_INET, r[4:8]), struct.unpack('>H', r[2:4])[0])

    def request4(self, cd, host, port, **kw):
        self.send(socks4_request(cd, host, port, **kw))
        return self.read_reply4()

    def expect_reject4(self, what=''):
        """The SOCKS4 rejection 00 5B 00 00 00 00 00 00, then the server closes."""
        got = self.recv_exact(8)
        check(got == SOCKS4_REJECT, f'{what}: expected reply {hexs(SOCKS4_REJECT)}, got {hexs(got)}')
        self.wait_eof()

    def echo_check(self, data=None):
        """Send data through the tunnel to an echo target and get it back."""
        data = os.urandom(4096) if data is None else data
        self.send(data)
        got = self.recv_exact(len(data))
        check(got == data, 'echo mismatch')


# ---------------------------------------------------------------- SOCKS4 / SOCKS4a

S4_CONNECT, S4_BIND = 1, 2
S4_GRANTED, S4_REJECTED = 0x5A, 0x5B
SOCKS4_REJECT = bytes([0, S4_REJECTED, 0, 0, 0, 0, 0, 0])

Reply4 = namedtuple('Reply4', 'cd addr port')


def socks4_request(cd, host, port, userid=b'', domain=None, nul=True):
    """VN=4 CD DSTPORT DSTIP USERID NUL [DOMAIN NUL]. With domain (SOCKS4a), host is the
    0.0.0.x marker; nul=False leaves the last field unterminated."""
    name = domain.encode() if isinstance(domain, str) else domain
    userid = userid.encode() if isinstance(userid, str) else userid
    msg = bytes([4, cd]) + struct.pack('>H', port) + socket.inet_pton(socket.AF_INET, host)
    if name is None:
        return msg + userid + (b'\0' if nul else b'')
    return msg + userid + b'\0' + name + (b'\0' if nul else b'')


def tunnel(server, host, port, user=None, password=None, source=None):
    """A SocksClient with a successful CONNECT to host:port; returns (client, reply)."""
    c = SocksClient(server.address, source)
    if user is None:
        method = c.greet(NOAUTH)
        check(method == NOAUTH, f'greeting 05 01 00: server chose method {method:#04x}')
    else:
        method = c.greet(USERPASS)
        check(method == USERPASS, f'greeting 05 01 02: server chose method {method:#04x}')
        status = c.auth(user, password)
        check(status == 0, f'correct credentials rejected (status {status})')
    r = c.request(host, port)
    check(r.rep == REP_OK, f'CONNECT {host}:{port}: reply {r.rep:#04x}')
    return c, r


# ---------------------------------------------------------------- the case registry

# Every black-box case is a function registered with @case, in import order; tests/runner.py
# imports the case modules and runs CASES (or those selected by name).
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---------------------------------------------------------------- helpers of several case files

USER, PASSWORD = 'alice', 'Pa55-w0rd-xyzzy'
WRONG_PASSWORD = 'Wr0ng-pa55-plugh'


def auth_server(*args, **kw):
    return Server('-u', USER, '-P', PASSWORD, *args, **kw)


def noauth_client(server):
    """A client past the no-auth greeting."""
    c = SocksClient(server.address)
    check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
    return c


def expect_connect_error(server, host, port, rep, what=None):
    c = noauth_client(server)
    c.send(connect_request(host, port))
    c.expect_error(rep, what or f'CONNECT {host}:{port}')


def need_errno(host, expected):
    got = connect_errno(host)
    if got != expected:
        raise Skip(f'precondition: direct connect to {host} gave {got}, expected {expected}')


def expect_closed_between(sock, start, low, high, what):
    wait_eof(sock, timeout=max(0.0, start + high - time.monotonic()))
    elapsed = time.monotonic() - start
    check(elapsed >= low, f'{what}: closed after only {elapsed:.2f}s')


def wait_refused(address, what):
    """Poll until connecting to address is refused (its listener is gone), within T.IO."""
    deadline = time.monotonic() + T.IO
    while True:
        got = connect_errno(address[0], address[1])
        if got == errno.ECONNREFUSED:
            return
        check(time.monotonic() < deadline, f'{what}: {address[0]}:{address[1]} still accepts connections '
                                           f'(last connect: {got})')
        time.sleep(T.POLL)


def open_fds(server):
    return sorted(os.listdir(f'/proc/{server.pid}/fd'), key=int)


def wait_fds_down_to(server, expected):
    """Wait (within T.IO) until the server holds no more fds than the list expected."""
    deadline = time.monotonic() + T.IO
    while True:
        now = open_fds(server)
        if len(now) <= len(expected):
            return
        check(time.monotonic() < deadline, f'server holds fds {now}, expected no more than {expected}')
        time.sleep(T.POLL)


def names_option(stderr, options):
    """Does a "microsocks: <option...>: ..." line name one of options?"""
    for line in stderr.splitlines():
        m = re.match(r'microsocks: (.*?): ', line)
        if m and any(re.search(r'(?<![\w-])' + re.escape(o) + r'(?![\w-])', m.group(1)) for o in options):
            return True
    return False


def check_bad_options(bad):
    """Each (args, option(s)) in bad: exit 1, a "microsocks: <option>: ..." line, the usage."""
    # never listen on the default 0.0.0.0:1080 if a bad option were accepted
    runs = [(['-i', '127.0.0.1'] if '-i' not in args else [])
            + (['-p', '0'] if '-p' not in args else []) + args for args, _ in bad]
    problems = []
    for (args, options), p in zip(bad, run_microsocks_all(runs)):
        options = (options,) if isinstance(options, str) else options
        shown = ' '.join(repr(a) if len(a) < 20 else repr(a[:5] + '...') for a in args)
        if isinstance(p, Fail):
            problems.append(f'[{shown}] {p}')
        elif p.returncode != 1:
            problems.append(f'[{shown}] exit {p.returncode}')
        elif not names_option(p.err, options):
            problems.append(f'[{shown}] no "microsocks: {options[0]}: ..." line: {p.err[:80]!r}')
        elif 'usage' not in p.err.lower():
            problems.append(f'[{shown}] no usage on stderr')
    check(not problems, '; '.join(problems))
