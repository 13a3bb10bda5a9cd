"""databus-web's management routes: steps, attachments, purges, users,
peek, the system switches, /metrics and session expiry.

Each route is checked for what it does and for how it refuses: no session
401, no Origin 403, wrong role 403, another tenant's (or no) object 404,
bad bodies 400. databusd runs with its own web disabled; each test starts
build/databus-web against the daemon's data dir (test_web_api.Web).

Client acme reads files from a directory (text, HTML, a PNG, a fake PNG,
an SVG, a name with quotes); its pusher always fails and max_attempts is 1,
so every passenger goes dead at once and can be toggled and requeued.
Client globex has three bench passengers that complete.
"""

import http.client
import json
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import (bench_puller, client, deadline, definition, free_port,
                      wait_for)
from test_web_api import WEB, Web

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00"
       b"\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
FILES = {
    "note.txt": b"hello <b>text</b>\n",
    "page.html": b"<html><script>alert(1)</script></html>",
    "pic.png": PNG,
    "fake.png": b"<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>",
    "draw.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    'we"ird;name.bin': b"\x00\x01\x02binary",
    "my file.txt": b"spaces\n",
}

USERS = [("acme", "alice", "alice-pw-1"), ("acme", "ann", "ann-pw-1"),
         ("globex", "bob", "bob-pw-1"), ("globex", "gina", "gina-pw-1"),
         ("root", "admin", "root-pw-1")]


def clients(inbox):
    acme = client(
        definition("files",
                   [{"name": "inbox", "type": "dir", "path": str(inbox)}],
                   [{"name": "out", "type": "null", "fail_every": 1}],
                   retry={"max_attempts": 1}),
        users=[{"username": "alice", "password": "alice-pw-1"},
               {"username": "ann", "password": "ann-pw-1",
                "role": "administrator"}])
    globex = client(
        definition("orders", [bench_puller(count=3, prefix="g")],
                   [{"name": "n", "type": "null"}]),
        users=[{"username": "bob", "password": "bob-pw-1"},
               {"username": "gina", "password": "gina-pw-1",
                "role": "administrator"}])
    return {"acme": acme, "globex": globex,
            "root": {"users": [{"username": "admin",
                                "password": "root-pw-1"}]}}


class ManageWeb(Web):
    def raw(self, method, path, cookie=None, origin=True, body=None,
            headers=None):
        """A request whose answer need not be JSON (attachments,
        /metrics): (status, headers, body)."""
        h = dict(headers or {})
        if origin is True:
            h["Origin"] = self.origin
        if cookie:
            h["Cookie"] = "dbs_session=" + cookie
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body)
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=deadline(20))
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def relogin(self, cl, user, pw):
        status, doc, token, _ = self.login(cl, user, pw)
        assert status == 200 and token, doc
        return token


def start_web(b):
    w = ManageWeb(b.data_dir)
    w.bus = b
    w.tokens = {u: w.relogin(c, u, p) for c, u, p in USERS}
    return w


@pytest.fixture
def m(bus, tmp):
    inbox = tmp / "in"
    inbox.mkdir()
    for name, data in FILES.items():
        (inbox / name).write_bytes(data)
    b = bus(clients(inbox))
    b.wait_counts("acme", "files", pending=0, dead=len(FILES), timeout=30)
    b.wait_counts("globex", "orders", pending=0, done=3, timeout=30)
    w = start_web(b)
    w.inbox = inbox
    yield w
    w.stop()


def acme_items(m, state=None):
    q = "/api/v1/queue?client=acme&limit=500"
    if state:
        q += "&state=" + state
    status, doc = m.json("GET", q, cookie=m.tokens["ann"])
    assert status == 200, doc
    return doc["items"]


def by_file(m):
    return {p["attachments"][0]["name"]: p for p in acme_items(m)}


def pusher_step(p):
    return [s for s in p["steps"] if s["kind"] == "pusher"][0]["name"]


# ------------------------------------------------------------------ steps

