"""The `http` pusher against local HTTP servers started by the test:
success with headers from the environment, 500 then success with stable
idempotency keys, 429 with Retry-After, a slow target hitting the timeout,
a 4xx making the passenger dead with the response logged, a target that is
down and comes back; and configuration errors named by --check."""
import json
import shutil
import subprocess
import threading
import time

import pytest

from conftest import (bench_puller, client, definition, free_port,
                      run_databusd, wait_for, write_config)
from fakehttp import FakeHTTP

FAST_RETRY = {"max_attempts": 10, "backoff": "100ms", "max_backoff": "300ms"}


def _def(url, count=3, retry=FAST_RETRY, **pusher):
    p = {"name": "target", "type": "http", "url": url}
    p.update(pusher)
    return definition("events", [bench_puller(count=count, size=16)], [p],
                      retry=retry)


def test_push_passenger_json(tmp, bus):
    t = FakeHTTP(lambda req: (201, {}, b"created"))
    try:
        b = bus({"acme": client(_def(
            t.url + "/in", headers={"Authorization": "env:DBS_TEST_TOKEN",
                                    "X-Static": "yes"}))},
            env={"DBS_TEST_TOKEN": "Bearer s3cret"})
        b.wait_counts("acme", "events", pending=0, done=3, dead=0)
        reqs = t.seen("POST", "/in")
        assert len(reqs) == 3
        # One connection, reused from push to push.
        assert len({r.peer for r in reqs}) == 1, [r.peer for r in reqs]
        ids = {p["external_id"]: p["id"] for p in b.queue("--client", "acme")}
        for r in reqs:
            assert r.headers["authorization"] == "Bearer s3cret"
            assert r.headers["x-static"] == "yes"
            assert r.headers["content-type"] == "application/json"
            doc = r.json()
            assert doc["client"] == "acme" and doc["definition"] == "events"
            assert doc["puller"] == "bench"
            assert ids[doc["external_id"]] == doc["id"]
            assert r.headers["idempotency-key"] == "%d:target" % doc["id"]
            assert doc["metadata"]["n"] == doc["external_id"].split("-")[1]
            att = doc["attachments"][0]
            assert att["name"] == "data.bin" and att["size"] == 16
            assert ("text" in att) != ("base64" in att)
    finally:
        t.close()


def test_push_attachment_with_put(tmp, bus):
    t = FakeHTTP(lambda req: (204, {}, b""))
    try:
        inbox = tmp / "in"
        inbox.mkdir()
        (inbox / "a.json").write_text('{"x": 1}')
        d = definition("files", [{"name": "in", "type": "dir",
                                  "path": "in", "pattern": "*.json"}],
                       [{"name": "up", "type": "http", "method": "PUT",
                         "url": t.url + "/files", "attachment": "*.json"}])
        b = bus({"acme": client(d)})
        b.wait_counts("acme", "files", pending=0, done=1, dead=0)
        (r,) = t.seen("PUT", "/files")
        assert r.body == b'{"x": 1}'
        assert r.headers["content-type"] == "application/json"
    finally:
        t.close()


def test_500_then_success_same_key(tmp, bus):
    fails = {}
    lock = threading.Lock()

    def handler(req):
        key = req.headers.get("idempotency-key")
        with lock:
            fails[key] = fails.get(key, 0) + 1
            n = fails[key]
        return (500, {}, b"boom") if n <= 2 else (200, {}, b"ok")
    t = FakeHTTP(handler)
    try:
        b = bus({"acme": client(_def(t.url + "/in"))})
        b.wait_counts("acme", "events", pending=0, done=3, dead=0,
                      timeout=60)
        reqs = t.seen("POST", "/in")
        assert len(reqs) == 9
        by_key = {}
        for r in reqs:
            by_key.setdefault(r.headers["idempotency-key"], []).append(
                r.body)
        assert len(by_key) == 3
        for key, bodies in by_key.items():
            assert len(bodies) == 3
            # A retried push is byte-identical.
            assert bodies[0] == bodies[1] == bodies[2]
        for p in b.queue("--client", "acme"):
            assert p["attempts"] == 2, p
    finally:
        t.close()


def test_429_retry_after(tmp, bus):
    first = []

    def handler(req):
        if not first:
            first.append(req.time)
            return 429, {"Retry-After": "2"}, b"slow down"
        return 200, {}, b"ok"
    t = FakeHTTP(handler)
    try:
        b = bus({"acme": client(_def(t.url + "/in", count=1))})
        b.wait_counts("acme", "events", pending=0, done=1, dead=0,
                      timeout=60)
        reqs = t.seen("POST", "/in")
        assert len(reqs) == 2
        # The supervisor's own backoff is 100-300 ms: the wait comes from
        # Retry-After.
        assert reqs[1].time - reqs[0].time >= 1.9, \
            reqs[1].time - reqs[0].time
    finally:
        t.close()


