"""Request smuggling: databus-web refuses a request whose length another
HTTP/1 server could read differently (webui/framing.c, RFC 9112 §6.1 and
§6.3): two different Content-Length headers, Content-Length together with
Transfer-Encoding, a Transfer-Encoding other than exactly "chunked",
obsolete line folding, whitespace before a colon. The refused request
answers 400 with the JSON error body and the security headers, the
connection closes, and nothing pipelined after it is served; the requests
before it are answered in order. Well-framed streams keep working however
they are cut into TCP writes, over TLS too.

Raw sockets: http.client cannot send such heads, nor pipeline.
"""

import json
import random
import socket
import ssl
import subprocess
import time

import pytest

from conftest import deadline, free_port, wait_for
from test_web_api import SECURITY_HEADERS, WEB, Web
from test_web_tls import make_cert


@pytest.fixture
def web(bus):
    b = bus({"acme": {"users": [{"username": "ann",
                                 "password": "ann-pw-1",
                                 "role": "administrator"}]}},
            workers=False)
    w = Web(b.data_dir)
    yield w
    w.stop()


# ------------------------------------------------------------- the wire

def parse_responses(data):
    """Complete responses (status, {header: value}, body) at the start of
    data, and the bytes left over."""
    out = []
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        if len(rest) < n:
            break
        out.append((int(lines[0].split()[1]), hdrs, rest[:n]))
        data = rest[n:]
    return out, data


class Conn:
    """One connection: send bytes (in pieces), read answers."""

    def __init__(self, port, ctx=None):
        s = socket.create_connection(("127.0.0.1", port),
                                     timeout=deadline(20))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(s, server_hostname="127.0.0.1") \
            if ctx else s
        self.buf = b""
        self.closed = False

    def send(self, data, pieces=None, pause=0.0):
        """data in one write, or cut at the offsets in pieces."""
        cuts = [0] + sorted(set(pieces or [])) + [len(data)]
        for a, b in zip(cuts, cuts[1:]):
            if a == b:
                continue
            try:
                self.s.sendall(data[a:b])
            except (BrokenPipeError, ConnectionResetError):
                return
            if pause:
                time.sleep(pause)

    def read(self, n, until_close=False):
        """n answers (fewer if the server closes first); with until_close
        every answer until the server closes."""
        got = []
        while until_close or len(got) < n:
            out, self.buf = parse_responses(self.buf)
            got += out
            if not until_close and len(got) >= n:
                break
            try:
                c = self.s.recv(65536)
            except ConnectionResetError:
                c = b""
            if not c:
                self.closed = True
                out, self.buf = parse_responses(self.buf)
                got += out
                break
            self.buf += c
        return got

    def close(self):
        self.s.close()


def req(host, method="GET", path="/healthz", body=None, headers=(),
        chunked=False, sep=b"\r\n"):
    """One request as bytes: a Content-Length body, or a chunked one cut
    into chunks of 1..7 bytes (with an extension and a trailer)."""
    lines = [b"%s %s HTTP/1.1" % (method.encode(), path.encode()),
             b"Host: " + host.encode()]
    lines += [h.encode() if isinstance(h, str) else h for h in headers]
    if body is not None and not chunked:
        lines.append(b"Content-Length: %d" % len(body))
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    out = sep.join(lines) + sep + sep
    if chunked:
        i = 0
        while i < len(body):
            n = 1 + (i % 7)
            out += b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n])
            i += n
        out += b"0\r\nX-Trailer: t\r\n\r\n"
    elif body is not None:
        out += body
    return out


def assert_refused(answer, why=None):
    status, hdrs, body = answer
    assert status == 400, answer
    doc = json.loads(body)
    assert doc["error"]["code"] == "bad_request", doc
    if why:
        assert why in doc["error"]["message"], doc
    for k, v in SECURITY_HEADERS.items():
        assert hdrs.get(k) == v, hdrs
    assert hdrs.get("connection") == "close", hdrs


def refused_alone(port, data, why=None, ctx=None, before=()):
    """data (good requests answering `before`, a bad request, then a good
    one) gets those answers, one 400, and a close."""
    c = Conn(port, ctx)
    try:
        c.send(data)
        got = c.read(0, until_close=True)
    finally:
        c.close()
    assert [g[0] for g in got] == list(before) + [400], got
    assert_refused(got[-1], why)
    assert c.closed


# ---------------------------------------------------------------- refused

def next_req(w):
    return req(w.host)


def test_two_content_lengths(web):
    bad = (b"POST /healthz HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n"
           b"Content-Length: 34\r\n\r\nhello" % web.host.encode())
    refused_alone(web.port, bad + next_req(web),
                  "two different Content-Length headers")


