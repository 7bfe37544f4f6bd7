"""Black-box cases for attacks on microsocks: ways around --deny and --allow (other spellings of a
denied address), BIND listeners that outlive their purpose, work that goes on after the client
left, forged session-log fields and credentials that are empty or useless.

Imported by tests/runner.py after tests/security.py; the cases register with harness's @case;
`sh tests/run attack` selects them.
Each case collects every spelling or variant that got through before failing, so that one run
shows them all. What must NOT happen (a connection, a datagram) is watched for a bounded quiet time.
"""

import errno
import os
import re
import signal
import socket
import subprocess
import time

from harness import (
    ATYP_DOMAIN, ATYP_V4, ATYP_V6, BIND, LISTEN_RE, MIPS_SO_ERROR, NO_ACCEPTABLE, NOAUTH, REP_FAIL,
    REP_NOT_ALLOWED,
    REP_OK, REP_REFUSED, S4_CONNECT, skip_on_arch, tunnel, S4_REJECTED, USERPASS, Closed, Fail, Server,
    Skip, SocksClient, T, Target, auth_request, check, connect_errno, connect_request, describe_status,
    greeting, hexs, need_isolation, run_microsocks_all, sanitizer_report, socks4_request, case,
    check_bad_options, names_option, need_errno, noauth_client)
from ops import show, temp_dir, try_admit, wait_count, write_file
from udp import QUIET, Association, UdpEcho

# the destinations of --deny in finding 1: all of loopback, both families
DENY_LOOPBACK = ['--deny', '127.0.0.0/8,[::1]']


# ================================================================ helpers

def reply_to(server, host, port, atyp=None):
    """The reply code a no-auth SOCKS5 CONNECT gets ('closed' if the server closed without one);
    the client is closed after."""
    c = noauth_client(server)
    try:
        c.send(connect_request(host, port, atyp=atyp))
        return c.read_reply().rep
    except (Closed, ConnectionError):
        return 'closed'
    finally:
        c.close()


def reply4_to(server, request):
    """The CD byte a SOCKS4(a) request gets ('closed' if none); the client is closed after."""
    c = SocksClient(server.address)
    try:
        c.send(request)
        return c.read_reply4().cd
    except (Closed, ConnectionError):
        return 'closed'
    finally:
        c.close()


def check_denied(server, requests, targets):
    """Each (what, host, port, atyp) in requests gets reply 02; afterwards none of targets saw a
    connection for QUIET seconds. Fails naming every request that got another answer."""
    bad = []
    for what, host, port, atyp in requests:
        rep = reply_to(server, host, port, atyp=atyp)
        if rep != REP_NOT_ALLOWED:
            bad.append(f'{what} {show(host, port)}: reply {rep if rep == "closed" else f"{rep:#04x}"}')
    peers = []
    for t in targets:
        try:
            while True:
                peers.append(t.next_peer(QUIET))
        except Fail:
            pass
    check(not bad and not peers, '; '.join(bad + ([f'the targets saw connections from {peers}'] if peers else [])))


def start_or_refusal(args, options):
    """A Server with args that listens (returned), or one that exits at once with status 1 and a
    "microsocks: <option>: ..." line naming one of options (None returned)."""
    s = Server(*args, wait_listening=False)
    deadline = time.monotonic() + T.START
    with s.cond:
        while True:
            m = next(filter(None, map(LISTEN_RE.search, s.lines)), None)
            if m:
                s.port = int(m.group(2))
                return s
            left = deadline - time.monotonic()
            if s.eof:
                break
            check(left > 0, f'{" ".join(args)}: neither listening nor exited within {T.START:.0f}s')
            s.cond.wait(left)
    try:
        rc = s.proc.wait(T.STOP)
    except subprocess.TimeoutExpired:
        raise Fail(f'{" ".join(args)}: closed stderr but did not exit')
    s.stopped = True
    s.reader.join(T.STOP)
    err = s.stderr()
    check(not sanitizer_report(err), f'{" ".join(args)}: sanitizer report: {sanitizer_report(err)}')
    check(rc == 1 and names_option(err, options),
          f'{" ".join(args)}: refused to start with {describe_status(rc)}, stderr {err[:200]!r} '
          f'(expected exit 1 and "microsocks: {options[0]}: ...")')
    return None


