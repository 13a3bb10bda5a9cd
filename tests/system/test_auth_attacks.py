"""The original Databus's weaknesses, replayed against databus-web: each
test is one attack, and checks the answer and that nothing changed.

The world (clients acme and globex with their users, a webhook definition
each, an external config file) is test_auth_matrix's `world` fixture.
Traversal strings in every path and query parameter are the matrix's
test_traversal_in_every_parameter; test_traversal_covers_every_parameter
here proves that the matrix lists every placeholder of every route.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import websocket

from conftest import deadline, free_port, wait_for
from test_auth_matrix import (HOOK_SECRET, ROUTES, fill, raw_http, targets,
                              world)  # noqa: F401 (world: fixture)
from test_events import Closed, Stream
from test_web_api import WEB

BAD_ORIGINS = [None, "http://evil.example", "null",
               "http://127.0.0.1.evil.example"]
BAD_TYPES = [None, "text/plain", "application/x-www-form-urlencoded",
             "multipart/form-data; boundary=x", "application/json-evil",
             "text/json"]


def send(port, method, path, cookie=None, body=b"", headers=None):
    """A request with exactly these headers (no Content-Type added);
    returns (status, {lower-case header: value}, body)."""
    lines = ["%s %s HTTP/1.1" % (method, path),
             "Host: 127.0.0.1:%d" % port, "Connection: close",
             "Content-Length: %d" % len(body)]
    if cookie:
        lines.append("Cookie: dbs_session=" + cookie)
    for k, v in (headers or {}).items():
        if v is not None:
            lines.append("%s: %s" % (k, v))
    req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=deadline(20)) as s:
        s.sendall(req)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    if "chunked" in " ".join(hdrs.get("transfer-encoding", [])):
        from test_auth_matrix import dechunk
        rest = dechunk(rest)
    return int(lines[0].split(" ", 2)[1]), hdrs, rest


def login(w, cl, user, pw):
    return w.relogin(cl, user, pw)


def me(w, tok):
    return w.json("GET", "/api/v1/me", cookie=tok)


def files_of(root):
    """Every configuration file databusd reads, by path: bytes."""
    root = Path(root)
    out = {p: p.read_bytes() for p in (root / "clients").glob("*.json")}
    out[root / "databus.json"] = (root / "databus.json").read_bytes()
    extra = root / "extra" / "mapping.json"
    out[extra] = extra.read_bytes()
    return out


def snapshot(w, tok):
    """What a mutation could change, as root sees it."""
    s = {"files": files_of(w.root)}
    get = lambda p: w.json("GET", p, cookie=tok)  # noqa: E731
    for cl in ("acme", "globex"):
        status, q = get("/api/v1/queue?client=%s&limit=500" % cl)
        assert status == 200, q
        s["queue", cl] = [(p["id"], json.dumps(p, sort_keys=True))
                          for p in q["items"]]
        s["logs", cl] = [x["id"] for x in get(
            "/api/v1/logs?client=%s&limit=500" % cl)[1]["items"]]
    s["users"] = sorted((u["client"], u["username"], u["role"], u["updated"])
                        for u in get("/api/v1/users")[1]["items"])
    s["exports"] = sorted(x["id"] for x in get("/api/v1/exports")[1]["items"])
    for node in ("acme", "globex", "__databus", "__clients",
                 "extra%2Fmapping.json"):
        s["backups", node] = [b["id"] for b in get(
            "/api/v1/config/%s/backups" % node)[1]["items"]]
    s["paused"] = paused(w, tok)
    return s


def paused(w, tok):
    about = w.json("GET", "/api/v1/about", cookie=tok)[1]
    return about.get("system", {}).get("paused")


def assert_same(before, after):
    for k in before:
        assert before[k] == after[k], k


@pytest.fixture
def attack(world, tmp):
    world.root = tmp
    return world


# ------------------------------------------------------- forged cookies

def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_forged_cookies(attack):
    w = attack
    alice = login(w, "acme", "alice", "alice-pw-1")
    admin = login(w, "root", "admin", "root-pw-1")
    assert me(w, alice)[1]["username"] == "alice"
    digest = hashlib.blake2b(admin.encode(), digest_size=32).digest()
    flipped = alice[:-1] + ("A" if alice[-1] != "A" else "B")
    swapcase = alice.swapcase() if alice.swapcase() != alice else None
    forged = {
        "random": secrets.token_urlsafe(32)[:43],
        "truncated": alice[:-1],
        "extended": alice + "A",
        "last character changed": flipped,
        "case changed": swapcase,
        "root's token hash (base64url, as stored)": b64(digest),
        "root's token hash (hex)": digest.hex(),
        "root's token base64 with padding": admin + "=",
        "empty": "",
        "raw 32 bytes of random": b64(secrets.token_bytes(32)),
    }
    for what, cookie in forged.items():
        if cookie is None:
            continue
        for path in ("/api/v1/me", "/api/v1/users", "/api/v1/config",
                     "/api/v1/about"):
            status, hdrs, body = send(w.port, "GET", path, cookie=cookie)
            assert status == 401, (what, path, status, body)
            assert json.loads(body)["error"]["code"] == "unauthorized"
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Stream(w, cookie)
        assert e.value.status_code == 401, what
    # A token carries no client: alice's cookie with client/role cookies
    # beside it is still alice, and another client's objects are 404.
    for extra in ("dbs_client=root; role=root; ", "client=globex; ",
                  "dbs_user=admin; "):
        status, hdrs, body = send(w.port, "GET", "/api/v1/me", headers={
            "Cookie": extra + "dbs_session=" + alice})
        assert status == 200, body
        assert json.loads(body) == {"client": "acme", "username": "alice",
                                    "role": "operator"}
    tg = targets(w)["globex"]
    for path in ("/api/v1/queue/globex/%d" % tg.id,
                 "/api/v1/logs/globex/%d" % tg.log,
                 "/api/v1/exports/" + tg.export,
                 "/api/v1/config/globex"):
        status = w.json("GET", path, cookie=alice)[0]
        assert status in (403, 404), (path, status)  # config: operator 403
        status = w.json("GET", path, cookie=login(
            w, "acme", "ann", "ann-pw-1"))[0]
        assert status == 404, path
    # Two session cookies, one forged: never a mix of the two.
    status, _, body = send(w.port, "GET", "/api/v1/me", headers={
        "Cookie": "dbs_session=%s; dbs_session=%s" % (forged["random"],
                                                       admin)})
    assert status == 401 or json.loads(body)["username"] == "admin", body


# ----------------------------------------- token reuse after logout/revoke

def _closed(stream):
    try:
        while True:
            stream.recv(deadline(5))
    except Closed as c:
        return c.code
    except websocket.WebSocketTimeoutException:
        return None


def test_token_reuse_after_logout_revoke_and_password(attack):
    w = attack
    for end in ("logout", "revoke by admin", "revoke by self",
                "password change", "user deleted"):
        user = "reuse" + secrets.token_hex(3)
        st, doc = w.json("POST", "/api/v1/users", cookie=login(
            w, "acme", "ann", "ann-pw-1"), body={
            "client": "acme", "username": user, "password": "reuse-pw-1",
            "role": "administrator"})
        assert st == 201, doc
        tok = login(w, "acme", user, "reuse-pw-1")
        s = Stream(w, tok)
        assert s.recv()["type"] == "hello"
        ann = login(w, "acme", "ann", "ann-pw-1")
        base = "/api/v1/users/acme/" + user
        if end == "logout":
            st = w.json("POST", "/api/v1/logout", body={}, cookie=tok)[0]
        elif end == "revoke by admin":
            st = w.json("POST", base + "/revoke", body={}, cookie=ann)[0]
        elif end == "revoke by self":
            st = w.json("POST", base + "/revoke", body={}, cookie=tok)[0]
        elif end == "password change":
            st = w.json("POST", base + "/password", cookie=ann,
                        body={"password": "reuse-pw-2"})[0]
        else:
            st = w.json("DELETE", base, body={}, cookie=ann)[0]
        assert st == 200, end
        assert _closed(s) == 4401, end
        for method, path, body in (
                ("GET", "/api/v1/me", None),
                ("GET", "/api/v1/config/acme", None),
                ("GET", "/api/v1/queue?client=acme", None),
                ("POST", "/api/v1/logout", {}),
                ("POST", "/api/v1/users", {"client": "acme",
                                           "username": "x" + user,
                                           "password": "long-enough-1"})):
            st = w.json(method, path, body=body, cookie=tok)[0]
            assert st == 401, (end, path, st)
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Stream(w, tok)
        assert e.value.status_code == 401, end
        # Ann, who did it, is untouched.
        assert me(w, ann)[0] == 200, end


# ---------------------------------------------------------- list tenancy

def test_lists_show_only_the_own_client(attack):
    """Lists without a client parameter (where the original showed every
    tenant's objects): a client's users see only their client's items,
    root sees both."""
    w = attack
    targets(w)  # exports of both clients and a hot copy
    root = login(w, "root", "admin", "root-pw-1")
    st, doc = w.json("POST", "/api/v1/export", cookie=root,
                     body={"mode": "async"})  # all clients
    assert st == 202, doc
    lists = {"/api/v1/queue?limit=500": "items",
             "/api/v1/logs?limit=500": "items",
             "/api/v1/passengers": "items",
             "/api/v1/about": "workers",
             "/api/v1/users": "items",
             "/api/v1/exports": "items",
             "/api/v1/config": "items"}
    seen = {}
    for cl, user, pw in (("acme", "ann", "ann-pw-1"),
                         ("globex", "gina", "gina-pw-1"),
                         ("acme", "alice", "alice-pw-1"),
                         ("root", "admin", "root-pw-1")):
        tok = login(w, cl, user, pw)
        for path, key in lists.items():
            st, doc = w.json("GET", path, cookie=tok)
            if user == "alice" and path in ("/api/v1/users",
                                            "/api/v1/exports",
                                            "/api/v1/config"):
                assert st == 403, (user, path, st)
                continue
            assert st == 200, (user, path, doc)
            clients = {i.get("client") for i in doc[key]}
            seen[user, path] = clients
            if cl != "root":
                assert clients == {cl}, (user, path, clients)
    for path in lists:
        assert {"acme", "globex"} <= seen["admin", path], path


# ------------------------------------------------------------- traversal

def test_traversal_covers_every_parameter():
    """test_auth_matrix.test_traversal_in_every_parameter sends traversal
    strings in each Route's `params`: every path placeholder and query
    parameter of every route must be listed there."""
    missing = []
    for r in ROUTES:
        path, _, query = r.path.partition("?")
        names = set(re.findall(r"{(\w+)}", path))
        names |= {kv.partition("=")[0] for kv in query.split("&") if kv}
        # {uniq} is not a parameter of the server; {hot} is covered by
        # {export}'s route (same route, another object).
        names -= {"uniq", "hot"}
        if not names <= set(r.params):
            missing.append((r.method, r.path, names - set(r.params)))
    assert not missing, missing


# --------------------------------------------- config nodes, bad saves

def test_root_nodes_saved_by_non_root_admin(attack):
    w = attack
    rb = targets(w)["acme"].rbackup  # saves each node once: a backup each
    root = login(w, "root", "admin", "root-pw-1")
    ann = login(w, "acme", "ann", "ann-pw-1")
    alice = login(w, "acme", "alice", "alice-pw-1")
    before = snapshot(w, root)
    for node in ("__clients", "__databus", "extra%2Fmapping.json"):
        doc = w.json("GET", "/api/v1/config/" + node, cookie=root)[1]
        content = doc["content"]
        if node == "__clients":
            evil = {"clients": [{"name": "acme"}, {"name": "globex"},
                                {"name": "evil"}]}
        elif node == "__databus":
            evil = json.loads(content)
            evil["web"] = {"enabled": True, "listen": "0.0.0.0:1"}
        else:
            evil = {"a": 2}
        body = {"content": json.dumps(evil), "version": doc["version"]}
        for tok, want in ((ann, 404), (alice, 403)):
            for method, path, b in (
                    ("PUT", "/api/v1/config/" + node, body),
                    ("POST", "/api/v1/config/%s/validate" % node, body),
                    ("GET", "/api/v1/config/" + node, None),
                    ("GET", "/api/v1/config/%s/backups" % node, None)):
                st, err = w.json(method, path, body=b, cookie=tok)
                assert st == want, (node, method, path, st, err)
        # Gina, the other client's administrator, too.
        gina = login(w, "globex", "gina", "gina-pw-1")
        st = w.json("PUT", "/api/v1/config/" + node, body=body,
                    cookie=gina)[0]
        assert st == 404, node
    # A backup of __databus cannot be restored by them either.
    for tok, want in ((ann, 404), (alice, 403)):
        st = w.json("POST", "/api/v1/config/__databus/backups/%d/restore"
                    % rb, body={}, cookie=tok)[0]
        assert st == want
    # The node list does not name them for ann.
    nodes = [n["node"] for n in w.json("GET", "/api/v1/config",
                                       cookie=ann)[1]["items"]]
    assert nodes == ["acme"], nodes
    assert_same(before, snapshot(w, root))
    assert not (Path(w.root) / "clients" / "evil.json").exists()


def test_invalid_config_save(attack):
    w = attack
    ann = login(w, "acme", "ann", "ann-pw-1")
    root = login(w, "root", "admin", "root-pw-1")
    before = snapshot(w, root)
    defs = [d["name"] for d in w.json("GET", "/api/v1/passengers",
                                      cookie=root)[1]["items"]]
    doc = w.json("GET", "/api/v1/config/acme", cookie=ann)[1]
    good = json.loads(doc["content"])
    cases = []
    bad = json.loads(doc["content"])
    bad["passengers"][0]["sync_frequency"] = "often"
    cases.append((json.dumps(bad), "$.passengers[0].sync_frequency"))
    bad = json.loads(doc["content"])
    bad["passengers"][0]["pullers"][0]["type"] = "no-such-driver"
    cases.append((json.dumps(bad), "$.passengers[0].pullers[0]"))
    bad = json.loads(doc["content"])
    bad["passengers"].append(dict(good["passengers"][0]))  # same name
    cases.append((json.dumps(bad), "$.passengers[2]"))
    cases.append(('{"passengers": [', "line 1"))
    cases.append(("[]", "acme.json"))
    for content, where in cases:
        for method, path, body in (
                ("PUT", "/api/v1/config/acme",
                 {"content": content, "version": doc["version"]}),
                ("POST", "/api/v1/config/acme/validate",
                 {"content": content})):
            st, err = w.json(method, path, body=body, cookie=ann)
            assert st == 400, (where, method, err)
            msg = err["error"]["message"]
            assert err["error"]["code"] == "invalid_config", err
            assert "acme.json" in msg and where in msg, (where, msg)
    assert_same(before, snapshot(w, root))
    assert [d["name"] for d in w.json("GET", "/api/v1/passengers",
                                      cookie=root)[1]["items"]] == defs
    assert w.json("GET", "/api/v1/config/acme",
                  cookie=ann)[1]["version"] == doc["version"]


# ------------------------------------------------------------------ CSRF

def _mutations():
    return [r for r in ROUTES if r.method != "GET" and not r.no_origin]


def test_csrf_every_mutation_without_or_with_foreign_origin(attack):
    """Each mutation, as root, without Origin or with a foreign one: 403
    and nothing changed (files, queue, logs, users, exports, backups,
    pause, sessions)."""
    w = attack
    tg = targets(w)["acme"]
    root = login(w, "root", "admin", "root-pw-1")
    vic = login(w, "acme", "vic", "victim-pw-1")
    before = snapshot(w, root)
    n = 0
    for route in _mutations():
        path, body = fill(route, tg, secrets.token_hex(4))
        for origin in BAD_ORIGINS:
            st, hdrs, data = send(
                w.port, route.method, path, cookie=root,
                body=json.dumps(body).encode() if body is not None else b"",
                headers={"Origin": origin,
                         "Content-Type": "application/json"})
            assert st == 403, (route.method, path, origin, st, data)
            assert json.loads(data)["error"]["code"] == "forbidden" or \
                "origin" in data.decode().lower(), data
            n += 1
    assert n >= 4 * 25
    after = snapshot(w, root)
    assert_same(before, after)
    assert me(w, root)[0] == 200 and me(w, vic)[0] == 200
    assert w.bus.alive()


def test_no_state_change_over_get(attack):
    """The original changed state over GET links: here every mutation's
    path asked with GET or HEAD (as root, with the right Origin) answers
    405 with `Allow`, and nothing changed."""
    w = attack
    tg = targets(w)["acme"]
    root = login(w, "root", "admin", "root-pw-1")
    before = snapshot(w, root)
    def shape(r):  # the path with any placeholder as {}
        return re.sub(r"{\w+}", "{}", r.path.partition("?")[0])
    readable = {shape(r) for r in ROUTES if r.method == "GET"}
    n = 0
    for route in ROUTES:
        if route.method == "GET" or shape(route) in readable:
            continue
        path, _ = fill(route, tg, secrets.token_hex(4))
        for method in ("GET", "HEAD"):
            st, hdrs, data = send(w.port, method, path, cookie=root,
                                  headers={"Origin": w.origin})
            assert st == 405, (method, path, st, data)
            assert route.method in hdrs["allow"][0], (path, hdrs)
            n += 1
    assert n >= 2 * 20, n
    assert_same(before, snapshot(w, root))
    assert w.bus.alive()


def test_content_types_refused(attack):
    """Each mutation, as root with the right Origin, in a content type a
    form or a simple cross-site request can send: 415, nothing changed."""
    w = attack
    tg = targets(w)["acme"]
    root = login(w, "root", "admin", "root-pw-1")
    before = snapshot(w, root)
    for route in _mutations():
        path, body = fill(route, tg, secrets.token_hex(4))
        payload = json.dumps(body).encode() if body is not None else b""
        for ctype in BAD_TYPES:
            data = payload
            if ctype and ctype.startswith("application/x-www"):
                data = urllib.parse.urlencode(body or {"a": "b"}).encode()
            st, hdrs, answer = send(w.port, route.method, path, cookie=root,
                                    body=data,
                                    headers={"Origin": w.origin,
                                             "Content-Type": ctype})
            assert st == 415, (route.method, path, ctype, st, answer)
    assert_same(before, snapshot(w, root))
    # Login too: a form cannot log in (nor count as a failed attempt).
    st = send(w.port, "POST", "/api/v1/login", body=b"client=root&"
              b"username=admin&password=root-pw-1", headers={
                  "Origin": w.origin,
                  "Content-Type": "application/x-www-form-urlencoded"})[0]
    assert st == 415


def test_foreign_origin_websocket(attack):
    w = attack
    tok = login(w, "acme", "alice", "alice-pw-1")
    for origin in ("http://evil.example", "null", "http://localhost:%d"
                   % w.port, "https://" + w.host, w.origin + ".evil"):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Stream(w, tok, origin=origin)
        assert e.value.status_code == 403, origin
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Stream(w, tok, suppress_origin=True)
    assert e.value.status_code == 403
    # The right Origin works.
    s = Stream(w, tok)
    assert s.recv()["type"] == "hello"
    s.close()


# ----------------------------------------------------- script in content

def _text_safe(hdrs):
    ctype = hdrs["content-type"][0].lower()
    assert "html" not in ctype, ctype
    assert hdrs["x-content-type-options"] == ["nosniff"]
    return ctype


SCRIPT = b"</script><script>alert(1)</script><img src=x onerror=alert(2)>"


def deliver(w, cl, body, delivery, event):
    """A correctly signed webhook delivery; returns its passenger id."""
    sig = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    st, hdrs, answer = send(w.port, "POST", "/hooks/%s/hook" % cl,
                            body=body, headers={
                                "Content-Type": "text/html",
                                "X-Hub-Signature-256": "sha256=" + sig,
                                "X-GitHub-Delivery": delivery,
                                "X-GitHub-Event": event})
    assert st == 202, (st, answer)
    return json.loads(answer)["id"]


def test_script_in_attachment_and_log(attack):
    w = attack
    alice = login(w, "acme", "alice", "alice-pw-1")
    hooked = deliver(w, "acme", SCRIPT, "</script><script>alert(3)",
                     "<script>alert(4)</script>")
    q = w.json("GET", "/api/v1/queue?client=acme&limit=500",
               cookie=alice)[1]["items"]
    scripty = [p for p in q if p["attachments"][0]["name"] in
               ("page.html", "fake.png", "draw.svg") or p["id"] == hooked]
    assert len(scripty) == 4
    for p in scripty:
        name = p["attachments"][0]["name"]
        for dl in ("", "?download=1"):
            st, hdrs, body = send(
                w.port, "GET", "/api/v1/queue/acme/%d/attachments/%s%s"
                % (p["id"], urllib.parse.quote(name), dl), cookie=alice)
            assert st == 200, (name, st)
            ctype = _text_safe(hdrs)
            csp = hdrs["content-security-policy"][0]
            assert "sandbox" in csp and "default-src 'none'" in csp, csp
            if name == "page.html" and not dl:
                assert ctype == "text/plain; charset=utf-8"
                assert b"<script>" in body  # as text, unchanged
            else:
                assert ctype.startswith(("text/plain",
                                         "application/octet-stream")), ctype
                if ctype.startswith("application/octet-stream"):
                    assert hdrs["content-disposition"][0].startswith(
                        "attachment")
    # The queue, its detail and the logs: JSON, with the script a JSON
    # string; "</" never appears raw in a JSON answer.
    page = next(p for p in scripty if p["attachments"][0]["name"] ==
                "page.html")
    logs = w.json("GET", "/api/v1/logs?client=acme&limit=500",
                  cookie=alice)[1]["items"]
    for path in ("/api/v1/queue?client=acme&limit=500",
                 "/api/v1/queue/acme/%d" % page["id"],
                 "/api/v1/queue/acme/%d" % hooked,
                 "/api/v1/queue?client=acme&q=script",
                 "/api/v1/logs?client=acme&limit=500",
                 "/api/v1/logs/acme/%d" % logs[0]["id"],
                 "/api/v1/peek/acme/files"):
        st, hdrs, body = send(w.port, "GET", path, cookie=alice)
        assert st in (200, 409), (path, st, body)
        assert _text_safe(hdrs).startswith("application/json"), path
        json.loads(body)
        assert b"<script" not in body.lower() and b"</" not in body, \
            (path, body[:300])
    # Parsed, the JSON gives the text back unchanged.
    st, doc = w.json("GET", "/api/v1/queue/acme/%d" % hooked, cookie=alice)
    assert st == 200
    p = doc["passenger"]
    assert p["external_id"] == "</script><script>alert(3)", p
    assert "<script>alert(4)</script>" in json.dumps(p["metadata"]), p


# --------------------------------------------------------- brute force

def _fail(w, cl, user, pw="wrong-password"):
    st, hdrs, body = send(w.port, "POST", "/api/v1/login", body=json.dumps(
        {"client": cl, "username": user, "password": pw}).encode(),
        headers={"Origin": w.origin, "Content-Type": "application/json"})
    return st, hdrs


def test_login_brute_force_throttled(attack):
    w = attack
    # Per account: 5 failures within 5 minutes, then 429 (Retry-After),
    # even with the right password; other accounts still log in.
    for i in range(5):
        assert _fail(w, "acme", "alice")[0] == 401, i
    st, hdrs = _fail(w, "acme", "alice")
    assert st == 429 and int(hdrs["retry-after"][0]) > 0, (st, hdrs)
    st, hdrs = _fail(w, "acme", "alice", "alice-pw-1")
    assert st == 429 and "set-cookie" not in hdrs, (st, hdrs)
    assert login(w, "acme", "ann", "ann-pw-1")
    # Per address: 20 failures in all (5 above), spread over accounts
    # that do not exist, then every login from this address is 429, the
    # right password of an account never tried too.
    for i in range(15):
        assert _fail(w, "acme", "nobody%d" % i)[0] == 401, i
    st, hdrs = _fail(w, "acme", "somebody-else")
    assert st == 429 and int(hdrs["retry-after"][0]) > 0
    st, hdrs = _fail(w, "globex", "gina", "gina-pw-1")
    assert st == 429 and "set-cookie" not in hdrs


# ---------------------------------------------------- no secret in clear

def test_no_plaintext_password_or_token_anywhere(attack, tmp):
    w = attack
    secrets_seen = ["alice-pw-1", "alice-new-pw-2", "root-pw-1",
                    "vic-new-pw-3", HOOK_SECRET]
    tokens = [login(w, "acme", "alice", "alice-pw-1"),
              login(w, "root", "admin", "root-pw-1")]
    root = tokens[1]
    # alice changes her own password; root changes vic's.
    st, doc = w.json("POST", "/api/v1/users/acme/alice/password",
                     cookie=tokens[0], body={
                         "current_password": "alice-pw-1",
                         "password": "alice-new-pw-2"})
    assert st == 200, doc
    tokens.append(login(w, "acme", "alice", "alice-new-pw-2"))
    st, doc = w.json("POST", "/api/v1/users/acme/vic/password",
                     cookie=root, body={"password": "vic-new-pw-3"})
    assert st == 200, doc
    tokens.append(login(w, "acme", "vic", "vic-new-pw-3"))
    # A config save (a backup of the file with passwords in it), an
    # export of every client and a hot copy.
    doc = w.json("GET", "/api/v1/config/acme", cookie=root)[1]
    assert "alice-pw-1" not in doc["content"]
    st, saved = w.json("PUT", "/api/v1/config/acme", cookie=root, body={
        "content": doc["content"], "version": doc["version"]})
    assert st == 200, saved
    st, hdrs, archive = send(w.port, "POST", "/api/v1/export", cookie=root,
                             body=b'{"mode": "sync"}', headers={
                                 "Origin": w.origin,
                                 "Content-Type": "application/json"})
    assert st == 200, archive[:200]
    from test_auth_matrix import make_export
    hot = make_export(w, root, {"mode": "hot_copy"})
    st, hdrs, copy = send(w.port, "GET", "/api/v1/exports/%s/download"
                          % hot, cookie=root)
    assert st == 200 and len(copy) > 0
    st, hdrs, backups = send(w.port, "GET", "/api/v1/config/acme/backups/%d"
                             % w.json("GET", "/api/v1/config/acme/backups",
                                      cookie=root)[1]["items"][0]["id"],
                             cookie=root)
    assert st == 200
    for name, blob in (("export", archive), ("hot copy", copy),
                       ("backup", backups)):
        for s in secrets_seen + tokens:
            assert s.encode() not in blob, (name, s)
    # Every file under the test's directory but the configuration the
    # operator wrote (which holds the configured passwords by design):
    # the store, its copies, exports, logs of databusd and the workers.
    seen = 0
    config = set(files_of(tmp))
    for p in Path(tmp).rglob("*"):
        if not p.is_file() or p in config or p.is_symlink():
            continue
        try:
            blob = p.read_bytes()
        except OSError:
            continue
        seen += 1
        for s in secrets_seen + tokens:
            assert s.encode() not in blob, (str(p), s)
            assert base64.b64encode(s.encode()) not in blob, (str(p), s)
    assert seen > 3
    # databus-web's own output.
    w.stop()
    w.stop = lambda: None
    err = w.proc.stderr.read() if w.proc.stderr else b""
    for s in secrets_seen + tokens:
        assert s.encode() not in err, s
    # The configured file was not rewritten with a new password in clear.
    acme = (Path(tmp) / "clients" / "acme.json").read_text()
    assert "alice-new-pw-2" not in acme and "vic-new-pw-3" not in acme


# ------------------------------------------------------- cookie flags

def test_session_cookie_flags(attack):
    w = attack
    st, hdrs, body = send(w.port, "POST", "/api/v1/login", body=json.dumps(
        {"client": "acme", "username": "alice",
         "password": "alice-pw-1"}).encode(),
        headers={"Origin": w.origin, "Content-Type": "application/json"})
    assert st == 200, body
    (cookie,) = hdrs["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    name, _, token = parts[0].partition("=")
    assert name == "dbs_session" and re.fullmatch(r"[A-Za-z0-9_-]{43}",
                                                  token), cookie
    attrs = {p.split("=")[0].lower(): p for p in parts[1:]}
    assert "httponly" in attrs and attrs["samesite"] == "SameSite=Strict" \
        and attrs["path"] == "Path=/", cookie
    assert "domain" not in attrs, cookie
    assert token.encode() not in body
    # Logout clears it with the same flags.
    st, hdrs, body = send(w.port, "POST", "/api/v1/logout", cookie=token,
                          body=b"{}", headers={
                              "Origin": w.origin,
                              "Content-Type": "application/json"})
    assert st == 200
    (cookie,) = hdrs["set-cookie"]
    low = cookie.lower()
    assert low.startswith("dbs_session=;") or "dbs_session=" + ";" in low
    assert "max-age=0" in low or "expires=thu, 01 jan 1970" in low, cookie
    assert "httponly" in low and "samesite=strict" in low and "path=/" in low


# ------------------------------------------------------ /metrics, /info

def _non_loopback_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


def test_metrics_loopback_only(attack):
    """/metrics answers loopback peers only; from another address it does
    not exist (404). /api/v1/info tells anyone the alias and version."""
    w = attack
    addr = _non_loopback_address()
    if addr is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    port = free_port()
    proc = subprocess.Popen([str(WEB), "--data", w.bus.data_dir, "--listen",
                             "0.0.0.0:%d" % port],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        def get(host, path):
            with socket.create_connection((host, port),
                                          timeout=deadline(10)) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: "
                           "close\r\n\r\n" % (path, host, port)).encode())
                data = b""
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    data += c
            return int(data.split(b" ", 2)[1]), data

        def up():
            try:
                return get("127.0.0.1", "/healthz")[0] == 200
            except OSError:
                return False
        wait_for(up, 15, "databus-web on 0.0.0.0")
        assert get("127.0.0.1", "/metrics")[0] == 200
        st, data = get(addr, "/metrics")
        assert st == 404 and b"# TYPE" not in data, data[:300]
        st, data = get(addr, "/api/v1/info")
        assert st == 200
        doc = json.loads(data.partition(b"\r\n\r\n")[2].split(b"\r\n")[1]
                         if b"chunked" in data.lower() else
                         data.partition(b"\r\n\r\n")[2])
        assert set(doc) == {"system_alias", "version"}
        assert get(addr, "/api/v1/about")[0] == 401
    finally:
        proc.terminate()
        proc.wait(10)
    err = proc.stderr.read().decode("utf-8", "replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert proc.returncode == 0, (proc.returncode, err)
