"""The `exec` puller, processor and pusher, with the documented examples
(docs/examples/exec/files.py and append.sh) and with programs that crash,
print garbage, exit non-zero, or hang past the timeout (whose whole process
group is killed); stderr ends up in the drive log; config errors."""
import json
import os
import shutil
import sys
from pathlib import Path

from conftest import (REPO, bench_puller, client, definition,
                      procs_mentioning, run_databusd, wait_for, write_config)

EXAMPLES = REPO / "docs" / "examples" / "exec"
PY = sys.executable or "/usr/bin/python3"


def _logs(b):
    return json.dumps([b.ctl("logs", "show", l["client"], l["id"])
                       for l in b.ctl("logs", "ls")["items"]])


def test_examples_pipeline(tmp, bus):
    src, out = tmp / "src", tmp / "out"
    src.mkdir()
    out.mkdir()
    (src / "a.txt").write_text("hello exec world\n")
    (src / "b.txt").write_text("   \n")  # skipped by the processor
    (src / "c.bin").write_text("not listed\n")
    shutil.copy(EXAMPLES / "files.py", tmp / "files.py")
    shutil.copy(EXAMPLES / "append.sh", tmp / "append.sh")
    env = {"SOURCE_DIR": "env:DBS_TEST_SRC", "OUT_DIR": str(out)}
    d = definition(
        "files",
        [{"name": "src", "type": "exec", "command": [PY, "files.py"],
          "env": env}],
        [{"name": "json", "type": "exec", "command": [PY, "files.py"],
          "env": env},
         {"name": "log", "type": "exec", "command": ["./append.sh"],
          "env": {"OUT_FILE": str(tmp / "pushed.jsonl")}}],
        processors=[{"name": "upper", "type": "exec",
                     "command": [PY, "files.py"]}])
    b = bus({"acme": client(d)}, env={"DBS_TEST_SRC": str(src)})
    b.wait_counts("acme", "files", pending=0, done=2, dead=0)
    # Notified: seated files moved away; others untouched.
    assert sorted(os.listdir(src / ".done")) == ["a.txt", "b.txt"]
    assert (src / "c.bin").exists()
    items = {p["external_id"]: p for p in b.queue("--client", "acme")}
    a = b.show("acme", items["a.txt"]["id"])
    assert "words" in json.dumps(a["metadata"])
    # Pushed by Python (one file per key) and by shell (one line per key).
    written = sorted(os.listdir(out))
    assert written == ["%s_json.json" % items["a.txt"]["id"]]
    doc = json.loads((out / written[0]).read_text())
    assert doc["attachments"][0]["text"] == "HELLO EXEC WORLD\n"
    assert doc["metadata"]["words"] == "3"
    lines = (tmp / "pushed.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["idempotency_key"] == \
        "%s:log" % items["a.txt"]["id"]
    # b.txt was skipped: no push at all.
    steps = {s["name"]: s["state"]
             for s in b.show("acme", items["b.txt"]["id"])["steps"]}
    assert steps["json"] == "skipped" and steps["log"] == "skipped", steps
    logs = _logs(b)
    assert "listed" in logs and "pushed %s:log" % items["a.txt"]["id"] \
        in logs
    # Peek runs the program with op "peek".
    (src / "d.txt").write_text("later\n")
    peek = b.ctl("peek", "acme", "files")
    assert [i["external_id"] for i in
            (peek["items"] if isinstance(peek, dict) else peek)] == ["d.txt"]
    assert (src / "d.txt").exists()


def _bad(tmp, bus, script, **pusher):
    (tmp / "bad.py").write_text(script)
    p = {"name": "bad", "type": "exec", "command": [PY, "bad.py"]}
    p.update(pusher)
    d = definition("x", [bench_puller(count=1)], [p],
                   retry={"max_attempts": 2, "backoff": "100ms",
                          "max_backoff": "200ms"})
    b = bus({"acme": client(d)})
    b.wait_counts("acme", "x", pending=0, done=0, dead=1, timeout=60)
    (p,) = b.queue("--client", "acme")
    return b, p


def test_crash(tmp, bus):
    b, p = _bad(tmp, bus, "import os, sys\nsys.stdin.readline()\n"
                "print('about to crash', file=sys.stderr, flush=True)\n"
                "os.abort()\n")
    assert p["attempts"] == 2
    assert "killed by signal 6" in p["last_error"], p
    assert "about to crash" in _logs(b)


def test_garbage(tmp, bus):
    b, p = _bad(tmp, bus, "print('this is not json')\n")
    assert "output line 1 is not a JSON object" in p["last_error"], p
    assert "this is not json" in p["last_error"], p


def test_no_result_and_exit_status(tmp, bus):
    b, p = _bad(tmp, bus, "import sys\n"
                "print('{\"type\": \"log\", \"message\": \"hi\"}')\n"
                "sys.exit(3)\n")
    assert "exited with status 3" in p["last_error"], p


def test_fail_status_is_permanent(tmp, bus):
    (tmp / "no.py").write_text(
        "import json\nprint(json.dumps({'type': 'result', "
        "'status': 'fail', 'error': 'refused by the target'}))\n")
    d = definition("x", [bench_puller(count=1)],
                   [{"name": "no", "type": "exec",
                     "command": [PY, "no.py"]}])
    b = bus({"acme": client(d)})
    b.wait_counts("acme", "x", pending=0, done=0, dead=1)
    (p,) = b.queue("--client", "acme")
    assert p["attempts"] == 1 and "refused by the target" in p["last_error"]


def test_timeout_kills_process_group(tmp, bus):
    marker = tmp / "grandchild-marker"
    script = ("import subprocess, sys, time\n"
              "subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(120)', %r])\n"
              "time.sleep(120)\n" % str(marker))
    b, p = _bad(tmp, bus, script, timeout_ms=500)
    assert "timed out after 500 ms" in p["last_error"], p
    # The program and what it started are gone.
    wait_for(lambda: not procs_mentioning(str(marker)), 10,
             "the process group to be killed")


def test_exec_config_errors(tmp):
    (tmp / "notexec.sh").write_text("#!/bin/sh\n")
    cases = [({}, "command"),
             ({"command": []}, "command"),
             ({"command": "ls"}, "command"),
             ({"command": ["./no-such-program"]}, "no-such-program"),
             ({"command": ["./notexec.sh"]}, "notexec.sh"),
             ({"command": ["ls"], "env": {"1X": "y"}}, "env"),
             ({"command": ["ls"], "env": {"X": "env:DBS_NOPE_NOT_SET"}},
              "DBS_NOPE_NOT_SET"),
             ({"command": ["ls"], "notify": True}, "notify")]
    for settings, word in cases:
        p = {"name": "ex", "type": "exec"}
        p.update(settings)
        d = definition("x", [bench_puller(count=1)], [p])
        cfg = write_config(tmp, {"acme": client(d)})
        r = run_databusd(["--config", cfg], cwd=tmp)
        assert r.returncode == 100, (settings, r.stderr)
        assert "$.passengers[0].pushers[0]" in r.stderr, r.stderr
        assert word in r.stderr, (word, r.stderr)