def tcp_listeners(port):
    """Local addresses (hex, as in /proc/net/tcp and tcp6) of the TCP sockets listening on port."""
    found = []
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        found += [r[1].rsplit(':', 1)[0] for r in rows
                  if r[3] == '0A' and int(r[1].rsplit(':', 1)[1], 16) == port]
    return found


def need_proc_net():
    if not os.path.exists('/proc/net/tcp'):
        raise Skip('no /proc/net/tcp to see listening sockets in')


def session_line_of(server, port):
    """The session line of the client whose local port on 127.0.0.1 is port, waiting for it."""
    return server.wait_line(re.compile(rf'^\S+ client 127\.0\.0\.1:{port} .*$')).group(0)


def same_field_count(line, normal, what, cut=lambda line: line):
    """line, split on spaces, has as many fields as normal (cut(line) and cut(normal), when given)."""
    n, want = len(cut(line).split(' ')), len(cut(normal).split(' '))
    check(n == want, f'{what}: {n} space-separated fields, a normal line has {want}: {line!r} (normal: {normal!r})')


# ================================================================ 1. --deny by another spelling

@case
def attack_deny_wildcard():
    """--deny 127.0.0.0/8,[::1] with targets on 127.0.0.1:P and [::1]:Q: CONNECT to 0.0.0.0:P (ATYP 1),
    [::ffff:0.0.0.0]:P (ATYP 4), [::]:Q (ATYP 4) and the names "0" and "0.0.0.0" (ATYP 3) port P all get
    05 02 (Linux connects 0.0.0.0 and :: to loopback), and neither target sees a connection."""
    target = Target()
    target6 = Target(host='::1')
    server = Server(*DENY_LOOPBACK)
    P, Q = target.port, target6.port
    check_denied(server, [('ATYP 1', '0.0.0.0', P, ATYP_V4), ('ATYP 4', '::ffff:0.0.0.0', P, ATYP_V6),
                          ('ATYP 4', '::', Q, ATYP_V6), ('name', '0', P, ATYP_DOMAIN),
                          ('name', '0.0.0.0', P, ATYP_DOMAIN)], [target, target6])


@case
def attack_deny_embedded_v4():
    """--deny 127.0.0.0/8,[::1] with a target on 127.0.0.1:P: CONNECT to 127.0.0.1 inside IPv6 forms
    gets 05 02 -- IPv4-mapped [::ffff:127.0.0.1]:P, IPv4-compatible [::127.0.0.1]:P, NAT64
    [64:ff9b::7f00:1]:P -- and the target sees no connection. (Isolated only: outside the namespace
    the last two could be routed off the machine.)"""
    need_isolation()
    target = Target()
    server = Server(*DENY_LOOPBACK)
    P = target.port
    check_denied(server, [('mapped', '::ffff:127.0.0.1', P, ATYP_V6), ('compatible', '::127.0.0.1', P, ATYP_V6),
                          ('NAT64', '64:ff9b::7f00:1', P, ATYP_V6)], [target])


@case
def attack_deny_socks4_wildcard():
    """--deny 127.0.0.0/8,[::1], target on 127.0.0.1:P: SOCKS4 CONNECT to 0.0.0.0:P and SOCKS4a (marker
    0.0.0.1) to the name "0.0.0.0" port P get 00 5B, and the target sees no connection."""
    target = Target()
    server = Server(*DENY_LOOPBACK)
    bad = []
    for what, request in (('SOCKS4 0.0.0.0', socks4_request(S4_CONNECT, '0.0.0.0', target.port)),
                          ('SOCKS4a "0.0.0.0"', socks4_request(S4_CONNECT, '0.0.0.1', target.port,
                                                               userid='u', domain='0.0.0.0'))):
        cd = reply4_to(server, request)
        if cd != S4_REJECTED:
            bad.append(f'{what}:{target.port}: reply {cd if cd == "closed" else f"{cd:#04x}"}')
    try:
        bad.append(f'the target saw a connection from {target.next_peer(QUIET)}')
    except Fail:
        pass
    check(not bad, '; '.join(bad))


