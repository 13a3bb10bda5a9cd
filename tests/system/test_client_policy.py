"""The client policy of databus.json: what a client administrator may save
in their own client file through the web (PUT, validate, restore of a
backup): no exec or plugin driver and no path outside the client's folder
<data_dir>/files/<client> by default, refused with the JSON path and
nothing run or written; root's saves are not limited; a client_policy
entry widens it for one client; a bad client_policy stops databusd with
exit 100.
"""

import json
import os

from conftest import (bench_puller, client, definition, hold_for,
                      run_databusd, write_config)
from driver_servers import postgres  # noqa: F401 (fixture)
from test_web_api import Web
from test_web_config import get, node_path, put


def _clients():
    acme = client(definition("orders", [bench_puller(count=1)],
                             [{"name": "n", "type": "null"}]),
                  users=[{"username": "ann", "password": "ann-pw-1",
                          "role": "administrator"}])
    return {"acme": acme,
            "root": {"users": [{"username": "admin",
                                "password": "root-pw-1"}]}}


def _start(tmp, bus, **top):
    b = bus(_clients(), **top)
    w = Web(b.data_dir)
    w.bus = b
    w.root = tmp
    w.tokens = {}
    for cl, user, pw in [("acme", "ann", "ann-pw-1"),
                         ("root", "admin", "root-pw-1")]:
        status, doc, token, _ = w.login(cl, user, pw)
        assert status == 200 and token, doc
        w.tokens[user] = token
    return w


_names = iter(range(1000))


def _with(web, user, *entries):
    """acme's file as `user` reads it, with one more definition of the
    given (list, entry) pairs; (content, version)."""
    doc = get(web, user, "acme")[1]
    content = json.loads(doc["content"])
    d = definition("extra%d" % next(_names), [], [], sync="1s")
    for lst, entry in entries:
        d[lst].append(entry)
    if not d["pullers"]:
        d["pullers"].append(bench_puller(count=1))
    if not d["pushers"]:
        d["pushers"].append({"name": "n", "type": "null"})
    content["passengers"].append(d)
    return json.dumps(content), doc["version"]


def _refused(web, entries, where, words):
    """ann's save and validation of acme with `entries` are refused
    naming `where`; the file stays as it was."""
    file = web.root / "clients" / "acme.json"
    before = file.read_bytes()
    content, version = _with(web, "ann", *entries)
    for status, err in (
            put(web, "ann", "acme", content, version),
            web.json("POST", node_path("acme", "validate"),
                     cookie=web.tokens["ann"], body={"content": content})):
        assert status == 400, err
        msg = err["error"]["message"]
        assert err["error"]["code"] == "invalid_config", err
        assert "acme.json: " + where in msg, msg
        assert "$.client_policy" in msg, msg
        for w in words:
            assert w in msg, msg
    assert file.read_bytes() == before


def _accepted(web, user, entries):
    content, version = _with(web, user, *entries)
    status, r = put(web, user, "acme", content, version)
    assert status == 200, r


def test_exec_and_plugin_refused(tmp, bus):
    web = _start(tmp, bus)
    try:
        marker = tmp / "ran"
        run = {"name": "run", "type": "exec",
               "command": ["/bin/sh", "-c", "touch %s" % marker]}
        _refused(web, [("pullers", run)], "$.passengers[1].pullers[0].type",
                 ['driver type "exec" is not allowed for client '
                  'administrators (databus.json $.client_policy)'])
        _refused(web, [("pushers", dict(run, name="out"))],
                 "$.passengers[1].pushers[0].type", ['"exec"'])
        plugin = {"name": "so", "type": "plugin",
                  "path": str(tmp / "evil.so")}
        _refused(web, [("processors", plugin)],
                 "$.passengers[1].processors[0].type", ['"plugin"'])
        # Nothing ran: a saved puller every second would have by now.
        hold_for(lambda: not marker.exists(), 2, "no exec ran")
        # The client's folder is made by the first save attempt.
        mine = tmp / "var" / "files" / "acme"
        assert mine.is_dir()
        assert os.stat(mine).st_mode & 0o777 == 0o750
    finally:
        web.stop()


