"""Black-box cases for running microsocks in production (spec: issue 5, sections Listeners, Limits,
Outgoing interface, Users, Session log line, Syslog, Statistics, Life cycle: SIGTERM/SIGINT).

Imported by tests/runner.py after tests/rules.py; the cases register with harness's @case;
`sh tests/run ops` selects them all, `sh tests/run ops_users` a group.
Session log lines are found by the client's own address (127.0.0.1:PORT), which is unique in a case.
Waits for time to pass (auth-once expiry, drain grace) are paced loops bounded by deadlines.
"""

import calendar
import datetime
import fcntl
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import harness
from harness import (
    BIND, EMULATOR, ISOLATED, LISTEN_RE, MIPS_SO_ERROR, SERVER_BINARY, STAMP, skip_on_arch, MICROSOCKS,
    NO_ACCEPTABLE, NOAUTH, REP_CMD, REP_HOST_UNREACH, REP_OK, REP_REFUSED, USERPASS, Closed, Fail,
    Server, Skip, SocksClient, T, Target, check, closed_port, connect_errno, connect_request,
    connect_to, defer, describe_status, duplex, free_port, hexs, is_readable, need_isolation,
    recv_exact, recv_until_eof, run_microsocks, run_microsocks_all, sanitizer_report, tunnel, wait_eof,
    PASSWORD, USER, WRONG_PASSWORD, auth_server, case, check_bad_options, noauth_client, wait_refused)
from udp import Association, UdpEcho

# the spec's SHA-crypt test vector, and the same password under other schemes (system libcrypt)
CRYPT_PASSWORD = 'Hello world!'
CRYPT_HASHES = {
    'sha512': '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    'sha256': '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5',
    'yescrypt': '$y$j9T$saltsaltsaltsalt$eTIrj/cssnFakfR1liCl5NGjVfSUn6ROSudBWhfAts3',
    'bcrypt': '$2b$05$abcdefghijklmnopqrstuu7nFISH/8YdwlXD3lw69A4iBUf6fvWAW',
}
ISO_UTC = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z'
STATS_RE = re.compile('^' + STAMP + r'microsocks: stats: (.*)$')


# ================================================================ helpers: log lines

def wait_count(server, regex, n, timeout=None):
    """The matches of regex in the first n matching stderr lines, waiting at most timeout until
    there are n of them."""
    timeout = T.IO if timeout is None else timeout
    deadline = time.monotonic() + timeout
    with server.cond:
        while True:
            found = [m for m in map(regex.search, server.lines) if m]
            if len(found) >= n:
                return found[:n]
            left = deadline - time.monotonic()
            if server.eof or left <= 0:
                why = 'exited' if server.eof else f'timed out after {timeout:.1f}s'
                raise Fail(f'{why} waiting for {n} lines /{regex.pattern}/ (got {len(found)}); '
                           f'status {describe_status(server.proc.poll())}; stderr: {server.stderr_tail()}')
            server.cond.wait(left)


def listeners(server, n):
    """(host, port) of the first n "listening on" lines."""
    return [(m.group(1), int(m.group(2))) for m in wait_count(server, LISTEN_RE, n, T.START)]


class At:
    """Something with an .address, as tunnel() wants (a second listener of a Server)."""

    def __init__(self, address):
        self.address = address


def show(host, port):
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


SESSION = (r'^(?P<time>\S+) client {client} user (?P<user>\S+) (?P<cmd>\S+) (?P<req>\S+) to (?P<conn>\S+) '
           r'reply (?P<rep>\S+) \((?P<reason>[^)]*)\) up (?P<up>\d+) down (?P<down>\d+) bytes (?P<dur>\d+)ms$')


def name_of(who):
    """(host, port) of a client: a SocksClient, a socket or already a (host, port)."""
    if isinstance(who, tuple):
        return who
    return getattr(who, 'sock', who).getsockname()[:2]


def closed(c):
    """Close a SocksClient (or socket); returns its (host, port) for finding its log lines."""
    name = name_of(c)
    c.close()
    return name


def session_re(who):
    """The default-format session line of a client (see name_of)."""
    return re.compile(SESSION.format(client=re.escape(show(*name_of(who)))))


def session_line(who, server, timeout=None):
    """The default-format session line (match) of a client (see name_of), waiting for it."""
    return server.wait_line(session_re(who), timeout)


def lines_about(server, sock):
    """All stderr lines naming the client address of sock."""
    host, port = sock.getsockname()[:2]
    pat = re.compile(r'(?<![\d.])' + re.escape(show(host, port)) + r'(?!\d)')
    with server.cond:
        return [line for line in server.lines if pat.search(line)]


def check_utc_now(stamp, what):
    check(re.fullmatch(ISO_UTC, stamp), f'{what}: time {stamp!r} is not ISO 8601 UTC with milliseconds')
    t = datetime.datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()
    check(abs(t - time.time()) < 10 * T.SCALE, f'{what}: time {stamp} is not now')


def no_secrets(server, secrets):
    """Stop the server, then check none of secrets appears in its log."""
    problems = server.stop()
    check(not problems, '; '.join(problems))
    log = server.stderr()
    leaked = [s for s in secrets if s in log]
    check(not leaked, f'secrets in the log: {leaked}')


def finish(server, timeout, what):
    """Wait for the server to exit (it was signalled by the case); returns its exit status."""
    try:
        rc = server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f'{what}: server still running after {timeout:.1f}s; stderr: {server.stderr_tail()}')
    server.stopped = True
    server.reader.join(T.STOP)
    report = sanitizer_report(server.stderr())
    check(not report, f'{what}: sanitizer report: {report}')
    return rc


# ================================================================ helpers: clients

def try_admit(address, source=None, method=NOAUTH):
    """A client that got the method chosen for its greeting, or None if the server closed it
    (EOF or reset) without a byte. Any other answer fails."""
    c = SocksClient(address, source)
    try:
        c.send(bytes([5, 1, method]))
        got = recv_until_eof_or(c, 2)
    except (ConnectionResetError, BrokenPipeError, Closed):
        c.close()
        return None
    if got == b'':
        c.close()
        return None
    check(got == bytes([5, method]), f'greeting from {source or "127.0.0.1"}: reply {hexs(got)}')
    return c


def recv_until_eof_or(c, n):
    """n bytes, or b'' if the peer closes before sending any (EOF or reset)."""
    c.sock.settimeout(T.IO)
    try:
        first = c.sock.recv(n)
    except socket.timeout:
        raise Fail(f'no answer and no close within {T.IO:.1f}s')
    except ConnectionResetError:
        return b''
    if not first:
        return b''
    return first + (recv_exact(c.sock, n - len(first)) if len(first) < n else b'')


def expect_refused_at_once(address, source=None, what=''):
    """A new client is closed without a byte read or written: EOF/reset even without sending."""
    c = SocksClient(address, source)
    try:
        got = recv_until_eof(c.sock)
    except Fail as e:
        raise Fail(f'{what}: {e}')
    check(got == b'', f'{what}: expected close without a byte, got {hexs(got)}')
    return c


def admit_eventually(address, source=None, what=''):
    """Retry (paced, within T.IO) until a client is admitted; returns it."""
    deadline = time.monotonic() + T.IO
    while True:
        c = try_admit(address, source)
        if c:
            return c
        check(time.monotonic() < deadline, f'{what}: still refused {T.IO:.0f}s after a slot was freed')
        time.sleep(T.POLL)


def sized_target(up, down, host='127.0.0.1'):
    """A target reading exactly `up` bytes, then sending `down` bytes and closing."""
    payload = os.urandom(down)

    def handler(conn):
        got = recv_exact(conn, up)
        conn.sendall(payload)
        return got
    t = Target(handler, host=host)
    t.payload = payload
    return t


def sized_session(server, target, up, user=None, password=None, host='127.0.0.1', source=None):
    """A CONNECT session sending `up` bytes and receiving the target's answer up to EOF; closed
    after. Returns (client, reply, answer)."""
    c, r = tunnel(server, host, target.port, user, password, source)
    data = os.urandom(up)
    c.send(data)
    got = c.recv_until_eof()
    check(got == target.payload, f'got {len(got)} bytes, not the target\'s {len(target.payload)}')
    check(target.result() == data, 'the target did not get the data intact')
    return closed(c), r, got


def authed_client(server, user=USER, password=PASSWORD):
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
    check(c.auth(user, password) == 0, f'credentials of {user} rejected')
    return c


def auth_status(server, user, password, source=None):
    """The RFC 1929 status for user/password (0 = accepted); the client is closed after."""
    c = SocksClient(server.address, source)
    method = c.greet(USERPASS)
    if method != USERPASS:
        c.close()
        return f'method {method:#04x}'
    status = c.auth(user, password)
    if status != 0:
        c.wait_eof()
    c.close()
    return status


