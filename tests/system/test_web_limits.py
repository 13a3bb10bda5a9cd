"""databus-web's request size limits: every oversized request answers 413
with the JSON error body and the security headers, whichever layer refuses
it (our handlers above WEB_MAX_BODY = 16 KiB, or h2o itself above its
buffer limit of 1 MiB, announced by Content-Length or reached while
reading chunks), and refused bodies do not make the server's memory grow.

Raw sockets are used where the server answers before the body is sent:
http.client would fail on the closed connection instead of reading the
answer.
"""

import json
import socket
import threading

import pytest

from conftest import BUILD, deadline, vm_hwm_kib, wait_for
from test_web_api import Web, check_headers

WEB_MAX_BODY = 16 * 1024
# h2o's own buffer limit: the largest route limit (config saves and
# webhook deliveries, WEB_MAX_CONFIG_BODY / WEB_HOOK_MAX_BODY).
H2O_MAX_BODY = 1 << 20


@pytest.fixture
def web(bus):
    b = bus({"acme": {"users": [{"username": "ann",
                                 "password": "ann-pw-1",
                                 "role": "administrator"}]}},
            workers=False)
    w = Web(b.data_dir)
    yield w
    w.stop()


def raw(web, head, body_parts=(), timeout=None):
    """Send a request head and body parts (stopping quietly when the server
    has closed), then read the whole answer until the server closes.
    Returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", web.port),
                                 timeout=timeout or deadline(20))
    try:
        s.sendall(head.encode())
        for part in body_parts:
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                cl = [int(line.split(b":", 1)[1]) for line in
                      hdr.split(b"\r\n") if
                      line.lower().startswith(b"content-length:")]
                if cl and len(rest) >= cl[0]:
                    break
    finally:
        s.close()
    assert data, "no answer at all"
    hdr, _, body = data.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def head(web, method, path, extra):
    return ("%s %s HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\n"
            "Content-Type: application/json\r\n%s\r\n"
            % (method, path, web.host, web.origin, extra))


def assert_413(method, path, status, headers, body):
    assert status == 413, (status, headers, body)
    check_headers(method, path, status, headers, body)
    doc = json.loads(body)
    assert doc == {"error": {"code": "too_large",
                             "message": "the request body is too large"}}


def test_handler_limit(web):
    """Above WEB_MAX_BODY but within h2o's buffer: our check, on every
    route and method, before anything else (no session needed)."""
    big = json.dumps({"client": "acme", "username": "ann",
                      "password": "x" * WEB_MAX_BODY})
    for method, path in [("POST", "/api/v1/login"),
                         ("POST", "/api/v1/logout"),
                         ("GET", "/api/v1/me"),
                         ("GET", "/api/v1/queue"),
                         ("POST", "/api/v1/nothing-here")]:
        status, hdrs, data, _ = web.request(method, path, body=big)
        assert_413(method, path, status, hdrs, data)
    # Just within the limit is read and judged on its content.
    ok = json.dumps({"client": "acme", "username": "ann",
                     "password": "ann-pw-1", "pad": ""})
    ok = ok[:-2] + "x" * (WEB_MAX_BODY - len(ok)) + '"}'
    assert len(ok) == WEB_MAX_BODY
    assert web.request("POST", "/api/v1/login", body=ok)[0] == 200


def test_h2o_limit_content_length(web):
    """A Content-Length above h2o's buffer is refused before the body is
    read, with our JSON error (not h2o's text)."""
    for n in (H2O_MAX_BODY + 1, 10 * 1024 * 1024, 2 ** 40):
        status, headers, body = raw(
            web, head(web, "POST", "/api/v1/login",
                      "Content-Length: %d\r\n" % n),
            [b"{" + b" " * 1000])
        assert_413("POST", "/api/v1/login", status, headers, body)


def test_h2o_limit_chunked(web):
    """A chunked body that grows past h2o's buffer is refused while it is
    read, with our JSON error."""
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    status, headers, body = raw(
        web, head(web, "POST", "/api/v1/login",
                  "Transfer-Encoding: chunked\r\n"),
        [chunk] * 20 + [b"0\r\n\r\n"])
    assert_413("POST", "/api/v1/login", status, headers, body)
    # A small chunked body still works.
    small = json.dumps({"client": "acme", "username": "ann",
                        "password": "ann-pw-1"}).encode()
    status, headers, body = raw(
        web, head(web, "POST", "/api/v1/login",
                  "Transfer-Encoding: chunked\r\n"),
        [b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)])
    assert status == 200, body


def test_memory_bounded(web):
    """Many connections pushing large bodies at once: each is cut at the
    limit, so the server's peak memory grows by far less than what was
    sent (64 x 4 MiB = 256 MiB): at most connections x H2O_MAX_BODY."""
    before = vm_hwm_kib(web.proc.pid)
    assert before
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    results = []

    def one():
        try:
            results.append(raw(web, head(
                web, "POST", "/api/v1/login",
                "Transfer-Encoding: chunked\r\n"), [chunk] * 64)[0])
        except OSError as e:
            results.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline(60))
    assert len(results) == 64
    assert set(results) == {413}, results
    grown = vm_hwm_kib(web.proc.pid) - before
    # The bound is not checked under ASan: its quarantine keeps freed
    # buffers out of reuse, so the peak measures the sanitizer.
    if "asan" not in str(BUILD):
        bound = 64 * H2O_MAX_BODY // 1024
        assert grown < bound + bound // 2, "peak RSS grew by %d KiB" % grown
    # And it still answers.
    wait_for(lambda: web.request("GET", "/healthz")[0] == 200, 10,
             "healthz after the flood")
