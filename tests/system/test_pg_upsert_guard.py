"""The postgres pusher's guarded upsert and its live check, against a real
PostgreSQL started by the test: "newer" keeps the row of the latest event
whatever order the events arrive in (and a duplicate changes nothing),
"update_where" adds a condition over EXCLUDED, "document_columns" map
values from outside the rows; `--check` refuses a table or column the
database does not have and only warns when the database is out of reach.
(client_policy's "sql", which decides whether a client administrator may
write update_where: test_client_policy.py.)"""
import json

from conftest import (client, definition, free_port, run_databusd,
                      write_config)
from driver_servers import postgres  # noqa: F401 (fixture)

SCHEMA = """
CREATE TABLE runs (
    id bigint PRIMARY KEY,
    status text,
    updated timestamptz,
    attempt int,
    workflow text
);
"""


def _def(pg, inbox, **over):
    pusher = {"name": "db", "type": "postgres", "conninfo": pg.conninfo,
              "table": "runs", "rows": "/run",
              "columns": {"id": "/id", "status": "/status",
                          "updated": "/updated_at", "attempt": "/attempt"},
              "document_columns": {"workflow": "/workflow/name"},
              "conflict": ["id"], "newer": "updated"}
    pusher.update(over)
    return definition("runs",
                      [{"name": "inbox", "type": "dir", "path": str(inbox),
                        "pattern": "*.json"}],
                      [pusher])


def _event(inbox, name, status, updated, attempt=1, run_id=1):
    doc = {"action": status, "workflow": {"name": "Build"},
           "run": {"id": run_id, "status": status, "updated_at": updated,
                   "attempt": attempt, "name": ""}}
    tmp = inbox / (".%s.part" % name)
    tmp.write_text(json.dumps(doc))
    tmp.rename(inbox / name)


def _drive(b, inbox, done, events):
    for i, e in enumerate(events):
        _event(inbox, "e%02d-%d.json" % (done, i), *e)
    b.drive("acme", "runs")
    b.wait_counts("acme", "runs", pending=0, done=done + len(events),
                  dead=0)


def test_newer_wins(tmp, bus, postgres):
    pg = postgres
    pg.sql(SCHEMA)
    inbox = tmp / "in"
    inbox.mkdir()
    b = bus({"acme": client(_def(pg, inbox))})
    row = "SELECT status, attempt, workflow FROM runs WHERE id = 1"
    # completed first, then the older requested and in_progress: the
    # stored row stays completed.
    _drive(b, inbox, 0, [("completed", "2026-03-02T10:10:00Z")])
    assert pg.sql(row) == [["completed", "1", "Build"]]
    _drive(b, inbox, 1, [("requested", "2026-03-02T10:00:00Z"),
                         ("in_progress", "2026-03-02T10:01:00Z")])
    assert pg.sql(row) == [["completed", "1", "Build"]]
    # A duplicate of the same event (same time) changes nothing; a rerun
    # (later) does.
    _drive(b, inbox, 3, [("completed", "2026-03-02T10:10:00Z", 7)])
    assert pg.sql(row) == [["completed", "1", "Build"]]
    _drive(b, inbox, 4, [("requested", "2026-03-02T11:00:00Z", 2)])
    assert pg.sql(row) == [["requested", "2", "Build"]]
    # A stored row without a time is replaced by any event.
    pg.sql("INSERT INTO runs VALUES (2, 'odd', NULL, 0, NULL)")
    _drive(b, inbox, 5, [("queued", "2026-03-02T09:00:00Z", 1, 2)])
    assert pg.sql("SELECT status FROM runs WHERE id = 2") == [["queued"]]
    assert b.stop() == 0


def test_update_where(tmp, bus, postgres):
    """A condition over EXCLUDED and the table: only a higher attempt
    replaces the row (whatever its time)."""
    pg = postgres
    pg.sql(SCHEMA)
    inbox = tmp / "in"
    inbox.mkdir()
    d = _def(pg, inbox, newer=None,
             update_where="EXCLUDED.attempt > runs.attempt")
    b = bus({"acme": client(d)})
    _drive(b, inbox, 0, [("completed", "2026-03-02T10:10:00Z", 2)])
    _drive(b, inbox, 1, [("requested", "2026-03-02T12:00:00Z", 1)])
    assert pg.sql("SELECT status, attempt FROM runs") == \
        [["completed", "2"]]
    _drive(b, inbox, 2, [("requested", "2026-03-02T09:00:00Z", 3)])
    assert pg.sql("SELECT status, attempt FROM runs") == \
        [["requested", "3"]]
    assert b.stop() == 0


def _refused(tmp, pg, inbox, **over):
    cfg = write_config(tmp, {"acme": client(_def(pg, inbox, **over))})
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (over, r.returncode, r.stderr)
    assert "$.passengers[0].pushers[0]" in r.stderr, r.stderr
    return r.stderr


def test_guard_settings_refused(tmp, postgres):
    pg = postgres
    pg.sql(SCHEMA)
    inbox = tmp / "in"
    inbox.mkdir()
    cases = [({"newer": "nope"}, "newer"),
             ({"newer": "id"}, "newer"),
             ({"conflict": None}, "conflict"),
             ({"update_where": "true; DROP TABLE runs"}, "';'"),
             ({"update_where": "true); DROP TABLE runs; --"}, "closes"),
             ({"update_where": "a) OR (b"}, "closes more"),
             ({"update_where": "runs.attempt < $1"}, "'$'"),
             ({"update_where": "x -- y"}, "comments"),
             ({"update_where": "'open"}, "not closed"),
             ({"document_columns": {"id": "/x"}}, "mapped twice"),
             ({"document_columns": "/x"}, "document_columns")]
    for over, words in cases:
        err = _refused(tmp, pg, inbox, **over)
        assert words in err, (over, err)
    assert pg.sql("SELECT count(*) FROM runs") == [["0"]]


def test_check_asks_the_database(tmp, bus, postgres):
    """A table or column the database lacks, a conflict key without a
    unique index and a guard PostgreSQL refuses are found by --check;
    an unreachable database is a warning and databusd starts."""
    pg = postgres
    pg.sql(SCHEMA + "CREATE TABLE loose (id int, status text);")
    inbox = tmp / "in"
    inbox.mkdir()
    err = _refused(tmp, pg, inbox, table="no_such_table")
    assert "no_such_table" in err and "does not exist" in err, err
    err = _refused(tmp, pg, inbox, document_columns={"colour": "/c"})
    assert "colour" in err and "does not exist" in err, err
    err = _refused(tmp, pg, inbox, table="loose",
                   columns={"id": "/id", "status": "/status"},
                   document_columns=None, newer=None)
    assert "ON CONFLICT" in err, err
    err = _refused(tmp, pg, inbox, update_where="runs.nope > 1")
    assert "nope" in err, err

    down = "host=127.0.0.1 port=%d user=postgres dbname=x" % free_port()
    b = bus({"acme": client(_def(pg, inbox, conninfo=down))})
    assert "warning" in b.stderr() and "cannot connect" in b.stderr(), \
        b.stderr()
    assert b.stop() == 0

