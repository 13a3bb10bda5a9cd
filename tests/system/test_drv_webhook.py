"""The `webhook` puller: POST /hooks/{client}/{definition} on databus-web,
HMAC-SHA-256 signed GitHub-style. 202 only once the passenger is durable
(visible in the queue the moment the answer arrives), pushed at once
without a schedule, redeliveries deduplicated, bad or missing signatures
401 with nothing stored, oversized bodies 413, unknown hooks 401 like a bad
signature."""
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


def _md(p):
    return {m["key"]: m["value"] for m in p["metadata"]} \
        if isinstance(p["metadata"], list) else p["metadata"]


def test_webhook_long_ids_and_events(tmp, bus):
    """Delivery ids longer than 200 characters are hashed, never dropped:
    two different ones with the same body are two passengers, the same one
    twice is a duplicate. Bytes that are not printable ASCII are
    %-escaped (two ids never become one). An over-long event is kept
    truncated and marked."""
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs")
        body = b'{"same": "body"}'
        ids = {"a" * 201 + "-1": None, "a" * 201 + "-2": None,
               "x" * 4000: None,
               "caf\u00e9-1".encode().decode("latin-1"): "caf%C3%A9-1",
               "caf%C3%A9-1": "caf%25C3%25A9-1",
               "id\twith-tab": "id%09with-tab"}
        seen = set()
        for d, want in ids.items():
            status, doc = deliver(port, body, delivery=d)
            assert status == 202 and doc["duplicate"] is False, (d, doc)
            p = b.show("acme", doc["id"])
            xid = p["external_id"]
            if want is None:
                assert xid.startswith("delivery-sha256:") and len(xid) == 80
            else:
                assert xid == want
            assert xid not in seen
            seen.add(xid)
            status, again = deliver(port, body, delivery=d)
            assert status == 202 and again == {"id": doc["id"],
                                               "duplicate": True}
        # 200 printable characters are kept as they are.
        status, doc = deliver(port, body, delivery="k" * 200)
        assert b.show("acme", doc["id"])["external_id"] == "k" * 200
        # An over-long event: its start, marked.
        status, doc = deliver(port, b'{"n": 2}', event="push-" + "e" * 500,
                              delivery="ev-1")
        assert status == 202, doc
        ev = _md(b.show("acme", doc["id"]))["event"]
        assert ev.startswith("push-eee") and ev.endswith(" [truncated]")
        assert len(ev) <= 200
        assert len(b.queue("--client", "acme")) == len(ids) + 2
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
        # Unknown names answer like a bad signature (nothing tells which
        # webhooks exist), whatever the body's size; a malformed path is
        # no route at all.
        bad = deliver(port, body, sig=False)
        for path in ("/hooks/acme/nope", "/hooks/other/gh", "/hooks/n%C3%A9/x",
                     "/hooks/acme/" + "x" * 300):
            for payload in (body, b"x" * 2000):
                got = deliver(port, payload, path=path)
                assert got == bad, (path, got, bad)
                got = deliver(port, payload, path=path, sig=False)
                assert got == bad, (path, got, bad)
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


def test_webhook_concurrent_deliveries(tmp, bus):
    """Many deliveries in flight at once (the web answers them
    asynchronously): every one is answered 202 and stored exactly once,
    redeliveries included."""
    import threading
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs")
        n, threads = 240, 12
        answers = []
        lock = threading.Lock()

        def sender(k):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for i in range(k, n, threads):
                # Every 4th delivery repeats the previous one's id.
                did = "c-%d" % (i - 1 if i % 4 == 3 else i)
                body = json.dumps({"n": i - 1 if i % 4 == 3 else i}).encode()
                c.request("POST", "/hooks/acme/gh", body=body,
                          headers={"Content-Type": "application/json",
                                   "X-GitHub-Event": "push",
                                   "X-GitHub-Delivery": did,
                                   "X-Hub-Signature-256": sign(body)})
                r = c.getresponse()
                doc = json.loads(r.read())
                with lock:
                    answers.append((did, r.status, doc))
        ts = [threading.Thread(target=sender, args=(k,))
              for k in range(threads)]
        for x in ts:
            x.start()
        for x in ts:
            x.join()
        assert len(answers) == n
        assert all(s == 202 for _, s, _ in answers), \
            [a for a in answers if a[1] != 202][:3]
        ids = {}
        for did, _, doc in answers:
            ids.setdefault(did, set()).add(doc["id"])
        # One passenger per delivery id, whoever answered first.
        assert all(len(v) == 1 for v in ids.values())
        unique = len(ids)
        assert unique == n - n // 4
        b.wait_counts("acme", "gh", pending=0, done=unique, dead=0,
                      timeout=60)
        assert len({r.headers["idempotency-key"]
                    for r in t.seen("POST", "/runs")}) == unique
    finally:
        t.close()


