"""Live updates: GET /api/v1/events (websocket).

databusd runs with its own web disabled; each test starts build/databus-web
on a free port against the daemon's data dir (as test_web_api.py does) and
talks to it with Debian's python3-websocket client. Root sees every event,
so its stream must be gapless: consecutive seqs from hello.seq + 1.
"""

import json
import os
import signal
import socket
import struct
import time

import pytest
import websocket

from conftest import (BUILD, bench_puller, client, deadline, definition,
                      wait_for)
from test_web_api import Web
from test_web_tls import https  # noqa: F401 (fixture)


def _clients(per_drive=2, count=100000, size=64):
    def c(users, prefix):
        return client(definition("orders",
                                 [bench_puller(count=count, prefix=prefix,
                                               per_drive=per_drive,
                                               size=size)],
                                 [{"name": "n", "type": "null"}]),
                      users=users)
    return {
        "acme": c([{"username": "alice", "password": "alice-pw-1"},
                   {"username": "ann", "password": "ann-pw-1",
                    "role": "administrator"}], "a"),
        "globex": c([{"username": "bob", "password": "bob-pw-1"}], "g"),
        "root": {"users": [{"username": "admin", "password": "root-pw-1"}]},
    }


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed %r %r" % (code, reason))
        self.code = code
        self.reason = reason


class Stream:
    """One websocket on /api/v1/events; frames are parsed JSON objects."""

    def __init__(self, web, token, since=None, origin=True, rcvbuf=None,
                 suppress_origin=False):
        url = "ws://%s/api/v1/events" % web.host
        if since is not None:
            url += "?since=%d" % since
        opts = []
        if rcvbuf is not None:
            opts.append((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf))
        self.ws = websocket.create_connection(
            url, timeout=deadline(10),
            cookie=("dbs_session=" + token) if token else None,
            origin=web.origin if origin is True else origin,
            suppress_origin=suppress_origin, sockopt=tuple(opts))
        self.frames = []

    def recv(self, seconds=None):
        """The next frame (dict) within `seconds` (unscaled; default a
        scaled 10 s); raises Closed on a close frame."""
        self.ws.settimeout(seconds if seconds is not None else deadline(10))
        while True:
            op, data = self.ws.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 \
                    else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if op == websocket.ABNF.OPCODE_TEXT:
                f = json.loads(data)
                self.frames.append(f)
                return f

    def until(self, pred, timeout=20, what="a frame"):
        """Frames up to and including the first one pred() accepts."""
        got = []
        end = time.monotonic() + deadline(timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; got %r"
                                     % (what, deadline(timeout),
                                        [_short(f) for f in got[-20:]]))
            try:
                f = self.recv(left)
            except websocket.WebSocketTimeoutException:
                continue
            got.append(f)
            if pred(f):
                return got

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass

    def kill(self):
        """Drop the TCP connection without a close handshake."""
        self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.ws.sock.close()


def _short(f):
    return {k: f.get(k) for k in ("type", "seq", "client", "resource",
                                  "kind")}


def events(frames):
    return [f for f in frames if f["type"] == "event"]


def check_contiguous(frames, start):
    """Event seqs are start+1, start+2, ... without a hole."""
    seqs = [f["seq"] for f in events(frames)]
    assert seqs == list(range(start + 1, start + 1 + len(seqs))), seqs
    return seqs[-1] if seqs else start


@pytest.fixture
def web(bus):
    b = bus(_clients())
    w = Web(b.data_dir)
    w.bus = b
    yield w
    w.stop()


def login(web, cl, user, pw):
    status, doc, token, _ = web.login(cl, user, pw)
    assert status == 200, doc
    return token