def test_content_length_and_chunked(web):
    """The smuggled request in the chunked body is not served either."""
    smuggled = req(web.host, path="/api/v1/info")
    bad = (b"POST /healthz HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % web.host.encode()
           + smuggled)
    refused_alone(web.port, bad + next_req(web),
                  "Content-Length together with Transfer-Encoding")


BAD_HEADERS = [
    (["Transfer-Encoding: gzip, chunked"], "exactly chunked"),
    (["Transfer-Encoding: chunked, chunked"], "exactly chunked"),
    (["Transfer-Encoding: xchunked"], "exactly chunked"),
    (["Transfer-Encoding:  chunked"], "exactly chunked"),
    (["Transfer-Encoding:\t chunked"], "exactly chunked"),
    (["Transfer-Encoding: chunked "], "exactly chunked"),
    (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
     "Transfer-Encoding given twice"),
    (["X-A: b", " Transfer-Encoding: chunked"], "line folding"),
    (["X-A: b", "\tcontinued"], "line folding"),
    (["Content-Length : 5"], "malformed request head"),
    (["Content-Length\t: 5"], "malformed request head"),
    (["Transfer-Encoding : chunked"], "malformed request head"),
    (["Content-Length: +5"], "Content-Length must be digits"),
    (["Content-Length: 5,5"], "Content-Length must be digits"),
    (["Content-Length: 5 "], "Content-Length must be digits"),
    (["Content-Length: -1"], "Content-Length must be digits"),
    (["Content-Length: 0x5"], "Content-Length must be digits"),
    (["Content-Length: 12345678901234567890"],
     "Content-Length must be digits"),
    (["Content-Length: 5", "Content-Length: 6"], "two different"),
    (["Transfer-Encoding: chunked", "Content-Length: 5"], "together"),
]


@pytest.mark.parametrize("headers,why", BAD_HEADERS,
                         ids=[repr(h) for h, _ in BAD_HEADERS])
def test_refused_heads(web, headers, why):
    bad = req(web.host, "POST", headers=headers) + b"hello"
    refused_alone(web.port, bad + next_req(web), why)


def test_earlier_requests_answered(web):
    """Pipelined requests before the refused one are answered, in order,
    with keep-alive; the refused one with 400 and close; none after it."""
    good = (req(web.host) + req(web.host, "POST", body=b"{}") +
            req(web.host, "POST", body=b"x" * 100, chunked=True))
    bad = req(web.host, "POST", body=b"12345",
              headers=["Content-Length: 7"])
    c = Conn(web.port)
    try:
        c.send(good + bad + req(web.host) + req(web.host))
        got = c.read(0, until_close=True)
    finally:
        c.close()
    assert [g[0] for g in got] == [200, 405, 405, 400], got
    assert got[0][2] == b"ok"
    assert all(g[1].get("connection") == "keep-alive" for g in got[:3])
    assert_refused(got[3], "two different Content-Length headers")


def test_refused_head_split(web):
    """A refused head that arrives a byte at a time, after an answered
    request, still answers 400 (h2o has scanned part of it by then)."""
    bad = (b"POST /healthz HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\n"
           b"Content-Length: 2\r\nX-Pad: %s\r\n\r\nab" %
           (web.host.encode(), b"p" * 60))
    data = req(web.host) + bad + req(web.host)
    c = Conn(web.port)
    try:
        c.send(data, range(1, len(data)), pause=0.001)
        got = c.read(0, until_close=True)
    finally:
        c.close()
    assert [g[0] for g in got] == [200, 400], got
    assert_refused(got[1], "two different")


@pytest.mark.parametrize("headers", [
    ["Upgrade: foo"], ["Upgrade: foo", "Connection: keep-alive, upgrade"]])
def test_upgrade_not_taken_closes(web, headers):
    """Checking stops at an Upgrade header; when no upgrade happens the
    connection ends after that answer, so what follows (here a request
    that would be refused) is not served."""
    data = req(web.host, headers=headers)
    bad = req(web.host, "POST", body=b"12345",
              headers=["Content-Length: 7"])
    c = Conn(web.port)
    try:
        c.send(data + bad + req(web.host, path="/api/v1/info"))
        got = c.read(0, until_close=True)
    finally:
        c.close()
    assert [g[0] for g in got] == [200], got
    assert got[0][1].get("connection") == "close"
    assert c.closed


# ----------------------------------------------------------------- served

def test_identical_content_lengths(web):
    data = req(web.host, "POST", body=b"hello",
               headers=["Content-Length: 5"]) + req(web.host)
    c = Conn(web.port)
    try:
        c.send(data)
        got = c.read(2)
    finally:
        c.close()
    assert [g[0] for g in got] == [405, 200], got


