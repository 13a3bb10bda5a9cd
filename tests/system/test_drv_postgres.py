"""postgres pusher against a real PostgreSQL started by the test (initdb in
the temp dir, loopback only): rows inserted and upserted from JSON
attachments, one transaction per passenger, a server that is down and
comes back (retried, nothing lost), bad mappings refused by --check or
failing with PostgreSQL's message."""
import json

from conftest import (client, definition, run_databusd, wait_for,
                      write_config)
from driver_servers import postgres  # noqa: F401 (fixture)

SCHEMA = """
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(10,2),
    tags jsonb,
    paid boolean
);
"""


def _def(pg, inbox, retry=None, **over):
    pusher = {"name": "db", "type": "postgres", "conninfo": pg.conninfo,
              "table": "orders",
              "columns": {"id": "/id", "customer": "/customer/name",
                          "amount": "/amount", "tags": "/tags",
                          "paid": "/paid"},
              "conflict": ["id"]}
    pusher.update(over)
    return definition("orders",
                      [{"name": "inbox", "type": "dir", "path": str(inbox),
                        "pattern": "*.json"}],
                      [pusher],
                      retry=retry or {"max_attempts": 100, "backoff": "1s",
                                      "max_backoff": "2s"})


def _put(inbox, name, obj):
    tmp = inbox / (".%s.part" % name)
    tmp.write_text(json.dumps(obj))
    tmp.rename(inbox / name)


def _rows(pg):
    return pg.sql("SELECT id, customer, amount, tags::text, paid "
                  "FROM orders ORDER BY id")


def test_insert_upsert_and_batch(tmp, bus, postgres):
    pg = postgres
    pg.sql(SCHEMA)
    inbox = tmp / "in"
    inbox.mkdir()
    _put(inbox, "a.json", {"id": 1, "customer": {"name": "Ada"},
                           "amount": 12.5, "tags": ["x", "y"],
                           "paid": False})
    # One passenger holding a batch of rows.
    _put(inbox, "b.json", [{"id": 2, "customer": {"name": "Bob"},
                            "amount": 3},
                           {"id": 3, "customer": {"name": "Cy"},
                            "paid": True}])
    b = bus({"acme": client(_def(pg, inbox))})
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=2, dead=0)
    assert _rows(pg) == [["1", "Ada", "12.50", '["x", "y"]', "f"],
                         ["2", "Bob", "3.00", "", ""],
                         ["3", "Cy", "", "", "t"]]

    # The same key again: the row is updated, not duplicated.
    _put(inbox, "c.json", {"id": 1, "customer": {"name": "Ada Lovelace"},
                           "amount": 99, "paid": True})
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=3, dead=0)
    assert _rows(pg)[0] == ["1", "Ada Lovelace", "99.00", "", "t"]
    assert pg.sql("SELECT count(*) FROM orders") == [["3"]]
    # One connection, kept by the worker across pushes.
    assert pg.sql("SELECT count(*) FROM pg_stat_activity "
                  "WHERE application_name = 'databus'") == [["1"]]

    # A batch with one bad row (customer is NOT NULL) writes nothing and
    # goes dead with PostgreSQL's message: retrying cannot help.
    _put(inbox, "d.json", [{"id": 4, "customer": {"name": "Di"}},
                           {"id": 5}])
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=3, dead=1)
    assert pg.sql("SELECT count(*) FROM orders WHERE id IN (4, 5)") == \
        [["0"]]
    dead = b.queue("--client", "acme", "--state", "dead")
    assert len(dead) == 1
    errors = " ".join(s.get("error", "") for s in dead[0]["steps"])
    assert "customer" in errors and "null" in errors.lower(), dead[0]
    assert "row 1" in errors, errors
    assert b.stop() == 0


def test_server_down_then_up(tmp, bus, postgres):
    pg = postgres
    pg.sql(SCHEMA)
    inbox = tmp / "in"
    inbox.mkdir()
    _put(inbox, "first.json", {"id": 1, "customer": {"name": "A"}})
    b = bus({"acme": client(_def(pg, inbox))})
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=1, dead=0)

    # The server goes away with the worker's connection open.
    pg.stop()
    for i in range(2, 12):
        _put(inbox, "o%02d.json" % i, {"id": i,
                                       "customer": {"name": "c%d" % i}})
    b.drive("acme", "orders")
    # Seated, not delivered: the push fails and is retried.
    b.wait_counts("acme", "orders", pending=10, done=1, dead=0)

    def failed_once():
        items = b.queue("--client", "acme", "--state", "pending")
        return all(any(s.get("error") for s in p["steps"]) for p in items)\
            and items
    items = wait_for(failed_once, 60, "failed attempts recorded")
    err = [s["error"] for s in items[0]["steps"] if s.get("error")][0]
    assert "connect" in err.lower(), err

    pg.start()
    b.wait_counts("acme", "orders", pending=0, done=11, dead=0, timeout=90)
    assert pg.sql("SELECT count(*), min(id), max(id) FROM orders") == \
        [["11", "1", "11"]]
    assert b.stop() == 0


