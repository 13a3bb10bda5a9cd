"""The CI dashboard backend of the original project, rebuilt with Databus
(docs/examples/ci-dashboard.md): the shipped example config — GitHub
workflow_run webhooks and an http_poll backfill of the runs API, each
pushed by five postgres pushers — fills repos, branches, commits,
workflows and workflowruns of the shipped schema in a real PostgreSQL."""
import hashlib
import hmac
import http.client
import json
import uuid

from conftest import REPO, free_port, wait_for
from fakehttp import FakeHTTP
from driver_servers import postgres  # noqa: F401 (fixture)

EXAMPLE = REPO / "docs" / "examples" / "ci-dashboard"
SECRET = "dashboard-webhook-secret"
REPO_NAME = "iree-org/iree"


def run(i, status="completed", conclusion="success", branch="main",
        sha=None, name="CI", started="2026-03-02T10:00:05Z",
        updated="2026-03-02T10:04:05Z"):
    sha = sha or ("%040x" % (0xabc000 + i))
    return {
        "id": i, "name": name, "status": status, "conclusion": conclusion,
        "head_branch": branch, "head_sha": sha,
        "html_url": "https://github.com/%s/actions/runs/%d" % (REPO_NAME, i),
        "workflow_url": "https://api.github.com/repos/%s/actions/workflows/"
                        "%s" % (REPO_NAME, name.lower()),
        "created_at": "2026-03-02T10:00:00Z",
        "run_started_at": started, "updated_at": updated,
        "actor": {"login": "dev%d" % (i % 2)},
        "head_commit": {"id": sha, "message": "Fix %d\n\nDetails" % i,
                        "timestamp": "2026-03-02T09:59:00Z",
                        "author": {"name": "Dev %d" % (i % 2)}},
        "repository": {"full_name": REPO_NAME},
    }


def event(action, workflow_run):
    """A workflow_run delivery shaped like GitHub's published examples:
    the run, and beside it the workflow, the repository and the sender."""
    return {"action": action, "workflow_run": workflow_run,
            "workflow": {"id": 161335, "name": "Build and test",
                         "path": ".github/workflows/build.yml",
                         "state": "active"},
            "repository": {"full_name": REPO_NAME},
            "sender": {"login": "dev1", "type": "User"}}


def deliver(port, event, payload, delivery=None):
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body,
                               hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/hooks/ci/github-events", body=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": sig})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_dashboard_tables(tmp, bus, postgres):
    pg = postgres
    pg.sql((EXAMPLE / "schema.sql").read_text())

    runs = [run(1), run(2, conclusion="failure", branch="feature-x"),
            run(3, name="Lint")]
    api = FakeHTTP(lambda req: (200, {}, {"total_count": len(runs),
                                          "workflow_runs": runs[::-1]}))
    cfg = json.loads((EXAMPLE / "dashboard.json").read_text())
    for d in cfg["passengers"]:
        d["sync_frequency"] = 1440
        for p in d["pushers"]:
            p["conninfo"] = pg.conninfo
        for p in d["pullers"]:
            if p["type"] == "http_poll":
                p["url"] = api.url + "/repos/%s/actions/runs" % REPO_NAME
    port = free_port()
    env = {"DASHBOARD_DB_PASSWORD": "unused-with-trust",
           "GITHUB_WEBHOOK_SECRET": SECRET,
           "GITHUB_TOKEN_HEADER": "Bearer test-token"}
    try:
        b = bus({"ci": cfg}, env=env,
                web={"enabled": True, "listen": "127.0.0.1:%d" % port})

        # Backfill: the three runs of the API.
        b.drive("ci", "github-backfill")
        b.wait_counts("ci", "github-backfill", pending=0, done=3, dead=0)
        assert api.seen("GET")[0].headers.get("authorization") == \
            "Bearer test-token"
        assert pg.sql("SELECT name FROM repos") == [[REPO_NAME]]
        assert pg.sql("SELECT repo, name, author FROM branches "
                      "ORDER BY name") == \
            [[REPO_NAME, "feature-x", "dev0"], [REPO_NAME, "main", "dev1"]]
        assert pg.sql("SELECT count(*) FROM commits") == [["3"]]
        assert pg.sql("SELECT name FROM workflows ORDER BY name") == \
            [["CI"], ["Lint"]]
        assert pg.sql(
            "SELECT gitid, status, conclusion, branchname, workflowname, "
            "runtime, queuetime FROM workflowruns ORDER BY gitid") == [
            ["1", "completed", "success", "main", "CI", "240", "5"],
            ["2", "completed", "failure", "feature-x", "CI", "240", "5"],
            ["3", "completed", "success", "main", "Lint", "240", "5"]]

        def healthy():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                return c.getresponse().status == 200
            except OSError:
                return False
        wait_for(healthy, 20, "databus-web /healthz")

        # Live, as GitHub delivers: out of order and twice. The run's own
        # name is empty in GitHub's example payloads; the workflow's name
        # is the delivery's /workflow/name. `completed` arrives first, then
        # the older `requested` and `in_progress`, then a redelivery (same
        # delivery id) and the same event under a new id: the row stays
        # completed. A ping has no workflow_run and writes nothing.
        live = run(7, status="queued", conclusion=None, name="",
                   branch="release", updated="2026-03-02T10:00:01Z")
        prog = dict(live, status="in_progress",
                    updated_at="2026-03-02T10:01:00Z")
        done = dict(live, status="completed", conclusion="success",
                    updated_at="2026-03-02T10:10:05Z")
        assert deliver(port, "ping", {"zen": "Keep it simple.",
                                      "hook_id": 1})[0] == 202
        assert deliver(port, "workflow_run", event("completed", done),
                       delivery="d-done")[0] == 202
        b.wait_counts("ci", "github-events", pending=0, done=2, dead=0)
        assert deliver(port, "workflow_run", event("requested", live))[0] \
            == 202
        assert deliver(port, "workflow_run",
                       event("in_progress", prog))[0] == 202
        status, body = deliver(port, "workflow_run",
                               event("completed", done), delivery="d-done")
        assert status == 202 and json.loads(body)["duplicate"], body
        assert deliver(port, "workflow_run", event("completed", done))[0] \
            == 202
        b.wait_counts("ci", "github-events", pending=0, done=5, dead=0)
        assert pg.sql("SELECT status, conclusion, runtime, author, url, "
                      "workflowname FROM workflowruns WHERE gitid = 7") == \
            [["completed", "success", "600",
              "dev1", "https://github.com/%s/actions/runs/7" % REPO_NAME,
              "Build and test"]]
        assert pg.sql("SELECT name FROM workflows ORDER BY name") == \
            [["Build and test"], ["CI"], ["Lint"]]
        assert pg.sql("SELECT count(*) FROM workflowruns") == [["4"]]
        assert pg.sql("SELECT name FROM branches ORDER BY name") == \
            [["feature-x"], ["main"], ["release"]]
        assert pg.sql("SELECT replace(message, E'\\n', '|'), author "
                      "FROM commits WHERE hash = '%s'" % live["head_sha"]) \
            == [["Fix 7||Details", "Dev 1"]]
        assert b.stop() == 0
    finally:
        api.close()
