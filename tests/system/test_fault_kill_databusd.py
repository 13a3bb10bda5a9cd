"""kill -9 of databusd under load, again and again, restarting it each
time: nothing is lost, no worker outlives its databusd by more than 1 s
(PR_SET_PDEATHSIG), the store verifies clean after every restart, and a
second databusd on the same data dir refuses to start.

Load: a writer thread drops files into two directories (dir puller every
200 ms) while databusd runs; the null pusher records "<idempotency key>
<external id>" for every delivery. databusd is killed at a random moment
0.3-1.5 s after it is ready. At the end every file written was delivered,
every passenger is done, and duplicates carry their first key.

Default: 6 kills. DATABUS_LONG=1: 50 (the figure of the issue).
"""
import os
import random
import subprocess
import threading
import time
from collections import defaultdict

from conftest import (CTL, client, deadline, definition, pid_alive,
                      procs_mentioning, run_databusd, wait_for,
                      write_config)

LONG = bool(os.environ.get("DATABUS_LONG"))
KILLS = int(os.environ.get("DBS_KILLS", 50 if LONG else 6))
RATE = 400  # files per second
DEFS = [("acme", "a"), ("zeta", "z")]


def test_kill9_databusd_repeatedly(tmp, daemons):
    ins, recs = {}, {}
    clients = defaultdict(list)
    for c, d in DEFS:
        ins[(c, d)] = tmp / "in" / ("%s-%s" % (c, d))
        ins[(c, d)].mkdir(parents=True)
        recs[(c, d)] = tmp / "rec" / ("%s-%s.log" % (c, d))
        recs[(c, d)].parent.mkdir(exist_ok=True)
        clients[c].append(definition(
            d, [{"name": "files", "type": "dir", "path": str(ins[(c, d)]),
                 "pattern": "*.txt"}],
            [{"name": "target", "type": "null",
              "record": str(recs[(c, d)])}],
            sync="200ms"))
    cfg = write_config(tmp, {c: client(*ds) for c, ds in clients.items()})

    written = {}
    stop = threading.Event()
    errors = []

    def writer():
        n = 0
        t0 = time.monotonic()
        try:
            while not stop.is_set():
                due = int((time.monotonic() - t0) * RATE)
                while n < due:
                    key = DEFS[n % len(DEFS)]
                    name = "f%07d.txt" % n
                    tmpf = ins[key] / (".%s.tmp" % name)
                    tmpf.write_text("passenger %d\n" % n)
                    os.rename(tmpf, ins[key] / name)
                    written[name] = key
                    n += 1
                time.sleep(0.01)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    rng = random.Random(11)
    orphan_ms = []
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        for i in range(KILLS):
            b = daemons(["--config", cfg])
            if i == 0:
                # A second databusd on the same data dir refuses.
                r = run_databusd(["--config", cfg], cwd=tmp)
                assert r.returncode == 100, (r.returncode, r.stderr)
                assert "locked" in r.stderr or "in use" in r.stderr, \
                    r.stderr
                assert b.alive()
            time.sleep(rng.uniform(0.3, 1.5))
            kids = [v["worker"]["pid"] for v in b.defs().values()
                    if v["worker"]["pid"] > 0]
            assert kids
            t0 = time.monotonic()
            b.proc.kill()
            b.proc.wait(10)
            wait_for(lambda: not any(pid_alive(p) for p in kids), 1,
                     "workers %r gone within 1 s of databusd's kill -9"
                     % kids, interval=0.005)
            orphan_ms.append((time.monotonic() - t0) * 1000)
            # So is a worker spawned just before the kill (not in
            # `kids`): it ends as soon as it runs and finds its parent
            # gone (PR_SET_PDEATHSIG is set in its main()).
            wait_for(lambda: not [p for p in procs_mentioning(str(tmp))
                                  if "databus-worker" in p[1]], 1,
                     "every worker of this data dir gone", interval=0.005)
            # The store is consistent after every crash.
            v = subprocess.run([str(CTL), "--data", b.data_dir, "verify"],
                               capture_output=True, text=True,
                               timeout=deadline(60))
            assert v.returncode == 0, v.stdout + v.stderr
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    total = len(written)
    print("%d kills of databusd; %d files written; workers gone after "
          "max %.0f ms (p50 %.0f)" % (KILLS, total, max(orphan_ms),
                                      sorted(orphan_ms)[len(orphan_ms) // 2]))

    b = daemons(["--config", cfg])

    def settled():
        left = sum(1 for p in ins.values() for f in p.iterdir()
                   if f.name.endswith(".txt"))
        counts = [b.counts(c, d) for c, d in DEFS]
        assert sum(x[2] for x in counts) == 0, counts
        return (left == 0 and sum(x[0] for x in counts) == 0 and
                sum(x[1] for x in counts) == total) or None
    wait_for(settled, 120, "all %d passengers done" % total, interval=0.2)

    delivered = defaultdict(list)
    for key, path in recs.items():
        for line in path.read_text().splitlines():
            idem, ext = line.split(" ", 1)
            delivered[ext.split(":", 1)[0]].append(idem)
    lost = sorted(set(written) - set(delivered))
    assert not lost, "%d lost, e.g. %r" % (len(lost), lost[:5])
    bad = {n: k for n, k in delivered.items() if len(set(k)) != 1}
    assert not bad, list(bad.items())[:5]
    dups = sum(1 for k in delivered.values() if len(k) > 1)
    print("delivered %d, duplicates %d, all with the same key"
          % (len(delivered), dups))
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0