def test_steps(m):
    t = m.tokens
    p = by_file(m)["note.txt"]
    assert p["state"] == "dead"
    path = "/api/v1/queue/acme/%d/steps" % p["id"]
    step = pusher_step(p)
    ok = {"step": step, "complete": True}
    # Who may: no session, no Origin, wrong type, wrong role, other tenant.
    assert m.json("POST", path, body=ok)[0] == 401
    assert m.json("POST", path, body=ok, cookie=t["ann"],
                  origin=None)[0] == 403
    assert m.json("POST", path, body=ok, cookie=t["ann"],
                  origin="http://evil.example")[0] == 403
    assert m.json("POST", path, body=json.dumps(ok), cookie=t["ann"],
                  ctype="text/plain")[0] == 415
    assert m.json("GET", path, cookie=t["ann"])[0] == 405
    assert m.json("POST", path, body=ok, cookie=t["alice"])[0] == 403
    for who in ("bob", "gina"):
        assert m.json("POST", path, body=ok, cookie=t[who])[0] == 404
    # Unknown or malformed objects: 404.
    gid = m.json("GET", "/api/v1/queue?client=globex",
                 cookie=t["admin"])[1]["items"][0]["id"]
    for bad in ["/api/v1/queue/acme/999999/steps",
                "/api/v1/queue/acme/%d/steps" % gid,
                "/api/v1/queue/globex/%d/steps" % p["id"],
                "/api/v1/queue/acme/0/steps", "/api/v1/queue/acme/x/steps",
                "/api/v1/queue/a.b/%d/steps" % p["id"],
                "/api/v1/queue/acme/%d/steps/x" % p["id"]]:
        assert m.json("POST", bad, body=ok, cookie=t["admin"])[0] == 404, bad
    # Bad bodies: 400, nothing changed.
    for body in [{}, {"step": "nosuch", "complete": True}, {"step": step},
                 {"step": step, "complete": "yes"}, {"requeue": False},
                 {"requeue": True, "step": step}, [], "nope", 7,
                 {"step": 1, "complete": True},
                 {"step": step, "complete": True, "x": 1},
                 {"step": "", "complete": True}]:
        raw = body if isinstance(body, str) else json.dumps(body)
        assert m.json("POST", path, body=raw, cookie=t["ann"])[0] == 400, \
            body
    assert m.json("GET", "/api/v1/queue/acme/%d" % p["id"],
                  cookie=t["ann"])[1]["passenger"]["state"] == "dead"
    # Complete the failing pusher step: the passenger is done.
    status, doc = m.json("POST", path, body=ok, cookie=t["ann"])
    assert status == 200, doc
    assert doc["passenger"]["id"] == p["id"]
    assert doc["passenger"]["state"] == "done"
    assert [s["state"] for s in doc["passenger"]["steps"]
            if s["name"] == step] == ["complete"]
    # A done passenger is not dead: no requeue.
    assert m.json("POST", path, body={"requeue": True},
                  cookie=t["ann"])[0] == 409
    # Incomplete again: pending, then the pusher fails it dead again.
    status, doc = m.json("POST", path, body={"step": step, "complete": False},
                         cookie=t["ann"])
    assert status == 200 and "pending" in doc["message"], doc
    wait_for(lambda: m.json("GET", "/api/v1/queue/acme/%d" % p["id"],
                            cookie=t["ann"])[1]["passenger"]["state"]
             == "dead", 30, "the passenger dead again")
    # Requeue: pending with attempts reset (it fails again afterwards).
    status, doc = m.json("POST", path, body={"requeue": True},
                         cookie=t["ann"])
    assert status == 200 and "pending" in doc["message"], doc
    # Root may change any client's passenger. It may be out for work
    # again (requeued): the manual change wins over the late result.
    status, doc = m.json("POST", path, body=ok, cookie=t["admin"])
    assert status == 200 and doc["passenger"]["state"] == "done", doc
    assert m.bus.show("acme", p["id"])["state"] == "done"


# ------------------------------------------------------------ attachments

def att_path(p, name, query=""):
    return "/api/v1/queue/acme/%d/attachments/%s%s" % (
        p["id"], urllib.parse.quote(name, safe=""), query)


