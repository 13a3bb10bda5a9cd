"""docs/openapi.yaml against the server.

1. The document is valid OpenAPI 3.1: @apidevtools/swagger-parser (npm,
   installed by ./setup into tests/openapi) validates it and resolves
   every $ref (tests/openapi/check.mjs).
2. It describes every route of the route table (webui/routes.c) and no
   other: the same methods on the same paths, parameters aside.
3. Every described route answers as described on a running instance (the
   world of test_auth_matrix: two clients with passengers, attachments,
   logs, webhooks, configuration nodes, exports): each request of the
   matrix's route list, as each role (and without a session), plus a
   malformed body to every operation that takes one, HEAD to every GET,
   a signed webhook, a logout and finally a shutdown. Every answer's
   status must be one the operation lists, its content type one listed
   for that status, and a JSON body must validate against the schema
   listed for both (ajv, in check.mjs). And every operation is reached.
"""
import hashlib
import hmac
import json
import re
import socket
import subprocess
import urllib.parse

import pytest

from conftest import REPO, deadline
from test_auth_matrix import (HOOK_SECRET, LOGIN, ROUTES, WS, dechunk,
                              targets, world)  # noqa: F401 (fixture)

SPEC = REPO / "docs" / "openapi.yaml"
CHECK = REPO / "tests" / "openapi" / "check.mjs"
METHODS = {"G": ["get"], "GH": ["get"], "P": ["post"], "WEB_PUT": ["put"],
           "WEB_DELETE": ["delete"]}


def node(*args):
    if not (REPO / "tests" / "openapi" / "node_modules" /
            "@apidevtools" / "swagger-parser").is_dir():
        pytest.fail("tests/openapi/node_modules is missing (run ./setup)")
    return subprocess.run(["node", str(CHECK)] + [str(a) for a in args],
                          capture_output=True, text=True,
                          timeout=deadline(60))


@pytest.fixture(scope="module")
def spec():
    r = node(SPEC)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def shape(path):
    """A path with every parameter as {}: /api/v1/queue/{}/{}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def served_routes():
    """(method, path shape) of every route in webui/routes.c."""
    text = (REPO / "webui" / "routes.c").read_text()
    table = text[text.index("routes[] = {"):text.index("};")]
    found = re.findall(r"\{\s*(GH|G|P|WEB_PUT|WEB_DELETE)\s*,\s*"
                       r"\"([^\"]+)\"", table)
    assert len(found) >= 40, found
    return {(m, shape(p)) for k, p in found for m in METHODS[k]}


def described_routes(spec):
    return {(m, shape(p)) for p, ops in spec["paths"].items() for m in ops
            if m in ("get", "put", "post", "delete", "head", "patch")}


def test_spec_is_valid_and_complete(spec):
    """Valid OpenAPI 3.1 (swagger-parser); every served route described,
    nothing described that is not served; every operation says who may
    call it and what its errors look like."""
    served, described = served_routes(), described_routes(spec)
    assert served - described == set(), "served, not described"
    assert described - served == set(), "described, not served"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert "security" in op, (method, path)
            assert op.get("summary"), (method, path)
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    media = resp["content"]["application/json"]
                    assert "error" in media["schema"]["properties"], \
                        (method, path, status)


def test_validator_rejects_a_broken_spec(tmp):
    """The validation above can fail: a dangling $ref is refused."""
    bad = SPEC.read_text().replace(
        "$ref: '#/components/schemas/Passenger'",
        "$ref: '#/components/schemas/NoSuchSchema'", 1)
    assert bad != SPEC.read_text()
    (tmp / "bad.yaml").write_text(bad)
    r = node(tmp / "bad.yaml")
    assert r.returncode != 0 and "NoSuchSchema" in r.stdout, r.stdout


# ------------------------------------------------------- answers as described

def request(port, method, path, cookie=None, body=None, headers=None,
            origin=None, raw_body=None):
    """One request over a plain socket; (status, headers, body). A 101
    returns at the end of its head."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port,
             "Connection: close"]
    h = dict(headers or {})
    if origin:
        h["Origin"] = origin
    if cookie:
        h["Cookie"] = "dbs_session=" + cookie
    data = b""
    if raw_body is not None:
        data = raw_body
        h.setdefault("Content-Type", "application/json")
    elif body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if h.get("Connection"):
        lines.remove("Connection: close")
    lines += ["%s: %s" % kv for kv in h.items()]
    lines.append("Content-Length: %d" % len(data))
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=deadline(30)) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        got = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            got += c
            if got.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in got:
                break
    head, _, rest = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    hdrs = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        rest = dechunk(rest)
    return status, hdrs, rest


def template_of(spec, method, path):
    """The spec's path template for a concrete path (the one with the
    most literal segments), or None."""
    path = urllib.parse.urlsplit(path).path
    best = None
    for tpl, ops in spec["paths"].items():
        if method.lower() not in ops:
            continue
        rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(tpl)) + "$"
        if re.match(rx, path):
            lit = len(re.sub(r"\{[^}]*\}", "", tpl))
            if best is None or lit > best[0]:
                best = (lit, tpl)
    return best and best[1]


