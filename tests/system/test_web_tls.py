"""databus-web over HTTPS: "web": {"tls": {"cert", "key"}} in databus.json.

A self-signed certificate is made for each test with the openssl command
line. databusd checks the files at load (a missing file, a file that is no
certificate, an encrypted key or the key of another certificate is a config
error naming the file and the JSON path, exit 100), then databus-web serves
HTTPS only: the session cookie is Secure, mutations need an https:// Origin,
every answer carries Strict-Transport-Security. Clients verify the server
against the test's certificate (python ssl and curl).
"""

import http.client
import json
import shutil
import socket
import ssl
import subprocess

import pytest

from conftest import (deadline, free_port, run_databusd, wait_for,
                      write_config)

USERS = {"acme": {"users": [{"username": "ann", "password": "ann-pw-1",
                             "role": "administrator"}]}}


def make_cert(d, name, passphrase=None):
    """A self-signed EC certificate for 127.0.0.1 in d/<name>.crt and its
    key in d/<name>.key (encrypted with passphrase, if given)."""
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / (name + ".crt"), d / (name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-keyout", str(key), "-out",
         str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"] +
        (["-passout", "pass:" + passphrase] if passphrase else ["-noenc"]),
        check=True, capture_output=True, timeout=deadline(30))
    return crt, key


class Https:
    def __init__(self, port, cafile):
        self.port = port
        self.host = "127.0.0.1:%d" % port
        self.origin = "https://" + self.host
        self.ctx = ssl.create_default_context(cafile=str(cafile))

    def request(self, method, path, body=None, cookie=None, origin=None):
        h = {"Origin": origin or self.origin}
        if body is not None:
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        if cookie:
            h["Cookie"] = "dbs_session=" + cookie
        c = http.client.HTTPSConnection("127.0.0.1", self.port,
                                        context=self.ctx,
                                        timeout=deadline(20))
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return (r.status, {k.lower(): v for k, v in r.getheaders()},
                    data, r.msg.get_all("Set-Cookie") or [])
        finally:
            c.close()


@pytest.fixture
def https(tmp, daemons):
    crt, key = make_cert(tmp / "tls", "web")
    port = free_port()
    # Relative paths are relative to databus.json.
    cfg = write_config(tmp, USERS, web={
        "enabled": True, "listen": "127.0.0.1:%d" % port,
        "tls": {"cert": "tls/web.crt", "key": "tls/web.key"}})
    bus = daemons(["--config", cfg], workers=False)
    w = Https(port, crt)

    def up():
        try:
            return w.request("GET", "/healthz")[0] == 200
        except OSError:
            return False
    wait_for(up, 20, "databus-web over https")
    w.bus, w.crt = bus, crt
    return w


def test_https_session(https):
    w = https
    status, hdrs, data, _ = w.request("GET", "/healthz")
    assert status == 200 and data == b"ok"
    assert hdrs.get("strict-transport-security") == "max-age=31536000"
    # An http:// Origin is cross-origin for an https server.
    status, hdrs, data, _ = w.request(
        "POST", "/api/v1/login", origin="http://" + w.host,
        body={"client": "acme", "username": "ann", "password": "ann-pw-1"})
    assert status == 403, data
    assert json.loads(data)["error"]["code"] == "forbidden_origin"
    status, hdrs, data, cookies = w.request(
        "POST", "/api/v1/login",
        body={"client": "acme", "username": "ann", "password": "ann-pw-1"})
    assert status == 200, data
    assert hdrs.get("strict-transport-security") == "max-age=31536000"
    session = [c for c in cookies if c.startswith("dbs_session=")]
    assert len(session) == 1
    attrs = [a.strip() for a in session[0].split(";")]
    assert "Secure" in attrs and "HttpOnly" in attrs, session
    token = attrs[0][len("dbs_session="):]
    status, _, data, _ = w.request("GET", "/api/v1/me", cookie=token)
    assert status == 200 and json.loads(data)["username"] == "ann"
    # Logout clears the cookie, Secure as well.
    status, _, _, cookies = w.request("POST", "/api/v1/logout", body={},
                                      cookie=token)
    assert status == 200
    assert any(c.startswith("dbs_session=;") and "Secure" in c
               for c in cookies), cookies
    assert w.request("GET", "/api/v1/me", cookie=token)[0] == 401
    # Limits hold under TLS too, with the same JSON error and HSTS.
    status, hdrs, data, _ = w.request(
        "POST", "/api/v1/login", body={"pad": "x" * 20000})
    assert status == 413, data
    assert json.loads(data)["error"]["code"] == "too_large"
    assert hdrs.get("strict-transport-security") == "max-age=31536000"
    # Above h2o's own limit: refused before the body is read.
    raw = socket.create_connection(("127.0.0.1", w.port),
                                   timeout=deadline(20))
    with w.ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(("POST /api/v1/login HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: application/json\r\nOrigin: %s\r\n"
                   "Content-Length: 10000000\r\n\r\n{"
                   % (w.host, w.origin)).encode())
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), data
    assert b"strict-transport-security: max-age=31536000" in head.lower()
    assert json.loads(body)["error"]["code"] == "too_large"