def test_attachments(m):
    t = m.tokens
    files = by_file(m)
    assert set(files) == set(FILES)

    def get(name, query="", who="alice"):
        return m.raw("GET", att_path(files[name], name, query),
                      cookie=t[who])

    expect = {
        "note.txt": ("text/plain; charset=utf-8", "inline"),
        "my file.txt": ("text/plain; charset=utf-8", "inline"),
        "page.html": ("text/plain; charset=utf-8", "inline"),
        "pic.png": ("image/png", "inline"),
        "fake.png": ("application/octet-stream", "attachment"),
        "draw.svg": ("application/octet-stream", "attachment"),
        'we"ird;name.bin': ("application/octet-stream", "attachment"),
    }
    for name, (ctype, disp) in expect.items():
        status, h, data = get(name)
        assert status == 200, (name, status, data)
        assert data == FILES[name], name
        assert h["content-type"] == ctype, (name, h)
        assert h["content-disposition"].startswith(disp + ";"), (name, h)
        assert h["content-security-policy"] == \
            "sandbox; default-src 'none'", h
        assert h["x-content-type-options"] == "nosniff"
    # The file name in Content-Disposition is sanitized.
    h = get('we"ird;name.bin')[1]
    assert h["content-disposition"] == \
        'attachment; filename="we_ird_name.bin"', h
    # ?download=1 makes anything an attachment.
    status, h, _ = get("note.txt", "?download=1")
    assert status == 200
    assert h["content-disposition"] == 'attachment; filename="note.txt"'
    assert get("note.txt", "?download=%zz")[0] == 400
    # Root sees any client's; other tenants and anonymous do not.
    assert get("note.txt", who="admin")[0] == 200
    assert get("note.txt", who="bob")[0] == 404
    assert m.raw("GET", att_path(files["note.txt"], "note.txt"))[0] == 401
    assert m.raw("POST", att_path(files["note.txt"], "note.txt"), body={},
                 cookie=t["ann"])[0] == 405
    # Names are matched against the list, never used as paths.
    p = files["note.txt"]
    base = "/api/v1/queue/acme/%d/attachments/" % p["id"]
    for bad in ["nosuch.txt", "..%2fnote.txt", "%2e%2e%2fnote.txt",
                "note.txt%00", "%2Fetc%2Fpasswd", "..%2F..%2Fstore%2Fdata.mdb",
                "NOTE.TXT", "note.txt%2f", "%zz", "pic.png"]:
        status = m.raw("GET", base + bad, cookie=t["alice"])[0]
        assert status == 404, (bad, status)
    for bad in ["../note.txt", "./note.txt", "a/b", ""]:
        status = m.raw("GET", base + bad, cookie=t["alice"])[0]
        assert status == 404, (bad, status)
    other = files["pic.png"]
    assert m.raw("GET", att_path(other, "note.txt"),
                 cookie=t["alice"])[0] == 404
    assert m.raw("GET", "/api/v1/queue/globex/%d/attachments/note.txt"
                 % p["id"], cookie=t["admin"])[0] == 404


# ------------------------------------------------------------------ purge

def test_queue_purge(m):
    t = m.tokens
    files = by_file(m)
    # Two acme passengers done.
    for name in ("note.txt", "pic.png"):
        p = files[name]
        status, doc = m.json("POST", "/api/v1/queue/acme/%d/steps" % p["id"],
                             body={"step": pusher_step(p), "complete": True},
                             cookie=t["ann"])
        assert status == 200 and doc["passenger"]["state"] == "done"
    path = "/api/v1/queue/purge"
    assert m.json("POST", path, body={})[0] == 401
    assert m.json("POST", path, body={}, cookie=t["ann"], origin=None)[0] \
        == 403
    assert m.json("GET", path, cookie=t["ann"])[0] == 405
    assert m.json("POST", path, body={}, cookie=t["alice"])[0] == 403
    assert m.json("POST", path, body={"client": "acme"},
                  cookie=t["gina"])[0] == 404
    assert m.json("POST", path, body={"client": "globex"},
                  cookie=t["ann"])[0] == 404
    for body in [{"older_than_days": -1}, {"older_than_days": "1"},
                 {"older_than_days": 40000}, {"passenger": "files"},
                 {"client": "../x"}, {"client": "acme", "passenger": "a/b"},
                 {"bogus": 1}, [], "x"]:
        raw = body if isinstance(body, str) else json.dumps(body)
        assert m.json("POST", path, body=raw, cookie=t["ann"])[0] == 400, \
            body
    # Done just now: not older than a day.
    status, doc = m.json("POST", path, body={"older_than_days": 1},
                         cookie=t["ann"])
    assert status == 200 and doc["purged"] == 0, doc
    status, doc = m.json("POST", path, body={"client": "acme",
                                             "passenger": "files"},
                         cookie=t["ann"])
    assert status == 200 and doc["purged"] == 2, doc
    assert acme_items(m, "done") == []
    assert len(acme_items(m, "dead")) == len(FILES) - 2
    # An administrator's purge stays in its client.
    assert m.bus.counts("globex", "orders")[1] == 3
    status, doc = m.json("POST", path, body={}, cookie=t["gina"])
    assert status == 200 and doc["purged"] == 3, doc
    # Root: every client.
    status, doc = m.json("POST", path, body={}, cookie=t["admin"])
    assert status == 200 and doc["purged"] == 0, doc


