"""Worker resource limits from the configuration ("limits" of a definition,
and a default in databus.json) are applied to the worker process
(/proc/PID/limits shows them), and a driver that exceeds one — the null
pusher's "hog" setting uses memory, CPU or descriptors without bound —
ends only its own worker, which databusd restarts; the other worker keeps
its pid and its throughput. Bad limits are a config error (exit 100)."""
import pytest

from conftest import (BUILD, bench_puller, client, definition, pid_alive,
                      run_databusd, wait_for, write_config)

ASAN = "asan" in str(BUILD)


def proc_limits(pid):
    """{name: (soft, hard)} from /proc/PID/limits."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            name = line[:26].strip()
            soft, hard = line[26:].split()[:2]
            out[name] = (soft, hard)
    return out


CASES = {
    # hog kind: (limits, expected last_exit of the hog worker, limit line)
    "memory": ({"memory": "256M"}, ("signal 6",), "Max data size"),
    "cpu": ({"cpu_time": "1s"}, ("signal 24", "signal 9"), "Max cpu time"),
    "files": ({"open_files": 64}, ("signal 6",), "Max open files"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_limit_exceeded_restarts_only_that_worker(tmp, bus, kind):
    if kind == "memory" and ASAN:
        pytest.skip("a memory limit cannot apply under AddressSanitizer "
                    "(workers/worker_limits.c)")
    limits, exits, line = CASES[kind]
    hog = definition("hog", [bench_puller(count=3, prefix="h")],
                     [{"name": "sink", "type": "null", "hog": kind}],
                     limits=limits)
    # Same limits, well-behaved driver: shows the limits in /proc.
    capped = definition("capped", [bench_puller(count=5, prefix="c")],
                        [{"name": "sink", "type": "null"}], limits=limits)
    good = definition("good", [bench_puller(count=2000, prefix="g")],
                      [{"name": "sink", "type": "null"}])
    # The default of databus.json applies where a definition sets none.
    b = bus({"acme": client(good, hog, capped)}, workers=False,
            limits={"open_files": 200})
    b.wait_workers("ready", only={("acme", "good"), ("acme", "capped")})
    b.wait_counts("acme", "good", pending=0, done=2000, dead=0)
    good_pid = b.worker("acme", "good")["pid"]
    assert proc_limits(good_pid)["Max open files"] == ("200", "200")

    # A worker with limits runs with them.
    lim = proc_limits(b.worker("acme", "capped")["pid"])[line]
    want = {"memory": str(256 << 20), "cpu": "1", "files": "64"}[kind]
    assert lim[0] == want, (line, lim)

    # ... and exceeding it ends that worker, which is restarted.
    def restarted():
        w = b.worker("acme", "hog")
        return w.get("restarts", 0) >= 1 and w["last_exit"] in exits and w
    w = wait_for(restarted, 60, "the hog worker ended by its %s limit"
                 % kind)
    print("%s: hog worker last_exit %r, restarts %d"
          % (kind, w["last_exit"], w["restarts"]))

    # The other worker is untouched and keeps working.
    assert b.worker("acme", "good")["pid"] == good_pid
    assert b.alive()
    b.ctl("pause", json_out=False)  # stop the hog's retries
    b.ctl("resume", json_out=False)
    assert b.worker("acme", "good")["pid"] == good_pid
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0


@pytest.mark.parametrize("limits,message", [
    ({"memory": "1M"}, "at least 16MiB"),
    ({"memory": "lots"}, "\"256M\""),
    ({"cpu_time": "0s"}, "at least 1s"),
    ({"open_files": 3}, "from 16 to 1048576"),
    ({"threads": 3}, "unknown key"),
])
def test_bad_limits_are_config_errors(tmp, limits, message):
    d = definition("x", [bench_puller(count=1)],
                   [{"name": "n", "type": "null"}], limits=limits)
    cfg = write_config(tmp, {"acme": client(d)})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, r.stderr
    assert "$.passengers[0].limits" in r.stderr, r.stderr
    assert message in r.stderr, r.stderr
