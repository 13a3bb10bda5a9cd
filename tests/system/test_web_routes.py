"""databus-web's routes beyond login and the queue: passenger definitions
and expedite, logs, users and about. Each is checked for its role rules and
for tenant isolation (another client's object answers 404, root sees all).

databusd runs with its own web disabled; each test starts build/databus-web
against the daemon's data dir (the Web helper of test_web_api.py).
"""

import json

import pytest

from conftest import bench_puller, client, definition, wait_for
from test_web_api import Web


def _clients():
    def c(users, prefix):
        return client(definition("orders", [bench_puller(count=3,
                                                         prefix=prefix)],
                                 [{"name": "n", "type": "null"}]),
                      users=users)
    return {
        "acme": c([{"username": "alice", "password": "alice-pw-1"},
                   {"username": "ann", "password": "ann-pw-1",
                    "role": "administrator"}], "a"),
        "globex": c([{"username": "bob", "password": "bob-pw-1"},
                     {"username": "gina", "password": "gina-pw-1",
                      "role": "administrator"}], "g"),
        "root": {"users": [{"username": "admin", "password": "root-pw-1"}]},
    }


@pytest.fixture
def web(bus):
    b = bus(_clients())
    for cl in ("acme", "globex"):
        b.wait_counts(cl, "orders", pending=0, done=3, timeout=30)
    w = Web(b.data_dir)
    w.bus = b
    w.tokens = {}
    for cl, user, pw in [("acme", "alice", "alice-pw-1"),
                         ("acme", "ann", "ann-pw-1"),
                         ("globex", "bob", "bob-pw-1"),
                         ("globex", "gina", "gina-pw-1"),
                         ("root", "admin", "root-pw-1")]:
        status, doc, token, _ = w.login(cl, user, pw)
        assert status == 200 and token, doc
        w.tokens[user] = token
    yield w
    w.stop()


def test_passengers(web):
    t = web.tokens
    assert web.json("GET", "/api/v1/passengers")[0] == 401
    assert web.json("POST", "/api/v1/passengers", body={},
                    cookie=t["alice"])[0] == 405
    status, doc = web.json("GET", "/api/v1/passengers", cookie=t["alice"])
    assert status == 200, doc
    assert [(d["client"], d["name"]) for d in doc["items"]] == [
        ("acme", "orders")]
    d = doc["items"][0]
    for key in ("sync_period_ms", "last_run", "next_run", "driving",
                "worker", "pending", "done", "dead", "pullers", "pushers"):
        assert key in d, (key, d)
    assert d["done"] == 3 and d["last_run"] and d["pullers"]
    # Another client's operator sees only theirs; root sees both.
    bob = web.json("GET", "/api/v1/passengers", cookie=t["bob"])[1]
    assert {d["client"] for d in bob["items"]} == {"globex"}
    allp = web.json("GET", "/api/v1/passengers", cookie=t["admin"])[1]
    assert {d["client"] for d in allp["items"]} == {"acme", "globex"}


def _last_run(web, token, cl):
    items = web.json("GET", "/api/v1/passengers", cookie=token)[1]["items"]
    return [d for d in items if d["client"] == cl][0]


def test_expedite(web):
    t = web.tokens
    path = "/api/v1/passengers/acme/orders/expedite"
    before = _last_run(web, t["alice"], "acme")["last_run"]
    assert web.json("POST", path, body={})[0] == 401
    assert web.json("POST", path, body={}, cookie=t["alice"],
                    origin=None)[0] == 403
    assert web.json("POST", path, body="{}", cookie=t["alice"],
                    ctype="text/plain")[0] == 415
    assert web.json("GET", path, cookie=t["alice"])[0] == 405
    status, doc = web.json("POST", path, body={}, cookie=t["alice"])
    assert status == 200, doc
    assert doc["client"] == "acme" and doc["name"] == "orders"
    wait_for(lambda: (lambda d: d["last_run"] != before
                      and not d["driving"])(
                          _last_run(web, t["alice"], "acme")),
             30, "the expedited drive")
    # Another tenant's definition, or none at all: 404, never 403.
    for p in ["/api/v1/passengers/globex/orders/expedite",
              "/api/v1/passengers/acme/nosuch/expedite",
              "/api/v1/passengers/acme/orders/other",
              "/api/v1/passengers/acme/orders",
              "/api/v1/passengers/a.b/orders/expedite"]:
        assert web.json("POST", p, body={}, cookie=t["alice"])[0] == 404, p
    assert web.json("POST", "/api/v1/passengers/acme/orders/expedite",
                    body={}, cookie=t["gina"])[0] == 404
    # Root may expedite any client's.
    assert web.json("POST", "/api/v1/passengers/globex/orders/expedite",
                    body={}, cookie=t["admin"])[0] == 200
    assert web.json("POST", "/api/v1/passengers/root/nosuch/expedite",
                    body={}, cookie=t["admin"])[0] == 404


