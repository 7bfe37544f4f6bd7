"""Black-box cases for BIND (SOCKS5 and SOCKS4): the two replies, the listener's address and
family, the peer check, timeouts, pipelining, concurrent BINDs, a large transfer, no fd leak.

Imported by tests/runner.py; the cases register with harness's @case. tests/rules.py uses its
helpers.
"""

import os
import re
import socket
import threading
import time

from harness import (
    ATYP_V4, ATYP_V6, BIND, NOAUTH, REP_ATYP, REP_NOT_ALLOWED, REP_OK, REP_TTL, S4_BIND, SOCKS4_REJECT,
    T, Server, SocksClient, Target, case, check, connect_request, connect_to, duplex, error_reply,
    expect_closed_between, greeting, hexs, is_readable, need_isolation, noauth_client, open_fds,
    recv_exact, recv_until_eof, tunnel, wait_eof, wait_fds_down_to, wait_refused)
from socks4 import check_granted4


# ================================================================ BIND

def check_bind_first(r, what):
    """A SOCKS5 BIND's first reply must be 05 00 with a non-zero port."""
    check(r.rep == REP_OK, f'{what}: first reply {r.rep:#04x}')
    check(r.port != 0, f'{what}: first reply names port 0 ({r.addr})')
    return r


def bind_first(c, host, port=0, atyp=None):
    """Send a SOCKS5 BIND for host:port; returns its (checked) first reply."""
    return check_bind_first(c.request(host, port, cmd=BIND, atyp=atyp), f'BIND {host}')


def check_listening(r, atyp, addr, what):
    check((r.atyp, r.addr) == (atyp, addr),
          f'{what}: listening on {r.addr} (ATYP {r.atyp}), expected {addr} (ATYP {atyp})')


def bind_peer(c, address, source, atyp=None):
    """Connect a peer to address from source; it sends a banner at once. SOCKS5 (atyp given): the
    second reply must be 05 00 with that ATYP, else SOCKS4: 00 5A; either naming the peer's own
    address, and the banner follows the reply. Returns the peer."""
    peer = connect_to(address, source)
    banner = os.urandom(100)
    peer.sendall(banner)
    if atyp is None:
        r = c.read_reply4()
        check_granted4(r, 'SOCKS4 BIND second reply')
    else:
        r = c.read_reply()
        check(r.rep == REP_OK, f'BIND second reply {r.rep:#04x}')
        check(r.atyp == atyp, f'BIND second reply ATYP {r.atyp}, expected {atyp}')
    name = peer.getsockname()[:2]
    check((r.addr, r.port) == name, f'second reply names {r.addr}:{r.port}, but the peer is {name}')
    check(c.recv_exact(len(banner)) == banner, 'the banner the peer sent at once came altered')
    return peer


def check_bind_relay(c, peer, client_first=False):
    """Data both ways between the BIND client and its peer; then half-close: one side's EOF
    (the peer's, or the client's when client_first) reaches the other side, which can still
    send; finally its EOF reaches the first side."""
    to_peer, to_client, late = os.urandom(5000), os.urandom(7000), os.urandom(3000)
    c.send(to_peer)
    check(recv_exact(peer, len(to_peer)) == to_peer, 'client -> peer: data altered')
    peer.sendall(to_client)
    check(c.recv_exact(len(to_client)) == to_client, 'peer -> client: data altered')
    first, second = (c.sock, peer) if client_first else (peer, c.sock)
    names = ('client', 'peer') if client_first else ('peer', 'client')
    first.shutdown(socket.SHUT_WR)
    got = recv_until_eof(second)
    check(got == b'', f'{names[1]} got {len(got)} unexpected bytes before the {names[0]}\'s EOF')
    second.sendall(late)
    check(recv_exact(first, len(late)) == late,
          f'{names[1]} -> {names[0]} after the {names[0]}\'s EOF: data altered')
    second.shutdown(socket.SHUT_WR)
    wait_eof(first)