def test_logs_purge(m):
    t = m.tokens
    path = "/api/v1/logs/purge"

    def logs(who, cl):
        return m.json("GET", "/api/v1/logs?client=%s&limit=500" % cl,
                      cookie=t[who])[1]["items"]
    assert logs("ann", "acme") and logs("gina", "globex")
    assert m.json("POST", path, body={}, cookie=t["alice"])[0] == 403
    assert m.json("POST", path, body={}, cookie=t["ann"], origin=None)[0] \
        == 403
    assert m.json("POST", path, body={"client": "globex"},
                  cookie=t["ann"])[0] == 404
    assert m.json("POST", path, body={"passenger": "files"},
                  cookie=t["ann"])[0] == 400
    assert m.json("POST", path, body={"older_than_days": "x"},
                  cookie=t["ann"])[0] == 400
    n = len(logs("ann", "acme"))
    status, doc = m.json("POST", path, body={}, cookie=t["ann"])
    assert status == 200 and doc["purged"] >= n, doc
    assert logs("gina", "globex"), "an admin purged another client's logs"
    status, doc = m.json("POST", path, body={"client": "globex"},
                         cookie=t["admin"])
    assert status == 200 and doc["purged"] >= 1, doc


# ------------------------------------------------------------------ users

def test_users(m):
    t = m.tokens
    new = {"client": "acme", "username": "carol", "password": "carol-pw-1",
           "role": "operator"}
    path = "/api/v1/users"
    assert m.json("POST", path, body=new)[0] == 401
    assert m.json("POST", path, body=new, cookie=t["ann"], origin=None)[0] \
        == 403
    assert m.json("POST", path, body=new, cookie=t["alice"])[0] == 403
    assert m.json("POST", path, body=new, cookie=t["gina"])[0] == 404
    for body in [dict(new, password="short"),
                 dict(new, password="x" * 1025),
                 dict(new, username="a/b"), dict(new, username=".."),
                 dict(new, username=""), dict(new, username="x" * 65),
                 dict(new, role="root"), dict(new, role="boss"),
                 {k: v for k, v in new.items() if k != "password"},
                 dict(new, client="../x"), dict(new, extra=1), [], "x"]:
        raw = body if isinstance(body, str) else json.dumps(body)
        assert m.json("POST", path, body=raw, cookie=t["ann"])[0] == 400, \
            body
    assert m.json("POST", path, body=dict(new, client="root", role="root"),
                  cookie=t["ann"])[0] == 404
    status, doc = m.json("POST", path, body=new, cookie=t["ann"])
    assert status == 201, doc
    assert doc["client"] == "acme" and doc["username"] == "carol"
    assert m.json("POST", path, body=new, cookie=t["ann"])[0] == 409
    carol = m.relogin("acme", "carol", "carol-pw-1")
    assert m.json("GET", "/api/v1/me", cookie=carol)[1]["role"] == "operator"
    # Root adds root users and any client's; only root users in root.
    assert m.json("POST", path, body={"client": "root", "username": "ops",
                                      "password": "ops-pw-12"},
                  cookie=t["admin"])[0] == 201
    assert m.json("POST", path, body={"client": "root", "username": "op2",
                                      "password": "ops-pw-12",
                                      "role": "administrator"},
                  cookie=t["admin"])[0] == 400
    assert m.json("POST", path, body=dict(new, username="dave",
                                          role="administrator"),
                  cookie=t["admin"])[0] == 201
    assert m.json("POST", path, body=dict(new, client="nosuch"),
                  cookie=t["admin"])[0] == 404

    # Passwords.
    pw = "/api/v1/users/acme/carol/password"
    assert m.json("POST", pw, body={"password": "carol-pw-2"},
                  cookie=t["alice"])[0] == 403
    assert m.json("POST", pw, body={"password": "carol-pw-2"},
                  cookie=t["bob"])[0] == 404
    assert m.json("POST", pw, body={"password": "short"},
                  cookie=t["ann"])[0] == 400
    assert m.json("POST", "/api/v1/users/acme/nosuch/password",
                  body={"password": "carol-pw-2"}, cookie=t["ann"])[0] == 404
    assert m.json("POST", pw, body={"password": "carol-pw-2"},
                  cookie=t["ann"], origin=None)[0] == 403
    status, doc = m.json("POST", pw, body={"password": "carol-pw-2"},
                         cookie=t["ann"])
    assert status == 200, doc
    # A new password ends the user's sessions; the old one is refused.
    assert m.json("GET", "/api/v1/me", cookie=carol)[0] == 401
    assert m.login("acme", "carol", "carol-pw-1")[0] == 401
    carol = m.relogin("acme", "carol", "carol-pw-2")
    # Her own: needs the current password.
    assert m.json("POST", pw, body={"password": "carol-pw-3"},
                  cookie=carol)[0] == 400
    assert m.json("POST", pw, body={"password": "carol-pw-3",
                                    "current_password": "wrong-pw-9"},
                  cookie=carol)[0] == 403
    status, doc = m.json("POST", pw, body={"password": "carol-pw-3",
                                           "current_password": "carol-pw-2"},
                         cookie=carol)
    assert status == 200, doc
    carol = m.relogin("acme", "carol", "carol-pw-3")

    # Revoke: ends every session of the user.
    carol2 = m.relogin("acme", "carol", "carol-pw-3")
    rv = "/api/v1/users/acme/carol/revoke"
    assert m.json("POST", rv, body={}, cookie=t["alice"])[0] == 403
    assert m.json("POST", rv, body={}, cookie=t["gina"])[0] == 404
    assert m.json("POST", rv, body={}, cookie=t["ann"], origin=None)[0] \
        == 403
    assert m.json("POST", rv, body={"x": 1}, cookie=t["ann"])[0] == 400
    assert m.json("POST", "/api/v1/users/acme/nosuch/revoke", body={},
                  cookie=t["ann"])[0] == 404
    status, doc = m.json("POST", rv, body={}, cookie=t["ann"])
    assert status == 200 and doc["revoked"] == 2, doc
    for tok in (carol, carol2):
        assert m.json("GET", "/api/v1/me", cookie=tok)[0] == 401
    # Anyone may end their own sessions.
    alice2 = m.relogin("acme", "alice", "alice-pw-1")
    status, doc = m.json("POST", "/api/v1/users/acme/alice/revoke", body={},
                         cookie=alice2)
    assert status == 200 and doc["revoked"] == 2, doc
    assert m.json("GET", "/api/v1/me", cookie=t["alice"])[0] == 401
    # User names with '@' arrive percent-encoded.
    assert m.json("POST", path, body=dict(new, username="eve@acme.io"),
                  cookie=t["ann"])[0] == 201
    m.relogin("acme", "eve@acme.io", "carol-pw-1")
    status, doc = m.json("POST", "/api/v1/users/acme/eve%40acme.io/revoke",
                         body={}, cookie=t["ann"])
    assert status == 200 and doc["revoked"] == 1, doc

    # A new role (databusctl user role) ends the sessions with the old one.
    dave = m.relogin("acme", "dave", "carol-pw-1")
    assert m.json("GET", "/api/v1/users", cookie=dave)[0] == 200
    m.bus.ctl("user", "role", "acme", "dave", "operator", json_out=False)
    assert m.json("GET", "/api/v1/me", cookie=dave)[0] == 401
    dave = m.relogin("acme", "dave", "carol-pw-1")
    assert m.json("GET", "/api/v1/users", cookie=dave)[0] == 403

    # Remove.
    rm = "/api/v1/users/acme/carol"
    assert m.json("DELETE", rm, body={}, cookie=t["bob"])[0] == 404
    assert m.json("DELETE", rm, body={}, cookie=t["ann"], origin=None)[0] \
        == 403
    assert m.json("GET", rm, cookie=t["ann"])[0] == 405
    assert m.json("DELETE", "/api/v1/users/acme/ann", body={},
                  cookie=t["ann"])[0] == 409
    status, doc = m.json("DELETE", rm, body={}, cookie=t["ann"])
    assert status == 200, doc
    assert m.login("acme", "carol", "carol-pw-3")[0] == 401
    assert m.json("DELETE", rm, body={}, cookie=t["ann"])[0] == 404
    users = m.json("GET", "/api/v1/users", cookie=t["ann"])[1]["items"]
    assert "carol" not in {u["username"] for u in users}
    assert m.json("DELETE", "/api/v1/users/root/admin", body={},
                  cookie=t["ann"])[0] == 404
    for bad in ["/api/v1/users/acme/..", "/api/v1/users/acme/%2e%2e",
                "/api/v1/users/acme/a%2fb", "/api/v1/users/acme/a%00",
                "/api/v1/users/a.b/carol", "/api/v1/users/acme/carol/x"]:
        status = m.json("DELETE", bad, body={}, cookie=t["admin"])[0]
        assert status in (404, 405), (bad, status)
        assert m.json("POST", bad + "/revoke", body={},
                      cookie=t["admin"])[0] == 404, bad