def stream(host, rng, n):
    """n random well-framed requests and the statuses they answer."""
    reqs, want = [], []
    for _ in range(n):
        kind = rng.randrange(5)
        body = bytes(rng.randrange(32, 127)
                     for _ in range(rng.randrange(0, 300)))
        sep = rng.choice([b"\r\n", b"\n"])
        if kind == 0:
            reqs.append(req(host, sep=sep))
            want.append(200)
        elif kind == 1:
            reqs.append(req(host, "POST", body=body, sep=sep))
            want.append(405)
        elif kind == 2:
            reqs.append(req(host, "POST", body=body, chunked=True, sep=sep))
            want.append(405)
        elif kind == 3:
            reqs.append(req(host, path="/api/v1/nothing-here", sep=sep,
                            headers=["X-Any: " + "v" * rng.randrange(200)]))
            want.append(404)
        else:
            reqs.append(req(host, "POST", body=body, sep=sep, headers=[
                "Content-Length: %d" % len(body)]))
            want.append(405)
    return b"".join(reqs), want


def run_stream(port, data, want, pieces, ctx=None, pause=0.0):
    c = Conn(port, ctx)
    try:
        c.send(data, pieces, pause)
        got = c.read(len(want))
        # Still open and answering.
        c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        more = c.read(1)
    finally:
        c.close()
    assert [g[0] for g in got] == want, (got, data)
    assert all(g[1].get("connection") == "keep-alive" for g in got)
    assert [m[0] for m in more] == [200]


def test_pipelining_byte_by_byte(web):
    rng = random.Random(7)
    data, want = stream(web.host, rng, 6)
    run_stream(web.port, data, want, range(1, len(data)), pause=0.0005)


def test_pipelining_random_pieces(web):
    """Fuzz-style: random valid streams cut into random pieces are all
    answered, in order, on one connection each."""
    rng = random.Random(1313)
    for _ in range(40):
        data, want = stream(web.host, rng, rng.randrange(1, 9))
        cuts = rng.sample(range(1, len(data)),
                          min(len(data) - 1, rng.randrange(0, 40)))
        run_stream(web.port, data, want, cuts,
                   pause=rng.choice([0, 0.001]))


def test_pipelining_then_refused_random(web):
    """Random valid streams followed by a refused request and more: every
    valid one is answered, then 400, then the connection closes."""
    rng = random.Random(99)
    for i in range(20):
        data, want = stream(web.host, rng, rng.randrange(0, 5))
        _, why = BAD_HEADERS[i % len(BAD_HEADERS)]
        bad = req(web.host, "POST",
                  headers=BAD_HEADERS[i % len(BAD_HEADERS)][0]) + b"hello"
        tail, _ = stream(web.host, rng, 2)
        full = data + bad + tail
        cuts = rng.sample(range(1, len(full)),
                          min(len(full) - 1, rng.randrange(0, 30)))
        c = Conn(web.port)
        try:
            c.send(full, cuts, pause=rng.choice([0, 0.001]))
            got = c.read(0, until_close=True)
        finally:
            c.close()
        assert [g[0] for g in got] == want + [400], (got, full)
        assert_refused(got[-1], why)


# -------------------------------------------------------------------- TLS

class TlsWeb(Web):
    """databus-web with --tls-cert/--tls-key, against the bus's data."""

    def __init__(self, data_dir, crt, key):
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(cafile=str(crt))
        self.proc = subprocess.Popen(
            [str(WEB), "--data", data_dir, "--listen", self.host,
             "--tls-cert", str(crt), "--tls-key", str(key)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        wait_for(self._up, 15, "databus-web over https")

    def _up(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        try:
            c = Conn(self.port, self.ctx)
        except OSError:
            return False
        try:
            c.send(req(self.host))
            return [g[0] for g in c.read(1)] == [200]
        finally:
            c.close()


@pytest.fixture
def tls_web(bus, tmp):
    crt, key = make_cert(tmp / "tls", "web")
    b = bus({"acme": {"users": [{"username": "ann",
                                 "password": "ann-pw-1",
                                 "role": "administrator"}]}},
            workers=False)
    w = TlsWeb(b.data_dir, crt, key)
    yield w
    w.stop()


def test_tls(tls_web):
    w = tls_web
    bad = (b"POST /healthz HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % w.host.encode())
    refused_alone(w.port, req(w.host) + bad + req(w.host), "together",
                  w.ctx, before=[200])
    rng = random.Random(5)
    for _ in range(10):
        data, want = stream(w.host, rng, rng.randrange(1, 6))
        cuts = rng.sample(range(1, len(data)),
                          min(len(data) - 1, rng.randrange(0, 20)))
        run_stream(w.port, data, want, cuts, ctx=w.ctx, pause=0.001)
