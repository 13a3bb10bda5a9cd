"""The customizing section of databus-web: configuration nodes read, saved,
validated by databusd (nothing changes on a bad save), backed up with diff
content and restore, optimistic versions, role and tenant rules, and no
password in clear anywhere (responses, backups, the LMDB file).

databusd runs with its own web disabled; each test starts build/databus-web
against the daemon's data dir (the Web helper of test_web_api.py).
"""

import json
import urllib.parse
from pathlib import Path

import pytest

from conftest import bench_puller, client, definition, wait_for
from test_web_api import Web

HOOK_SECRET = "hook-secret-0123456789"
PASSWORDS = ["alice-pw-1", "ann-pw-1", "gina-pw-1", "root-pw-1",
             HOOK_SECRET]


def _clients():
    def c(users, prefix):
        return client(definition("orders", [bench_puller(count=3,
                                                         prefix=prefix)],
                                 [{"name": "n", "type": "null"}]),
                      users=users)
    acme = c([{"username": "alice", "password": "alice-pw-1"},
              {"username": "ann", "password": "ann-pw-1",
               "role": "administrator"}], "a")
    # A driver's credential is a secret too.
    acme["passengers"].append(definition(
        "hooks", [{"name": "hook", "type": "webhook",
                   "secret": HOOK_SECRET}],
        [{"name": "n", "type": "null"}]))
    return {
        "acme": acme,
        "globex": c([{"username": "gina", "password": "gina-pw-1",
                      "role": "administrator"}], "g"),
        "root": {"users": [{"username": "admin", "password": "root-pw-1"}]},
    }


@pytest.fixture
def web(tmp, bus):
    extra = tmp / "extra" / "mapping.json"
    extra.parent.mkdir(parents=True)
    extra.write_text('{"a": 1}\n')
    b = bus(_clients(), external_config_files=["extra/mapping.json"])
    w = Web(b.data_dir)
    w.bus = b
    w.root = tmp
    w.tokens = {}
    for cl, user, pw in [("acme", "alice", "alice-pw-1"),
                         ("acme", "ann", "ann-pw-1"),
                         ("globex", "gina", "gina-pw-1"),
                         ("root", "admin", "root-pw-1")]:
        status, doc, token, _ = w.login(cl, user, pw)
        assert status == 200 and token, doc
        w.tokens[user] = token
    yield w
    w.stop()


def node_path(node, *rest):
    return "/".join(["/api/v1/config", urllib.parse.quote(node, safe="")]
                    + list(rest))


def get(web, user, node):
    return web.json("GET", node_path(node), cookie=web.tokens[user])


def put(web, user, node, content, version):
    return web.json("PUT", node_path(node), cookie=web.tokens[user],
                    body={"content": content, "version": version})


def backups(web, user, node):
    status, doc = web.json("GET", node_path(node, "backups"),
                           cookie=web.tokens[user])
    assert status == 200, doc
    return doc["items"]


def no_password_in(data):
    if isinstance(data, str):
        data = data.encode()
    for pw in PASSWORDS:
        assert pw.encode() not in data, pw