def test_user_role(m):
    """A user's role changes by the rules of `databusctl user role`."""
    t = m.tokens
    assert m.json("POST", "/api/v1/users", body={
        "client": "acme", "username": "rita", "password": "rita-pw-12"},
        cookie=t["ann"])[0] == 201
    rita = m.relogin("acme", "rita", "rita-pw-12")
    path = "/api/v1/users/acme/rita/role"
    admin = {"role": "administrator"}
    assert m.json("POST", path, body=admin)[0] == 401
    assert m.json("POST", path, body=admin, cookie=t["ann"],
                  origin=None)[0] == 403
    assert m.json("POST", path, body=admin, cookie=t["alice"])[0] == 403
    assert m.json("POST", path, body=admin, cookie=t["gina"])[0] == 404
    assert m.json("POST", "/api/v1/users/acme/nosuch/role", body=admin,
                  cookie=t["ann"])[0] == 404
    for body in [{"role": "root"}, {"role": "boss"}, {}, {"role": 1},
                 dict(admin, extra=1)]:
        assert m.json("POST", path, body=body, cookie=t["ann"])[0] == 400, \
            body
    # Client root's users are always root; nobody changes their own role.
    assert m.json("POST", "/api/v1/users/root/admin/role", body=admin,
                  cookie=t["admin"])[0] in (400, 409)
    assert m.json("POST", "/api/v1/users/acme/ann/role",
                  body={"role": "operator"}, cookie=t["ann"])[0] == 409
    assert m.json("GET", "/api/v1/me", cookie=rita)[1]["role"] == "operator"
    status, doc = m.json("POST", path, body=admin, cookie=t["ann"])
    assert status == 200 and doc["role"] == "administrator", doc
    # Her sessions carried the old role: they end.
    assert m.json("GET", "/api/v1/me", cookie=rita)[0] == 401
    rita = m.relogin("acme", "rita", "rita-pw-12")
    assert m.json("GET", "/api/v1/me", cookie=rita)[1]["role"] == \
        "administrator"
    users = m.json("GET", "/api/v1/users", cookie=t["ann"])[1]["items"]
    assert [u["role"] for u in users if u["username"] == "rita"] == \
        ["administrator"]
    # Root changes any client's users, and back.
    status, doc = m.json("POST", path, body={"role": "operator"},
                         cookie=t["admin"])
    assert status == 200 and doc["role"] == "operator", doc