def expect_user(server, target, user, password):
    c, _ = tunnel(server, '127.0.0.1', target.port, user, password)
    c.echo_check()
    c.close()


def expect_rejected_user(server, user, password, what=''):
    status = auth_status(server, user, password)
    check(status != 0, f'{what}: {user!r} with password {password!r} accepted')


def noauth_method(server, source):
    """The method chosen for a no-auth-only greeting from source; the client is closed."""
    c = SocksClient(server.address, source)
    try:
        return c.greet(NOAUTH)
    finally:
        c.close()


# ================================================================ helpers: files, binaries

def temp_dir():
    d = tempfile.mkdtemp(prefix='ms-ops-')
    defer(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def write_file(path, text):
    """Write text (str or bytes) to path atomically (the server may read it at any moment)."""
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.rename(tmp, path)
    return path


def is_dynamic(path):
    """Does the ELF file at path have a PT_INTERP program header (dynamically linked)?"""
    with open(path, 'rb') as f:
        head = f.read(64)
        check(head[:4] == b'\x7fELF', f'{path} is not an ELF file')
        is64, little = head[4] == 2, head[5] == 1
        e = '<' if little else '>'
        if is64:
            phoff, = struct.unpack(e + 'Q', head[0x20:0x28])
            phentsize, phnum = struct.unpack(e + 'HH', head[0x36:0x3a])
        else:
            phoff, = struct.unpack(e + 'I', head[0x1c:0x20])
            phentsize, phnum = struct.unpack(e + 'HH', head[0x2a:0x2e])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack(e + 'I', f.read(4))[0] == 3:  # PT_INTERP
                return True
    return False


def foreign_libcrypt():
    """Under qemu: is there a libcrypt.so.1 for the emulated machine, in the tree given to qemu
    with -L (Debian's cross compilers ship none) or where multiarch puts it?"""
    root = EMULATOR[EMULATOR.index('-L') + 1] if '-L' in EMULATOR else '/'
    triple = os.path.basename(root.rstrip('/'))
    return any(os.path.exists(os.path.join(d, 'libcrypt.so.1'))
               for d in (f'{root}/lib', f'{root}/usr/lib', f'/lib/{triple}', f'/usr/lib/{triple}'))


def users_line(path):
    return re.compile('^' + STAMP + rf'microsocks: {re.escape(path)}: (\d+) users$')


def users_server(path, *args, **kw):
    return Server('--users', path, *args, **kw)


# ================================================================ listeners

@case
def ops_listen_two():
    """-i 127.0.0.1:0 -i [::1]:0: two "listening on" lines (IPv4 and [::1]) with their own
    ports, and clients are served on both."""
    server = Server('-i', '127.0.0.1:0', '-i', '[::1]:0', listen=None, port=None)
    found = listeners(server, 2)
    hosts = sorted(h for h, _ in found)
    check(hosts == ['127.0.0.1', '::1'], f'listening on {found}')
    check(re.search(r'listening on \[::1\]:\d+', server.stderr()), 'IPv6 listener not shown as [::1]:PORT')
    check(all(p != 0 for _, p in found) and found[0][1] != found[1][1], f'ports {found}')
    target = Target()
    for address in found:
        c, _ = tunnel(At(address), '127.0.0.1', target.port)
        c.echo_check()


@case
def ops_listen_default_port():
    """-i without a port uses the -p port, whether -p comes before or after: -p P -i ::1
    -i 127.0.0.1:0 listens on [::1]:P; -i 127.0.0.1 -i [::1]:0 -p P listens on 127.0.0.1:P."""
    target = Target()
    for args, host in ((['-i', '::1', '-i', '127.0.0.1:0'], '::1'),
                       (['-i', '127.0.0.1', '-i', '[::1]:0'], '127.0.0.1')):
        port = free_port(host)
        argv = ['-p', str(port)] + args if host == '::1' else args + ['-p', str(port)]
        server = Server(*argv, listen=None, port=None)
        found = listeners(server, 2)
        check((host, port) in found, f'{" ".join(argv)}: listening on {found}, expected {show(host, port)}')
        for address in found:
            c, _ = tunnel(At(address), '127.0.0.1', target.port)
            c.echo_check()


@case
def ops_listen_bad_port():
    """A bad port in -i (70000, abc, -1 in brackets): exit 1 naming -i, with the usage; the good
    forms 127.0.0.1:PORT and [::1]:PORT listen on exactly that port."""
    check_bad_options([(['-i', '127.0.0.1:70000'], '-i'), (['-i', '[::1]:abc'], '-i'),
                       (['-i', '[::1]:-1'], '-i'), (['-i', '127.0.0.1:0', '-i', '127.0.0.1:99999'], '-i')])
    for host in ('127.0.0.1', '::1'):
        port = free_port(host)
        server = Server('-i', show(host, port), listen=None, port=None)
        check(listeners(server, 1) == [(host, port)], f'-i {show(host, port)}: {server.stderr_tail()}')


# ================================================================ mistakes caught at start

def refused_at_start(args, option, what):
    """microsocks ARGS exits 1 with one line "microsocks: OPTION: ..." and no usage, and never says
    it listens."""
    p = run_microsocks(args)
    check(p.returncode == 1, f'{what}: exit {p.returncode}, stderr {p.err[:200]!r}')
    check(re.search(rf'^microsocks: {re.escape(option)}: \S', p.err, re.M),
          f'{what}: no "microsocks: {option}: ..." line: {p.err[:200]!r}')
    check('usage' not in p.err.lower(), f'{what}: the usage follows a mistake that is not the command line\'s: '
          f'{p.err[:200]!r}')
    check('listening on' not in p.err, f'{what}: a "listening on" line before the failure: {p.err[:200]!r}')
    return p


@case
def ops_start_bind_address_missing():
    """-b with an address this host does not have (127.1.0.1: no route in the test namespace)
    is refused at start: exit 1, "microsocks: -b: cannot bind to 127.1.0.1: ...", no usage,
    rather than every CONNECT failing with reply 01; -b 127.0.0.2 (local) starts and is used."""
    need_isolation()
    p = refused_at_start(['-i', '127.0.0.1', '-p', '0', '-b', '127.1.0.1'], '-b', '-b 127.1.0.1')
    check('127.1.0.1' in p.err, f'the address is not named: {p.err[:200]!r}')
    server = Server('-b', '127.0.0.2')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    check(target.next_peer()[0] == '127.0.0.2', 'the target was not reached from -b 127.0.0.2')


@case
def ops_start_listeners_first():
    """Every listener is set up before the first "listening on" line: a second -i that does not
    resolve (300.1.1.1), or whose port is taken, ends the start with exit 1 and no "listening on"
    line at all, so that nothing reading the first line is misled."""
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    defer(busy.close)
    runs = [['-i', '::1', '-i', '300.1.1.1', '-p', '0'],
            ['-i', '[::1]:0', '-i', f'127.0.0.1:{busy.getsockname()[1]}']]
    for args, p in zip(runs, run_microsocks_all(runs)):
        if isinstance(p, Fail):
            raise p
        check(p.returncode == 1, f'{" ".join(args)}: exit {p.returncode}')
        check('listening on' not in p.err, f'{" ".join(args)}: "listening on" before the failure: {p.err[:200]!r}')
        check(re.search(r'^microsocks: ', p.err, re.M), f'{" ".join(args)}: no reason given: {p.err[:200]!r}')


NO_DEVLOG_WRAPPER = r'''#!/bin/sh
# run microsocks in a mount namespace of its own where /dev has no log socket
old=$1 real=$2
shift 2
exec unshare -m sh -c '
set -e
old=$1; shift
mount --rbind /dev "$old"
mount -t tmpfs ms-ops-dev /dev
for n in null zero urandom random; do
	if [ -e "$old/$n" ]; then touch "/dev/$n"; mount --bind "$old/$n" "/dev/$n"; fi
done
exec "$@"' sh "$old" "$real" "$@"
'''


@case
def ops_start_syslog_missing():
    """--syslog where /dev/log does not exist (a mount namespace of the server's own): exit 1 with
    "microsocks: --syslog: /dev/log: No such file or directory", naming the socket it tried."""
    need_isolation()
    if not shutil.which('unshare') or not shutil.which('mount'):
        raise Skip('unshare/mount not installed')
    d = temp_dir()
    os.mkdir(os.path.join(d, 'olddev'))
    wrapper = write_file(os.path.join(d, 'run'), NO_DEVLOG_WRAPPER)
    os.chmod(wrapper, 0o755)
    p = subprocess.run([wrapper, os.path.join(d, 'olddev'), MICROSOCKS, '--syslog', '-i', '127.0.0.1', '-p', '0'],
                       capture_output=True, timeout=T.PROGRAM, stdin=subprocess.DEVNULL)
    err = p.stderr.decode('utf-8', 'replace')
    if p.returncode != 1 and 'mount' in err:
        raise Skip(f'cannot mount in a new mount namespace: {err[:100]!r}')
    check(p.returncode == 1, f'exit {p.returncode}, stderr {err[:200]!r}')
    check(re.search(r'^microsocks: --syslog: /dev/log: No such file or directory$', err, re.M),
          f'stderr: {err[:200]!r}')


@case
def ops_start_users_error_no_usage():
    """A users file that cannot be used is not a command-line mistake: "--users: FILE:LINE: reason"
    alone, exit 1, no usage after it (a line without ':', and a missing file)."""
    d = temp_dir()
    bad = write_file(os.path.join(d, 'bad'), 'alice:pw\nno colon here\n')
    refused_at_start(['-i', '127.0.0.1', '-p', '0', '--users', bad], '--users', 'a bad line')
    refused_at_start(['-i', '127.0.0.1', '-p', '0', '--users', os.path.join(d, 'missing')], '--users',
                     'a missing file')


@case
def ops_listen_backlog():
    """The listen backlog is the same for every build (4096, which the kernel caps at
    net.core.somaxconn), not the C library's SOMAXCONN (128 in musl): ss shows it as the
    listener's Send-Q."""
    if not shutil.which('ss'):
        raise Skip('ss not installed (Debian package iproute2)')
    with open('/proc/sys/net/core/somaxconn') as f:
        want = min(4096, int(f.read()))
    server = Server()
    p = subprocess.run(['ss', '-Hltn', f'sport = :{server.port}'], capture_output=True, timeout=T.PROGRAM)
    fields = p.stdout.decode().split()
    check(len(fields) >= 3 and fields[0] == 'LISTEN', f'ss: {p.stdout!r} {p.stderr!r}')
    check(int(fields[2]) == want, f'backlog {fields[2]}, expected {want}')


# ================================================================ limits

@case
def ops_max_clients():
    """--max-clients 2: two clients (one silent, still in its handshake) fill it; a third is closed
    at once without a byte and logged "refused: too many clients" (and gets no session line); once
    a client leaves, a new one is admitted and served; then it is full again."""
    server = Server('--max-clients', '2', '--handshake-timeout', '60')
    target = Target()
    first = try_admit(server.address)
    check(first, 'first client refused')
    silent = SocksClient(server.address)
    third = expect_refused_at_once(server.address, what='third client with --max-clients 2')
    port = third.sock.getsockname()[1]
    server.wait_line(re.compile('^' + STAMP + rf'client 127\.0\.0\.1:{port}: refused: too many clients$'))
    first.close()
    c = admit_eventually(server.address, what='after the first client left')
    check(c.request('127.0.0.1', target.port).rep == REP_OK, 'CONNECT after a slot was freed failed')
    c.echo_check()
    expect_refused_at_once(server.address, what='full again (silent client + new one)')
    check(server.alive(), 'server died')
    check(not [line for line in lines_about(server, third.sock) if 'refused' not in line],
          f'the refused client has other log lines: {lines_about(server, third.sock)}')
    silent.close()


@case
def ops_max_per_ip():
    """--max-per-ip 2 --max-clients 3: a third client from 127.0.0.1 is closed at once ("too many
    clients from this address") while 127.0.0.2 is admitted; then 127.0.0.3 is refused (total 3,
    "too many clients"); after a 127.0.0.1 client leaves, 127.0.0.1 is admitted again."""
    need_isolation()
    server = Server('--max-per-ip', '2', '--max-clients', '3', '--handshake-timeout', '60')
    target = Target()
    a1 = try_admit(server.address, '127.0.0.1')
    check(a1, 'first client from 127.0.0.1 refused')
    a2 = SocksClient(server.address, '127.0.0.1')
    a3 = expect_refused_at_once(server.address, '127.0.0.1', 'third client from 127.0.0.1')
    p3 = a3.sock.getsockname()[1]
    server.wait_line(re.compile('^' + STAMP + rf'client 127\.0\.0\.1:{p3}: refused: too many clients from this address$'))
    b1 = try_admit(server.address, '127.0.0.2')
    check(b1, '127.0.0.2 refused although it has no client yet')
    check(b1.request('127.0.0.1', target.port).rep == REP_OK, 'CONNECT from 127.0.0.2 failed')
    b1.echo_check()
    c1 = expect_refused_at_once(server.address, '127.0.0.3', 'client from 127.0.0.3 with 3 clients in')
    pc = c1.sock.getsockname()[1]
    server.wait_line(re.compile('^' + STAMP + rf'client 127\.0\.0\.3:{pc}: refused: too many clients$'))
    a1.close()
    again = admit_eventually(server.address, '127.0.0.1', '127.0.0.1 after one of its clients left')
    check(again.request('127.0.0.1', target.port).rep == REP_OK, 'CONNECT after the slot was freed failed')
    again.echo_check()
    a2.close()


@case
def ops_limit_options():
    """--max-clients / --max-per-ip 0, 1000001, abc or no value: exit 1 naming the option; 1000000 is
    accepted and the server serves."""
    check_bad_options([(['--max-clients', '0'], '--max-clients'), (['--max-clients', '1000001'], '--max-clients'),
                       (['--max-clients=abc'], '--max-clients'), (['--max-clients'], '--max-clients'),
                       (['--max-per-ip', '0'], '--max-per-ip'), (['--max-per-ip=1000001'], '--max-per-ip'),
                       (['--max-per-ip', '-1'], '--max-per-ip')])
    target = Target()
    c, _ = tunnel(Server('--max-clients', '1000000', '--max-per-ip=1000000'), '127.0.0.1', target.port)
    c.echo_check()


# ================================================================ outgoing interface

def bound_to_lo(proto, port):
    """Does `ss` show a socket of proto ('t'/'u') with local port `port` bound to device lo?"""
    ss = shutil.which('ss')
    if not ss:
        raise Skip('ss (iproute2) not installed')
    p = subprocess.run([ss, f'-{proto}anH'], capture_output=True, text=True, timeout=T.PROGRAM)
    locals_ = [line.split()[3] for line in p.stdout.splitlines() if len(line.split()) > 4]  # State Recv-Q Send-Q Local
    mine = [a for a in locals_ if a.endswith(f':{port}')]
    check(mine, f'ss shows no socket with local port {port}: {p.stdout[:300]!r}')
    return any('%lo:' in a for a in mine), mine


@case
def ops_bind_interface_lo():
    """--bind-interface lo: CONNECT to 127.0.0.1 works and the outgoing TCP socket is bound to lo
    (ss shows 127.0.0.1%lo:PORT); a UDP ASSOCIATE relays and its outgoing socket is bound to lo;
    without the option the outgoing socket is not bound."""
    need_isolation()
    server = Server('--bind-interface', 'lo')
    target = Target()
    c, r = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    bound, seen = bound_to_lo('t', r.port)
    check(bound, f'outgoing TCP socket not bound to lo: {seen}')
    echo = UdpEcho()
    a = Association(server)
    peer = a.round_trip(echo, what='UDP with --bind-interface lo')
    bound, seen = bound_to_lo('u', peer[1])
    check(bound, f'outgoing UDP socket not bound to lo: {seen}')
    plain = Server()
    c, r = tunnel(plain, '127.0.0.1', target.port)
    c.echo_check()
    bound, seen = bound_to_lo('t', r.port)
    check(not bound, f'without --bind-interface the outgoing socket is bound: {seen}')


@case
def ops_bind_interface_bogus():
    """--bind-interface nosuchif0: refused at start, exit 1, "microsocks: --bind-interface: no
    interface 'nosuchif0'"."""
    need_isolation()
    p = run_microsocks(['-i', '127.0.0.1', '-p', '0', '--bind-interface', 'nosuchif0'])
    check(p.returncode == 1, f'exit {p.returncode}; stderr {p.err[:200]!r}')
    check(re.search(r"^microsocks: --bind-interface: no interface 'nosuchif0'", p.err, re.M),
          f'stderr: {p.err[:200]!r}')
    check('listening on' not in p.err, 'it listened before refusing the interface')


# ================================================================ users

USERS_FILE = ('# microsocks users\n'
              '\n'
              'alice:pw-alice-1\n'
              '   # an indented comment\n'
              '\t# a tab-indented comment\n'
              '   \n'
              'bob:  two words \n'
              'dave:pw-dave-crlf\r\n'
              'frank:pa:ss:word\n'
              'erin:pw-erin-last')  # no newline at the end
FILE_USERS = {'alice': 'pw-alice-1', 'bob': '  two words ', 'dave': 'pw-dave-crlf', 'frank': 'pa:ss:word',
              'erin': 'pw-erin-last'}


@case
def ops_users_file():
    """--users FILE with comments, blank lines, a CRLF line, spaces and colons in passwords, no final
    newline: "FILE: 5 users" at start; each user works with its password (trailing CR dropped,
    spaces kept), wrong ones, the CR-terminated password and comment text are refused; no password
    appears in the log."""
    path = write_file(os.path.join(temp_dir(), 'users'), USERS_FILE)
    server = users_server(path)
    m = server.wait_line(users_line(path))
    check(m.group(1) == '5', f'start: "{m.group(0)}", expected 5 users')
    target = Target()
    for user, password in FILE_USERS.items():
        expect_user(server, target, user, password)
    for user, password in (('alice', 'pw-alice-2'), ('bob', 'two words'), ('bob', '  two words'),
                           ('dave', 'pw-dave-crlf\r'), ('frank', 'pa'), ('mallory', 'pw-alice-1'),
                           ('# microsocks users', ''), ('alice', WRONG_PASSWORD)):
        if password:
            expect_rejected_user(server, user, password, 'users file')
    no_secrets(server, [p for p in FILE_USERS.values() if p.strip()] + [WRONG_PASSWORD, 'pw-alice-2'])


@case
def ops_users_crypt():
    """crypt(3) hashes ($6$ test vector, $5$, $y$, $2b$): with a dynamically linked binary each user
    logs in with "Hello world!", not with a wrong password or the hash itself, and no hash is
    logged; a static binary, or one whose C library has no libcrypt.so.1 to load (a cross
    compiler's tree under qemu), refuses the file at start: "FILE:2: crypt(3) hashes are not
    supported by this build", exit 1."""
    path = os.path.join(temp_dir(), 'users')
    text = '# hashes\n' + ''.join(f'{name}:{h}\n' for name, h in CRYPT_HASHES.items()) + 'plain:pw-plain\n'
    write_file(path, text)
    if not is_dynamic(SERVER_BINARY) or (EMULATOR and not foreign_libcrypt()):
        p = run_microsocks(['-i', '127.0.0.1', '-p', '0', '--users', path])
        check(p.returncode == 1, f'static binary with a hash line: exit {p.returncode}')
        check(re.search(rf'^microsocks: --users: {re.escape(path)}:2: crypt\(3\) hashes are not supported by this build',
                        p.err, re.M), f'stderr: {p.err[:300]!r}')
        check(not any(h in p.err for h in CRYPT_HASHES.values()), 'a hash appears on stderr')
        return
    # twelve wrong passwords from one address: more than --auth-fail-max allows by default
    server = users_server(path, '--auth-fail-max', '0')
    m = server.wait_line(users_line(path))
    check(m.group(1) == '5', f'"{m.group(0)}", expected 5 users')
    target = Target()
    for name, h in CRYPT_HASHES.items():
        expect_user(server, target, name, CRYPT_PASSWORD)
        for wrong in ('Hello world', 'hello world!', h):
            expect_rejected_user(server, name, wrong, f'{name} hash')
    expect_user(server, target, 'plain', 'pw-plain')
    no_secrets(server, list(CRYPT_HASHES.values()) + [h.rsplit('$', 1)[1] for h in CRYPT_HASHES.values()]
               + [CRYPT_PASSWORD, 'pw-plain'])


BAD_USERS = [  # (file text, line, reason hint) -- None text: the file is missing
    ('# c\nalice:pw-a\nnocolon-S3cr3t\n', 3, None),
    ('\nalice:pw-a\n:pw-nouser-S3cr3t\n', 3, None),
    ('alice:pw-a\nbob:\n', 2, None),
    ('alice:pw-a\n# c\n\nalice:pw-dup-S3cr3t\n', 4, None),
    ('u' * 256 + ':pw-long-S3cr3t\n', 1, None),
    ('alice:pw-a\r\nbob:' + 'p' * 256 + '\n', 2, None),
]


@case
def ops_users_bad_file():
    """Bad users files at start: a line without ':', an empty user, an empty password, a user given
    twice, a 256-byte user or password: "microsocks: --users: FILE:LINE: ..." with the right line
    (comments and blank lines counted), exit 1, no password of the file on stderr; a missing file:
    "microsocks: --users: FILE: No such file or directory", exit 1."""
    d = temp_dir()
    runs, paths = [], []
    for i, (text, line, _) in enumerate(BAD_USERS):
        path = write_file(os.path.join(d, f'bad{i}'), text)
        paths.append(path)
        runs.append(['-i', '127.0.0.1', '-p', '0', '--users', path])
    missing = os.path.join(d, 'missing')
    runs.append(['-i', '127.0.0.1', '-p', '0', '--users', missing])
    problems = []
    results = run_microsocks_all(runs)
    for (text, line, _), path, p in zip(BAD_USERS, paths, results):
        if isinstance(p, Fail):
            problems.append(str(p))
            continue
        first = text.splitlines()[line - 1][:20]
        if p.returncode != 1:
            problems.append(f'[{first!r}] exit {p.returncode}')
        elif not re.search(rf'^microsocks: --users: {re.escape(path)}:{line}: \S', p.err, re.M):
            problems.append(f'[{first!r}] no "--users: FILE:{line}: ..." line: {p.err[:160]!r}')
        elif 'S3cr3t' in p.err or 'pw-a' in p.err:
            problems.append(f'[{first!r}] a password on stderr: {p.err[:160]!r}')
    p = results[-1]
    if isinstance(p, Fail):
        problems.append(str(p))
    elif p.returncode != 1 or not re.search(rf'^microsocks: --users: {re.escape(missing)}: No such file or directory',
                                            p.err, re.M):
        problems.append(f'missing file: exit {p.returncode}, stderr {p.err[:160]!r}')
    check(not problems, '; '.join(problems))


@case
def ops_users_reload():
    """SIGHUP re-reads --users: "FILE: 3 users"; a tunnel of a removed user keeps relaying, the
    removed user is refused, new users work, a changed password takes effect. A broken file on
    SIGHUP: "FILE:3: ...; keeping the old users", the old users stay, the broken file's users are
    not added; the tunnel still relays. No password appears in the log."""
    path = write_file(os.path.join(temp_dir(), 'users'), 'alice:pw-old-alice\nbob:pw-bob\n')
    server = users_server(path)
    count = users_line(path)
    check(wait_count(server, count, 1)[0].group(1) == '2', 'start: not "2 users"')
    target = Target()
    kept, _ = tunnel(server, '127.0.0.1', target.port, 'bob', 'pw-bob')
    kept.echo_check()
    write_file(path, '# reloaded\nalice:pw-new-alice\ncarol:pw-carol\ndave:pw-dave\n')
    os.kill(server.pid, signal.SIGHUP)
    check(wait_count(server, count, 2)[1].group(1) == '3', 'after SIGHUP: not "3 users"')
    kept.echo_check(os.urandom(20000))
    expect_rejected_user(server, 'bob', 'pw-bob', 'bob removed by the reload')
    expect_rejected_user(server, 'alice', 'pw-old-alice', 'alice\'s old password after the reload')
    for user, password in (('alice', 'pw-new-alice'), ('carol', 'pw-carol'), ('dave', 'pw-dave')):
        expect_user(server, target, user, password)
    write_file(path, 'zed:pw-zed\n# comment\nthis line is broken\ncarol:pw-carol\n')
    os.kill(server.pid, signal.SIGHUP)
    server.wait_line(re.compile('^' + STAMP + rf'microsocks: {re.escape(path)}:3: .*; keeping the old users$'))
    check(len(wait_count(server, count, 2)) == 2 and
          len([line for line in server.lines if count.search(line)]) == 2, 'a users count logged for the broken file')
    expect_rejected_user(server, 'zed', 'pw-zed', 'user of the broken file')
    expect_user(server, target, 'alice', 'pw-new-alice')
    expect_user(server, target, 'dave', 'pw-dave')
    kept.echo_check(os.urandom(20000))
    check(server.alive(), 'server died after SIGHUP')
    kept.close()
    no_secrets(server, ['pw-old-alice', 'pw-bob', 'pw-new-alice', 'pw-carol', 'pw-dave', 'pw-zed'])


@case
def ops_users_with_u():
    """-u/-P with --users: both the -u user and the file's users work, "FILE: 1 users" counts the
    file only; -1 with only --users is accepted and works; without --users SIGHUP logs "nothing to
    reload" and the server keeps serving."""
    path = write_file(os.path.join(temp_dir(), 'users'), 'fileuser:pw-fileuser\n')
    server = auth_server('--users', path)
    check(server.wait_line(users_line(path)).group(1) == '1', 'not "1 users"')
    target = Target()
    expect_user(server, target, USER, PASSWORD)
    expect_user(server, target, 'fileuser', 'pw-fileuser')
    expect_rejected_user(server, USER, 'pw-fileuser', 'file password for the -u user')
    no_secrets(server, [PASSWORD, 'pw-fileuser'])
    server = users_server(path, '-1')
    check(noauth_method(server, None) == NO_ACCEPTABLE, '-1 --users: no-auth accepted before authentication')
    expect_user(server, target, 'fileuser', 'pw-fileuser')
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    server = auth_server()
    os.kill(server.pid, signal.SIGHUP)
    server.wait_line(re.compile('^' + STAMP + r'microsocks: nothing to reload$'))
    expect_user(server, target, USER, PASSWORD)
    check_bad_options([(['--users'], '--users'), (['-1', '--auth-once-ttl', '5'], '-1')])


# ================================================================ auth-once

def authenticate_from(server, source):
    """Authenticate from source, then send a request (command 9) and read its 05 07 reply: the
    server has finished the authentication step (and recorded the -1 entry) by then."""
    c = SocksClient(server.address, source)
    check(c.greet(USERPASS) == USERPASS, f'{source}: user/password method not chosen')
    check(c.auth(USER, PASSWORD) == 0, f'authentication from {source} failed')
    c.send(connect_request('127.0.0.1', 9, cmd=9))
    c.expect_error(REP_CMD, f'{source}: command 9 after authenticating')
    c.close()


@case
def ops_auth_once_ttl():
    """-1 --auth-once-ttl 2 -w 127.0.0.9: three IPs authenticate; one is used (no-auth) every 0.3 s
    and stays valid for 3.5 s; one used once at ~1 s is still valid then; the one never used is
    refused no-auth after 3.5 s (expired) but can authenticate again; -w 127.0.0.9 never expires."""
    need_isolation()
    server = auth_server('-1', '--auth-once-ttl', '2', '-w', '127.0.0.9')
    for ip in ('127.0.0.1', '127.0.0.2', '127.0.0.3'):
        check(noauth_method(server, ip) == NO_ACCEPTABLE, f'{ip}: no-auth accepted before authentication')
    # each entry's age counts from its own authentication, and the one to be kept in use
    # authenticates last: on a slow machine the others' logins may take a while
    auth_at = {}
    for ip in ('127.0.0.3', '127.0.0.2', '127.0.0.1'):
        authenticate_from(server, ip)
        auth_at[ip] = time.monotonic()
    t0 = auth_at['127.0.0.1']
    probed_early = False
    while time.monotonic() < t0 + 3.5:  # pacing: time must pass for the entries to expire
        check(noauth_method(server, '127.0.0.1') == NOAUTH,
              f'127.0.0.1, used every 0.3 s, refused no-auth {time.monotonic() - t0:.1f}s after authenticating')
        if not probed_early and time.monotonic() >= t0 + 0.8:
            probed_early = True
            age = time.monotonic() - auth_at['127.0.0.3']
            if age < 1.4:  # still well within the 2 s ttl
                check(noauth_method(server, '127.0.0.3') == NOAUTH,
                      f'127.0.0.3 refused no-auth {age:.1f}s after authenticating (ttl 2)')
        time.sleep(0.3)
    check(noauth_method(server, '127.0.0.2') == NO_ACCEPTABLE,
          '127.0.0.2 still admitted without auth 3.5 s after its only use (ttl 2)')
    check(noauth_method(server, '127.0.0.1') == NOAUTH, '127.0.0.1 (used all along) expired')
    check(noauth_method(server, '127.0.0.9') == NOAUTH, '-w 127.0.0.9 refused no-auth')
    authenticate_from(server, '127.0.0.2')
    check(noauth_method(server, '127.0.0.2') == NOAUTH, '127.0.0.2 not admitted after authenticating again')


@case
def ops_auth_once_max():
    """-1 --auth-once-max 2: 127.0.0.1 and .2 authenticate, .1 is used, .3 authenticates: the least
    recently used (.2) is dropped (no-auth refused), .1 and .3 stay; option bounds checked."""
    need_isolation()
    server = auth_server('-1', '--auth-once-max', '2')
    authenticate_from(server, '127.0.0.1')
    authenticate_from(server, '127.0.0.2')
    check(noauth_method(server, '127.0.0.1') == NOAUTH, '127.0.0.1 not admitted after authenticating')
    authenticate_from(server, '127.0.0.3')
    check(noauth_method(server, '127.0.0.2') == NO_ACCEPTABLE,
          '127.0.0.2 (least recently used) still admitted after a third IP authenticated with max 2')
    check(noauth_method(server, '127.0.0.1') == NOAUTH, '127.0.0.1 (recently used) was dropped')
    check(noauth_method(server, '127.0.0.3') == NOAUTH, '127.0.0.3 (just added) was dropped')
    check_bad_options([(['-u', USER, '-P', PASSWORD, '-1', '--auth-once-ttl', '0'], '--auth-once-ttl'),
                       (['-u', USER, '-P', PASSWORD, '-1', '--auth-once-ttl=2000001'], '--auth-once-ttl'),
                       (['-u', USER, '-P', PASSWORD, '-1', '--auth-once-max', '0'], '--auth-once-max'),
                       (['-u', USER, '-P', PASSWORD, '-1', '--auth-once-max', '1000001'], '--auth-once-max'),
                       (['-u', USER, '-P', PASSWORD, '-1', '--auth-once-max'], '--auth-once-max')])
    target = Target()
    c, _ = tunnel(auth_server('-1', '--auth-once-ttl=2000000', '--auth-once-max', '1000000'),
                  '127.0.0.1', target.port, USER, PASSWORD)
    c.echo_check()


# ================================================================ session log line

@case
def ops_log_connect():
    """Default session line of a finished CONNECT with user/password: UTC time with ms, client
    ADDR:PORT, user, CONNECT, the requested host:port (a name when isolated), the address connected
    to, reply 0, (closed), exact bytes up (1234) and down (54321), a duration between what the client
    measured; exactly one such line."""
    server = auth_server()
    target = sized_target(1234, 54321)
    host = 'v4only.test' if ISOLATED else '127.0.0.1'
    start = time.monotonic()
    c, r = tunnel(server, host, target.port, USER, PASSWORD)
    t_reply = time.monotonic()
    time.sleep(0.3)  # makes the duration measurable (not synchronisation)
    data = os.urandom(1234)
    c.send(data)
    check(c.recv_until_eof() == target.payload, 'answer altered')
    t_eof = time.monotonic()
    c = closed(c)
    m = session_line(c, server)
    t_line = time.monotonic()
    check_utc_now(m['time'], 'session line')
    want = {'user': USER, 'cmd': 'CONNECT', 'req': f'{host}:{target.port}', 'conn': f'127.0.0.1:{target.port}',
            'rep': '0', 'reason': 'closed', 'up': '1234', 'down': '54321'}
    got = {k: m[k] for k in want}
    check(got == want, f'session line {m.group(0)!r}: fields {got}, expected {want}')
    dur = int(m['dur'])
    low, high = int((t_eof - t_reply) * 1000) - 10, int((t_line - start) * 1000) + 1
    check(low <= dur <= high, f'duration {dur}ms, expected {low}..{high}ms')
    check(len([line for line in server.lines if session_re(c).search(line)]) == 1, 'not exactly one line')


@case
def ops_log_failures():
    """Session lines of failures: a refused CONNECT -> reply 5, up/down 0; a wrong password -> reply -,
    (auth failed); a bad greeting (HTTP) -> user, command, host, reply all -, (not a SOCKS client); an
    unsupported command 9 -> reply 7; (isolated) an unresolvable name with control bytes -> reply 4 and
    the name logged with them as %XX. Each client gets exactly one line."""
    skip_on_arch(*MIPS_SO_ERROR)
    server = auth_server()
    port = closed_port()
    c = authed_client(server)
    c.send(connect_request('127.0.0.1', port))
    c.expect_error(REP_REFUSED, 'CONNECT to a closed port')
    m = session_line(c, server)
    check((m['user'], m['cmd'], m['req'], m['rep'], m['up'], m['down']) ==
          (USER, 'CONNECT', f'127.0.0.1:{port}', '5', '0', '0'), f'refused CONNECT: {m.group(0)!r}')
    check(m['conn'] in ('-', f'127.0.0.1:{port}'), f'refused CONNECT: connected to {m["conn"]!r}')
    check(re.fullmatch(r'[a-z][a-z ]*', m['reason']), f'refused CONNECT: reason {m["reason"]!r}')
    lines = [(c, 'refused CONNECT')]

    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    check(c.auth(USER, WRONG_PASSWORD) != 0, 'wrong password accepted')
    c.wait_eof()
    m = session_line(c, server)
    check(m['user'] in (USER, '-') and (m['cmd'], m['req'], m['conn'], m['rep'], m['reason'], m['up'], m['down'])
          == ('-', '-', '-', '-', 'auth failed', '0', '0'), f'auth failure: {m.group(0)!r}')
    lines.append((c, 'auth failure'))

    c = SocksClient(server.address)
    c.send(b'GET / HTTP/1.0\r\n\r\n')
    check(c.recv_until_eof() == b'', 'HTTP request got an answer')
    m = session_line(c, server)
    check((m['user'], m['cmd'], m['req'], m['conn'], m['rep'], m['reason']) ==
          ('-', '-', '-', '-', '-', 'not a SOCKS client'), f'HTTP client: {m.group(0)!r}')
    lines.append((c, 'HTTP client'))

    c = authed_client(server)
    c.send(connect_request('127.0.0.1', port, cmd=9))
    c.expect_error(REP_CMD, 'command 9')
    m = session_line(c, server)
    check(m['rep'] == '7', f'command 9: {m.group(0)!r}')
    lines.append((c, 'command 9'))
    if ISOLATED:
        c = authed_client(server)
        c.send(connect_request(b'bad\x01\x1b\x7fname.invalid', 80, atyp=3))
        c.expect_error(REP_HOST_UNREACH, 'unresolvable name')
        m = session_line(c, server)
        check((m['req'], m['rep']) == ('bad%01%1B%7Fname.invalid:80', '4'), f'name with control bytes: {m.group(0)!r}')
        lines.append((c, 'name with control bytes'))
    bad = [line for line in server.lines if re.search(r'[\x00-\x1f\x7f]', line)]
    check(not bad, f'control bytes in the log: {bad!r}')
    for c, what in lines:
        n = len([line for line in server.lines if session_re(c).search(line)])
        check(n == 1, f'{what}: {n} session lines')


LOG_FORMAT = '%C|%c|%U|%N|%n|%q|%R|%r|%E|%I|%O|%D|%t|%%|%p|%e|%a|%h|%A|%T|end'


@case
def ops_log_format():
    """--log-format with 3proxy macros (%C %c %U %N %n %q %R %r %E %I %O %D %t %% %p %e %a %h %A %T)
    on two listeners (127.0.0.1 and ::1): each field of an IPv4 and an IPv6 session is exact (%p the
    listener's port, IPv6 bracketed in %a %h %A, %e the bound address, %t now)."""
    bind = ['-b', '127.0.0.2'] if ISOLATED else []
    server = Server('-u', USER, '-P', PASSWORD, '--log-format', LOG_FORMAT, *bind,
                    '-i', '127.0.0.1:0', '-i', '[::1]:0', listen=None, port=None)
    ports = dict(listeners(server, 2))
    cases = [('127.0.0.1', 'v4only.test' if ISOLATED else '127.0.0.1', '127.0.0.1'), ('::1', '::1', '::1')]
    for client_host, req_host, target_host in cases:
        server.host, server.port = client_host, ports[client_host]
        target = sized_target(777, 4321, target_host)
        t_before = int(time.time())
        c, r = tunnel(server, req_host, target.port, USER, PASSWORD)
        c.send(os.urandom(777))
        check(c.recv_until_eof() == target.payload, 'answer altered')
        cport = closed(c)[1]
        m = server.wait_line(re.compile(rf'^{re.escape(client_host)}\|{cport}\|.*\|end$'))
        t_after = int(time.time()) + 1
        f = m.group(0).split('|')
        check(len(f) == 21, f'{len(f)} fields: {m.group(0)!r}')
        names = 'C c U N n q R r E I O D t %% p e a h A T end'.split()
        got = dict(zip(names, f))
        out_addr = '127.0.0.2' if bind and target_host == '127.0.0.1' else target_host
        want = {'C': client_host, 'c': str(cport), 'U': USER, 'N': 'CONNECT', 'n': req_host, 'q': str(target.port),
                'R': target_host, 'r': str(target.port), 'E': '0', 'I': '4321', 'O': '777', '%%': '%',
                'p': str(ports[client_host]), 'e': out_addr, 'a': show(client_host, cport),
                'h': show(req_host, target.port), 'A': show(target_host, target.port), 'T': 'closed', 'end': 'end'}
        bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        check(not bad, f'{m.group(0)!r}: (got, expected) {bad}')
        check(got['D'].isdigit(), f'%D {got["D"]!r}')
        check(got['t'].isdigit() and t_before <= int(got['t']) <= t_after, f'%t {got["t"]!r} not now')
        check(r.addr == out_addr, f'BND {r.addr}, expected {out_addr}')


@case
def ops_log_commands():
    """%N / %h / %A / %E for BIND (the peer that connected) and UDP (%A -, %N UDP), default format."""
    server = Server()
    c = noauth_client(server)
    r = c.request('127.0.0.1', 0, cmd=BIND)
    check(r.rep == REP_OK, f'BIND: {r.rep}')
    peer = connect_to((r.addr, r.port), '127.0.0.1')
    r2 = c.read_reply()
    check(r2.rep == REP_OK, f'BIND second reply {r2.rep}')
    peer.sendall(b'x' * 10)
    check(c.recv_exact(10) == b'x' * 10, 'BIND relay')
    c.send(b'y' * 25)
    check(recv_exact(peer, 25) == b'y' * 25, 'BIND relay')
    peer.close()
    c.wait_eof()
    c = closed(c)
    m = session_line(c, server)
    check((m['cmd'], m['req'], m['rep'], m['up'], m['down']) == ('BIND', '127.0.0.1:0', '0', '25', '10'),
          f'BIND: {m.group(0)!r}')
    check(m['conn'] == f'{r2.addr}:{r2.port}', f'BIND: connected {m["conn"]}, the peer was {r2.addr}:{r2.port}')
    echo = UdpEcho()
    a = Association(server)
    a.round_trip(echo)
    m = session_line(closed(a.ctl), server)
    check((m['cmd'], m['conn'], m['rep']) == ('UDP', '-', '0'), f'UDP: {m.group(0)!r}')


@case
def ops_log_format_bad():
    """--log-format with an unknown macro (%x, %Q), --log-time gmt: exit 1 naming the option; a
    format of only known macros and text is accepted and used."""
    check_bad_options([(['--log-format', 'x %x y'], '--log-format'), (['--log-format=%a %Q'], '--log-format'),
                       (['--log-time', 'gmt'], '--log-time'), (['--log-time'], '--log-time')])
    server = Server('--log-format=session %a %N 100%%', '--log-time', 'local')
    port = closed(noauth_client(server))[1]
    server.wait_line(re.compile(rf'^session 127\.0\.0\.1:{port} - 100%$'))


TIME_FORMAT = '%i|%Y|%y|%m|%d|%H|%M|%S|%.|%z|%t|%a'


def time_fields(server, what):
    port = closed(noauth_client(server))[1]
    m = server.wait_line(re.compile(rf'^(.*)\|127\.0\.0\.1:{port}$'))
    f = m.group(1).split('|')
    check(len(f) == 11, f'{what}: {m.group(0)!r}')
    return f


def with_tz(tz, fn):
    old = os.environ.get('TZ')
    os.environ['TZ'] = tz
    try:
        return fn()
    finally:
        if old is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = old


@case
def ops_log_time():
    """%i %Y %y %m %d %H %M %S %. %z %t of one session agree: default and --log-time utc give ...Z and
    +0000 even with TZ +01:30; --log-time local gives ...+01:30 / +0130 with TZ +01:30 and
    ...-01:30 / -0130 with TZ -01:30; the instant is now and equals %t."""
    runs = [([], '<+0130>-1:30', 'Z', '+0000', 0), (['--log-time', 'utc'], '<+0130>-1:30', 'Z', '+0000', 0),
            (['--log-time', 'local'], '<+0130>-1:30', '+01:30', '+0130', 90),
            (['--log-time=local'], '<-0130>1:30', '-01:30', '-0130', -90)]
    for args, tz, suffix, z, minutes in runs:
        what = f'{" ".join(args) or "default"} TZ={tz}'
        server = with_tz(tz, lambda: Server('--log-format', TIME_FORMAT, *args))
        i, Y, y, mo, d, H, M, S, ms, zz, t = time_fields(server, what)
        m = re.fullmatch(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})(Z|[+-]\d\d:\d\d)', i)
        check(m, f'{what}: %i {i!r}')
        check(m.group(8) == suffix and zz == z, f'{what}: %i {i!r} %z {zz!r}, expected {suffix} / {z}')
        check([Y, mo, d, H, M, S, ms] == list(m.groups()[:7]) and y == Y[2:],
              f'{what}: %Y..%. {[Y, y, mo, d, H, M, S, ms]} disagree with %i {i}')
        wall = calendar.timegm(tuple(map(int, m.groups()[:6]))) - minutes * 60
        check(t.isdigit() and abs(wall - int(t)) <= 1, f'{what}: %i {i} is not the instant %t {t}')
        check(abs(int(t) - time.time()) < 10 * T.SCALE, f'{what}: %t {t} is not now')