def test_nodes_and_roles(web):
    t = web.tokens
    assert web.json("GET", "/api/v1/config")[0] == 401
    status, doc = web.json("GET", "/api/v1/config", cookie=t["admin"])
    assert status == 200, doc
    nodes = {n["node"]: n for n in doc["items"]}
    assert set(nodes) == {"__databus", "__clients", "acme", "globex",
                          "root", "extra/mapping.json"}
    assert nodes["acme"]["kind"] == "client"
    assert nodes["acme"]["client"] == "acme"
    assert nodes["extra/mapping.json"]["kind"] == "external"
    assert nodes["__databus"]["client"] is None
    # An administrator sees its client's node only; an operator nothing.
    doc = web.json("GET", "/api/v1/config", cookie=t["ann"])[1]
    assert [n["node"] for n in doc["items"]] == ["acme"]
    assert web.json("GET", "/api/v1/config", cookie=t["alice"])[0] == 403
    assert get(web, "alice", "acme")[0] == 403
    # Others' nodes and root's nodes do not exist for an administrator.
    for node in ("globex", "__databus", "__clients", "root",
                 "extra/mapping.json", "nosuch"):
        assert get(web, "ann", node)[0] == 404, node
        assert web.json("GET", node_path(node, "backups"),
                        cookie=t["ann"])[0] == 404, node
    # Saving them: 404 for the administrator, 403 for an operator.
    status, doc = get(web, "admin", "__clients")
    assert status == 200, doc
    for node in ("__clients", "__databus", "globex"):
        st, d = put(web, "ann", node, doc["content"], doc["version"])
        assert st == 404, (node, d)
    acme = get(web, "ann", "acme")[1]
    st, d = put(web, "alice", "acme", acme["content"], acme["version"])
    assert st == 403, d
    # Mutations need the Origin and a JSON body.
    st, _ = web.json("PUT", node_path("acme"), cookie=t["ann"],
                     body={"content": acme["content"],
                           "version": acme["version"]}, origin=None)
    assert st == 403
    st, _ = web.json("PUT", node_path("acme"), cookie=t["ann"],
                     body=json.dumps({"content": "{}", "version": "x"}),
                     ctype="text/plain")
    assert st == 415
    assert web.json("POST", node_path("acme"), cookie=t["ann"],
                    body={})[0] == 405
    # Traversal through the node name: only configured names exist.
    for node in ("../databus.json", "../../etc/passwd", "/etc/passwd",
                 "extra/../databus.json", "clients/acme.json", "acme.json"):
        assert get(web, "admin", node)[0] == 404, node
    assert web.json("GET", "/api/v1/config/..%2F..%2Fetc%2Fpasswd",
                    cookie=t["admin"])[0] == 404
    assert web.json("GET", "/api/v1/config/acme%00",
                    cookie=t["admin"])[0] == 404


def test_save_backup_diff_restore(web):
    t = web.tokens
    file = web.root / "clients" / "acme.json"
    status, doc = get(web, "ann", "acme")
    assert status == 200, doc
    assert doc["node"] == "acme" and doc["kind"] == "client"
    no_password_in(doc["content"])
    content = json.loads(doc["content"])
    assert [u["password"] for u in content["users"]] == ["********"] * 2
    assert backups(web, "ann", "acme") == []

    assert content["passengers"][1]["pullers"][0]["secret"] == "********"

    # A new definition first, a longer log life span, the secrets left as
    # the marker: each finds its stored value by name, not by position.
    content["log_life_span"] = 2
    content["passengers"].insert(0, definition(
        "refunds", [bench_puller(count=2, prefix="r")],
        [{"name": "n", "type": "null"}]))
    content["users"].reverse()
    status, saved = put(web, "ann", "acme", json.dumps(content, indent=2),
                        doc["version"])
    assert status == 200, saved
    assert saved["node"] == "acme" and saved["version"] != doc["version"]
    on_disk = json.loads(file.read_text())
    assert on_disk["log_life_span"] == 2
    assert [u["password"] for u in on_disk["users"]] == ["ann-pw-1",
                                                        "alice-pw-1"]
    assert on_disk["passengers"][2]["pullers"][0]["secret"] == HOOK_SECRET
    # databusd reloaded: the new definition runs.
    wait_for(lambda: any(d["name"] == "refunds" for d in web.json(
        "GET", "/api/v1/passengers", cookie=t["ann"])[1]["items"]),
        30, "the saved definition to run")
    assert get(web, "ann", "acme")[1]["version"] == saved["version"]

    # The previous version is backed up, with author and size.
    items = backups(web, "ann", "acme")
    assert len(items) == 1
    b = items[0]
    assert b["author"] == "web:acme/ann" and b["time"] and b["size"] > 0
    status, one = web.json("GET", node_path("acme", "backups", str(b["id"])),
                           cookie=t["ann"])
    assert status == 200, one
    old = json.loads(one["content"])
    assert old["log_life_span"] == 1
    assert [p["name"] for p in old["passengers"]] == ["orders", "hooks"]
    assert old["passengers"][1]["pullers"][0]["secret"] == "********"
    assert [u["password"] for u in old["users"]] == ["********"] * 2
    assert one["size"] == len(one["content"].encode())
    # Root sees the client's backups too; another admin does not.
    assert len(backups(web, "admin", "acme")) == 1
    assert web.json("GET", node_path("acme", "backups"),
                    cookie=t["gina"])[0] == 404
    assert web.json("GET", node_path("acme", "backups", str(b["id"])),
                    cookie=t["gina"])[0] == 404
    assert web.json("GET", node_path("acme", "backups", "999"),
                    cookie=t["ann"])[0] == 404
    assert web.json("GET", node_path("acme", "backups", "x1"),
                    cookie=t["ann"])[0] == 404

    # Restore: the old version comes back (passwords kept), and the one
    # it replaces is backed up in turn.
    restore = node_path("acme", "backups", str(b["id"]), "restore")
    assert web.json("POST", restore, body={}, cookie=t["alice"])[0] == 403
    assert web.json("POST", restore, body={}, cookie=t["gina"])[0] == 404
    status, r = web.json("POST", restore, body={}, cookie=t["ann"])
    assert status == 200, r
    on_disk = json.loads(file.read_text())
    assert on_disk["log_life_span"] == 1
    assert [p["name"] for p in on_disk["passengers"]] == ["orders",
                                                           "hooks"]
    assert on_disk["passengers"][1]["pullers"][0]["secret"] == HOOK_SECRET
    assert [u["password"] for u in on_disk["users"]] == ["alice-pw-1",
                                                        "ann-pw-1"]
    items = backups(web, "ann", "acme")
    assert len(items) == 2 and items[0]["id"] > items[1]["id"]
    newest = web.json("GET", node_path("acme", "backups",
                                       str(items[0]["id"])),
                      cookie=t["ann"])[1]
    assert json.loads(newest["content"])["log_life_span"] == 2
    # The user can still log in with the password the file keeps.
    assert web.login("acme", "ann", "ann-pw-1")[0] == 200


