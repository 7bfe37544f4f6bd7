"""Black-box cases for running under systemd and for a real browser (spec issue 5: "Life cycle" --
socket activation, readiness, the unit files, `make install` -- and "Chromium (auth-once story)").

Imported by tests/runner.py after tests/ops.py; the cases register with harness's @case;
`sh tests/run system` selects them.

  socket activation  systemd-socket-activate -l ADDR:PORT binds the sockets, waits for the first
                     connection and then execs microsocks in the same process with LISTEN_PID,
                     LISTEN_FDS and the sockets as fds 3, 4, ...; the first client waits in the
                     backlog meanwhile.
  readiness          NOTIFY_SOCKET names an AF_UNIX datagram socket of the test (a path in a temp
                     dir, or @name in the abstract namespace); SO_PASSCRED tells which process sent
                     each datagram.
  chromium           /usr/bin/chromium (Debian package chromium), headless, a fresh profile per run,
                     inside the namespace of tests/run (only lo exists there).
A program that is missing here (systemd-socket-activate, systemd-analyze, make, chromium, curl) makes
its case SKIP; CI (.ci/run) installs them all.
"""

import errno
import http.server
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import uuid

from harness import (
    ISOLATED, MICROSOCKS, STAMP, NOAUTH, NO_ACCEPTABLE, REP_OK, ROOT, Fail, Server, Skip, SocksClient,
    T, Target, check, connect_errno, defer, describe_status, free_port, hexs, need_isolation,
    sanitizer_report, PASSWORD, USER, case)

CHROMIUM_RUN = 60 * T.SCALE     # one chromium --dump-dom run, start-up included
ENV_SCRUBBED = ('LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET')
PROXY_ENV = ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY',
             'ALL_PROXY', 'NO_PROXY')
# the listening lines of microsocks itself (systemd-socket-activate writes "Listening on ..." too)
OWN_LISTEN_RE = re.compile('^' + STAMP + r'microsocks: listening on (\S+)$')
UNIT_DIR = 'lib/systemd/system'
UNITS = ('microsocks.service', 'microsocks.socket', 'microsocks@.service')


# ================================================================ helpers

def need_program(name, package):
    path = shutil.which(name)
    if not path:
        raise Skip(f'{name} not installed (Debian package {package})')
    return path


def temp_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    defer(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def hostport(host, port):
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


class Daemon(Server):
    """microsocks started the way a service manager starts it: with an environment of our choosing
    (no inherited LISTEN_* / NOTIFY_SOCKET), and through systemd-socket-activate -l A -l B ... when
    activate lists addresses. Stopped (SIGTERM) after the case unless finish() was called."""

    def __init__(self, *args, env=None, activate=()):
        environ = {k: v for k, v in os.environ.items() if k not in ENV_SCRUBBED}
        environ.update(env or {})
        prefix = []
        if activate:
            # it passes on only TERM, PATH, USER, HOME and what -E names
            prefix = [need_program('systemd-socket-activate', 'systemd')]
            for address in activate:
                prefix += ['-l', address]
            for k, v in sorted((env or {}).items()):
                prefix += ['-E', f'{k}={v}']
            for k in sorted(os.environ):
                if k.endswith('SAN_OPTIONS') and k not in (env or {}):
                    prefix += ['-E', f'{k}={os.environ[k]}']
        self.argv = prefix + [MICROSOCKS] + list(args)
        self.host, self.port = None, None
        self.lines, self.eof, self.stopped = [], False, False
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=environ)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        defer(self.stop)

    def listening(self, n, timeout=None):
        """The ADDR:PORT of microsocks' `listening on` lines, once there are n (Fail if not in time);
        more than n is reported by the caller."""
        timeout = T.START if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m.group(1) for m in map(OWN_LISTEN_RE.search, self.lines) if m]
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    status = describe_status(self.proc.poll())
                    raise Fail(f'{len(found)} of {n} "listening on" lines ({status}); '
                               f'stderr: {self.stderr_tail()}')
                self.cond.wait(left)

    def finish(self, what, timeout=None):
        """Wait for the exit that something already asked for: exit status 0, no sanitizer report."""
        timeout = T.STOP if timeout is None else timeout
        self.stopped = True
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f'{what}: still running after {timeout:.0f}s; stderr: {self.stderr_tail()}')
        self.reader.join(T.STOP)
        report = sanitizer_report(self.stderr())
        check(not report, f'{what}: sanitizer report: {report}')
        check(rc == 0, f'{what}: {describe_status(rc)}, expected exit status 0; stderr: {self.stderr_tail()}')


