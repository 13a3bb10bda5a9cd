"""databusctl verbs against a running databusd: pause / resume / expedite,
queue set / requeue / purge, logs, users, export, and retries with backoff
up to dead letters."""
import json
import os
import shutil
import time

from conftest import (bench_puller, client, definition, hold_for, wait_for)


def _dir_def(tmp, name="orders", retry=None):
    return definition(name,
                      [{"name": "inbox", "type": "dir",
                        "path": str(tmp / "in"), "pattern": "*.xml"}],
                      [{"name": "out", "type": "dir",
                        "path": str(tmp / "out")}], retry=retry)


def _files(tmp, n, start=0):
    (tmp / "in").mkdir(exist_ok=True)
    (tmp / "out").mkdir(exist_ok=True)
    for i in range(start, start + n):
        (tmp / "in" / ("f%02d.xml" % i)).write_text("<f>%d</f>" % i)


def test_pause_resume_expedite(tmp, bus):
    b = bus({"acme": client(definition(
        "b", [bench_puller(count=10)], [{"name": "n", "type": "null"}]))})
    # Let a possible start-up drive finish, then pause.
    wait_for(lambda: not b.definition("acme", "b").get("driving"), 20,
             "no drive in flight")
    b.ctl("pause", json_out=False)
    assert b.status()["system"]["paused"] is True
    before = b.definition("acme", "b").get("last_run")
    r = b.ctl_raw("expedite", "acme", "b")
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    hold_for(lambda: b.definition("acme", "b").get("last_run") == before,
             1.5, "no drive while paused")
    b.ctl("resume", json_out=False)
    assert b.status()["system"]["paused"] is False
    if r.returncode == 1:
        b.ctl("expedite", "acme", "b", json_out=False)
    # "expedite drives within 1 s" (plus slack for a loaded machine).
    wait_for(lambda: b.definition("acme", "b").get("last_run") != before,
             3, "the expedited drive after resume")
    b.wait_counts("acme", "b", pending=0, done=10, dead=0)

    # Unknown definitions are refused (exit 1), bad usage is 100.
    assert b.ctl_raw("expedite", "acme", "nosuch").returncode == 1
    assert b.ctl_raw("expedite").returncode == 100
    assert b.ctl_raw("frobnicate").returncode == 100


def test_queue_set_requeue_purge(tmp, bus):
    _files(tmp, 4)
    b = bus({"acme": client(_dir_def(tmp))})
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=4, dead=0)
    items = b.queue("--client", "acme", "--state", "done")
    p = items[0]
    out = tmp / "out" / ("%s-%s" % (p["id"], p["attachments"][0]["name"]))
    assert out.exists()

    # Mark the pusher step incomplete: the passenger is pending again and
    # is pushed again (a retry drive is due at once).
    out.unlink()
    step_before = [s for s in p["steps"] if s["name"] == "out"][0]
    r = b.ctl_raw("queue", "set", "acme", p["id"], "out", "incomplete")
    assert r.returncode == 0, r.stderr

    def repushed():
        shown = b.show("acme", p["id"])
        step = [s for s in shown["steps"] if s["name"] == "out"][0]
        return (shown["state"] == "done" and step["state"] == "complete"
                and step["updated"] != step_before["updated"]
                and out.exists())
    wait_for(repushed, 10, "passenger pushed again")
    assert b.counts("acme", "orders") == (0, 4, 0)

    # Marking a step complete by hand: a failing passenger is done without
    # the push (the operator delivered it some other way).
    shutil.rmtree(tmp / "out")
    _files(tmp, 1, start=10)
    shutil.rmtree(tmp / "out")
    b.drive("acme", "orders")
    fresh = wait_for(lambda: [q for q in b.queue("--client", "acme",
                                                 "--state", "pending")
                              if q["attempts"] >= 1], 10,
                     "the new passenger failing")[0]
    b.ctl("queue", "set", "acme", fresh["id"], "out", "complete",
          json_out=False)
    wait_for(lambda: b.show("acme", fresh["id"])["state"] == "done", 10,
             "passenger done after queue set complete")
    (tmp / "out").mkdir()

    # Bad step names and ids are refused.
    assert b.ctl_raw("queue", "set", "acme", p["id"], "nosuch",
                     "complete").returncode == 1
    assert b.ctl_raw("queue", "set", "acme", 999999999, "out",
                     "complete").returncode == 1
    assert b.ctl_raw("queue", "show", "other", p["id"]).returncode == 1
    assert b.ctl_raw("queue", "set", "acme", p["id"], "out",
                     "maybe").returncode == 100

    # Paging: limit 3 over 5 passengers gives a cursor.
    page = b.ctl("queue", "ls", "--client", "acme", "--limit", 3)
    assert len(page["items"]) == 3 and page.get("next_cursor"), page
    assert len(b.queue("--client", "acme", limit=3)) == 5
    assert len(b.queue("--client", "acme", limit=2)) == 5

    # Purge removes completed passengers (and their logs stay until a
    # logs purge).
    b.ctl("queue", "purge", json_out=False)
    wait_for(lambda: b.counts("acme", "orders") == (0, 0, 0), 10,
             "queue purged")
    assert b.queue("--client", "acme") == []
    assert b.ctl_raw("queue", "show", "acme", p["id"]).returncode == 1
    logs = b.ctl("logs", "ls")
    assert (logs["items"] if isinstance(logs, dict) else logs)
    b.ctl("logs", "purge", json_out=False)
    logs = b.ctl("logs", "ls")
    assert not [l for l in (logs["items"] if isinstance(logs, dict)
                            else logs) if l.get("client") == "acme"], logs
    assert b.ctl_raw("verify").returncode == 0