@case
def bind_socks5():
    """BIND 127.0.0.1:0 -> 05 00 naming a listening 127.0.0.1:PORT (the client connection's local
    address); a peer from 127.0.0.1 -> second 05 00 naming the peer, the listener is gone; data
    both ways, half-close."""
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    check_listening(r, ATYP_V4, '127.0.0.1', 'BIND 127.0.0.1')
    check(not is_readable(c.sock), 'second reply (or EOF) before any peer connected')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    wait_refused((r.addr, r.port), 'BIND listener after its one peer')
    check_bind_relay(c, peer)


@case
def bind_ipv6():
    """BIND ATYP 4 ::1 -> an IPv6 listener (ATYP 4) on [::1] for a client on ::1; a peer from ::1
    gets through (second reply ATYP 4 naming it), data both ways. A client on 127.0.0.1 has no IPv6
    address to listen on: 05 08, never a wildcard listener."""
    c = noauth_client(Server(listen='::1'))
    r = bind_first(c, '::1')
    check_listening(r, ATYP_V6, '::1', 'BIND ::1 via a server on ::1')
    peer = bind_peer(c, ('::1', r.port), '::1', ATYP_V6)
    check_bind_relay(c, peer)
    c = noauth_client(Server(listen='127.0.0.1'))
    c.send(connect_request('::1', 0, cmd=BIND))
    c.expect_error(REP_ATYP, 'BIND ::1 via a server on 127.0.0.1')


@case
def bind_mapped_peer():
    """BIND ATYP 4 ::ffff:127.0.0.1 is BIND 127.0.0.1: for a client on 127.0.0.1 an IPv4 listener
    on 127.0.0.1 (it was 05 08: no IPv6 address to listen on), and the peer from 127.0.0.1 gets
    through."""
    c = noauth_client(Server(listen='127.0.0.1'))
    r = bind_first(c, '::ffff:127.0.0.1', atyp=ATYP_V6)
    check_listening(r, ATYP_V4, '127.0.0.1', 'BIND ::ffff:127.0.0.1 via a server on 127.0.0.1')
    peer = bind_peer(c, ('127.0.0.1', r.port), '127.0.0.1', ATYP_V4)
    check_bind_relay(c, peer)


@case
def bind_domain():
    """BIND v6only.test -> IPv6 listener, a peer from ::1 works; BIND v4only.test -> IPv4 listener,
    a peer from 127.0.0.1 works (the family of the name's first address); each from a client that
    reached the dual-stack server (-i ::) over that family."""
    need_isolation()
    server = Server(listen='::')
    for name, atyp, host in (('v6only.test', ATYP_V6, '::1'), ('v4only.test', ATYP_V4, '127.0.0.1')):
        c = SocksClient((host, server.port))
        check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
        r = bind_first(c, name)
        check(r.atyp == atyp, f'BIND {name}: listener ATYP {r.atyp}, expected {atyp}')
        peer = bind_peer(c, (host, r.port), host, atyp)
        check_bind_relay(c, peer)


# (server options, server listen address, BIND address = peer source, expected listener, ATYP);
# no listener (None): reply 08
BIND_LISTEN = [
    (['-b', '127.0.0.2'], '127.0.0.1', '127.0.0.1', '127.0.0.2', ATYP_V4),  # -b of the family
    (['-b', '::1'], '127.0.0.1', '::1', '::1', ATYP_V6),
    (['-b', '127.0.0.2'], '::1', '::1', '::1', ATYP_V6),  # else the client connection's address
    ([], '::1', '127.0.0.1', None, ATYP_V4),  # else none: never the wildcard
    (['-b', '127.0.0.2'], '127.0.0.1', '::1', None, ATYP_V6),
    (['-b', '0.0.0.0'], '127.0.0.1', '127.0.0.1', '127.0.0.1', ATYP_V4),  # -b a wildcard: not used
]


