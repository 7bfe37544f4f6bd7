"""Black-box cases for the access rules (spec: "Issue 5 (part): access rules"): CIDR ranges in -w,
--allow (which clients are served at all) and --deny (which destinations are never connected to).

Imported by tests/runner.py after tests/udp.py; the cases register with harness's @case and
run after the UDP cases; `sh tests/run rules` selects them.
A connection or datagram that must NOT reach a target is checked by watching for QUIET seconds
(as in tests/udp.py) that the target accepts or receives nothing.
"""

import queue
import re
import socket

from harness import (
    ATYP_DOMAIN, ATYP_V4, ATYP_V6, BIND, ISOLATED, NO_ACCEPTABLE, NOAUTH, REP_NOT_ALLOWED, REP_OK,
    S4_BIND, S4_CONNECT, Fail, Server, Skip, SocksClient, Target, check, connect_request, greeting,
    hexs, need_isolation, socks4_request, PASSWORD, USER, auth_server, case, check_bad_options,
    expect_connect_error, noauth_client, tunnel)
from bind import bind_first, bind_peer, check_bind_relay
from connect import check_bnd
from socks4 import check_granted4, expect_rejected4, socks4_tunnel
from udp import QUIET, Association, UdpEcho

# a client that sends nothing must be turned away long before this handshake timeout
LONG_HANDSHAKE = ['--handshake-timeout', '60']


# ================================================================ helpers

def need_resolves(name, expected):
    """Skip unless name resolves (in the namespace's hosts file) to exactly these addresses, in order."""
    addrs = [a[4][0] for a in socket.getaddrinfo(name, 80, 0, socket.SOCK_STREAM)]
    if addrs != expected:
        raise Skip(f'precondition: {name} resolves to {addrs}, expected {expected}')


def method_from(address, source=None):
    """The method chosen for a greeting offering only no-auth, from a client bound to source."""
    return SocksClient(address, source).greet(NOAUTH)


def echo_via(address, target, source=None, what=''):
    """A no-auth CONNECT through the proxy at address (client bound to source) to target succeeds,
    and echo works."""
    what = what or f'client {source or "127.0.0.1"} via {address[0]}'
    c = SocksClient(address, source)
    method = c.greet(NOAUTH)
    check(method == NOAUTH, f'{what}: method {method:#04x}, expected 00')
    r = c.request(*target.address)
    check(r.rep == REP_OK, f'{what}: CONNECT {target.host}:{target.port}: reply {r.rep:#04x}')
    c.echo_check()


def expect_turned_away(address, source, data, what):
    """A client from source to the proxy at address is closed (EOF or reset) without a byte of reply,
    after sending data (nothing when data is empty)."""
    c = SocksClient(address, source)
    try:
        if data:
            c.send(data)
    except (ConnectionResetError, BrokenPipeError):
        return  # reset before the data could be sent: closed, and nothing was replied
    try:
        got = c.recv_until_eof()
    except Fail as e:
        raise Fail(f'{what}: {e}')
    check(got == b'', f'{what}: expected close without reply, got {hexs(got)}')


def expect_no_connection(target, what):
    """target accepts no connection for QUIET seconds."""
    try:
        peer = target.peers.get(timeout=QUIET)
    except queue.Empty:
        return
    raise Fail(f'{what}: target {target.host}:{target.port} got a connection anyway (from {peer})')


def expect_denied(server, host, port, target=None, what=None):
    """CONNECT host:port -> 05 02 and close; target (when given) sees no connection."""
    what = what or f'denied CONNECT {host}:{port}'
    expect_connect_error(server, host, port, REP_NOT_ALLOWED, what)
    if target is not None:
        expect_no_connection(target, what)


def expect_served(server, host, port, target, atyp=ATYP_V4):
    """CONNECT host:port succeeds through target (the reply names what the target saw), echo works."""
    c, r = tunnel(server, host, port)
    check_bnd(target, r, atyp)
    c.echo_check()


# ================================================================ clients: -w ranges, --allow