def test_own_password_guesses_throttled(m):
    """A stolen session cannot guess the current password quickly: after
    5 wrong ones, changes of that account answer 429 for a minute."""
    t = m.tokens
    pw = "/api/v1/users/acme/alice/password"
    for i in range(5):
        status, doc = m.json("POST", pw, body={
            "password": "alice-pw-2", "current_password": "guess-%d" % i},
            cookie=t["alice"])
        assert status == 403 and doc["error"]["code"] == "wrong_password"
    status, hdrs, data, _ = m.request("POST", pw, body={
        "password": "alice-pw-2", "current_password": "alice-pw-1"},
        cookie=t["alice"])
    assert status == 429 and hdrs["retry-after"] == "60", data
    # Nothing changed: the old password still logs in.
    m.relogin("acme", "alice", "alice-pw-1")


# ------------------------------------------------------------------- peek

def test_peek(m):
    t = m.tokens
    (m.inbox / "waiting.txt").write_bytes(b"to be <i>peeked</i>\n")
    (m.inbox / "waiting.bin").write_bytes(b"\x00\xffbin")
    path = "/api/v1/peek/acme/files"
    assert m.json("GET", path)[0] == 401
    assert m.json("GET", path, cookie=t["bob"])[0] == 404
    assert m.json("GET", "/api/v1/peek/acme/nosuch", cookie=t["alice"])[0] \
        == 404
    for bad in ["/api/v1/peek/acme", "/api/v1/peek/a.b/files",
                "/api/v1/peek/acme/files/x", "/api/v1/peek/acme/%2e%2e"]:
        assert m.json("GET", bad, cookie=t["alice"])[0] == 404, bad
    assert m.json("POST", path, body={}, cookie=t["alice"])[0] == 405
    status, doc = m.json("GET", path, cookie=t["alice"])
    assert status == 200, doc
    seen = {a["name"]: a for it in doc["items"] for a in it["attachments"]}
    assert seen["waiting.txt"]["preview_encoding"] == "utf-8"
    assert seen["waiting.txt"]["preview"] == "to be <i>peeked</i>\n"
    assert seen["waiting.bin"]["preview_encoding"] == "base64"
    assert seen["waiting.bin"]["preview"] == "AP9iaW4="
    # A peek pulls nothing: the files are still there, the queue the same.
    assert (m.inbox / "waiting.txt").exists()
    assert len(acme_items(m)) == len(FILES)
    assert m.json("GET", "/api/v1/peek/globex/orders",
                  cookie=t["admin"])[0] == 200