def test_retries_then_dead_then_requeue(tmp, bus):
    _files(tmp, 0)
    retry = {"max_attempts": 2, "backoff": "100ms", "max_backoff": "1s"}
    b = bus({"acme": client(_dir_def(tmp, retry=retry))})
    # The target disappears after start: every push fails.
    shutil.rmtree(tmp / "out")
    _files(tmp, 3)
    shutil.rmtree(tmp / "out")
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=0, dead=3, timeout=20)
    for p in b.queue("--client", "acme", "--state", "dead"):
        assert p["attempts"] == 2, p
        assert p.get("last_error"), p
        steps = {s["name"]: s for s in p["steps"]}
        assert steps["out"]["state"] == "failed", steps
        assert steps["out"]["attempts"] == 2, steps
        assert steps["out"].get("error"), steps
    # Dead letters stay dead: no more drives touch them.
    b.drive("acme", "orders")
    assert b.counts("acme", "orders") == (0, 0, 3)

    # Requeue: once the target exists again, they complete.
    (tmp / "out").mkdir()
    dead = b.queue("--client", "acme", "--state", "dead")
    for p in dead:
        b.ctl("queue", "requeue", "acme", p["id"], json_out=False)
    assert b.counts("acme", "orders")[2] == 0
    # A requeued passenger is due at once (a retry drive); expedite only
    # if that did not happen within a few seconds.
    try:
        b.wait_counts("acme", "orders", pending=0, done=3, dead=0,
                      timeout=5)
    except AssertionError:
        b.drive("acme", "orders")
        b.wait_counts("acme", "orders", pending=0, done=3, dead=0)
    assert len(os.listdir(tmp / "out")) == 3
    for p in dead:
        assert b.show("acme", p["id"])["state"] == "done"


def test_retries_grow_with_backoff(tmp, bus):
    _files(tmp, 0)
    retry = {"max_attempts": 6, "backoff": "200ms", "max_backoff": "400ms"}
    b = bus({"acme": client(_dir_def(tmp, retry=retry))})
    _files(tmp, 1)
    shutil.rmtree(tmp / "out")
    t_drive = time.monotonic()
    b.drive("acme", "orders")
    # Retries happen by themselves (no expedite): attempts grow.
    seen = set()

    def attempts():
        items = b.queue("--client", "acme")
        assert len(items) == 1
        seen.add((items[0]["state"], items[0]["attempts"]))
        return items[0]["attempts"] >= 3 and items[0]
    p = wait_for(attempts, 20, "attempts to grow to 3")
    assert p["state"] == "pending", p
    # Two retries waited their backoff (jitter: 100-200 ms, then 200-400
    # ms) after the first attempt: attempts cannot reach 3 sooner. (Seeing
    # 1 or 2 on the way depends on how fast `queue ls` answers.)
    assert time.monotonic() - t_drive >= 0.3, seen
    # Fix the target: the next retry completes it by itself.
    (tmp / "out").mkdir()
    b.wait_counts("acme", "orders", pending=0, done=1, dead=0, timeout=20)


def test_users(tmp, bus):
    c = client(definition("b", [bench_puller(count=1)],
                          [{"name": "n", "type": "null"}]),
               users=[{"username": "alice", "password": "secret-1",
                       "role": "administrator"}])
    b = bus({"acme": c})

    def users():
        r = b.ctl("user", "ls")
        items = r["items"] if isinstance(r, dict) else r
        return {(u["client"], u["username"]): u for u in items}
    assert ("acme", "alice") in users()
    assert all("password" not in json.dumps(u).lower() or
               "$argon2id$" not in json.dumps(u) for u in users().values())

    r = b.ctl_raw("user", "add", "acme", "bob", "--password-stdin", input="hunter22\n")
    assert r.returncode == 0, r.stderr
    assert ("acme", "bob") in users()
    # Adding twice is refused.
    assert b.ctl_raw("user", "add", "acme", "bob",
                     input="x\n").returncode == 1
    r = b.ctl_raw("user", "passwd", "acme", "bob", "--password-stdin", input="another-pw\n")
    assert r.returncode == 0, r.stderr
    assert b.ctl_raw("user", "passwd", "acme", "nobody", "--password-stdin",
                     input="pw\n").returncode == 1
    r = b.ctl_raw("user", "revoke", "acme", "bob")
    assert r.returncode == 0, r.stderr
    r = b.ctl_raw("user", "rm", "acme", "bob")
    assert r.returncode == 0, r.stderr
    assert ("acme", "bob") not in users()
    assert b.ctl_raw("user", "rm", "acme", "bob").returncode == 1
    assert b.ctl_raw("user", "add", "acme").returncode == 100
    # Clear text never reaches the store.
    b.stop()
    blob = b""
    for root, _, files in os.walk(tmp / "var"):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                blob += fh.read()
    assert b"hunter22" not in blob and b"another-pw" not in blob
    assert b"secret-1" not in blob


def test_export_peek_workers(tmp, bus):
    _files(tmp, 0)
    b = bus({"acme": client(_dir_def(tmp))})
    wait_for(lambda: not b.definition("acme", "orders").get("driving"), 20,
             "no drive in flight")
    _files(tmp, 2)
    peek = b.ctl("peek", "acme", "orders")
    items = peek["items"] if isinstance(peek, dict) else peek
    assert len(items) == 2, peek
    # Peek changes nothing in the source.
    assert sorted(os.listdir(tmp / "in")) == ["f00.xml", "f01.xml"]
    w = b.ctl("workers")
    assert w
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=2, dead=0)
    dest = tmp / "export.json"
    b.ctl("export", dest, json_out=False)
    assert dest.exists() and dest.stat().st_size > 0
