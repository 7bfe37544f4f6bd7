"""Black-box cases for CONNECT: the error replies, IPv4/IPv6/domain destinations and BND.ADDR,
-i and -b addresses, the relay (half close, a large transfer, many tunnels), the idle and
half-close timeouts, and running out of file descriptors.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import time

from harness import (
    ATYP_V4, ATYP_V6, CONNECT, MIPS_SO_ERROR, NOAUTH, REP_ATYP, REP_CMD, REP_FAIL, REP_HOST_UNREACH,
    REP_NET_UNREACH, REP_OK, REP_REFUSED, REP_TTL, T, Closed, Fail, Server, Skip, SocksClient, Target,
    case, check, closed_port, connect_errno, connect_request, defer, duplex, error_reply,
    expect_closed_between, expect_connect_error, greeting, hexs, need_errno, need_isolation,
    noauth_client, recv_until_eof, reserve_port, skip_on_arch, tunnel)


# ================================================================ reply codes

@case
def reply_refused():
    """CONNECT to a closed port on 127.0.0.1 -> 05 05, then close."""
    skip_on_arch(*MIPS_SO_ERROR)
    expect_connect_error(Server(), '127.0.0.1', closed_port(), REP_REFUSED)


@case
def reply_net_unreachable():
    """CONNECT to 127.1.0.1 (no route in the namespace, ENETUNREACH) -> 05 03."""
    need_isolation()
    need_errno('127.1.0.1', 101)
    expect_connect_error(Server(), '127.1.0.1', 80, REP_NET_UNREACH)


@case
def reply_host_unreachable():
    """CONNECT to 127.2.0.1 (unreachable route, EHOSTUNREACH) -> 05 04."""
    need_isolation()
    need_errno('127.2.0.1', 113)
    expect_connect_error(Server(), '127.2.0.1', 80, REP_HOST_UNREACH)


@case
def reply_unresolvable_name():
    """CONNECT to nosuchhost.invalid (does not resolve) -> 05 04."""
    need_isolation()
    expect_connect_error(Server(), 'nosuchhost.invalid', 80, REP_HOST_UNREACH)


def expect_connect_timeout(host, port):
    c = noauth_client(Server('--connect-timeout', '1'))
    start = time.monotonic()
    c.send(connect_request(host, port))
    got = c.recv_exact(10, timeout=1 + T.SLACK)
    elapsed = time.monotonic() - start
    check(got == error_reply(REP_TTL), f'expected 05 06 reply, got {hexs(got)}')
    check(elapsed >= T.EARLY, f'05 06 after only {elapsed:.2f}s with --connect-timeout 1')
    c.wait_eof()


@case
def reply_connect_timeout_full_backlog():
    """--connect-timeout 1, target a listener whose accept queue is full (SYNs dropped) -> 05 06."""
    listener = socket.socket()
    defer(listener.close)
    listener.bind(('127.0.0.1', 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    for _ in range(64):
        probe = connect_errno('127.0.0.1', port, timeout=0.3)
        if probe == 'timeout':  # SYNs are dropped now
            break
        check(probe is None, f'precondition: connect to the listener failed: errno {probe}')
        filler = socket.socket()
        defer(filler.close)
        filler.setblocking(False)
        filler.connect_ex(('127.0.0.1', port))
    else:
        raise Fail('precondition: could not fill the accept queue')
    expect_connect_timeout('127.0.0.1', port)


@case
def reply_connect_timeout_dropped_syn():
    """--connect-timeout 1, target 127.3.0.1 (routed to lo, SYNs dropped as martians) -> 05 06."""
    need_isolation()
    need_errno('127.3.0.1', 'timeout')
    expect_connect_timeout('127.3.0.1', 80)


@case
def reply_command_not_supported():
    """cmd 0 and cmd 9 -> 05 07, then close (BIND and UDP ASSOCIATE: see the bind_ and udp_ cases)."""
    server = Server()
    target = Target()
    for cmd in (0, 9):
        c = noauth_client(server)
        c.send(connect_request('127.0.0.1', target.port, cmd=cmd))
        c.expect_error(REP_CMD, f'cmd {cmd}')


@case
def reply_address_type_not_supported():
    """ATYP 5 -> 05 08, then close."""
    c = noauth_client(Server())
    c.send(bytes([5, CONNECT, 0, 5, 127, 0, 0, 1, 0, 80]))
    c.expect_error(REP_ATYP, 'ATYP 5')


@case
def reply_general_failure():
    """Request version byte 4, an empty domain name, a name with a NUL -> 05 01, then close."""
    server = Server()
    target = Target()
    bad = {'request version 4': connect_request('127.0.0.1', target.port, version=4),
           'empty domain': connect_request('', target.port, atyp=3),
           'domain with NUL': connect_request(b'local\0host', target.port, atyp=3)}
    for what, request in bad.items():
        c = noauth_client(server)
        c.send(request)
        c.expect_error(REP_FAIL, what)


# ================================================================ destinations and BND

def check_bnd(target, reply, atyp):
    peer = target.next_peer()
    check(reply.atyp == atyp, f'reply ATYP {reply.atyp}, expected {atyp}')
    check((reply.addr, reply.port) == peer, f'BND {reply.addr}:{reply.port} but the target saw {peer}')


@case
def connect_ipv4_bnd():
    """CONNECT 127.0.0.1: echo works; BND.ADDR/PORT (ATYP 1) = the peer address the target saw."""
    server = Server()
    target = Target()
    c, r = tunnel(server, '127.0.0.1', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_ipv6_bnd():
    """CONNECT [::1]: echo works; BND.ADDR/PORT (ATYP 4) = the peer address the target saw."""
    server = Server()
    target = Target(host='::1')
    c, r = tunnel(server, '::1', target.port)
    check_bnd(target, r, ATYP_V6)
    c.echo_check()


@case
def connect_domain_localhost():
    """CONNECT localhost (::1, 127.0.0.1) with the target only on 127.0.0.1 -> falls through to it."""
    need_isolation()
    server = Server()
    target = Target()
    reserve_port('::1', target.port)
    c, r = tunnel(server, 'localhost', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_domain_multi():
    """CONNECT multi.test (127.0.0.5 refuses, then 127.0.0.1) -> second address used."""
    need_isolation()
    addrs = [a[4][0] for a in socket.getaddrinfo('multi.test', 80, 0, socket.SOCK_STREAM)]
    if addrs != ['127.0.0.5', '127.0.0.1']:
        raise Skip(f'precondition: multi.test resolves to {addrs}')
    server = Server()
    target = Target()
    reserve_port('127.0.0.5', target.port)
    c, r = tunnel(server, 'multi.test', target.port)
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def connect_domain_v6only():
    """CONNECT v6only.test (only ::1) -> works, reply ATYP 4."""
    need_isolation()
    server = Server()
    target = Target(host='::1')
    c, r = tunnel(server, 'v6only.test', target.port)
    check_bnd(target, r, ATYP_V6)
    c.echo_check()


@case
def listen_ipv6():
    """-i ::1: the log says [::1]:PORT and clients connecting to ::1 are served."""
    server = Server(listen='::1')
    check(re.search(r'listening on \[::1\]:\d+', server.stderr()), 'no "listening on [::1]:PORT" line')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def bind_address():
    """-b 127.0.0.2: the target sees 127.0.0.2 as its peer and BND.ADDR says 127.0.0.2."""
    server = Server('-b', '127.0.0.2')
    target = Target()
    c, r = tunnel(server, '127.0.0.1', target.port)
    check(r.addr == '127.0.0.2', f'BND.ADDR {r.addr}, expected 127.0.0.2')
    check_bnd(target, r, ATYP_V4)
    c.echo_check()


@case
def bind_address_family_first():
    """-b 127.0.0.2, CONNECT localhost with targets on ::1 and 127.0.0.1 -> IPv4 tried first."""
    need_isolation()
    server = Server('-b', '127.0.0.2')
    target4 = Target()
    try:
        target6 = Target(host='::1', port=target4.port)
    except OSError as e:
        raise Skip(f'cannot listen on [::1]:{target4.port}: {e}')
    c, r = tunnel(server, 'localhost', target4.port)
    check(target6.peers.empty(), f'connected to ::1 first (peer {target6.peers.queue})')
    check(r.addr == '127.0.0.2', f'BND.ADDR {r.addr}, expected 127.0.0.2')
    check_bnd(target4, r, ATYP_V4)
    c.echo_check()


# ================================================================ relay

@case
def half_close_client_first():
    """Client sends a request and shuts down writing; the target reads EOF, then answers 1 MiB
    and closes; the client receives all of it."""
    request, response = os.urandom(5000), os.urandom(1 << 20)

    def handler(conn):
        got = recv_until_eof(conn)
        conn.sendall(response)
        return got

    server = Server()
    target = Target(handler)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.send(request)
    c.sock.shutdown(socket.SHUT_WR)
    got = c.recv_until_eof()
    check(target.result() == request, 'target did not receive the request intact')
    check(got == response, f'client got {len(got)} bytes of the {len(response)}-byte response')


@case
def half_close_target_first():
    """Target sends a banner and shuts down writing; the client reads it up to EOF, then sends
    1 MiB and shuts down; the target receives all of it."""
    banner, upload = os.urandom(3000), os.urandom(1 << 20)

    def handler(conn):
        conn.sendall(banner)
        conn.shutdown(socket.SHUT_WR)
        return recv_until_eof(conn)

    server = Server()
    target = Target(handler)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    check(c.recv_until_eof() == banner, 'client did not get the banner intact before EOF')
    c.send(upload)
    c.sock.shutdown(socket.SHUT_WR)
    got = target.result()
    check(got == upload, f'target got {len(got)} of {len(upload)} bytes after its own EOF')


def target_data_segments(port):
    """Data segments the target's one established socket on port has received, from ss."""
    p = subprocess.run(['ss', '-Htin', 'state', 'established', f'sport = :{port}'], capture_output=True,
                       timeout=T.PROGRAM)
    m = re.findall(rb'data_segs_in:(\d+)', p.stdout)
    check(len(m) == 1, f'ss: expected one socket on port {port}: {p.stdout!r} {p.stderr!r}')
    return int(m[0])


