"""kill -9 of a worker in the middle of a drive: the supervisor restarts
it (new pid, restarts counted) and nothing is lost or duplicated — every
passenger ends done exactly once (dedup by puller + external id) and the
store verifies clean."""
import os
import signal

import pytest

from conftest import bench_puller, client, definition, pid_alive, wait_for

COUNT = 20000


@pytest.mark.parametrize("phase", ["pull", "work"])
def test_kill9_worker_mid_drive(tmp, bus, phase):
    # per_drive 0: every drive emits all COUNT items (same external ids),
    # so a drive interrupted in the middle is simply driven again.
    d = definition("load", [bench_puller(count=COUNT, size=256)],
                   [{"name": "sink", "type": "null"}])
    other = definition("quiet", [bench_puller(count=10, prefix="q")],
                       [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d, other)})
    quiet_pid = b.worker("acme", "quiet")["pid"]

    # The kill must land mid drive: wait for the chosen phase.
    w = b.worker("acme", "load")
    pid, restarts = w["pid"], w.get("restarts", 0)
    b.ctl("expedite", "acme", "load", json_out=False)

    def mid_drive():
        dd = b.definition("acme", "load")
        pending, done, _ = dd["pending"], dd["done"], dd["dead"]
        if done >= COUNT:
            pytest.fail("the whole drive finished before the kill; "
                        "raise COUNT")
        if not dd.get("driving"):
            return None
        if phase == "pull":
            return True
        return pending > 0
    wait_for(mid_drive, 60, "load mid drive (%s phase)" % phase,
             interval=0.005)
    os.kill(pid, signal.SIGKILL)

    def restarted():
        w = b.worker("acme", "load")
        return (w["pid"] not in (0, pid) and w["state"] in ("ready", "busy")
                and w.get("restarts", 0) >= restarts + 1 and w)
    w2 = wait_for(restarted, 30, "load worker restarted with a new pid")
    assert not pid_alive(pid)
    assert w2.get("last_exit", "signal 9") in ("", "signal 9") or \
        "9" in w2["last_exit"], w2

    # Drive until everything is done; exact counts prove no loss and no
    # duplicate.
    def all_done():
        p, n, dead = b.counts("acme", "load")
        assert n <= COUNT and dead == 0, (p, n, dead)
        if n == COUNT and p == 0:
            return True
        if not b.definition("acme", "load").get("driving"):
            b.ctl("expedite", "acme", "load", json_out=False)
        return False
    wait_for(all_done, 120, "all %d passengers done" % COUNT)
    b.drive("acme", "load")  # one more full pull: all duplicates
    assert b.counts("acme", "load") == (0, COUNT, 0)
    assert b.worker("acme", "quiet")["pid"] == quiet_pid

    r = b.ctl_raw("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert b.stop() == 0


def test_kill9_databusd_takes_workers_down(tmp, bus):
    """Children die with their parent (PR_SET_PDEATHSIG)."""
    d = definition("a", [bench_puller(count=5)], [{"name": "n",
                                                   "type": "null"}])
    e = definition("b", [bench_puller(count=5)], [{"name": "n",
                                                   "type": "null"}])
    b = bus({"acme": client(d, e)})
    pids = [b.worker("acme", n)["pid"] for n in ("a", "b")]
    assert all(pid_alive(p) for p in pids)
    b.proc.kill()
    b.proc.wait(10)
    wait_for(lambda: not any(pid_alive(p) for p in pids), 10,
             "workers gone after kill -9 of databusd")

    # The data dir is usable again by a new databusd, and nothing was lost.
    b2 = bus({"acme": client(d, e)})
    b2.drive("acme", "a")
    b2.wait_counts("acme", "a", pending=0, done=5, dead=0)
    assert b2.ctl_raw("verify").returncode == 0


def test_seated_passengers_resume_after_worker_crash(tmp, bus):
    """Passengers seated before a worker crash are worked on again by
    themselves (a retry drive), not only at the next sync or expedite."""
    d = definition("load", [bench_puller(count=COUNT, size=256)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d)})
    pid = b.worker("acme", "load")["pid"]

    def seated_not_done():
        dd = b.definition("acme", "load")
        if dd["done"] >= COUNT:
            pytest.fail("the drive finished before the kill; raise COUNT")
        return dd["pending"] > 0 and dd["driving"]
    wait_for(seated_not_done, 60, "passengers seated, drive in flight",
             interval=0.005)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: b.worker("acme", "load")["pid"] not in (0, pid), 30,
             "worker restarted")
    seated = b.ctl("status")["store"]["passengers"]
    # No expedite: sync_frequency is a day, so only a retry drive can
    # finish what was seated.
    b.wait_counts("acme", "load", pending=0, timeout=30)
    assert b.counts("acme", "load") == (0, seated, 0)