def test_paths(tmp, bus):
    web = _start(tmp, bus)
    try:
        outside = tmp / "outside"
        outside.mkdir()
        mine = tmp / "var" / "files" / "acme"

        def pusher(path):
            return ("pushers", {"name": "out", "type": "dir",
                                "path": str(path)})

        # Inside the client's folder (made by databusd): accepted.
        _accepted(web, "ann", [pusher(mine)])
        assert json.loads((tmp / "clients" / "acme.json").read_text())[
            "passengers"][1]["pushers"][0]["path"] == str(mine)
        # Outside, by name, by "..", or through a link inside.
        for path in (outside, "../..", "var/files/acme/../../.."):
            _refused(web, [pusher(path)], "$.passengers[2].pushers[0].path",
                     ["is outside the folders a client administrator may "
                      "name", str(mine)])
        (mine / "escape").symlink_to(outside)
        _refused(web, [pusher(mine / "escape")],
                 "$.passengers[2].pushers[0].path", ["escape"])
        _refused(web, [("pushers", {"name": "out", "type": "null",
                                    "record": str(outside / "rec")})],
                 "$.passengers[2].pushers[0].record", ["outside"])
        _refused(web, [("pullers", {"name": "in", "type": "dir",
                                    "path": str(mine),
                                    "done": "../../../../outside"})],
                 "$.passengers[2].pullers[0].done", ["outside"])
        assert not (outside / "rec").exists()
        assert list(outside.iterdir()) == []
    finally:
        web.stop()


def test_root_not_limited_and_restore(tmp, bus):
    web = _start(tmp, bus)
    try:
        true = {"name": "run", "type": "exec", "command": ["/bin/true"]}
        # Root may give acme an exec puller...
        _accepted(web, "admin", [("pullers", true)])
        # ...which ann may keep as it is while editing the rest,
        doc = get(web, "ann", "acme")[1]
        content = json.loads(doc["content"])
        content["log_life_span"] = 2
        status, r = put(web, "ann", "acme", json.dumps(content),
                        doc["version"])
        assert status == 200, r
        # but not change.
        content["passengers"][1]["pullers"][0]["command"] = ["/bin/id"]
        status, err = put(web, "ann", "acme", json.dumps(content),
                          r["version"])
        assert status == 400 and '"exec" is not allowed' in err[
            "error"]["message"], err
        # Root takes it out again; restoring the version that had it is
        # a save like any other for ann: refused. Root may restore it.
        doc = get(web, "admin", "acme")[1]
        content = json.loads(doc["content"])
        del content["passengers"][1]
        status, r = put(web, "admin", "acme", json.dumps(content),
                        doc["version"])
        assert status == 200, r
        status, items = web.json("GET", node_path("acme", "backups"),
                                 cookie=web.tokens["ann"])
        with_exec = items["items"][0]["id"]
        restore = node_path("acme", "backups", str(with_exec), "restore")
        file = tmp / "clients" / "acme.json"
        before = file.read_bytes()
        status, err = web.json("POST", restore, body={},
                               cookie=web.tokens["ann"])
        assert status == 400, err
        assert "$.passengers[1].pullers[0].type" in err["error"][
            "message"], err
        assert file.read_bytes() == before
        status, r = web.json("POST", restore, body={},
                             cookie=web.tokens["admin"])
        assert status == 200, r
    finally:
        web.stop()