@case
def rules_whitelist_cidr():
    """-u/-P -w 127.0.0.0/30: clients from 127.0.0.1, .2 and .3 get method 00 offering only 00 (and
    .1 tunnels), .4 and .9 get FF but can still authenticate; -w 10.0.0.0/8,::1/128 on -i ::1 admits
    ::1; on -i :: a client to 127.0.0.1 (v4-mapped) matches 127.0.0.0/30."""
    need_isolation()
    server = auth_server('-w', '127.0.0.0/30')
    target = Target()
    for source in ('127.0.0.1', '127.0.0.2', '127.0.0.3'):
        method = method_from(server.address, source)
        check(method == NOAUTH, f'-w 127.0.0.0/30, client {source}: method {method:#04x}, expected 00')
    expect_served(server, '127.0.0.1', target.port, target)
    for source in ('127.0.0.4', '127.0.0.9'):
        method = method_from(server.address, source)
        check(method == NO_ACCEPTABLE, f'-w 127.0.0.0/30, client {source}: method {method:#04x}, expected ff')
    c, _ = tunnel(server, '127.0.0.1', target.port, USER, PASSWORD, source='127.0.0.9')
    c.echo_check()
    server = auth_server('-w', '10.0.0.0/8,::1/128', listen='::1')
    method = method_from(server.address)
    check(method == NOAUTH, f'-w 10.0.0.0/8,::1/128, client ::1: method {method:#04x}, expected 00')
    server = auth_server('-w', '127.0.0.0/30', listen='::')
    for source, expected in (('127.0.0.2', NOAUTH), ('127.0.0.9', NO_ACCEPTABLE)):
        method = method_from(('127.0.0.1', server.port), source)
        check(method == expected, f'-i :: -w 127.0.0.0/30, client {source} (v4-mapped): '
                                  f'method {method:#04x}, expected {expected:#04x}')


@case
def rules_allow():
    """--allow 127.0.0.1/32: 127.0.0.1 is served; clients from 127.0.0.2 are closed with no reply
    (silent: well before --handshake-timeout 60; after a SOCKS5 greeting; after a SOCKS4 request)
    and the server still serves 127.0.0.1. --allow=127.0.0.0/8,::1 on -i :: (dual stack) serves
    127.0.0.1 (v4-mapped) and ::1."""
    need_isolation()
    server = Server('--allow', '127.0.0.1/32', *LONG_HANDSHAKE)
    target = Target()
    echo_via(server.address, target)
    for data, what in ((b'', 'silent client'), (greeting(NOAUTH), 'SOCKS5 greeting'),
                       (socks4_request(S4_CONNECT, '127.0.0.1', target.port), 'SOCKS4 CONNECT')):
        expect_turned_away(server.address, '127.0.0.2', data, f'--allow 127.0.0.1/32, 127.0.0.2, {what}')
    check(server.alive(), 'server died after turning clients away')
    echo_via(server.address, target, what='127.0.0.1 after 127.0.0.2 was turned away')
    server = Server('--allow=127.0.0.0/8,::1', listen='::')
    for host in ('127.0.0.1', '::1'):
        echo_via((host, server.port), target, what=f'--allow=127.0.0.0/8,::1 on -i ::, client {host}')


# ================================================================ destinations: --deny

@case
def rules_deny_connect():
    """--deny 127.0.0.0/24: CONNECT 127.0.0.1:PORT (listening) -> 05 02, close, and the target sees no
    connection; so does the same address in IPv4-mapped form, ATYP 4 ::ffff:127.0.0.1; 127.0.0.255
    (not listening) -> 05 02, not 05 05; a target on 127.0.1.1, outside the /24, is served."""
    need_isolation()
    server = Server('--deny', '127.0.0.0/24')
    denied = Target()
    expect_denied(server, '127.0.0.1', denied.port, denied)
    expect_denied(server, '::ffff:127.0.0.1', denied.port, denied)
    expect_denied(server, '127.0.0.255', denied.port)
    allowed = Target(host='127.0.1.1')
    expect_served(server, '127.0.1.1', allowed.port, allowed)


@case
def rules_deny_port():
    """--deny :PORT (a target's port): 127.0.0.1:PORT and [::1]:PORT -> 05 02, another port on
    127.0.0.1 is served. --deny 127.0.0.1/32:PORT: 127.0.0.1:PORT -> 05 02, another port is served,
    and (isolated) 127.0.0.2:PORT is served."""
    denied, allowed = Target(), Target()
    server = Server('--deny', f':{denied.port}')
    expect_denied(server, '127.0.0.1', denied.port, denied)
    expect_denied(server, '::1', denied.port)
    expect_served(server, '127.0.0.1', allowed.port, allowed)
    server = Server('--deny', f'127.0.0.1/32:{denied.port}')
    expect_denied(server, '127.0.0.1', denied.port, denied)
    expect_served(server, '127.0.0.1', allowed.port, allowed)
    if ISOLATED:
        other_host = Target(host='127.0.0.2', port=denied.port)
        expect_served(server, '127.0.0.2', denied.port, other_host)


