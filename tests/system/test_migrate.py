"""`databusctl migrate`: a whole installation between engines, on a real
PostgreSQL 15 started in the test's temp dir (driver_servers.py).

LMDB -> PostgreSQL -> LMDB: each step copies every passenger (done,
pending with failed attempts, dead), attachment, log and user (with its
password hash) into an empty store of the other engine, compares every
client's counts and content hash on both sides, and prints what to change
in databus.json. databusd then runs on the new store, `databusctl verify`
finds it clean, and the final LMDB store's export is the original's."""
import json

from conftest import client, definition
from driver_servers import postgres  # noqa: F401 (fixture)

HELD = {"name": "out", "type": "null", "fail_every": 1}


def defs(inbox, outbox):
    orders = definition("orders",
                        [{"name": "inbox", "type": "dir",
                          "path": str(inbox), "pattern": "*.xml"}],
                        [{"name": "out", "type": "dir",
                          "path": str(outbox)}])
    held = definition("held",
                      [{"name": "inbox", "type": "dir",
                        "path": str(inbox), "pattern": "*.txt"}],
                      [HELD], retry={"max_attempts": 1000,
                                     "backoff": "1h"})
    dead = definition("dead",
                      [{"name": "inbox", "type": "dir",
                        "path": str(inbox), "pattern": "*.bad"}],
                      [HELD], retry={"max_attempts": 1, "backoff": "1s"})
    return orders, held, dead


def clients(inbox, outbox):
    orders, held, dead = defs(inbox, outbox)
    return {"acme": client(orders, held,
                           users=[{"username": "alice",
                                   "password": "alice-pw-1"}]),
            "globex": client(dead, users=[{"username": "bob",
                                           "password": "bob-pw-12",
                                           "role": "administrator"}])}


def archive(b, path):
    """The store's JSON export, without the moment it was made."""
    b.ctl("export", str(path), json_out=False)
    doc = json.loads(path.read_text())
    doc.pop("exported_at", None)
    return doc


def check_same(original, doc):
    """doc holds what original held, record for record; the only thing it
    may have more of is the logs of drives databusd ran since."""
    assert doc.keys() == original.keys()
    for key in original:
        if key != "logs":
            assert doc[key] == original[key], key
    by_id = {log["id"]: log for log in doc["logs"]}
    for log in original["logs"]:
        assert by_id.get(log["id"]) == log, log
    newest = max(log["id"] for log in original["logs"])
    assert all(i > newest for i in set(by_id) -
               {log["id"] for log in original["logs"]})


def test_lmdb_to_postgres_and_back(tmp, bus, postgres):  # noqa: F811
    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    for i in range(6):
        (inbox / ("o%02d.xml" % i)).write_text("<o n='%d'/>" % i)
    for i in range(3):
        (inbox / ("h%02d.txt" % i)).write_text("held %d" % i)
    for i in range(2):
        (inbox / ("d%02d.bad" % i)).write_text("dead %d" % i)
    cl = clients(inbox, outbox)
    b = bus(cl)
    b.drive("acme", "orders")
    b.drive("acme", "held")
    b.drive("globex", "dead")
    b.wait_counts("acme", "orders", pending=0, done=6, dead=0)
    b.wait_counts("acme", "held", pending=3, done=0, dead=0)
    b.wait_counts("globex", "dead", pending=0, done=0, dead=2)
    original = archive(b, tmp / "original.json")
    assert len(original["passengers"]) == 11 and original["users"]

    # databusd must be stopped.
    r = b.ctl_raw("migrate", "--to", postgres.conninfo)
    assert r.returncode == 1 and "stop it first" in r.stderr, r.stderr
    b.stop()

    # A password in the target (trust auth takes any) is never printed.
    r = b.ctl_raw("migrate", "--to", postgres.conninfo +
                  " password='pw-s3cret'", "--schema", "mig")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pw-s3cret" not in r.stdout + r.stderr, r.stdout
    assert "password=***" in r.stdout, r.stdout
    assert "migrated 11 passengers" in r.stdout, r.stdout
    lines = [ln for ln in r.stdout.splitlines()
             if ln.startswith(("acme ", "globex "))]
    assert len(lines) == 2 and all(ln.endswith(" same") for ln in lines), \
        r.stdout
    assert '"backend":"postgres"' in r.stdout and '"schema":"mig"' in \
        r.stdout, r.stdout
    # Into a schema that holds a store already: refused, nothing changed.
    r = b.ctl_raw("migrate", "--to", postgres.conninfo, "--schema", "mig")
    assert r.returncode == 1 and "not empty" in r.stderr, r.stderr

    store = {"backend": "postgres",
             "postgres": {"conninfo": postgres.conninfo, "schema": "mig"}}
    b = bus(cl, store=store)
    b.wait_counts("acme", "orders", pending=0, done=6, dead=0)
    b.wait_counts("acme", "held", pending=3, done=0, dead=0)
    b.wait_counts("globex", "dead", pending=0, done=0, dead=2)
    assert b.ctl_raw("verify").returncode == 0
    check_same(original, archive(b, tmp / "on-postgres.json"))
    b.stop()

    # Back: the old LMDB store is still there, and is never overwritten.
    r = b.ctl_raw("migrate", "--to", "lmdb")
    assert r.returncode == 1 and "move it aside" in r.stderr, r.stderr
    store_dir = tmp / "var" / "store"
    (tmp / "old-store").mkdir()
    for name in ("data.mdb", "lock.mdb"):
        if (store_dir / name).exists():
            (store_dir / name).rename(tmp / "old-store" / name)
    r = b.ctl_raw("--json", "migrate", "--to", "lmdb")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["same"] is True and doc["passengers"] == 11, doc
    assert {c["client"] for c in doc["clients"]} == {"acme", "globex"}
    assert not (store_dir / "engine.json").exists()

    b = bus(cl)
    b.wait_counts("acme", "held", pending=3, done=0, dead=0)
    assert b.ctl_raw("verify").returncode == 0
    check_same(original, archive(b, tmp / "back.json"))