@case
def bind_listen_address():
    """The listener is bound to -b's address when of the BIND's family (and not a wildcard), else
    to the local address of the client's connection when of that family, else there is none and
    the reply is 05 08; a peer from 127.0.0.1 / ::1 gets through to each listener."""
    for args, listen, host, expected, atyp in BIND_LISTEN:
        what = f'{" ".join(args) or "no -b"}, server on {listen}, BIND {host}'
        c = noauth_client(Server(*args, listen=listen))
        if expected is None:
            c.send(connect_request(host, 0, cmd=BIND))
            c.expect_error(REP_ATYP, what)
            continue
        r = bind_first(c, host)
        check_listening(r, atyp, expected, what)
        peer = bind_peer(c, (host if expected in ('0.0.0.0', '::') else r.addr, r.port), host, atyp)
        check_bind_relay(c, peer)


@case
def bind_wrong_peer():
    """BIND naming 127.0.0.1, peer from 127.0.0.2 -> the peer is closed, second reply 05 02, then the
    control connection and the listener close; SOCKS4 BIND likewise -> second reply 00 5B."""
    need_isolation()
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    peer = connect_to((r.addr, r.port), source='127.0.0.2')
    c.expect_error(REP_NOT_ALLOWED, 'BIND 127.0.0.1, peer from 127.0.0.2')
    wait_eof(peer)
    wait_refused((r.addr, r.port), 'BIND listener after a wrong peer')
    c = SocksClient(server.address)
    r = c.request4(S4_BIND, '127.0.0.1', 0)
    check_granted4(r, 'SOCKS4 BIND first reply')
    peer = connect_to((r.addr, r.port), source='127.0.0.2')
    c.expect_reject4('SOCKS4 BIND 127.0.0.1, peer from 127.0.0.2')
    wait_eof(peer)


@case
def bind_timeout():
    """--bind-timeout 1 and no peer: second reply 05 06 (SOCKS4: 00 5B) after 1..4 s, then close,
    and the listening port is closed."""
    server = Server('--bind-timeout', '1')
    for version in (5, 4):
        c = SocksClient(server.address)
        if version == 5:
            check(c.greet(NOAUTH) == NOAUTH, 'no-auth not accepted')
            r = bind_first(c, '127.0.0.1')
            expected = error_reply(REP_TTL)
        else:
            r = c.request4(S4_BIND, '127.0.0.1', 0)
            check_granted4(r, 'SOCKS4 BIND first reply')
            expected = SOCKS4_REJECT
        start = time.monotonic()
        got = c.recv_exact(len(expected), timeout=1 + T.SLACK)
        elapsed = time.monotonic() - start
        what = f'SOCKS{version} BIND without a peer'
        check(got == expected, f'{what}: expected {hexs(expected)}, got {hexs(got)}')
        check(elapsed >= T.EARLY, f'{what}: second reply after only {elapsed:.2f}s with --bind-timeout 1')
        c.wait_eof()
        wait_refused((r.addr, r.port), f'SOCKS{version} BIND after its timeout')


@case
def bind_client_closes():
    """A BIND client closing its connection ends the wait: the listening port closes soon after
    (the default --bind-timeout is 60 s), and the server keeps serving."""
    server = Server()
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    c.close()
    wait_refused((r.addr, r.port), 'BIND whose client closed')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()


@case
def bind_any_peer():
    """BIND 0.0.0.0 (all zeros: any peer) -> a peer from 127.0.0.2 is accepted."""
    need_isolation()
    c = noauth_client(Server())
    r = bind_first(c, '0.0.0.0')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.2', ATYP_V4)
    check_bind_relay(c, peer)


@case
def bind_pipelined():
    """Greeting + BIND + payload in one write: both replies, and the payload reaches the peer."""
    c = SocksClient(Server().address)
    payload = os.urandom(3000)
    c.send(greeting(NOAUTH) + connect_request('127.0.0.1', 0, cmd=BIND) + payload)
    check(c.read_method() == NOAUTH, 'wrong method')
    r = check_bind_first(c.read_reply(), 'pipelined BIND')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    got = recv_exact(peer, len(payload))
    check(got == payload, 'payload sent with the BIND request reached the peer altered')
    check_bind_relay(c, peer)