def test_webhook_keep_alive(tmp, bus):
    """A stream of deliveries on one keep-alive connection: every answer
    (202, 401, and 401 for an unknown name) carries a Content-Length and keeps the connection
    open, so a sender does not pay a new connection per delivery."""
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs")
        n = 30
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.connect()
        sock = c.sock
        for i in range(n):
            body = json.dumps({"n": i}).encode()
            h = {"Content-Type": "application/json",
                 "X-GitHub-Event": "push", "X-GitHub-Delivery": "k-%d" % i,
                 "X-Hub-Signature-256": sign(body)}
            path, want = "/hooks/acme/gh", 202
            if i % 10 == 5:
                h["X-Hub-Signature-256"] = sign(body, "wrong-secret")
                want = 401
            elif i % 10 == 7:
                path, want = "/hooks/acme/nope", 401
            c.request("POST", path, body=body, headers=h)
            r = c.getresponse()
            doc = json.loads(r.read())
            assert r.status == want, (i, r.status, doc)
            assert r.getheader("Content-Length") is not None
            assert not r.will_close, r.getheader("Connection")
            assert c.sock is sock, "the server closed the connection"
        c.close()
        b.wait_counts("acme", "gh", pending=0, done=n - 6, dead=0,
                      timeout=60)
        assert len(t.seen("POST", "/runs")) == n - 6
    finally:
        t.close()


def test_webhook_running_drive_takes_new(tmp, bus):
    """Deliveries that arrive while the definition's drive is still
    pushing an earlier one join that drive (it is less than a second old)
    instead of waiting for it to end and making another: one drive log
    completes them all."""
    import threading
    gate = threading.Event()

    def handler(req):
        if req.json().get("external_id") == "g-0":
            gate.wait(30)  # hold the first push until the rest arrived
        return (200, {}, b"ok")
    t = FakeHTTP(handler)
    try:
        b, port = start(bus, tmp, t.url + "/runs")

        def acme_logs():
            return [l for l in b.ctl("logs", "ls")["items"]
                    if l["client"] == "acme"]
        wait_for(lambda: len(acme_logs()) == 1, 30, "the start-up drive")
        body = json.dumps({"n": 0}).encode()
        assert deliver(port, body, delivery="g-0")[0] == 202
        wait_for(lambda: t.seen("POST", "/runs"), 30, "the first push")
        try:
            for i in range(1, 5):
                body = json.dumps({"n": i}).encode()
                assert deliver(port, body, delivery="g-%d" % i)[0] == 202
        finally:
            gate.set()
        b.wait_counts("acme", "gh", pending=0, done=5, dead=0, timeout=60)
        logs = acme_logs()
        assert sorted(l["completed"] for l in logs) == [0, 5], \
            [(l["completed"], l["outcome"]) for l in logs]
    finally:
        t.close()


