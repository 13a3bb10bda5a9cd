"""Deduplication outlives the passenger: after queue_life_span purges a
done passenger, its dedup key is kept for store.dedup_horizon (default 7
days), so a webhook redelivered within it is still a duplicate (the
answer names the purged passenger's id) and nothing is seated or pushed
again; past the horizon the same delivery is new.

Short durations: queue_life_span "1s", store.dedup_horizon "3s". The
purge runs at the end of a drive (an expedite here).
"""
import json
import time

from conftest import client, definition, wait_for
from test_drv_webhook import SECRET, deliver
from test_web_api import Web


def _start(bus, horizon="3s"):
    d = definition("gh", [{"name": "hook", "type": "webhook",
                           "secret": SECRET}],
                   [{"name": "n", "type": "null"}], queue_life_span="1s")
    b = bus({"acme": client(d)}, store={"dedup_horizon": horizon})
    return b, Web(b.data_dir)


def _ids(b):
    return [p["id"] for p in b.queue("--client", "acme")]


def _purge(b):
    """Past the life span, a drive purges the done passengers; returns
    when the queue is empty (the monotonic time of the purge)."""
    time.sleep(1.2)

    def purged():
        b.drive("acme", "gh")
        return _ids(b) == []
    wait_for(purged, 20, "the done passenger to be purged", interval=0.3)
    return time.monotonic()


def test_redelivery_after_purge_is_a_duplicate_within_the_horizon(bus):
    b, w = _start(bus)
    try:
        body = json.dumps({"action": "completed"}).encode()
        status, first = deliver(w.port, body, delivery="d-1")
        assert status == 202 and first["duplicate"] is False, first
        b.wait_counts("acme", "gh", pending=0, done=1, dead=0)
        purged_at = _purge(b)

        # Within the horizon: a duplicate of the purged passenger.
        status, doc = deliver(w.port, body, delivery="d-1")
        assert status == 202, doc
        assert doc == {"id": first["id"], "duplicate": True}, doc
        assert _ids(b) == []
        # Another delivery is new meanwhile.
        status, other = deliver(w.port, body, delivery="d-2")
        assert status == 202 and other["duplicate"] is False, other

        # Past the horizon (and a drive that sweeps the expired keys):
        # the same delivery is a new passenger.
        time.sleep(max(0.0, purged_at + 3.5 - time.monotonic()))
        b.drive("acme", "gh")
        status, again = deliver(w.port, body, delivery="d-1")
        assert status == 202, again
        assert again["duplicate"] is False, again
        assert again["id"] not in (first["id"], other["id"]), again
        b.wait_counts("acme", "gh", pending=0, dead=0)
    finally:
        w.stop()


def test_the_default_horizon_outlives_a_restart(tmp, bus, daemons):
    """With the default horizon (7 days) a key purged before a restart
    still makes the redelivery a duplicate after it."""
    d = definition("gh", [{"name": "hook", "type": "webhook",
                           "secret": SECRET}],
                   [{"name": "n", "type": "null"}], queue_life_span="1s")
    b = bus({"acme": client(d)})
    w = Web(b.data_dir)
    body = b'{"n": 1}'
    try:
        status, first = deliver(w.port, body, delivery="r-1")
        assert status == 202 and first["duplicate"] is False, first
        b.wait_counts("acme", "gh", pending=0, done=1, dead=0)
        _purge(b)
    finally:
        w.stop()
    assert b.stop() == 0
    b2 = daemons(["--config", tmp / "databus.json"])
    w = Web(b2.data_dir)
    try:
        status, doc = deliver(w.port, body, delivery="r-1")
        assert status == 202, doc
        assert doc == {"id": first["id"], "duplicate": True}, doc
        assert _ids(b2) == []
    finally:
        w.stop()
