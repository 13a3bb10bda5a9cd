"""Fixtures and helpers of the Databus system tests.

Every test gets its own short temp dir under /tmp (nng ipc:// paths must fit
in a unix socket address), writes a configuration there, starts the real
`databusd` from $DATABUS_BUILD (default build/) and drives it with
`databusctl`. Nothing sleeps to synchronise: helpers poll with deadlines
(`wait_for`). At teardown every databusd is stopped and the test fails if
any process whose command line mentions the temp dir is still alive (a
leaked databus-worker).

Deadlines are multiplied by $DATABUS_TIMEOUT_SCALE (default 1, or 3 for a
build dir containing "asan").
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("DATABUS_BUILD", "build"))
BUILD = _build if _build.is_absolute() else REPO / _build
DATABUSD = BUILD / "databusd"
WORKER = BUILD / "databus-worker"
CTL = BUILD / "databusctl"
FAKE_WORKER = BUILD / "tests" / "tools" / "fake_worker"

SCALE = float(os.environ.get("DATABUS_TIMEOUT_SCALE",
                             "3" if "asan" in str(BUILD) else "1"))


def deadline(seconds):
    return seconds * SCALE


# ------------------------------------------------------------------ polling

class Timeout(AssertionError):
    pass


def wait_for(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns a truthy value (returned) or fail after
    timeout seconds (scaled) naming `what` and the last value seen."""
    end = time.monotonic() + deadline(timeout)
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > end:
            raise Timeout("timed out after %.1fs waiting for %s (last: %r)"
                          % (deadline(timeout), what, last))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


def hold_for(pred, seconds, what, interval=0.05):
    """Assert pred() stays truthy for `seconds` (an observation window for
    things that must NOT happen, e.g. a drive while paused)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        assert v, "%s stopped holding (value %r)" % (what, v)
        time.sleep(interval)


# ---------------------------------------------------------------- processes

def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def procs_mentioning(text):
    """[(pid, cmdline)] of live processes whose cmdline contains text."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8",
                                                           "replace")
        except OSError:
            continue
        if text in cmd and pid_alive(int(d)):
            found.append((int(d), cmd.strip()))
    return found


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------- config

def bench_puller(name="bench", count=100, per_drive=0, prefix="b", size=64):
    return {"name": name, "type": "bench", "count": count, "size": size,
            "prefix": prefix, "per_drive": per_drive}


def definition(name, pullers, pushers, processors=(), sync="1440",
               retry=None, **extra):
    """A passenger definition. sync_frequency defaults to a day, so only
    expedite (and the first drive at start) makes it drive."""
    d = {"name": name,
         "sync_frequency": int(sync) if str(sync).isdigit() else sync,
         "queue_life_span": 1,
         "pullers": list(pullers),
         "processors": list(processors),
         "pushers": list(pushers)}
    if retry is not None:
        d["retry"] = retry
    d.update(extra)
    return d


def client(*defs, users=(), log_life_span=1):
    return {"log_life_span": log_life_span, "passengers": list(defs),
            "users": list(users)}


def write_json(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".%s.tmp" % path.name)
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def write_config(root, clients, **top):
    """root/databus.json and root/clients/<name>.json; returns the path of
    databus.json."""
    root = Path(root)
    cfg = {"data_dir": "var", "system_alias": "TEST",
           "web": {"enabled": False}, "clients_dir": "clients",
           "drive_timeout": "60s", "shutdown_timeout": "10s"}
    cfg.update(top)
    (root / "clients").mkdir(parents=True, exist_ok=True)
    for name, c in clients.items():
        write_json(root / "clients" / ("%s.json" % name), c)
    write_json(root / "databus.json", cfg)
    return root / "databus.json"


# ------------------------------------------------------------------ daemon

class CtlError(AssertionError):
    pass