def test_hello_order_and_full_instances(web):
    token = login(web, "root", "admin", "root-pw-1")
    s = Stream(web, token)
    hello = s.recv()
    assert hello["type"] == "hello", hello
    assert hello["seq"] >= hello["oldest"] >= 1, hello
    web.bus.drive("acme", "orders")
    got = s.until(lambda f: f["type"] == "event" and
                  f["resource"] == "log" and f["client"] == "acme",
                  what="the drive's log event")
    check_contiguous(got, hello["seq"])
    for f in events(got):
        assert set(f) == {"type", "seq", "client", "resource", "kind",
                          "time", "data"}, f
        assert isinstance(f["time"], int) and f["time"] > 1e12, f
    lists = [f for f in events(got) if f["resource"] == "queue_item"]
    assert lists, [_short(f) for f in got]
    created = [f for f in lists if f["kind"] == "create_list"]
    assert created, [_short(f) for f in lists]
    items = created[0]["data"]["items"]
    assert len(items) == 2 and all(i["client"] == "acme" and
                                   i["definition"] == "orders" and
                                   i["external_id"] for i in items), items
    log = [f for f in events(got) if f["resource"] == "log"][-1]
    assert log["kind"] == "create_list", log
    assert log["data"]["items"][-1]["seated"] == 2, log
    assert any(f["resource"] == "worker" and f["data"]["state"] == "busy"
               for f in events(got)), [_short(f) for f in got]
    # The definition's full instance carries its queue counts as of the
    # commit: once the drive is over, both passengers are done.
    seen = [f for f in events(got) if f["resource"] == "definition" and
            not f["data"]["driving"] and f["data"]["done"] >= 2]
    if not seen:
        seen = s.until(lambda f: f.get("resource") == "definition" and
                       not f["data"]["driving"] and f["data"]["done"] >= 2,
                       what="the definition with its counts")
    d = [f for f in seen if f.get("resource") == "definition"][-1]["data"]
    assert (d["client"], d["name"], d["pending"]) == ("acme", "orders", 0), d
    # The system state after a pause, then a resume.
    web.bus.ctl("pause", json_out=False)
    got = s.until(lambda f: f.get("resource") == "system" and
                  f["data"]["paused"], what="paused")
    web.bus.ctl("resume", json_out=False)
    got += s.until(lambda f: f.get("resource") == "system" and
                   not f["data"]["paused"], what="resumed")
    s.close()


def test_tenant_filtering(web):
    streams = {who: Stream(web, login(web, *cred)) for who, cred in {
        "alice": ("acme", "alice", "alice-pw-1"),
        "bob": ("globex", "bob", "bob-pw-1"),
        "root": ("root", "admin", "root-pw-1")}.items()}
    hellos = {who: s.recv() for who, s in streams.items()}
    web.bus.drive("acme", "orders")
    web.bus.drive("globex", "orders")
    web.bus.ctl("pause", json_out=False)
    web.bus.ctl("resume", json_out=False)
    # Every stream ends at the resume; root's is gapless.
    got = {}
    for who, s in streams.items():
        got[who] = s.until(lambda f: f.get("resource") == "system" and
                           not f["data"]["paused"], what="resume")
    check_contiguous(got["root"], hellos["root"]["seq"])
    clients = {who: {f["client"] for f in events(fs)}
               for who, fs in got.items()}
    assert clients["alice"] == {"acme", ""}, clients
    assert clients["bob"] == {"globex", ""}, clients
    assert {"acme", "globex", ""} <= clients["root"], clients
    for who in ("alice", "bob"):
        for f in events(got[who]):
            if f["client"] == "":
                assert f["resource"] == "system", f
            assert f["resource"] != "user", f
            if f["resource"] == "queue_item":
                assert all(i["client"] == f["client"]
                           for i in f["data"]["items"]), f
    # Seqs seen by a tenant are a subsequence of root's, in order.
    root_seqs = [f["seq"] for f in events(got["root"])]
    for who in ("alice", "bob"):
        seqs = [f["seq"] for f in events(got[who])]
        assert seqs == sorted(seqs) and set(seqs) <= set(root_seqs)
    for s in streams.values():
        s.close()


