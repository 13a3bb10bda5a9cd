"""The authorisation matrix of databus-web: every /api/v1 route × role ×
tenant × session state, and traversal strings in every path and query
parameter. The claim under test: **no unexpected 2xx**, and each refusal
has the documented status (401 without a valid session, 404 for another
tenant's object, 403 for a role too low).

Adding a route: append a `Route` to ROUTES. `path` (and `body`, a dict or
a function of the target `t`) may use the placeholders of `Target`:
{client} {id} {att} {step} {log} {definition} {victim} {uniq} {backup}
{rbackup} {export} {dexport} {hot} {imp} {impd} {impx}. `who` is the least role allowed
("public": anyone, any session state; "session": any logged-in user,
"admin": administrator of the client or root, "root": root only,
"nobody": no 2xx for anyone); `hidden` root-only objects answer 404 to
non-root administrators (they do not exist for them), `role_first` the
role is checked before the tenant (an operator gets 403 even for another
client's object), `headers` are extra request headers (a 101 answer
counts as a 2xx), `check` a function of the answer body for allowed
cases, `busy_ok` allows 503 (a full worker pool) where the route is
allowed, `no_origin` marks the one mutation without an Origin check
(webhooks);
`tenant` says the route names a client (in the path or the body) and
another tenant's must answer 404. `params` lists the path placeholders and
query parameters to fill with traversal strings; `free_text` the query
parameters that are free text (a traversal string there is a harmless
search and may answer 200). `destructive` routes (logout, shutdown) are
not run where they would be allowed; they are covered by their own tests.

Roles: anonymous; operator (acme/alice); administrator (acme/ann); another
client's administrator (globex/gina); root (root/admin). Tenants: "own" is
the user's client (acme for root), "other" another one (globex). Session
states: valid; logged out (that token after /logout); revoked (a second
user of the same role and client, revoked with databusctl); forged (a
random token, and malformed cookies).
"""

import json
import secrets
import socket
import subprocess
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Union

import pytest

from conftest import CTL, deadline, definition, wait_for
from test_web_manage import FILES, ManageWeb, clients, pusher_step

ROLES = ["anonymous", "operator", "administrator", "other_admin", "root"]
RANK = {"anonymous": -1, "operator": 0, "administrator": 1,
        "other_admin": 1, "root": 2}
LOGIN = {  # role: (client, user, password, second user for "revoked")
    "operator": ("acme", "alice", "alice-pw-1", "alice2"),
    "administrator": ("acme", "ann", "ann-pw-1", "ann2"),
    "other_admin": ("globex", "gina", "gina-pw-1", "gina2"),
    "root": ("root", "admin", "root-pw-1", "admin2"),
}
HOOK_SECRET = "hook-secret-0123456789"
STATES = ["valid", "logged_out", "revoked", "forged"]
TRAVERSAL = ["../", "..", "..%2f", "%2e%2e%2f", "%2e%2e", "%252e%252e%252f",
             "..\\", "....//", "%00", "a%00b", "/etc/passwd",
             "%2fetc%2fpasswd", "\x00", "~root", "%c0%ae%c0%ae%2f"]


@dataclass
class Target:
    client: str
    id: int
    att: str
    step: str
    log: int
    definition: str
    victim: str = "vic"
    uniq: str = ""
    backup: int = 0       # a backup of the client's config node
    rbackup: int = 0      # a backup of __databus
    export: str = ""      # an async export of the client
    dexport: str = ""     # another one, for DELETE
    imp: str = ""         # root's upload to import, previewed
    impd: str = ""        # one still uploading
    impx: str = ""        # one for DELETE
    hot: str = ""         # root's hot copy
    nodes: dict = None    # node: (content, version) as read by root


@dataclass
class Route:
    method: str
    path: str
    who: str
    tenant: bool = False
    body: Union[None, dict, Callable] = None
    params: tuple = ()
    free_text: tuple = ()
    destructive: bool = False
    hidden: bool = False
    role_first: bool = False
    headers: dict = None
    check: Callable = None
    busy_ok: bool = False
    no_origin: bool = False
    note: str = ""
    # Called as ready(w, target, cookie) before a request the auth layer
    # should let through, to wait for what the route needs.
    ready: Callable = None


