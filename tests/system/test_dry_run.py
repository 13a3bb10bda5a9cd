"""Dry runs (`databusctl dry-run`, supervisor/dryrun.c): a queued passenger
or sample files go through a definition's processors in a throwaway
worker; the reply shows each step, the log lines, the resulting
attachments and metadata — and nothing in the store changes, no pusher
delivers, the definition's own worker is not touched. A crash or a hang
of the throwaway worker is the dry run's outcome, charged to nobody, and
databusd serves other requests meanwhile."""
import json
import os
import subprocess
import sys
import time

from conftest import CTL, bench_puller, client, definition, wait_for
from driver_servers import postgres  # noqa: F401 (fixture)

PY = sys.executable or "/usr/bin/python3"

# An exec processor whose behaviour its MODE setting picks.
PROC = r'''
import json, os, signal, sys, time
req = json.loads(sys.stdin.readline())
mode = os.environ.get("MODE", "upper")
def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
p = req["passenger"]
if mode == "crash" and p["external_id"] == "dry-run":
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(5)
if mode == "sleep":
    time.sleep(30)
if mode == "fail":
    out({"type": "result", "status": "fail", "error": "no good"})
    sys.exit(0)
texts = [a for a in p["attachments"] if "text" in a]
out({"type": "log", "level": "info",
     "message": "%s saw %d attachment(s)" % (req["name"],
                                             len(p["attachments"]))})
md = {req["name"]: str(sum(len(a["text"]) for a in texts))}
if mode == "upper":
    out({"type": "result", "status": "ok", "metadata": md,
         "attachments": [{"name": a["name"], "content_type": "text/plain",
                          "text": a["text"].upper()} for a in texts]})
else:
    out({"type": "result", "status": "ok", "metadata": md})
'''


def proc(name, mode="upper"):
    return {"name": name, "type": "exec", "command": [PY, "proc.py"],
            "env": {"MODE": mode}, "timeout_ms": 20000}


USERS = {"acme": [{"username": "alice", "password": "alice-pw-1"},
                  {"username": "ann", "password": "ann-pw-1",
                   "role": "administrator"}],
         "beta": [{"username": "bea", "password": "bea-pw-1",
                   "role": "administrator"}],
         "root": [{"username": "admin", "password": "root-pw-1"}]}


def start_bus(tmp, bus, processors, **top):
    (tmp / "proc.py").write_text(PROC)
    (tmp / "out").mkdir()
    pushers = [{"name": "archive", "type": "dir", "path": str(tmp / "out")},
               {"name": "sink", "type": "null"}]
    defs = [definition("docs", [bench_puller(count=3, prefix="d")],
                       pushers, processors=processors),
            definition("other", [bench_puller(count=1, prefix="o")],
                       [{"name": "sink", "type": "null"}])]
    b = bus({"acme": client(*defs, users=USERS["acme"]),
             "beta": client(definition(
                 "docs", [bench_puller(count=1, prefix="x")],
                 [{"name": "sink", "type": "null"}]), users=USERS["beta"]),
             "root": {"users": USERS["root"]}}, **top)
    return b


def dry(b, *args, ok=True):
    r = b.ctl("dry-run", *args, ok=False)
    if ok:
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def store_view(b, client, ids):
    """What a dry run must leave byte-identical."""
    st = b.status()
    # Not the commits, nor the LMDB operations (reads count too).
    store = {k: v for k, v in st["store"].items()
             if k != "commits" and not k.startswith("lmdb_")}
    return (json.dumps(store, sort_keys=True),
            [json.dumps(b.show(client, i), sort_keys=True) for i in ids],
            json.dumps(b.ctl("logs", "ls"), sort_keys=True),
            json.dumps(b.queue(), sort_keys=True))


