"""Lean workers: databus-worker links only its core, and the drivers that
need libcurl, GMime or libpq come in family modules (http, mail, pg)
loaded when a definition uses one of their types (workers/drivers/
module.h). Checked on the running processes' /proc/<pid>/maps: a dir ->
null worker maps none of those libraries (nor OpenSSL), while an http
pusher's worker maps drivers/http.so and libcurl and still delivers.
`databus-worker --check` loads every family for validation, and a module
that cannot be loaded is a configuration error naming its path and
dlerror(), never a crash. (The families' own behaviour is covered by
test_drv_http.py, test_drv_http_poll.py, test_drv_imap.py,
test_drv_smtp.py and test_drv_postgres.py, which run through the
modules.)"""
import json
import os
import subprocess

from conftest import (WORKER, client, deadline, definition, run_databusd,
                      write_config)
from fakehttp import FakeHTTP

# What a lean worker must not map: libcurl and its TLS stack, GMime and
# GLib, libpq, OpenSSL, and the family modules themselves.
HEAVY = ("libcurl", "libgmime", "libglib", "libgio", "libgobject", "libpq",
         "libssl", "libcrypto", "/drivers/")

# One entry of each type that lives in a family module, with no settings:
# the driver itself must answer (a missing setting), which it can only do
# once its module is loaded.
MODULE_TYPES = [("pushers", "http", "http"),
                ("pullers", "http_poll", "http"),
                ("pullers", "imap", "mail"),
                ("pushers", "smtp", "mail"),
                ("pushers", "postgres", "pg")]


def _maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f
                if len(line.split()) >= 6}


def _heavy(maps):
    return sorted(m for m in maps if any(h in m for h in HEAVY))


def _check(defs, env=None, cwd=None):
    """Run databus-worker --check on [(client, definition)] in `cwd` (the
    configuration's folder, as databusd runs it)."""
    req = [{"file": "clients/%s.json" % c, "path": "$.d%d" % i,
            "client": c, "definition": d} for i, (c, d) in enumerate(defs)]
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(WORKER), "--check"], input=json.dumps(req),
                          capture_output=True, text=True, env=e,
                          cwd=cwd, timeout=deadline(20))


def _dir_null(tmp, name):
    (tmp / name).mkdir()
    return definition(name, [{"name": "in", "type": "dir", "path": name}],
                      [{"name": "out", "type": "null"}])


def test_dir_null_worker_maps_no_heavy_library(tmp, bus):
    t = FakeHTTP(lambda req: (200, {}, b"ok"))
    try:
        (tmp / "web").mkdir()
        (tmp / "web" / "a.txt").write_text("hello")
        web = definition("web", [{"name": "in", "type": "dir",
                                  "path": "web"}],
                         [{"name": "up", "type": "http",
                           "url": t.url + "/in"}])
        b = bus({"acme": client(_dir_null(tmp, "idle"), web)})
        idle = _maps(b.worker("acme", "idle")["pid"])
        assert any("databus-worker" in m for m in idle), idle
        assert any("libnng" in m for m in idle), idle
        assert _heavy(idle) == [], _heavy(idle)

        # The http pusher's worker loaded its family, and only that one.
        b.wait_counts("acme", "web", pending=0, done=1, dead=0)
        assert len(t.seen("POST", "/in")) == 1
        web_maps = _maps(b.worker("acme", "web")["pid"])
        assert any(m.endswith("/drivers/http.so") for m in web_maps), \
            _heavy(web_maps)
        assert any("libcurl" in m for m in web_maps), _heavy(web_maps)
        assert not any(h in m for m in web_maps
                       for h in ("/drivers/mail.so", "/drivers/pg.so",
                                 "libgmime", "libpq")), _heavy(web_maps)
    finally:
        t.close()


def test_check_loads_every_family(tmp):
    defs = []
    for i, (section, typ, family) in enumerate(MODULE_TYPES):
        d = definition("m%d" % i, [], [])
        d[section] = [{"name": "x", "type": typ}]
        defs.append(("acme", d))
    r = _check(defs)
    assert r.returncode == 100, (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    for i, (section, typ, family) in enumerate(MODULE_TYPES):
        mine = [ln for ln in lines if ("$.d%d" % i) in ln]
        # The driver's own verdict on its (missing) settings.
        assert mine, (typ, r.stdout)
        for ln in mine:
            assert "driver module" not in ln and "unknown" not in ln, ln


def test_missing_module_is_a_config_error(tmp):
    empty = tmp / "no-modules"
    empty.mkdir()
    env = {"DATABUS_DRIVER_DIR": str(empty)}

    # The core needs no module.
    r = _check([("acme", _dir_null(tmp, "idle"))], env=env, cwd=tmp)
    assert r.returncode == 0, (r.stdout, r.stderr)

    # Each family names its file and dlerror()'s reason.
    defs = []
    for i, (section, typ, family) in enumerate(MODULE_TYPES):
        d = definition("m%d" % i, [], [])
        d[section] = [{"name": "x", "type": typ}]
        defs.append(("acme", d))
    r = _check(defs, env=env)
    assert r.returncode == 100, (r.stdout, r.stderr)
    for i, (section, typ, family) in enumerate(MODULE_TYPES):
        path = "%s/%s.so" % (empty, family)
        assert any(("$.d%d" % i) in ln and path in ln and
                   "did not load" in ln and
                   "No such file or directory" in ln
                   for ln in r.stdout.splitlines()), (typ, r.stdout)

    # A relative folder is refused, not searched for.
    r = _check(defs[:1], env={"DATABUS_DRIVER_DIR": "drivers"})
    assert r.returncode == 100 and "not an absolute path" in r.stdout, \
        r.stdout

    # databusd refuses such a configuration (exit 100, no restart loop),
    # naming the entry and the module.
    (tmp / "web").mkdir()
    d = definition("web", [{"name": "in", "type": "dir", "path": "web"}],
                   [{"name": "up", "type": "http",
                     "url": "http://127.0.0.1:9/in"}])
    cfg = write_config(tmp, {"acme": client(d)})
    r = run_databusd(["--config", cfg], cwd=tmp, env=env)
    assert r.returncode == 100, r.stderr
    assert "clients/acme.json" in r.stderr, r.stderr
    assert "%s/http.so" % empty in r.stderr, r.stderr


def test_broken_module_is_a_config_error(tmp):
    """A file that is not a shared object, and one that is but exports
    no drv_module_http: both refused with the path and the reason."""
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "http.so").write_text("not an ELF file\n")
    # A real shared object of another family under the wrong name.
    (bad / "pg.so").symlink_to(WORKER.parent / "drivers" / "mail.so")
    defs = [("acme", definition("h", [], [{"name": "x", "type": "http"}])),
            ("acme", definition("p", [], [{"name": "x",
                                            "type": "postgres"}]))]
    r = _check(defs, env={"DATABUS_DRIVER_DIR": str(bad)})
    assert r.returncode == 100, (r.stdout, r.stderr)
    out = r.stdout
    assert "%s/http.so did not load" % bad in out, out
    assert "%s/pg.so is not a Databus driver module (no symbol " \
        "drv_module_pg)" % bad in out, out
