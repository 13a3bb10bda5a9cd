"""The CI dashboard use case (docs/examples/ci-dashboard.md) end to end on
loopback: a GitHub-style fake API is backfilled with http_poll (at most N
workflow runs, newest first), then live `workflow_run` webhooks arrive
signed like GitHub's; every run reaches the dashboard's HTTP ingest and a
dir archive, redeliveries only once."""
import hashlib
import hmac
import http.client
import json
import threading
import uuid
from urllib.parse import parse_qs, urlparse

from conftest import client, definition, free_port, wait_for
from fakehttp import FakeHTTP

SECRET = "dashboard-webhook-secret-42"
TOKEN = "ghp_fake_token_for_tests"


def run(i, status="completed", conclusion="success"):
    return {"id": 9000 + i, "name": "CI", "head_branch": "main",
            "head_sha": "%040x" % i, "status": status,
            "conclusion": conclusion, "run_attempt": 1,
            "created_at": "2024-05-01T12:%02d:00Z" % i,
            "run_started_at": "2024-05-01T12:%02d:10Z" % i,
            "updated_at": "2024-05-01T12:%02d:50Z" % i,
            "actor": {"login": "dev%d" % (i % 3)},
            "html_url": "https://github.test/acme/app/actions/runs/%d"
                        % (9000 + i)}


class FakeGitHub:
    """GET /repos/acme/app/actions/runs?per_page=&page= (newest first,
    Link rel=next), requiring the token."""

    def __init__(self, n):
        self.runs = [run(i) for i in range(1, n + 1)]
        self.http = FakeHTTP(self.handle)

    def handle(self, req):
        if req.headers.get("authorization") != "Bearer " + TOKEN:
            return 401, {}, {"message": "Bad credentials"}
        u = urlparse(req.path)
        q = parse_qs(u.query)
        per = int(q.get("per_page", ["30"])[0])
        page = int(q.get("page", ["1"])[0])
        runs = sorted(self.runs, key=lambda r: -r["id"])
        chunk = runs[(page - 1) * per:page * per]
        h = {"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "0"}
        if page * per < len(runs):
            h["Link"] = '<%s%s?per_page=%d&page=%d>; rel="next"' % (
                self.http.url, u.path, per, page + 1)
        return 200, h, {"total_count": len(runs), "workflow_runs": chunk}


def send_hook(port, payload, delivery):
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body,
                               hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/hooks/ci/workflow-runs", body=body,
              headers={"Content-Type": "application/json",
                       "X-GitHub-Event": "workflow_run",
                       "X-GitHub-Delivery": delivery,
                       "X-Hub-Signature-256": sig})
    r = c.getresponse()
    return r.status, json.loads(r.read())


def test_dashboard_backfill_then_webhooks(tmp, bus):
    gh = FakeGitHub(12)
    ingested = []
    lock = threading.Lock()

    def ingest(req):
        with lock:
            ingested.append(req)
        return 200, {}, {"ok": True}
    dash = FakeHTTP(ingest)
    port = free_port()
    try:
        (tmp / "archive").mkdir()
        d = definition(
            "workflow-runs",
            [{"name": "backfill", "type": "http_poll",
              "url": gh.http.url + "/repos/acme/app/actions/runs"
                                   "?per_page=4",
              "headers": {"Authorization": "env:GITHUB_TOKEN",
                          "Accept": "application/vnd.github+json"},
              "items": "/workflow_runs", "id": "/id",
              "watermark": "/id", "order": "desc", "max_items": 5,
              "metadata": {"status": "/status",
                           "conclusion": "/conclusion",
                           "author": "/actor/login"}},
             {"name": "github", "type": "webhook",
              "secret_env": "GITHUB_WEBHOOK_SECRET"}],
            [{"name": "dashboard", "type": "http",
              "url": dash.url + "/ingest"},
             {"name": "archive", "type": "dir", "path": "archive"}],
            sync="5m")
        b = bus({"ci": client(d)},
                env={"GITHUB_TOKEN": "Bearer " + TOKEN,
                     "GITHUB_WEBHOOK_SECRET": SECRET},
                web={"enabled": True, "listen": "127.0.0.1:%d" % port})

        # Backfill: the 5 newest runs (-m 5), through 2 pages of 4.
        b.wait_counts("ci", "workflow-runs", pending=0, done=5, dead=0)
        with lock:
            got = sorted(r.json()["external_id"] for r in ingested)
        assert got == [str(9000 + i) for i in range(8, 13)]

        # Live: workflow_run webhooks, pushed at once.
        def up():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port,
                                               timeout=5)
                c.request("GET", "/healthz")
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_for(up, 20, "databus-web")
        deliveries = []
        for i, (st, concl) in enumerate([("in_progress", None),
                                         ("completed", "failure")]):
            payload = {"action": "completed" if concl else "in_progress",
                       "workflow_run": run(13, st, concl),
                       "repository": {"full_name": "acme/app"}}
            delivery = str(uuid.uuid4())
            status, doc = send_hook(port, payload, delivery)
            assert status == 202 and not doc["duplicate"], doc
            deliveries.append((delivery, doc["id"]))
        # GitHub redelivers the last one: accepted, not pushed again.
        status, doc = send_hook(port, payload, deliveries[-1][0])
        assert status == 202 and doc["duplicate"] is True

        b.wait_counts("ci", "workflow-runs", pending=0, done=7, dead=0,
                      timeout=30)
        with lock:
            hooks = [r.json() for r in ingested
                     if r.json()["puller"] == "github"]
        assert sorted(h["external_id"] for h in hooks) == \
            sorted(d for d, _ in deliveries)
        last = [h for h in hooks if h["external_id"] == deliveries[-1][0]]
        assert last[0]["metadata"]["event"] == "workflow_run"
        body = json.loads(last[0]["attachments"][0]["text"])
        assert body["workflow_run"]["conclusion"] == "failure"
        # Every passenger is archived too, and each push had its key.
        assert len(list((tmp / "archive").iterdir())) == 7
        with lock:
            keys = [r.headers["idempotency-key"] for r in ingested]
        assert len(keys) == len(set(keys)) == 7
    finally:
        gh.http.close()
        dash.close()