def connect_when_listening(address, timeout=None):
    """A SocksClient to address, retrying while the port refuses (systemd-socket-activate binds it
    a moment after it starts); the connection itself is what makes it exec microsocks."""
    timeout = T.START if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        try:
            return SocksClient(address)
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise Fail(f'{hostport(*address)} still refuses connections after {timeout:.0f}s')
        time.sleep(T.POLL)  # polling a port until it is bound, bounded by the deadline


def echo_through(client, target, what):
    """A fresh client: no-auth greeting, CONNECT target, echo."""
    try:
        method = client.greet(NOAUTH)
        check(method == NOAUTH, f'method {method:#04x}, expected 00')
        r = client.request(*target.address)
        check(r.rep == REP_OK, f'CONNECT {hostport(*target.address)}: reply {r.rep:#04x}')
        client.echo_check()
    except Fail as e:
        raise Fail(f'{what}: {e}')


class NotifySocket:
    """The receiving end of NOTIFY_SOCKET: an AF_UNIX datagram socket in a temp dir, or with
    abstract=True a name in the abstract namespace. .env is the NOTIFY_SOCKET value."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        defer(self.sock.close)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f'microsocks-test-{uuid.uuid4().hex}'
            self.sock.bind('\0' + name)
            self.env = '@' + name
        else:
            self.env = os.path.join(temp_dir('ms-notify-'), 'notify')
            self.sock.bind(self.env)
        self.messages = []  # (list of the datagram's lines, sender pid)

    def receive(self, timeout):
        """The next datagram as (lines, sender pid), or None when none came within timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= 12:
                pid = struct.unpack('iII', payload[:12])[0]
        msg = (data.decode('utf-8', 'replace').split('\n'), pid)
        self.messages.append(msg)
        return msg

    def wait_for(self, field, server, timeout=None):
        """Receive datagrams until one has the line field; returns the sender's pid."""
        timeout = T.START if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.receive(left) if left > 0 else None
            if msg is None:
                raise Fail(f'no {field} on NOTIFY_SOCKET={self.env} within {timeout:.0f}s (got {self.seen()}; '
                           f'server {describe_status(server.proc.poll())}; stderr: {server.stderr_tail()})')
            if field in msg[0]:
                return msg[1]

    def drain(self):
        """Whatever else arrived (nothing waits)."""
        while self.receive(0.001) is not None:
            pass

    def count(self, field):
        return sum(field in lines for lines, _ in self.messages)

    def seen(self):
        return ', '.join(repr('\n'.join(lines)) for lines, _ in self.messages) or 'nothing'


def expect_ready(notify, server, address):
    """READY=1 arrives from the server's process, and at that moment address accepts a SOCKS client
    (the listener was up before the notification)."""
    pid = notify.wait_for('READY=1', server)
    try:
        c = SocksClient(address)
    except OSError as e:
        raise Fail(f'READY=1 came, but {hostport(*address)} does not accept: {e}')
    method = c.greet(NOAUTH)
    check(method == NOAUTH, f'right after READY=1: method {method:#04x}, expected 00')
    check(pid == server.pid, f'READY=1 sent by pid {pid}, not by microsocks (pid {server.pid})')
    return c


def expect_stopping(notify, server, signum=signal.SIGTERM):
    """Send signum; STOPPING=1 arrives from the server's process; returns when it did."""
    notify.drain()
    check(notify.count('STOPPING=1') == 0, f'STOPPING=1 before any signal (got {notify.seen()})')
    server.proc.send_signal(signum)
    pid = notify.wait_for('STOPPING=1', server, T.STOP)
    check(pid == server.pid, f'STOPPING=1 sent by pid {pid}, not by microsocks (pid {server.pid})')


