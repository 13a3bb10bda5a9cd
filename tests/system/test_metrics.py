"""GET /metrics: Prometheus's own checker, the bounded per-client series,
and who may scrape (web.metrics in databus.json).

One databusd runs for the whole module, in its own network namespace
(unshare -n) whose loopback device also carries two documentation
addresses, 192.0.2.9 and 198.51.100.7: a request from them reaches
databus-web over `lo` but with a peer address that is not loopback, so
the scrape rules can be tested without any traffic leaving the namespace.
Every request is made from inside it (nsenter), bound to its source
address. databus.json opens /metrics to 192.0.2.0/24 with a bearer token
(web.metrics.allow, web.metrics.token_file).

`promtool check metrics` is Debian's (package prometheus, installed by
./setup).
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (REPO, Databus, bench_puller, client, deadline, definition,
                      free_port, procs_mentioning, run_databusd, wait_for,
                      write_config)

ALLOWED = "192.0.2.9"
OTHER = "198.51.100.7"
TOKEN = secrets.token_urlsafe(32)

# Runs inside the namespace: one HTTP request from a source address, or
# (mode "ws") a login and a live-update websocket held open until stdin
# closes. Prints a JSON line.
CLIENT = r'''
import http.client, json, socket, sys
a = json.loads(sys.argv[1])
host = "127.0.0.1:%d" % a["port"]
def conn():
    return http.client.HTTPConnection("127.0.0.1", a["port"], timeout=20,
                                      source_address=(a["src"], 0))
def request(method, path, headers, body=None):
    c = conn()
    h = {"Host": host}
    h.update(headers)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data, r
if a["mode"] == "get":
    st, h, data, _ = request("GET", a["path"], a.get("headers", {}))
    print(json.dumps({"status": st, "headers": h,
                      "body": data.decode("utf-8", "replace")}))
    sys.exit(0)
for user, pw in a["logins"]:
    body = json.dumps({"client": user[0], "username": user[1],
                       "password": pw})
    st, h, data, r = request("POST", "/api/v1/login", {
        "Origin": "http://" + host, "Content-Type": "application/json"},
        body)
    if st == 200:
        cookie = h["set-cookie"].split(";")[0]
import websocket
ws = websocket.create_connection(
    "ws://%s/api/v1/events" % host, header=["Cookie: " + cookie],
    origin="http://" + host, source_address=(a["src"], 0), timeout=20)
print(json.dumps({"open": True}), flush=True)
sys.stdin.read()
ws.close()
'''


@pytest.fixture(scope="module")
def world():
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot unshare a network namespace: %s"
                    % probe.stderr.decode(errors="replace").strip())
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing (Debian package prometheus; "
                    "run ./setup)")
    root = Path(tempfile.mkdtemp(prefix="dbs-", dir="/tmp"))
    port = free_port()
    token_file = root / "metrics.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    users = [{"username": "demo", "password": "demo-pw-1",
              "role": "operator"}]
    cfg = write_config(
        root, {"acme": client(definition(
            "files", [bench_puller(count=3)],
            [{"name": "drop", "type": "null"}]), users=users)},
        web={"enabled": True, "listen": "0.0.0.0:%d" % port,
             "metrics": {"allow": ["192.0.2.0/24"],
                         "token_file": "metrics.token"}})
    wrap = ["unshare", "-n", "sh", "-c",
            "ip link set lo up && ip addr add %s/32 dev lo && "
            "ip addr add %s/32 dev lo && exec \"$0\" \"$@\""
            % (ALLOWED, OTHER)]
    bus = Databus(root, ["--config", cfg], wrap=wrap).start()
    bus.wait_ready()
    bus.port = port
    try:
        wait_for(lambda: get(bus, "127.0.0.1", "/healthz")["status"] == 200,
                 20, "databus-web in the namespace")
        yield bus
    finally:
        if bus.alive():
            bus.stop()
        bus.stderr_file.close()
        wait_for(lambda: not procs_mentioning(str(root)), 10,
                 "no process left mentioning %s" % root)
        shutil.rmtree(root, ignore_errors=True)


def in_ns(bus, args, **kw):
    return subprocess.run(
        ["nsenter", "-t", str(bus.proc.pid), "-n", "/usr/bin/python3", "-c",
         CLIENT, json.dumps(args)], capture_output=True, text=True,
        timeout=deadline(30), **kw)


def get(bus, src, path, headers=None):
    r = in_ns(bus, {"mode": "get", "src": src, "port": bus.port,
                    "path": path, "headers": headers or {}})
    if r.returncode != 0:
        return {"status": 0, "error": r.stderr}
    return json.loads(r.stdout)


def scrape(bus):
    r = get(bus, "127.0.0.1", "/metrics")
    assert r["status"] == 200, r
    return r["body"]


def samples(text):
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            vals[name] = float(value)
    return vals


def promtool(text):
    return subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True,
                          timeout=deadline(30))


def test_promtool_accepts_metrics(world):
    """promtool's lint passes (counters end in _total, units in names,
    HELP and TYPE for every family), with every series present: after
    logins and an open live-update socket too."""
    bus = world
    holder = subprocess.Popen(
        ["nsenter", "-t", str(bus.proc.pid), "-n", "/usr/bin/python3", "-c",
         CLIENT, json.dumps({
             "mode": "ws", "src": "127.0.0.1", "port": bus.port,
             "logins": [[["acme", "demo"], "wrong-password"],
                        [["no-such-client-%s" % secrets.token_hex(4),
                          "x"], "whatever-pw"],
                        [["acme", "demo"], "demo-pw-1"]]})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert json.loads(line) == {"open": True}, line
        bus.ctl("expedite", "acme", "files")
        bus.wait_counts("acme", "files", pending=0, done=3)
        text = scrape(bus)
        r = promtool(text)
        assert r.returncode == 0, r.stdout + r.stderr + text
        v = samples(text)
        # The per-client series: values from the configured client only.
        assert v['databus_web_logins_total{client="acme",outcome="ok"}'] \
            == 1
        assert v['databus_web_logins_total{client="acme",'
                 'outcome="failed"}'] == 1
        assert v["databus_web_logins_unknown_account_total"] == 1
        assert "no-such-client" not in text
        assert v['databus_web_live_sockets{client="acme"}'] == 1
        assert v['databus_passengers{client="acme",definition="files",'
                 'state="done"}'] == 3
        assert v['databus_build_info{version="%s"}'
                 % bus.status()["system"]["version"]] == 1
        assert v["databus_store_commits_total"] > 0
        assert v['databus_store_commit_duration_seconds_bucket{le="+Inf"}'] \
            == v["databus_store_commit_duration_seconds_count"]
        # Every family: a databus_ name, counters with _total, nothing
        # named after its type.
        types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
        assert len(types) >= 25, types
        for name, kind in types:
            assert name.startswith("databus_"), name
            assert (kind == "counter") == name.endswith("_total"), name
            assert not name.endswith(("_gauge", "_counter")), name
    finally:
        holder.stdin.close()
        holder.wait(deadline(20))
    # The socket is gone from the gauge once it closed.
    wait_for(lambda: 'databus_web_live_sockets{client="acme"}'
             not in scrape(bus), 10, "the closed socket to leave the gauge")


def test_promtool_catches_a_bad_name():
    """The check above can fail: promtool rejects a counter without
    _total."""
    r = promtool("# HELP x_requests Requests.\n# TYPE x_requests counter\n"
                 "x_requests 1\n")
    assert r.returncode != 0 and "_total" in r.stdout + r.stderr, r


def test_scrape_rules(world):
    """Loopback always; 192.0.2.0/24 with the token only (401 without it
    or with a wrong one); any other address 404, token or not."""
    bus = world
    bearer = {"Authorization": "Bearer " + TOKEN}
    r = get(bus, ALLOWED, "/metrics", bearer)
    assert r["status"] == 200 and "# TYPE databus_passengers" in r["body"], r
    assert r["headers"]["content-type"] == \
        "text/plain; version=0.0.4; charset=utf-8"
    wrong = [{}, {"Authorization": "Bearer " + TOKEN[:-1] + (
        "A" if TOKEN[-1] != "A" else "B")},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Authorization": "Bearer "}, {"Authorization": TOKEN},
        {"Authorization": "Basic " + TOKEN}]
    for h in wrong:
        r = get(bus, ALLOWED, "/metrics", h)
        assert r["status"] == 401, (h, r)
        assert r["headers"]["www-authenticate"] == "Bearer", r
        assert "# TYPE" not in r["body"] and TOKEN not in r["body"], r
    for h in ({}, bearer):
        r = get(bus, OTHER, "/metrics", h)
        assert r["status"] == 404 and "# TYPE" not in r["body"], (h, r)
    # The rest of the server is as before from either address.
    assert get(bus, OTHER, "/healthz")["status"] == 200
    # The token is in no log and on no command line.
    assert TOKEN not in bus.stderr()
    web = bus.status()["system"]["web"]["pid"]
    with open("/proc/%d/cmdline" % web, "rb") as f:
        cmd = f.read().decode()
    assert "--metrics-token-file" in cmd and TOKEN not in cmd, cmd
    assert "--metrics-allow\x00192.0.2.0/24" in cmd, cmd


@pytest.mark.parametrize("metrics, mode, path, words", [
    ({"allow": ["10.0.0.300"]}, 0o600, "$.web.metrics.allow[0]",
     "IP address or network"),
    ({"allow": ["10.0.0.0/33"]}, 0o600, "$.web.metrics.allow[0]",
     "IP address or network"),
    ({"token_file": "metrics.token"}, 0o644, "$.web.metrics.token_file",
     "others cannot read"),
    ({"token_file": "missing.token"}, 0o600, "$.web.metrics.token_file",
     "cannot read"),
    ({"allow": "10.0.0.1"}, 0o600, "$.web.metrics.allow", "array"),
    ({"token": "x" * 20}, 0o600, "$.web.metrics", "token"),
])
def test_bad_metrics_config(tmp, metrics, mode, path, words):
    """A bad web.metrics stops databusd at start (exit 100), naming the
    JSON path; a token file others can read is refused."""
    tf = tmp / "metrics.token"
    tf.write_text(TOKEN + "\n")
    tf.chmod(mode)
    cfg = write_config(tmp, {}, web={"enabled": True,
                                     "listen": "127.0.0.1:%d" % free_port(),
                                     "metrics": metrics})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert path in r.stderr and words in r.stderr, r.stderr
    assert TOKEN not in r.stderr + r.stdout


def test_grafana_dashboard_matches_metrics(world, tmp):
    """docs/examples/grafana-dashboard.json: every query is valid PromQL
    (promtool check rules, with the dashboard's variables filled in) and
    names only metrics that /metrics serves."""
    dash = json.loads((REPO / "docs" / "examples" /
                       "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15, exprs
    text = scrape(world)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    served = set(families)
    for f in families:
        served |= {f + "_bucket", f + "_sum", f + "_count"}
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:q%d" % i,
         "expr": e.replace("$client", ".*").replace("$definition", ".*")}
        for i, e in enumerate(exprs)]}]}
    path = tmp / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(rules))
    r = subprocess.run(["promtool", "check", "rules", str(path)],
                       capture_output=True, text=True, timeout=deadline(30))
    assert r.returncode == 0, r.stdout + r.stderr
    for e in exprs:
        for name in re.findall(r"\b(databus_[a-z_]+)\b", e):
            assert name in served, (name, e)