def test_slow_target_times_out(tmp, bus):
    calls = []

    def handler(req):
        calls.append(req)
        if len(calls) == 1:
            time.sleep(3)
        return 200, {}, b"ok"
    t = FakeHTTP(handler)
    try:
        b = bus({"acme": client(_def(t.url + "/in", count=1,
                                     timeout_ms=500))})
        b.wait_counts("acme", "events", pending=0, done=1, dead=0,
                      timeout=60)
        (p,) = b.queue("--client", "acme")
        assert p["attempts"] == 1, p
        logs = json.dumps(b.ctl("logs", "ls"))
        assert len(t.seen("POST", "/in")) >= 2
        # The failure is in the drive log.
        found = []
        for item in b.ctl("logs", "ls")["items"]:
            full = json.dumps(b.ctl("logs", "show", "acme", item["id"]))
            if "timed out" in full.lower():
                found.append(item["id"])
        assert found, logs
    finally:
        t.close()


def test_4xx_is_dead_with_response_logged(tmp, bus):
    t = FakeHTTP(lambda req: (422, {"Content-Type": "application/json"},
                              b'{"message": "field \\"x\\" is invalid"}'))
    try:
        b = bus({"acme": client(_def(t.url + "/in", count=1))})
        b.wait_counts("acme", "events", pending=0, done=0, dead=1)
        (p,) = b.queue("--client", "acme")
        assert "HTTP 422" in p["last_error"], p
        assert "is invalid" in p["last_error"], p
        assert len(t.seen("POST", "/in")) == 1
    finally:
        t.close()


def test_target_down_then_up(tmp, bus):
    port = free_port()
    b = bus({"acme": client(_def("http://127.0.0.1:%d/in" % port, count=2,
                                 retry={"max_attempts": 50,
                                        "backoff": "200ms",
                                        "max_backoff": "500ms"}))})

    def failing():
        items = b.queue("--client", "acme")
        return (len(items) == 2 and all(p["attempts"] >= 2 for p in items)
                and items)
    items = wait_for(failing, 30, "pushes to fail while the target is down")
    for p in items:
        assert p["state"] == "pending", p
        assert "127.0.0.1" in p["last_error"], p
    t = FakeHTTP(lambda req: (200, {}, b"ok"), port=port)
    try:
        b.wait_counts("acme", "events", pending=0, done=2, dead=0,
                      timeout=30)
        assert len({r.headers["idempotency-key"]
                    for r in t.seen("POST", "/in")}) == 2
    finally:
        t.close()


def test_http_config_errors(tmp):
    cases = [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:1/", "method": "DELETE"}, "method"),
        ({"url": "http://127.0.0.1:1/",
          "headers": {"Authorization": "env:DBS_NO_SUCH_VAR_XYZ"}},
         "DBS_NO_SUCH_VAR_XYZ"),
        ({"url": "https://127.0.0.1:1/", "insecure": True,
          "ca_file": "/etc/hostname"}, "insecure"),
        ({"url": "https://127.0.0.1:1/", "ca_file": "no-such.pem"},
         "ca_file"),
        ({"url": "http://127.0.0.1:1/", "timeout": 5}, "timeout"),
    ]
    for settings, word in cases:
        p = {"name": "target", "type": "http"}
        p.update(settings)
        d = definition("events", [bench_puller(count=1)], [p])
        cfg = write_config(tmp, {"acme": client(d)})
        r = run_databusd(["--config", cfg], cwd=tmp)
        assert r.returncode == 100, (settings, r.stderr)
        assert "clients/acme.json" in r.stderr, r.stderr
        assert "$.passengers[0].pushers[0]" in r.stderr, r.stderr
        assert word in r.stderr, (word, r.stderr)


def _self_signed(tmp):
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl")
def test_tls_verified_by_default(tmp, bus):
    cert, key = _self_signed(tmp)
    t = FakeHTTP(lambda req: (200, {}, b"ok"), tls=(str(cert), str(key)))
    try:
        d = definition("events", [bench_puller(count=1, size=8)],
                       [{"name": "strict", "type": "http",
                         "url": t.url + "/in"},
                        {"name": "pinned", "type": "http",
                         "url": t.url + "/in", "ca_file": str(cert)},
                        {"name": "lax", "type": "http", "url": t.url + "/in",
                         "insecure": True}],
                       retry={"max_attempts": 50, "backoff": "1s",
                              "max_backoff": "2s"})
        b = bus({"acme": client(d)})

        def steps():
            items = b.queue("--client", "acme")
            if not items:
                return None
            st = {s["name"]: s for s in items[0]["steps"]}
            return st if st["pinned"]["state"] == "complete" and \
                st["lax"]["state"] == "complete" and \
                st["strict"].get("error") else None
        st = wait_for(steps, 30, "pinned and lax pushes, strict refused")
        # The self-signed certificate is refused without ca_file.
        assert st["strict"]["state"] == "failed", st
        assert "certificate" in st["strict"]["error"].lower(), st
        assert len(t.seen("POST", "/in")) == 2
    finally:
        t.close()
