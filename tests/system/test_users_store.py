"""Users: the store is the source of truth after the first import, and a
client without users is closed unless its file says "open_access".

- A user removed (databusctl user rm), whose password changed (user
  passwd) or whose role changed (user role) stays so at a reload by
  SIGHUP, at a reload by a config save from the web, and at a restart:
  the clear-text password still in the client file never logs in again.
- Removing a client's last user closes the client: logins are refused
  (401), and `user rm` says so on stderr while still removing the user.
  With "open_access": true in the client file, any login to a client
  without users is accepted as operator with a warning, and databusd's
  log says the client is open. Never for root.

databusd runs with its own web disabled; each test starts
build/databus-web against its data dir (the Web helper of
test_web_api.py).
"""
import json
import signal

from conftest import bench_puller, client, definition, wait_for
from test_web_api import Web
from test_web_config import get, put


def _definition(prefix):
    return definition("orders", [bench_puller(count=1, prefix=prefix)],
                      [{"name": "n", "type": "null"}])


def _clients(open_access=None):
    acme = client(_definition("a"), users=[
        {"username": "ann", "password": "ann-pw-1",
         "role": "administrator"},
        {"username": "carol", "password": "carol-pw-1"},
        {"username": "dave", "password": "dave-pw-1"},
        {"username": "erin", "password": "erin-pw-1"}])
    free = client(_definition("f"))
    if open_access is not None:
        free["open_access"] = acme["open_access"] = open_access
    return {"acme": acme, "free": free,
            "root": {"users": [{"username": "admin",
                                "password": "root-pw-1"}]}}


def _reloads(b):
    return b.stderr().count("SIGHUP: configuration reloaded")


def _check_store_version(w):
    """The store's version of acme's users, whatever the file says."""
    assert w.login("acme", "carol", "carol-pw-1")[0] == 401
    assert w.login("acme", "dave", "dave-pw-1")[0] == 401
    status, doc, _, _ = w.login("acme", "dave", "dave-pw-2")
    assert status == 200, doc
    status, doc, _, _ = w.login("acme", "erin", "erin-pw-1")
    assert status == 200 and doc["role"] == "administrator", doc
    users = {u["username"]: u["role"]
             for u in w.bus.ctl("user", "ls", "acme")["items"]}
    assert users == {"ann": "administrator", "dave": "operator",
                     "erin": "administrator"}, users


def test_removed_and_changed_users_stay_so(tmp, bus, daemons):
    b = bus(_clients())
    w = Web(b.data_dir)
    w.bus = b
    try:
        assert w.login("acme", "carol", "carol-pw-1")[0] == 200
        b.ctl("user", "rm", "acme", "carol", json_out=False)
        b.ctl("user", "passwd", "acme", "dave", input="dave-pw-2\n",
              json_out=False)
        b.ctl("user", "role", "acme", "erin", "administrator",
              json_out=False)
        _check_store_version(w)

        # A reload by SIGHUP.
        n = _reloads(b)
        b.signal(signal.SIGHUP)
        wait_for(lambda: _reloads(b) > n, 20, "the SIGHUP reload")
        assert "user acme/carol imported" not in b.stderr().split(
            "SIGHUP")[-1]
        _check_store_version(w)

        # A reload by a config save (an administrator's own file).
        status, doc, token, _ = w.login("acme", "ann", "ann-pw-1")
        assert status == 200, doc
        w.tokens = {"ann": token}
        status, doc = get(w, "ann", "acme")
        assert status == 200, doc
        content = json.loads(doc["content"])
        content["log_life_span"] = 2
        status, saved = put(w, "ann", "acme", json.dumps(content),
                            doc["version"])
        assert status == 200, saved
        _check_store_version(w)
    finally:
        w.stop()

    # A restart.
    assert b.stop() == 0
    b2 = daemons(["--config", tmp / "databus.json"])
    w = Web(b2.data_dir)
    w.bus = b2
    try:
        _check_store_version(w)
        assert "imported" not in b2.stderr()
    finally:
        w.stop()


def test_last_user_removed_closes_the_client(tmp, bus):
    b = bus(_clients())
    w = Web(b.data_dir)
    w.bus = b
    try:
        # A client without users and without open_access: closed.
        status, doc, token, _ = w.login("free", "anyone", "anything")
        assert status == 401 and token is None, doc
        # Removing acme's users one by one: the last one warns.
        for user in ("carol", "dave", "erin"):
            r = b.ctl_raw("user", "rm", "acme", user)
            assert r.returncode == 0, r.stderr
            assert "warning" not in r.stderr, r.stderr
        r = b.ctl_raw("user", "rm", "acme", "ann")
        assert r.returncode == 0, r.stderr
        assert "warning: client acme has no users left" in r.stderr, \
            r.stderr
        assert b.ctl("user", "ls", "acme")["items"] == []
        for user, pw in (("ann", "ann-pw-1"), ("anyone", "anything")):
            status, doc, token, _ = w.login("acme", user, pw)
            assert status == 401 and token is None, doc
        assert "open_access" not in b.stderr()
        # The last root user too.
        r = b.ctl_raw("user", "rm", "root", "admin")
        assert r.returncode == 0, r.stderr
        assert "nobody can log in as root" in r.stderr, r.stderr
        assert w.login("root", "admin", "root-pw-1")[0] == 401
    finally:
        w.stop()


def test_open_access_opens_a_client_without_users(tmp, bus):
    b = bus(_clients(open_access=True))
    w = Web(b.data_dir)
    try:
        assert 'client free has "open_access": true' in b.stderr()
        status, doc, token, _ = w.login("free", "anyone", "anything")
        assert status == 200 and token, doc
        assert doc["role"] == "operator" and "warning" in doc, doc
        # Not for a client with users, though its file says so too.
        assert w.login("acme", "anyone", "anything")[0] == 401
    finally:
        w.stop()