def first_message(size):
    """A fresh tunnel to a target that takes size bytes; returns (seconds from the client's send to
    the last byte at the target, the data segments that carried them)."""
    arrived = threading.Event()
    leave = threading.Event()
    defer(leave.set)

    def handler(conn):
        got = b''
        while len(got) < size:
            data = conn.recv(65536)
            if not data:
                break
            got += data
        arrived.set()
        leave.wait(T.IO)
        return got

    message = os.urandom(size)
    target = Target(handler)
    c, _ = tunnel(Server(), '127.0.0.1', target.port)
    start = time.monotonic()
    c.send(message)
    check(arrived.wait(T.IO), f'{size} bytes did not reach the target')
    elapsed = time.monotonic() - start
    segments = target_data_segments(target.port)
    leave.set()
    check(target.result() == message, f'the target did not get the {size} bytes intact')
    return elapsed, segments


@case
def relay_message_one_segment():
    """A 4000-byte message, larger than the relay's small buffer, reaches the target in one TCP
    segment (ss data_segs_in), not split where the small buffer ended."""
    if not shutil.which('ss'):
        raise Skip('ss not installed (Debian package iproute2)')
    _, segments = first_message(4000)
    check(segments == 1, f'4000 bytes came in {segments} segments')


@case
def relay_kilobyte_not_held():
    """A message of exactly the small buffer's size (1024 bytes) is not held back waiting for a
    rest that does not come: held, it would wait 200 ms for the kernel's cork timer. Best of 3."""
    best = min(first_message(1024)[0] for _ in range(3))
    check(best < 0.15, f'1024 bytes took {best * 1000:.0f} ms at best')


