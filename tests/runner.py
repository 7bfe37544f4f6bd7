#!/usr/bin/python3
"""The test runner for microsocks: the unit-test binaries and the black-box cases, which run the
real binary over real loopback sockets with real clients.

Normally started by tests/run (which sets up a private network namespace first):
    sh tests/run                 all unit-test binaries ($UNIT_TESTS) and all cases
    sh tests/run half_close      only the cases named half_close or half_close_*
    sh tests/run unit            only the unit-test binaries
Output: one line per case (ok / FAIL / SKIP), then "N passed, N failed, N skipped".
The contract tested is the microsocks spec (issue 2, plus SOCKS4/4a and BIND from issue 4);
every case says what it checks.

The cases live in the modules of CASE_MODULES, one per concern, and register with harness's
@case; they run in the order of that list, each module's cases in the order they are defined.
"""

import importlib
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    CASES, EMULATOR, MICROSOCKS, T, Fail, Skip, describe_status, run_cleanups)

# The case modules (under tests/), in the order their cases run.
CASE_MODULES = [
    'handshake',            # greeting, methods, user/password, split and pipelined, handshake timeouts
    'connect',              # CONNECT replies, destinations and BND, relay, idle timeouts, fd exhaustion
    'socks4',               # SOCKS4 and SOCKS4a CONNECT
    'bind',                 # BIND, SOCKS5 and SOCKS4
    'options',              # command line: bad options, -h/-V, ports, password hiding, -q
    'clients',              # real clients: curl, ncat, PySocks, proxychains4
    'udp',                  # UDP ASSOCIATE
    'rules',                # access rules: -w ranges, --allow, --deny
    'ops',                  # listeners, limits, users, session log, syslog, stats, drain
    'system',               # socket activation, readiness, unit files, chromium
    'security',             # the claims of SECURITY
    'attack',               # ways around --deny, BIND, the log, credentials
    'scaleout',             # several instances: --reuseport, the PROXY protocol behind HAProxy
    'fuzz.handshake_fuzz',  # the stateful handshake fuzz, fuzz_*
]
# fault and load cases, for `make stress` (MS_STRESS=1) only
STRESS_MODULES = ['stress']


def load_cases():
    """Import the case modules, which fills CASES."""
    stress = os.environ.get('MS_STRESS') == '1'
    for name in CASE_MODULES + (STRESS_MODULES if stress else []):
        importlib.import_module(name)


def run_case(fn):
    """Run one case and its cleanups; returns ('ok'|'FAIL'|'SKIP', reason)."""
    status, reason = 'ok', ''
    try:
        fn()
    except Skip as e:
        status, reason = 'SKIP', str(e)
    except Fail as e:
        status, reason = 'FAIL', str(e)
    except Exception as e:
        status, reason = 'FAIL', f'{type(e).__name__}: {e}'
    problems = run_cleanups()
    if problems:
        reason = '; '.join(([reason] if status == 'FAIL' else []) + problems)
        status = 'FAIL'
    return status, reason


def run_unit_test(path):
    """Run one unit-test binary, print its lines but its summary; returns (passed, failed)."""
    try:
        p = subprocess.run(EMULATOR + [path], capture_output=True, timeout=T.UNIT)
        lines, rc = p.stdout.decode('utf-8', 'replace').splitlines(), p.returncode
        err = p.stderr.decode('utf-8', 'replace')
    except (OSError, subprocess.TimeoutExpired) as e:
        lines, rc, err = [], None, f'{type(e).__name__}: {e}'
    m = re.fullmatch(r'(\d+) passed, (\d+) failed.*', lines[-1]) if lines else None
    for line in lines[:-1] if m else lines:
        print(line)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if rc != 0 and failed == 0:
        why = describe_status(rc) if rc is not None else 'did not run'
        print(f'FAIL unit {path}: {why}, no failure counted: {" | ".join(err.splitlines()[-5:])}')
        failed = 1
    elif not m:
        print(f'FAIL unit {path}: last line is not "N passed, N failed"')
        failed = 1
    sys.stdout.flush()
    return passed, failed


def select_cases(names):
    chosen = [fn for fn in CASES if not names or any(
        fn.__name__ == n or fn.__name__.startswith(n + '_') for n in names)]
    unknown = [n for n in names if n != 'unit' and not any(
        fn.__name__ == n or fn.__name__.startswith(n + '_') for fn in CASES)]
    return chosen, unknown


def main(argv):
    names = argv[1:]
    load_cases()
    socket.setdefaulttimeout(T.IO)
    chosen, unknown = select_cases(names)
    if unknown:
        print(f'unknown case(s): {" ".join(unknown)}; cases: {" ".join(fn.__name__ for fn in CASES)}')
        return 2
    passed = failed = skipped = 0
    if not names or 'unit' in names:
        for path in os.environ.get('UNIT_TESTS', '').split():
            p_n, f_n = run_unit_test(path)
            passed, failed = passed + p_n, failed + f_n
    if chosen and not (os.path.isfile(MICROSOCKS) and os.access(MICROSOCKS, os.X_OK)):
        print(f'FAIL setup: {MICROSOCKS} is not an executable file', flush=True)
        failed += 1
        chosen = []
    for fn in chosen:
        status, reason = run_case(fn)
        print(f'{status} {fn.__name__}' + (f': {reason}' if reason else ''), flush=True)
        passed += status == 'ok'
        failed += status == 'FAIL'
        skipped += status == 'SKIP'
    print(f'{passed} passed, {failed} failed, {skipped} skipped', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