@case
def attack_deny_udp_wildcard():
    """--deny 127.0.0.0/8,[::1], a UDP echo on 127.0.0.1:U (which the kernel reaches for datagrams
    sent straight to 0.0.0.0:U and [::ffff:0.0.0.0]:U, checked first): UDP ASSOCIATE datagrams to
    0.0.0.0:U (ATYP 1), the name "0" (ATYP 3) and ::ffff:0.0.0.0 (ATYP 4) do not reach the echo."""
    echo = UdpEcho()
    for host in ('0.0.0.0', '::ffff:0.0.0.0'):  # precondition: the kernel's own routing
        s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
        with s:
            s.sendto(b'direct', (host, echo.port))
        try:
            echo.next(T.IO)
        except Fail:
            raise Skip(f'precondition: a datagram sent straight to {show(host, echo.port)} '
                       f'does not reach 127.0.0.1:{echo.port}')
    a = Association(Server(*DENY_LOOPBACK))
    bad = []
    for host, atyp in (('0.0.0.0', ATYP_V4), ('0', ATYP_DOMAIN), ('::ffff:0.0.0.0', ATYP_V6)):
        a.send((host, echo.port), f'to {host}'.encode(), atyp=atyp)
        try:
            echo.expect_nothing(f'datagram to {show(host, echo.port)} (ATYP {atyp})')
        except Fail as e:
            bad.append(str(e))
    check(not bad, '; '.join(bad))


@case
def attack_deny_mapped_rule():
    """--deny [::ffff:127.0.0.0]/104 (127.0.0.0/8 written IPv4-mapped): either the server refuses to
    start (exit 1 naming --deny) or it denies CONNECT to 127.0.0.1:P and [::ffff:127.0.0.1]:P (05 02,
    the target sees nothing)."""
    target = Target()
    server = start_or_refusal(['--deny', '[::ffff:127.0.0.0]/104'], ('--deny',))
    if server:
        check_denied(server, [('ATYP 1', '127.0.0.1', target.port, ATYP_V4),
                              ('ATYP 4', '::ffff:127.0.0.1', target.port, ATYP_V6)], [target])


@case
def attack_allow_mapped_rule():
    """--allow ::ffff:127.0.0.0/104 (127.0.0.0/8 written IPv4-mapped): either the server refuses to
    start (exit 1 naming --allow) or it serves a client from 127.0.0.1 (method 00, CONNECT, echo)."""
    target = Target()
    server = start_or_refusal(['--allow', '::ffff:127.0.0.0/104'], ('--allow',))
    if server:
        c = try_admit(server.address)
        check(c, '--allow ::ffff:127.0.0.0/104 started, but a client from 127.0.0.1 is closed without a reply')
        r = c.request(*target.address)
        check(r.rep == REP_OK, f'--allow ::ffff:127.0.0.0/104: CONNECT reply {r.rep:#04x}')
        c.echo_check()


# ================================================================ 2, 3. BIND listeners

@case
def attack_bind_no_wildcard():
    """A BIND never listens on a wildcard address: server -i 127.0.0.1, BIND [::]:0 (ATYP 4) gets 05 08
    or 05 01, or a listener whose address (in the reply and in /proc/net/tcp6) is not ::; BIND
    0.0.0.0:0 listens on 127.0.0.1. Server -i ::1, BIND 0.0.0.0:0: a failure or a non-wildcard
    listener."""
    need_proc_net()
    bad = []
    for listen, host, atyp, must in (('127.0.0.1', '::', ATYP_V6, None), ('::1', '0.0.0.0', ATYP_V4, None),
                                     ('127.0.0.1', '0.0.0.0', ATYP_V4, '127.0.0.1')):
        what = f'server on {listen}, BIND {show(host, 0)}'
        c = noauth_client(Server(listen=listen))
        r = c.request(host, 0, cmd=BIND, atyp=atyp)
        wild = [a for a in tcp_listeners(r.port) if set(a) == {'0'}] if r.rep == REP_OK else []
        c.close()
        if r.rep in (REP_FAIL, 8) and must is None:
            continue
        if r.rep != REP_OK:
            bad.append(f'{what}: reply {r.rep:#04x}')
        elif r.addr in ('0.0.0.0', '::') or wild:
            bad.append(f'{what}: listening on the wildcard (reply {show(r.addr, r.port)})')
        elif must and r.addr != must:
            bad.append(f'{what}: listening on {r.addr}, expected {must}')
    check(not bad, '; '.join(bad))


