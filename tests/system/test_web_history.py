"""The charts' history through the real server: GET
/api/v1/history/{client}/{definition} shows what was driven (passengers
done, failed attempts, passengers gone dead, the queue depth, drives),
another client's definition answers 404, a bad range 400 as JSON, the
system's history (store size, commits) is root's, and the history
survives a restart of databusd (supervisor/history.c, its file in the
data dir).
"""

import stat
import time
from pathlib import Path

import pytest

from conftest import bench_puller, client, definition, wait_for
from test_web_api import Web

MIN = 60000


def _clients():
    fail = {"name": "bad", "type": "exec", "command": ["/bin/false"]}
    null = [{"name": "n", "type": "null"}]
    return {
        "acme": client(
            definition("orders", [bench_puller(count=40, prefix="o")], null),
            definition("broken", [bench_puller(count=5, prefix="x")], [fail],
                       retry={"max_attempts": 2, "backoff": "100ms",
                              "max_backoff": "200ms"}),
            users=[{"username": "ann", "password": "ann-pw-1"}]),
        "globex": client(
            definition("orders", [bench_puller(count=3, prefix="g")], null),
            users=[{"username": "bob", "password": "bob-pw-1"}]),
        "root": {"users": [{"username": "admin", "password": "root-pw-1"}]},
    }


def _settled(b):
    b.wait_counts("acme", "orders", pending=0, done=40, timeout=60)
    b.wait_counts("acme", "broken", pending=0, done=0, dead=5, timeout=60)
    b.wait_counts("globex", "orders", pending=0, done=3, timeout=60)


def _history(w, path, cookie, status=200):
    got, doc = w.json("GET", path, cookie=cookie)
    assert got == status, (path, doc)
    return doc


def _check_shape(doc, rng):
    n, step = (1440, MIN) if rng == "24h" else (720, 60 * MIN)
    assert doc["range"] == rng and doc["step_ms"] == step
    now = time.time() * 1000
    last = doc["start_ms"] + (n - 1) * step
    assert last <= now < last + step + 5000, (last, now)
    for name, values in doc["series"].items():
        assert len(values) == n, name


@pytest.fixture
def web(bus):
    b = bus(_clients())
    _settled(b)
    w = Web(b.data_dir)
    w.bus = b
    w.ann = w.login("acme", "ann", "ann-pw-1")[2]
    w.root = w.login("root", "admin", "root-pw-1")[2]
    yield w
    w.stop()


def test_definition_history(web):
    # A drive's figures are recorded when it ends: wait until broken's
    # retry drive (the one that sent them dead) is in.
    def dead_in():
        doc = _history(web, "/api/v1/history/acme/broken", web.ann)
        return sum(doc["series"]["dead"]) == 5
    wait_for(dead_in, 30, "the dead passengers in the history")
    for rng in ("24h", "30d"):
        doc = _history(web, "/api/v1/history/acme/orders?range=" + rng,
                       web.ann)
        _check_shape(doc, rng)
        s = doc["series"]
        assert set(s) == {"done", "failed", "dead", "pending", "drives",
                          "drive_ms_mean", "drive_ms_max"}
        assert (doc["client"], doc["definition"]) == ("acme", "orders")
        assert sum(s["done"]) == 40, rng
        assert sum(s["failed"]) == 0 and sum(s["dead"]) == 0
        assert s["pending"][-1] == 0
        assert sum(s["drives"]) >= 1
        for mean, top in zip(s["drive_ms_mean"], s["drive_ms_max"]):
            assert mean <= top
        bad = _history(web, "/api/v1/history/acme/broken?range=" + rng,
                       web.ann)["series"]
        assert sum(bad["done"]) == 0
        assert sum(bad["failed"]) == 5 and sum(bad["dead"]) == 5, bad
        assert sum(bad["drives"]) >= 2
    # root sees every client's; the others' definitions are not there
    # for ann, and neither is one that does not exist.
    doc = _history(web, "/api/v1/history/globex/orders", web.root)
    assert sum(doc["series"]["done"]) == 3
    for path in ("/api/v1/history/globex/orders",
                 "/api/v1/history/acme/nope",
                 "/api/v1/history/globex/orders?range=30d"):
        doc = _history(web, path, web.ann, 404)
        assert doc["error"]["code"] == "not_found", doc
    for rng in ("7d", "24H", "", "24h%00", "%zz"):
        doc = _history(web, "/api/v1/history/acme/orders?range=" + rng,
                       web.ann, 400)
        assert doc["error"]["code"] == "bad_request", doc
    assert _history(web, "/api/v1/history/acme/orders", None, 401)["error"]


