"""databus-web's JSON API: security headers, login and sessions, Origin and
content-type checks, throttling, and tenant isolation of the queue.

databusd runs with its own web disabled; each test starts build/databus-web
on a free port against the daemon's data dir and waits for /healthz.
"""

import http.client
import json
import subprocess
import time

import pytest

from conftest import (BUILD, bench_puller, client, deadline, definition,
                      free_port, wait_for)

WEB = BUILD / "databus-web"


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class Web:
    def __init__(self, data_dir):
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.origin = "http://" + self.host
        self.proc = subprocess.Popen(
            [str(WEB), "--data", data_dir, "--listen", self.host],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        wait_for(self._healthy, 15, "databus-web /healthz")

    def _healthy(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def request(self, method, path, body=None, cookie=None, origin=True,
                ctype="application/json", headers=None):
        h = {}
        if origin is True:
            h["Origin"] = self.origin
        elif origin:
            h["Origin"] = origin
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if ctype:
                h["Content-Type"] = ctype
        if cookie:
            h["Cookie"] = "dbs_session=" + cookie
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=deadline(20))
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            cookies = r.msg.get_all("Set-Cookie") or []
        finally:
            c.close()
        check_headers(method, path, r.status, hdrs, data)
        return r.status, hdrs, data, cookies

    def json(self, method, path, **kw):
        status, _, data, _ = self.request(method, path, **kw)
        return status, json.loads(data)

    def login(self, cl, user, pw):
        status, hdrs, data, cookies = self.request(
            "POST", "/api/v1/login",
            body={"client": cl, "username": user, "password": pw})
        token = None
        for c in cookies:
            if c.startswith("dbs_session=") and not c.startswith(
                    "dbs_session=;"):
                token = c.split(";")[0][len("dbs_session="):]
        return status, json.loads(data), token, cookies

    def stop(self):
        """Stop it; it must still be running (no crash on the way) and
        have reported no sanitizer error."""
        crashed = self.proc.poll()
        if crashed is None:
            self.proc.terminate()
            self.proc.wait(10)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        assert crashed is None, "databus-web exited %r: %s" % (crashed, err)
        assert "Sanitizer" not in err and "runtime error" not in err, err


def check_headers(method, path, status, hdrs, data):
    """Every response carries the security headers; API answers are JSON,
    errors in the documented shape, and no password hash leaks."""
    for k, v in SECURITY_HEADERS.items():
        assert hdrs.get(k) == v, (method, path, status, hdrs)
    assert b"$argon2" not in data, (method, path, data)
    if path.startswith("/api/"):
        assert hdrs.get("content-type", "").startswith("application/json")
        doc = json.loads(data)
        if status >= 400:
            assert set(doc) == {"error"}, doc
            assert doc["error"]["code"] and doc["error"]["message"], doc


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
        "globex": c([{"username": "bob", "password": "bob-pw-1"}], "g"),
        "free": dict(c([], "f"), open_access=True),
        "root": {"users": [{"username": "admin", "password": "root-pw-1"}]},
    }


@pytest.fixture
def web(bus):
    b = bus(_clients())
    for cl in ("acme", "globex"):
        b.wait_counts(cl, "orders", pending=0, done=3, timeout=30)
    w = Web(b.data_dir)
    w.bus = b
    yield w
    w.stop()


def test_probes_and_headers(web):
    status, hdrs, data, _ = web.request("GET", "/healthz")
    assert (status, data) == (200, b"ok")
    assert hdrs["content-type"].startswith("text/plain")
    # Ready once databusd answers on its control socket; on a loaded
    # machine it may say 503 for a moment (that is what it is for).
    wait_for(lambda: web.request("GET", "/readyz")[0] == 200, 10,
             "/readyz 200")
    assert web.json("GET", "/api/v1/nothing")[0] == 404
    assert web.json("GET", "/api/v1/login")[0] == 405
    assert web.json("DELETE", "/api/v1/me")[0] == 405


