"""Plugins (databus/plugin.h): the example plugin built by build.ninja as
puller and processor in a pipeline; a plugin of the wrong ABI version, a
file that is not a plugin, a missing file, an unknown driver and settings
the plugin refuses are all configuration errors with a clear message."""
import os
import shutil

from conftest import BUILD, client, definition, run_databusd, write_config

PLUGINS = BUILD / "plugins"


def _copy(tmp, name):
    (tmp / "plugins").mkdir(exist_ok=True)
    shutil.copy(PLUGINS / name, tmp / "plugins" / name)
    return "plugins/" + name


def test_example_plugin_pipeline(tmp, bus):
    path = _copy(tmp, "example.so")
    out = tmp / "out"
    out.mkdir()
    d = definition(
        "ticks",
        [{"name": "t", "type": "plugin", "path": path, "per_drive": 4,
          "prefix": "tk"}],
        [{"name": "out", "type": "dir", "path": "out"}],
        processors=[{"name": "up", "type": "plugin", "path": path,
                     "driver": "upper"}])
    b = bus({"acme": client(d)})
    b.wait_counts("acme", "ticks", pending=0, done=4, dead=0)
    items = b.queue("--client", "acme")
    assert sorted(p["external_id"] for p in items) == \
        ["tk-0", "tk-1", "tk-2", "tk-3"]
    for p in items:
        n = p["external_id"].split("-")[1]
        assert (out / ("%s-tick.txt" % p["id"])).read_text() == \
            "TICK " + n
        md = str(b.show("acme", p["id"])["metadata"])
        assert "upper" in md and "example plugin" in md
    # The next drive continues the plugin's counter.
    b.drive("acme", "ticks")
    b.wait_counts("acme", "ticks", pending=0, done=8, dead=0)
    # Peek shows the next ones without taking them.
    peek = b.ctl("peek", "acme", "ticks")
    ids = [i["external_id"] for i in
           (peek["items"] if isinstance(peek, dict) else peek)]
    assert ids == ["tk-8", "tk-9", "tk-10", "tk-11"]


def _refused(tmp, entry, kind="pullers"):
    d = definition("x", [{"name": "t", "type": "plugin",
                          "path": _copy(tmp, "example.so")}],
                   [{"name": "sink", "type": "null"}])
    d[kind] = [entry]
    cfg = write_config(tmp, {"acme": client(d)})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, r.stderr
    assert "clients/acme.json" in r.stderr, r.stderr
    assert "$.passengers[0].%s[0]" % kind in r.stderr, r.stderr
    return r.stderr


def test_wrong_abi_refused(tmp):
    err = _refused(tmp, {"name": "w", "type": "plugin",
                         "path": _copy(tmp, "wrong_abi.so")})
    assert "was built for plugin ABI 42" in err, err
    assert "this databus-worker has ABI 1" in err, err


def test_bad_plugins_refused(tmp):
    (tmp / "plugins").mkdir(exist_ok=True)
    (tmp / "plugins" / "text.so").write_text("not an ELF file\n")
    assert "cannot load" in _refused(
        tmp, {"name": "w", "type": "plugin", "path": "plugins/text.so"})
    assert "is not a file" in _refused(
        tmp, {"name": "w", "type": "plugin", "path": "plugins/none.so"})
    # A real shared object that is not a Databus plugin.
    libz = [p for p in ("/usr/lib/x86_64-linux-gnu/libz.so.1",
                        "/lib/x86_64-linux-gnu/libz.so.1",
                        "/usr/lib/aarch64-linux-gnu/libz.so.1")
            if os.path.exists(p)]
    if libz:
        assert "is not a Databus plugin" in _refused(
            tmp, {"name": "w", "type": "plugin", "path": libz[0]})
    path = _copy(tmp, "example.so")
    assert "has no puller named \"nope\"" in _refused(
        tmp, {"name": "w", "type": "plugin", "path": path,
              "driver": "nope"})
    assert "has no pusher" in _refused(
        tmp, {"name": "w", "type": "plugin", "path": path}, kind="pushers")
    assert "per_drive: expected 0 to 1000" in _refused(
        tmp, {"name": "w", "type": "plugin", "path": path,
              "per_drive": -1})