# ================================================================ syslog

SYSLOG_WRAPPER = r'''#!/bin/sh
# run microsocks in a mount namespace of its own where /dev/log is the test's socket
sock=$1 old=$2 real=$3
shift 3
exec unshare -m sh -c '
set -e
sock=$1 old=$2; shift 2
mount --rbind /dev "$old"
mount -t tmpfs ms-ops-dev /dev
for n in null zero urandom random; do
	if [ -e "$old/$n" ]; then touch "/dev/$n"; mount --bind "$old/$n" "/dev/$n"; fi
done
touch /dev/log
mount --bind "$sock" /dev/log
exec "$@"' sh "$sock" "$old" "$real" "$@"
'''


class Syslog:
    """An AF_UNIX datagram socket that becomes /dev/log for a server started with server()."""

    def __init__(self):
        need_isolation()
        if not shutil.which('unshare') or not shutil.which('mount'):
            raise Skip('unshare/mount not installed')
        self.dir = temp_dir()
        self.path = os.path.join(self.dir, 'log')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        defer(self.sock.close)
        self.sock.bind(self.path)
        os.mkdir(os.path.join(self.dir, 'olddev'))
        self.wrapper = write_file(os.path.join(self.dir, 'run'), SYSLOG_WRAPPER)
        os.chmod(self.wrapper, 0o755)
        self.got = []
        # can this machine do it at all?
        p = subprocess.run(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs x /mnt'], capture_output=True,
                           timeout=T.PROGRAM)
        if p.returncode != 0:
            raise Skip(f'cannot mount in a new mount namespace: {p.stderr[:100]!r}')

    def server(self, *args, port):
        old = harness.MICROSOCKS
        harness.MICROSOCKS = self.wrapper
        try:
            server = Server(self.path, os.path.join(self.dir, 'olddev'), old, '--syslog',
                            '-i', '127.0.0.1', '-p', str(port), *args,
                            listen=None, port=None, wait_listening=False)
        finally:
            harness.MICROSOCKS = old
        server.host, server.port = '127.0.0.1', port
        return server

    def wait(self, regex, timeout=None):
        """The first datagram (decoded) matching regex, within timeout."""
        timeout = T.IO if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            for text in self.got:
                m = regex.search(text)
                if m:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f'no syslog datagram /{regex.pattern}/ within {timeout:.1f}s; got {self.got[-5:]}')
            if is_readable(self.sock, left):
                self.got.append(self.sock.recv(1 << 16).decode('utf-8', 'replace'))