def expect_notifications_once(notify):
    notify.drain()
    for field in ('READY=1', 'STOPPING=1'):
        n = notify.count(field)
        check(n == 1, f'{field} sent {n} times, expected once (got {notify.seen()})')


def check_listening(server, expected):
    """microsocks printed exactly one `listening on` line per expected ADDR:PORT, and no other."""
    found = server.listening(len(expected))
    check(sorted(found) == sorted(expected),
          f'"listening on" lines name {found}, expected {expected}; stderr: {server.stderr_tail()}')


def check_no_more_listening(server, expected):
    """Once the server has exited: its listening lines were exactly the expected ones."""
    found = [m.group(1) for m in map(OWN_LISTEN_RE.search, server.stderr().splitlines()) if m]
    check(sorted(found) == sorted(expected), f'"listening on" lines {found}, expected only {expected}')


# ================================================================ socket activation

@case
def system_activation_one_socket():
    """systemd-socket-activate -l 127.0.0.1:PORT microsocks -i 127.0.0.1 -p OTHER: the first client
    (which makes it exec microsocks) is served, a CONNECT through it echoes; microsocks says
    `listening on 127.0.0.1:PORT` and nothing else (-i/-p ignored: OTHER refuses); a second client
    is served too; SIGTERM -> exit 0."""
    port, other = free_port(), free_port()
    server = Daemon('-i', '127.0.0.1', '-p', str(other), activate=[f'127.0.0.1:{port}'])
    target = Target()
    first = connect_when_listening(('127.0.0.1', port))
    echo_through(first, target, 'first client (queued before the exec)')
    check_listening(server, [f'127.0.0.1:{port}'])
    second = SocksClient(('127.0.0.1', port))
    echo_through(second, target, 'second client')
    got = connect_errno('127.0.0.1', other)
    check(got == errno.ECONNREFUSED, f'-p {other} with socket activation: connect gave {got}, expected refused')
    first.close()
    second.close()
    server.proc.send_signal(signal.SIGTERM)
    server.finish('SIGTERM with socket activation')
    check_no_more_listening(server, [f'127.0.0.1:{port}'])


@case
def system_activation_two_sockets():
    """systemd-socket-activate -l 127.0.0.1:P1 -l [::1]:P2 with NOTIFY_SOCKET: a first client on
    [::1]:P2 starts it; READY=1 comes from microsocks' pid; exactly two `listening on` lines,
    127.0.0.1:P1 and [::1]:P2; a CONNECT through each echoes; SIGTERM -> STOPPING=1, exit 0."""
    p1, p2 = free_port(), free_port('::1')
    notify = NotifySocket()
    server = Daemon(env={'NOTIFY_SOCKET': notify.env}, activate=[f'127.0.0.1:{p1}', f'[::1]:{p2}'])
    target = Target()
    first = connect_when_listening(('::1', p2))
    expect_ready(notify, server, ('127.0.0.1', p1)).close()
    check_listening(server, [f'127.0.0.1:{p1}', f'[::1]:{p2}'])
    clients = [first, SocksClient(('127.0.0.1', p1)), SocksClient(('::1', p2))]
    for c, what in zip(clients, ('first client, [::1]', 'client on 127.0.0.1', 'second client on [::1]')):
        echo_through(c, target, what)
    for c in clients:
        c.close()
    expect_stopping(notify, server)
    server.finish('SIGTERM with two activated sockets')
    expect_notifications_once(notify)
    check_no_more_listening(server, [f'127.0.0.1:{p1}', f'[::1]:{p2}'])


@case
def system_activation_other_pid():
    """LISTEN_PID naming another process (and LISTEN_FDS=1, fd 3 not open): microsocks ignores them
    and listens on its -i/-p as usual."""
    server = Daemon('-i', '127.0.0.1', '-p', '0', env={'LISTEN_PID': '1', 'LISTEN_FDS': '1'})
    found = server.listening(1)
    m = re.fullmatch(r'127\.0\.0\.1:(\d+)', found[0])
    check(m and m.group(1) != '0', f'LISTEN_PID=1: listening on {found}, expected 127.0.0.1:<its own port>')
    echo_through(SocksClient(('127.0.0.1', int(m.group(1)))), Target(), 'LISTEN_PID=1')