@case
def rules_deny_after_resolution():
    """Names are checked after resolution: --deny 127.0.0.1: CONNECT v4only.test -> 05 02 and the
    target sees nothing. --deny 127.0.0.5,[::1] with targets on every address: multi.test
    (127.0.0.5, 127.0.0.1) and localhost (::1, 127.0.0.1) are served via 127.0.0.1 and the denied
    addresses see no connection; v6only.test (only ::1) -> 05 02."""
    need_isolation()
    need_resolves('multi.test', ['127.0.0.5', '127.0.0.1'])
    target = Target()
    server = Server('--deny', '127.0.0.1')
    expect_denied(server, 'v4only.test', target.port, target)
    target5 = Target(host='127.0.0.5', port=target.port)
    try:
        target6 = Target(host='::1', port=target.port)
    except OSError as e:
        raise Skip(f'cannot listen on [::1]:{target.port}: {e}')
    server = Server('--deny', '127.0.0.5,[::1]')
    expect_served(server, 'multi.test', target.port, target)
    expect_no_connection(target5, 'multi.test with 127.0.0.5 denied')
    expect_served(server, 'localhost', target.port, target)
    expect_no_connection(target6, 'localhost with ::1 denied')
    expect_denied(server, 'v6only.test', target.port, target6)


@case
def rules_deny_ipv6():
    """--deny [::1]: CONNECT [::1]:PORT -> 05 02 (the target sees nothing), 127.0.0.1 is served.
    --deny [::1]:PORT and --deny [::]/0:PORT: [::1]:PORT -> 05 02, [::1]:OTHER is served."""
    denied, other = Target(host='::1'), Target(host='::1')
    server = Server('--deny', '[::1]')
    expect_denied(server, '::1', denied.port, denied)
    expect_denied(server, '::1', other.port, other)
    target4 = Target()
    expect_served(server, '127.0.0.1', target4.port, target4)
    for rule in (f'[::1]:{denied.port}', f'[::]/0:{denied.port}'):
        server = Server('--deny', rule)
        expect_denied(server, '::1', denied.port, denied, f'--deny {rule}: CONNECT [::1]:{denied.port}')
        expect_served(server, '::1', other.port, other, ATYP_V6)


@case
def rules_deny_socks4():
    """--deny 127.0.0.1:PORT: SOCKS4 CONNECT 127.0.0.1:PORT -> 00 5B then close, the target sees
    nothing; (isolated) SOCKS4a v4only.test:PORT -> 00 5B; SOCKS4 to another port is granted."""
    denied, allowed = Target(), Target()
    server = Server('--deny', f'127.0.0.1:{denied.port}')
    expect_rejected4(server, socks4_request(S4_CONNECT, '127.0.0.1', denied.port), 'SOCKS4 to a denied address')
    if ISOLATED:
        expect_rejected4(server, socks4_request(S4_CONNECT, '0.0.0.1', denied.port, domain='v4only.test'),
                         'SOCKS4a to a name resolving to a denied address')
    expect_no_connection(denied, 'denied SOCKS4 CONNECT')
    c, _ = socks4_tunnel(server, '127.0.0.1', allowed.port)
    c.echo_check()


@case
def rules_deny_bind():
    """--deny 127.0.0.2,[::1]: BIND naming 127.0.0.2 or ::1 -> first reply 05 02, then close; SOCKS4
    BIND naming 127.0.0.2 -> 00 5B; BIND naming 127.0.0.1 works (a peer gets through)."""
    server = Server('--deny', '127.0.0.2,[::1]')
    for host in ('127.0.0.2', '::1'):
        c = noauth_client(server)
        c.send(connect_request(host, 0, cmd=BIND))
        c.expect_error(REP_NOT_ALLOWED, f'BIND naming the denied {host}')
    expect_rejected4(server, socks4_request(S4_BIND, '127.0.0.2', 0), 'SOCKS4 BIND naming the denied 127.0.0.2')
    c = noauth_client(server)
    r = bind_first(c, '127.0.0.1')
    check_bind_relay(c, bind_peer(c, (r.addr, r.port), '127.0.0.1', ATYP_V4))
    c = SocksClient(server.address)
    r = c.request4(S4_BIND, '127.0.0.1', 0)
    check_granted4(r, 'SOCKS4 BIND naming 127.0.0.1')


