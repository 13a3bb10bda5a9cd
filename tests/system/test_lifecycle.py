"""Start and stop: clean shutdown by databusctl, SIGTERM and SIGINT exits 0
and leaves no child process; a drive in flight at shutdown loses nothing;
one databusd per data dir."""
import signal

import pytest

from conftest import (bench_puller, client, definition, pid_alive,
                      procs_mentioning, wait_for)


def _clients(count=100):
    return {"acme": client(
        definition("one", [bench_puller(count=count)],
                   [{"name": "sink", "type": "null"}]),
        definition("two", [bench_puller(count=count, prefix="t")],
                   [{"name": "sink", "type": "null"}]))}


@pytest.mark.parametrize("how", ["ctl", "term", "int"])
def test_shutdown_leaves_no_child(tmp, bus, how):
    b = bus(_clients())
    pids = [d["worker"]["pid"] for d in b.status()["definitions"]]
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    rc = b.stop(how)
    assert rc == 0, (rc, b.stderr())
    # databusd reaps its children before exiting: nothing may remain.
    assert not any(pid_alive(p) for p in pids)
    assert not procs_mentioning(str(tmp)), procs_mentioning(str(tmp))
    assert "databus-worker" not in " ".join(
        c for _, c in procs_mentioning(b.data_dir))


def test_shutdown_during_drive_loses_nothing(tmp, bus):
    count = 30000
    b = bus(_clients(count))
    b.ctl("expedite", "acme", "one", json_out=False)
    wait_for(lambda: b.definition("acme", "one").get("driving"), 20,
             "acme/one driving")
    assert b.stop("ctl") == 0
    assert not procs_mentioning(str(tmp))

    # Restart on the same data dir: whatever was seated is still there,
    # and one more drive completes exactly `count`.
    b2 = bus(_clients(count))
    pending, done, dead = b2.counts("acme", "one")
    assert dead == 0 and pending + done <= count
    b2.drive("acme", "one", timeout=60)
    b2.wait_counts("acme", "one", pending=0, done=count, dead=0,
                   timeout=60)
    assert b2.ctl_raw("verify").returncode == 0


def test_second_databusd_refuses(tmp, bus, daemons):
    b = bus(_clients())
    first_pid = b.proc.pid
    again = daemons(["--config", tmp / "databus.json"], ready=False)
    rc = again.wait_exit(20)
    assert rc != 0
    assert 100 <= rc <= 111 or rc == 1, rc
    assert "data directory is in use" in again.stderr(), again.stderr()
    assert "databusd: ready" not in again.lines
    # The first one is untouched and still serving.
    assert b.alive() and b.proc.pid == first_pid
    b.drive("acme", "one")
    b.wait_counts("acme", "one", pending=0, done=100, dead=0)
    assert b.stop() == 0


def test_second_demo_refuses(tmp, daemons):
    from conftest import free_port
    var = tmp / "var"
    first = daemons(["--demo", "--data", var, "--listen",
                     "127.0.0.1:%d" % free_port()])
    second = daemons(["--demo", "--data", var, "--listen",
                      "127.0.0.1:%d" % free_port()], ready=False)
    assert second.wait_exit(20) != 0
    assert "data directory is in use" in second.stderr()
    assert first.alive()
    assert first.stop(how="term") == 0


def test_restart_after_clean_stop(tmp, bus):
    b = bus(_clients())
    b.drive("acme", "one")
    b.wait_counts("acme", "one", pending=0, done=100, dead=0)
    assert b.stop() == 0
    b2 = bus(_clients())
    assert b2.counts("acme", "one") == (0, 100, 0)
    b2.drive("acme", "one")
    assert b2.counts("acme", "one") == (0, 100, 0)
    assert b2.stop(how="int") == 0


def test_sighup_is_not_fatal(tmp, bus):
    b = bus(_clients())
    pids = {k: d["worker"]["pid"] for k, d in b.defs().items()}
    b.signal(signal.SIGHUP)  # reload with the same config: nothing moves
    wait_for(lambda: b.alive() and b.status(), 10, "status after SIGHUP")
    assert {k: d["worker"]["pid"] for k, d in b.defs().items()} == pids