def test_https_only(https):
    """Plain HTTP on the TLS port gets no answer, and curl verifies the
    server against the certificate."""
    s = socket.create_connection(("127.0.0.1", https.port),
                                 timeout=deadline(10))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    assert b"200" not in data and b"ok" not in data.split(b"\r\n\r\n")[-1]
    if shutil.which("curl"):
        r = subprocess.run(
            ["curl", "-sS", "--cacert", str(https.crt), "-D", "-",
             "https://%s/healthz" % https.host],
            capture_output=True, text=True, timeout=deadline(20))
        assert r.returncode == 0, r.stderr
        assert "strict-transport-security: max-age=31536000" in \
            r.stdout.lower()
        # Without the certificate, curl refuses the self-signed server.
        r = subprocess.run(["curl", "-sS", "https://%s/healthz" % https.host],
                           capture_output=True, text=True,
                           timeout=deadline(20))
        assert r.returncode != 0


def test_http_has_no_tls_marks(tmp, daemons):
    """Without tls: no HSTS, no Secure (a browser would drop a Secure
    cookie on http)."""
    port = free_port()
    cfg = write_config(tmp, USERS, web={"enabled": True,
                                        "listen": "127.0.0.1:%d" % port})
    daemons(["--config", cfg], workers=False)
    origin = "http://127.0.0.1:%d" % port

    def login():
        c = http.client.HTTPConnection("127.0.0.1", port,
                                       timeout=deadline(10))
        try:
            c.request("POST", "/api/v1/login", body=json.dumps(
                {"client": "acme", "username": "ann",
                 "password": "ann-pw-1"}),
                headers={"Origin": origin,
                         "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            return r
        finally:
            c.close()

    def up():
        try:
            return login().status == 200
        except OSError:
            return False
    wait_for(up, 20, "databus-web over http")
    r = login()
    assert r.getheader("strict-transport-security") is None
    cookie = r.getheader("set-cookie")
    assert cookie and "Secure" not in cookie


def bad_tls(tmp, tls):
    cfg = write_config(tmp, USERS, web={
        "enabled": True, "listen": "127.0.0.1:%d" % free_port(),
        "tls": tls})
    r = run_databusd(["--config", cfg], cwd=tmp)
    assert r.returncode == 100, (r.returncode, r.stderr)
    return r.stderr


def test_tls_config_errors(tmp):
    d = tmp / "tls"
    crt, key = make_cert(d, "a")
    crt_b, key_b = make_cert(d, "b")
    make_cert(d, "enc", passphrase="secret")
    err = bad_tls(tmp, {"cert": "tls/missing.crt", "key": "tls/a.key"})
    assert "databus.json: $.web.tls.cert: " in err
    assert "missing.crt\": No such file or directory" in err
    err = bad_tls(tmp, {"cert": "tls/a.key", "key": "tls/a.key"})
    assert "$.web.tls.cert: " in err and "holds no PEM certificate" in err
    err = bad_tls(tmp, {"cert": "tls/a.crt", "key": "tls/b.key"})
    assert "databus.json: $.web.tls.key: " in err
    assert "b.key\" is not the key of the certificate in" in err
    err = bad_tls(tmp, {"cert": "tls/enc.crt", "key": "tls/enc.key"})
    assert "$.web.tls.key: " in err and "passphrase" in err
    # An unreadable key (mode 000) — unless the tests run as root.
    key.chmod(0)
    try:
        with open(key):
            readable = True
    except PermissionError:
        readable = False
    if not readable:
        err = bad_tls(tmp, {"cert": "tls/a.crt", "key": "tls/a.key"})
        assert "$.web.tls.key: " in err and "Permission denied" in err