# ================================================================ readiness

@case
def system_notify_ready_stopping():
    """NOTIFY_SOCKET=<path in a temp dir>: READY=1 from microsocks' pid, and the listener accepts at
    that moment; no STOPPING=1 before a signal; with a tunnel open, SIGTERM -> STOPPING=1 while the
    server still runs (the drain begins), the tunnel still echoes; when it closes, exit 0; READY=1
    and STOPPING=1 once each."""
    port = free_port()
    notify = NotifySocket()
    server = Daemon('-i', '127.0.0.1', '-p', str(port), env={'NOTIFY_SOCKET': notify.env})
    expect_ready(notify, server, ('127.0.0.1', port)).close()
    check_listening(server, [f'127.0.0.1:{port}'])
    target = Target()
    c = SocksClient(('127.0.0.1', port))
    echo_through(c, target, 'tunnel before SIGTERM')
    expect_stopping(notify, server)
    check(server.alive(), f'exited at once after SIGTERM with a client still connected '
                          f'({describe_status(server.proc.poll())}): STOPPING=1 should start the drain')
    c.echo_check()
    c.close()
    server.finish('SIGTERM, then the last client closed')
    expect_notifications_once(notify)


@case
def system_notify_abstract():
    """NOTIFY_SOCKET=@name (abstract namespace): READY=1 when the listener accepts; SIGINT ->
    STOPPING=1 and exit 0."""
    port = free_port()
    notify = NotifySocket(abstract=True)
    server = Daemon('-i', '127.0.0.1', '-p', str(port), env={'NOTIFY_SOCKET': notify.env})
    expect_ready(notify, server, ('127.0.0.1', port)).close()
    expect_stopping(notify, server, signal.SIGINT)
    server.finish('SIGINT')
    expect_notifications_once(notify)


# ================================================================ unit files, make install

def make_install(src, *args):
    """make install/uninstall in a copy of the build files (src); never rebuilds the binary."""
    make = need_program('make', 'make')
    try:
        p = subprocess.run([make, '-s', '-C', src, '-o', 'microsocks', *args], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=T.PROGRAM)
    except subprocess.TimeoutExpired:
        raise Fail(f'make {" ".join(args)}: still running after {T.PROGRAM:.0f}s')
    out = (p.stdout + p.stderr).decode('utf-8', 'replace').strip()
    check(p.returncode == 0, f'make {" ".join(args)}: {describe_status(p.returncode)}: {out[-600:]}')


def install_tree():
    """A temp dir with what `make install` needs: the Makefile, the man page, the unit files and the
    binary under test as ./microsocks (the repo's own tree is left alone)."""
    src = temp_dir('ms-install-src-')
    for name in ('Makefile', 'microsocks.1') + UNITS:
        path = os.path.join(ROOT, name)
        check(os.path.isfile(path), f'{name} missing in {ROOT}')
        shutil.copy2(path, src)
    shutil.copy2(MICROSOCKS, os.path.join(src, 'microsocks'))
    return src


def unit_lines(path):
    with open(path) as f:
        return [line.rstrip('\n') for line in f]


def unit_values(lines, key):
    return [line.split('=', 1)[1] for line in lines if line.startswith(key + '=')]


def check_installed_units(root, prefix, bindir):
    """The two units in root+prefix/lib/systemd/system, mode 644, ExecStart=bindir/microsocks."""
    unitdir = os.path.join(root + prefix, UNIT_DIR)
    for name in UNITS:
        path = os.path.join(unitdir, name)
        check(os.path.isfile(path), f'prefix={prefix}: {name} not installed in {unitdir}')
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o644, f'{path}: mode {mode:o}, expected 644')
        text = '\n'.join(unit_lines(path))
        check('@bindir@' not in text, f'{path}: @bindir@ left unreplaced')
    service = unit_lines(os.path.join(unitdir, 'microsocks.service'))
    starts = unit_values(service, 'ExecStart')
    check(len(starts) == 1 and starts[0].split()[0] == f'{bindir}/microsocks',
          f'prefix={prefix} bindir={bindir}: ExecStart={starts}, expected {bindir}/microsocks ...')
    binary = root + f'{bindir}/microsocks'
    check(os.path.isfile(binary) and os.access(binary, os.X_OK), f'{binary} not installed')
    return unitdir


