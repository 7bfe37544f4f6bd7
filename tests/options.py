"""Black-box cases for the command line: bad options and values, -h/--help and -V, the --opt=value
forms, -p 0 and a port in use, -P hidden from /proc/PID/cmdline and from the log, and -q.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import re
import socket
import time

from harness import (
    ISOLATED, PASSWORD, T, USER, USERPASS, WRONG_PASSWORD, Server, SocksClient, Target, auth_server,
    case, check, check_bad_options, connect_errno, defer, free_port, need_native, run_microsocks,
    tunnel)


# ================================================================ command line

BAD_OPTIONS = [
    (['-p', '70000'], '-p'), (['-p', '-5'], '-p'), (['-p', 'abc'], '-p'), (['-p', '80x'], '-p'),
    (['-p', ''], '-p'), (['-p'], '-p'),
    (['--idle-timeout', '0'], '--idle-timeout'), (['--idle-timeout=abc'], '--idle-timeout'),
    (['--handshake-timeout', '2000001'], '--handshake-timeout'),
    (['--connect-timeout='], '--connect-timeout'), (['--halfclose-timeout', '-1'], '--halfclose-timeout'),
    (['--idle-timeout'], '--idle-timeout'),
    (['--bind-timeout', '0'], '--bind-timeout'), (['--bind-timeout=abc'], '--bind-timeout'),
    (['--bind-timeout', '2000001'], '--bind-timeout'), (['--bind-timeout'], '--bind-timeout'),
    (['-u', USER], ('-u', '-P')), (['-P', PASSWORD], ('-u', '-P')), (['-u', USER, '-P'], '-P'),
    (['-1'], '-1'), (['-w', '127.0.0.1'], '-w'),
    (['-u', 'x' * 256, '-P', PASSWORD], '-u'), (['-u', USER, '-P', 'y' * 256], '-P'),
    (['-x'], '-x'), (['--bogus'], '--bogus'), (['stray'], 'stray'),
]


# resolving these names is only safe inside the namespace (resolv.conf -> 127.0.0.1)
BAD_OPTIONS_ISOLATED = [
    (['-b', 'nosuchhost.invalid'], '-b'), (['-i', 'nosuchhost.invalid'], '-i'),
    (['-u', USER, '-P', PASSWORD, '-w', 'nosuchhost.invalid'], '-w'),
]


@case
def bad_options():
    """Every bad option/value: exit 1, a "microsocks: <option>: ..." line and the usage on stderr."""
    check_bad_options(BAD_OPTIONS + (BAD_OPTIONS_ISOLATED if ISOLATED else []))


@case
def bind_option():
    """--bind-timeout 0 / abc / 2000001 / no value: exit 1 naming the option (rows of the bad-options
    table); --bind-timeout=2000000 and --bind-timeout 1 are accepted and the server serves."""
    check_bad_options([row for row in BAD_OPTIONS if row[1] == '--bind-timeout'])
    target = Target()
    for args in (['--bind-timeout=2000000'], ['--bind-timeout', '1']):
        c, _ = tunnel(Server(*args), '127.0.0.1', target.port)
        c.echo_check()


@case
def help_and_version():
    """-h and --help print the usage to stdout and exit 0; -V prints "microsocks VERSION"."""
    for opt in ('-h', '--help'):
        p = run_microsocks([opt])
        check(p.returncode == 0, f'{opt}: exit {p.returncode}')
        check('usage' in p.out.lower(), f'{opt}: no usage on stdout')
    p = run_microsocks(['-V'])
    check(p.returncode == 0, f'-V: exit {p.returncode}')
    check(re.match(r'microsocks \S+', p.out), f'-V printed {p.out!r}')


@case
def valid_option_forms():
    """--opt=value and --opt value forms (up to 2000000) work together with -w/-u/-P; it serves."""
    server = auth_server('--idle-timeout=2000000', '--handshake-timeout', '5', '--connect-timeout=5',
                         '--halfclose-timeout', '30', '-w', '127.0.0.1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def port_zero():
    """-p 0: two servers get distinct non-zero ports from the kernel and both serve."""
    servers = [Server(), Server()]
    target = Target()
    ports = {s.port for s in servers}
    check(0 not in ports and len(ports) == 2, f'ports {ports}')
    for s in servers:
        c, _ = tunnel(s, '127.0.0.1', target.port)
        c.echo_check()


@case
def listen_port_in_use():
    """A port already in use: exit 1 with "microsocks: <addr>...: <the libc's text for EADDRINUSE>"."""
    busy = socket.socket()
    defer(busy.close)
    busy.bind(('127.0.0.1', 0))
    busy.listen()
    p = run_microsocks(['-i', '127.0.0.1', '-p', str(busy.getsockname()[1])])
    check(p.returncode == 1, f'exit {p.returncode}')
    # glibc says "Address already in use", musl "Address in use"
    check(re.search(r'microsocks: .*127\.0\.0\.1.*: Address (already )?in use', p.err), f'stderr: {p.err[:200]!r}')


@case
def password_hidden_in_cmdline():
    """-P password is wiped from /proc/PID/cmdline, and still works for authentication."""
    need_native("/proc/PID/cmdline is the emulator's own copy of the arguments, which the server cannot reach")
    server = auth_server()
    with open(f'/proc/{server.pid}/cmdline', 'rb') as f:
        cmdline = f.read()
    check(PASSWORD.encode() not in cmdline, f'password visible in cmdline: {cmdline!r}')
    c = SocksClient(server.address)
    check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
    check(c.auth(USER, PASSWORD) == 0, 'correct password rejected after wiping argv')


@case
def password_not_logged():
    """With -u/-P, neither the configured nor a wrong password appears in the log."""
    server = auth_server()
    target = Target()
    for password in (WRONG_PASSWORD, PASSWORD):
        c = SocksClient(server.address)
        check(c.greet(USERPASS) == USERPASS, 'user/password method not chosen')
        c.auth(USER, password)
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD)
    c.echo_check()
    port = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'127\.0\.0\.1:{port}\D.*(close|bytes)', re.I))  # logged its close
    problems = server.stop()
    log = server.stderr()
    check(PASSWORD not in log and WRONG_PASSWORD not in log, 'a password appears in the log')
    check(not problems, '; '.join(problems))


@case
def quiet():
    """-q: nothing at all on stderr, even with clients and errors."""
    port = free_port()
    server = Server('-q', port=port, wait_listening=False)
    target = Target()
    deadline = time.monotonic() + T.START
    while connect_errno('127.0.0.1', port) is not None:
        check(server.alive() and time.monotonic() < deadline, 'server with -q never listened')
        time.sleep(T.POLL)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    c.close()
    c = SocksClient(server.address)
    c.greet(USERPASS)
    problems = server.stop()
    check(not problems, '; '.join(problems))
    check(server.stderr() == '', f'-q but stderr: {server.stderr()[:200]!r}')