@case
def bind_wait_not_cut_short():
    """--handshake-timeout 1 --bind-timeout 10 (more where MS_TEST_TIME_SCALE stretches the slack, so
    that the BIND outlasts the watch): the BIND wait is not cut short by the handshake timeout
    (nothing arrives for 1 + slack seconds), then a peer still gets through."""
    bind_timeout = int(1 + T.SLACK + T.IO) + 1
    c = noauth_client(Server('--handshake-timeout', '1', '--bind-timeout', str(bind_timeout)))
    r = bind_first(c, '127.0.0.1')
    check(not is_readable(c.sock, 1 + T.SLACK), 'second reply or EOF while waiting for the peer')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    check_bind_relay(c, peer)


@case
def bind_idle_timeout():
    """--idle-timeout 1: an established BIND tunnel without traffic is closed after ~1 s (the client
    and the peer see EOF)."""
    c = noauth_client(Server('--idle-timeout', '1'))
    r = bind_first(c, '127.0.0.1')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    start = time.monotonic()
    expect_closed_between(c.sock, start, T.EARLY, 1 + T.SLACK, 'idle BIND tunnel')
    expect_closed_between(peer, start, T.EARLY, 1 + T.SLACK, 'idle BIND tunnel (peer)')


@case
def bind_concurrent():
    """Three BINDs at once get distinct ports; peers connecting in reverse order each reach their
    own client."""
    server = Server()
    clients = [noauth_client(server) for _ in range(3)]
    replies = [bind_first(c, '127.0.0.1') for c in clients]
    check(len({r.port for r in replies}) == 3, f'listening ports {[r.port for r in replies]}')
    for c, r in reversed(list(zip(clients, replies))):
        check_bind_relay(c, bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4), client_first=True)


@case
def bind_large_transfer():
    """16 MiB each way at the same time between a BIND client and its peer, checked by SHA-256."""
    nbytes = 16 << 20
    c = noauth_client(Server())
    r = bind_first(c, '127.0.0.1')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4)
    result = {}
    th = threading.Thread(target=lambda: result.update(peer=duplex(peer, nbytes, T.TRANSFER)), daemon=True)
    th.start()
    up, down = duplex(c.sock, nbytes, T.TRANSFER)
    th.join(T.TRANSFER)
    check('peer' in result, 'the peer side did not finish (or failed)')
    p_sent, p_received = result['peer']
    check(p_received == up, f'client -> peer: sent {up}, peer received {p_received}')
    check(down == p_sent, f'peer -> client: peer sent {p_sent}, client received {down}')


@case
def bind_no_fd_leak():
    """After BINDs that succeed, time out, or whose client leaves, the server's open fds come back
    to what they were after a plain CONNECT tunnel (listeners and peers are all closed)."""
    server = Server('--bind-timeout', '1')
    target = Target()
    c, _ = tunnel(server, '127.0.0.1', target.port)
    c.echo_check()
    port = c.sock.getsockname()[1]
    c.close()
    server.wait_line(re.compile(rf'127\.0\.0\.1:{port}\D.*(close|bytes)', re.I))  # tunnel gone
    baseline = open_fds(server)
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    check_bind_relay(c, bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4))
    c.close()
    c = noauth_client(server)
    bind_first(c, '127.0.0.1')
    c.expect_error(REP_TTL, 'BIND without a peer, --bind-timeout 1')
    c = noauth_client(server)
    bind_first(c, '127.0.0.1')
    c.close()
    wait_fds_down_to(server, baseline)


@case
def bind_socks4():
    """SOCKS4 BIND (CD 2) 127.0.0.1 -> 00 5A naming the listening 127.0.0.1:PORT; a peer from
    127.0.0.1 -> second 00 5A naming the peer; data both ways, half-close."""
    server = Server()
    c = SocksClient(server.address)
    r = c.request4(S4_BIND, '127.0.0.1', 0, userid='binder')
    check_granted4(r, 'SOCKS4 BIND first reply')
    check(r.addr == '127.0.0.1' and r.port != 0, f'SOCKS4 BIND: listening on {r.addr}:{r.port}')
    peer = bind_peer(c, (r.addr, r.port), '127.0.0.1')
    check_bind_relay(c, peer)