@case
def system_units_install():
    """make install DESTDIR=D prefix=/opt/ms puts microsocks.service, microsocks.socket and the
    template microsocks@.service (ExecStart with --reuseport, one User= for all instances) into
    D/opt/ms/lib/systemd/system (mode 644, no @bindir@ left) with ExecStart=/opt/ms/bin/microsocks;
    bindir=/usr/sbin gives ExecStart=/usr/sbin/microsocks; make uninstall removes the units; the
    service is Type=notify with the sandbox settings, the socket listens on 127.0.0.1:1080."""
    src = install_tree()
    dest = temp_dir('ms-install-dest-')
    make_install(src, 'install', f'DESTDIR={dest}', 'prefix=/opt/ms')
    unitdir = check_installed_units(dest, '/opt/ms', '/opt/ms/bin')
    service = unit_lines(os.path.join(unitdir, 'microsocks.service'))
    for key, value in (('Type', 'notify'), ('ExecReload', 'kill -HUP $MAINPID'), ('DynamicUser', 'yes'),
                       ('NoNewPrivileges', 'yes'), ('ProtectSystem', 'strict'), ('ProtectHome', 'yes'),
                       ('PrivateTmp', 'yes'), ('PrivateDevices', 'yes'),
                       ('RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6'),
                       ('LimitNOFILE', '65536'), ('TasksMax', '16384')):
        got = unit_values(service, key)
        check(got == [value], f'microsocks.service: {key}={got}, expected {value}')
    listen = unit_values(unit_lines(os.path.join(unitdir, 'microsocks.socket')), 'ListenStream')
    check(listen == ['127.0.0.1:1080'], f'microsocks.socket: ListenStream={listen}, expected 127.0.0.1:1080')
    # the instances of the template share their port: --reuseport, and one user for all
    template = unit_lines(os.path.join(unitdir, 'microsocks@.service'))
    start = unit_values(template, 'ExecStart')
    check(len(start) == 1 and start[0].split()[:2] == ['/opt/ms/bin/microsocks', '--reuseport'],
          f'microsocks@.service: ExecStart={start}, expected /opt/ms/bin/microsocks --reuseport ...')
    for key, value in (('Type', 'notify'), ('DynamicUser', 'yes'), ('User', 'microsocks')):
        got = unit_values(template, key)
        check(got == [value], f'microsocks@.service: {key}={got}, expected {value}')
    check(not unit_values(template, 'Requires'), 'microsocks@.service requires a socket unit')
    dest2 = temp_dir('ms-install-dest-')
    make_install(src, 'install', f'DESTDIR={dest2}', 'prefix=/usr', 'bindir=/usr/sbin')
    check_installed_units(dest2, '/usr', '/usr/sbin')
    make_install(src, 'uninstall', f'DESTDIR={dest2}', 'prefix=/usr', 'bindir=/usr/sbin')
    left = [name for name in UNITS if os.path.exists(os.path.join(dest2, 'usr', UNIT_DIR, name))]
    check(not left, f'make uninstall left {left} behind')


@case
def system_units_verify():
    """systemd-analyze verify accepts the installed units (make install prefix=TMP, so ExecStart
    names the installed binary)."""
    analyze = need_program('systemd-analyze', 'systemd')
    src = install_tree()
    prefix = temp_dir('ms-install-prefix-')
    make_install(src, 'install', f'prefix={prefix}')
    unitdir = check_installed_units('', prefix, f'{prefix}/bin')
    try:
        p = subprocess.run([analyze, 'verify', '--man=no'] + [os.path.join(unitdir, u) for u in UNITS],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=T.PROGRAM)
    except subprocess.TimeoutExpired:
        raise Fail(f'systemd-analyze verify: still running after {T.PROGRAM:.0f}s')
    out = (p.stdout + p.stderr).decode('utf-8', 'replace').strip()
    check(p.returncode == 0 and not out,
          f'systemd-analyze verify: {describe_status(p.returncode)}: {out[-800:]}')


