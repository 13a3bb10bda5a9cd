"""Life spans purge completed passengers and old logs at the end of a
drive; a slow control request (a peek waiting on a deaf worker) never
blocks the others."""
import subprocess
import time

import pytest

from conftest import (CTL, FAKE_WORKER, WORKER, bench_puller, client,
                      definition, wait_for)


def test_life_spans_purge_done_passengers_and_logs(tmp, bus):
    d = definition("short", [bench_puller(count=100, per_drive=5)],
                   [{"name": "sink", "type": "null"}])
    d["queue_life_span"] = "2s"
    b = bus({"acme": client(d, log_life_span="2s")})
    # Five per drive: the drive at start, then this one.
    b.drive("acme", "short")
    wait_for(lambda: b.counts("acme", "short")[:2] == (0, 10), 20,
             "ten passengers done")
    first = {p["id"] for p in b.queue("--client", "acme")}
    assert len(first) == 10
    logs = b.ctl("logs", "ls", "--client", "acme")["items"]
    assert logs, "the drive wrote a log"
    old_logs = {l["id"] for l in logs}

    # Past both life spans, the next drive purges what is older, and
    # keeps what it just did.
    time.sleep(2.5)
    b.drive("acme", "short")

    def purged():
        ids = {p["id"] for p in b.queue("--client", "acme")}
        return not (ids & first) and ids
    ids = wait_for(purged, 20, "the first five passengers to be purged")
    assert len(ids) == 5, ids
    logs = {l["id"] for l in b.ctl("logs", "ls", "--client", "acme")
            ["items"]}
    assert not (logs & old_logs), (logs, old_logs)
    assert logs, "the purging drive's own log is kept"
    r = b.ctl_raw("verify")
    assert r.returncode == 0, r.stdout + r.stderr


def test_slow_request_does_not_block_others(tmp, bus):
    if not FAKE_WORKER.exists():
        pytest.fail("%s missing: build tests/tools (ninja)" % FAKE_WORKER)
    deaf = definition("deaf", [bench_puller(count=5, prefix="x")],
                      [{"name": "sink", "type": "null"}])
    good = definition("good", [bench_puller(count=5, prefix="g")],
                      [{"name": "sink", "type": "null"}])
    pidfile = tmp / "fake.pid"
    env = {"DATABUS_WORKER": str(FAKE_WORKER),
           "DBS_REAL_WORKER": str(WORKER),
           "DBS_FAKE_SLOT": "1",
           "DBS_FAKE_MODE": "hang",
           "DBS_FAKE_PIDFILE": str(pidfile),
           "DBS_FAKE_ONCE": str(tmp / "fake.once")}
    # Heartbeats are missed after 3 x 4 s + 2 s: time enough to watch.
    b = bus({"acme": client(deaf, good)}, env=env, workers=False,
            heartbeat="4s")
    b.wait_workers("ready", only={("acme", "good")})
    fake_pid = int(wait_for(
        lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
        "the deaf worker to start"))
    # Ready, then busy at once: every definition drives at start.
    wait_for(lambda: b.worker("acme", "deaf")["state"] in ("ready", "busy"),
             20, "the deaf worker to say Ready")
    assert b.worker("acme", "deaf")["pid"] == fake_pid, b.stderr()
    # The peek waits for a worker that never answers ...
    peek = subprocess.Popen(
        [str(CTL), "--data", str(b.data_dir), "peek", "acme", "deaf"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        assert peek.poll() is None, "the peek should still be waiting"
        # ... while every other request is served at once.
        for _ in range(5):
            t0 = time.monotonic()
            st = b.status()
            assert st["definitions"], st
            assert time.monotonic() - t0 < 2.0
        b.ctl("expedite", "acme", "good", json_out=False)
        b.wait_counts("acme", "good", pending=0, done=5, dead=0)
        assert peek.poll() is None, "the peek is still waiting"
        # The deaf worker misses its heartbeats and is killed: the
        # waiting peek is answered with an error, not left hanging.
        out, err = peek.communicate(timeout=60)
        assert peek.returncode == 1, (peek.returncode, out, err)
        assert "missed heartbeats" in err, err
    finally:
        if peek.poll() is None:
            peek.kill()
            peek.communicate()
