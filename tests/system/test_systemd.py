"""databusd under systemd, without systemd: a fake $NOTIFY_SOCKET (a
datagram socket this test binds, file path or abstract '@' name) receives
what databusd tells the service manager, with the sender's credentials;
and log lines carry syslog priority prefixes exactly when $JOURNAL_STREAM
names databusd's stderr.

What must hold (docs/databusd.md, "Running under systemd"):
- READY=1 comes once every worker and databus-web are up (at that moment
  the web accepts connections and every worker is ready), with a STATUS
  line;
- STATUS follows pause and resume; RELOADING=1 ... READY=1 wraps every
  reload (databusctl reload and SIGHUP); STOPPING=1 starts the shutdown;
- WATCHDOG=1 comes every half $WATCHDOG_USEC, and never for another pid's
  $WATCHDOG_PID;
- only databusd itself speaks (SCM_CREDENTIALS), and its children do not
  inherit $NOTIFY_SOCKET.
"""
import array
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

from conftest import (DATABUSD, bench_puller, client, definition, deadline,
                      free_port, wait_for, write_config)


class FakeManager:
    """The service manager's end of $NOTIFY_SOCKET: records every datagram
    as (monotonic time, sender pid, {key: value}) in arrival order."""

    def __init__(self, address, on_ready=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        bind = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind)
        self.address = address
        self.msgs = []
        self.on_ready = on_ready
        self.ready_check = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        creds = struct.calcsize("3i")
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(
                    4096, socket.CMSG_SPACE(creds))
            except OSError:
                return
            pid = None
            for level, kind, payload in anc:
                if (level == socket.SOL_SOCKET
                        and kind == socket.SCM_CREDENTIALS):
                    pid = struct.unpack("3i", payload[:creds])[0]
            fields = dict(line.split("=", 1)
                          for line in data.decode().split("\n") if line)
            if ("READY" in fields and self.on_ready is not None
                    and self.ready_check is None):
                # What READY=1 promises must hold when it arrives.
                try:
                    self.ready_check = self.on_ready()
                except Exception as e:  # noqa: BLE001 - reported by the test
                    self.ready_check = repr(e)
            with self.cond:
                self.msgs.append((time.monotonic(), pid, fields))
                self.cond.notify_all()

    def wait(self, pred, what, start=0, timeout=20):
        """The first message but the pings, from the start'th on, that
        satisfies pred."""
        return wait_for(lambda: next(
            (f for f in self.events()[start:] if pred(f)), None),
            timeout, what)

    def events(self):
        """Every message but the watchdog pings, as dicts."""
        return [f for _, _, f in self.msgs if "WATCHDOG" not in f]

    def close(self):
        self.sock.close()


def _readyz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port,
                                    timeout=2) as r:
            return r.status
    except Exception as e:  # noqa: BLE001 - any failure is "not ready"
        return repr(e)


def _defs():
    return {"acme": client(
        definition("one", [bench_puller(count=5)],
                   [{"name": "sink", "type": "null"}]),
        definition("two", [bench_puller(count=5, prefix="t")],
                   [{"name": "sink", "type": "null"}]))}