def test_no_gap_across_a_forced_reconnect(web):
    token = login(web, "root", "admin", "root-pw-1")
    s = Stream(web, token)
    hello = s.recv()
    web.bus.drive("acme", "orders")
    got = s.until(lambda f: f.get("resource") == "log", what="log")
    last = check_contiguous(got, hello["seq"])
    s.kill()
    # Changes while disconnected.
    web.bus.drive("globex", "orders")
    web.bus.ctl("pause", json_out=False)
    s = Stream(web, token, since=last)
    hello2 = s.recv()
    assert hello2["type"] == "hello" and hello2["seq"] > last, hello2
    got = s.until(lambda f: f.get("resource") == "system" and
                  f["data"]["paused"], what="pause (replayed)")
    # Replayed from the store, then live: one gapless sequence.
    end = check_contiguous(got, last)
    assert end >= hello2["seq"]
    assert any(f.get("client") == "globex" for f in got)
    web.bus.ctl("resume", json_out=False)
    got = s.until(lambda f: f.get("resource") == "system" and
                  not f["data"]["paused"], what="resume (live)")
    check_contiguous(got, end)
    # Resume from an old seq: the same events again, from the log.
    old = Stream(web, token, since=hello["seq"])
    assert old.recv()["type"] == "hello"
    again = old.until(lambda f: f["seq"] == end, what="seq %d" % end)
    first = {f["seq"]: _short(f) for f in events(s.frames)}
    for f in events(again):
        if f["seq"] in first:
            assert _short(f) == first[f["seq"]]
    check_contiguous(again, hello["seq"])
    s.close()
    old.close()


def test_rejections(web):
    token = login(web, "acme", "alice", "alice-pw-1")
    for kw, status in [({"token": None}, 401),
                       ({"token": "A" * 43}, 401),
                       ({"token": token, "origin": "http://evil.example"},
                        403),
                       ({"token": token, "origin": None}, 403)]:
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            Stream(web, kw["token"], origin=kw.get("origin", True),
                   suppress_origin=kw.get("origin", True) is None)
        assert e.value.status_code == status, (kw, e.value)
    # A plain GET is not an upgrade; bad since.
    status, doc = web.json("GET", "/api/v1/events", cookie=token)
    assert status == 400 and doc["error"]["code"] == "websocket_required"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(
            "ws://%s/api/v1/events?since=x" % web.host,
            cookie="dbs_session=" + token, origin=web.origin,
            timeout=deadline(10))
    assert e.value.status_code == 400


def _wait_closed(s, timeout=5):
    """Read until the close frame; returns (code, seconds it took)."""
    t0 = time.monotonic()
    end = t0 + deadline(timeout)
    while time.monotonic() < end:
        try:
            s.recv(max(0.05, end - time.monotonic()))
        except Closed as c:
            return c.code, time.monotonic() - t0
        except websocket.WebSocketTimeoutException:
            break
    raise AssertionError("socket not closed within %.1fs" % deadline(timeout))


def test_revocation_and_logout_close_the_socket(web):
    alice = login(web, "acme", "alice", "alice-pw-1")
    ann = login(web, "acme", "ann", "ann-pw-1")
    sa, sn = Stream(web, alice), Stream(web, ann)
    assert sa.recv()["type"] == "hello" and sn.recv()["type"] == "hello"
    web.bus.ctl("user", "revoke", "acme", "alice", json_out=False)
    code, took = _wait_closed(sa)
    assert code == 4401, code
    assert took < deadline(1.5), took
    # Ann's socket is untouched; her logout closes it.
    status = web.request("POST", "/api/v1/logout", body={}, cookie=ann)[0]
    assert status == 200
    code, took = _wait_closed(sn)
    assert code == 4401 and took < deadline(1.5), (code, took)
    # The revoked cookie cannot open a new one.
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        Stream(web, alice)
    assert e.value.status_code == 401


def _anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return None


