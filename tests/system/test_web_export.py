"""The export section of databus-web: sync archive downloads, async exports
with progress while intake goes on, hot copies of the store, and the
tenant and id rules (another client's export and any made-up id answer
404).

databusd runs with its own web disabled; each test starts build/databus-web
against the daemon's data dir (the Web helper of test_web_api.py).
"""

import http.client
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (CTL, bench_puller, client, deadline, definition,
                      wait_for)
from driver_servers import postgres  # noqa: F401 (fixture)
from test_web_api import Web


def _users(cl, admin, op=None):
    u = [{"username": admin, "password": admin + "-pw-1",
          "role": "administrator"}]
    if op:
        u.append({"username": op, "password": op + "-pw-1"})
    return u


def _start(bus, acme_defs):
    clients = {
        "acme": client(*acme_defs, users=_users("acme", "ann", "alice")),
        "globex": client(definition(
            "orders", [bench_puller(count=4, prefix="g")],
            [{"name": "n", "type": "null"}]), users=_users("globex", "gina")),
        "root": {"users": [{"username": "admin",
                            "password": "admin-pw-1"}]},
    }
    b = bus(clients)
    w = Web(b.data_dir)
    w.bus = b
    w.tokens = {}
    for cl, user in [("acme", "ann"), ("acme", "alice"), ("globex", "gina"),
                     ("root", "admin")]:
        status, doc, token, _ = w.login(cl, user, user + "-pw-1")
        assert status == 200 and token, doc
        w.tokens[user] = token
    return w


@pytest.fixture
def web(bus):
    w = _start(bus, [definition("orders", [bench_puller(count=3,
                                                         prefix="a")],
                                [{"name": "n", "type": "null"}])])
    w.bus.wait_counts("acme", "orders", pending=0, done=3, timeout=30)
    w.bus.wait_counts("globex", "orders", pending=0, done=4, timeout=30)
    yield w
    w.stop()