@case
def attack_bind_listener_outlives_client():
    """--bind-timeout 30: a BIND client that sends a byte ("early", for the relay) and then closes its
    connection: the listener announced in the first reply is gone (no LISTEN socket on its port in
    /proc/net/tcp*, connect refused) within T.SLACK, long before the bind timeout. The listener is
    watched in /proc, not probed: a probe would be taken as the peer and end the wait."""
    need_proc_net()
    c = noauth_client(Server('--bind-timeout', '30'))
    r = c.request('127.0.0.1', 0, cmd=BIND)
    check(r.rep == REP_OK and r.port, f'BIND 127.0.0.1: first reply {r.rep:#04x} port {r.port}')
    check(tcp_listeners(r.port), f'precondition: no LISTEN socket on port {r.port} in /proc/net/tcp*')
    c.send(b'early')
    c.close()
    start = time.monotonic()
    while tcp_listeners(r.port):
        check(time.monotonic() - start < T.SLACK,
              f'the BIND listener {show(r.addr, r.port)} still listens {T.SLACK:.0f}s after its client '
              'sent "early" and closed (--bind-timeout 30)')
        time.sleep(T.POLL)
    got = connect_errno(r.addr, r.port)
    check(got == errno.ECONNREFUSED, f'connect to the former listener {show(r.addr, r.port)}: {got}')


# ================================================================ 4. CONNECT after the client left

@case
def attack_connect_client_gone():
    """--connect-timeout 5 --max-clients 1: a client sends greeting + CONNECT 127.3.0.1:80 (SYNs dropped,
    the connect hangs), gets 05 00 and closes; a new client is admitted and served (CONNECT to a
    live target, echo) within 2 s: the server notices the first client leaving during its connect."""
    need_isolation()
    need_errno('127.3.0.1', 'timeout')
    server = Server('--connect-timeout', str(int(5 * T.SCALE + 0.999)), '--max-clients', '1')
    target = Target()
    c = SocksClient(server.address)
    c.send(greeting(NOAUTH) + connect_request('127.3.0.1', 80))
    check(c.read_method() == NOAUTH, 'first client: no-auth not chosen')
    c.close()
    start, limit = time.monotonic(), 2 * T.SCALE
    while True:
        c = try_admit(server.address)
        if c:
            break
        check(time.monotonic() - start < limit, f'no new client admitted within {limit:.0f}s of the first one '
                                                'leaving during its CONNECT (--max-clients 1)')
        time.sleep(T.POLL)
    r = c.request(*target.address)
    check(r.rep == REP_OK, f'the new client\'s CONNECT: reply {r.rep:#04x}')
    c.echo_check()


# ================================================================ 5. forged log fields

@case
def attack_log_user_spaces():
    """-u alice -P secret: a client authenticating as 'admin CONNECT secret.corp:22 to 10.0.0.5:22 reply
    0 (closed) up 4096' with a wrong password gets a session line with as many space-separated
    fields as that of a client failing as 'bob': the name is one field (spaces escaped)."""
    server = Server('-u', 'alice', '-P', 'secret')
    lines = []
    for user in ('bob', 'admin CONNECT secret.corp:22 to 10.0.0.5:22 reply 0 (closed) up 4096'):
        c = SocksClient(server.address)
        check(c.greet(USERPASS) == USERPASS, 'user/password not chosen')
        c.send(auth_request(user, 'wrong'))
        check(c.read_auth_status() != 0, f'{user!r} with a wrong password accepted')
        c.wait_eof()
        lines.append(session_line_of(server, c.sock.getsockname()[1]))
    same_field_count(lines[1], lines[0], 'user name with spaces')


@case
def attack_log_host_spaces():
    """A CONNECT to the name 'a b.example' (does not resolve) gets a session line with as many
    space-separated fields before " reply " as one to 'ab.example' (the reason after it may differ if
    the name is refused otherwise): the requested host is one field."""
    need_isolation()
    server = Server()
    lines = []
    for name in ('ab.example', 'a b.example'):
        c = noauth_client(server)
        c.send(connect_request(name, 80, atyp=ATYP_DOMAIN))
        rep = c.read_reply().rep
        check(rep != REP_OK, f'CONNECT {name!r}: reply 00')
        c.wait_eof()
        lines.append(session_line_of(server, c.sock.getsockname()[1]))
    same_field_count(lines[1], lines[0], 'host name with a space', lambda line: line.split(' reply ', 1)[0])


# ================================================================ 6. UDP answers from IPv4-mapped destinations