@case
def large_transfer():
    """100 MiB each way at the same time through one tunnel, both checked by SHA-256."""
    nbytes = 100 << 20
    server = Server()
    target = Target(lambda conn: duplex(conn, nbytes, T.TRANSFER), timeout=T.TRANSFER)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    up, down = duplex(c.sock, nbytes, T.TRANSFER)
    t_sent, t_received = target.result(T.TRANSFER)
    check(t_received == up, f'upload: sent {up}, target received {t_received}')
    check(down == t_sent, f'download: target sent {t_sent}, client received {down}')


@case
def concurrent_clients():
    """50 tunnels open at once, each echoing its own data."""
    server = Server()
    target = Target()
    clients = [tunnel(server, '127.0.0.1', target.port)[0] for _ in range(50)]
    for i, c in enumerate(clients):
        c.echo_check(os.urandom(1000 + i))


# ================================================================ idle timeouts

@case
def idle_timeout():
    """--idle-timeout 1: a tunnel without traffic is closed after ~1 s (client and target see EOF)."""
    server = Server('--idle-timeout', '1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    start = time.monotonic()
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'idle tunnel')
    target.result()


@case
def halfclose_timeout():
    """--halfclose-timeout 1: after the client's EOF, a silent target direction is closed after ~1 s."""
    server = Server('--halfclose-timeout', '1')
    done = threading.Event()
    target = Target(lambda conn: (recv_until_eof(conn), done.wait(T.IO)))
    defer(done.set)
    c, _ = tunnel(server, '127.0.0.1', target.port)
    start = time.monotonic()
    c.sock.shutdown(socket.SHUT_WR)
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'half-closed tunnel')


# ================================================================ resources

def try_tunnel(server, port):
    """'ok' (client kept), 'refused' (closed or 05 01); anything else fails."""
    try:
        c = noauth_client(server)
        r = c.request('127.0.0.1', port)
    except (Closed, ConnectionError):
        return 'refused', None
    if r.rep == REP_FAIL:
        return 'refused', None
    check(r.rep == REP_OK, f'unexpected reply {r.rep:#04x} at the fd limit')
    return 'ok', c


@case
def fd_exhaustion():
    """RLIMIT_NOFILE 32 and 40 tunnels: extra clients are closed or get 05 01, no crash or spin,
    open tunnels keep working, and a new client is served once the others closed."""
    server = Server(nofile=32)
    target = Target()
    outcomes = [try_tunnel(server, target.port) for _ in range(40)]
    held = [c for kind, c in outcomes if kind == 'ok']
    check(held, 'no tunnel at all could be established')
    check(len(held) < 40, '40 tunnels with RLIMIT_NOFILE 32: the limit was never hit')
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    extra = SocksClient(server.address)
    extra.send(greeting(NOAUTH))
    time.sleep(1.0)  # measurement window (not synchronisation): a spinning server burns CPU here
    cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    check(cpu < 0.5, f'server used {cpu:.0%} CPU while at the fd limit')
    for c in held:
        c.echo_check(b'still alive')
        c.close()
    extra.close()
    deadline = time.monotonic() + T.IO
    while True:
        kind, c = try_tunnel(server, target.port)
        if kind == 'ok':
            break
        check(time.monotonic() < deadline, 'no client served after the others closed')
        time.sleep(T.POLL)
    c.echo_check()
    check(server.alive(), 'server died')