def test_webhook_config_errors(tmp):
    from conftest import run_databusd, write_config
    cases = [({}, "secret"),
             ({"secret": "short"}, "too short"),
             ({"secret": SECRET, "secret_env": "X"}, "only one"),
             ({"secret_env": "DBS_NO_SUCH_SECRET_VAR"},
              "DBS_NO_SUCH_SECRET_VAR"),
             ({"secret": SECRET, "max_body": 0}, "max_body"),
             ({"secret": SECRET, "max_body": (1 << 20) + 1}, "max_body"),
             ({"secret": SECRET, "signature_header": "X Sig"},
              "signature_header"),
             ({"secret": SECRET, "colour": "red"}, "colour"),
             ({"token": "short"}, "too short"),
             ({"token": TOKEN, "token_env": "X"}, "only one"),
             ({"token_env": "DBS_NO_SUCH_TOKEN_VAR"},
              "DBS_NO_SUCH_TOKEN_VAR"),
             ({"token": TOKEN, "token_header": "X Tok"}, "token_header")]
    for settings, word in cases:
        p = {"name": "hook", "type": "webhook"}
        p.update(settings)
        d = definition("gh", [p], [{"name": "sink", "type": "null"}])
        cfg = write_config(tmp, {"acme": client(d)})
        r = run_databusd(["--config", cfg], cwd=tmp)
        assert r.returncode == 100, (settings, r.stderr)
        assert "$.passengers[0].pullers[0]" in r.stderr, r.stderr
        assert word in r.stderr, (word, r.stderr)
    # Two webhook pullers in one definition: the second could never
    # receive anything.
    d = definition("gh", [{"name": "a", "type": "webhook", "secret": SECRET},
                          {"name": "b", "type": "webhook", "secret": SECRET}],
                   [{"name": "sink", "type": "null"}])
    cfg = write_config(tmp, {"acme": client(d)})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, r.stderr
    assert "$.passengers[0].pullers[1].type" in r.stderr, r.stderr
    assert "only one webhook puller" in r.stderr, r.stderr


TOKEN = "gitlab-shared-token-0123456789"


def test_webhook_shared_token(tmp, bus):
    """GitLab-style: no signature, a shared token in X-Gitlab-Token. The
    right token is 202; a wrong, a missing, a longer or a shorter one is
    401 like a bad signature, with nothing stored."""
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        b, port = start(bus, tmp, t.url + "/runs", secret=None, token=TOKEN,
                        event_header="X-Gitlab-Event")
        body = json.dumps({"object_kind": "pipeline"}).encode()

        def send(token):
            h = {"Content-Type": "application/json",
                 "X-Gitlab-Event": "Pipeline Hook",
                 "X-GitHub-Delivery": str(uuid.uuid4())}
            if token is not None:
                h["X-Gitlab-Token"] = token
            return post(port, "/hooks/acme/gh", body, h)
        for bad in ("wrong-token-0123456789abcdef", None, TOKEN + "x",
                    TOKEN[:-1], ""):
            status, doc = send(bad)
            assert status == 401, (bad, status, doc)
        # A signature alone does not replace the token.
        assert deliver(port, body)[0] == 401
        status, doc = send(TOKEN)
        assert status == 202, doc
        p = b.show("acme", doc["id"])
        md = {m["key"]: m["value"] for m in p["metadata"]} \
            if isinstance(p["metadata"], list) else p["metadata"]
        assert md["event"] == "Pipeline Hook"
        b.wait_counts("acme", "gh", pending=0, done=1, dead=0)
    finally:
        t.close()


def test_webhook_token_and_signature(tmp, bus):
    """Both configured: both must be right."""
    b, port = start(bus, tmp, "http://127.0.0.1:9/", token=TOKEN)
    body = b"{}"
    h = {"Content-Type": "application/json",
         "X-GitHub-Delivery": str(uuid.uuid4()),
         "X-Hub-Signature-256": sign(body)}
    assert post(port, "/hooks/acme/gh", body, h)[0] == 401
    assert post(port, "/hooks/acme/gh", body,
                dict(h, **{"X-Gitlab-Token": "x" * 30}))[0] == 401
    assert post(port, "/hooks/acme/gh", body,
                dict(h, **{"X-Gitlab-Token": TOKEN}))[0] == 202