def test_samples_and_queued_passenger(tmp, bus):
    b = start_bus(tmp, bus, [proc("upper"), proc("count", "count"),
                         {"name": "txt-only", "type": "require_attachment",
                          "pattern": "*.txt"}])
    b.wait_counts("acme", "docs", pending=0, done=3, dead=0)
    pid = b.worker("acme", "docs")["pid"]
    restarts = b.worker("acme", "docs")["restarts"]
    ids = [p["id"] for p in b.queue("--client", "acme", "--passenger", "docs")]
    for f in os.listdir(tmp / "out"):
        os.unlink(tmp / "out" / f)
    before = store_view(b, "acme", ids)

    sample = tmp / "note.txt"
    sample.write_text("hello dry run\n")
    r = json.loads(dry(b, "acme", "docs", "--sample", sample).stdout)
    assert r["ok"] and r["outcome"] == "ok" and not r["crashed"], r
    steps = [(s["name"], s["kind"], s["state"]) for s in r["steps"]]
    assert steps == [("upper", "processor", "complete"),
                     ("count", "processor", "complete"),
                     ("txt-only", "processor", "complete"),
                     ("archive", "pusher", "skipped"),
                     ("sink", "pusher", "skipped")], steps
    assert "would be pushed" in r["steps"][3]["note"], r["steps"]
    assert r["attachments"] == [{"name": "note.txt", "size": 14,
                                 "content_type": "text/plain",
                                 "text": "HELLO DRY RUN\n"}], r
    assert r["metadata"] == {"upper": "14", "count": "14"}, r
    msgs = [e["message"] for e in r["logs"]]
    assert "upper saw 1 attachment(s)" in msgs, msgs
    assert "count saw 1 attachment(s)" in msgs, msgs
    assert r["passenger_id"] is None

    # A queued passenger, read from the store (bench: a 64-byte body).
    q = json.loads(dry(b, "acme", "docs", "--passenger", ids[0]).stdout)
    assert q["passenger_id"] == ids[0]
    # require_attachment filters the bench passenger (no *.txt) out.
    assert q["outcome"].startswith("skipped") and q["ok"], q
    assert [s["state"] for s in q["steps"]][:3] == \
        ["complete", "complete", "complete"], q["steps"]
    assert q["attachments"][0]["size"] == 64, q

    # Human output names the steps and shows the text.
    h = b.ctl("dry-run", "acme", "docs", "--sample", sample,
              json_out=False)
    assert "upper" in h and "HELLO DRY RUN" in h and "archive" in h, h

    # Nothing changed: the store, the pushers' target, the real worker.
    assert store_view(b, "acme", ids) == before
    assert os.listdir(tmp / "out") == []
    w = b.worker("acme", "docs")
    assert (w["pid"], w["restarts"]) == (pid, restarts), w
    assert not [n for n in os.listdir(b.data_dir + "/run")
                if n.startswith("dry-")]

    # Refusals: another tenant's or definition's passenger, unknown names.
    other = b.queue("--client", "beta")[0]["id"]
    for args in (["acme", "docs", "--passenger", other],
                 ["acme", "nope", "--sample", sample],
                 ["acme", "docs", "--sample", sample, "--push", "nope"]):
        r = b.ctl("dry-run", *args, ok=False, json_out=False)
        assert r.returncode == 1 and "databusctl:" in r.stderr, (args, r)
    for args in (["acme", "docs"],
                 ["acme", "docs", "--passenger", "1", "--sample", sample],
                 ["acme", "docs", "--passenger", "x"]):
        r = b.ctl("dry-run", *args, ok=False, json_out=False)
        assert r.returncode == 100, (args, r)
    assert store_view(b, "acme", ids) == before


def test_crash_is_the_outcome_and_charged_to_nobody(tmp, bus):
    # "boom" kills its worker for the samples only (external id
    # "dry-run"): the definition's own passengers go through.
    b = start_bus(tmp, bus, [proc("upper"), proc("boom", "crash")])
    b.wait_counts("acme", "docs", pending=0, done=3, dead=0)
    (tmp / "s.txt").write_text("x")
    w0 = b.worker("acme", "docs")
    ids = [p["id"] for p in b.queue("--client", "acme", "--passenger", "docs")]
    before = store_view(b, "acme", ids)
    r = dry(b, "acme", "docs", "--sample", tmp / "s.txt", ok=False)
    assert r.returncode == 1, r
    out = json.loads(r.stdout)
    assert out["crashed"] and out["outcome"].startswith("crashed"), out
    assert "signal 9" in out["outcome"], out
    assert [s["state"] for s in out["steps"][:2]] == \
        ["not reached", "not reached"], out["steps"]
    w1 = b.worker("acme", "docs")
    assert (w1["pid"], w1["restarts"], w1["state"]) == \
        (w0["pid"], w0["restarts"], "ready"), (w0, w1)
    assert store_view(b, "acme", ids) == before
    # The next dry run works as before.
    r = dry(b, "acme", "other", "--sample", tmp / "s.txt")
    assert json.loads(r.stdout)["ok"]


