"""File modes do not follow the umask where they protect data.

- Exports: a hot copy (exports/<id>.mdb) and every .meta are 0600, like
  the store, as are async exports (.json).
- The demo's data dir (`databusd --demo --data DIR`, DIR new) is 0700,
  as docs/configuration.md says of every data dir.
- The dir pusher writes its files with its "mode" setting, default 0640
  (the owner writes, its group reads); "mode": "0600" gives 0600; a mode
  that is not octal permissions is refused at load naming the setting.

Every test runs under umask 000, so a mode left to the umask shows.
"""
import os
import stat

import pytest

from conftest import (bench_puller, client, definition, free_port,
                      run_databusd, wait_for, write_config)
from test_web_api import Web
from test_web_export import wait_export


@pytest.fixture(autouse=True)
def umask0():
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_exports_are_the_owners_alone(bus):
    d = definition("orders", [bench_puller(count=3, prefix="a")],
                   [{"name": "n", "type": "null"}])
    b = bus({"acme": client(d),
             "root": {"users": [{"username": "admin",
                                 "password": "admin-pw-1"}]}})
    b.wait_counts("acme", "orders", pending=0, done=3, timeout=30)
    w = Web(b.data_dir)
    try:
        status, doc, token, _ = w.login("root", "admin", "admin-pw-1")
        assert status == 200 and token, doc
        w.tokens = {"admin": token}
        ids = []
        for mode in ("hot_copy", "async"):
            status, x = w.json("POST", "/api/v1/export",
                               body={"mode": mode}, cookie=token)
            assert status == 202, x
            assert wait_export(w, "admin", x["id"])["state"] == "done"
            ids.append(x["id"])
        exports = os.path.join(b.data_dir, "exports")
        files = sorted(os.listdir(exports))
        assert files == sorted([ids[0] + ".mdb", ids[0] + ".meta",
                                ids[1] + ".json", ids[1] + ".meta"]), files
        modes = {f: oct(_mode(os.path.join(exports, f))) for f in files}
        assert set(modes.values()) == {oct(0o600)}, modes
        assert _mode(exports) == 0o700
    finally:
        w.stop()


def test_demo_data_dir_is_0700(tmp, daemons):
    var = tmp / "var"
    b = daemons(["--demo", "--data", var, "--listen",
                 "127.0.0.1:%d" % free_port()])
    assert os.path.realpath(b.data_dir) == os.path.realpath(var)
    for d in (var, var / "files", var / "files" / "demo",
              var / "files" / "demo" / "outbox",
              var / "files" / "demo" / "invoices", var / "demo-config"):
        assert _mode(d) == 0o700, (d, oct(_mode(d)))


def _dir_definition(name, out, **pusher):
    p = {"name": "out", "type": "dir", "path": str(out)}
    p.update(pusher)
    return definition(name, [bench_puller(count=2, prefix=name[0])], [p])


def test_dir_pusher_mode(tmp, bus):
    default, private = tmp / "default", tmp / "private"
    default.mkdir()
    private.mkdir()
    b = bus({"acme": client(_dir_definition("plain", default),
                            _dir_definition("secret", private,
                                            mode="0600"))})
    b.wait_counts("acme", "plain", pending=0, done=2, dead=0, timeout=30)
    b.wait_counts("acme", "secret", pending=0, done=2, dead=0, timeout=30)
    for out, want in ((default, 0o640), (private, 0o600)):
        files = wait_for(lambda: os.listdir(out), 10, "files in %s" % out)
        modes = {f: oct(_mode(out / f)) for f in files}
        assert set(modes.values()) == {oct(want)}, modes


@pytest.mark.parametrize("mode", ["640x", "1777", "0o640", "7", "", "09"])
def test_dir_pusher_bad_mode_refused(tmp, mode):
    out = tmp / "out"
    out.mkdir()
    cfg = write_config(tmp, {"acme": client(_dir_definition("plain", out,
                                                            mode=mode))})
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stdout, r.stderr)
    assert "acme.json" in r.stderr and "mode" in r.stderr, r.stderr
    assert "octal" in r.stderr and "databusd: ready" not in r.stdout
