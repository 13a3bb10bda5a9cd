"""databus-web serving the single-page app (webui/static.c): index.html for
the app's own paths, hashed assets with a long cache and the right types,
and no way out of the app directory (.., percent escapes, NUL, symlinks).

databusd runs with its own web disabled; each test starts build/databus-web
with --static pointing at an app directory made in the temp dir, with a
secret file next to it and a symlink inside it pointing out.
"""

import http.client
import os
import subprocess

import pytest

from conftest import (BUILD, bench_puller, client, deadline, definition,
                      free_port, wait_for)

WEB = BUILD / "databus-web"
INDEX = b"<!doctype html><title>app</title>"
JS = b"console.log('app');"
SECRET = b"top secret"


class StaticWeb:
    def __init__(self, data_dir, static_dir):
        self.port = free_port()
        args = [str(WEB), "--data", data_dir, "--listen",
                "127.0.0.1:%d" % self.port]
        if static_dir is not None:
            args += ["--static", str(static_dir)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_for(self._healthy, 15, "databus-web /healthz")

    def _healthy(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path, method="GET"):
        """The path is sent as is (no client-side normalisation)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=deadline(20))
        try:
            c.putrequest(method, path, skip_accept_encoding=True)
            c.endheaders()
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        return r.status, hdrs, data

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=deadline(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def app(tmp, bus):
    b = bus({"acme": client(definition(
        "orders", [bench_puller(count=1)], [{"name": "n", "type": "null"}]))})
    root = tmp / "app"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "favicon.svg").write_bytes(b"<svg/>")
    (root / "assets" / "index-AbC_12-x.js").write_bytes(JS)
    (root / "assets" / "index-AbC_12-x.css").write_bytes(b"body{}")
    (tmp / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp / "secret.txt", root / "assets" / "link.js")
    os.symlink(tmp / "secret.txt", root / "link.txt")
    w = StaticWeb(b.data_dir, root)
    yield w
    w.stop()


def test_index_for_app_paths(app):
    for path in ["/", "/queue", "/queue/acme/5", "/login?x=1", "/a/b/c.d"]:
        status, hdrs, data = app.get(path)
        assert status == 200 and data == INDEX, path
        assert hdrs["content-type"].startswith("text/html")
        assert hdrs["cache-control"] == "no-cache"
        assert hdrs["content-security-policy"].startswith(
            "default-src 'self'")
        assert hdrs["x-content-type-options"] == "nosniff"


def test_assets_types_and_cache(app):
    status, hdrs, data = app.get("/assets/index-AbC_12-x.js")
    assert status == 200 and data == JS
    assert hdrs["content-type"].startswith("text/javascript")
    assert "immutable" in hdrs["cache-control"]
    status, hdrs, _ = app.get("/assets/index-AbC_12-x.css")
    assert status == 200 and hdrs["content-type"].startswith("text/css")
    status, hdrs, _ = app.get("/favicon.svg")
    assert status == 200 and hdrs["content-type"] == "image/svg+xml"
    status, hdrs, data = app.get("/assets/index-AbC_12-x.js", "HEAD")
    assert status == 200 and data == b""
    status, hdrs, _ = app.get("/assets/missing-123.js")
    assert status == 404 and hdrs["content-type"] == "application/json"


def test_no_way_out(app):
    paths = ["/assets/../../secret.txt", "/assets/..%2f..%2fsecret.txt",
             "/assets/%2e%2e/%2e%2e/secret.txt", "/../secret.txt",
             "/assets/link.js", "/link.txt", "/assets/.hidden.js",
             "/assets/a%00.js", "/assets//etc/passwd",
             "/%2e%2e/secret.txt", "/assets/sub/x.js"]
    for path in paths:
        status, _, data = app.get(path)
        assert SECRET not in data, path
        assert status in (200, 400, 404), (path, status)
        if status == 200:
            assert data == INDEX, path


def test_api_paths_are_not_the_app(app):
    status, hdrs, _ = app.get("/api/v1/nothing")
    assert status == 404 and hdrs["content-type"] == "application/json"
    status, hdrs, _ = app.get("/api")
    assert status == 404 and hdrs["content-type"] == "application/json"
    status, _, _ = app.get("/queue", "DELETE")
    assert status == 405


def test_without_app_dir_the_api_still_serves(tmp, bus):
    b = bus({"acme": client(definition(
        "orders", [bench_puller(count=1)], [{"name": "n", "type": "null"}]))})
    w = StaticWeb(b.data_dir, tmp / "no-such-dir")
    try:
        status, hdrs, _ = w.get("/")
        assert status == 404 and hdrs["content-type"] == "application/json"
        assert w.get("/healthz")[0] == 200
    finally:
        w.stop()