def test_timeout_bound_and_the_loop_keeps_serving(tmp, bus):
    """Dry runs past the drive timeout are killed and say so; at most 4
    run at once (a fifth is refused, try again); databusd serves other
    requests meanwhile."""
    b = start_bus(tmp, bus, [proc("slow", "sleep")], drive_timeout="3s")
    (tmp / "s.txt").write_text("x")
    started = time.monotonic()
    slow = [subprocess.Popen([str(CTL), "--data", b.data_dir, "--json",
                              "dry-run", "acme", "docs", "--sample",
                              str(tmp / "s.txt")],
                             stdout=subprocess.PIPE, text=True)
            for _ in range(4)]
    wait_for(lambda: len([n for n in os.listdir(b.data_dir + "/run")
                          if n.startswith("dry-")]) == 4, 10,
             "4 dry runs started")
    # While they run, databusd answers others at once; a fifth dry run
    # is refused.
    t = time.monotonic()
    b.status()
    busy = b.ctl("dry-run", "acme", "other", "--sample", tmp / "s.txt",
                 ok=False, json_out=False)
    assert busy.returncode == 1 and "too many dry runs" in busy.stderr, busy
    assert time.monotonic() - t < 1.5
    for p in slow:
        out, _ = p.communicate(timeout=20)
        res = json.loads(out)
        assert p.returncode == 1 and res["crashed"], res
        assert res["outcome"].startswith("timed out"), res
    took = time.monotonic() - started
    assert 2.5 < took < 12, took
    # A slot is free again.
    fast = dry(b, "acme", "other", "--sample", tmp / "s.txt")
    assert json.loads(fast.stdout)["ok"]
    wait_for(lambda: not [n for n in os.listdir(b.data_dir + "/run")
                          if n.startswith("dry-")], 10,
             "the throwaway worker reaped")


def test_web_api(tmp, bus):
    """POST /api/v1/passengers/{client}/{name}/dry-run: administrators
    only, another tenant's definition is not found, errors are JSON."""
    from test_web_api import Web
    b = start_bus(tmp, bus, [proc("upper")])
    b.wait_counts("acme", "docs", pending=0, done=3, dead=0)
    ids = [p["id"] for p in b.queue("--client", "acme", "--passenger",
                                    "docs")]
    w = Web(b.data_dir)
    try:
        tok = {}
        for cl, users in USERS.items():
            for u in users:
                status, doc, tok[u["username"]], _ = w.login(
                    cl, u["username"], u["password"])
                assert status == 200, doc
        before = store_view(b, "acme", ids)
        url = "/api/v1/passengers/acme/docs/dry-run"
        body = {"samples": [{"name": "a.txt", "text": "abc"},
                            {"name": "b.bin", "base64": "AAECAw=="}],
                "metadata": {"source": "web"}}
        status, doc = w.json("POST", url, body=body, cookie=tok["ann"])
        assert status == 200, doc
        assert doc["ok"] and doc["client"] == "acme", doc
        # The binary sample is listed, not shown.
        assert doc["attachments"] == [
            {"name": "a.txt", "size": 3, "content_type": "text/plain",
             "text": "ABC"},
            {"name": "b.bin", "size": 4,
             "content_type": "application/octet-stream"}], doc
        assert doc["metadata"] == {"source": "web", "upper": "3"}, doc
        status, doc = w.json("POST", url, body={"passenger": ids[0]},
                             cookie=tok["admin"])
        assert status == 200 and doc["passenger_id"] == ids[0], doc
        # Refusals.
        for who, path, b_, want in (
                ("alice", url, body, 403),
                ("bea", url, body, 404),
                ("ann", "/api/v1/passengers/beta/docs/dry-run", body, 404),
                ("ann", "/api/v1/passengers/acme/nope/dry-run", body, 404),
                ("ann", url, {"passenger": 999999}, 404),
                ("ann", url, {}, 400),
                ("ann", url, {"passenger": 1, "samples": []}, 400),
                ("ann", url, {"samples": [{"name": "x"}]}, 400),
                ("ann", url, {"samples": [{"name": "x", "base64": "!"}]},
                 400),
                ("ann", url, dict(body, push="nope"), 404)):
            status, doc = w.json("POST", path, body=b_, cookie=tok[who])
            assert status == want, (who, path, b_, status, doc)
            assert set(doc["error"]) == {"code", "message"}, doc
        status, doc = w.json("POST", url, body=body, cookie=tok["ann"],
                             origin=None)
        assert status == 403, doc
        status, doc = w.json("POST", url, body=body)
        assert status == 401, doc
    finally:
        w.stop()
    assert store_view(b, "acme", ids) == before


