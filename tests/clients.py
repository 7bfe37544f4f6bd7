"""Black-box cases with real clients through the server: curl, ncat, PySocks and proxychains4
(SOCKS5, with and without user/password, and SOCKS4/4a). A client that is not installed makes
its case SKIP.

Imported by tests/runner.py; the cases register with harness's @case.
"""

import os
import shutil
import subprocess
import tempfile
import threading

from harness import (
    ISOLATED, PASSWORD, T, USER, WRONG_PASSWORD, Fail, Server, Skip, Target, auth_server, case, check,
    defer, need_isolation, recv_exact)


# ================================================================ real clients

def need_program(name):
    path = shutil.which(name)
    if not path:
        raise Skip(f'{name} not installed')
    return path


def clean_env():
    return {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}


def run_program(argv, input=None):
    try:
        return subprocess.run(argv, input=input, capture_output=True, timeout=T.PROGRAM, env=clean_env())
    except subprocess.TimeoutExpired:
        raise Fail(f'{argv[0]} did not finish within {T.PROGRAM:.0f}s')


class HttpTarget:
    """A local HTTP server (python http.server) serving BODY at /file, recording peers."""
    BODY = os.urandom(200_000)

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.peers = []
        peers, body = self.peers, self.BODY

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                peers.append(self.client_address[0])
                self.send_response(200 if self.path == '/file' else 404)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()
        defer(self.close)

    def url(self, host='127.0.0.1'):
        return f'http://{host}:{self.port}/file'

    def check_fetched(self, p, what):
        check(p.returncode == 0, f'{what}: exit {p.returncode}: {p.stderr[-300:]!r}')
        check(p.stdout == self.BODY, f'{what}: got {len(p.stdout)} bytes, not the {len(self.BODY)}-byte body')
        check(self.peers and self.peers[-1] == '127.0.0.2', f'{what}: request did not come through the proxy')

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def proxy_server(auth=False):
    """A server whose outgoing connections come from 127.0.0.2, proving a client used it."""
    return auth_server('-b', '127.0.0.2') if auth else Server('-b', '127.0.0.2')


def curl(*args):
    return run_program([need_program('curl'), '-q', '-sS', '--max-time', str(int(T.PROGRAM) - 5), *args])


@case
def curl_socks5():
    """curl --socks5 (local resolution) fetches the body from a local HTTP server."""
    need_program('curl')
    server, http = proxy_server(), HttpTarget()
    http.check_fetched(curl('--socks5', f'127.0.0.1:{server.port}', http.url()), 'curl --socks5')


@case
def curl_socks5_hostname():
    """curl --socks5-hostname: the proxy resolves v4only.test and fetches the body."""
    need_program('curl')
    need_isolation()
    server, http = proxy_server(), HttpTarget()
    p = curl('--socks5-hostname', f'127.0.0.1:{server.port}', http.url('v4only.test'))
    http.check_fetched(p, 'curl --socks5-hostname')


@case
def curl_auth():
    """curl with user:password (--proxy-user, and socks5h://u:p@ with remote resolution)."""
    need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = curl('--socks5', f'127.0.0.1:{server.port}', '--proxy-user', f'{USER}:{PASSWORD}', http.url())
    http.check_fetched(p, 'curl --proxy-user')
    if ISOLATED:
        p = curl('-x', f'socks5h://{USER}:{PASSWORD}@127.0.0.1:{server.port}', http.url('v4only.test'))
        http.check_fetched(p, 'curl -x socks5h://u:p@')


@case
def curl_wrong_password():
    """curl with a wrong password fails and fetches nothing."""
    need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = curl('--socks5', f'127.0.0.1:{server.port}', '--proxy-user', f'{USER}:{WRONG_PASSWORD}', http.url())
    check(p.returncode != 0 and p.stdout == b'' and not http.peers, 'curl with a wrong password succeeded')


@case
def socks4_curl():
    """curl --socks4, --socks4a, -x socks4:// and -x socks4a:// (the proxy resolving v4only.test when
    isolated) fetch the body from a local HTTP server."""
    need_program('curl')
    server, http = proxy_server(), HttpTarget()
    proxy = f'127.0.0.1:{server.port}'
    name = 'v4only.test' if ISOLATED else '127.0.0.1'
    for args, what in ((['--socks4', proxy, http.url()], 'curl --socks4'),
                       (['--socks4a', proxy, http.url(name)], 'curl --socks4a'),
                       (['-x', f'socks4://{proxy}', http.url()], 'curl -x socks4://'),
                       (['-x', f'socks4a://{proxy}', http.url(name)], 'curl -x socks4a://')):
        http.check_fetched(curl(*args), what)