def test_export_to_postgres_and_import_back(tmp, bus, postgres):  # noqa
    """`export postgres://...` copies a running installation's store into
    a PostgreSQL schema (intake goes on; exporting again adds nothing; a
    client's export carries that client alone, its users without password
    hashes), and `import postgres://...` reads such a schema into another
    installation (twice adds nothing). A URI's password is never printed."""
    uri = "postgresql://postgres@127.0.0.1:%d/postgres" % postgres.port
    inbox, outbox = tmp / "in", tmp / "out"
    inbox.mkdir()
    outbox.mkdir()
    for i in range(6):
        (inbox / ("o%02d.xml" % i)).write_text("<o n='%d'/>" % i)
    for i in range(2):
        (inbox / ("d%02d.bad" % i)).write_text("dead %d" % i)
    cl = clients(inbox, outbox)
    b = bus(cl)
    b.drive("acme", "orders")
    b.drive("globex", "dead")
    b.wait_counts("acme", "orders", pending=0, done=6, dead=0)
    b.wait_counts("globex", "dead", pending=0, done=0, dead=2)

    r = b.ctl_raw("--json", "export", uri, "--schema", "exp")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["passengers"] == 8 and doc["users"] == 2, doc
    assert doc["duplicates"] == 0 and doc["remapped"] == 0, doc
    assert postgres.sql("SELECT count(*) FROM exp.passengers") == [["8"]]
    # The whole store's export carries the password hashes.
    argon = "position('$argon2id$'::bytea in record) > 0"
    assert postgres.sql("SELECT count(*) FROM exp.users WHERE " + argon) \
        == [["2"]]
    # Again: nothing new, nothing written twice.
    r = b.ctl_raw("--json", "export", uri, "--schema", "exp")
    doc = json.loads(r.stdout)
    assert doc["duplicates"] == 8 and doc["logs_duplicates"] == \
        doc["logs"], doc
    assert postgres.sql("SELECT count(*) FROM exp.passengers") == [["8"]]

    # A client's export: that client alone, users locked.
    r = b.ctl_raw("export", uri, "--schema", "globex_only", "--client",
                  "globex")
    assert r.returncode == 0, r.stderr
    assert postgres.sql("SELECT DISTINCT client FROM globex_only.passengers"
                        ) == [["globex"]]
    assert postgres.sql("SELECT client FROM globex_only.users") == \
        [["globex"]]
    assert postgres.sql("SELECT count(*) FROM globex_only.users WHERE " +
                        argon) == [["0"]]

    # Read back into another installation (the same definitions, on an
    # empty inbox), online.
    b.stop()
    (tmp / "in2").mkdir()
    (tmp / "out2").mkdir()
    b2 = bus(clients(tmp / "in2", tmp / "out2"),
             data_dir=str(tmp / "other"))
    r = b2.ctl_raw("--json", "import", uri, "--schema", "exp")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["added"] == 8, doc
    b2.wait_counts("acme", "orders", pending=0, done=6, dead=0)
    b2.wait_counts("globex", "dead", pending=0, done=0, dead=2)
    r = b2.ctl_raw("--json", "import", uri, "--schema", "exp")
    assert json.loads(r.stdout)["added"] == 0, r.stdout
    assert b2.ctl_raw("verify").returncode == 0

    # A refused connection: a clear error, never the password.
    bad = "postgresql://nobody:s3cret@127.0.0.1:%d/postgres" % postgres.port
    for args in (("import", bad), ("export", bad)):
        r = b2.ctl_raw(*args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "PostgreSQL" in r.stderr and "s3cret" not in \
            r.stderr + r.stdout, r.stderr