# ----------------------------------------------------------------- system

def test_system_pause_resume(m):
    t = m.tokens
    for verb in ("pause", "resume", "shutdown"):
        path = "/api/v1/system/" + verb
        assert m.json("POST", path, body={})[0] == 401
        for who in ("alice", "ann", "gina"):
            assert m.json("POST", path, body={}, cookie=t[who])[0] == 403
        assert m.json("POST", path, body={}, cookie=t["admin"],
                      origin=None)[0] == 403
        assert m.json("GET", path, cookie=t["admin"])[0] == 405
        assert m.json("POST", path, body={"x": 1},
                      cookie=t["admin"])[0] == 400
    assert m.json("POST", "/api/v1/system/reboot", body={},
                  cookie=t["admin"])[0] == 404
    status, doc = m.json("POST", "/api/v1/system/pause", body={},
                         cookie=t["admin"])
    assert status == 200, doc
    assert m.bus.status()["system"]["paused"] is True
    status, doc = m.json("POST", "/api/v1/system/resume", body={},
                         cookie=t["admin"])
    assert status == 200, doc
    assert m.bus.status()["system"]["paused"] is False
    assert m.bus.alive()


def test_system_shutdown(bus):
    """Shutdown through the web: the answer arrives, databusd exits 0 and
    stops the web it supervises."""
    port = free_port()
    b = bus({"root": {"users": [{"username": "admin",
                                 "password": "root-pw-1"}]}},
            workers=False,
            web={"enabled": True, "listen": "127.0.0.1:%d" % port})
    w = ManageWeb.__new__(ManageWeb)
    w.port, w.host = port, "127.0.0.1:%d" % port
    w.origin = "http://" + w.host
    w.proc = None
    wait_for(lambda: _healthy(w), 20, "the supervised databus-web")
    tok = w.relogin("root", "admin", "root-pw-1")
    status, doc = w.json("POST", "/api/v1/system/shutdown", body={},
                         cookie=tok)
    assert status == 200 and doc["action"] == "shutdown", doc
    assert b.wait_exit(30) == 0


def _healthy(w):
    try:
        return w.raw("GET", "/healthz")[0] == 200
    except OSError:
        return False