def test_resync_past_retention(bus):
    # The store keeps 16 events (trimmed in batches of 64 as it commits).
    b = bus(_clients(), store={"event_keep": 16})
    web = Web(b.data_dir)
    try:
        token = login(web, "root", "admin", "root-pw-1")
        live = Stream(web, token)
        hello = live.recv()
        for _ in range(60):
            b.ctl("pause", json_out=False)
            b.ctl("resume", json_out=False)
        s = Stream(web, token, since=hello["seq"])
        h2 = s.recv()
        assert h2["type"] == "hello" and h2["oldest"] > hello["seq"] + 1, \
            (hello, h2)
        r = s.recv()
        assert r == {"type": "resync", "seq": h2["seq"]}, r
        # After the resync it is live: the next change is seq + 1.
        b.ctl("pause", json_out=False)
        got = s.until(lambda f: f["type"] == "event", what="live event")
        assert got[-1]["seq"] == h2["seq"] + 1, got
        # The socket that stayed connected lost nothing.
        got = live.until(lambda f: f.get("seq") == h2["seq"] + 1,
                         timeout=30, what="the last event")
        check_contiguous(got, hello["seq"])
        b.ctl("resume", json_out=False)
        live.close()
        s.close()
    finally:
        web.stop()


def test_reload_creates_and_deletes_definitions(tmp, bus):
    clients = _clients()
    b = bus(clients)
    web = Web(b.data_dir)
    try:
        token = login(web, "root", "admin", "root-pw-1")
        s = Stream(web, token)
        hello = s.recv()
        clients["globex"]["passengers"].append(definition(
            "extra", [bench_puller(count=1, prefix="x")],
            [{"name": "n", "type": "null"}]))
        from conftest import write_config
        write_config(tmp, clients)
        b.ctl("reload", json_out=False)
        got = s.until(lambda f: f.get("resource") == "definition" and
                      f["data"]["name"] == "extra",
                      what="definition create")
        f = got[-1]
        assert f["kind"] == "create" and f["client"] == "globex", f
        assert f["data"]["pullers"] == ["bench"], f
        clients["globex"]["passengers"].pop()
        write_config(tmp, clients)
        b.ctl("reload", json_out=False)
        got += s.until(lambda f: f.get("resource") == "worker" and
                       f["data"]["definition"] == "extra" and
                       f["kind"] == "delete", what="worker delete")
        assert any(f.get("resource") == "definition" and
                   f["kind"] == "delete" and f["data"]["name"] == "extra"
                   for f in got)
        check_contiguous(got, hello["seq"])
        s.close()
    finally:
        web.stop()


def test_slow_client_is_bounded_and_resynced(tmp, bus):
    clients = _clients()
    b = bus(clients, store={"event_keep": 16})
    web = Web(b.data_dir)
    try:
        token = login(web, "acme", "alice", "alice-pw-1")
        # A small receive buffer, and it stops reading after hello.
        slow = Stream(web, token, rcvbuf=4096)
        hello = slow.recv()
        before = _anon_kib(web.proc.pid)
        clients["acme"]["passengers"].append(definition(
            "bulk", [bench_puller(count=40000, prefix="k", size=16)],
            [{"name": "n", "type": "null"}]))
        from conftest import write_config
        write_config(tmp, clients)
        b.ctl("reload", json_out=False)
        b.wait_workers("ready", timeout=30)
        b.wait_counts("acme", "bulk", pending=0, done=40000, timeout=180)
        peak = _anon_kib(web.proc.pid)
        # Everything it was sent before the resync is gapless in its
        # view: increasing seqs, then a resync, then live events.
        got = slow.until(lambda f: f["type"] == "resync", timeout=60,
                         what="resync")
        seqs = [f["seq"] for f in events(got)]
        assert seqs == sorted(set(seqs)), seqs[:50]
        assert all(f["client"] in ("acme", "") for f in events(got))
        b.ctl("pause", json_out=False)
        slow.until(lambda f: f.get("resource") == "system" and
                   f["data"]["paused"], what="live event after resync")
        b.ctl("resume", json_out=False)
        grown = peak - before
        # ~40000 passengers went by as create and update lists (tens of
        # MiB of JSON); the socket may hold about 1 MiB of them.
        print("databus-web RssAnon %d -> %d KiB" % (before, peak))
        if "asan" not in str(BUILD):
            # (ASan keeps freed memory in quarantine: no figure there.)
            assert grown < 16 * 1024, (before, peak)
        slow.close()
    finally:
        web.stop()