def test_logs(web):
    t = web.tokens
    assert web.json("GET", "/api/v1/logs")[0] == 401
    status, hdrs, data, _ = web.request("GET", "/api/v1/logs",
                                        cookie=t["alice"])
    assert status == 200 and hdrs["content-type"] == "application/json"
    doc = json.loads(data)
    assert doc["items"] and doc["next_cursor"] == 0
    assert {lg["client"] for lg in doc["items"]} == {"acme"}
    assert all("entries" not in lg for lg in doc["items"])
    # Paging (expedite for a second log first).
    web.bus.drive("acme", "orders")
    alls = web.json("GET", "/api/v1/logs", cookie=t["alice"])[1]["items"]
    assert len(alls) >= 2
    page = web.json("GET", "/api/v1/logs?limit=1", cookie=t["alice"])[1]
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = web.json("GET", "/api/v1/logs?cursor=%d" % page["next_cursor"],
                    cookie=t["alice"])[1]
    assert sorted(lg["id"] for lg in page["items"] + rest["items"]) == \
        sorted(lg["id"] for lg in alls)
    for bad in ["limit=0", "limit=501", "cursor=x", "client=../x",
                "client=%zz"]:
        assert web.json("GET", "/api/v1/logs?" + bad,
                        cookie=t["alice"])[0] == 400, bad
    assert web.json("GET", "/api/v1/logs?client=globex",
                    cookie=t["alice"])[0] == 404
    assert web.json("GET", "/api/v1/logs?client=acme",
                    cookie=t["alice"])[0] == 200
    # One log with its entries, as JSON data.
    mine = alls[0]["id"]
    status, one = web.json("GET", "/api/v1/logs/acme/%d" % mine,
                           cookie=t["alice"])
    assert status == 200, one
    assert one["log"]["id"] == mine and one["log"]["client"] == "acme"
    assert isinstance(one["log"]["entries"], list)
    for e in one["log"]["entries"]:
        assert isinstance(e["message"], str)
    # Another tenant's log: 404 by its client and under one's own.
    theirs = web.json("GET", "/api/v1/logs", cookie=t["bob"])[1]["items"]
    assert theirs and {lg["client"] for lg in theirs} == {"globex"}
    gid = theirs[0]["id"]
    assert web.json("GET", "/api/v1/logs/globex/%d" % gid,
                    cookie=t["alice"])[0] == 404
    assert web.json("GET", "/api/v1/logs/acme/%d" % gid,
                    cookie=t["alice"])[0] == 404
    assert web.json("GET", "/api/v1/logs/acme/999999",
                    cookie=t["alice"])[0] == 404
    for bad in ["acme/x1", "acme", "acme/1/x", "a.b/1", "acme/0"]:
        assert web.json("GET", "/api/v1/logs/" + bad,
                        cookie=t["alice"])[0] == 404, bad
    # Root sees every client's.
    allr = web.json("GET", "/api/v1/logs?limit=500",
                    cookie=t["admin"])[1]["items"]
    assert {lg["client"] for lg in allr} >= {"acme", "globex"}
    assert web.json("GET", "/api/v1/logs/globex/%d" % gid,
                    cookie=t["admin"])[0] == 200


def _no_secret(items):
    for u in items:
        assert set(u) <= {"client", "username", "role", "created",
                          "updated"}, u
        assert not any("hash" in k or "password" in k for k in u), u


def test_users(web):
    t = web.tokens
    assert web.json("GET", "/api/v1/users")[0] == 401
    status, doc = web.json("GET", "/api/v1/users", cookie=t["ann"])
    assert status == 200, doc
    assert sorted((u["client"], u["username"], u["role"])
                  for u in doc["items"]) == [
        ("acme", "alice", "operator"), ("acme", "ann", "administrator")]
    _no_secret(doc["items"])
    assert web.json("GET", "/api/v1/users?client=acme",
                    cookie=t["ann"])[0] == 200
    # Operators may not list users; another client's are 404.
    assert web.json("GET", "/api/v1/users", cookie=t["alice"])[0] == 403
    assert web.json("GET", "/api/v1/users", cookie=t["bob"])[0] == 403
    assert web.json("GET", "/api/v1/users?client=globex",
                    cookie=t["ann"])[0] == 404
    assert web.json("GET", "/api/v1/users?client=acme",
                    cookie=t["gina"])[0] == 404
    assert web.json("GET", "/api/v1/users?client=../x",
                    cookie=t["ann"])[0] == 400
    g = web.json("GET", "/api/v1/users", cookie=t["gina"])[1]["items"]
    assert {u["username"] for u in g} == {"bob", "gina"}
    # Root: any one client, or all.
    status, r = web.json("GET", "/api/v1/users?client=globex",
                         cookie=t["admin"])
    assert status == 200 and {u["client"] for u in r["items"]} == {"globex"}
    allu = web.json("GET", "/api/v1/users", cookie=t["admin"])[1]["items"]
    assert {u["client"] for u in allu} == {"acme", "globex", "root"}
    _no_secret(allu)


def test_about(web):
    t = web.tokens
    assert web.json("GET", "/api/v1/about")[0] == 401
    assert web.json("POST", "/api/v1/about", body={},
                    cookie=t["alice"])[0] == 405
    status, doc = web.json("GET", "/api/v1/about", cookie=t["alice"])
    assert status == 200, doc
    assert doc["version"] and doc["uptime_ms"] >= 0 and doc["started"]
    assert "store" not in doc and "system" not in doc
    libs = doc["libraries"]
    assert set(libs) == {"lmdb", "nng", "protobuf-c", "h2o", "libsodium",
                         "jansson", "openssl", "libcurl"}, libs
    assert libs["lmdb"].startswith("LMDB 0.9.") and all(
        any(c.isdigit() for c in v) for v in libs.values()), libs
    assert [(w["client"], w["definition"]) for w in doc["workers"]] == [
        ("acme", "orders")]
    w = doc["workers"][0]
    for key in ("pid", "state", "restarts", "rss_kib"):
        assert key in w, (key, w)
    assert w["pid"] > 0
    status, r = web.json("GET", "/api/v1/about", cookie=t["admin"])
    assert status == 200, r
    assert {w["client"] for w in r["workers"]} == {"acme", "globex"}
    assert r["store"]["passengers"] >= 6 and r["store"]["users"] >= 5
    assert r["system"]["version"] == r["version"]
