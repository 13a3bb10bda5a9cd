"""Logins under attack (issue 13, findings 2 and 8): guesses sent at once
meet the same limits as guesses sent one by one, and one flooding client
cannot hold the password-checking queue against everyone else.

Every guess is a raw HTTP request from its own socket; a source address
in 127.0.0.0/8 other than 127.0.0.1 stands for another peer (Linux
answers the whole block on loopback). An answer 401 or 200 means the
password was checked; 429 means it was refused before any check.
"""

import json
import socket
import subprocess
import sys
import time

import pytest

from conftest import deadline
from test_web_api import Web, _clients


@pytest.fixture
def web(bus):
    b = bus(_clients())  # acme: alice/alice-pw-1, ann/ann-pw-1
    w = Web(b.data_dir)
    w.bus = b
    yield w
    w.stop()


def login_request(w, client, user, password):
    body = json.dumps({"client": client, "username": user,
                       "password": password}).encode()
    head = ("POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (w.host, w.origin, len(body)))
    return head.encode() + body


def status_of(sock):
    data = b""
    while b"\r\n" not in data:
        c = sock.recv(4096)
        if not c:
            break
        data += c
    while True:  # read to the end so the server sees an orderly close
        c = sock.recv(65536)
        if not c:
            break
    return int(data.split(b" ", 2)[1]) if data else None


def at_once(w, requests):
    """Connect every (source address, request bytes) first, then send
    them all as close together as possible; the statuses in order."""
    socks = []
    for src, _ in requests:
        s = socket.create_connection(("127.0.0.1", w.port),
                                     timeout=deadline(60),
                                     source_address=(src, 0))
        socks.append(s)
    for s, (_, req) in zip(socks, requests):
        s.sendall(req)
    out = []
    for s in socks:
        with s:
            out.append(status_of(s))
    return out


def test_simultaneous_guesses_on_one_account(web):
    # 40 guesses on alice at once from 40 addresses, the right password
    # among them: at most the documented 5 are checked.
    reqs = [("127.0.1.%d" % (i + 1), login_request(
        web, "acme", "alice", "alice-pw-1" if i == 37 else "guess%d" % i))
        for i in range(40)]
    statuses = at_once(web, reqs)
    checked = [s for s in statuses if s in (200, 401)]
    assert len(checked) <= 5, statuses
    assert set(statuses) <= {200, 401, 429}, statuses


def test_simultaneous_guesses_from_one_address(web):
    # 64 guesses at once from one address on 64 accounts: at most the
    # documented 20 are checked.
    reqs = [("127.0.2.1", login_request(web, "acme", "nobody%d" % i, "x"))
            for i in range(64)]
    statuses = at_once(web, reqs)
    checked = [s for s in statuses if s in (200, 401)]
    assert len(checked) <= 20, statuses
    assert set(statuses) <= {401, 429}, statuses
    # And the address stays held to the limit when it goes on one by one.
    for i in range(25):
        s = at_once(web, [("127.0.2.1", login_request(
            web, "acme", "later%d" % i, "x"))])[0]
        if s == 401:
            checked.append(s)
    assert len(checked) <= 20, checked


FLOOD = r"""
import json, socket, sys, threading
port, host, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
import time
end = time.monotonic() + seconds
n = [0]

def one(i):
    body = json.dumps({"client": "acme", "username": "f%d" % i,
                       "password": "x"}).encode()
    req = ("POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s"
           "\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
           "Connection: close\r\n\r\n" % (host, host, len(body))).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30,
                                  source_address=("127.0.3.1", 0)) as s:
        s.sendall(req + body)
        while s.recv(65536):
            pass

def loop(k):
    i = 0
    while time.monotonic() < end:
        i += 1
        try:
            one(k * 1000000 + i)
            n[0] += 1
        except OSError:
            pass

ts = [threading.Thread(target=loop, args=(k,)) for k in range(int(sys.argv[4]))]
[t.start() for t in ts]
[t.join() for t in ts]
print(n[0])
"""


def login_time(web, src="127.0.0.1"):
    t0 = time.monotonic()
    st = at_once(web, [(src, login_request(web, "acme", "ann", "ann-pw-1"))])[0]
    assert st == 200, st
    return time.monotonic() - t0


def test_a_flood_does_not_delay_another_login(web):
    # One client (its own process, eight connections at a time) floods
    # logins on fresh names from its address as fast as it can; a login
    # from another address still completes in about the time of a quiet
    # one. Before the fix, it waited behind the whole 64-job queue of the
    # flooder's checks (14-17 s here). The bound is relative to a quiet
    # login, measured first, so that a loaded test machine does not make
    # it fail; tests/bench/login_flood prints the absolute figure.
    quiet = sorted(login_time(web) for _ in range(3))[1]
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(web.port), web.host, "6", "8"],
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)  # the flood is under way
        took = [login_time(web) for _ in range(3)]
    finally:
        out, _ = flood.communicate(timeout=deadline(60))
    assert int(out) > 100, out  # it did flood
    assert max(took) < max(deadline(3.0), 10 * quiet), (quiet, took)
