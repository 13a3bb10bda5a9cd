"""The store contract on PostgreSQL: the store unit tests (the built
tests/unit/test_store) run against a real PostgreSQL 15 started in the
test's temp dir on loopback (driver_servers.py), with DBS_TEST_PG naming
it, and must pass; only the tests about LMDB alone may skip, and they
must say so. Afterwards no schema of theirs is left behind."""
import os
import re
import subprocess

from conftest import BUILD, deadline
from driver_servers import postgres  # noqa: F401 (fixture)

TEST_STORE = BUILD / "tests" / "unit" / "test_store"

# The tests about LMDB alone (its files, map and writer lock).
LMDB_ONLY = {"test_users_imported", "test_event_trim_bytes",
             "test_lock_and_snapshot", "test_map_full"}


def _run(env_pg):
    env = dict(os.environ)
    env.pop("DBS_TEST_PG", None)
    if env_pg is not None:
        env["DBS_TEST_PG"] = env_pg
    return subprocess.run([str(TEST_STORE)], capture_output=True, text=True,
                          env=env, timeout=deadline(600))


def _tally(out):
    ran = re.search(r"\[=+\] (\d+) test\(s\) run", out)
    passed = re.search(r"\[  PASSED  \] (\d+) test\(s\)", out)
    skipped = set(re.findall(r"\[  SKIPPED \] (test_\w+)\n", out))
    return (int(ran.group(1)) if ran else 0,
            int(passed.group(1)) if passed else 0, skipped)


def test_store_unit_tests_pass_on_postgres(postgres):  # noqa: F811
    r = _run(postgres.conninfo)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "on PostgreSQL (DBS_TEST_PG)" in out, out
    ran, passed, skipped = _tally(out)
    assert skipped == LMDB_ONLY, out
    assert ran >= 28 and passed == ran - len(LMDB_ONLY), out
    for name in LMDB_ONLY:
        assert re.search(r"\[ RUN      \] %s\nskipped on PostgreSQL: "
                         % name, out), name
    # Each test dropped its schema.
    assert postgres.sql("SELECT nspname FROM pg_namespace"
                        " WHERE nspname LIKE 'dbs\\_%'") == []


def test_store_unit_tests_still_pass_on_lmdb():
    r = _run(None)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    ran, passed, skipped = _tally(out)
    # Only the tests about PostgreSQL alone skip on LMDB.
    assert skipped and all(n.startswith("test_pg_") for n in skipped), out
    assert passed == ran - len(skipped), out


def test_databusd_runs_on_postgres(tmp, bus, postgres):  # noqa: F811
    """databus.json's "store": {"backend": "postgres"}: databusd keeps its
    queue in the schema it names (created at start), files flow dir to
    dir, and a restarted databusd finds them there; its data dir holds no
    LMDB store."""
    from conftest import client, definition

    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    for i in range(12):
        (inbox / ("o%02d.xml" % i)).write_text("<o n='%d'/>" % i)
    d = definition("orders",
                   [{"name": "inbox", "type": "dir", "path": str(inbox),
                     "pattern": "*.xml"}],
                   [{"name": "out", "type": "dir", "path": str(outbox)}])
    store = {"backend": "postgres",
             "postgres": {"conninfo": postgres.conninfo, "schema": "bus"}}
    b = bus({"acme": client(d)}, store=store)
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=12, dead=0)
    assert len(os.listdir(outbox)) == 12
    assert postgres.sql("SELECT count(*), count(*) FILTER (WHERE state = 1)"
                        " FROM bus.passengers") == [["12", "12"]]
    assert postgres.sql("SELECT value FROM bus.meta WHERE name ="
                        " 'store.schema_version'") == [["1"]]
    assert int(postgres.sql("SELECT count(*) FROM bus.events")[0][0]) > 0
    assert not (tmp / "var" / "store" / "data.mdb").exists()
    # Its stats count round trips to PostgreSQL, no LMDB operations.
    st = b.ctl("status")["store"]
    assert st["passengers"] == 12 and st["pg_round_trips"] > 0, st
    assert st["lmdb_gets"] == 0 and st["lmdb_puts"] == 0, st

    b.stop()
    b = bus({"acme": client(d)}, store=store)
    b.wait_counts("acme", "orders", pending=0, done=12, dead=0)


def test_databusd_says_why_postgres_is_unreachable(tmp, postgres):  # noqa
    """A PostgreSQL that refuses the connection stops databusd at start
    with libpq's words, never the password of the conninfo."""
    from conftest import run_databusd, write_config

    bad = "host=127.0.0.1 port=%d user=nobody password=s3cret" \
        " connect_timeout=5" % postgres.port
    cfg = write_config(tmp, {}, store={"backend": "postgres",
                                       "postgres": {"conninfo": bad}})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode != 0, r.stderr
    assert "the PostgreSQL store: PostgreSQL: connecting:" in r.stderr, \
        r.stderr
    assert "nobody" in r.stderr, r.stderr
    assert "s3cret" not in r.stderr + r.stdout