class Recorder:
    def __init__(self, spec, port, origin):
        self.spec, self.port, self.origin = spec, port, origin
        self.samples, self.wrong, self.reached = [], [], set()

    def __call__(self, method, path, **kw):
        kw.setdefault("origin", self.origin)
        status, hdrs, body = request(self.port, method, path, **kw)
        self.check(method, path, status, hdrs, body)
        return status, hdrs, body

    def check(self, method, path, status, hdrs, body):
        m = "get" if method == "HEAD" else method.lower()
        tpl = template_of(self.spec, m, path)
        if tpl is None:
            self.wrong.append((method, path, "no operation describes it"))
            return
        self.reached.add((m, tpl))
        resp = self.spec["paths"][tpl][m]["responses"].get(str(status))
        case = (method, path, status, body[:200])
        if resp is None:
            self.wrong.append(case + ("status not described",))
            return
        content = resp.get("content")
        if not content:
            return
        ctype = hdrs.get("content-type", "")
        bare = ctype.split(";")[0].strip()
        media = next((k for k in (ctype, bare, "*/*") if k in content),
                     None)
        if media is None:
            self.wrong.append(case + ("content type %r not described (%s)"
                                      % (ctype, sorted(content)),))
            return
        if bare == "application/json" and method != "HEAD":
            self.samples.append({"method": m, "path": tpl,
                                 "status": status, "content_type": media,
                                 "body": json.loads(body)})


def body_failures(r):
    """check.mjs's failures, one line per operation, status and error."""
    try:
        failures = json.loads(r.stdout)["failures"]
    except (ValueError, KeyError):
        return r.stdout + r.stderr
    lines = set()
    for f in failures:
        for e in f["why"] if isinstance(f["why"], list) else [f["why"]]:
            where = re.sub(r"/\d+", "/N", e.get("instancePath", "")) \
                if isinstance(e, dict) else ""
            lines.add("%s %s %s: %s %s (%s)" % (
                f["method"], f["path"], f["status"], where,
                e.get("message") if isinstance(e, dict) else e,
                f.get("body", "")[:160]))
    return "bodies not as described:\n" + "\n".join(sorted(lines))


def test_answers_as_described(spec, world, tmp):  # noqa: F811
    w = world
    tg = targets(w)
    rec = Recorder(spec, w.port, w.origin)
    tokens = {role: w.relogin(*LOGIN[role][:3]) for role in LOGIN}
    tokens["anonymous"] = None
    spare = w.relogin(*LOGIN["operator"][:3])  # for the logout at the end
    # The matrix's requests, as each role, on the own and the other
    # client's objects (destructive ones where they would be carried
    # out come last).
    for n, route in enumerate(ROUTES):
        if route.destructive:
            continue
        for role, tok in tokens.items():
            for cl in ("acme", "globex"):
                t = tg[cl]
                t.uniq = "%d%s%s" % (n, role[:2], cl[:1])
                path = route.path.format(**vars(t))
                body = route.body(t) if callable(route.body) else route.body
                rec(route.method, path, cookie=tok, body=body,
                    headers=route.headers)
    # A malformed body to every operation that takes one; HEAD to every
    # GET but the websocket (root, the acme objects).
    t = tg["acme"]
    for route in ROUTES:
        path = route.path.format(**vars(t))
        if route.body is not None and not route.destructive:
            rec(route.method, path, cookie=tokens["root"],
                raw_body=b'{"broken": ')
        if route.method == "GET" and not route.headers:
            rec("HEAD", path, cookie=tokens["root"])
    # A signed webhook, then a redelivery of it.
    payload = b'{"action": "opened"}'
    sig = hmac.new(HOOK_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    for _ in range(2):
        st, _, body = rec("POST", "/hooks/acme/hook", raw_body=payload,
                          origin=None, headers={
                              "X-Hub-Signature-256": "sha256=" + sig,
                              "X-GitHub-Delivery": "openapi-1"})
        assert st == 202, body
    # Logout of a session of its own; then root shuts the server down.
    assert rec("POST", "/api/v1/logout", cookie=spare, body={})[0] == 200
    assert rec("POST", "/api/v1/system/shutdown", cookie=tokens["root"],
               body={})[0] == 200
    assert w.bus.wait_exit(60) == 0

    assert not rec.wrong, "answers not as described:\n" + "\n".join(
        map(repr, rec.wrong))
    missing = {(m, p) for p, ops in spec["paths"].items() for m in ops} \
        - rec.reached
    assert not missing, "operations never reached: %r" % sorted(missing)
    samples = tmp / "samples.json"
    samples.write_text(json.dumps(rec.samples))
    r = node(SPEC, samples)
    assert r.returncode == 0, body_failures(r)
    assert len(rec.samples) > 300, len(rec.samples)
