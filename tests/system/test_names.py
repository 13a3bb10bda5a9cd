"""One name rule (proto/names.c) in every door: the same lists of good and
bad client, definition and user names get the same answer from config
loading (databusd started on a client file), the control socket
(databusctl) and the HTTP API (databus-web).

Client and definition names: 1 to 64 of A-Z a-z 0-9 _ -. User names: 1 to
64 of A-Z a-z 0-9 _ . @ + -, not only dots (docs/configuration.md).
tests/unit/test_names.c checks the rule itself on a longer table.
"""
import urllib.parse

import pytest

from conftest import (bench_puller, client, definition, procs_mentioning,
                      run_databusd, write_config)
from test_web_api import Web

GOOD_NAMES = ["acme2", "A", "Acme_2-x", "n" * 64]
BAD_NAMES = ["ops+alerts@x.com", "first.last", "a@b", "caf\u00e9", "a b",
             "n" * 65, "", "..", "a/b"]
GOOD_USERS = ["bob", "ops+alerts@x.com", "first.last", "a@b", "a..b",
              "U_2-x", "u" * 64]
BAD_USERS = ["", ".", "..", "a/b", "caf\u00e9", "a b", "a:b", "u" * 65]

PASSWORD = "names-pw-1"


def _def(name):
    return definition(name, [bench_puller(count=1)],
                      [{"name": "n", "type": "null"}])


# ------------------------------------------------------ config loading

@pytest.fixture
def good(bus):
    """databusd on a configuration that uses every good name: a client
    file per good client name, client acme with a definition per good
    definition name and a user per good user name."""
    clients = {n: client(_def("d")) for n in GOOD_NAMES}
    clients["acme"] = client(*[_def(n) for n in GOOD_NAMES],
                             users=[{"username": u, "password": PASSWORD}
                                    for u in GOOD_USERS])
    clients["web"] = client(_def("d"))
    clients["root"] = {"users": [{"username": "admin",
                                  "password": "root-pw-1"}]}
    return bus(clients, workers=False)


def test_config_good(good):
    users = {(u["client"], u["username"])
             for u in good.ctl("user", "ls")["items"]}
    assert {("acme", u) for u in GOOD_USERS} <= users
    defs = set(good.defs())
    assert {("acme", n) for n in GOOD_NAMES} <= defs
    assert {(n, "d") for n in GOOD_NAMES} <= defs


def _refused(tmp, clients, where):
    """databusd refuses the configuration, naming where the bad name is
    (its message says what is wrong with it)."""
    cfg = write_config(tmp, clients)
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stdout, r.stderr)
    assert where in r.stderr, r.stderr
    assert not procs_mentioning(str(tmp))


# A client's name is its file's name: names that cannot be one (empty,
# with '/', or hidden like "..") are never read as clients at all.
@pytest.mark.parametrize("name", [n for n in BAD_NAMES
                                  if n and "/" not in n
                                  and not n.startswith(".")])
def test_config_bad_client(tmp, name):
    _refused(tmp, {name: client(_def("d"))}, "invalid client name")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_config_bad_definition(tmp, name):
    _refused(tmp, {"acme": client(_def(name))}, "$.passengers[0].name")


@pytest.mark.parametrize("name", BAD_USERS)
def test_config_bad_user(tmp, name):
    _refused(tmp, {"acme": client(_def("d"), users=[
        {"username": name, "password": PASSWORD}])}, "$.users[0].username")


# ------------------------------------------------------- control socket

def test_control_socket(good):
    def add(cl, user):
        return good.ctl_raw("user", "add", cl, user, "--password-stdin",
                            input=PASSWORD + "\n")

    for u in GOOD_USERS:
        r = add("web", u)
        assert r.returncode == 0, (u, r.stderr)
        r = good.ctl_raw("user", "revoke", "web", u)
        assert r.returncode == 0, (u, r.stderr)
    for u in BAD_USERS:
        r = add("web", u)
        assert r.returncode != 0, (u, r.stdout)
        if u:
            assert "user name" in r.stderr, (u, r.stderr)
    for n in GOOD_NAMES:
        assert add(n, "ctl-user").returncode == 0, n
        r = good.ctl_raw("expedite", "acme", n)
        assert r.returncode == 0, (n, r.stderr)
    for n in BAD_NAMES:
        assert add(n, "ctl-user").returncode != 0, n
        assert good.ctl_raw("expedite", "acme", n).returncode != 0, n


# ------------------------------------------------------------- HTTP API

def test_http_api(good):
    w = Web(good.data_dir)
    try:
        status, doc, root, _ = w.login("root", "admin", "root-pw-1")
        assert status == 200 and root, doc

        def create(cl, user):
            return w.json("POST", "/api/v1/users", cookie=root,
                          body={"client": cl, "username": user,
                                "password": PASSWORD})[0]

        def seg(s):
            return urllib.parse.quote(s, safe="")

        for u in GOOD_USERS:
            assert create("web", u) == 201, u
            path = "/api/v1/users/web/%s/revoke" % seg(u)
            assert w.json("POST", path, cookie=root, body={})[0] == 200, u
        status, doc, token, _ = w.login("acme", "ops+alerts@x.com",
                                        PASSWORD)
        assert status == 200 and token, doc
        for u in BAD_USERS:
            assert create("web", u) == 400, u
            if u:
                path = "/api/v1/users/web/%s/revoke" % seg(u)
                # "." and ".." are resolved away before routing.
                assert w.json("POST", path, cookie=root,
                              body={})[0] in (400, 404, 405), u
        for n in GOOD_NAMES:
            assert create(n, "web-user") == 201, n
            q = "/api/v1/queue?client=acme&passenger=" + seg(n)
            assert w.json("GET", q, cookie=root)[0] == 200, n
            path = "/api/v1/passengers/acme/%s/expedite" % seg(n)
            assert w.json("POST", path, cookie=root, body={})[0] == 200, n
        for n in BAD_NAMES:
            assert create(n, "web-user") == 400, n
            q = "/api/v1/queue?client=acme&passenger=" + seg(n)
            assert w.json("GET", q, cookie=root)[0] == 400, n
            if n:
                path = "/api/v1/passengers/acme/%s/expedite" % seg(n)
                assert w.json("POST", path, cookie=root,
                              body={})[0] in (400, 404, 405), n
    finally:
        w.stop()