def test_notify_sequence(tmp, daemons):
    port = free_port()
    cfg = write_config(tmp, _defs(), web={"enabled": True,
                                          "listen": "127.0.0.1:%d" % port})
    box = {}

    def on_ready():
        # Called by the receiver as READY=1 arrives: the web accepts
        # connections and says it is ready, every worker is ready.
        st = box["d"].ctl("status")
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        return (st["system"]["web"]["state"],
                sorted(x["worker"]["state"] for x in st["definitions"]))

    fm = FakeManager(str(tmp / "notify"), on_ready=on_ready)
    try:
        d = daemons(["--config", cfg], ready=False,
                    env={"NOTIFY_SOCKET": fm.address,
                         "WATCHDOG_USEC": "1000000"})
        box["d"] = d
        d.wait_ready(workers=False)
        fm.wait(lambda f: f.get("READY") == "1", "READY=1")
        assert fm.ready_check[0] == "ready", fm.ready_check
        wait_for(lambda: _readyz(port) == 200, 5, "/readyz 200")
        assert all(s in ("ready", "busy") for s in fm.ready_check[1]), \
            fm.ready_check
        ready = next(f for f in fm.events() if "READY" in f)
        assert ready["STATUS"].startswith("ready: 2 of 2 worker(s) up, "
                                          "0 failed; web http://"), ready

        # The watchdog: every 500 ms (half of 1 s), well within the 1 s.
        first = len([m for m in fm.msgs if "WATCHDOG" in m[2]])
        wait_for(lambda: len([m for m in fm.msgs if "WATCHDOG" in m[2]])
                 >= first + 4, 5, "four more WATCHDOG=1")
        pings = [t for t, _, f in fm.msgs if "WATCHDOG" in f]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < deadline(1.0), gaps
        assert sum(gaps) / len(gaps) > 0.4, gaps

        n = len(fm.events())
        d.ctl("pause", json_out=False)
        fm.wait(lambda f: f.get("STATUS", "").startswith("paused: "),
                "STATUS=paused", start=n)
        n = len(fm.events())
        d.ctl("resume", json_out=False)
        fm.wait(lambda f: f.get("STATUS", "").startswith("ready: "),
                "STATUS=ready after resume", start=n)

        for how in ("ctl", "sighup"):
            n = len(fm.events())
            if how == "ctl":
                d.ctl("reload", json_out=False)
            else:
                d.signal(signal.SIGHUP)
            wait_for(lambda: any("READY" in f for f in fm.events()[n:]), 10,
                     "READY=1 after the %s reload" % how)
            after = fm.events()[n:]
            kinds = [k for f in after for k in ("RELOADING", "READY")
                     if k in f]
            assert kinds[:2] == ["RELOADING", "READY"], after

        pid = d.proc.pid
        for w in d.ctl("status")["definitions"]:
            with open("/proc/%d/environ" % w["worker"]["pid"], "rb") as f:
                env = f.read().split(b"\0")
            assert not any(e.startswith((b"NOTIFY_SOCKET=",
                                         b"WATCHDOG_USEC=")) for e in env)
        assert d.stop() == 0
        events = fm.events()
        stop = next(i for i, f in enumerate(events) if "STOPPING" in f)
        assert all(f["STATUS"].startswith("shutting down: ")
                   and "READY" not in f for f in events[stop:]), events
        assert events[-1]["STATUS"] == "shutting down: 0 process(es) left"
        # Only databusd spoke, and READY=1 came once before any reload.
        assert {p for _, p, _ in fm.msgs} == {pid}
        assert [k for f in events for k in ("READY", "RELOADING")
                if k in f][:2] == ["READY", "RELOADING"]
    finally:
        fm.close()


def test_abstract_socket_and_foreign_watchdog(tmp, daemons):
    name = "@databus-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    fm = FakeManager(name)
    try:
        cfg = write_config(tmp, {"acme": client(
            definition("one", [bench_puller(count=1)],
                       [{"name": "sink", "type": "null"}]))})
        d = daemons(["--config", cfg],
                    env={"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "100000",
                         "WATCHDOG_PID": "1"})
        fm.wait(lambda f: f.get("READY") == "1", "READY=1 on " + name)
        assert fm.events()[-1]["STATUS"].startswith(
            "ready: 1 of 1 worker(s) up, 0 failed"), fm.events()
        time.sleep(0.3)  # an observation window: no ping may come
        assert not [m for m in fm.msgs if "WATCHDOG" in m[2]], fm.msgs
        assert d.stop() == 0
        assert any("STOPPING" in f for f in fm.events()), fm.events()
    finally:
        fm.close()


def _run_with_stderr(tmp, args, journal):
    """databusd with stderr in a file; $JOURNAL_STREAM names that file
    (journal=True) or another one. Returns (Popen, path of stderr)."""
    err = tmp / ("stderr-%s" % journal)
    f = open(err, "w")
    st = os.fstat(f.fileno() if journal else os.open("/dev/null",
                                                     os.O_RDONLY))
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    p = subprocess.Popen([str(DATABUSD)] + [str(a) for a in args],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=f, env=env, text=True, cwd="/")
    f.close()
    return p, err


def test_journal_priority_prefixes(tmp):
    # A configuration error: one line at priority 3 (error).
    bad = tmp / "bad.json"
    bad.write_text("{}")  # no clients/ next to it
    for journal in (True, False):
        p, err = _run_with_stderr(tmp, ["--config", bad], journal)
        assert p.wait(deadline(20)) == 100
        text = err.read_text()
        assert text.startswith("<3>databusd: ") == journal, text
        assert "clients_dir" in text, text

    # A running databusd: info lines "<6>", the open_access warning "<4>".
    cfg = write_config(tmp / "ok", {"acme": dict(
        client(definition("one", [bench_puller(count=1)],
                          [{"name": "sink", "type": "null"}])),
        open_access=True)})
    for journal in (True, False):
        p, err = _run_with_stderr(tmp, ["--config", cfg], journal)
        wait_for(lambda: "databusd: ready" in p.stdout.readline(), 20,
                 "databusd: ready")
        p.send_signal(signal.SIGTERM)
        assert p.wait(deadline(20)) == 0
        lines = err.read_text().splitlines()
        assert lines, "no log lines"
        if journal:
            assert all(ln[:3] in ("<6>", "<4>", "<3>") for ln in lines), lines
            assert any(ln.startswith("<4>") and "open_access" in ln
                       for ln in lines), lines
            assert lines[-1].startswith("<6>") and "stopped" in lines[-1]
        else:
            assert not any(ln.startswith("<") for ln in lines), lines