class Databus:
    """One databusd process and a databusctl bound to its data dir. It runs
    in / so that relative paths in the config must be resolved against the
    config file's folder, not the working directory."""

    def __init__(self, root, args, env=None, wrap=()):
        self.root = Path(root)
        # `wrap`: a command that ends by exec'ing its arguments (so that
        # the process started is databusd itself), e.g. an unshare.
        self.args = list(wrap) + [str(DATABUSD)] + [str(a) for a in args]
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.stdout_closed = False
        self.data_dir = None
        self.control = None
        self.stderr_path = self.root / ("databusd-%d.stderr"
                                        % int(time.time() * 1000))
        self.returncode = None

    # -- life cycle

    def start(self):
        self.stderr_file = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr_file, cwd="/", env=self.env, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        return self

    def _read_stdout(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.stdout_closed = True
            self.cond.notify_all()

    def stderr(self):
        self.stderr_file.flush()
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_line(self, prefix, timeout=10):
        end = time.monotonic() + deadline(timeout)
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                if self.stdout_closed or self.proc.poll() is not None:
                    # give the reader a moment to drain what is left
                    if not self.stdout_closed:
                        self.cond.wait(0.2)
                        continue
                    raise AssertionError(
                        "databusd exited (%r) before printing %r\nstdout:"
                        "\n%s\nstderr:\n%s" % (self.proc.poll(), prefix,
                                               "\n".join(self.lines),
                                               self.stderr()))
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout("no %r line from databusd in %.1fs; "
                                  "stdout: %r stderr: %s"
                                  % (prefix, deadline(timeout), self.lines,
                                     self.stderr()))
                self.cond.wait(min(left, 0.5))

    def wait_ready(self, timeout=20, workers=True):
        line = self.wait_line("databusd: data dir ", timeout)
        self.data_dir = line[len("databusd: data dir "):].strip()
        assert os.path.isabs(self.data_dir), line
        line = self.wait_line("databusd: control ", timeout)
        self.control = line[len("databusd: control "):].strip()
        assert self.control.startswith("ipc://"), line
        self.wait_line("databusd: ready", timeout)
        if workers:
            self.wait_workers("ready", timeout=timeout)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=30):
        try:
            self.returncode = self.proc.wait(deadline(timeout))
        except subprocess.TimeoutExpired:
            raise Timeout("databusd pid %d did not exit within %.1fs"
                          % (self.proc.pid, deadline(timeout)))
        self.stderr_file.flush()
        return self.returncode

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, how="term", timeout=40):
        """Stop cleanly and return the exit status."""
        if not self.alive():
            return self.proc.wait()
        if how == "ctl":
            self.ctl("shutdown", json_out=False)
        elif how == "int":
            self.signal(signal.SIGINT)
        else:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    # -- databusctl

    def ctl_raw(self, *args, input=None, timeout=30, json_out=False):
        cmd = [str(CTL), "--data", self.data_dir]
        if json_out:
            cmd.append("--json")
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, input=input, capture_output=True,
                              text=True, timeout=deadline(timeout))

    def ctl(self, *args, input=None, timeout=30, json_out=True, ok=True):
        """Run databusctl VERB...; parse JSON output when json_out. With
        ok=True a non-zero exit fails the test; otherwise the
        CompletedProcess is returned untouched."""
        r = self.ctl_raw(*args, input=input, timeout=timeout,
                         json_out=json_out)
        if not ok:
            return r
        if r.returncode != 0:
            raise CtlError("databusctl %s: exit %d\nstdout: %s\nstderr: %s"
                           % (" ".join(map(str, args)), r.returncode,
                              r.stdout, r.stderr))
        if not json_out:
            return r.stdout
        out = r.stdout.strip()
        if not out:
            return None
        try:
            return json.loads(out)
        except ValueError as e:
            raise CtlError("databusctl --json %s: not JSON (%s): %r"
                           % (" ".join(map(str, args)), e, out[:2000]))

    # -- status views

    def status(self):
        return self.ctl("status")

    def defs(self):
        return {(d["client"], d["name"]): d
                for d in self.status()["definitions"]}

    def definition(self, client, name):
        d = self.defs().get((client, name))
        assert d is not None, "no definition %s/%s in status" % (client,
                                                                  name)
        return d

    def worker(self, client, name):
        return self.definition(client, name)["worker"]

    def wait_workers(self, state="ready", timeout=20, only=None):
        def check():
            ds = self.status()["definitions"]
            if only is not None:
                ds = [d for d in ds if (d["client"], d["name"]) in only]
            states = {(d["client"], d["name"]): d["worker"].get("state")
                      for d in ds}
            return states if all(s in (state, "busy") if state == "ready"
                                 else s == state
                                 for s in states.values()) else None
        return wait_for(check, timeout, "workers %s" % state)

    def counts(self, client, name):
        d = self.definition(client, name)
        return (d.get("pending", 0), d.get("done", 0), d.get("dead", 0))

    def wait_counts(self, client, name, pending=None, done=None, dead=None,
                    timeout=30):
        want = (pending, done, dead)
        seen = [None]

        def check():
            c = seen[0] = self.counts(client, name)
            return c if all(w is None or w == g
                            for w, g in zip(want, c)) else None
        try:
            return wait_for(check, timeout,
                            "%s/%s (pending, done, dead) == %r"
                            % (client, name, want))
        except Timeout as e:
            raise Timeout("%s; last counts %r" % (e, seen[0])) from None

    def drive(self, client, name, timeout=30):
        """Expedite one definition and wait until a drive that started
        after the request has finished."""
        before = self.definition(client, name).get("last_run")
        self.ctl("expedite", client, name, json_out=False)

        def done():
            d = self.definition(client, name)
            return (d.get("last_run") != before and not d.get("driving")
                    and d)
        return wait_for(done, timeout, "a drive of %s/%s" % (client, name))

    def queue(self, *filters, limit=None):
        """Every passenger matching `queue ls` filters (follows cursors)."""
        items = []
        cursor = None
        for _ in range(10000):
            args = ["queue", "ls"] + list(filters)
            if limit is not None:
                args += ["--limit", limit]
            if cursor:
                args += ["--cursor", cursor]
            r = self.ctl(*args)
            items += r["items"]
            cursor = r.get("next_cursor")
            if not cursor:
                return items
        raise AssertionError("queue ls does not end")

    def show(self, client, pid):
        return self.ctl("queue", "show", client, pid)


