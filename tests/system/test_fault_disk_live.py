"""A full disk reaches the browser's websocket within 1 s, without the store.

While the disk is full nothing commits, so the stored system event that
says "intake paused" cannot be written; databusd publishes the system state
itself (not stored) and databus-web hands it to every open websocket as an
event frame without "seq" (docs/web.md, "Live updates").

The data dir lives on a small tmpfs (as root; skipped with the reason
otherwise). Intake runs steadily (a drive of 100 passengers every 200 ms)
while a root websocket and a non-root one are open; the test then fills the
tmpfs itself with a filler file, up to ENOSPC. The moment that write fails
is when the disk became full: databusd can only notice it at its next
commit, after it. The latency measured is from that moment to the arrival
of the frame, so it includes the wait for databusd's next write (an upper
bound on the failure-to-frame time); the arrival relative to the moment
databusd's "intake paused" log line was seen (polled every 5 ms) is printed
too. Then the filler is removed: the stored system event of the resume
clears the state, intake resumes, every passenger is done, the root stream
stays gapless, and `databusctl verify` is clean.
"""
import errno
import os
import signal
import threading
import time

import pytest
import websocket

from conftest import (bench_puller, client, deadline, definition,
                      eio_definition, inject_eio,
                      mount_tmpfs, wait_for)
from test_events import Stream, check_contiguous, events, login
from test_web_api import Web

COUNT = 6000


@pytest.fixture
def tmpfs(tmp):
    yield from mount_tmpfs(tmp, "128m")


