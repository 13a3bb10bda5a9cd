"""kill -9 at random points of the commit path, many times: nothing that
was acknowledged is lost and the store is never corrupt.

Each round drops a few files into a directory that a dir puller drains
(the puller moves a file to .done only after the commit that seated it —
that move is the acknowledgement to the source), then starts databusd
under strace, which kills it with SIGKILL at the N-th call (N random) of
one syscall of LMDB's commit path:

    strace -e trace=pwrite64,pwritev,writev,fdatasync,fsync \\
           -e inject=<one of them>:signal=KILL:when=N databusd ...

(LMDB writes dirty pages with pwrite64 / writev, syncs the data
file with fdatasync and writes the meta page with pwrite64 on an O_DSYNC
descriptor; it does not use msync without MDB_WRITEMAP, which the store
does not set.) A round whose injection point is never reached ends with a
plain kill -9 once its files are moved. After every kill:

- 0 corrupt: `databusctl verify` (read-only, no databusd) is clean;
- 0 lost: every file in .done (acknowledged) is a passenger in the store.

The next round's databusd recovers from the previous kill. At the end a
normal databusd delivers everything: every file written is delivered and
done, duplicates carry their first idempotency key.

Default: until 40 injected kills. DATABUS_LONG=1: 1,000 injected kills
(the figure of the issue).
"""
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter, defaultdict

import pytest

from conftest import (CTL, DATABUSD, client, deadline, definition, wait_for,
                      write_config)

LONG = bool(os.environ.get("DATABUS_LONG"))
# Rounds go on until this many kills came from the injection (a round
# whose injection point is not reached ends with a plain kill -9).
INJECTS = int(os.environ.get("DBS_INJECTS", 1000 if LONG else 40))
PER_ROUND = 8
SYSCALLS = ["pwrite64", "pwrite64", "fdatasync", "fdatasync", "writev"]


def ctl(data_dir, *args):
    return subprocess.run([str(CTL), "--data", str(data_dir)] +
                          [str(a) for a in args], capture_output=True,
                          text=True, timeout=deadline(60))


def stored_external_ids(data_dir):
    ids = set()
    cursor = None
    while True:
        args = ["--json", "queue", "ls", "--limit", "1000"]
        if cursor:
            args += ["--cursor", cursor]
        r = ctl(data_dir, *args)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        ids |= {p["external_id"].split(":", 1)[0] for p in doc["items"]}
        cursor = doc.get("next_cursor")
        if not cursor:
            return ids


def test_kill_at_random_commit_points(tmp, daemons):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (./setup installs it)")
    inbox = tmp / "in"
    inbox.mkdir()
    rec = tmp / "rec.log"
    d = definition("files", [{"name": "files", "type": "dir",
                              "path": str(inbox), "pattern": "*.txt"}],
                   [{"name": "target", "type": "null", "record": str(rec)}],
                   sync="100ms")
    cfg = write_config(tmp, {"acme": client(d)})
    data_dir = tmp / "var"
    rng = random.Random(int(os.environ.get("DBS_SEED", "5")))
    written = []
    outcomes = Counter()

    rnd = -1
    while sum(v for k, v in outcomes.items()
              if k.startswith("inject")) < INJECTS:
        rnd += 1
        assert rnd < 3 * INJECTS, "injection points rarely reached: %r" \
            % dict(outcomes)
        for _ in range(PER_ROUND):
            name = "f%06d.txt" % len(written)
            (inbox / (".%s.tmp" % name)).write_text(name)
            os.rename(inbox / (".%s.tmp" % name), inbox / name)
            written.append(name)
        sc = rng.choice(SYSCALLS)
        when = rng.randint(1, 25 if sc == "pwrite64" else 12)
        with open(tmp / "round.stderr", "w") as err:
            p = subprocess.Popen(
                [strace, "-o", "/dev/null",
                 "-e", "trace=pwrite64,pwritev,writev,fdatasync,fsync",
                 "-e", "inject=%s:signal=KILL:when=%d" % (sc, when),
                 str(DATABUSD), "--config", str(cfg)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, cwd="/")
            try:
                # Killed by the injection, or (point never reached) once
                # this round's files were all taken.
                end = time.monotonic() + deadline(20)
                while p.poll() is None and time.monotonic() < end:
                    if not any(f.name.endswith(".txt")
                               for f in inbox.iterdir()):
                        time.sleep(rng.uniform(0, 0.3))
                        break
                    time.sleep(0.02)
                if p.poll() is None:
                    # kill -9 databusd itself (strace's child); strace
                    # then exits with it.
                    for pid in _children(p.pid):
                        os.kill(pid, signal.SIGKILL)
                    outcomes["plain kill -9"] += 1
                else:
                    outcomes["inject %s" % sc] += 1
                p.wait(deadline(20))
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
        # Every databusd and worker of this round must be gone before the
        # store is read (no writer lock held by a leftover).
        wait_for(lambda: not [1 for d in os.listdir("/proc") if d.isdigit()
                              and _mentions(d, str(tmp))],
                 10, "round %d's processes gone" % rnd)
        if not (data_dir / "store" / "data.mdb").exists():
            continue  # killed before the store was created
        v = ctl(data_dir, "verify")
        assert v.returncode == 0, "round %d (%s when=%d): %s%s" % (
            rnd, sc, when, v.stdout, v.stderr)
        acked = {f.name for f in (inbox / ".done").iterdir()} \
            if (inbox / ".done").exists() else set()
        missing = acked - stored_external_ids(data_dir)
        assert not missing, "round %d (%s when=%d): acknowledged but " \
            "not stored: %r" % (rnd, sc, when, sorted(missing)[:5])

    print("%d rounds: %s" % (rnd + 1, dict(outcomes)))

    # A normal run finishes the work.
    b = daemons(["--config", cfg])
    b.wait_counts("acme", "files", pending=0, done=len(written), dead=0,
                  timeout=60)
    assert not [f for f in inbox.iterdir() if f.name.endswith(".txt")]
    delivered = defaultdict(list)
    for line in rec.read_text().splitlines():
        idem, ext = line.split(" ", 1)
        delivered[ext.split(":", 1)[0]].append(idem)
    lost = sorted(set(written) - set(delivered))
    assert not lost, lost[:5]
    bad = {n: k for n, k in delivered.items() if len(set(k)) != 1}
    assert not bad, list(bad.items())[:5]
    print("delivered %d, duplicates %d" % (
        len(delivered), sum(1 for k in delivered.values() if len(k) > 1)))
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0


def _mentions(pid, text):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            if text.encode() not in f.read():
                return False
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _children(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out