def test_public_info_is_only_the_alias(web):
    """The login page shows the system alias before anyone logs in; the
    public answer carries nothing else about the instance."""
    status, doc = web.json("GET", "/api/v1/info")
    assert status == 200, doc
    assert set(doc) == {"system_alias", "version"}, doc
    assert doc["system_alias"] == web.bus.status()["system"]["system_alias"]
    # Cached: a burst of anonymous requests all answer.
    for _ in range(50):
        assert web.json("GET", "/api/v1/info")[0] == 200
    assert web.json("POST", "/api/v1/info", body={})[0] == 405


def test_login_me_logout(web):
    status, doc, token, cookies = web.login("acme", "alice", "alice-pw-1")
    assert status == 200, doc
    assert doc == {"client": "acme", "username": "alice",
                   "role": "operator"}
    assert token and len(token) == 43
    flags = [f.strip() for f in cookies[0].split(";")[1:]]
    assert set(flags) == {"HttpOnly", "SameSite=Strict", "Path=/"}, cookies
    assert web.json("GET", "/api/v1/me", cookie=token) == (200, doc)
    # Without, with a forged, or with a mangled cookie: 401.
    assert web.json("GET", "/api/v1/me")[0] == 401
    assert web.json("GET", "/api/v1/me", cookie="A" * 43)[0] == 401
    assert web.json("GET", "/api/v1/me", cookie=token[:-1] + "x")[0] == 401
    assert web.json("GET", "/api/v1/me", cookie=token + "A")[0] == 401
    # The store keeps the hash, never the token.
    status, _, _, cookies = web.request("POST", "/api/v1/logout", body={},
                                        cookie=token)
    assert status == 200
    assert any("Max-Age=0" in c for c in cookies), cookies
    assert web.json("GET", "/api/v1/me", cookie=token)[0] == 401
    assert web.json("POST", "/api/v1/logout", body={},
                    cookie=token)[0] == 401


def test_bad_logins_look_alike(web):
    answers = set()
    for cl, user, pw in [("acme", "alice", "wrong"),
                         ("acme", "nobody", "alice-pw-1"),
                         ("nosuch", "alice", "alice-pw-1"),
                         ("root", "alice", "x"),
                         ("../etc", "alice", "x")]:
        status, doc, token, cookies = web.login(cl, user, pw)
        assert status == 401 and token is None and not cookies, doc
        answers.add(json.dumps(doc, sort_keys=True))
    assert len(answers) == 1, answers
    # Malformed bodies.
    for body in [b"{", b"[]", {"client": "acme"},
                 {"client": "acme", "username": "alice", "password": 1}]:
        assert web.json("POST", "/api/v1/login", body=body)[0] == 400


def test_mutations_need_origin_and_json(web):
    good = {"client": "acme", "username": "alice", "password": "alice-pw-1"}
    assert web.json("POST", "/api/v1/login", body=good,
                    origin=None)[0] == 403
    assert web.json("POST", "/api/v1/login", body=good,
                    origin="http://evil.example")[0] == 403
    assert web.json("POST", "/api/v1/login", body=good,
                    origin="https://" + web.host)[0] == 403
    assert web.json("POST", "/api/v1/login", body=json.dumps(good),
                    ctype="text/plain")[0] == 415
    assert web.json("POST", "/api/v1/login", body=json.dumps(good),
                    ctype=None)[0] == 415
    big = dict(good, password="x" * 20000)
    assert web.json("POST", "/api/v1/login", body=big)[0] == 413
    _, _, token, _ = web.login("acme", "alice", "alice-pw-1")
    assert web.json("POST", "/api/v1/logout", body={}, cookie=token,
                    origin=None)[0] == 403
    assert web.json("GET", "/api/v1/me", cookie=token)[0] == 200


def test_throttling(web):
    for _ in range(5):
        assert web.login("globex", "bob", "wrong")[0] == 401
    status, doc, token, _ = web.login("globex", "bob", "bob-pw-1")
    assert status == 429 and token is None, doc
    # Another account from the same address is not blocked yet.
    assert web.login("acme", "alice", "alice-pw-1")[0] == 200