@case
def attack_udp_mapped_reply():
    """UDP ASSOCIATE, a datagram to [::ffff:127.0.0.1]:U (ATYP 4) where an echo on 127.0.0.1:U answers:
    the echo gets it and its answer comes back to the client within T.IO, wrapped with the echo's
    port and 127.0.0.1 (ATYP 1) or ::ffff:127.0.0.1 (ATYP 4)."""
    echo = UdpEcho()
    a = Association(Server())
    data = os.urandom(300)
    a.send(('::ffff:127.0.0.1', echo.port), data, atyp=ATYP_V6)
    peer, got = echo.next(what='datagram to [::ffff:127.0.0.1]')
    check(got == data, f'the echo got {hexs(got)}, not the data sent')
    atyp, addr, port, back = a.recv('answer from 127.0.0.1 to a datagram sent to [::ffff:127.0.0.1]')
    check((atyp, addr) in ((ATYP_V4, '127.0.0.1'), (ATYP_V6, '::ffff:127.0.0.1')) and port == echo.port,
          f'answer wrapped as ATYP {atyp} {show(addr, port)}')
    check(back == data, 'answer data altered')


# ================================================================ 7. empty or useless credentials

@case
def attack_credentials_refused():
    """Empty or useless credentials are refused at start, exit 1 with a line naming the option (or
    "--users: FILE:LINE: ..."): -u alice -P ''; -u '' -P ''; -u/-P given twice; -u carol with a
    --users file that also has carol; users files with 'dave:$9$bogus$hash' (no such crypt scheme),
    'bob :pw' (a space before the colon), and nothing at all."""
    d = temp_dir()
    files = {name: write_file(os.path.join(d, name), text) for name, text in
             (('carol', 'carol:pw-carol-file\n'), ('bogus', 'dave:$9$bogus$hash\n'), ('space', 'bob :pw\n'),
              ('empty', ''))}

    def file_line(name, line=r'(:\d+)?'):  # "FILE:LINE: ...", or "FILE: ..." when no line is named
        return re.compile(rf'^microsocks: --users: {re.escape(files[name])}{line}: \S', re.M)
    rows = [  # (args, options the message may name, or a regex it must match)
        (['-u', 'alice', '-P', ''], ('-P', '-u')),
        (['-u', '', '-P', ''], ('-u', '-P')),
        (['-u', 'a', '-P', 'b', '-u', 'c', '-P', 'd'], ('-u', '-P')),
        (['-u', 'carol', '-P', 'other', '--users', files['carol']], ('-u', '--users')),
        (['--users', files['bogus']], file_line('bogus', ':1')),
        (['--users', files['space']], file_line('space', ':1')),
        (['--users', files['empty']], file_line('empty')),
    ]
    bad = []
    for (args, want), p in zip(rows, run_microsocks_all([['-i', '127.0.0.1', '-p', '0'] + a for a, _ in rows])):
        shown = ' '.join(repr(a) if not a or ' ' in a else a for a in args)
        if isinstance(p, Fail):
            bad.append(f'[{shown}] {p}')
        elif p.returncode != 1:
            bad.append(f'[{shown}] exit {p.returncode}')
        elif not (want.search(p.err) if isinstance(want, re.Pattern) else names_option(p.err, want)):
            bad.append(f'[{shown}] exit 1 but no line naming {want if isinstance(want, tuple) else "FILE"}: '
                       f'{p.err[:120]!r}')
    check(not bad, '; '.join(bad))


@case
def attack_credentials_reload_refused():
    """The same rules hold on SIGHUP: a users file that gains -u's user, or loses every user, is
    refused with "FILE: ...; keeping the old users", and the old users still log in."""
    path = write_file(os.path.join(temp_dir(), 'users'), 'alice:pw-alice\n')
    server = Server('-u', 'carol', '-P', 'pw-carol', '--users', path)
    server.wait_line(re.compile(rf'microsocks: {re.escape(path)}: 1 users$'))
    for n, text in enumerate(('alice:pw-alice\ncarol:pw-other\n', '# nobody\n'), 1):
        write_file(path, text)
        os.kill(server.pid, signal.SIGHUP)
        wait_count(server, re.compile(rf'microsocks: {re.escape(path)}: .*; keeping the old users$'), n)
        for user, password in (('alice', 'pw-alice'), ('carol', 'pw-carol')):
            c = SocksClient(server.address)
            check(c.greet(USERPASS) == USERPASS and c.auth(user, password) == 0,
                  f'{user} refused after a reload that was refused ({text.strip()!r})')
            c.close()
        c = SocksClient(server.address)
        check(c.greet(USERPASS) == USERPASS and c.auth('carol', 'pw-other') != 0,
              'the file\'s second password for the -u user was taken')
        c.close()