def test_policy_entry_widens_one_client(tmp, bus):
    outside = tmp / "shared"
    outside.mkdir()
    web = _start(tmp, bus, client_policy={
        "clients": {"acme": {"drivers": ["exec", "bench", "null", "dir"],
                             "paths": ["{client}-files", str(outside)]}}})
    try:
        marker = tmp / "ran"
        run = {"name": "run", "type": "exec",
               "command": ["/bin/sh", "-c", "touch %s" % marker]}
        _accepted(web, "ann", [("pullers", run)])
        # Its paths replace the default: the shared folder is in, the
        # client's own data folder out.
        _accepted(web, "ann", [("pushers", {"name": "out", "type": "dir",
                                            "path": str(outside)})])
        _refused(web, [("pushers", {"name": "out", "type": "dir",
                                    "path": str(tmp / "var")})],
                 "$.passengers[3].pushers[0].path",
                 ["$.client_policy.clients.acme.paths",
                  str(tmp / "acme-files")])
        # http is not in its drivers.
        _refused(web, [("pushers", {"name": "h", "type": "http",
                                    "url": "http://127.0.0.1:9/"})],
                 "$.passengers[3].pushers[0].type",
                 ["$.client_policy.clients.acme.drivers"])
    finally:
        web.stop()


def test_bad_client_policy_exits_100(tmp):
    for policy, where in (
            ([], "$.client_policy"),
            ({"drivers": ["exex"]}, "$.client_policy.drivers[0]"),
            ({"paths": "/srv"}, "$.client_policy.paths"),
            ({"clients": {"acme": {"paths": [3]}}},
             "$.client_policy.clients.acme.paths[0]"),
            ({"clients": {"acme": {"colour": 1}}},
             "$.client_policy.clients.acme.colour")):
        cfg = write_config(tmp, _clients(), client_policy=policy)
        r = run_databusd(["--config", cfg], tmp)
        assert r.returncode == 100, (policy, r.returncode, r.stderr)
        assert "databus.json: " + where in r.stderr, r.stderr


def test_environment_refused(tmp, bus):
    """A client administrator cannot make a driver read databusd's
    environment (another client's token could be there, and an HTTP header
    sends it anywhere), unless client_policy.env names the variable."""
    web = _start(tmp, bus, client_policy={"env": ["ACME_TOKEN"]})
    try:
        leak = {"name": "leak", "type": "http", "url": "http://127.0.0.1:9/",
                "headers": {"Authorization": "env:OTHER_TOKEN"}}
        _refused(web, [("pushers", leak)],
                 "$.passengers[1].pushers[0].headers.Authorization",
                 ['environment variable "OTHER_TOKEN"',
                  "$.client_policy.env"])
        hook = {"name": "h", "type": "webhook", "secret_env": "OTHER"}
        _refused(web, [("pullers", hook)],
                 "$.passengers[1].pullers[0].secret_env", ['"OTHER"'])
        token = dict(hook, secret_env=None, token_env="OTHER")
        _refused(web, [("pullers", token)],
                 "$.passengers[1].pullers[0].token_env", ['"OTHER"'])
        # The variable the policy names may be used.
        ok = dict(leak, headers={"Authorization": "env:ACME_TOKEN"})
        content, version = _with(web, "ann", ("pushers", ok))
        status, r = web.json("POST", node_path("acme", "validate"),
                             cookie=web.tokens["ann"],
                             body={"content": content})
        assert status != 400 or "$.client_policy" not in json.dumps(r), r
    finally:
        web.stop()


def test_sql_conditions(tmp, bus, postgres):
    """A postgres pusher's update_where is SQL: a client administrator
    may write it only where client_policy's "sql" allows; root may."""
    postgres.sql("CREATE TABLE runs (id int PRIMARY KEY, n int)")
    guarded = {"name": "db", "type": "postgres",
               "conninfo": postgres.conninfo, "table": "runs",
               "columns": {"id": "/id", "n": "/n"}, "conflict": ["id"],
               "update_where": "EXCLUDED.n > runs.n"}
    web = _start(tmp, bus)
    try:
        _refused(web, [("pushers", guarded)],
                 "$.passengers[1].pushers[0].update_where",
                 ["SQL conditions"])
        # The same pusher with the quoted column guard is fine.
        plain = dict(guarded, update_where=None, newer="n")
        _accepted(web, "ann", [("pushers", plain)])
        _accepted(web, "admin", [("pushers", guarded)])
    finally:
        web.stop()
    web.bus.stop()
    web = _start(tmp, bus,
                 client_policy={"clients": {"acme": {"sql": True}}})
    try:
        _accepted(web, "ann", [("pushers", guarded)])
    finally:
        web.stop()