def test_sum_of_a_client(web):
    wait_for(lambda: sum(_history(web, "/api/v1/history/acme/broken",
                                  web.ann)["series"]["dead"]) == 5,
             30, "the dead passengers in the history")
    doc = _history(web, "/api/v1/history", web.ann)
    _check_shape(doc, "24h")
    assert doc["client"] == "acme" and "definition" not in doc
    s = doc["series"]
    assert sum(s["done"]) == 40 and sum(s["dead"]) == 5
    assert sum(s["failed"]) == 5 and s["pending"][-1] == 0
    doc = _history(web, "/api/v1/history?client=acme&range=30d", web.ann)
    assert sum(doc["series"]["done"]) == 40
    assert _history(web, "/api/v1/history?client=globex", web.ann,
                    404)["error"]["code"] == "not_found"
    # root: every client, or the one named
    assert sum(_history(web, "/api/v1/history", web.root)["series"][
        "done"]) == 43
    assert sum(_history(web, "/api/v1/history?client=globex", web.root)[
        "series"]["done"]) == 3


def test_ctl_history(web):
    """databusctl history: the same figures, as text and --json."""
    b = web.bus
    wait_for(lambda: sum(b.ctl("history", "acme", "broken")["24h"][
        "series"]["dead"]) == 5, 30, "the dead passengers in the history")
    doc = b.ctl("history", "acme", "orders")
    assert sum(doc["24h"]["series"]["done"]) == 40
    assert len(doc["30d"]["series"]["done"]) == 720
    assert sum(b.ctl("history", "acme")["24h"]["series"]["done"]) == 40
    assert b.ctl("history")["24h"]["series"]["used_bytes"][-1] > 0
    text = b.ctl_raw("history", "acme", "orders")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "pending now 0", text.stdout
    assert lines[2].split()[:4] == ["last", "hour", "40", "0"], lines
    assert "commits" in b.ctl_raw("history").stdout
    bad = b.ctl_raw("history", "acme", "nope")
    assert bad.returncode == 1 and "no such definition" in bad.stderr


def test_system_history(web):
    doc = _history(web, "/api/v1/history/system", web.ann, 403)
    assert doc["error"]["code"] == "forbidden", doc
    for rng in ("24h", "30d"):
        doc = _history(web, "/api/v1/history/system?range=" + rng,
                       web.root)
        _check_shape(doc, rng)
        s = doc["series"]
        assert set(s) == {"used_bytes", "commits", "commit_us_mean",
                          "commit_us_max"}
        assert s["used_bytes"][-1] > 0
        assert sum(s["commits"]) >= 3
        assert s["commit_us_max"][-1] >= s["commit_us_mean"][-1] > 0
    assert _history(web, "/api/v1/history/system?range=1y", web.root,
                    400)["error"]["code"] == "bad_request"


def test_history_survives_restart(tmp, bus):
    b = bus(_clients())
    _settled(b)
    b.stop()
    f = Path(b.data_dir) / "history"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600  # the owner's alone
    b = bus(_clients())  # the same store: nothing new to seat
    w = Web(b.data_dir)
    try:
        ann = w.login("acme", "ann", "ann-pw-1")[2]

        def driven_again():
            doc = _history(w, "/api/v1/history/acme/orders", ann)
            return sum(doc["series"]["drives"]) >= 2  # before and after
        wait_for(driven_again, 30, "the drive after the restart")
        doc = _history(w, "/api/v1/history/acme/orders", ann)
        assert sum(doc["series"]["done"]) == 40
    finally:
        w.stop()