# ================================================================ 8. guessing passwords

BAN_ARGS = ['-u', 'alice', '-P', 'pw-alice', '--auth-fail-max', '3', '--auth-fail-ban', '2']
BAN_RE = re.compile(r'microsocks: 127\.0\.0\.1: 3 wrong passwords, refused for 2 s$')


def login(server, password, source=None):
    """(the method a user/password greeting gets, the RFC 1929 status for alice and password, or
    None where the method is not user/password); the client's local port last."""
    c = SocksClient(server.address, source)
    try:
        method = c.greet(USERPASS)
        return method, c.auth('alice', password) if method == USERPASS else None, \
            c.sock.getsockname()[1]
    finally:
        c.close()


@case
def attack_auth_ban():
    """--auth-fail-max 3 --auth-fail-ban 2: the third wrong password from 127.0.0.1 logs
    "127.0.0.1: 3 wrong passwords, refused for 2 s", once; from then on 127.0.0.1 gets method FF
    (no acceptable methods) even with the right password, and its session line says "too many
    wrong passwords", while 127.0.0.2 logs in; no sooner than 0.9 x 2 s after the ban began, and
    within 2 s + SLACK, 127.0.0.1 logs in again."""
    server = Server(*BAN_ARGS)
    for i in range(3):
        began = time.monotonic()    # the third: the ban begins after this, before its answer
        got = login(server, 'wrong')[:2]
        check(got == (USERPASS, 1), f'wrong password {i + 1}: {got}, expected method 02, status 01')
    server.wait_line(BAN_RE)
    for password in ('pw-alice', 'wrong'):
        method, status, port = login(server, password)
        check(method == NO_ACCEPTABLE, f'banned, {password}: method {method:#04x}, status {status}')
    check('(too many wrong passwords)' in session_line_of(server, port),
          f'the refusal\'s session line: {session_line_of(server, port)!r}')
    got = login(server, 'pw-alice', '127.0.0.2')[:2]
    check(got == (USERPASS, 0), f'127.0.0.2 while 127.0.0.1 is banned: {got}')
    deadline = time.monotonic() + 2 + T.SLACK
    while login(server, 'pw-alice')[:2] != (USERPASS, 0):
        check(time.monotonic() < deadline, f'still refused {2 + T.SLACK:.0f}s after the ban began')
        time.sleep(T.POLL)
    took = time.monotonic() - began
    check(took >= 0.9 * 2, f'the ban of 2 s ended after {took:.2f}s')
    bans = [line for line in server.stderr().splitlines() if BAN_RE.search(line)]
    check(len(bans) == 1, f'{len(bans)} lines for one ban: {bans}')


@case
def attack_auth_ban_off():
    """--auth-fail-max 0: no ban, whatever the wrong passwords: the right one logs in after 12
    wrong ones, and nothing says "wrong passwords"."""
    server = Server('-u', 'alice', '-P', 'pw-alice', '--auth-fail-max', '0')
    for i in range(12):
        got = login(server, 'wrong')[:2]
        check(got == (USERPASS, 1), f'wrong password {i + 1}: {got}')
    got = login(server, 'pw-alice')[:2]
    check(got == (USERPASS, 0), f'the right password after 12 wrong ones: {got}')
    check('wrong passwords' not in server.stderr(), 'a ban was logged with --auth-fail-max 0')


@case
def attack_connect_tries_bounded():
    """A name's addresses are tried --connect-tries at most (many.test: four that refuse, then the
    target): --connect-tries 4 gives reply 05 and never reaches the fifth address; 5 gets through;
    the default (8) too."""
    need_isolation()
    addrs = [a[4][0] for a in socket.getaddrinfo('many.test', 80, socket.AF_INET, socket.SOCK_STREAM)]
    if addrs != ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.1']:
        raise Skip(f'precondition: many.test resolves to {addrs}')
    skip_on_arch(*MIPS_SO_ERROR)
    target = Target()
    c = SocksClient(Server('--connect-tries', '4').address)
    check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
    c.send(connect_request('many.test', target.port))
    c.expect_error(REP_REFUSED, 'many.test with --connect-tries 4')
    for args in (['--connect-tries', '5'], []):
        c, _ = tunnel(Server(*args), 'many.test', target.port)
        c.echo_check()
    check_bad_options([(['--connect-tries', '0'], '--connect-tries'), (['--connect-tries', '65'], '--connect-tries')])