def test_bad_mapping_at_check(tmp, postgres):
    """Mappings that are wrong on their face are refused before anything
    runs, naming the setting."""
    pg = postgres
    inbox = tmp / "in"
    inbox.mkdir()
    cases = [
        ({"columns": {"id": "id"}}, "columns.id", "json pointer"),
        ({"columns": {}}, "columns", "object"),
        ({"conflict": ["nope"]}, "conflict[0]", "not one of"),
        ({"conflict": "id"}, "conflict", "array"),
        ({"conninfo": "host=127.0.0.1 bogus_option=1"}, "conninfo",
         "bogus_option"),
        ({"tabel": "orders"}, "tabel", "unknown"),
    ]
    for over, where, words in cases:
        cfg = write_config(tmp, {"acme": client(_def(pg, inbox, **over))})
        r = run_databusd(["--config", cfg], tmp)
        assert r.returncode == 100, (over, r.returncode, r.stderr)
        assert "$.passengers[0].pushers[0]" in r.stderr, r.stderr
        assert where in r.stderr and words in r.stderr.lower(), \
            (over, r.stderr)


def test_bad_mapping_at_push(tmp, bus, postgres):
    """A column the table no longer has (dropped after --check accepted
    the mapping) fails permanently with PostgreSQL's message; nothing is
    written."""
    pg = postgres
    pg.sql(SCHEMA + "ALTER TABLE orders ADD COLUMN colour text;")
    inbox = tmp / "in"
    inbox.mkdir()
    d = _def(pg, inbox, columns={"id": "/id", "customer": "/customer/name",
                                 "colour": "/colour"})
    b = bus({"acme": client(d)})
    pg.sql("ALTER TABLE orders DROP COLUMN colour")
    _put(inbox, "a.json", {"id": 1, "customer": {"name": "A"}})
    b.drive("acme", "orders")
    b.wait_counts("acme", "orders", pending=0, done=0, dead=1)
    dead = b.queue("--client", "acme", "--state", "dead")
    errors = " ".join(s.get("error", "") for s in dead[0]["steps"])
    assert "bad mapping" in errors and "colour" in errors, errors
    assert pg.sql("SELECT count(*) FROM orders") == [["0"]]
    assert b.stop() == 0


def test_hostile_names_and_values(tmp, bus, postgres):
    """Identifiers are quoted and values are parameters: a column name
    with a quote and a space, and a value that is SQL, are stored as
    data."""
    pg = postgres
    pg.sql('CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."T-1" '
           '(id int PRIMARY KEY, "we""ird name" text)')
    inbox = tmp / "in"
    inbox.mkdir()
    evil = "x'); DROP TABLE \"Odd Schema\".\"T-1\"; --"
    _put(inbox, "a.json", {"id": 1, "v": evil})
    d = definition("odd",
                   [{"name": "inbox", "type": "dir", "path": str(inbox)}],
                   [{"name": "db", "type": "postgres",
                     "conninfo": pg.conninfo, "schema": "Odd Schema",
                     "table": "T-1",
                     "columns": {"id": "/id", 'we"ird name': "/v"},
                     "conflict": ["id"]}])
    b = bus({"acme": client(d)})
    b.drive("acme", "odd")
    b.wait_counts("acme", "odd", pending=0, done=1, dead=0)
    assert pg.sql('SELECT "we""ird name" FROM "Odd Schema"."T-1"') == \
        [[evil]]
    assert b.stop() == 0


def test_one_transaction_per_batch(tmp, bus, postgres):
    """The passengers of a work batch share one transaction: far fewer
    commits than passengers; a commit the database refuses (a deferred
    foreign key) reports none of them done, and they all go through
    once the data they need is there."""
    pg = postgres
    pg.sql("CREATE TABLE parents (id int PRIMARY KEY);"
           "CREATE TABLE kids (id int PRIMARY KEY, parent int "
           "REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
    inbox = tmp / "in"
    inbox.mkdir()
    d = definition("kids",
                   [{"name": "inbox", "type": "dir", "path": str(inbox)}],
                   [{"name": "db", "type": "postgres",
                     "conninfo": pg.conninfo, "table": "kids",
                     "columns": {"id": "/id", "parent": "/parent"},
                     "conflict": ["id"]}],
                   retry={"max_attempts": 100, "backoff": "1s",
                          "max_backoff": "2s"})
    b = bus({"acme": client(d)})
    wait_for(lambda: (lambda x: x.get("last_run") and not x.get("driving"))
             (b.definition("acme", "kids")), 30, "the start-up drive")

    def commits():
        return int(pg.sql("SELECT xact_commit FROM pg_stat_database "
                          "WHERE datname = 'postgres'")[0][0])
    for i in range(40):
        _put(inbox, "k%02d.json" % i, {"id": i, "parent": 1})
    pg.sql("INSERT INTO parents VALUES (1)")
    before = commits()
    b.drive("acme", "kids")
    b.wait_counts("acme", "kids", pending=0, done=40, dead=0)
    # psql's own statements and the connection's set-up commit too; 40
    # passengers in per-passenger transactions would be 40 or more.
    assert commits() - before < 20, commits() - before
    assert pg.sql("SELECT count(*) FROM kids") == [["40"]]

    for i in range(40, 45):
        _put(inbox, "k%02d.json" % i, {"id": i, "parent": 7})
    b.drive("acme", "kids")
    items = wait_for(
        lambda: [p for p in b.queue("--client", "acme", "--state",
                                    "pending")
                 if any("foreign key" in (s.get("error") or "")
                        for s in p["steps"])], 60,
        "commits refused by the foreign key")
    assert b.counts("acme", "kids")[1] == 40
    assert pg.sql("SELECT count(*) FROM kids") == [["40"]]
    pg.sql("INSERT INTO parents VALUES (7)")
    b.wait_counts("acme", "kids", pending=0, done=45, dead=0, timeout=60)
    assert pg.sql("SELECT count(*) FROM kids WHERE parent = 7") == [["5"]]
    assert b.stop() == 0