@case
def rules_deny_udp():
    """--deny 127.0.0.1/32:PORT,[::1]: UDP datagrams to 127.0.0.1:PORT, to [::1]:PORT2 and (isolated)
    to v4only.test:PORT are not relayed (the echoes get nothing), before and after datagrams to an
    allowed echo on 127.0.0.1, which go through."""
    denied, allowed = UdpEcho(), UdpEcho()
    denied6 = UdpEcho('::1')
    server = Server('--deny', f'127.0.0.1/32:{denied.port},[::1]')
    a = Association(server)
    for when in ('before', 'after'):
        a.send(denied.address, f'to a denied address, {when}'.encode())
        denied.expect_nothing(f'datagram to the denied {denied.host}:{denied.port}, {when}')
        a.send(denied6.address, f'to a denied IPv6 address, {when}'.encode())
        denied6.expect_nothing(f'datagram to the denied [::1]:{denied6.port}, {when}')
        if ISOLATED:
            a.send(('v4only.test', denied.port), b'to a name of a denied address', atyp=ATYP_DOMAIN)
            denied.expect_nothing(f'datagram to v4only.test:{denied.port}, {when}')
        a.round_trip(allowed, what=f'datagram to the allowed echo, {when} the denied ones')


# ================================================================ command line

BAD_RULES = [
    (['--allow', '10.0.0.0/33'], '--allow'), (['--allow', '1.2.3'], '--allow'), (['--allow', ','], '--allow'),
    (['--allow', '::1/129'], '--allow'), (['--allow', '300.0.0.1'], '--allow'), (['--allow'], '--allow'),
    (['--deny', '10.0.0.0/8:70000'], '--deny'), (['--deny', '[::1:25'], '--deny'),
    (['--deny', '::1:25'], '--deny'), (['--deny', ''], '--deny'), (['--deny', '127.0.0.1:'], '--deny'),
    (['--deny', '127.0.0.1,,127.0.0.2'], '--deny'), (['--deny', '[::1]:abc'], '--deny'),
]
# -w entries that are not ranges are resolved: only safe inside the namespace
BAD_RULES_ISOLATED = [
    (['-u', USER, '-P', PASSWORD, '-w', '10.0.0.0/40'], '-w'),
]
GOOD_RULES = [
    '--allow', '10.0.0.0/8,127.0.0.1/32,fd00::/8,::1',
    '--deny=169.254.0.0/16:80,[::1]/128,[fd00::]/8:25,[::]/0:25,:25,10.0.0.0/8,192.168.1.7',
]


@case
def rules_lists_add_up():
    """--deny and --allow given twice add up: both lists apply, not only the last."""
    first, second = Target(), Target()
    server = Server('--deny', f'127.0.0.1:{first.port}', '--deny', f'127.0.0.1:{second.port}',
                    '--allow', '10.0.0.0/8', '--allow', '127.0.0.1')
    expect_denied(server, '127.0.0.1', first.port, first)
    expect_denied(server, '127.0.0.1', second.port, second)
    other = Target()
    expect_served(server, '127.0.0.1', other.port, other)


@case
def rules_open_proxy_warning():
    """A server with neither -u/-P nor --allow warns that it is an open proxy when it listens
    beyond loopback, and only then."""
    warning = re.compile(r'open proxy')
    server = Server(listen='0.0.0.0')
    server.wait_line(warning)
    for args, listen in (((), '127.0.0.1'), ((), '::1'), (('--allow', '127.0.0.1'), '0.0.0.0'),
                         (('-u', USER, '-P', PASSWORD), '0.0.0.0')):
        s = Server(*args, listen=listen)
        # all it said at start is there once it has ended
        problems = s.stop()
        check(not problems, '; '.join(problems))
        check(not warning.search(s.stderr()), f'warning with {args} on {listen}: {s.stderr_tail()}')


@case
def rules_bad_options():
    """Bad --allow / --deny / -w lists (prefix out of range, bad address, empty entry or list, bad or
    empty port, IPv6 with a port but no brackets, no value): exit 1, a "microsocks: <option>: ..."
    line and the usage; the spec's example forms are accepted and the server serves."""
    check_bad_options(BAD_RULES + (BAD_RULES_ISOLATED if ISOLATED else []))
    target = Target()
    expect_served(Server(*GOOD_RULES), '127.0.0.1', target.port, target)