def syslog_re(pri, pid, text):
    # <PRI>microsocks[PID]: text; an RFC 3164 time stamp after <PRI> is tolerated
    return re.compile(rf'^<{pri}>(?:[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d )?microsocks\[{pid}\]: {text}')


@case
def ops_syslog():
    """--syslog with /dev/log bind-mounted to a test socket (in the server's own mount namespace):
    the listening line arrives as <29>microsocks[PID]: ... (daemon.notice), a session line as <30>
    (daemon.info), the SIGUSR1 stats line as <29>; nothing of it on stderr."""
    log = Syslog()
    port = free_port()
    server = log.server(port=port)
    log.wait(syslog_re(29, server.pid, rf'(microsocks: )?listening on 127\.0\.0\.1:{port}$'), T.START)
    server.port = port
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    cport = closed(c)[1]
    log.wait(syslog_re(30, server.pid, rf'.*client 127\.0\.0\.1:{cport} user - CONNECT 127\.0\.0\.1:{target.port} '
                                       r'.*reply 0 .*up 4096 down 4096 bytes'))
    os.kill(server.pid, signal.SIGUSR1)
    log.wait(syslog_re(29, server.pid, r'(microsocks: )?stats: clients \d+ served 1 '))
    err = server.stderr()
    check('listening on' not in err and 'client 127.0.0.1' not in err and 'stats:' not in err,
          f'--syslog but stderr has log lines: {err[:300]!r}')