def test_purges_and_users(web):
    alice = Stream(web, login(web, "acme", "alice", "alice-pw-1"))
    ann = Stream(web, login(web, "acme", "ann", "ann-pw-1"))
    for s in (alice, ann):
        assert s.recv()["type"] == "hello"
    web.bus.drive("acme", "orders")
    web.bus.wait_counts("acme", "orders", pending=0)
    done = {p["id"] for p in web.bus.queue("--client", "acme")
            if p["state"] == "done"}
    assert done
    web.bus.ctl("queue", "purge", "--client", "acme", json_out=False)
    got = ann.until(lambda f: f.get("resource") == "queue_item" and
                    f["kind"] == "delete_list", what="delete_list")
    gone = {i["id"] for f in events(got) if f["kind"] == "delete_list"
            for i in f["data"]["items"]}
    assert {i["client"] for f in events(got) if f["kind"] == "delete_list"
            for i in f["data"]["items"]} == {"acme"}
    # Further delete lists may follow (one per 1 MiB of records).
    while not done <= gone:
        got = ann.until(lambda f: f.get("kind") == "delete_list",
                        what="every purged id")
        gone |= {i["id"] for f in events(got)
                 if f["kind"] == "delete_list"
                 for i in f["data"]["items"]}
    # A logs purge: one delete list of logs (id and client only).
    logs = {l["id"] for l in web.bus.ctl("logs", "ls", "--client",
                                         "acme")["items"]}
    assert logs
    web.bus.ctl("logs", "purge", "--client", "acme", json_out=False)
    got = ann.until(lambda f: f.get("resource") == "log" and
                    f["kind"] == "delete_list", what="log delete_list")
    assert {i["id"] for i in got[-1]["data"]["items"]} >= logs
    r = web.bus.ctl_raw("user", "add", "acme", "carl", "--password-stdin",
                        input="carl-pw-1\n")
    assert r.returncode == 0, r.stderr
    got = ann.until(lambda f: f.get("resource") == "user",
                    what="user event")
    u = got[-1]
    assert u["kind"] == "create" and u["data"]["username"] == "carl", u
    assert "password_hash" not in u["data"] and "$argon2" not in \
        json.dumps(u)
    # The operator saw the purge but no user event: the system event of
    # a pause comes after both, so everything before it has arrived.
    web.bus.ctl("pause", json_out=False)
    got = alice.until(lambda f: f.get("resource") == "system" and
                      f["data"]["paused"], what="pause")
    assert any(f.get("kind") == "delete_list" for f in got)
    assert not any(f.get("resource") == "user" for f in got), got
    web.bus.ctl("resume", json_out=False)
    alice.close()
    ann.close()


def test_retention_by_age(bus):
    b = bus(_clients(), store={"event_max_age": "1s"})
    web = Web(b.data_dir)
    try:
        token = login(web, "root", "admin", "root-pw-1")
        first = Stream(web, token)
        h1 = first.recv()
        first.close()
        b.ctl("pause", json_out=False)
        b.ctl("resume", json_out=False)

        def newer_oldest():
            s = Stream(web, token)
            h = s.recv()
            s.close()
            return h if h["oldest"] > h1["seq"] + 1 else None
        h2 = wait_for(newer_oldest, 20, "events older than 1 s removed")
        # The newest event always stays, so the last seq is known.
        assert h2["seq"] >= h2["oldest"] >= 1, h2
        s = Stream(web, token, since=h1["seq"])
        assert s.recv()["type"] == "hello"
        assert s.recv()["type"] == "resync"
        s.close()
    finally:
        web.stop()


