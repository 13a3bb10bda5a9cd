"""The `http_poll` puller against a GitHub-style fake API on loopback:
Link pagination with a backfill limit and a watermark (a second drive
pulls nothing new, and only new items later; the watermark survives a
restart), cursor and page-number pagination with deduplication, Retry-After
and X-RateLimit handling, peek without seating, and config errors."""
import json
import threading
import time
from urllib.parse import parse_qs, urlparse

from conftest import (bench_puller, client, definition, run_databusd,
                      wait_for, write_config)
from fakehttp import FakeHTTP


class RunsAPI:
    """GET /runs?page=N&per_page=M: runs newest first, GitHub's shape."""

    def __init__(self, n, per_page=10):
        self.ids = list(range(1, n + 1))
        self.per_page = per_page
        self.lock = threading.Lock()
        self.http = FakeHTTP(self.handle)

    def add(self, k):
        with self.lock:
            top = self.ids[-1]
            self.ids += list(range(top + 1, top + 1 + k))

    def handle(self, req):
        u = urlparse(req.path)
        q = parse_qs(u.query)
        page = int(q.get("page", ["1"])[0])
        with self.lock:
            runs = sorted(self.ids, reverse=True)
        chunk = runs[(page - 1) * self.per_page:page * self.per_page]
        headers = {}
        if page * self.per_page < len(runs):
            headers["Link"] = ('<%s/runs?page=%d>; rel="next", '
                               '<%s/runs?page=%d>; rel="last"'
                               % (self.http.url, page + 1, self.http.url,
                                  (len(runs) + self.per_page - 1)
                                  // self.per_page))
        doc = {"total_count": len(runs),
               "workflow_runs": [{"id": i, "name": "CI",
                                  "status": "completed",
                                  "conclusion": "success" if i % 2
                                  else "failure",
                                  "actor": {"login": "dev%d" % (i % 3)}}
                                 for i in chunk]}
        return 200, headers, doc

    def gets(self):
        return self.http.seen("GET")


def _poll_def(url, **over):
    p = {"name": "runs", "type": "http_poll", "url": url,
         "items": "/workflow_runs", "id": "/id", "watermark": "/id",
         "order": "desc", "max_items": 15,
         "metadata": {"conclusion": "/conclusion",
                      "author": "/actor/login"},
         "headers": {"Authorization": "env:DBS_TEST_GH_TOKEN"}}
    p.update(over)
    return definition("runs", [p], [{"name": "sink", "type": "null"}])


def test_backfill_limit_watermark_restart(tmp, bus, daemons):
    api = RunsAPI(25)
    env = {"DBS_TEST_GH_TOKEN": "token abc"}
    try:
        b = bus({"acme": client(_poll_def(api.http.url + "/runs"))},
                env=env)
        b.wait_counts("acme", "runs", pending=0, done=15, dead=0)
        items = b.queue("--client", "acme")
        # The 15 newest runs (backfill limit), nothing older.
        assert sorted(int(p["external_id"]) for p in items) == \
            list(range(11, 26))
        assert all(r.headers["authorization"] == "token abc"
                   for r in api.gets())
        p = b.show("acme", items[0]["id"])
        assert "conclusion" in json.dumps(p["metadata"])
        assert "dev" in json.dumps(p["metadata"])

        # A second drive pulls nothing new and stops at the first page.
        n_gets = len(api.gets())
        b.drive("acme", "runs")
        assert len(b.queue("--client", "acme")) == 15
        assert len(api.gets()) == n_gets + 1

        # New runs: only they are pulled.
        api.add(3)
        b.drive("acme", "runs")
        b.wait_counts("acme", "runs", pending=0, done=18, dead=0)
        assert sorted(int(p["external_id"])
                      for p in b.queue("--client", "acme"))[-3:] == \
            [26, 27, 28]

        # The watermark survives a restart: nothing is pulled again.
        b.stop()
        n_gets = len(api.gets())
        b2 = daemons(["--config", tmp / "databus.json"], env=env)
        b2.drive("acme", "runs")
        assert len(b2.queue("--client", "acme")) == 18
        assert len(api.gets()) == n_gets + 1 or \
            len(api.gets()) == n_gets + 2
    finally:
        api.http.close()


def test_cursor_and_page_pagination_dedup(tmp, bus):
    data = [{"key": "k%02d" % i, "v": i} for i in range(12)]

    def handler(req):
        u = urlparse(req.path)
        q = parse_qs(u.query)
        if u.path == "/cursor":
            start = int(q.get("after", ["0"])[0])
            page = data[start:start + 5]
            nxt = str(start + 5) if start + 5 < len(data) else None
            return 200, {}, {"data": page, "meta": {"next": nxt}}
        page = int(q.get("p", ["1"])[0])
        return 200, {}, data[(page - 1) * 4:page * 4]
    t = FakeHTTP(handler)
    try:
        d1 = definition("cur", [{"name": "c", "type": "http_poll",
                                 "url": t.url + "/cursor", "items": "/data",
                                 "id": "/key", "next": "/meta/next",
                                 "cursor_param": "after"}],
                        [{"name": "sink", "type": "null"}])
        d2 = definition("pages", [{"name": "p", "type": "http_poll",
                                   "url": t.url + "/paged", "id": "/key",
                                   "page_param": "p"}],
                        [{"name": "sink", "type": "null"}])
        b = bus({"acme": client(d1, d2)})
        b.wait_counts("acme", "cur", pending=0, done=12, dead=0)
        b.wait_counts("acme", "pages", pending=0, done=12, dead=0)
        # Without a watermark, the queue's dedup keeps items single.
        b.drive("acme", "cur")
        b.drive("acme", "pages")
        assert b.counts("acme", "cur") == (0, 12, 0)
        assert b.counts("acme", "pages") == (0, 12, 0)
        # Pages 1..3 had items, page 4 was empty: 4 GETs per drive.
        assert len(t.seen("GET", "/paged")) == 8
        assert len(t.seen("GET", "/cursor")) == 6
    finally:
        t.close()


def test_retry_after_and_rate_limit(tmp, bus):
    calls = {"n": 0}

    def handler(req):
        u = urlparse(req.path)
        if u.path == "/limited":
            calls["n"] += 1
            return 429, {"Retry-After": "3600"}, {"message": "slow down"}
        # X-RateLimit exhausted on the first page: the next is not read.
        reset = int(time.time()) + 3600
        return 200, {"X-RateLimit-Remaining": "0",
                     "X-RateLimit-Reset": str(reset),
                     "Link": '<%s/rl?page=2>; rel="next"' % t.url}, \
            [{"id": 1}, {"id": 2}]
    t = FakeHTTP(handler)
    try:
        d1 = definition("lim", [{"name": "l", "type": "http_poll",
                                 "url": t.url + "/limited", "id": "/id"}],
                        [{"name": "sink", "type": "null"}])
        d2 = definition("rl", [{"name": "r", "type": "http_poll",
                                "url": t.url + "/rl", "id": "/id"}],
                        [{"name": "sink", "type": "null"}])
        b = bus({"acme": client(d1, d2)})
        b.wait_counts("acme", "rl", pending=0, done=2, dead=0)
        wait_for(lambda: calls["n"] >= 1, 20, "the first GET")
        b.drive("acme", "lim")
        b.drive("acme", "rl")
        # No request during the Retry-After / until the reset.
        assert calls["n"] == 1
        assert len(t.seen("GET", "/rl")) == 1
        logs = json.dumps([b.ctl("logs", "show", "acme", l["id"])
                           for l in b.ctl("logs", "ls")["items"]])
        assert "rate limited" in logs
    finally:
        t.close()


def test_peek_does_not_seat(tmp, bus):
    api = RunsAPI(7)
    try:
        d = _poll_def(api.http.url + "/runs", headers={})
        d["sync_frequency"] = 1440
        b = bus({"acme": client(d)})
        b.wait_counts("acme", "runs", pending=0, done=7, dead=0)
        api.add(2)
        peek = b.ctl("peek", "acme", "runs")
        items = peek["items"] if isinstance(peek, dict) else peek
        assert sorted(i["external_id"] for i in items) == ["8", "9"]
        assert len(b.queue("--client", "acme")) == 7
        # Peek did not move the watermark: the drive still gets them.
        b.drive("acme", "runs")
        b.wait_counts("acme", "runs", pending=0, done=9, dead=0)
    finally:
        api.http.close()


def test_http_poll_config_errors(tmp):
    cases = [({"url": "http://127.0.0.1:1/"}, "id"),
             ({"url": "http://127.0.0.1:1/", "id": "id"}, "id"),
             ({"url": "http://127.0.0.1:1/", "id": "/id", "order": "up"},
              "order"),
             ({"url": "http://127.0.0.1:1/", "id": "/id",
               "cursor_param": "c"}, "cursor_param"),
             ({"url": "http://127.0.0.1:1/", "id": "/id", "max_items": 0},
              "max_items")]
    for settings, word in cases:
        p = {"name": "src", "type": "http_poll"}
        p.update(settings)
        d = definition("x", [p], [{"name": "sink", "type": "null"}])
        cfg = write_config(tmp, {"acme": client(d)})
        r = run_databusd(["--config", cfg], cwd=tmp)
        assert r.returncode == 100, (settings, r.stderr)
        assert "$.passengers[0].pullers[0]" in r.stderr, r.stderr
        assert word in r.stderr, (word, r.stderr)


def test_next_page_on_another_origin_not_followed(tmp, bus):
    evil = FakeHTTP(lambda req: (200, {}, [{"id": 99}]))

    def handler(req):
        return 200, {"Link": '<%s/steal>; rel="next"' % evil.url}, \
            [{"id": 1}, {"id": 2}]
    t = FakeHTTP(handler)
    try:
        d = definition("x", [{"name": "p", "type": "http_poll",
                              "url": t.url + "/items", "id": "/id",
                              "headers": {"Authorization": "secret"}}],
                       [{"name": "sink", "type": "null"}])
        b = bus({"acme": client(d)})
        b.wait_counts("acme", "x", pending=0, done=2, dead=0)
        b.drive("acme", "x")
        # The token never went to the other origin.
        assert evil.seen() == []
        assert "another origin" in json.dumps(
            [b.ctl("logs", "show", "acme", l["id"])
             for l in b.ctl("logs", "ls")["items"]])
    finally:
        t.close()
        evil.close()
