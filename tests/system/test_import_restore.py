"""databusctl import, restore and compact while databusd runs.

import reads a JSON archive back: passengers keep their external ids and
step states, ids the target store already used are remapped (and the
mapping reported), importing twice adds nothing, users come back with
their hashes from the whole store's archive, and a damaged archive is
refused with nothing written. restore swaps in a verified backup and
compact compacts, both under a running pipeline, each reporting its
intake pause; a backup that does not verify is refused."""
import json
import os
import shutil
import subprocess

from conftest import CTL, bench_puller, client, definition

SINK = [{"name": "sink", "type": "null"}]
USERS = [{"username": "alice", "password": "pw-alice",
          "role": "administrator"}]


def test_import_twice_clashes_corrupt_client(tmp, bus):
    d = definition("load", [bench_puller(count=50, prefix="a", size=1024)],
                   SINK)
    b = bus({"acme": client(d, users=USERS)})
    b.wait_counts("acme", "load", pending=0, done=50, timeout=60)
    arch, part = tmp / "all.json", tmp / "acme.json"
    b.ctl("export", arch)
    b.ctl("export", part, "--client", "acme")
    whole = json.loads(arch.read_text())
    assert whole["version"] == 2
    assert all(u["password_hash"].startswith("$argon2id$")
               for u in whole["users"]), whole["users"]
    assert not any("password_hash" in u
                   for u in json.loads(part.read_text())["users"])
    data_dir = b.data_dir
    assert b.stop() == 0
    shutil.rmtree(os.path.join(data_dir, "store"))

    # A fresh store whose ids 1..20 are taken by other passengers.
    d2 = definition("load", [bench_puller(count=20, prefix="z")], SINK)
    b2 = bus({"acme": client(d2)})
    b2.wait_counts("acme", "load", pending=0, done=20, timeout=60)

    bad = tmp / "bad.json"
    bad.write_bytes(arch.read_bytes()[: arch.stat().st_size // 2])
    r = b2.ctl_raw("import", bad)
    assert r.returncode == 1 and "nothing was imported" in r.stderr, r.stderr
    newer = tmp / "newer.json"
    newer.write_text(arch.read_text().replace('"version":2', '"version":9'))
    r = b2.ctl_raw("import", newer)
    assert r.returncode == 1 and "version 9" in r.stderr, r.stderr
    assert b2.counts("acme", "load") == (0, 20, 0)

    dry = b2.ctl("import", arch, "--dry-run")
    assert dry["dry_run"] and dry["added"] == 50, dry
    assert b2.counts("acme", "load") == (0, 20, 0)

    out = b2.ctl("import", arch)
    assert out["online"] and out["added"] == 50, out
    assert out["duplicates"] == 0 and len(out["remapped"]) == 50, out
    assert out["users_added"] == 1 and out["users_locked"] == [], out
    assert out["logs_added"] == len(whole["logs"]) > 0, out
    assert b2.counts("acme", "load") == (0, 70, 0)
    m = out["remapped"][0]
    p = b2.show("acme", m["to"])
    assert p["external_id"].startswith("a-") and p["state"] == "done"
    assert all(s["state"] == "complete" for s in p["steps"]), p
    # Its drive's log came along, linked to its new id.
    assert p["logs"], p
    entries = b2.ctl("logs", "show", "acme", p["logs"][0]["id"])["entries"]
    assert any(e["passenger_id"] == m["to"] for e in entries), entries

    again = b2.ctl("import", arch)
    assert again["added"] == 0 and again["duplicates"] == 50, again
    assert again["logs_added"] == 0, again
    assert again["logs_duplicates"] == len(whole["logs"]), again
    part_out = b2.ctl("import", part, "--client", "acme")
    assert part_out["added"] == 0 and part_out["duplicates"] == 50
    assert part_out["users_existing"] == 1, part_out
    assert b2.counts("acme", "load") == (0, 70, 0)
    assert b2.ctl_raw("verify").returncode == 0
    assert b2.stop() == 0

    # Into a stopped databusd: users come back with their hashes.
    shutil.rmtree(os.path.join(data_dir, "store"))
    os.makedirs(os.path.join(data_dir, "store"))
    r = b2.ctl_raw("import", part)
    assert r.returncode == 0, r.stderr
    assert "added 50 passengers" in r.stdout, r.stdout
    assert "user passwd acme alice" in r.stdout, r.stdout
    out = b2.ctl("import", part)
    assert not out["online"] and out["added"] == 0, out


def test_restore_and_compact_under_load(tmp, bus):
    count = 20000
    d = definition("load", [bench_puller(count=count, size=256)], SINK)
    b = bus({"acme": client(d)})
    b.wait_counts("acme", "load", pending=0, done=count, timeout=120)
    b.ctl("backup", tmp / "backup.mdb")

    # A backup that does not verify is refused; nothing changes.
    broken = tmp / "broken.mdb"
    broken.write_bytes(b"not an lmdb file" * 1000)
    r = b.ctl_raw("restore", broken)
    assert r.returncode == 1 and "nothing changed" in r.stderr, r.stderr

    more = definition("more", [bench_puller(count=count, prefix="m",
                                            size=256)], SINK)
    b.stop()
    b = bus({"acme": client(d, more)})
    # Compact while "more" is being pulled and pushed.
    import time
    deadline = time.monotonic() + 60
    while b.definition("acme", "more")["done"] < 1000:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    c = b.ctl("compact", timeout=120)
    assert c["online"] and c["after"] > 0, c
    print("online compact: intake paused %.1f ms" % c["pause_ms"])
    b.wait_counts("acme", "more", pending=0, done=count, timeout=120)
    assert b.ctl_raw("verify").returncode == 0

    r = b.ctl("restore", tmp / "backup.mdb", timeout=120)
    assert r["online"] and os.path.isdir(r["old_store"]), r
    print("restore: intake paused %.1f ms, drain %.1f ms"
          % (r["pause_ms"], r["drain_ms"]))
    assert b.counts("acme", "load") == (0, count, 0)
    assert b.counts("acme", "more") == (0, 0, 0)
    assert b.ctl_raw("verify").returncode == 0
    # What came after the backup is in the old store, kept aside; the
    # bench puller does not offer it again (its counter is in memory).
    assert b.stop() == 0


def _foreign_lmdb(tmp):
    """An LMDB file that is not a Databus store (mdb_load, lmdb-utils)."""
    import subprocess
    dump = tmp / "foreign.txt"
    dump.write_text("VERSION=3\nformat=bytevalue\ntype=btree\n"
                    "HEADER=END\n 6b6579\n 76616c7565\nDATA=END\n")
    out = tmp / "foreign.mdb"
    subprocess.run(["mdb_load", "-n", "-f", str(dump), str(out)],
                   check=True)
    return out


def test_import_lmdb_file(tmp, bus):
    """A hot backup (an LMDB store file) imports as a JSON archive does:
    ids remapped on clash, step states and hashes kept, twice adds
    nothing, a damaged or foreign file is refused with nothing written."""
    d = definition("load", [bench_puller(count=40, prefix="l", size=1024)],
                   SINK)
    b = bus({"acme": client(d, users=USERS)})
    b.wait_counts("acme", "load", pending=0, done=40, timeout=60)
    backup = tmp / "hot.mdb"
    b.ctl("backup", backup)
    data_dir = b.data_dir
    assert b.stop() == 0
    shutil.rmtree(os.path.join(data_dir, "store"))

    d2 = definition("load", [bench_puller(count=15, prefix="z")], SINK)
    b2 = bus({"acme": client(d2)})
    b2.wait_counts("acme", "load", pending=0, done=15, timeout=60)

    # Damaged and foreign files: a clear error, nothing written.
    cut = tmp / "cut.mdb"
    cut.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    garbage = tmp / "garbage.mdb"
    garbage.write_bytes(b"\0not an lmdb file" * 2000)
    for bad, why in ((cut, "cut short"), (garbage, "not an LMDB"),
                     (_foreign_lmdb(tmp), "not a Databus store")):
        r = b2.ctl_raw("import", bad)
        assert r.returncode == 1, (bad, r.stderr)
        assert why in r.stderr and "nothing was imported" in r.stderr, \
            r.stderr
    live = os.path.join(data_dir, "store", "data.mdb")
    r = b2.ctl_raw("import", live)
    assert r.returncode == 1 and "this very store" in r.stderr, r.stderr
    # Another installation's live data file: pages may change under the
    # reader, so it is refused too.
    other = tmp / "other"
    (other / "store").mkdir(parents=True)
    r = subprocess.run([str(CTL), "--data", str(other), "import", live],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "databusd has open" in r.stderr, r.stderr
    assert b2.counts("acme", "load") == (0, 15, 0)

    dry = b2.ctl("import", backup, "--dry-run")
    assert dry["source"] == "lmdb" and dry["added"] == 40, dry
    assert b2.counts("acme", "load") == (0, 15, 0)
    none = b2.ctl("import", backup, "--client", "other")
    assert none["added"] == 0 and none["users_added"] == 0, none

    out = b2.ctl("import", backup)
    assert out["online"] and out["added"] == 40, out
    assert len(out["remapped"]) == 40 and out["users_added"] == 1, out
    assert out["users_locked"] == [], out
    assert b2.counts("acme", "load") == (0, 55, 0)
    p = b2.show("acme", out["remapped"][-1]["to"])
    assert p["external_id"].startswith("l-") and p["state"] == "done"
    assert all(s["state"] == "complete" for s in p["steps"]), p
    assert [a["size"] for a in p["attachments"]] == [1024], p
    assert out["logs_added"] > 0, out
    again = b2.ctl("import", backup)
    assert again["added"] == 0 and again["duplicates"] == 40, again
    assert again["logs_added"] == 0, again
    assert again["logs_duplicates"] == out["logs_added"], again
    assert again["users_existing"] == 1, again
    assert b2.ctl_raw("verify").returncode == 0
    assert b2.stop() == 0

    # Offline, into an empty store: ids kept, the user keeps its hash.
    shutil.rmtree(os.path.join(data_dir, "store"))
    os.makedirs(os.path.join(data_dir, "store"))
    out = b2.ctl("import", backup)
    assert not out["online"] and out["added"] == 40, out
    assert out["remapped"] == [] and out["users_locked"] == [], out
    assert out["logs_added"] > 0, out
    users = b2.ctl("user", "ls", "acme")["items"]
    assert [u["username"] for u in users] == ["alice"], users
    assert b2.ctl_raw("verify").returncode == 0