def _unchanged(web, before_bytes, n_backups):
    file = web.root / "clients" / "acme.json"
    assert file.read_bytes() == before_bytes
    assert len(backups(web, "ann", "acme")) == n_backups


def test_bad_save_changes_nothing(web):
    file = web.root / "clients" / "acme.json"
    before = file.read_bytes()
    doc = get(web, "ann", "acme")[1]
    content = json.loads(doc["content"])

    bad = json.loads(doc["content"])
    bad["passengers"][0]["sync_frequency"] = "often"
    status, err = put(web, "ann", "acme", json.dumps(bad), doc["version"])
    assert status == 400, err
    assert err["error"]["code"] == "invalid_config"
    msg = err["error"]["message"]
    assert "acme.json" in msg and "$.passengers[0].sync_frequency" in msg
    _unchanged(web, before, 0)

    # A driver's own settings, checked by databus-worker --check.
    bad = json.loads(doc["content"])
    bad["passengers"][0]["pullers"][0]["colour"] = "blue"
    status, err = put(web, "ann", "acme", json.dumps(bad), doc["version"])
    assert status == 400, err
    msg = err["error"]["message"]
    assert "acme.json" in msg and "$.passengers[0].pullers[0]" in msg, msg
    assert "colour" in msg, msg
    _unchanged(web, before, 0)

    # Syntax errors name the file and the place.
    status, err = put(web, "ann", "acme", '{"passengers": [', doc["version"])
    assert status == 400 and "acme.json" in err["error"]["message"], err
    _unchanged(web, before, 0)

    # A marker for a user whose password the file does not hold.
    content["users"].append({"username": "newbie", "password": "********"})
    status, err = put(web, "ann", "acme", json.dumps(content),
                      doc["version"])
    assert status == 400, err
    assert "$.users[2].password" in err["error"]["message"], err
    _unchanged(web, before, 0)

    # Validate only: the same check, nothing written either way.
    status, v = web.json("POST", node_path("acme", "validate"),
                         cookie=web.tokens["ann"],
                         body={"content": json.dumps(bad)})
    assert status == 400 and "colour" in v["error"]["message"], v
    status, v = web.json("POST", node_path("acme", "validate"),
                         cookie=web.tokens["ann"],
                         body={"content": doc["content"]})
    assert status == 200, v
    _unchanged(web, before, 0)
    # Bodies without content, or a PUT without a version.
    assert web.json("PUT", node_path("acme"), cookie=web.tokens["ann"],
                    body={"version": doc["version"]})[0] == 400
    assert web.json("PUT", node_path("acme"), cookie=web.tokens["ann"],
                    body={"content": doc["content"]})[0] == 400
    _unchanged(web, before, 0)