def tunnels_in_a_row(server, target, n):
    """n tunnels to target, one after the other, each echoing and closed within T.IO."""
    for i in range(n):
        start = time.monotonic()
        c, _ = tunnel(server, '127.0.0.1', target.port)
        c.echo_check()
        c.close()
        check(time.monotonic() - start < T.IO, f'tunnel {i} took {time.monotonic() - start:.1f}s')


@case
def ops_syslog_stuck():
    """A system logger that reads nothing (its queue fills after a few datagrams) costs log lines,
    never service: 40 tunnels in a row, each logging a session line, are served within T.IO each,
    and SIGTERM still stops the server (the harness checks the exit)."""
    log = Syslog()
    port = free_port()
    server = log.server(port=port)
    deadline = time.monotonic() + T.START
    while connect_errno('127.0.0.1', port) is not None:
        check(server.alive() and time.monotonic() < deadline, 'server with --syslog never listened')
        time.sleep(T.POLL)
    server.port = port
    tunnels_in_a_row(server, Target(), 40)


@case
def ops_stderr_stuck():
    """A stderr whose reader stopped reading (a pipe shrunk to 4 KiB, full after some 30 session
    lines) costs log lines, never service: 60 tunnels in a row are each served within T.IO, the
    threads do not pile up, SIGUSR1 and SIGTERM are still taken (the server exits within T.STOP
    of SIGTERM); and once the pipe is read again, the next line says how many were lost."""
    proc = subprocess.Popen([MICROSOCKS, '-i', '127.0.0.1', '-p', '0', '--grace', '1'],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def kill():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    defer(kill)
    err = proc.stderr.fileno()
    check(is_readable(proc.stderr, T.START), 'no listening line')
    m = LISTEN_RE.search(os.read(err, 4096).decode())
    check(m, 'no listening line')
    fcntl.fcntl(err, fcntl.F_SETPIPE_SZ, 4096)

    class Address:
        address = ('127.0.0.1', int(m.group(2)))
    target = Target()
    tunnels_in_a_row(Address, target, 60)
    # each stuck line would hold its thread: a few spares are all there should be
    deadline = time.monotonic() + T.IO
    while True:
        with open(f'/proc/{proc.pid}/status') as f:
            threads = int(re.search(r'^Threads:\s+(\d+)', f.read(), re.M).group(1))
        if threads <= 8:
            break
        check(time.monotonic() < deadline, f'{threads} threads after 60 tunnels with stderr stuck')
        time.sleep(T.POLL)
    os.kill(proc.pid, signal.SIGUSR1)
    # read it all again: the next line tells of those lost
    os.set_blocking(err, False)
    text = b''
    deadline = time.monotonic() + T.IO
    while b'log lines lost' not in text:
        check(time.monotonic() < deadline, f'no note of lines lost; read {text[-300:]!r}')
        try:
            chunk = os.read(err, 65536)
        except BlockingIOError:
            chunk = b''
        text += chunk
        if not chunk:
            c, _ = tunnel(Address, '127.0.0.1', target.port)
            c.close()
            is_readable(proc.stderr, T.POLL)
    m = re.search(rb'microsocks: (\d+) log lines lost: stderr took nothing for a while\n', text)
    check(m and int(m.group(1)) >= 1, f'note of lines lost: {text[-300:]!r}')
    # fill it again, then stop
    for i in range(60):
        c, _ = tunnel(Address, '127.0.0.1', target.port)
        c.close()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(T.STOP)
    except subprocess.TimeoutExpired:
        raise Fail(f'server did not exit within {T.STOP:.0f}s of SIGTERM with stderr stuck')
    check(rc == 0, f'server {describe_status(rc)} after SIGTERM')


@case
def ops_syslog_quiet():
    """--syslog -q: no datagram at all, even with a session and SIGUSR1."""
    log = Syslog()
    port = free_port()
    server = log.server('-q', port=port)
    deadline = time.monotonic() + T.START
    while connect_errno('127.0.0.1', port) is not None:
        check(server.alive() and time.monotonic() < deadline, 'server with -q --syslog never listened')
        time.sleep(T.POLL)
    server.port = port
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    c.close()
    os.kill(server.pid, signal.SIGUSR1)
    problems = server.stop()
    check(not problems, '; '.join(problems))
    if is_readable(log.sock, 0.2):
        raise Fail(f'-q --syslog sent {log.sock.recv(1 << 16)[:200]!r}')


# ================================================================ statistics

def stats_now(server, n):
    """Send SIGUSR1 and return the text after "microsocks: stats: " of the n-th stats line."""
    os.kill(server.pid, signal.SIGUSR1)
    return wait_count(server, STATS_RE, n)[n - 1].group(1)


def expect_stats(server, n, want):
    """The stats settle on `want` (counters of a session may follow its log line by a moment):
    SIGUSR1 again (paced, within T.IO) while they differ. Returns the next stats line number."""
    deadline = time.monotonic() + T.IO
    while True:
        got = stats_now(server, n)
        n += 1
        if got == want:
            return n
        check(time.monotonic() < deadline, f'stats: {got!r}, expected {want!r}')
        time.sleep(T.POLL)


@case
def ops_stats():
    """SIGUSR1 stats: at start "clients 0 served 0 refused 0 up 0 down 0 failed - auth 0"; after two
    finished sessions (1000/3000 and 10/20 bytes), two refused CONNECTs, a command 9, a wrong
    password, a client refused by --max-clients 2 and with one tunnel still open: "clients 1 served 8
    refused 1 up 1010 down 3020 failed 0x05:2 0x07:1 auth 1"."""
    skip_on_arch(*MIPS_SO_ERROR)
    server = auth_server('--max-clients', '2')
    n = expect_stats(server, 1, 'clients 0 served 0 refused 0 up 0 down 0 failed - auth 0')
    for up, down in ((1000, 3000), (10, 20)):
        c, _, _ = sized_session(server, sized_target(up, down), up, USER, PASSWORD)
        session_line(c, server)
    port = closed_port()
    for cmd, rep in ((1, REP_REFUSED), (1, REP_REFUSED), (9, REP_CMD)):
        c = authed_client(server)
        c.send(connect_request('127.0.0.1', port, cmd=cmd))
        c.expect_error(rep, f'cmd {cmd}')
        session_line(closed(c), server)
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    check(c.auth(USER, WRONG_PASSWORD) != 0, 'wrong password accepted')
    session_line(closed(c), server)
    # all slots free again before filling --max-clients 2
    n = expect_stats(server, n, 'clients 0 served 6 refused 0 up 1010 down 3020 failed 0x05:2 0x07:1 auth 1')
    echo = Target()
    held, _ = tunnel(server, '127.0.0.1', echo.port, USER, PASSWORD)
    held.echo_check(os.urandom(500))
    idle = SocksClient(server.address)
    check(idle.greet(USERPASS) == USERPASS, 'second client not admitted')
    expect_refused_at_once(server.address, what='third client with --max-clients 2')
    session_line(closed(idle), server)
    expect_stats(server, n, 'clients 1 served 8 refused 1 up 1010 down 3020 failed 0x05:2 0x07:1 auth 1')
    held.close()


# ================================================================ life cycle

STOPPING = '^' + STAMP.replace('{', '{{').replace('}', '}}') + r'microsocks: stopping, {n} clients, grace {g} s$'
STOPPED = re.compile('^' + STAMP + r'microsocks: stopped$')


def start_drain(server, sig, n, grace):
    """Send sig; wait for the stopping line; the listener then refuses connections."""
    t0 = time.monotonic()
    os.kill(server.pid, sig)
    server.wait_line(re.compile(STOPPING.format(n=n, g=grace)))
    wait_refused(server.address, f'listener after {signal.Signals(sig).name}')
    return t0


@case
def ops_drain_transfer():
    """SIGTERM with --grace 10 and a tunnel open: "stopping, 1 clients, grace 10 s", new connections
    are refused, the running tunnel still carries 1 MiB each way to its end, then the server exits
    0 at once (long before the grace time) after "microsocks: stopped"."""
    server = Server('--grace', '10')
    target = Target(lambda conn: duplex(conn, 1 << 20, T.TRANSFER), timeout=T.TRANSFER)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    name = name_of(c)
    start_drain(server, signal.SIGTERM, 1, 10)
    up, down = duplex(c.sock, 1 << 20, T.TRANSFER)
    t_sent, t_received = target.result(T.TRANSFER)
    check(t_received == up and down == t_sent, f'transfer during the drain: sent {up}/{t_sent}, '
                                               f'received {t_received}/{down}')
    t_done = time.monotonic()
    rc = finish(server, T.SLACK, 'last client gone during the drain')
    check(rc == 0, f'exit: {describe_status(rc)}')
    check(time.monotonic() - t_done < T.SLACK, 'exit not prompt once the last client was gone')
    check(server.lines and STOPPED.search(server.lines[-1]),
          f'"microsocks: stopped" is not the last line (a session line after it could be lost at exit): '
          f'{server.stderr_tail()}')
    check(any(session_re(name).search(line) for line in server.lines), 'no session line for the drained client')


def grace_end(sig):
    server = Server('--grace', '1')
    target = Target()
    clients = [tunnel(server, '127.0.0.1', target.port)[0] for _ in range(2)]
    for c in clients:
        c.echo_check()
    names = [name_of(c) for c in clients]
    name = signal.Signals(sig).name
    t0 = start_drain(server, sig, 2, 1)
    clients[0].echo_check()  # still served during the grace time
    for c in clients:
        wait_eof(c.sock, max(0.0, t0 + 1 + T.SLACK - time.monotonic()))
    elapsed = time.monotonic() - t0
    check(elapsed >= T.EARLY, f'{name}: clients closed after only {elapsed:.2f}s with --grace 1')
    rc = finish(server, max(0.0, t0 + 1 + T.SLACK - time.monotonic()), f'{name} --grace 1')
    check(rc == 0, f'{name}: exit {describe_status(rc)}')
    check(server.lines and STOPPED.search(server.lines[-1]), f'{name}: "microsocks: stopped" is not the last '
                                                            f'line: {server.stderr_tail()}')
    for c in names:
        n = len([line for line in server.lines if session_re(c).search(line)])
        check(n == 1, f'{name}: {n} session lines for {c} closed at the grace end')


@case
def ops_drain_grace_end():
    """SIGTERM with --grace 1 and two idle tunnels: "stopping, 2 clients, grace 1 s", new connections
    refused, the tunnels are still served, then closed at ~1 s and the server exits 0."""
    grace_end(signal.SIGTERM)


@case
def ops_drain_sigint():
    """SIGINT behaves as SIGTERM: --grace 1 drain, tunnels closed at ~1 s, exit 0."""
    grace_end(signal.SIGINT)


@case
def ops_drain_second_signal():
    """--grace 30 and an open tunnel: SIGTERM then SIGTERM (and SIGINT then SIGINT) -> exit 0 at once
    after the second signal, the client sees its connection closed."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        server = Server('--grace', '30')
        target = Target()
        c, _ = tunnel(server, '127.0.0.1', target.port)
        c.echo_check()
        start_drain(server, sig, 1, 30)
        t1 = time.monotonic()
        os.kill(server.pid, sig)
        rc = finish(server, T.SLACK, f'second {signal.Signals(sig).name}')
        check(rc == 0, f'second {signal.Signals(sig).name}: exit {describe_status(rc)}')
        check(time.monotonic() - t1 < T.SLACK, 'exit not prompt after the second signal')
        wait_eof(c.sock)


@case
def ops_grace_options():
    """--grace -1, 2000001, abc: exit 1 naming --grace; --grace 0 with an open tunnel: SIGTERM ends
    it at once (exit 0)."""
    check_bad_options([(['--grace', '-1'], '--grace'), (['--grace=2000001'], '--grace'),
                       (['--grace', 'abc'], '--grace')])
    server = Server('--grace', '0')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    t0 = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    rc = finish(server, T.SLACK, '--grace 0')
    check(rc == 0, f'--grace 0: exit {describe_status(rc)}')
    check(time.monotonic() - t0 < T.SLACK, '--grace 0: exit not prompt')
    wait_eof(c.sock)


@case
def ops_log_long_names():
    """A session line with a user name and a requested host name of 255 bytes each carries both
    whole, and its end (reply and bytes): long lines are not cut. (The name is looked up: only in
    the test namespace, where no query leaves the machine.)"""
    need_isolation()
    user, password = 'u' * 255, 'p' * 255
    path = write_file(os.path.join(temp_dir(), 'users'), f'{user}:{password}\n')
    server = users_server(path)
    host = ('h' * 63 + '.') * 3 + 'h' * 63
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
    check(c.auth(user, password) == 0, 'a 255-byte user and password rejected')
    r = c.request(host, 80)
    check(r.rep != REP_OK, f'CONNECT to an unresolvable name: reply {r.rep:#04x}')
    c.close()
    m = server.wait_line(re.compile(r' user (u+) CONNECT (h[h.]*):80 to - reply (\d+) .* bytes \d+ms$'))
    check(m.group(1) == user and m.group(2) == host, f'names cut: user {len(m.group(1))}, host '
          f'{len(m.group(2))} bytes')
