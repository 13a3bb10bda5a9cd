"""The Host allow-list (issue 13, finding 5): databus-web answers only
requests that name it, so a page on another site cannot read it through
DNS rebinding. databusd starts databus-web with web.allowed_hosts from
databus.json; the defaults are the listen host, localhost and loopback.
"""

import json
import socket

import pytest

from conftest import deadline, free_port, run_databusd, wait_for

USERS = {"acme": {"users": [{"username": "ann", "password": "ann-pw-1",
                             "role": "administrator"}]},
         "root": {"users": [{"username": "admin", "password": "root-pw-1"}]}}


def raw(port, method, path, host, origin=None, body=b"", version="1.1"):
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    if host is not None:
        lines.append("Host: " + host)
    if origin:
        lines.append("Origin: " + origin)
    if body:
        lines += ["Content-Type: application/json",
                  "Content-Length: %d" % len(body)]
    lines.append("Connection: close")
    req = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=deadline(10)) as s:
        s.sendall(req)
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.decode("latin-1").lower(), rest


@pytest.fixture
def web(bus):
    port = free_port()
    b = bus(USERS, workers=False, web={
        "enabled": True, "listen": "127.0.0.1:%d" % port,
        "allowed_hosts": ["databus.example.com", "10.9.8.7"]})
    b.web_port = port

    def up():
        try:
            return raw(port, "GET", "/healthz", "127.0.0.1:%d" % port)[0] \
                == 200
        except OSError:
            return False
    wait_for(up, 20, "databus-web")
    return b


def login_body():
    return json.dumps({"client": "acme", "username": "ann",
                       "password": "ann-pw-1"}).encode()


FOREIGN = ["evil.example:%d", "evil.example", "EVIL.example:%d",
           "127.0.0.1.evil.example:%d", "localhost.evil.example:%d",
           "databus.example.com.evil:%d", "[::2]:%d", "10.9.8.77:%d", "x",
           "databus.example.com@evil:%d", "localhost.:%d", ":%d", "[]:%d"]
ALLOWED = ["127.0.0.1:%d", "localhost:%d", "LOCALHOST:%d", "127.0.0.1",
           "databus.example.com:%d", "DataBus.Example.com", "10.9.8.7:%d",
           "[::1]:%d", "127.1.2.3:%d"]


def test_foreign_hosts_refused(web):
    for host in FOREIGN:
        foreign_host_refused(web, host)


def foreign_host_refused(web, host):
    port = web.web_port
    h = host % port if "%d" in host else host
    for path in ("/metrics", "/healthz", "/api/v1/info", "/"):
        st, head, body = raw(port, "GET", path, h)
        assert st == 421, (h, path, st, body[:200])
        assert json.loads(body)["error"]["code"] == "misdirected"
        assert b"acme" not in body
    # A matching foreign Host and Origin pair cannot log in.
    st, head, body = raw(port, "POST", "/api/v1/login", h,
                         origin="http://" + h, body=login_body())
    assert st == 421 and "set-cookie" not in head, (st, head)


def test_allowed_hosts_answered(web):
    for host in ALLOWED:
        allowed_host_answered(web, host)


def allowed_host_answered(web, host):
    port = web.web_port
    h = host % port if "%d" in host else host
    st, _, body = raw(port, "GET", "/metrics", h)
    assert st == 200 and b"databus_" in body, (h, st, body[:200])
    st, head, _ = raw(port, "POST", "/api/v1/login", h,
                      origin="http://" + h, body=login_body())
    assert st == 200 and "set-cookie: dbs_session=" in head, (h, st)


def test_request_without_host(web):
    # A request that names no host is not for us either.
    st, _, _ = raw(web.web_port, "GET", "/healthz", None, version="1.0")
    assert st == 421


@pytest.mark.parametrize("value, why", [
    ("databus.example.com", "array"),
    (["databus.example.com:80"], "[0]"),
    (["http://databus.example.com"], "[0]"),
    ([5], "[0]"),
    (["a b"], "[0]"),
])
def test_allowed_hosts_config_errors(tmp, value, why):
    from conftest import write_config
    cfg = write_config(tmp, USERS, web={"enabled": True,
                                         "listen": "127.0.0.1:1",
                                         "allowed_hosts": value})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    assert "$.web.allowed_hosts" in r.stderr and "databus.json" in r.stderr
