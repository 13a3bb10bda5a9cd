"""A worker that sends garbage (or a message it may not send) on its PAIR
socket is killed and restarted by the supervisor; the other worker keeps
its pid and keeps completing passengers; databusd stays up.

tests/tools/fake_worker stands in for databus-worker ($DATABUS_WORKER): it
runs the real worker for every slot but $DBS_FAKE_SLOT, and for that slot
answers Init with Ready and then misbehaves (once: $DBS_FAKE_ONCE)."""
import pytest

from conftest import (FAKE_WORKER, WORKER, bench_puller, client, definition,
                      pid_alive, wait_for)


@pytest.mark.parametrize("mode", ["garbage", "unexpected"])
@pytest.mark.parametrize("once", [True, False], ids=["once", "always"])
def test_bad_worker_message_kills_only_that_worker(tmp, bus, mode, once):
    if not FAKE_WORKER.exists():
        pytest.fail("%s missing: build tests/tools (ninja)" % FAKE_WORKER)
    # Slots are numbered from 1 in sorted (client, definition) order:
    # acme/bad = 1, acme/good = 2.
    bad = definition("bad", [bench_puller(count=50, prefix="x")],
                     [{"name": "sink", "type": "null"}])
    good = definition("good", [bench_puller(count=200, prefix="g")],
                      [{"name": "sink", "type": "null"}])
    pidfile = tmp / "fake.pid"
    env = {"DATABUS_WORKER": str(FAKE_WORKER),
           "DBS_REAL_WORKER": str(WORKER),
           "DBS_FAKE_SLOT": "1",
           "DBS_FAKE_MODE": mode,
           "DBS_FAKE_PIDFILE": str(pidfile)}
    if once:
        env["DBS_FAKE_ONCE"] = str(tmp / "fake.once")
    b = bus({"acme": client(bad, good)}, env=env, workers=False)
    b.wait_workers("ready", only={("acme", "good")})
    good_pid = b.worker("acme", "good")["pid"]
    daemon_pid = b.proc.pid

    fake_pid = int(wait_for(
        lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
        "the fake worker to send its %s" % mode))
    wait_for(lambda: not pid_alive(fake_pid), 20,
             "the supervisor to kill the fake worker pid %d" % fake_pid)

    def restarted():
        w = b.worker("acme", "bad")
        return w.get("restarts", 0) >= 1 and w["pid"] != fake_pid and w
    w = wait_for(restarted, 20, "restart of acme/bad counted")
    assert b.alive(), b.stderr()
    # The supervisor says which worker it killed and why.
    wait_for(lambda: "acme/bad (pid %d)" % fake_pid in b.stderr(), 5,
             "databusd to log the kill of pid %d" % fake_pid)

    # The good worker keeps its pid and keeps completing passengers.
    b.drive("acme", "good")
    b.wait_counts("acme", "good", pending=0, done=200, dead=0)
    assert b.worker("acme", "good")["pid"] == good_pid
    assert pid_alive(good_pid)

    if once:
        # The restarted worker is the real one: it becomes ready and works.
        b.wait_workers("ready", only={("acme", "bad")})
        b.drive("acme", "bad")
        b.wait_counts("acme", "bad", pending=0, done=50, dead=0)
    else:
        # Every incarnation misbehaves: restarts keep growing with
        # backoff, up to FAILED; never ready for long.
        def backing_off():
            w = b.worker("acme", "bad")
            return (w.get("restarts", 0) >= 2 and
                    w["state"] in ("backoff", "failed", "starting") and w)
        wait_for(backing_off, 30, "acme/bad restarting with backoff")
        assert b.worker("acme", "good")["pid"] == good_pid

    assert b.alive() and b.proc.pid == daemon_pid
    assert b.stop() == 0


@pytest.mark.parametrize("mode", ["hang", "silent"])
def test_stuck_worker_is_killed(tmp, bus, mode):
    """A worker that stops answering (hang: ready, then deaf to Drive and
    without heartbeats; silent: never answers Init) is killed within the
    drive timeout / heartbeat / start checks and restarted; the other
    worker is not disturbed."""
    if not FAKE_WORKER.exists():
        pytest.fail("%s missing: build tests/tools (ninja)" % FAKE_WORKER)
    bad = definition("bad", [bench_puller(count=5, prefix="x")],
                     [{"name": "sink", "type": "null"}])
    good = definition("good", [bench_puller(count=20, prefix="g")],
                      [{"name": "sink", "type": "null"}])
    pidfile = tmp / "fake.pid"
    env = {"DATABUS_WORKER": str(FAKE_WORKER),
           "DBS_REAL_WORKER": str(WORKER),
           "DBS_FAKE_SLOT": "1",
           "DBS_FAKE_MODE": mode,
           "DBS_FAKE_PIDFILE": str(pidfile),
           "DBS_FAKE_ONCE": str(tmp / "fake.once")}
    b = bus({"acme": client(bad, good)}, env=env, workers=False,
            drive_timeout="2s", heartbeat="500ms")
    b.wait_workers("ready", only={("acme", "good")})
    good_pid = b.worker("acme", "good")["pid"]
    fake_pid = int(wait_for(
        lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
        "the fake worker to start"))
    if mode == "hang":
        b.ctl("expedite", "acme", "bad", json_out=False)
    wait_for(lambda: not pid_alive(fake_pid), 30,
             "the supervisor to kill the stuck worker pid %d" % fake_pid)
    b.wait_workers("ready", only={("acme", "bad")}, timeout=30)
    assert b.worker("acme", "bad")["restarts"] >= 1
    b.drive("acme", "bad")
    b.wait_counts("acme", "bad", pending=0, done=5, dead=0)
    b.drive("acme", "good")
    b.wait_counts("acme", "good", pending=0, done=20, dead=0)
    assert b.worker("acme", "good")["pid"] == good_pid
    assert b.stop() == 0