def test_open_client_and_root(web):
    status, doc, token, _ = web.login("free", "anyone", "anything")
    assert status == 200 and "warning" in doc, doc
    assert doc["role"] == "operator"
    assert web.json("GET", "/api/v1/me", cookie=token)[1]["client"] == "free"
    status, doc, _, _ = web.login("root", "admin", "root-pw-1")
    assert status == 200 and doc["role"] == "root", doc


def test_queue_and_tenants(web):
    _, _, alice, _ = web.login("acme", "alice", "alice-pw-1")
    _, _, bob, _ = web.login("globex", "bob", "bob-pw-1")
    _, _, root, _ = web.login("root", "admin", "root-pw-1")
    assert web.json("GET", "/api/v1/queue")[0] == 401

    status, doc = web.json("GET", "/api/v1/queue", cookie=alice)
    assert status == 200, doc
    assert len(doc["items"]) == 3 and doc["next_cursor"] == 0
    assert {p["client"] for p in doc["items"]} == {"acme"}
    # Paging.
    status, page = web.json("GET", "/api/v1/queue?limit=2", cookie=alice)
    assert len(page["items"]) == 2 and page["next_cursor"]
    status, rest = web.json("GET", "/api/v1/queue?limit=2&cursor=%d"
                            % page["next_cursor"], cookie=alice)
    ids = [p["id"] for p in page["items"] + rest["items"]]
    assert sorted(ids) == sorted(p["id"] for p in doc["items"])
    # Filters.
    assert web.json("GET", "/api/v1/queue?state=done&passenger=orders"
                    "&client=acme", cookie=alice)[1]["items"]
    assert web.json("GET", "/api/v1/queue?state=dead",
                    cookie=alice)[1]["items"] == []
    for bad in ["state=nope", "limit=0", "limit=501", "cursor=x",
                "client=../x", "passenger=a/b", "client=%zz"]:
        assert web.json("GET", "/api/v1/queue?" + bad,
                        cookie=alice)[0] == 400, bad
    # Another tenant: 404.
    assert web.json("GET", "/api/v1/queue?client=globex",
                    cookie=alice)[0] == 404
    theirs = web.json("GET", "/api/v1/queue", cookie=bob)[1]["items"]
    assert {p["client"] for p in theirs} == {"globex"}
    mine = doc["items"][0]
    status, one = web.json("GET", "/api/v1/queue/acme/%d" % mine["id"],
                           cookie=alice)
    assert status == 200, one
    assert one["passenger"]["id"] == mine["id"]
    assert isinstance(one["logs"], list) and one["logs"]
    gid = theirs[0]["id"]
    assert web.json("GET", "/api/v1/queue/globex/%d" % gid,
                    cookie=alice)[0] == 404
    assert web.json("GET", "/api/v1/queue/acme/%d" % gid,
                    cookie=alice)[0] == 404
    assert web.json("GET", "/api/v1/queue/acme/999999",
                    cookie=alice)[0] == 404
    for bad in ["acme/x1", "..%2f..%2fetc/1", "acme/1/x", "a.b/1"]:
        assert web.json("GET", "/api/v1/queue/" + bad,
                        cookie=alice)[0] == 404, bad
    # Root sees every client.
    allq = web.json("GET", "/api/v1/queue?limit=500", cookie=root)[1]
    assert {p["client"] for p in allq["items"]} >= {"acme", "globex"}
    assert web.json("GET", "/api/v1/queue/globex/%d" % gid,
                    cookie=root)[0] == 200


def test_exits_with_parent(bus, tmp):
    b = bus(_clients(), workers=False)
    parent = subprocess.Popen(
        ["/bin/sh", "-c", 'exec "$0" --data "$1" --listen "$2" '
         '--parent $$ & wait', str(WEB), b.data_dir,
         "127.0.0.1:%d" % free_port()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    # The shell forks databus-web then waits; find it and kill the shell.
    child = wait_for(lambda: _child_of(parent.pid), 10, "databus-web")
    parent.kill()
    parent.wait(10)
    wait_for(lambda: not _alive(child), 10, "databus-web to exit")


def _child_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
