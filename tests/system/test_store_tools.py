"""databusctl backup and compact.

backup FILE copies one snapshot of the store while databusd writes: the
drive in flight keeps committing during the backup (intake not paused),
and the backup, put in place as another data dir's store, verifies clean
and holds a consistent count of passengers. compact with databusd
stopped
rewrites the store into a smaller file that verifies and that databusd
starts on again with every passenger."""
import json
import os
import shutil
import subprocess
import threading
import time

from conftest import (CTL, bench_puller, client, deadline, definition,
                      wait_for)


def ctl_data(data_dir, *args):
    return subprocess.run([str(CTL), "--data", str(data_dir)] +
                          [str(a) for a in args], capture_output=True,
                          text=True, timeout=deadline(120))


def test_hot_backup_under_load(tmp, bus):
    count = 40000
    d = definition("load", [bench_puller(count=count, size=512)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d)})

    # Intake must be running when the backup starts.
    wait_for(lambda: b.definition("acme", "load")["done"] > 1000, 60,
             "the drive under way")
    commits = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            st = b.status()
            commits.append((time.monotonic(), st["store"]["commits"],
                            st["system"]["intake_paused"]))
            time.sleep(0.05)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    wait_for(lambda: len(commits) >= 2, 30, "status samples")
    t0 = time.monotonic()
    r = b.ctl_raw("backup", tmp / "backup.mdb", json_out=True)
    t1 = time.monotonic()
    wait_for(lambda: len([c for c in commits if c[0] > t1]) >= 2, 30,
             "status samples after the backup")
    stop.set()
    t.join(5)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["bytes"] == os.path.getsize(tmp / "backup.mdb") > 0
    assert not list(tmp.glob("backup.mdb.tmp-*"))

    # Intake went on: commits kept coming during the backup, never paused.
    during = [c for when, c, _ in commits if t0 <= when <= t1]
    assert not any(p for _, _, p in commits), "intake paused"
    before = [c for when, c, _ in commits if when < t0]
    after = [c for when, c, _ in commits if when > t1]
    assert before and after and after[-1] > before[-1], commits
    print("backup took %.3f s; commits %d -> %d during it"
          % (t1 - t0, before[-1], (during or after)[-1]))

    # The backup is a store of its own that verifies.
    other = tmp / "restored"
    (other / "store").mkdir(parents=True)
    shutil.copy(tmp / "backup.mdb", other / "store" / "data.mdb")
    v = ctl_data(other, "verify")
    assert v.returncode == 0, v.stdout + v.stderr
    q = ctl_data(other, "--json", "status")  # no databusd: refused
    assert q.returncode != 0
    n = ctl_data(other, "--json", "queue", "ls", "--limit", "1")
    assert n.returncode == 0, n.stderr

    b.wait_counts("acme", "load", pending=0, done=count, timeout=120)
    assert b.stop() == 0


def test_compact_offline_only(tmp, bus):
    count = 3000
    d = definition("load", [bench_puller(count=count, size=16 * 1024)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d)})
    b.wait_counts("acme", "load", pending=0, done=count, timeout=120)
    # Free pages: purge everything completed.
    b.ctl("queue", "purge", json_out=False)
    b.wait_counts("acme", "load", pending=0, done=0, timeout=60)

    # While databusd runs, it compacts itself (test_import_restore.py
    # covers that under load); stopped, databusctl compacts offline.
    data_dir = b.data_dir
    assert b.stop() == 0

    size = os.path.getsize(os.path.join(data_dir, "store", "data.mdb"))
    r = ctl_data(data_dir, "--json", "compact")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["before"] == size
    assert 0 < out["after"] < size / 4, out
    assert os.path.getsize(os.path.join(data_dir, "store",
                                        "data.mdb")) == out["after"]
    v = ctl_data(data_dir, "verify")
    assert v.returncode == 0, v.stdout + v.stderr

    # databusd starts on the compacted store and writes to it. The purged
    # passengers' dedup keys are kept (store.dedup_horizon) and survive the
    # compaction, so the same items pulled again are duplicates; new items
    # are seated.
    more = definition("more", [bench_puller(count=100, prefix="m")],
                      [{"name": "sink", "type": "null"}])
    b2 = bus({"acme": client(d, more)})
    b2.wait_counts("acme", "more", pending=0, done=100, timeout=120)
    b2.drive("acme", "load", timeout=120)
    assert b2.counts("acme", "load") == (0, 0, 0)
    assert ctl_data(data_dir, "verify").returncode == 0
    assert b2.stop() == 0