def test_push_dry_modes(tmp, bus):
    """--push runs one pusher in its dry mode: dir says the paths and
    sizes it would write, http the request it would send; neither
    writes or sends. A pusher without a dry mode is not run."""
    from fakehttp import FakeHTTP
    srv = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        (tmp / "proc.py").write_text(PROC)
        out = tmp / "out"
        out.mkdir()
        d = definition(
            "docs", [bench_puller(count=2, prefix="d")],
            [{"name": "archive", "type": "dir", "path": str(out)},
             {"name": "erp", "type": "http",
              "url": "http://127.0.0.1:%d/in" % srv.port},
             {"name": "script", "type": "exec", "command": [
                 PY, "-c", "print('{\"type\": \"result\", "
                           "\"status\": \"ok\"}')"]}],
            processors=[proc("upper")])
        b = bus({"acme": client(d)})
        b.wait_counts("acme", "docs", pending=0, done=2, dead=0)
        files, sent = sorted(os.listdir(out)), len(srv.requests)
        assert len(files) == 2 and sent == 2, (files, sent)
        sample = tmp / "n.txt"
        sample.write_text("to the erp\n")

        r = json.loads(dry(b, "acme", "docs", "--sample", sample,
                           "--push", "archive").stdout)
        steps = {s["name"]: s for s in r["steps"]}
        assert steps["archive"]["state"] == "complete", steps
        assert "nothing was delivered" in steps["archive"]["note"]
        assert steps["erp"]["state"] == "skipped", steps
        [push] = r["pushes"]
        assert (push["pusher"], push["type"]) == ("archive", "dir"), push
        assert ("%s/0-n.txt (11 bytes)" % out) in push["description"], push

        r = json.loads(dry(b, "acme", "docs", "--sample", sample,
                           "--push", "erp").stdout)
        [push] = r["pushes"]
        desc = push["description"]
        assert desc.startswith("POST http://127.0.0.1:%d/in\n" % srv.port)
        assert "Idempotency-Key: 0:erp" in desc, desc
        assert "TO THE ERP" in desc, desc  # the processed passenger

        r = json.loads(dry(b, "acme", "docs", "--sample", sample,
                           "--push", "script").stdout)
        steps = {s["name"]: s for s in r["steps"]}
        assert steps["script"]["state"] == "skipped", steps
        assert "no dry mode" in steps["script"]["note"], steps
        assert r["pushes"] == [] and r["ok"], r

        assert sorted(os.listdir(out)) == files
        assert len(srv.requests) == sent
    finally:
        srv.close()


def test_push_postgres_rolled_back(tmp, bus, postgres):
    """The postgres pusher's dry mode runs its statement with the row's
    parameters in a transaction that is rolled back: PostgreSQL judges
    the row (a NOT NULL column without value fails), nothing is kept."""
    pg = postgres
    pg.sql("CREATE TABLE orders (id integer PRIMARY KEY, "
           "customer text NOT NULL);")
    pusher = {"name": "db", "type": "postgres", "conninfo": pg.conninfo,
              "table": "orders",
              "columns": {"id": "/id", "customer": "/customer"},
              "conflict": ["id"]}
    d = definition("orders", [bench_puller(count=0)], [pusher])
    b = bus({"acme": client(d)})
    good, bad = tmp / "good.json", tmp / "bad.json"
    good.write_text(json.dumps({"id": 7, "customer": "Ada"}))
    bad.write_text(json.dumps({"id": 8}))

    r = json.loads(dry(b, "acme", "orders", "--sample", good,
                       "--push", "db").stdout)
    [push] = r["pushes"]
    desc = push["description"]
    assert "INSERT INTO" in desc and '"orders"' in desc, desc
    assert "$1 (customer) = 'Ada', $2 (id) = '7'" in desc, desc
    assert "rolled back" in desc, desc
    assert {s["name"]: s["state"] for s in r["steps"]} == {"db": "complete"}

    r = json.loads(dry(b, "acme", "orders", "--sample", bad, "--push", "db",
                       ok=False).stdout)
    assert not r["ok"] and r["outcome"].startswith("failed: db:"), r
    assert "customer" in r["steps"][0]["error"], r["steps"]
    assert pg.sql("SELECT count(*) FROM orders") == [["0"]]