def test_worker_crash_and_restart_are_events(web):
    s = Stream(web, login(web, "acme", "alice", "alice-pw-1"))
    assert s.recv()["type"] == "hello"
    w = web.bus.worker("acme", "orders")
    os.kill(w["pid"], signal.SIGKILL)
    got = s.until(lambda f: f.get("resource") == "worker" and
                  f["data"]["state"] == "ready" and
                  f["data"]["restarts"] > w["restarts"],
                  what="the worker ready again")
    states = [f["data"]["state"] for f in events(got)
              if f["resource"] == "worker"]
    assert "backoff" in states or "starting" in states, states
    assert got[-1]["data"]["pid"] != w["pid"]
    s.close()


def test_heartbeat_when_idle(web):
    s = Stream(web, login(web, "globex", "bob", "bob-pw-1"))
    hello = s.recv()
    t0 = time.monotonic()
    got = s.until(lambda f: f["type"] == "heartbeat", timeout=30,
                  what="a heartbeat")
    # 15 s without a frame (nothing globex may see happened meanwhile).
    assert time.monotonic() - t0 >= 14, got
    assert got[-1]["seq"] >= hello["seq"], (hello, got)
    s.close()


def test_over_tls(https):
    """wss:// when databus-web serves HTTPS (fixture of test_web_tls.py):
    the Origin must be https://."""
    w = https
    status, _, _, cookies = w.request(
        "POST", "/api/v1/login",
        body={"client": "acme", "username": "ann", "password": "ann-pw-1"})
    assert status == 200
    token = [c for c in cookies if c.startswith("dbs_session=")][0] \
        .split(";")[0][len("dbs_session="):]
    url = "wss://%s/api/v1/events" % w.host
    ssl_opts = {"ca_certs": str(w.crt)}
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(url, sslopt=ssl_opts,
                                    cookie="dbs_session=" + token,
                                    origin="http://" + w.host,
                                    timeout=deadline(10))
    assert e.value.status_code == 403
    ws = websocket.create_connection(url, sslopt=ssl_opts,
                                     cookie="dbs_session=" + token,
                                     origin=w.origin, timeout=deadline(10))
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello", hello
    w.bus.ctl("pause", json_out=False)
    while True:
        f = json.loads(ws.recv())
        if f.get("resource") == "system" and f["data"]["paused"]:
            break
    assert f["seq"] > hello["seq"]
    ws.close()


def test_sigterm_closes_with_going_away(bus):
    b = bus(_clients())
    web = Web(b.data_dir)
    try:
        s = Stream(web, login(web, "acme", "alice", "alice-pw-1"))
        assert s.recv()["type"] == "hello"
        web.proc.send_signal(signal.SIGTERM)
        code, _ = _wait_closed(s, timeout=5)
        assert code == 1001, code
        assert web.proc.wait(deadline(10)) == 0
    finally:
        if web.proc.poll() is None:
            web.proc.kill()
            web.proc.wait()


def test_shutdown_is_announced_then_going_away(tmp, daemons):
    from conftest import free_port, write_config
    port = free_port()
    cfg = write_config(tmp, _clients(), web={
        "enabled": True, "listen": "127.0.0.1:%d" % port})
    b = daemons(["--config", cfg])
    web = Web.__new__(Web)  # databusd runs this one: just its address
    web.port, web.host = port, "127.0.0.1:%d" % port
    web.origin = "http://" + web.host
    wait_for(lambda: _healthy(web), 20, "databusd's databus-web")
    s = Stream(web, login(web, "root", "admin", "root-pw-1"))
    assert s.recv()["type"] == "hello"
    b.ctl("shutdown", json_out=False)
    got = []
    try:
        while True:
            got.append(s.recv())
    except Closed as c:
        assert c.code == 1001, c
    assert any(f.get("resource") == "system" and
               f["data"]["shutting_down"] for f in got), \
        [_short(f) for f in got]
    assert b.wait_exit(60) == 0


def _healthy(web):
    try:
        return web.request("GET", "/healthz")[0] == 200
    except OSError:
        return False
