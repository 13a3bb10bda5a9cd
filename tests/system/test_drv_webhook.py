"""The `webhook` puller: POST /hooks/{client}/{definition} on databus-web,
HMAC-SHA-256 signed GitHub-style. 202 only once the passenger is durable
(visible in the queue the moment the answer arrives), pushed at once
without a schedule, redeliveries deduplicated, bad or missing signatures
401 with nothing stored, oversized bodies 413, unknown hooks 404."""
import hashlib
import hmac
import http.client
import json
import uuid

from conftest import client, definition, free_port, wait_for
from fakehttp import FakeHTTP

SECRET = "it-is-a-long-webhook-secret"


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


def post(port, path, body, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


def deliver(port, body, event="workflow_run", delivery=None, secret=SECRET,
            path="/hooks/acme/gh", sig=None):
    h = {"Content-Type": "application/json", "X-GitHub-Event": event,
         "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if sig is not False:
        h["X-Hub-Signature-256"] = sig or sign(body, secret)
    return post(port, path, body, h)


def start(bus, tmp, target_url, **puller):
    port = free_port()
    p = {"name": "hook", "type": "webhook", "secret": SECRET}
    p.update(puller)
    d = definition("gh", [p], [{"name": "out", "type": "http",
                                "url": target_url}])
    b = bus({"acme": client(d)},
            web={"enabled": True, "listen": "127.0.0.1:%d" % port})

    def healthy():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            return c.getresponse().status == 200
        except OSError:
            return False
    wait_for(healthy, 20, "databus-web /healthz")
    return b, port


def test_webhook_intake(tmp, bus):
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs")
        body = json.dumps({"action": "completed",
                           "workflow_run": {"id": 42}}).encode()
        status, doc = deliver(port, body, delivery="d-1")
        assert status == 202, doc
        assert doc["duplicate"] is False
        # Durable before the answer: in the queue at once.
        p = b.show("acme", doc["id"])
        assert p["external_id"] == "d-1"
        md = {m["key"]: m["value"] for m in p["metadata"]} \
            if isinstance(p["metadata"], list) else p["metadata"]
        assert md["event"] == "workflow_run" and md["delivery"] == "d-1"
        # Pushed without an expedite (the schedule is a day).
        wait_for(lambda: t.seen("POST", "/runs"), 20, "the push")
        (r,) = t.seen("POST", "/runs")
        pushed = r.json()
        assert pushed["external_id"] == "d-1"
        assert json.loads(pushed["attachments"][0]["text"]) == \
            json.loads(body)
        b.wait_counts("acme", "gh", pending=0, done=1, dead=0)

        # A redelivery is the same passenger.
        status, doc2 = deliver(port, body, delivery="d-1")
        assert status == 202 and doc2 == {"id": doc["id"],
                                          "duplicate": True}
        assert len(b.queue("--client", "acme")) == 1
    finally:
        t.close()


def test_webhook_refusals(tmp, bus):
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs", max_body=1024)
        body = b'{"zen": "Keep it logically awesome."}'
        assert deliver(port, body, secret="not-the-secret-at-all")[0] == 401
        assert deliver(port, body, sig=False)[0] == 401
        assert deliver(port, body, sig="sha256=" + "0" * 64)[0] == 401
        assert deliver(port, body, sig="sha1=abc")[0] == 401
        # Signature of another body.
        assert deliver(port, body, sig=sign(body + b" "))[0] == 401
        status, doc = deliver(port, b"x" * 2000)
        assert status == 413, doc
        assert deliver(port, body, path="/hooks/acme/nope")[0] == 404
        assert deliver(port, body, path="/hooks/other/gh")[0] == 404
        assert deliver(port, body, path="/hooks/acme")[0] == 404
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/hooks/acme/gh")
        assert c.getresponse().status == 405
        assert b.queue("--client", "acme") == []
        # A good one still goes through.
        status, doc = deliver(port, body)
        assert status == 202, doc
        assert len(b.queue("--client", "acme")) == 1
    finally:
        t.close()


def test_webhook_secret_env_and_custom_headers(tmp, bus):
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        port = free_port()
        p = {"name": "hook", "type": "webhook",
             "secret_env": "DBS_TEST_HOOK_SECRET",
             "signature_header": "X-Signature", "signature_prefix": "",
             "event_header": "X-Event", "delivery_header": "X-Id"}
        d = definition("gh", [p], [{"name": "out", "type": "http",
                                    "url": t.url + "/x"}])
        b = bus({"acme": client(d)},
                env={"DBS_TEST_HOOK_SECRET": "another-long-secret-value"},
                web={"enabled": True, "listen": "127.0.0.1:%d" % port})

        def up():
            try:
                return post(port, "/hooks/acme/gh", b"{}")[0] == 401
            except OSError:
                return False
        wait_for(up, 20, "databus-web")
        body = b'{"a": 1}'
        digest = hmac.new(b"another-long-secret-value", body,
                          hashlib.sha256).hexdigest()
        status, doc = post(port, "/hooks/acme/gh", body,
                           {"X-Signature": digest, "X-Event": "ping",
                            "X-Id": "custom-1"})
        assert status == 202, doc
        p = b.show("acme", doc["id"])
        assert p["external_id"] == "custom-1"
        assert "ping" in json.dumps(p["metadata"])
    finally:
        t.close()