def fill(path):
    """Write zeros to `path` until the file system is full; returns the
    monotonic time at which the write failed with ENOSPC."""
    chunk = b"\0" * (1 << 20)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                n = os.write(fd, chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                return time.monotonic()
            if n < len(chunk):
                chunk = chunk[n:]
    finally:
        os.close(fd)


def watch_log(b, found, stop):
    """Record in found["log"] when databusd's pause line first appears."""
    while not stop.is_set():
        if "store error, intake paused" in b.stderr():
            found["log"] = time.monotonic()
            return
        time.sleep(0.005)


def is_pause(f):
    d = f.get("data") or {}
    return (f.get("type") == "event" and f.get("resource") == "system" and
            d.get("intake_paused") is True and
            "no space left on device" in (d.get("store_error") or ""))


def is_waiting(f):
    return (is_pause(f) and "waiting for free disk space" in
            f["data"]["store_error"])


def is_resume(f):
    d = f.get("data") or {}
    return (f.get("type") == "event" and f.get("resource") == "system" and
            d.get("intake_paused") is False and d.get("store_error") == "")


def check_delivered_gapless(b, stream, hello, count):
    """All `count` passengers done, and the stored events `stream` got
    gapless since `hello` (unstored system frames have no seq and do not
    count)."""
    b.wait_counts("acme", "load", pending=0, done=count, dead=0,
                  timeout=120)
    stored = [f for f in stream.frames if f["type"] == "event"
              and "seq" in f]
    check_contiguous(stored, hello["seq"])


def test_disk_full_reaches_the_websocket_within_1s(tmp, bus, tmpfs):
    d = definition("load", [bench_puller(count=COUNT, size=4096,
                                         per_drive=100)],
                   [{"name": "sink", "type": "null"}], sync="200ms")
    b = bus({"acme": client(d, users=[{"username": "alice",
                                       "password": "alice-pw-1"}]),
             "root": {"users": [{"username": "admin",
                                 "password": "root-pw-1"}]}},
            data_dir=str(tmpfs / "var"))
    web = Web(b.data_dir)
    filler = tmpfs / "filler"
    stop = threading.Event()
    try:
        token = login(web, "root", "admin", "root-pw-1")
        root = Stream(web, token)
        alice = Stream(web, login(web, "acme", "alice", "alice-pw-1"))
        hello = root.recv()
        assert hello["type"] == "hello", hello
        assert alice.recv()["type"] == "hello"
        wait_for(lambda: b.counts("acme", "load")[1] >= 300, 60,
                 "intake running")
        assert b.counts("acme", "load")[1] < COUNT, "intake ended too soon"

        found = {}
        watcher = threading.Thread(target=watch_log, args=(b, found, stop),
                                   daemon=True)
        watcher.start()
        full_at = fill(filler)
        got = root.until(is_pause, 10, "a system frame saying the disk "
                         "is full")
        latency = time.monotonic() - full_at
        frame = got[-1]
        watcher.join(deadline(5))
        print("root: first system frame (%s) %.3f s after the disk became "
              "full (databusd's log line seen %s s after it): %s"
              % ("stored, seq %d" % frame["seq"] if "seq" in frame
                 else "not stored", latency,
                 "%.3f" % (found["log"] - full_at) if "log" in found
                 else "never", frame["data"]["store_error"]))
        assert frame["client"] == "" and frame["kind"] == "update", frame
        assert latency <= deadline(1.0), \
            "the system frame took %.3f s" % latency

        # A small event may still commit on pages LMDB reuses (that was
        # the stored frame above, if it had a seq); what the probe learns
        # next cannot: the state with its waiting note reaches the socket
        # only without the store.
        note = root.until(is_waiting, 10, "the waiting note")[-1]
        print("root: waiting note %.3f s after the disk became full: %s"
              % (time.monotonic() - full_at, note["data"]["store_error"]))
        assert "seq" not in note, note
        # A non-root user sees system events too.
        af = alice.until(is_waiting, 10, "alice's waiting note")[-1]
        assert "seq" not in af, af

        # Sent again every 250 ms, but handed out only on a change.
        more = []
        t = time.monotonic()
        while time.monotonic() - t < 1.5:
            try:
                more.append(root.recv(0.1))
            except websocket.WebSocketTimeoutException:
                pass
        assert len([f for f in more if is_pause(f)]) <= 2, more
        assert [f for f in events(more) if "seq" in f] == [], more

        # A socket that opens during the pause (with a session from
        # before: a login needs a commit) learns it right after hello.
        late = Stream(web, token)
        assert late.recv()["type"] == "hello"
        lf = late.recv(deadline(2))
        assert is_waiting(lf) and "seq" not in lf, lf
        late.close()

        # Paused: nothing more is seated.
        done = b.counts("acme", "load")[1]
        time.sleep(1.0)
        assert b.counts("acme", "load")[1] == done

        # Space returns: the stored system event of the resume clears it.
        filler.unlink()
        freed_at = time.monotonic()
        got = root.until(lambda f: is_resume(f) and "seq" in f, 20,
                         "the stored system event of the resume")
        print("resume: stored system event %.3f s after space returned"
              % (time.monotonic() - freed_at))
        alice.until(is_resume, 10, "alice's resume event")
        wait_for(lambda: not b.status()["system"]["intake_paused"], 10,
                 "intake resumed")
        check_delivered_gapless(b, root, hello, COUNT)
        assert [f for f in root.frames if f["type"] == "event" and
                "seq" not in f and f["resource"] != "system"] == []
        root.close()
        alice.close()
        assert b.ctl_raw("verify").returncode == 0
    finally:
        stop.set()
        if filler.exists():
            filler.unlink()
        web.stop()
    assert b.stop() == 0


def first_injected(path):
    """The wall-clock time (strace -ttt) of the first fdatasync that strace
    made fail, or None."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if "fdatasync(" in line and "INJECTED" in line:
            return float(line.split()[0])
    return None


def test_eio_reaches_the_websocket_without_the_store(tmp, bus):
    """Every fdatasync fails (strace fault injection): not even the small
    "intake paused" event commits, so the frame that says it can only be
    the unstored one. Measured from the first failed fdatasync (strace's
    own timestamp) to the frame's arrival, both wall-clock."""
    count = 3000
    b = bus({"acme": client(eio_definition(count)),
             "root": {"users": [{"username": "admin",
                                 "password": "root-pw-1"}]}})
    web = Web(b.data_dir)
    trace = tmp / "strace.out"
    tr = None
    try:
        s = Stream(web, login(web, "root", "admin", "root-pw-1"))
        hello = s.recv()
        assert hello["type"] == "hello"
        wait_for(lambda: b.counts("acme", "load")[1] > 0, 30,
                 "intake running")
        tr = inject_eio(b.proc.pid, trace, timestamps=True)

        def eio_pause(f):
            d = f.get("data") or {}
            return (f.get("type") == "event" and
                    f.get("resource") == "system" and
                    d.get("intake_paused") is True and
                    "input/output error" in (d.get("store_error") or ""))

        frame = s.until(eio_pause, 30, "a system frame saying EIO")[-1]
        arrived = time.time()
        failed = wait_for(lambda: first_injected(trace), 5,
                          "strace's record of the first failed fdatasync")
        print("system frame %.3f s after the first failed fdatasync: %s"
              % (arrived - failed, frame["data"]["store_error"]))
        assert "seq" not in frame, frame
        assert arrived - failed <= deadline(1.0)
        done = b.counts("acme", "load")[1]
        time.sleep(1.0)
        assert b.counts("acme", "load")[1] == done
    finally:
        if tr is not None:
            tr.send_signal(signal.SIGINT)  # strace detaches
            tr.wait(deadline(10))
    try:
        s.until(lambda f: is_resume(f) and "seq" in f, 20,
                "the stored system event of the resume")
        check_delivered_gapless(b, s, hello, count)
        s.close()
        assert b.ctl_raw("verify").returncode == 0
    finally:
        web.stop()
    assert b.stop() == 0


def test_a_slow_socket_learns_of_the_pause_before_its_backlog(
        tmp, bus, tmpfs):
    """A browser seconds behind on passengers' events (its queue past the
    budget, catching up from the store) still gets the unstored pause
    frame at once: it jumps the queue, stored events follow it. Once it
    has caught up, its last system frame is the newest state (the
    resume), not an older stored one replayed after it."""
    count = 24000
    d = definition("load", [bench_puller(count=count, size=16,
                                         per_drive=4000)],
                   [{"name": "sink", "type": "null"}], sync="200ms")
    b = bus({"acme": client(d),
             "root": {"users": [{"username": "admin",
                                 "password": "root-pw-1"}]}},
            data_dir=str(tmpfs / "var"))
    web = Web(b.data_dir)
    filler = tmpfs / "filler"
    try:
        token = login(web, "root", "admin", "root-pw-1")
        # A small receive buffer, and it reads nothing after hello until
        # the pause: megabytes of events wait for it.
        slow = Stream(web, token, rcvbuf=4096)
        hello = slow.recv()
        assert hello["type"] == "hello", hello
        wait_for(lambda: b.counts("acme", "load")[1] >= 16000, 120,
                 "intake running")
        assert b.counts("acme", "load")[1] < count, "intake ended too soon"
        fill(filler)
        wait_for(lambda: b.status()["system"]["intake_paused"], 10,
                 "intake paused")
        got = slow.until(lambda f: is_pause(f) and "seq" not in f, 60,
                         "the unstored pause frame")
        behind = [f for f in events(got) if "seq" in f]
        after = []
        t = time.monotonic()
        while time.monotonic() - t < deadline(5):
            try:
                f = slow.recv(0.5)
            except websocket.WebSocketTimeoutException:
                break
            after.append(f)
        stored_after = [f for f in events(after) if "seq" in f]
        print("slow socket: %d stored frames before the pause frame, %d "
              "after it" % (len(behind), len(stored_after)))
        assert stored_after, "the pause frame came after the whole backlog"
        assert max(f["seq"] for f in stored_after) > \
            max([f["seq"] for f in behind] or [0])

        filler.unlink()
        wait_for(lambda: not b.status()["system"]["intake_paused"], 20,
                 "intake resumed")
        slow.until(lambda f: is_resume(f), 60, "the resume")
        b.wait_counts("acme", "load", pending=0, done=count, dead=0,
                      timeout=180)
        # Drain what it still replays (drives every 200 ms keep adding
        # events, so for a while): it ends on the newest state.
        t = time.monotonic()
        while time.monotonic() - t < deadline(5):
            try:
                slow.recv(0.5)
            except websocket.WebSocketTimeoutException:
                pass
        system = [f for f in slow.frames if f.get("type") == "event" and
                  f.get("resource") == "system"]
        assert is_resume(system[-1]), system[-3:]
        slow.close()
        assert b.ctl_raw("verify").returncode == 0
    finally:
        if filler.exists():
            filler.unlink()
        web.stop()
    assert b.stop() == 0