def raw_get(web, path, token):
    """A GET without the JSON checks of Web.request (downloads)."""
    c = http.client.HTTPConnection("127.0.0.1", web.port,
                                   timeout=deadline(60))
    try:
        c.request("GET", path, headers={"Cookie": "dbs_session=" + token})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def sync_export(web, user, body):
    c = http.client.HTTPConnection("127.0.0.1", web.port,
                                   timeout=deadline(60))
    try:
        c.request("POST", "/api/v1/export", body=json.dumps(body),
                  headers={"Cookie": "dbs_session=" + web.tokens[user],
                           "Origin": web.origin,
                           "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def wait_export(web, user, xid, timeout=120):
    def done():
        status, doc = web.json("GET", "/api/v1/exports/" + xid,
                               cookie=web.tokens[user])
        assert status == 200, doc
        return doc if doc["state"] != "running" else None
    return wait_for(done, timeout, "export %s to finish" % xid)


def test_sync_download(web):
    status, hdrs, data = sync_export(web, "ann", {"mode": "sync"})
    assert status == 200, data
    assert hdrs["content-type"] == "application/json"
    assert re.match(r'attachment; filename="databus-export-acme-\d{8}T\d{6}'
                    r'Z\.json"$', hdrs["content-disposition"]), hdrs
    assert hdrs["x-content-type-options"] == "nosniff"
    doc = json.loads(data)
    assert doc["format"] == "databus-export" and doc["clients"] == ["acme"]
    assert len(doc["passengers"]) == 3
    assert {p["client"] for p in doc["passengers"]} == {"acme"}
    assert all(p["attachments_data"] for p in doc["passengers"])
    assert {u["client"] for u in doc["users"]} == {"acme"}
    assert b"$argon2" not in data and b"-pw-1" not in data
    # Root: one client, or all of them.
    status, _, data = sync_export(web, "admin", {"client": "globex",
                                                 "mode": "sync"})
    assert status == 200
    doc = json.loads(data)
    assert {p["client"] for p in doc["passengers"]} == {"globex"}
    assert len(doc["passengers"]) == 4
    status, hdrs, data = sync_export(web, "admin", {"mode": "sync"})
    assert status == 200 and "export-all-" in hdrs["content-disposition"]
    assert {p["client"] for p in json.loads(data)["passengers"]} == {
        "acme", "globex"}
    # Another client's data: 404; an operator: 403; bad bodies: 400.
    assert sync_export(web, "ann", {"client": "globex",
                                    "mode": "sync"})[0] == 404
    assert sync_export(web, "alice", {"mode": "sync"})[0] == 403
    assert sync_export(web, "ann", {"mode": "fast"})[0] == 400
    assert sync_export(web, "ann", {"client": "../x",
                                    "mode": "sync"})[0] == 400
    assert web.json("POST", "/api/v1/export", body={"mode": "sync"},
                    cookie=web.tokens["ann"], origin=None)[0] == 403
    assert web.json("GET", "/api/v1/export",
                    cookie=web.tokens["ann"])[0] == 405
    # No temporary file stays behind.
    left = list((Path(web.bus.data_dir) / "exports").iterdir())
    assert left == [], left


def test_async_tenancy_and_ids(web):
    t = web.tokens
    status, x = web.json("POST", "/api/v1/export",
                         body={"mode": "async"}, cookie=t["ann"])
    assert status == 202, x
    assert re.fullmatch(r"[0-9a-f]{32}", x["id"]) and x["client"] == "acme"
    assert x["owner"] == "acme/ann" and x["mode"] == "async"
    done = wait_export(web, "ann", x["id"])
    assert done["state"] == "done" and done["progress"] == 1, done
    assert done["size"] > 0 and done["finished"]
    status, hdrs, data = raw_get(web, "/api/v1/exports/%s/download"
                                 % x["id"], t["ann"])
    assert status == 200 and len(data) == done["size"]
    assert "attachment" in hdrs["content-disposition"]
    assert {p["client"] for p in json.loads(data)["passengers"]} == {"acme"}

    # Listed for its client and root, nobody else.
    ids = lambda u: [e["id"] for e in web.json(  # noqa: E731
        "GET", "/api/v1/exports", cookie=t[u])[1]["items"]]
    assert ids("ann") == [x["id"]] and ids("admin") == [x["id"]]
    assert ids("gina") == []
    assert web.json("GET", "/api/v1/exports", cookie=t["alice"])[0] == 403
    for path in ["/api/v1/exports/" + x["id"],
                 "/api/v1/exports/%s/download" % x["id"]]:
        assert web.json("GET", path, cookie=t["gina"])[0] == 404, path
    assert web.json("DELETE", "/api/v1/exports/" + x["id"], body="",
                    cookie=t["gina"])[0] == 404

    # Made-up ids and traversal: 404, before any lookup.
    for bad in ["0" * 32, x["id"].upper(), x["id"][:-1], x["id"] + "0",
                "..%2F..%2Fetc%2Fpasswd", "..%2F" + x["id"],
                x["id"] + "%2F..%2F..", "%2e%2e"]:
        for suffix in ("", "/download"):
            path = "/api/v1/exports/" + bad + suffix
            assert web.json("GET", path, cookie=t["admin"])[0] == 404, path

    # Another databus-web on the same data dir (as after a restart) finds
    # the finished export in <data_dir>/exports.
    web2 = Web(web.bus.data_dir)
    try:
        status, doc = web2.json("GET", "/api/v1/exports", cookie=t["ann"])
        assert status == 200, doc
        assert [(e["id"], e["state"], e["size"]) for e in doc["items"]] == [
            (x["id"], "done", done["size"])]
        web2.tokens = t
        status, _, data2 = raw_get(web2, "/api/v1/exports/%s/download"
                                   % x["id"], t["ann"])
        assert status == 200 and data2 == data
        assert web2.json("GET", "/api/v1/exports/" + x["id"],
                         cookie=t["gina"])[0] == 404
    finally:
        web2.stop()

    # Delete: gone from the list, the file removed.
    status, d = web.json("DELETE", "/api/v1/exports/" + x["id"], body="",
                         cookie=t["ann"])
    assert status == 200 and d == {"id": x["id"], "deleted": True}, d
    assert web.json("GET", "/api/v1/exports/" + x["id"],
                    cookie=t["ann"])[0] == 404
    assert ids("admin") == []
    assert list((Path(web.bus.data_dir) / "exports").iterdir()) == []


def test_hot_copy(web, tmp):
    t = web.tokens
    assert web.json("POST", "/api/v1/export", body={"mode": "hot_copy"},
                    cookie=t["ann"])[0] == 403
    assert web.json("POST", "/api/v1/export", body={"mode": "hot_copy",
                                                    "client": "acme"},
                    cookie=t["admin"])[0] == 400
    status, x = web.json("POST", "/api/v1/export",
                         body={"mode": "hot_copy"}, cookie=t["admin"])
    assert status == 202, x
    assert x["mode"] == "hot_copy" and x["client"] is None
    done = wait_export(web, "admin", x["id"])
    assert done["state"] == "done", done
    # A hot copy is root's: an administrator does not see it.
    assert web.json("GET", "/api/v1/exports/" + x["id"],
                    cookie=t["ann"])[0] == 404
    status, hdrs, data = raw_get(web, "/api/v1/exports/%s/download"
                                 % x["id"], t["admin"])
    assert status == 200 and len(data) == done["size"]
    assert hdrs["content-type"] == "application/octet-stream"
    assert re.search(r'filename="databus-store-\d{8}T\d{6}Z\.mdb"',
                     hdrs["content-disposition"]), hdrs
    copy = tmp / "copy"
    (copy / "store").mkdir(parents=True)
    (copy / "store" / "data.mdb").write_bytes(data)
    # The LMDB tools open it, and databusctl finds it consistent with the
    # records in it.
    r = subprocess.run(["mdb_stat", "-a", str(copy / "store")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(CTL), "--data", str(copy), "verify"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(CTL), "--data", str(copy), "--json", "queue",
                        "ls"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    assert sorted(p["client"] for p in items) == ["acme"] * 3 + [
        "globex"] * 4


def test_async_progress_while_intake_goes_on(bus, tmp):
    # A store big enough that the export takes a while (over a second on a
    # quiet machine, so several progress events fall inside it), and a
    # definition that keeps seating passengers four times a second
    # meanwhile.
    bulk = definition("bulk", [bench_puller(count=12000, size=16384,
                                            prefix="k")],
                      [{"name": "n", "type": "null"}])
    stream = definition("stream", [bench_puller(count=10 ** 7, per_drive=5,
                                                prefix="s", size=64)],
                        [{"name": "n", "type": "null"}], sync="250ms")
    web = _start(bus, [bulk, stream])
    try:
        web.bus.wait_counts("acme", "bulk", pending=0, done=12000,
                            timeout=180)

        def seated():
            return web.bus.counts("acme", "stream")
        status, x = web.json("POST", "/api/v1/export",
                             body={"mode": "async"},
                             cookie=web.tokens["ann"])
        assert status == 202, x
        before = sum(seated())
        seen = []
        while True:
            status, doc = web.json("GET", "/api/v1/exports/" + x["id"],
                                   cookie=web.tokens["ann"])
            assert status == 200, doc
            seen.append(doc["progress"])
            if doc["state"] != "running":
                break
            time.sleep(0.02)
        after = sum(seated())
        assert doc["state"] == "done", doc
        assert seen == sorted(seen), "progress went back: %r" % seen
        assert doc["progress"] == 1
        # Intake went on: passengers were seated while the export ran,
        # and their creation times fall inside its window.
        assert after > before, (before, after)
        start, end = doc["created"], doc["finished"]
        stream_items = web.bus.queue("--client", "acme", "--passenger",
                                     "stream")
        during = [p for p in stream_items if start <= p["created"] <= end]
        assert during, (start, end)
        # The archive is the snapshot: every bulk passenger, once.
        status, hdrs, data = raw_get(web, "/api/v1/exports/%s/download"
                                     % x["id"], web.tokens["ann"])
        assert status == 200
        arch = json.loads(data)
        ids = [p["id"] for p in arch["passengers"]]
        assert len(ids) == len(set(ids))
        assert sum(p["definition"] == "bulk"
                   for p in arch["passengers"]) == 12000
        # Progress reached the event log (resource export), more than
        # start and end, and intermediate values among them.
        raw = (Path(web.bus.data_dir) / "store" / "data.mdb").read_bytes()
        progress = {float(v) for v in re.findall(
            rb'\{"id":"' + x["id"].encode()
            + rb'"[^}]*"progress":([0-9.eE+-]+)', raw)}
        assert 1.0 in progress and 0.0 in progress, progress
        assert any(0 < p < 1 for p in progress), progress
    finally:
        web.stop()


def test_export_events_on_the_live_stream(web):
    """Export progress reaches the websocket as resource `export`, for the
    export's client (and root), never for another client."""
    import websocket
    from test_events import Stream

    t = web.tokens
    ann, gina, root = (Stream(web, t[u]) for u in ("ann", "gina", "admin"))
    try:
        for s in (ann, gina, root):
            assert s.recv()["type"] == "hello"
        status, x = web.json("POST", "/api/v1/export",
                             body={"mode": "async"}, cookie=t["ann"])
        assert status == 202, x

        def mine(kind=None, state=None):
            def pred(f):
                return (f["type"] == "event" and f["resource"] == "export"
                        and f["data"]["id"] == x["id"]
                        and (kind is None or f["kind"] == kind)
                        and (state is None or f["data"]["state"] == state))
            return pred
        got = ann.until(mine(state="done"), what="the export's done event")
        frames = [f for f in got if mine()(f)]
        assert frames[0]["kind"] == "create", frames
        assert frames[0]["client"] == "acme"
        assert frames[-1]["data"]["progress"] == 1
        assert frames[-1]["data"] == web.json(
            "GET", "/api/v1/exports/" + x["id"], cookie=t["ann"])[1]
        root.until(mine(state="done"), what="root's copy of the event")
        status, _ = web.json("DELETE", "/api/v1/exports/" + x["id"],
                             body="", cookie=t["ann"])
        assert status == 200
        ann.until(mine(kind="delete"), what="the delete event")
        root.until(mine(kind="delete"), what="root's delete event")
        # Another client's administrator saw none of it: drain what it
        # got (its own client's events, if any) for a moment.
        end = time.monotonic() + 1
        while time.monotonic() < end:
            try:
                f = gina.recv(0.2)
            except websocket.WebSocketTimeoutException:
                continue
            assert not (f["type"] == "event" and f["resource"] == "export"), f
    finally:
        for s in (ann, gina, root):
            s.close()


def test_export_to_postgres(web, postgres):  # noqa: F811
    """The PostgreSQL target: root's alone (it makes databus-web connect
    where the request says), parameters checked (a host is never a path),
    a refused connection answered before anything is read and without the
    password, a sync copy answered with its counts, an async one with its
    progress in the export list; exporting again adds nothing; a client's
    copy carries that client alone, its users without password hashes."""
    pg = {"host": "127.0.0.1", "port": postgres.port,
          "database": "postgres", "user": "postgres", "schema": "wexp"}
    body = {"mode": "sync", "target": "postgres", "postgres": pg}
    status, doc = web.json("POST", "/api/v1/export", body=body,
                           cookie=web.tokens["ann"])
    assert status == 403, doc
    for bad, word in ((dict(pg, host="/var/run/postgresql"), "host"),
                      (dict(pg, port=0), "port"),
                      (dict(pg, schema="x; DROP"), "schema"),
                      (dict(pg, database=""), "database")):
        status, doc = web.json("POST", "/api/v1/export", cookie=web.tokens[
            "admin"], body=dict(body, postgres=bad))
        assert status == 400 and word in doc["error"]["message"], doc
    status, doc = web.json("POST", "/api/v1/export", cookie=web.tokens[
        "admin"], body=dict(body, postgres=dict(pg, user="nobody",
                                                password="s3cret")))
    assert status == 502 and "PostgreSQL" in doc["error"]["message"], doc
    assert "s3cret" not in json.dumps(doc)

    status, doc = web.json("POST", "/api/v1/export", body=body,
                           cookie=web.tokens["admin"])
    assert status == 200, doc
    assert doc["passengers"] == 7 and doc["users"] == 4, doc
    assert doc["destination"] == "postgres@127.0.0.1:%d/postgres" % \
        postgres.port
    assert postgres.sql("SELECT count(*) FROM wexp.passengers") == [["7"]]
    argon = "position('$argon2id$'::bytea in record) > 0"
    assert postgres.sql("SELECT count(*) FROM wexp.users WHERE " +
                        argon) == [["4"]]

    # Async, again: its progress and end in the list, nothing added.
    status, doc = web.json("POST", "/api/v1/export", cookie=web.tokens[
        "admin"], body=dict(body, mode="async"))
    assert status == 202 and doc["target"] == "postgres", doc
    xid = doc["id"]
    wait_for(lambda: web.json("GET", "/api/v1/exports/" + xid,
                              cookie=web.tokens["admin"])[1]["state"]
             == "done", 30, "the async PostgreSQL export")
    doc = web.json("GET", "/api/v1/exports/" + xid,
                   cookie=web.tokens["admin"])[1]
    assert doc["progress"] == 1 and doc["schema"] == "wexp", doc
    assert "password" not in json.dumps(doc)
    assert postgres.sql("SELECT count(*) FROM wexp.passengers") == [["7"]]
    status, _, _ = raw_get(web, "/api/v1/exports/%s/download" % xid,
                           web.tokens["admin"])
    assert status == 409
    # Nothing of the connection is kept on disk.
    meta = (Path(web.bus.data_dir) / "exports" / (xid + ".meta"))
    assert "password" not in meta.read_text() and \
        "host=" not in meta.read_text()

    # One client's copy.
    status, doc = web.json("POST", "/api/v1/export", cookie=web.tokens[
        "admin"], body=dict(body, client="globex",
                            postgres=dict(pg, schema="wglobex")))
    assert status == 200 and doc["passengers"] == 4, doc
    assert postgres.sql("SELECT DISTINCT client FROM wglobex.passengers"
                        ) == [["globex"]]
    assert postgres.sql("SELECT count(*) FROM wglobex.users WHERE " +
                        argon) == [["0"]]
