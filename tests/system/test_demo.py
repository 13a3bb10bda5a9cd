"""The built-in demo (`databusd --demo`): both demo definitions flow.

Mails pass a require_attachment "*.xlsx" filter: those without an xlsx
attachment end done without being pushed, those with one are written to
var/files/demo/outbox. Invoices are written to var/files/demo/invoices.
Every drive leaves a log whose entries link to the passengers they concern.

The demo runs from real files that its first start writes into the data
dir (var/demo-config): they are kept across starts, edits included, and
`reload` rereads them.
"""
import fnmatch
import os

from conftest import free_port, wait_for


def _step_states(p, kind):
    return [s["state"] for s in p["steps"] if s["kind"] == kind]


def test_demo_passengers_flow(tmp, daemons):
    var = tmp / "var"
    bus = daemons(["--demo", "--data", var, "--listen",
                   "127.0.0.1:%d" % free_port()])
    assert os.path.realpath(bus.data_dir) == os.path.realpath(var)
    defs = bus.defs()
    assert ("demo", "mails") in defs and ("demo", "invoices") in defs

    # Drive the mails until we have seen both an xlsx mail and one
    # without (the demo puller's samples vary).
    def mails_seen():
        done = bus.queue("--client", "demo", "--passenger", "mails",
                         "--state", "done")
        with_x = [p for p in done if any(
            fnmatch.fnmatch(a["name"], "*.xlsx") for a in p["attachments"])]
        without = [p for p in done if p not in with_x]
        return (with_x, without) if with_x and without else None

    for _ in range(10):
        bus.drive("demo", "mails")
        bus.drive("demo", "invoices")
        seen = mails_seen()
        if seen:
            break
    assert seen, "10 demo drives produced no mix of xlsx / plain mails"
    with_x, without = seen
    # Nothing is left pending once the drives ran.
    bus.wait_counts("demo", "mails", pending=0, dead=0)
    bus.wait_counts("demo", "invoices", pending=0, dead=0)

    outbox = var / "files" / "demo" / "outbox"
    out_files = sorted(os.listdir(outbox))
    for p in with_x:
        assert "complete" in _step_states(p, "pusher"), p
        assert any(f.startswith("%s-" % p["id"]) for f in out_files), \
            (p["id"], out_files)
    for p in without:
        assert "complete" not in _step_states(p, "pusher"), p
        assert not any(f.startswith("%s-" % p["id"]) for f in out_files), \
            (p["id"], out_files)
    assert not [f for f in out_files if ".tmp" in f or f.startswith(".")]

    invoices = bus.queue("--client", "demo", "--passenger", "invoices",
                         "--state", "done")
    assert invoices
    inv_files = os.listdir(var / "files" / "demo" / "invoices")
    for p in invoices:
        assert any(f.startswith("%s-" % p["id"]) for f in inv_files), \
            (p["id"], inv_files)

    # Logs exist and link to passengers; queue show lists them. A filtered
    # mail has an entry about it in its drive's log.
    logs = bus.ctl("logs", "ls")
    assert any(l["client"] == "demo" and l["outcome"] == "ok"
               for l in logs["items"]), logs
    for p in with_x + without:
        shown = bus.show("demo", p["id"])
        assert shown["id"] == p["id"] and shown["state"] == "done"
        assert shown.get("logs"), "queue show lists no logs: %r" % shown
    p = without[0]
    log_id = bus.show("demo", p["id"])["logs"][0]["id"]
    log = bus.ctl("logs", "show", "demo", log_id)
    assert any(e.get("passenger_id") == p["id"]
               for e in log["entries"]), log

    r = bus.ctl_raw("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert bus.stop("ctl") == 0


def test_demo_web_is_supervised(tmp, daemons):
    """databusd starts databus-web on --listen, the seeded demo account
    logs in, and a killed web is restarted."""
    import http.client
    import json as _json
    import signal

    port = free_port()
    bus = daemons(["--demo", "--data", tmp / "var", "--listen",
                   "127.0.0.1:%d" % port])

    def healthy():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            return c.getresponse().status == 200
        except OSError:
            return False
    wait_for(healthy, 20, "databus-web on port %d" % port)
    web = bus.status()["system"]["web"]
    assert web["state"] == "ready" and web["pid"] > 0, web

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = _json.dumps({"client": "demo", "username": "demo",
                        "password": "demo"})
    c.request("POST", "/api/v1/login", body=body, headers={
        "Content-Type": "application/json",
        "Origin": "http://127.0.0.1:%d" % port,
        "Host": "127.0.0.1:%d" % port})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    assert "HttpOnly" in r.getheader("Set-Cookie", "")

    os.kill(web["pid"], signal.SIGKILL)
    wait_for(lambda: bus.status()["system"]["web"]["pid"] not in
             (0, web["pid"]) and healthy(), 20, "databus-web restarted")
    assert bus.status()["system"]["web"]["restarts"] >= 1


def test_demo_runs_from_its_files(tmp, daemons):
    """The first start writes the demo's configuration; the next keeps an
    edit and follows --listen; reload rereads the files."""
    import json
    var = tmp / "var"
    conf = var / "demo-config"
    bus = daemons(["--demo", "--data", var, "--listen",
                   "127.0.0.1:%d" % free_port()])
    names = sorted(str(p.relative_to(conf)) for p in conf.rglob("*")
                   if p.is_file())
    assert names == ["clients/demo.json", "clients/root.json",
                     "databus.json", "extra/accounts.json"], names
    ticket = json.loads((conf / "databus.json").read_text())
    assert ticket["data_dir"] == ".." and ticket["clients_dir"] == "clients"
    assert ticket["external_config_files"] == ["extra/accounts.json"]
    demo = json.loads((conf / "clients" / "demo.json").read_text())
    assert [d["name"] for d in demo["passengers"]] == ["mails", "invoices"]
    # An edit on disk, then reload: the definition goes, the rest stays.
    demo["passengers"] = demo["passengers"][:1]
    (conf / "clients" / "demo.json").write_text(json.dumps(demo))
    assert "reloaded" in bus.ctl("reload", json_out=False)
    wait_for(lambda: ("demo", "invoices") not in bus.defs(), 10,
             "the invoices definition to go")
    assert bus.stop() == 0
    port = free_port()
    again = daemons(["--demo", "--data", var, "--listen",
                     "127.0.0.1:%d" % port])
    kept = json.loads((conf / "clients" / "demo.json").read_text())
    assert [d["name"] for d in kept["passengers"]] == ["mails"]
    assert json.loads((conf / "databus.json").read_text())["web"][
        "listen"] == "127.0.0.1:%d" % port
    assert again.stop() == 0