def test_web_and_ctl_read_the_postgres_store(tmp, bus, postgres):  # noqa
    """databusd records where its PostgreSQL store is
    (<data>/store/engine.json, 0600); databus-web, given only the data
    dir, logs users in from it, lists the queue and streams its events;
    databusctl lists and verifies it, and refuses the LMDB-file verbs
    with a sentence that says why."""
    import json
    import stat

    from conftest import client, definition
    from test_events import Stream, events, login
    from test_web_api import Web

    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    d = definition("orders",
                   [{"name": "inbox", "type": "dir", "path": str(inbox),
                     "pattern": "*.xml"}],
                   [{"name": "out", "type": "dir", "path": str(outbox)}])
    store = {"backend": "postgres",
             "postgres": {"conninfo": postgres.conninfo, "schema": "bus2"}}
    b = bus({"acme": client(d, users=[{"username": "alice",
                                       "password": "alice-pw-1"}])},
            store=store)
    rec_path = tmp / "var" / "store" / "engine.json"
    rec = json.loads(rec_path.read_text())
    assert rec == {"backend": "postgres", "conninfo": postgres.conninfo,
                   "schema": "bus2"}, rec
    assert stat.S_IMODE(rec_path.stat().st_mode) == 0o600

    web = Web(b.data_dir)
    try:
        tok = login(web, "acme", "alice", "alice-pw-1")
        s = Stream(web, tok)
        assert s.recv()["type"] == "hello"
        for i in range(5):
            (inbox / ("o%02d.xml" % i)).write_text("<o n='%d'/>" % i)
        b.drive("acme", "orders")
        b.wait_counts("acme", "orders", pending=0, done=5, dead=0)
        status, doc = web.json("GET", "/api/v1/queue?client=acme",
                               cookie=tok)
        assert status == 200, doc
        assert len(doc["items"]) == 5, doc
        assert {i["state"] for i in doc["items"]} == {"done"}, doc
        got = s.until(lambda f: f.get("type") == "event" and
                      f.get("resource") == "log", 20, "the drive's log")
        seats = [f for f in events(got) if f["resource"] == "queue_item"
                 and f["kind"] == "create_list"]
        assert seats, got
        s.close()
    finally:
        web.stop()

    assert len(b.queue("--client", "acme")) == 5
    assert b.ctl_raw("verify").returncode == 0
    r = b.ctl_raw("backup", str(tmp / "copy.mdb"))
    assert r.returncode != 0
    assert "is in PostgreSQL" in r.stderr and "pg_dump" in r.stderr, \
        r.stderr
    assert not (tmp / "copy.mdb").exists()


def test_postgres_gone_pauses_intake_and_readyz(tmp, bus, postgres):  # noqa
    """PostgreSQL stopped while databusd has nothing to write: within
    seconds intake pauses with a clear error and /readyz says 503 (without
    the store's details); once it is back, intake resumes by itself, a
    delivery is taken again and /readyz says ready."""
    import http.client

    from conftest import client, definition, free_port, wait_for

    def readyz(port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", "/readyz")
            r = c.getresponse()
            return r.status, r.read().decode()
        except OSError as e:
            return None, str(e)
        finally:
            c.close()

    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    d = definition("orders",
                   [{"name": "inbox", "type": "dir", "path": str(inbox),
                     "pattern": "*.xml"}],
                   [{"name": "out", "type": "dir", "path": str(outbox)}])
    port = free_port()
    b = bus({"acme": client(d)},
            store={"backend": "postgres",
                   "postgres": {"conninfo": postgres.conninfo,
                                "schema": "gone"}},
            web={"enabled": True, "listen": "127.0.0.1:%d" % port})
    wait_for(lambda: readyz(port)[0] == 200, 20, "/readyz 200")

    postgres.stop()
    wait_for(lambda: b.status()["system"]["intake_paused"], 10,
             "intake paused")
    err = b.status()["system"]["store_error"]
    assert "PostgreSQL" in err, err
    status, text = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
        readyz(port)), 10, "/readyz 503")
    assert "store takes no writes" in text and "127.0.0.1" not in text, text

    postgres.start()
    wait_for(lambda: not b.status()["system"]["intake_paused"], 20,
             "intake resumed")
    wait_for(lambda: readyz(port)[0] == 200, 10, "/readyz 200 again")
    (inbox / "o1.xml").write_text("<o/>")
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=1, dead=0)