# ----------------------------------------------------------------- fixtures

def _check_binaries():
    missing = [str(p) for p in (DATABUSD, WORKER, CTL) if not p.exists()]
    if missing:
        pytest.fail("binaries missing (run ninja): %s" % ", ".join(missing))


@pytest.fixture
def tmp():
    """A short temp dir, removed after the test unless $DBS_KEEP is set."""
    d = Path(tempfile.mkdtemp(prefix="dbs-", dir="/tmp"))
    yield d
    if not os.environ.get("DBS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def mount_tmpfs(tmp, size):
    """A tmpfs of `size` (e.g. "16m") mounted on tmp/mnt, for the disk
    fault tests; a generator for a fixture to yield from (it skips the test
    when it cannot mount, which needs root, and unmounts afterwards)."""
    mnt = tmp / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                        "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): %s"
                    % r.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def eio_definition(count):
    """The load the EIO tests run while every fdatasync fails: `count`
    1 KiB passengers, 100 a drive, into a null sink, synced every 200 ms."""
    return definition("load", [bench_puller(count=count, size=1024,
                                            per_drive=100)],
                      [{"name": "sink", "type": "null"}], sync="200ms")


def inject_eio(pid, out="/dev/null", timestamps=False):
    """strace attached to `pid`, making every fdatasync fail with EIO
    (skips the test when strace is missing). SIGINT detaches it."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (./setup installs it)")
    cmd = [strace] + (["-ttt"] if timestamps else [])
    cmd += ["-o", str(out), "-p", str(pid), "-e", "trace=fdatasync",
            "-e", "inject=fdatasync:error=EIO"]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


@pytest.fixture
def daemons(tmp, request):
    """Factory of databusd processes; all are stopped at teardown and the
    test fails if any process still mentions the temp dir. A failing test's
    report ends with the last lines each databusd wrote to stderr."""
    _check_binaries()
    started = []
    request.node._databus_daemons = started

    def spawn(args, env=None, ready=True, workers=True, root=None, wrap=()):
        d = Databus(root or tmp, args, env=env, wrap=wrap).start()
        started.append(d)
        if ready:
            d.wait_ready(workers=workers)
        return d

    yield spawn

    problems = []
    for d in started:
        if d.alive():
            d.signal(signal.SIGTERM)
            try:
                d.proc.wait(deadline(40))
            except subprocess.TimeoutExpired:
                problems.append("databusd pid %d ignored SIGTERM for %ss"
                                % (d.proc.pid, deadline(40)))
                d.kill()
        d.stderr_file.close()
    try:
        wait_for(lambda: not procs_mentioning(str(tmp)), 10,
                 "no process left mentioning %s" % tmp)
    except Timeout:
        left = procs_mentioning(str(tmp))
        problems.append("processes left behind: %r" % left)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert not problems, "; ".join(problems)


STDERR_TAIL_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, append the tail of every databusd's stderr to the
    report: CI shows only the report, and the log says why."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for i, d in enumerate(getattr(item, "_databus_daemons", ())):
        lines = d.stderr().splitlines()[-STDERR_TAIL_LINES:]
        rep.sections.append(("databusd %d stderr (last %d lines)"
                             % (i + 1, len(lines)), "\n".join(lines)))


@pytest.fixture
def bus(tmp, daemons):
    """bus(clients, env=None, **top): write a config into the temp dir,
    start databusd on it and wait until every worker is ready."""
    def start(clients, env=None, workers=True, **top):
        cfg = write_config(tmp, clients, **top)
        return daemons(["--config", cfg], env=env, workers=workers)
    return start


def run_databusd(args, cwd, timeout=20, env=None):
    """Run databusd expecting it to exit by itself (bad config, ...)."""
    _check_binaries()
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([str(DATABUSD)] + [str(a) for a in args],
                          cwd=cwd, capture_output=True, text=True,
                          timeout=deadline(timeout), env=e,
                          stdin=subprocess.DEVNULL)