def info_only(body):
    doc = json.loads(body)
    assert set(doc) == {"system_alias", "version"}, doc


def prometheus(body):
    assert b"# TYPE " in body and b"<" not in body, body[:200]


def save(node):
    """A PUT/validate body: the node's content as root read it."""
    return lambda t: {"content": t.nodes[node][0],
                      "version": t.nodes[node][1]}


WS = {"Upgrade": "websocket", "Connection": "Upgrade",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13"}
BAD_SIG = {"X-Hub-Signature-256": "sha256=" + "0" * 64,
           "X-GitHub-Delivery": "matrix-forged"}
ROOT_NODES = ("__databus", "__clients", "extra%2Fmapping.json")


ROUTES = [
    # databus-web foundation
    Route("POST", "/api/v1/login", "nobody",
          body=lambda t: {"client": t.client, "username": "alice",
                          "password": "wrong-password"},
          note="a wrong password never logs in"),
    Route("POST", "/api/v1/logout", "session", body={}, destructive=True),
    Route("GET", "/api/v1/me", "session"),
    Route("GET", "/api/v1/queue?client={client}&passenger={definition}"
          "&state=dead&q=&cursor=0&limit=5", "session", tenant=True,
          params=("client", "passenger", "state", "cursor", "limit", "q"),
          free_text=("q",)),
    Route("GET", "/api/v1/queue/{client}/{id}", "session", tenant=True,
          params=("client", "id")),
    Route("GET", "/api/v1/passengers", "session"),
    Route("POST", "/api/v1/passengers/{client}/{definition}/expedite",
          "session", tenant=True, body={},
          params=("client", "definition")),
    Route("GET", "/api/v1/logs?client={client}&cursor=0&limit=5", "session",
          tenant=True, params=("client", "cursor", "limit")),
    Route("GET", "/api/v1/logs/{client}/{log}", "session", tenant=True,
          params=("client", "log")),
    Route("GET", "/api/v1/users?client={client}", "admin", tenant=True,
          params=("client",)),
    Route("GET", "/api/v1/about", "session"),
    # queue management
    Route("POST", "/api/v1/queue/{client}/{id}/steps", "admin", tenant=True,
          body=lambda t: {"step": t.step, "complete": True},
          params=("client", "id")),
    Route("GET", "/api/v1/queue/{client}/{id}/attachments/{att}?download=1",
          "session", tenant=True, params=("client", "id", "att", "download"),
          free_text=("download",)),
    Route("GET", "/api/v1/queue/{client}/{id}/attachment?name={att}",
          "session", tenant=True, params=("client", "id", "att", "name")),
    Route("POST", "/api/v1/queue/purge", "admin", tenant=True,
          body=lambda t: {"client": t.client, "older_than_days": 36500}),
    Route("POST", "/api/v1/logs/purge", "admin", tenant=True,
          body=lambda t: {"client": t.client, "older_than_days": 36500}),
    Route("POST", "/api/v1/users", "admin", tenant=True,
          body=lambda t: {"client": t.client, "username": "u" + t.uniq,
                          "password": "long-enough-1", "role": "operator"}),
    Route("POST", "/api/v1/users/{client}/{victim}/password", "admin",
          tenant=True, body={"password": "victim-pw-2"},
          params=("client", "victim")),
    Route("POST", "/api/v1/users/{client}/{victim}/role", "admin",
          tenant=True, body={"role": "operator"},
          params=("client", "victim")),
    Route("POST", "/api/v1/users/{client}/{victim}/revoke", "admin",
          tenant=True, body={}, params=("client", "victim")),
    Route("DELETE", "/api/v1/users/{client}/{victim}", "admin", tenant=True,
          body={}, params=("client", "victim")),
    Route("GET", "/api/v1/peek/{client}/{definition}", "session",
          tenant=True, params=("client", "definition")),
    Route("GET", "/api/v1/history/{client}/{definition}?range=24h",
          "session", tenant=True, params=("client", "definition", "range")),
    Route("GET", "/api/v1/history/system?range=30d", "root",
          params=("range",)),
    Route("GET", "/api/v1/history?client={client}&range=24h", "session",
          tenant=True, params=("client", "range")),
    Route("POST", "/api/v1/passengers/{client}/{definition}/dry-run",
          "admin", tenant=True,
          body={"samples": [{"name": "a.txt", "text": "matrix"}]},
          params=("client", "definition")),
    Route("POST", "/api/v1/system/pause", "root", body={}),
    Route("POST", "/api/v1/system/resume", "root", body={}),
    Route("POST", "/api/v1/system/shutdown", "root", body={},
          destructive=True),
    # public and infrastructure routes
    Route("GET", "/healthz", "public"),
    Route("GET", "/readyz", "public"),
    Route("GET", "/api/v1/info", "public", check=info_only,
          note="only the alias and the version, to anyone"),
    Route("GET", "/metrics", "public", check=prometheus,
          note="loopback peers only (test_auth_attacks checks another)"),
    # events: the websocket upgrade
    Route("GET", "/api/v1/events?since=0", "session", headers=WS,
          params=("since",)),
    # webhooks: no session; a bad signature is refused whoever sends it
    Route("POST", "/hooks/{client}/hook", "nobody", body={"x": 1},
          headers=BAD_SIG, params=("client",), no_origin=True,
          note="HMAC only; nothing stored (checked after the matrix)"),
    # customizing: the client's node (its administrators, root)
    Route("GET", "/api/v1/config", "admin", role_first=True),
    Route("GET", "/api/v1/config/{client}", "admin", tenant=True,
          role_first=True, params=("client",)),
    Route("PUT", "/api/v1/config/{client}", "admin", tenant=True,
          role_first=True, body=lambda t: {
              "content": t.nodes[t.client][0],
              "version": t.nodes[t.client][1]},
          params=("client",)),
    Route("POST", "/api/v1/config/{client}/validate", "admin", tenant=True,
          role_first=True, body=lambda t: {
              "content": t.nodes[t.client][0]}, params=("client",)),
    Route("GET", "/api/v1/config/{client}/backups", "admin", tenant=True,
          role_first=True, params=("client",)),
    Route("GET", "/api/v1/config/{client}/backups/{backup}", "admin",
          tenant=True, role_first=True, params=("client", "backup")),
    Route("POST", "/api/v1/config/{client}/backups/{backup}/restore",
          "admin", tenant=True, role_first=True, body={},
          params=("client", "backup")),
] + [r for node in ROOT_NODES for r in (
    # customizing: the root nodes (non-root administrators: 404)
    Route("GET", "/api/v1/config/" + node, "root", hidden=True,
          role_first=True),
    Route("PUT", "/api/v1/config/" + node, "root", hidden=True,
          role_first=True, body=save(node)),
    Route("POST", "/api/v1/config/%s/validate" % node, "root", hidden=True,
          role_first=True, body=lambda t, node=node: {
              "content": t.nodes[node][0]}),
    Route("GET", "/api/v1/config/%s/backups" % node, "root", hidden=True,
          role_first=True))] + [
    Route("GET", "/api/v1/config/__databus/backups/{rbackup}", "root",
          hidden=True, role_first=True, params=("rbackup",)),
    Route("POST", "/api/v1/config/__databus/backups/{rbackup}/restore",
          "root", hidden=True, role_first=True, body={},
          params=("rbackup",)),
    # export
    Route("POST", "/api/v1/export", "admin", tenant=True, role_first=True,
          body=lambda t: {"client": t.client, "mode": "sync"},
          busy_ok=True),
    Route("POST", "/api/v1/export", "admin", tenant=True, role_first=True,
          body=lambda t: {"client": t.client, "mode": "async"},
          busy_ok=True),
    Route("POST", "/api/v1/export", "root", role_first=True,
          body={"mode": "hot_copy"}, busy_ok=True),
    Route("GET", "/api/v1/exports", "admin", role_first=True),
    Route("GET", "/api/v1/exports/{export}", "admin", tenant=True,
          role_first=True, params=("export",)),
    Route("GET", "/api/v1/exports/{export}/download", "admin", tenant=True,
          role_first=True, params=("export",)),
    Route("GET", "/api/v1/exports/{hot}", "root", hidden=True,
          role_first=True),
    Route("GET", "/api/v1/exports/{hot}/download", "root", hidden=True,
          role_first=True),
    Route("DELETE", "/api/v1/exports/{dexport}", "admin", tenant=True,
          role_first=True, body={}, params=("dexport",),
          note="allowed once per client; later ones find nothing (404)"),
    # import (root; previewed before applied, so preview comes first)
    Route("POST", "/api/v1/imports", "root", role_first=True,
          body={"size": 10}, busy_ok=True),
    Route("GET", "/api/v1/imports/{imp}", "root", role_first=True,
          params=("imp",)),
    Route("POST", "/api/v1/imports/{impd}/data?offset=0", "root",
          role_first=True, body={},
          headers={"Content-Type": "application/octet-stream"},
          params=("impd", "offset"),
          note="the first piece; later ones are at the wrong offset"),
    Route("POST", "/api/v1/imports/{imp}/preview", "root", role_first=True,
          body={}, params=("imp",)),
    Route("POST", "/api/v1/imports/{imp}/apply", "root", role_first=True,
          body={}, params=("imp",), ready=lambda w, t, c: import_ready(
              w, t.imp, c),
          note="once the preview route's new preview has ended"),
    Route("DELETE", "/api/v1/imports/{impx}", "root", role_first=True,
          body={}, params=("impx",)),
]


# ------------------------------------------------------------ raw HTTP

def raw_http(port, method, path, cookie=None, body=None, origin=None,
             headers=None):
    """One request over a plain socket (http.client refuses some of the
    paths this test must send); returns (status, body bytes). A 101
    (websocket upgrade) returns at the end of its head."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port]
    if not headers or "Connection" not in headers:
        lines.append("Connection: close")
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if origin:
        lines.append("Origin: " + origin)
    if cookie is not None:
        lines.append("Cookie: " + cookie)
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        if "Content-Type" not in (headers or {}):
            lines.append("Content-Type: application/json")
    lines.append("Content-Length: %d" % len(data))
    req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=deadline(20)) as s:
        s.sendall(req)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
            got = b"".join(chunks)
            if got.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in got:
                break
    resp = b"".join(chunks)
    if not resp:
        return 0, b""  # closed without an answer: a refusal too
    head, _, rest = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        rest = dechunk(rest)
    return status, rest


def dechunk(data):
    out = []
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out.append(data[:n])
        data = data[n + 2:]
    return b"".join(out)


# ---------------------------------------------------------------- setup

def ctl(bus, *args):
    r = subprocess.run([str(CTL), "--data", bus.data_dir] + list(args),
                       capture_output=True, text=True, input="",
                       timeout=deadline(60))
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def add_user(bus, cl, user, pw, role):
    r = subprocess.run([str(CTL), "--data", bus.data_dir, "user", "add"]
                       + ([] if cl == "root" else ["--role", role])
                       + ["--password-stdin", cl, user],
                       capture_output=True, text=True, input=pw + "\n",
                       timeout=deadline(60))
    assert r.returncode == 0, (r.stdout, r.stderr)


@pytest.fixture
def world(bus, tmp):
    inbox = tmp / "in"
    inbox.mkdir()
    for name, data in FILES.items():
        (inbox / name).write_bytes(data)
    extra = tmp / "extra" / "mapping.json"
    extra.parent.mkdir(parents=True)
    extra.write_text('{"a": 1}\n')
    cls = clients(inbox)
    for cl in ("acme", "globex"):
        cls[cl]["passengers"].append(definition(
            "hook", [{"name": "hook", "type": "webhook",
                      "secret": HOOK_SECRET}],
            [{"name": "n", "type": "null"}]))
    b = bus(cls, external_config_files=["extra/mapping.json"])
    b.wait_counts("acme", "files", pending=0, dead=len(FILES), timeout=30)
    b.wait_counts("globex", "orders", pending=0, done=3, timeout=30)
    for role, (cl, user, pw, second) in LOGIN.items():
        add_user(b, cl, second, pw, "operator" if role == "operator"
                 else "administrator")
    for cl in ("acme", "globex"):
        add_user(b, cl, "vic", "victim-pw-1", "operator")
    w = ManageWeb(b.data_dir)
    w.bus = b
    yield w
    w.stop()


def targets(w):
    """acme and globex objects for the placeholders, read as root."""
    tok = w.relogin("root", "admin", "root-pw-1")
    out = {}
    for cl, definition in (("acme", "files"), ("globex", "orders")):
        items = w.json("GET", "/api/v1/queue?client=%s" % cl,
                       cookie=tok)[1]["items"]
        p = items[0]
        logs = w.json("GET", "/api/v1/logs?client=%s" % cl,
                      cookie=tok)[1]["items"]
        out[cl] = Target(client=cl, id=p["id"],
                         att=urllib.parse.quote(p["attachments"][0]["name"],
                                                safe=""),
                         step=pusher_step(p), log=logs[0]["id"],
                         definition=definition)
    nodes, backup = {}, {}
    for node in ("acme", "globex") + ROOT_NODES:
        nodes[node], backup[node] = config_node(w, tok, node)
    exports = {}
    for cl in ("acme", "globex"):
        exports[cl] = [make_export(w, tok, {"client": cl, "mode": "async"})
                       for _ in range(2)]
    hot = make_export(w, tok, {"mode": "hot_copy"})
    imps = make_imports(w, tok)
    for cl, t in out.items():
        t.imp, t.impd, t.impx = imps
        t.nodes = nodes
        t.backup = backup[cl]
        t.rbackup = backup["__databus"]
        t.export, t.dexport = exports[cl]
        t.hot = hot
    w.json("POST", "/api/v1/logout", body={}, cookie=tok)
    return out


def config_node(w, tok, node):
    """Saves the node as it is (a backup) as root; returns ((content,
    version) after the save, the backup's id)."""
    path = "/api/v1/config/" + node
    status, doc = w.json("GET", path, cookie=tok)
    assert status == 200, (node, doc)
    status, saved = w.json("PUT", path, cookie=tok, body={
        "content": doc["content"], "version": doc["version"]})
    assert status == 200, (node, saved)
    doc = w.json("GET", path, cookie=tok)[1]
    items = w.json("GET", path + "/backups", cookie=tok)[1]["items"]
    return (doc["content"], doc["version"]), items[0]["id"]


def make_export(w, tok, body):
    status, doc = w.json("POST", "/api/v1/export", cookie=tok, body=body)
    assert status == 202, doc
    xid = doc["id"]
    wait_for(lambda: w.json("GET", "/api/v1/exports/" + xid, cookie=tok)[1]
             ["state"] == "done", 60, "export " + xid)
    return xid


EMPTY_ARCHIVE = (b'{"format":"databus-export","version":2,"passengers":[],'
                 b'"logs":[],"users":[]}')


def make_imports(w, tok):
    """Root's uploads: one complete and previewed, one waiting for its
    bytes, one to delete."""
    ids = []
    for size in (len(EMPTY_ARCHIVE), 4, 4):
        status, doc = w.json("POST", "/api/v1/imports", cookie=tok,
                             body={"size": size})
        assert status == 201, doc
        ids.append(doc["id"])
    status, doc = w.json("POST", "/api/v1/imports/%s/data?offset=0"
                         % ids[0], cookie=tok, body=EMPTY_ARCHIVE,
                         ctype="application/octet-stream")
    assert status == 200, doc
    status, doc = w.json("POST", "/api/v1/imports/%s/preview" % ids[0],
                         cookie=tok, body={})
    assert status == 202, doc
    wait_for(lambda: w.json("GET", "/api/v1/imports/" + ids[0], cookie=tok)
             [1]["state"] == "ready", 30, "import preview")
    return ids


def import_ready(w, imp, cookie):
    """Wait until no preview or import of it is running (a preview the
    matrix started just before may still be checking)."""
    tok = cookie.split("=", 1)[1]
    wait_for(lambda: w.json("GET", "/api/v1/imports/" + imp, cookie=tok)[1]
             .get("state") not in ("checking", "importing"), 30,
             "import %s idle" % imp)


def sessions(w):
    """{role: {state: cookie header value or None}}."""
    s = {"anonymous": {"none": None}}
    for role, (cl, user, pw, second) in LOGIN.items():
        valid = w.relogin(cl, user, pw)
        out = w.relogin(cl, user, pw)
        assert w.json("POST", "/api/v1/logout", body={},
                      cookie=out)[0] == 200
        rev = w.relogin(cl, second, pw)
        ctl(w.bus, "user", "revoke", cl, second)
        forged = secrets.token_urlsafe(32)[:43]
        s[role] = {"valid": "dbs_session=" + valid,
                   "logged_out": "dbs_session=" + out,
                   "revoked": "dbs_session=" + rev,
                   "forged": "dbs_session=" + forged}
    return s


FORGED_COOKIES = ["dbs_session=", "dbs_session=x",
                  "dbs_session=" + "A" * 43, "dbs_session=" + "A" * 44,
                  "dbs_session=../../../../etc/passwd",
                  "dbs_session=%2e%2e%2f" + "A" * 34,
                  "other=1; dbs_session=" + "B" * 43, "dbs_session"]


def fill(route, t, uniq):
    t.uniq = uniq
    path = route.path.format(**vars(t))
    body = route.body(t) if callable(route.body) else route.body
    return path, body


def allowed(route, role, state, target_client, user_client):
    if route.who == "public":
        return True
    if route.who == "nobody" or role == "anonymous" or state != "valid":
        return False
    if route.tenant and role != "root" and target_client != user_client:
        return False
    need = {"session": 0, "admin": 1, "root": 2}[route.who]
    return RANK[role] >= need


def expected_refusal(route, role, state, target_client, user_client):
    """The statuses a refusal may have."""
    if route.who == "nobody":
        return (401, 429)  # failed logins are throttled after a few
    if role == "anonymous" or state != "valid":
        return (401,)
    need = {"session": 0, "admin": 1, "root": 2}[route.who]
    if route.role_first and RANK[role] < min(need, 1):
        return (403,)  # an operator, before anything else
    if route.hidden and role != "root":
        return (404,)
    if route.tenant and role != "root" and target_client != user_client:
        return (404,)
    return (403,)


# ---------------------------------------------------------------- tests

def test_auth_matrix(world):
    w = world
    tg = targets(w)
    cookies = sessions(w)
    unexpected, wrong, checked, n = [], [], 0, 0
    passed = {}  # (method, path): statuses where the auth layer let it
    for route in ROUTES:
        for role in ROLES:
            user_client = LOGIN[role][0] if role in LOGIN else None
            own = "acme" if role in ("root", "anonymous") else user_client
            other = "globex" if own == "acme" else "acme"
            for tenant, cl in (("own", own), ("other", other)):
                for state, cookie in cookies[role].items():
                    n += 1
                    ok = allowed(route, role, state, cl, user_client)
                    if ok and route.destructive:
                        continue
                    if ok and route.ready is not None:
                        route.ready(w, tg[cl], cookie)
                    path, body = fill(route, tg[cl], "%d" % n)
                    status, data = raw_http(w.port, route.method, path,
                                            cookie=cookie, body=body,
                                            origin=w.origin,
                                            headers=route.headers)
                    checked += 1
                    case = (route.method, route.path, role, tenant, state,
                            status, data[:200])
                    if ok and route.who == "public":
                        if status != 200:
                            wrong.append(("public", case))
                        elif route.check:
                            route.check(data)
                        continue
                    if ok:
                        # The auth layer let it through.
                        passed.setdefault((route.method, route.path),
                                          set()).add(status)
                        if status == 503 and route.busy_ok:
                            continue
                        if status in (401, 403) or status >= 500:
                            wrong.append(("refused", case))
                        continue
                    if 200 <= status < 300 or status == 101:
                        unexpected.append(case)
                    elif status not in expected_refusal(route, role, state,
                                                        cl, user_client):
                        wrong.append(("status", case))
    assert not unexpected, "unexpected 2xx:\n" + "\n".join(
        map(repr, unexpected))
    assert not wrong, "\n".join(map(repr, wrong))
    assert checked > 1500, checked
    # Each route works where it is allowed: at least one 2xx (or 101).
    never = {r: st for r, st in passed.items()
             if not any(200 <= x < 300 or x == 101 for x in st)}
    assert not never, never
    print("auth matrix: %d routes, %d cases run" % (len(ROUTES), checked))
    # The system is running, not paused by the matrix; no forged webhook
    # delivery was stored.
    ctl(w.bus, "resume")
    assert w.bus.alive()
    root = w.relogin("root", "admin", "root-pw-1")
    for cl in ("acme", "globex"):
        status, doc = w.json("GET", "/api/v1/queue?client=%s&passenger=hook"
                             % cl, cookie=root)
        assert status == 200 and doc["items"] == [], doc


def test_forged_cookies(world):
    """Malformed and forged cookies get 401 on every session route."""
    w = world
    tg = targets(w)["acme"]
    for route in ROUTES:
        if route.who in ("nobody", "public"):
            continue
        path, body = fill(route, tg, secrets.token_hex(4))
        for cookie in FORGED_COOKIES:
            status, data = raw_http(w.port, route.method, path,
                                    cookie=cookie, body=body,
                                    origin=w.origin, headers=route.headers)
            assert status == 401, (route.path, cookie, status, data)


def test_mutations_need_origin(world):
    """Every mutating route refuses a request without Origin (or with
    another one) with 403, even with a root session."""
    w = world
    tg = targets(w)["acme"]
    root = w.relogin("root", "admin", "root-pw-1")
    for route in ROUTES:
        if route.method == "GET" or route.no_origin:
            continue
        path, body = fill(route, tg, secrets.token_hex(4))
        for origin in (None, "http://evil.example", "null",
                       w.origin + ".evil.example"):
            status, data = raw_http(w.port, route.method, path,
                                    cookie="dbs_session=" + root, body=body,
                                    origin=origin, headers=route.headers)
            assert status == 403, (route.path, origin, status, data)
    assert w.json("GET", "/api/v1/me", cookie=root)[0] == 200


def _substitute(route, t, param, bad):
    """The route's path with `bad` in place of path placeholder or query
    parameter `param` (inserted raw, not re-encoded)."""
    path, body = fill(route, t, secrets.token_hex(4))
    if "{%s}" % param in route.path:
        value = str(getattr(t, param))
        template = route.path.replace("{%s}" % param, "\x01")
        path = template.format(**vars(t)).replace("\x01", bad)
        return path, body, value
    base, _, query = path.partition("?")
    parts = []
    for kv in query.split("&"):
        k, _, v = kv.partition("=")
        parts.append("%s=%s" % (k, bad) if k == param else kv)
    return base + "?" + "&".join(parts), body, None


def test_traversal_in_every_parameter(world):
    """Traversal strings in every path placeholder and query parameter, with
    a root session (allowed everything): never a 2xx except for free-text
    parameters (which then find nothing), never a 5xx, and the server keeps
    serving."""
    w = world
    tg = targets(w)["acme"]
    root = "dbs_session=" + w.relogin("root", "admin", "root-pw-1")
    bad_2xx = []
    for route in ROUTES:
        for param in route.params:
            for bad in TRAVERSAL:
                path, body, _ = _substitute(route, tg, param, bad)
                status, data = raw_http(w.port, route.method, path,
                                        cookie=root, body=body,
                                        origin=w.origin,
                                        headers=route.headers)
                case = (route.path, param, bad, status, data[:200])
                assert status < 500, case
                if 200 <= status < 300 or status == 101:
                    if param not in route.free_text:
                        bad_2xx.append(case)
                    elif data.startswith(b"{"):
                        doc = json.loads(data)
                        assert not doc.get("items"), case
    assert not bad_2xx, "\n".join(map(repr, bad_2xx))
    assert raw_http(w.port, "GET", "/api/v1/me", cookie=root)[0] == 200
    ctl(w.bus, "resume")
