"""dir puller -> dir pusher: files matching the pattern become passengers,
are moved to in/.done once seated, and are written atomically to out/;
files not matching stay untouched; driving again duplicates nothing."""
import os

from conftest import client, definition


def _listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_dir_to_dir(tmp, bus):
    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    payload = {}
    for i in range(25):
        name = "order-%02d.xml" % i
        payload[name] = ("<order n='%d'>%s</order>\n" % (i, "x" * i)).encode()
        (inbox / name).write_bytes(payload[name])
    (inbox / "readme.txt").write_text("not for the bus\n")
    (inbox / "partial.xml.part").write_text("in progress\n")

    d = definition("orders",
                   [{"name": "inbox", "type": "dir", "path": "in",
                     "pattern": "*.xml"}],
                   [{"name": "archive", "type": "dir", "path": str(outbox)}])
    b = bus({"acme": client(d)})

    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=25, dead=0)

    # Sources moved to the done folder, everything else untouched.
    assert _listing(inbox / ".done") == sorted(payload)
    assert [f for f in _listing(inbox) if f != ".done"] == \
        ["partial.xml.part", "readme.txt"]
    assert (inbox / "readme.txt").read_text() == "not for the bus\n"

    # One output per passenger, named {id}-{attachment}, byte-identical,
    # no temp files left behind.
    items = b.queue("--client", "acme", "--state", "done")
    assert len(items) == 25
    out = _listing(outbox)
    assert len(out) == 25, out
    assert not [f for f in out if f.startswith(".") or ".tmp" in f], out
    for p in items:
        assert p["state"] == "done"
        assert [s["state"] for s in p["steps"]] == ["complete"] * \
            len(p["steps"]), p
        att = p["attachments"][0]["name"]
        assert att in payload, p
        data = (outbox / ("%s-%s" % (p["id"], att))).read_bytes()
        assert data == payload[att]

    # Driving again pulls nothing new and writes nothing again.
    mtimes = {f: os.stat(outbox / f).st_mtime_ns for f in out}
    b.drive("acme", "orders")
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=25, dead=0)
    assert {f: os.stat(outbox / f).st_mtime_ns
            for f in _listing(outbox)} == mtimes

    # A file arriving later flows alone.
    (inbox / "late.xml").write_bytes(b"<late/>")
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=26, dead=0)
    assert len(_listing(outbox)) == 26
    assert "late.xml" in _listing(inbox / ".done")

    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0


def test_dir_puller_custom_done_and_limit(tmp, bus):
    """"done" folder setting and max_per_drive bound each drive."""
    inbox, done, outbox = tmp / "in", tmp / "processed", tmp / "out"
    for p in (inbox, done, outbox):
        p.mkdir()
    for i in range(7):
        (inbox / ("f%d.csv" % i)).write_text("%d\n" % i)
    d = definition("csv",
                   [{"name": "inbox", "type": "dir", "path": str(inbox),
                     "pattern": "*.csv", "done": str(done),
                     "max_per_drive": 3}],
                   [{"name": "out", "type": "dir", "path": str(outbox)}])
    b = bus({"acme": client(d)})
    # The first drive may have run at start; drive until all 7 are in.
    for _ in range(5):
        b.drive("acme", "csv")
        p, n_done, dead = b.counts("acme", "csv")
        assert n_done + p <= 7
        if n_done == 7:
            break
    b.wait_counts("acme", "csv", pending=0, done=7, dead=0)
    assert len(_listing(done)) == 7 and _listing(inbox) == []
    assert len(_listing(outbox)) == 7
    logs = b.ctl("logs", "ls")
    items = logs["items"] if isinstance(logs, dict) else logs
    pulled = [l.get("pulled", 0) for l in items
              if l.get("definition") == "csv"]
    assert pulled and max(pulled) <= 3, pulled


def test_status_describes_definitions(tmp, bus):
    """status shows each definition's drivers, schedule and last outcome."""
    (tmp / "in").mkdir()
    (tmp / "out").mkdir()
    d = definition("orders",
                   [{"name": "inbox", "type": "dir", "path": "in",
                     "pattern": "*.xml"}],
                   [{"name": "archive", "type": "dir", "path": "out"}],
                   processors=[{"name": "xml-only", "type":
                                "require_attachment", "pattern": "*.xml"}],
                   sync="90s")
    b = bus({"acme": client(d)})
    b.drive("acme", "orders")
    info = b.definition("acme", "orders")
    assert info["sync_period_ms"] == 90000, info
    assert info["last_run"] and info["next_run"], info
    assert info["worker"]["state"] in ("ready", "busy"), info
    assert (info["pullers"], info["processors"], info["pushers"]) == \
        (["inbox"], ["xml-only"], ["archive"]), info
    assert info["last_outcome"], "no last_outcome after a drive: %r" % info
