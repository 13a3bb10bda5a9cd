"""The store's map grows as the queue grows (MDB_MAP_FULL is handled by
growing the map): a drive that seats more than the initial map holds
completes without an operator, loses nothing, and needs no worker kill;
status keeps answering meanwhile."""
import json

from conftest import Timeout, bench_puller, client, definition, wait_for


def test_queue_outgrows_initial_map(tmp, bus):
    count, size = 3000, 100 * 1024  # ~300 MiB of attachments
    d = definition("big", [bench_puller(count=count, size=size)],
                   [{"name": "sink", "type": "null"}])
    # The drive starts with the worker, so the map may grow before the
    # first status: compare with the size the store reports at the end.
    b = bus({"acme": client(d)})

    status_errors = []
    last = [None]

    def all_done():
        r = b.ctl_raw("status", json_out=True)
        if r.returncode != 0:
            status_errors.append(r.stderr.strip())
            return False
        st = json.loads(r.stdout)
        dd = st["definitions"][0]
        last[0] = (dd["pending"], dd["done"], dd["dead"],
                   dd["worker"]["state"], st["system"]["store_error"])
        return dd["pending"] == 0 and dd["done"] == count and st
    try:
        st = wait_for(all_done, 60, "all %d passengers done" % count)
    except Timeout as e:
        raise Timeout("%s; last (pending, done, dead, worker, store_error)"
                      " %r; status failures: %r\n%s"
                      % (e, last[0], status_errors[:3], b.stderr()[-2000:]))
    assert not status_errors, "status refused meanwhile: %r" % \
        status_errors[:3]
    assert st["store"]["map_size"] >= count * size
    assert st["store"]["passengers"] == count
    assert not st["system"]["intake_paused"], st["system"]
    assert b.worker("acme", "big")["restarts"] == 0, \
        "growing the map killed the worker:\n" + b.stderr()[-2000:]
    r = b.ctl_raw("verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert b.stop() == 0