def test_version_conflict(web):
    file = web.root / "clients" / "acme.json"
    doc = get(web, "ann", "acme")[1]
    content = json.loads(doc["content"])
    content["log_life_span"] = 3
    status, saved = put(web, "ann", "acme", json.dumps(content),
                        doc["version"])
    assert status == 200, saved
    after = file.read_bytes()
    content["log_life_span"] = 4
    status, err = put(web, "ann", "acme", json.dumps(content),
                      doc["version"])
    assert status == 409 and err["error"]["code"] == "conflict", err
    assert file.read_bytes() == after
    # An edit on disk changes the version too.
    text = file.read_text().replace('"log_life_span": 3',
                                    '"log_life_span": 5')
    file.write_text(text)
    status, err = put(web, "ann", "acme", json.dumps(content),
                      saved["version"])
    assert status == 409, err
    assert len(backups(web, "ann", "acme")) == 1


def test_root_nodes(web):
    root = web.root
    # The dispatcher ticket: a new alias, visible after the reload.
    doc = get(web, "admin", "__databus")[1]
    ticket = json.loads(doc["content"])
    ticket["system_alias"] = "SAVED"
    status, r = put(web, "admin", "__databus", json.dumps(ticket, indent=2),
                    doc["version"])
    assert status == 200, r
    assert json.loads((root / "databus.json").read_text())[
        "system_alias"] == "SAVED"
    wait_for(lambda: web.bus.status()["system"]["system_alias"] == "SAVED",
             10, "the new alias")
    # A data_dir change is refused as a reload would refuse it.
    doc = get(web, "admin", "__databus")[1]
    ticket = json.loads(doc["content"])
    ticket["data_dir"] = "elsewhere"
    status, err = put(web, "admin", "__databus", json.dumps(ticket),
                      doc["version"])
    assert status == 400 and "$.data_dir" in err["error"]["message"], err

    # An external file: JSON checked, saved as sent, backed up.
    ext = root / "extra" / "mapping.json"
    doc = get(web, "admin", "extra/mapping.json")[1]
    assert doc["content"] == '{"a": 1}\n'
    status, err = put(web, "admin", "extra/mapping.json", '{"a": ',
                      doc["version"])
    assert status == 400 and "extra/mapping.json" in err["error"][
        "message"], err
    assert ext.read_text() == '{"a": 1}\n'
    status, r = put(web, "admin", "extra/mapping.json", '{"a": 2}\n',
                    doc["version"])
    assert status == 200, r
    assert ext.read_text() == '{"a": 2}\n'
    b = backups(web, "admin", "extra/mapping.json")
    assert len(b) == 1 and b[0]["author"] == "web:root/admin"

    # __clients: a new client gets an empty file; removing it backs its
    # file up under its node.
    doc = get(web, "admin", "__clients")[1]
    lst = json.loads(doc["content"])
    assert [c["name"] for c in lst["clients"]] == ["acme", "globex", "root"]
    lst["clients"].append({"name": "bad name"})
    status, err = put(web, "admin", "__clients", json.dumps(lst),
                      doc["version"])
    assert status == 400 and "$.clients[3].name" in err["error"][
        "message"], err
    lst["clients"][3] = {"name": "initech"}
    status, r = put(web, "admin", "__clients", json.dumps(lst),
                    doc["version"])
    assert status == 200, r
    assert json.loads((root / "clients" / "initech.json").read_text()) == {}
    nodes = [n["node"] for n in web.json(
        "GET", "/api/v1/config", cookie=web.tokens["admin"])[1]["items"]]
    assert "initech" in nodes
    doc = get(web, "admin", "__clients")[1]
    lst = json.loads(doc["content"])
    lst["clients"] = [c for c in lst["clients"] if c["name"] != "initech"]
    status, r = put(web, "admin", "__clients", json.dumps(lst),
                    doc["version"])
    assert status == 200, r
    assert not (root / "clients" / "initech.json").exists()
    assert len(backups(web, "admin", "initech")) == 1
    assert len(backups(web, "admin", "__clients")) == 2