# ---------------------------------------------------------------- metrics

def parse_metrics(text):
    vals = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        vals[name] = float(value)
    return vals


def test_metrics(m):
    status, h, data = m.raw("GET", "/metrics", origin=False)
    assert status == 200, data
    assert h["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    v = parse_metrics(data.decode())
    dead = len(FILES)
    assert v['databus_passengers{client="acme",definition="files",'
             'state="dead"}'] == dead
    assert v['databus_passengers{client="globex",definition="orders",'
             'state="done"}'] == 3
    assert v['databus_queue_depth{client="acme",definition="files"}'] == 0
    assert v['databus_drives_total{client="acme",definition="files"}'] >= 1
    assert v['databus_passengers_dead_total{client="acme",'
             'definition="files"}'] == dead
    assert v['databus_step_failures_total{client="acme",'
             'definition="files"}'] >= dead
    assert v['databus_worker_state{client="acme",definition="files",'
             'state="ready"}'] + v['databus_worker_state{client="acme",'
                                   'definition="files",state="busy"}'] == 1
    assert 'databus_worker_restarts_total{client="acme",' \
           'definition="files"}' in v
    assert v["databus_store_used_bytes"] > 0
    assert v['databus_store_records{kind="passengers"}'] == dead + 3
    # The commit duration histogram: cumulative buckets, +Inf == count.
    buckets = [(k, x) for k, x in v.items() if k.startswith(
        "databus_store_commit_duration_seconds_bucket")]
    assert len(buckets) >= 5
    counts = [x for _, x in buckets]
    assert counts == sorted(counts)
    assert v['databus_store_commit_duration_seconds_bucket{le="+Inf"}'] == \
        v["databus_store_commit_duration_seconds_count"] > 0
    assert v["databus_store_commit_duration_seconds_sum"] > 0
    assert m.raw("POST", "/metrics", body={})[0] == 405


def _non_loopback_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_metrics_not_for_remote_peers(bus):
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback address on this machine")
    b = bus({"root": {"users": []}}, workers=False)
    port = free_port()
    proc = subprocess.Popen([str(WEB), "--data", b.data_dir, "--listen",
                             "0.0.0.0:%d" % port],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        def get(host):
            c = http.client.HTTPConnection(host, port, timeout=deadline(10))
            try:
                c.request("GET", "/metrics")
                r = c.getresponse()
                return r.status, r.read()
            except OSError:
                return None
            finally:
                c.close()
        wait_for(lambda: get("127.0.0.1"), 15, "databus-web up")
        assert get("127.0.0.1")[0] == 200
        status, data = get(ip)
        assert status == 404 and b"databus_" not in data
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------- sessions

def test_session_idle_and_absolute_expiry(bus):
    """web.session_idle 8 s, web.session_lifetime 20 s: a session in use
    outlives the idle limit (touches move it), an idle one ends, and none
    outlives the absolute limit. databusd sweeps the dead ones."""
    b = bus({"acme": client(definition("orders",
                                       [bench_puller(count=1)],
                                       [{"name": "n", "type": "null"}]),
                            users=[{"username": "ann",
                                    "password": "ann-pw-1"}])},
            web={"enabled": False, "session_idle": "8s",
                 "session_lifetime": "20s"})
    w = ManageWeb(b.data_dir)
    try:
        start = time.monotonic()
        busy = w.relogin("acme", "ann", "ann-pw-1")
        idle = w.relogin("acme", "ann", "ann-pw-1")
        # Used every half second for 12 s (longer than the idle limit).
        while time.monotonic() - start < 12:
            assert w.json("GET", "/api/v1/me", cookie=busy)[0] == 200
            time.sleep(0.5)
        # The unused one has lapsed; it answers 401.
        assert w.json("GET", "/api/v1/me", cookie=idle)[0] == 401
        # The used one ends at the absolute limit however much it is used.
        wait_for(lambda: w.json("GET", "/api/v1/me", cookie=busy)[0] == 401,
                 30, "the absolute expiry", interval=0.5)
        assert time.monotonic() - start >= 19
        # databusd removes expired sessions from the store.
        wait_for(lambda: b.status()["store"]["sessions"] == 0, 20,
                 "the sweep of expired sessions")
    finally:
        w.stop()
