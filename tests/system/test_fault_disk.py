"""Disk faults: a full disk, I/O errors, and a store that reaches its
maximum size.

- Disk full: the data dir lives on a small tmpfs (mount -t tmpfs, as
  root; skipped with the reason otherwise). Intake fills it: databusd logs
  "store error, intake paused: ... no space left on device", and
  `databusctl status` shows the same within 1 s; nothing is lost; when the
  tmpfs is enlarged (mount -o remount,size=...) the next probe commits and
  intake resumes by itself, and every passenger is done.
- EIO: strace attached to the running databusd makes every fdatasync fail
  with EIO (-e inject=fdatasync:error=EIO): intake pauses with
  "input/output error" in log and status; when strace detaches, intake
  resumes and nothing is lost.
- A sync export on a full disk answers the store-error status (503
  "store" with what failed), not 500; once space returns it works.
- MAP_FULL: with store.max_size at the initial map size the map cannot
  grow; intake pauses with "store is full" and nothing committed is lost;
  a databusd restarted with a larger max_size finishes the work.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (bench_puller, client, deadline, definition,
                      eio_definition, inject_eio,
                      mount_tmpfs, wait_for)
from test_fault_disk_live import fill
from test_web_api import Web
from test_web_export import sync_export


def paused_status(b):
    st = b.status()["system"]
    return st["intake_paused"] and st["store_error"] and st


def log_line(b, text):
    for line in b.stderr().splitlines():
        if "intake paused" in line and text in line:
            return line
    return None


@pytest.fixture
def tmpfs(tmp):
    yield from mount_tmpfs(tmp, "16m")


def test_disk_full_pauses_and_resumes(tmp, bus, tmpfs):
    count, size = 300, 128 * 1024  # ~38 MiB of attachments > 16 MiB
    d = definition("big", [bench_puller(count=count, size=size)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d)}, data_dir=str(tmpfs / "var"),
            workers=False)
    try:
        line = wait_for(lambda: log_line(b, "no space left on device"), 60,
                        "databusd to log the full disk")
    except AssertionError:
        print(b.stderr()[-3000:], b.status())
        raise
    t0 = time.monotonic()
    st = wait_for(lambda: paused_status(b), 1, "status to show the pause")
    shown = time.monotonic() - t0
    print("log: %s\nstatus after %.3f s: %s" % (line, shown,
                                                 st["store_error"]))
    assert "no space left on device" in st["store_error"]
    out = b.ctl("status", json_out=False)
    assert "intake paused" in out and "no space left" in out, out

    # Paused: nothing is seated while the disk is full.
    seated = b.status()["store"]["passengers"]
    time.sleep(1.5)
    assert paused_status(b)
    assert b.status()["store"]["passengers"] == seated

    # Space returns: intake resumes by itself and finishes everything.
    r = subprocess.run(["mount", "-o", "remount,size=256m", str(tmpfs)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not b.status()["system"]["intake_paused"], 10,
             "intake resumed")
    assert "intake resumed" in b.stderr()
    b.ctl("expedite", "acme", "big", json_out=False)
    b.wait_counts("acme", "big", pending=0, done=count, dead=0, timeout=120)
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0


def test_eio_pauses_and_resumes(tmp, bus):
    count = 3000
    b = bus({"acme": client(eio_definition(count))})
    wait_for(lambda: b.counts("acme", "load")[1] > 0, 30, "intake running")
    tr = inject_eio(b.proc.pid)
    try:
        line = wait_for(lambda: log_line(b, "input/output error"), 30,
                        "databusd to log the EIO")
        t0 = time.monotonic()
        st = wait_for(lambda: paused_status(b), 1, "status to show it")
        print("log: %s\nstatus after %.3f s: %s"
              % (line, time.monotonic() - t0, st["store_error"]))
        assert "input/output error" in st["store_error"]
        done = b.counts("acme", "load")[1]
        time.sleep(1.5)
        assert paused_status(b)
        assert b.counts("acme", "load")[1] == done
    finally:
        tr.send_signal(signal.SIGINT)  # strace detaches
        tr.wait(deadline(10))
    wait_for(lambda: not b.status()["system"]["intake_paused"], 10,
             "intake resumed after the EIO stopped")
    b.wait_counts("acme", "load", pending=0, done=count, dead=0,
                  timeout=120)
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0


def test_map_full_pauses_with_clear_error(tmp, bus):
    # The initial map is 256 MiB; max_size equal to it forbids growth.
    count, size = 400, 1024 * 1024
    d = definition("big", [bench_puller(count=count, size=size)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d)}, store={"max_size": "256MiB"},
            workers=False)
    line = wait_for(lambda: log_line(b, "store is full"), 120,
                    "databusd to log MAP_FULL")
    st = wait_for(lambda: paused_status(b), 1, "status to show it")
    print("log: %s\nstatus: %s" % (line, st["store_error"]))
    assert b.status()["store"]["map_size"] <= 256 << 20
    stored = b.status()["store"]["passengers"]
    assert 0 < stored < count
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0

    # A bigger max_size: the work completes, nothing seated was lost.
    b2 = bus({"acme": client(d)}, store={"max_size": "2GiB"})
    b2.wait_counts("acme", "big", pending=0, done=count, dead=0,
                   timeout=180)
    assert b2.ctl_raw("verify").returncode == 0
    assert os.path.exists(b2.data_dir)
    assert b2.stop() == 0


def test_sync_export_on_a_full_disk_is_a_store_error(tmp, bus, tmpfs):
    """A sync export that cannot write its file for a full data dir
    answers the documented store error (503 "store", Retry-After), not
    500 "export_failed"; once space returns it downloads again."""
    d = definition("orders", [bench_puller(count=20, size=4096)],
                   [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d, users=[{"username": "ann",
                                       "password": "ann-pw-1",
                                       "role": "administrator"}])},
            data_dir=str(tmpfs / "var"))
    b.wait_counts("acme", "orders", pending=0, done=20, timeout=30)
    w = Web(b.data_dir)
    filler = tmpfs / "filler"
    try:
        status, doc, token, _ = w.login("acme", "ann", "ann-pw-1")
        assert status == 200 and token, doc
        w.tokens = {"ann": token}
        fill(filler)
        status, hdrs, data = sync_export(w, "ann", {"mode": "sync"})
        err = json.loads(data)["error"]
        assert status == 503, (status, err)
        assert err["code"] == "store", err
        assert "no space left on device" in err["message"].lower(), err
        assert hdrs.get("retry-after"), hdrs
        assert os.listdir(tmpfs / "var" / "exports") == []
        filler.unlink()
        status, _, data = sync_export(w, "ann", {"mode": "sync"})
        assert status == 200, data
        assert len(json.loads(data)["passengers"]) == 20
    finally:
        if filler.exists():
            filler.unlink()
        w.stop()