@case
def system_units_run():
    """The installed units' command lines work together: microsocks' ExecStart (with $MICROSOCKS_OPTS
    empty, as without /etc/default/microsocks) run by systemd-socket-activate on the socket's
    ListenStream addresses, with NOTIFY_SOCKET (Type=notify): READY=1, the listening lines name the
    socket's addresses, a CONNECT works; ExecReload's SIGHUP leaves it running and serving; SIGTERM
    -> STOPPING=1, exit 0."""
    src = install_tree()
    dest = temp_dir('ms-install-dest-')
    make_install(src, 'install', f'DESTDIR={dest}', 'prefix=/usr')
    unitdir = os.path.join(dest, 'usr', UNIT_DIR)
    service = unit_lines(os.path.join(unitdir, 'microsocks.service'))
    start = unit_values(service, 'ExecStart')[0].split()
    check(start[0] == '/usr/bin/microsocks', f'ExecStart={start}')
    args = [a for a in start[1:] if a != '$MICROSOCKS_OPTS']
    check(all('$' not in a for a in args), f'ExecStart has other variables: {start}')
    check(unit_values(service, 'ExecReload') == ['kill -HUP $MAINPID'], 'ExecReload is not kill -HUP $MAINPID')
    listen = unit_values(unit_lines(os.path.join(unitdir, 'microsocks.socket')), 'ListenStream')
    check(listen, 'microsocks.socket has no ListenStream')
    listen = unit_listen_addresses(listen)
    notify = NotifySocket()
    server = Daemon(*args, env={'NOTIFY_SOCKET': notify.env}, activate=listen)
    address = split_hostport(listen[0])
    target = Target()
    first = connect_when_listening(address)
    echo_through(first, target, f'first client on {listen[0]}')
    first.close()
    expect_ready(notify, server, address).close()
    check_listening(server, listen)
    server.proc.send_signal(signal.SIGHUP)
    after = SocksClient(address)
    echo_through(after, target, 'client after SIGHUP (ExecReload)')
    after.close()
    check(server.alive(), f'SIGHUP without --users: {describe_status(server.proc.poll())}')
    expect_stopping(notify, server)
    server.finish('SIGTERM')
    expect_notifications_once(notify)


def unit_listen_addresses(listen):
    """The .socket's ListenStream addresses; in the private namespace of tests/run they are ours (port
    1080 included), elsewhere each gets a free port instead."""
    if ISOLATED and all(connect_errno(*split_hostport(a)) == errno.ECONNREFUSED for a in listen):
        return listen
    return [hostport(host, free_port(host)) for host, _ in map(split_hostport, listen)]


def split_hostport(address):
    host, port = address.rsplit(':', 1)
    return host.strip('[]'), int(port)


# ================================================================ chromium (auth-once story)

class PageServer:
    """An HTTP server on 127.0.0.1 in a thread: GET / is a page with a unique marker, anything else
    404. Records the paths requested."""

    def __init__(self):
        self.marker = f'microsocks-marker-{uuid.uuid4().hex}'
        page = f'<!DOCTYPE html><html><body><p id="marker">{self.marker}</p></body></html>'.encode()
        self.requests = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body, code = (page, 200) if self.path == '/' else (b'not found', 404)
                self.send_response(code)
                self.send_header('Content-Type', 'text/html; charset=utf-8')
                self.send_header('Content-Length', str(len(body)))
                self.send_header('Cache-Control', 'no-store')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/'
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.1},
                                       daemon=True)
        self.thread.start()
        defer(self.close)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(T.STOP)


def kill_group(pgid):
    """Kill what is left of the process group we started (chromium's helper processes)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV + ENV_SCRUBBED}
    env.update(extra)
    return env


def chromium_said(err):
    """chromium's last words on stderr, without its complaints about D-Bus (there is none here)."""
    lines = [line for line in err.strip().splitlines() if 'dbus' not in line.lower()]
    return ' | '.join(lines[-3:]) or '(nothing)'


