"""Reload (databusctl reload, SIGHUP): only the workers whose definition
changed restart; added definitions get a worker, removed ones lose theirs;
a bad config is refused and the old one keeps running."""
import signal

from conftest import (bench_puller, client, definition, pid_alive, wait_for,
                      write_json)


def _def(name, count=10, prefix=None):
    return definition(name, [bench_puller(count=count,
                                          prefix=prefix or name)],
                      [{"name": "sink", "type": "null"}])


def _pids(b):
    return {k: d["worker"]["pid"] for k, d in b.defs().items()}


def _wait_settled(b, keys):
    """Every listed definition has a ready worker with a live pid."""
    def ok():
        ds = b.defs()
        return all(k in ds and ds[k]["worker"]["state"] in ("ready", "busy")
                   and pid_alive(ds[k]["worker"]["pid"]) for k in keys)
    wait_for(ok, 20, "workers of %r ready" % (keys,))
    return _pids(b)


def test_reload_restarts_only_changed(tmp, bus):
    b = bus({"acme": client(_def("one"), _def("two")),
             "beta": client(_def("three"))})
    before = _pids(b)
    assert len(set(before.values())) == 3

    # Change one definition of acme: only acme/two restarts.
    write_json(tmp / "clients" / "acme.json",
               client(_def("one"), _def("two", count=20)))
    b.ctl("reload", json_out=False)
    after = wait_for(lambda: (lambda p: p if p[("acme", "two")] !=
                              before[("acme", "two")] else None)(_pids(b)),
                     20, "acme/two restarted")
    after = _wait_settled(b, list(before))
    assert after[("acme", "one")] == before[("acme", "one")]
    assert after[("beta", "three")] == before[("beta", "three")]
    assert not pid_alive(before[("acme", "two")])
    b.drive("acme", "two")
    b.wait_counts("acme", "two", pending=0, done=20, dead=0)

    # A bad client file is refused with a message naming it; nothing moves.
    (tmp / "clients" / "beta.json").write_text(
        '{"passengers": [{"name": "three", "sync_frequency": "soon", '
        '"pullers": [], "pushers": []}]}')
    r = b.ctl_raw("reload")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    msg = r.stdout + r.stderr
    assert "beta.json" in msg and "$.passengers[0]" in msg, msg
    assert _pids(b) == after
    b.drive("beta", "three")
    b.wait_counts("beta", "three", pending=0, done=10, dead=0)
    # Unknown driver type: refused through the worker's --check.
    write_json(tmp / "clients" / "beta.json", client(definition(
        "three", [{"name": "p", "type": "nosuch"}],
        [{"name": "sink", "type": "null"}])))
    r = b.ctl_raw("reload")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "$.passengers[0].pullers[0].type" in r.stdout + r.stderr
    assert _pids(b) == after
    # A broken databus.json likewise.
    good_top = (tmp / "databus.json").read_text()
    (tmp / "databus.json").write_text("{ not json")
    assert b.ctl_raw("reload").returncode == 1
    (tmp / "databus.json").write_text(good_top)
    assert b.alive()

    # Add and remove definitions.
    write_json(tmp / "clients" / "beta.json",
               client(_def("three"), _def("four")))
    write_json(tmp / "clients" / "acme.json",
               client(_def("two", count=20)))
    b.ctl("reload", json_out=False)
    wait_for(lambda: set(b.defs()) == {("acme", "two"), ("beta", "three"),
                                       ("beta", "four")}, 20,
             "definitions after reload")
    now = _wait_settled(b, [("acme", "two"), ("beta", "three"),
                            ("beta", "four")])
    assert now[("acme", "two")] == after[("acme", "two")]
    assert now[("beta", "three")] == after[("beta", "three")]
    wait_for(lambda: not pid_alive(after[("acme", "one")]), 20,
             "the removed definition's worker to stop")
    b.drive("beta", "four")
    b.wait_counts("beta", "four", pending=0, done=10, dead=0)
    assert b.stop() == 0


def test_sighup_reload(tmp, bus):
    b = bus({"acme": client(_def("one"), _def("two"))})
    before = _pids(b)
    write_json(tmp / "clients" / "acme.json",
               client(_def("one", count=11), _def("two")))
    b.signal(signal.SIGHUP)
    wait_for(lambda: _pids(b)[("acme", "one")] != before[("acme", "one")],
             20, "acme/one restarted after SIGHUP")
    after = _wait_settled(b, list(before))
    assert after[("acme", "two")] == before[("acme", "two")]
    b.drive("acme", "one")
    b.wait_counts("acme", "one", pending=0, done=11, dead=0)