def test_no_plaintext_password_anywhere(web):
    t = web.tokens
    doc = get(web, "ann", "acme")[1]
    content = json.loads(doc["content"])
    content["users"].append({"username": "neo", "password": "neo-pw-1",
                             "role": "operator"})
    status, r = put(web, "ann", "acme", json.dumps(content), doc["version"])
    assert status == 200, r
    # The new user was imported (hashed) and can log in.
    wait_for(lambda: web.login("acme", "neo", "neo-pw-1")[0] == 200, 10,
             "the new user's login")
    doc = get(web, "ann", "acme")[1]
    content = json.loads(doc["content"])
    content["log_life_span"] = 2
    status, r = put(web, "ann", "acme", json.dumps(content), doc["version"])
    assert status == 200, r
    b = backups(web, "ann", "acme")
    assert len(b) == 2
    status, r = web.json("POST", node_path("acme", "backups",
                                           str(b[-1]["id"]), "restore"),
                         body={}, cookie=t["ann"])
    assert status == 200, r
    # The clear text is in the operator's file (that is where it lives) ...
    assert "neo-pw-1" not in (web.root / "clients" / "acme.json").read_text()
    # ... but never in a response,
    every = [web.request("GET", "/api/v1/config", cookie=t["admin"])[2]]
    for node in ("acme", "globex", "root", "__clients", "__databus"):
        every.append(web.request("GET", node_path(node),
                                 cookie=t["admin"])[2])
        for item in backups(web, "admin", node):
            every.append(web.request(
                "GET", node_path(node, "backups", str(item["id"])),
                cookie=t["admin"])[2])
    for data in every:
        no_password_in(data)
        assert b"neo-pw-1" not in data
    # ... nor anywhere in the store.
    store = Path(web.bus.data_dir) / "store" / "data.mdb"
    raw = store.read_bytes()
    for pw in PASSWORDS + ["neo-pw-1"]:
        assert pw.encode() not in raw, pw


def test_a_client_named_like_a_system_node(tmp, bus):
    """A client called "__databus" is a client like any other: its
    administrator never reaches the dispatcher ticket or its backups."""
    clients = _clients()
    clients["__databus"] = {"users": [{"username": "mallory",
                                       "password": "mallory-pw-1",
                                       "role": "administrator"}]}
    b = bus(clients)
    web = Web(b.data_dir)
    try:
        web.root = tmp
        web.tokens = {}
        for cl, user, pw in [("__databus", "mallory", "mallory-pw-1"),
                             ("root", "admin", "root-pw-1")]:
            status, doc, token, _ = web.login(cl, user, pw)
            assert status == 200, doc
            web.tokens[user] = token
        doc = get(web, "admin", "__databus")[1]
        ticket = json.loads(doc["content"])
        ticket["system_alias"] = "SECRET-ALIAS"
        assert put(web, "admin", "__databus", json.dumps(ticket),
                   doc["version"])[0] == 200
        assert len(backups(web, "admin", "__databus")) == 1
        status, doc = get(web, "mallory", "__databus")
        assert status == 404, doc
        for path in (node_path("__databus", "backups"),
                     node_path("__databus", "backups", "1")):
            status, data = web.request("GET", path,
                                       cookie=web.tokens["mallory"])[:3:2]
            assert status == 404 and b"SECRET" not in data, data
        status, r = web.json("POST", node_path("__databus", "backups", "1",
                                               "restore"),
                             body={}, cookie=web.tokens["mallory"])
        assert status == 404, r
        assert "SECRET-ALIAS" in (tmp / "databus.json").read_text()
    finally:
        web.stop()