def run_chromium(chromium, work, run, proxy_port, url):
    """One headless chromium --dump-dom of url through the SOCKS5 proxy, with a fresh profile;
    returns the DOM (stdout)."""
    profile = os.path.join(work, f'profile-{run}')
    home = os.path.join(work, f'home-{run}')
    os.makedirs(home)
    argv = [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            f'--user-data-dir={profile}', f'--proxy-server=socks5://127.0.0.1:{proxy_port}',
            '--proxy-bypass-list=<-loopback>', '--dump-dom', url]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env(HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home),
                         start_new_session=True)
    defer(lambda: kill_group(p.pid))
    try:
        out, err = p.communicate(timeout=CHROMIUM_RUN)
    except subprocess.TimeoutExpired:
        kill_group(p.pid)
        p.communicate()
        raise Fail(f'chromium run {run}: still running after {CHROMIUM_RUN:.0f}s')
    finally:
        kill_group(p.pid)
    out, err = out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')
    check(p.returncode >= 0, f'chromium run {run}: {describe_status(p.returncode)}; '
                             f'stderr: {chromium_said(err)}')
    return out, err


def client_lines(server):
    return sum('client 127.0.0.1:' in line for line in server.stderr().splitlines())


def wait_client_lines(server, n, what):
    """At least n log lines about clients from 127.0.0.1 (one each, written when a client ends)."""
    deadline = time.monotonic() + T.IO
    with server.cond:
        while client_lines_locked(server) < n:
            left = deadline - time.monotonic()
            if server.eof or left <= 0:
                raise Fail(f'{what}: {client_lines_locked(server)} client lines, expected {n}; '
                           f'log: {server.stderr_tail()}')
            server.cond.wait(left)


def client_lines_locked(server):
    return sum('client 127.0.0.1:' in line for line in server.lines)


@case
def system_chromium_auth_once():
    """The spec's story: microsocks -1 -u USER -P PASS; headless chromium (no-auth only) through it to
    a local page does not get the page (server answers FF; chromium did reach the proxy; the page
    server saw nothing); curl --socks5 USER:PASS@ gets the page; then the same chromium command
    (fresh profile) shows the page's marker."""
    chromium = need_program('chromium', 'chromium')
    curl = need_program('curl', 'curl')
    need_isolation()  # chromium must not reach anything but lo
    page = PageServer()
    server = Server('-1', '-u', USER, '-P', PASSWORD)
    work = temp_dir('ms-chromium-')

    # chromium offers method 00 only: before anyone authenticated, FF
    c = SocksClient(server.address)
    method = c.greet(NOAUTH)
    check(method == NO_ACCEPTABLE,
          f'precondition: -1 before any authentication: method {method:#04x}, expected ff')
    own = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'client 127\.0\.0\.1:{own}\b'))  # its line is there: count from here
    before = client_lines(server)
    dom, err = run_chromium(chromium, work, 1, server.port, page.url)
    check(page.marker not in dom, 'chromium got the page before any client authenticated')
    check(not page.requests, f'the page server got requests before any client authenticated: {page.requests}')
    wait_client_lines(server, before + 1,
                      f'chromium did not reach the proxy (chromium: {chromium_said(err)})')

    try:
        p = subprocess.run([curl, '-sS', '--max-time', str(int(T.PROGRAM)),
                            '--socks5', f'{USER}:{PASSWORD}@127.0.0.1:{server.port}', page.url],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=T.PROGRAM + 5,
                           env=clean_env())
    except subprocess.TimeoutExpired:
        raise Fail(f'curl: still running after {T.PROGRAM:.0f}s')
    out = p.stdout.decode('utf-8', 'replace')
    check(p.returncode == 0 and page.marker in out,
          f'curl --socks5 USER:PASS@: {describe_status(p.returncode)}, '
          f'marker {"" if page.marker in out else "not "}'
          f'in {hexs(p.stdout)}: {p.stderr.decode("utf-8", "replace").strip()}')
    served = len(page.requests)

    dom, err = run_chromium(chromium, work, 2, server.port, page.url)
    check(page.marker in dom, f'chromium did not get the page after curl authenticated: DOM {dom[:200]!r}; '
                              f'chromium: {chromium_said(err)}; log: {server.stderr_tail(3)}')
    check(len(page.requests) > served, 'the page server saw no request from chromium')
