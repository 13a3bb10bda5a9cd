"""Bad configuration or usage: databusd exits 100 at once, with a message
on stderr naming the file, the JSON path and the problem, and leaves no
process behind."""
import json

import pytest

from conftest import (bench_puller, client, definition, procs_mentioning,
                      run_databusd, write_config, write_json)


def _good_def(**over):
    d = definition("orders", [bench_puller(count=1)],
                   [{"name": "sink", "type": "null"}])
    d.update(over)
    return d


def _pusher_dir_missing(tmp):
    return client(_good_def(pushers=[{"name": "out", "type": "dir",
                                      "path": str(tmp / "no-such-dir")}]))


# (id, function tmp -> client dict, JSON path expected in the message,
#  words of which at least one must appear)
CLIENT_CASES = [
    ("bad sync_frequency",
     lambda t: client(_good_def(sync_frequency="soon")),
     "$.passengers[0].sync_frequency", ["duration", "minutes"]),
    ("negative sync_frequency",
     lambda t: client(_good_def(sync_frequency=-5)),
     "$.passengers[0].sync_frequency", ["duration", "minutes", "positive",
                                        "negative"]),
    ("unknown key",
     lambda t: client(_good_def(colour="blue")),
     "$.passengers[0].colour", ["unknown", "unexpected"]),
    ("missing pullers",
     lambda t: client({k: v for k, v in _good_def().items()
                       if k != "pullers"}),
     "$.passengers[0].pullers", ["missing", "required"]),
    ("pullers not an array",
     lambda t: client(_good_def(pullers={"name": "x"})),
     "$.passengers[0].pullers", ["array", "list"]),
    ("unknown driver type",
     lambda t: client(_good_def(pullers=[{"name": "p", "type": "nosuch"}])),
     "$.passengers[0].pullers[0].type", ["nosuch", "unknown"]),
    ("dir pusher path missing",
     _pusher_dir_missing,
     "$.passengers[0].pushers[0]", ["no-such-dir", "exist", "directory"]),
    ("duplicate definition name",
     lambda t: client(_good_def(), _good_def()),
     "$.passengers[1].name", ["duplicate", "already"]),
    ("bad retry",
     lambda t: client(_good_def(retry={"max_attempts": "many"})),
     "$.passengers[0].retry.max_attempts", ["number", "integer"]),
]


@pytest.mark.parametrize("name,make,path,words", CLIENT_CASES,
                         ids=[c[0] for c in CLIENT_CASES])
def test_bad_client_file(tmp, name, make, path, words):
    cfg = write_config(tmp, {"acme": make(tmp)})
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stdout, r.stderr)
    assert "acme.json" in r.stderr, r.stderr
    assert path in r.stderr, r.stderr
    assert any(w in r.stderr.lower() for w in words), r.stderr
    assert "databusd: ready" not in r.stdout
    assert not procs_mentioning(str(tmp))


def test_bad_json_syntax(tmp):
    cfg = write_config(tmp, {"acme": client(_good_def())})
    (tmp / "clients" / "acme.json").write_text('{"passengers": [ ,]}')
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert "acme.json" in r.stderr, r.stderr
    assert "line 1" in r.stderr or ":1:" in r.stderr, r.stderr


@pytest.mark.parametrize("top,path", [
    ({"colour": "blue"}, "$.colour"),
    ({"shutdown_timeout": "forever"}, "$.shutdown_timeout"),
    ({"drive_timeout": []}, "$.drive_timeout"),
    ({"web": {"enabled": "yes"}}, "$.web.enabled"),
    ({"clients_dir": "nowhere"}, "$.clients_dir"),
])
def test_bad_databus_json(tmp, top, path):
    cfg = write_config(tmp, {"acme": client(_good_def())}, **top)
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert "databus.json" in r.stderr and path in r.stderr, r.stderr


def test_missing_config_file(tmp):
    r = run_databusd(["--config", tmp / "absent.json"], tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert "absent.json" in r.stderr


@pytest.mark.parametrize("args", [
    ["--bogus"], [], ["--config"], ["--demo", "--listen", "nonsense"],
])
def test_usage(tmp, args):
    r = run_databusd(args, tmp)
    assert r.returncode == 100, (args, r.returncode, r.stderr)
    assert r.stderr.strip(), "no message on stderr"
    assert not procs_mentioning(str(tmp))


def test_worker_check_message(tmp):
    """databus-worker --check is what names driver-specific problems; its
    verdict reaches databusd's message with the definition's path."""
    c = client(_good_def(),
               _good_def(name="second",
                         processors=[{"name": "f",
                                      "type": "require_attachment"}]))
    cfg = write_config(tmp, {"acme": c})
    r = run_databusd(["--config", cfg], tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert "acme.json" in r.stderr
    assert "$.passengers[1].processors[0]" in r.stderr, r.stderr
    assert "pattern" in r.stderr, r.stderr