def check_proxied_echo(target, got, data, what, stderr=b''):
    check(got == data, f'{what}: echoed {len(got)} bytes, not the {len(data)} sent {stderr[-200:]!r}')
    check(target.next_peer()[0] == '127.0.0.2', f'{what}: connection did not come through the proxy')


@case
def ncat_socks5():
    """ncat --proxy-type socks5 to the echo target: stdin comes back on stdout."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(), Target(), os.urandom(50_000)
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks5',
                     '127.0.0.1', str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat', p.stderr)


@case
def ncat_socks5_auth():
    """ncat --proxy-auth u:p (and --proxy-dns remote when isolated) to the echo target."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(auth=True), Target(), os.urandom(50_000)
    dest = ['--proxy-dns', 'remote', 'v4only.test'] if ISOLATED else ['127.0.0.1']
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks5',
                     '--proxy-auth', f'{USER}:{PASSWORD}', *dest, str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat --proxy-auth', p.stderr)


@case
def socks4_ncat():
    """ncat --proxy-type socks4 to the echo target: stdin comes back on stdout."""
    ncat = need_program('ncat')
    server, target, data = proxy_server(), Target(), os.urandom(50_000)
    p = run_program([ncat, '--proxy', f'127.0.0.1:{server.port}', '--proxy-type', 'socks4',
                     '127.0.0.1', str(target.port)], input=data)
    check_proxied_echo(target, p.stdout, data, 'ncat socks4', p.stderr)


def pysocks_echo(server, target, host, version=5, **proxy):
    try:
        import socks
    except ImportError:
        raise Skip('PySocks (python3-socks) not installed')
    s = socks.socksocket()
    defer(s.close)
    s.settimeout(T.IO)
    s.set_proxy(socks.SOCKS4 if version == 4 else socks.SOCKS5, '127.0.0.1', server.port, **proxy)
    s.connect((host, target.port))
    data = os.urandom(20_000)
    s.sendall(data)
    check_proxied_echo(target, recv_exact(s, len(data)), data, 'PySocks')


@case
def pysocks():
    """PySocks socksocket (local resolution, no auth) to the echo target."""
    pysocks_echo(proxy_server(), Target(), '127.0.0.1', rdns=False)


@case
def pysocks_auth():
    """PySocks with username/password (and remote resolution of v4only.test when isolated)."""
    host = 'v4only.test' if ISOLATED else '127.0.0.1'
    pysocks_echo(proxy_server(auth=True), Target(), host, rdns=True, username=USER, password=PASSWORD)


@case
def socks4_pysocks():
    """PySocks SOCKS4 with a user id (and SOCKS4a remote resolution of v4only.test when isolated)."""
    host = 'v4only.test' if ISOLATED else '127.0.0.1'
    pysocks_echo(proxy_server(), Target(), host, version=4, rdns=ISOLATED, username='pysocks-user')


def proxychains(server, *argv):
    pc = need_program('proxychains4')
    d = tempfile.mkdtemp(prefix='ms-pc-')
    defer(lambda: shutil.rmtree(d, ignore_errors=True))
    conf = os.path.join(d, 'proxychains.conf')
    with open(conf, 'w') as f:
        f.write('strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n'
                f'[ProxyList]\nsocks5 127.0.0.1 {server.port} {USER} {PASSWORD}\n')
    return run_program([pc, '-q', '-f', conf, *argv])


@case
def proxychains_curl():
    """proxychains4 (socks5 with user/password) running plain curl fetches the body."""
    curl_path = need_program('curl')
    server, http = proxy_server(auth=True), HttpTarget()
    p = proxychains(server, curl_path, '-q', '-sS', '--max-time', '20', http.url())
    http.check_fetched(p, 'proxychains4 curl')


@case
def proxychains_python():
    """proxychains4 (socks5 with user/password) running python3 urllib fetches the body."""
    server, http = proxy_server(auth=True), HttpTarget()
    code = ('import sys, urllib.request; '
            'sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=20).read())')
    p = proxychains(server, '/usr/bin/python3', '-c', code, http.url())
    http.check_fetched(p, 'proxychains4 python3')
