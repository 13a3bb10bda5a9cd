"""OAuth 2.0 logins of the mail drivers (SASL XOAUTH2 / OAUTHBEARER), the
way Exchange Online and Gmail want them: the imap puller against a real
Dovecot whose oauth2 passdb asks the test's introspection endpoint about
every token, the smtp pusher against the SMTP sink doing the SASL
exchange and asking the same endpoint. The test's token endpoint grants
short-lived access tokens for a refresh token or client credentials.

A valid token logs in; a token that expired is renewed before the next
login and the puller goes on; a revoked refresh token is a clear,
permanent error (the endpoint is not asked again); no token, refresh token
or client secret ever appears in a log, the event log or the store."""
import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import client, definition, run_databusd, wait_for, \
    write_config
from driver_servers import SmtpSink, dovecot_factory  # noqa: F401
from test_drv_imap import _passengers, make_mail

CLIENT_ID = "databus-test"


class OAuthServer:
    """A token endpoint (POST /token: refresh_token and client_credentials
    grants, RFC 6749) and an introspection endpoint (POST /introspect,
    RFC 7662) on 127.0.0.1. Access tokens live `lifetime` seconds."""

    def __init__(self, lifetime=3600):
        self.lifetime = lifetime
        self.client_secret = "cs-" + secrets.token_urlsafe(18)
        self.refresh_tokens = {"rt-" + secrets.token_urlsafe(18): "alice"}
        self.revoked = set()
        self.access = {}  # token -> (user, expires at)
        self.grants = []  # (grant_type, status)
        self.introspected = []  # (token, active)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(
                    self.rfile.read(n).decode(), keep_blank_values=True))
                status, body = outer.handle(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.token_url = "http://127.0.0.1:%d/token" % self.port
        self.introspection_url = "http://127.0.0.1:%d/introspect" % self.port
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    @property
    def refresh_token(self):
        return next(iter(self.refresh_tokens))

    def handle(self, path, form):
        with self.lock:
            if path == "/introspect":
                user, exp = self.access.get(form.get("token"), (None, 0))
                active = user is not None and time.time() < exp
                self.introspected.append((form.get("token"), active))
                return 200, ({"active": True, "username": user,
                              "exp": int(exp)} if active
                             else {"active": False})
            if path != "/token":
                return 404, {"error": "not_found"}
            grant = form.get("grant_type")
            user = None
            if form.get("client_id") != CLIENT_ID or \
                    form.get("client_secret") != self.client_secret:
                status, body = 401, {"error": "invalid_client"}
            elif grant == "refresh_token":
                rt = form.get("refresh_token")
                user = self.refresh_tokens.get(rt)
                if user is None or rt in self.revoked:
                    user = None
                    status, body = 400, {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or "
                                             "revoked."}
            elif grant == "client_credentials" and \
                    form.get("scope") == "mail.send":
                user = "alice"
            else:
                status, body = 400, {"error": "unsupported_grant_type"}
            if user is not None:
                tok = "at-" + secrets.token_urlsafe(24)
                self.access[tok] = (user, time.time() + self.lifetime)
                status, body = 200, {"access_token": tok,
                                     "token_type": "Bearer",
                                     "expires_in": self.lifetime}
            self.grants.append((grant, status))
            return status, body

    def verify(self, user, token):
        """What an SMTP server does with a bearer token: introspect."""
        _, body = self.handle("/introspect", {"token": token})
        return body["active"] and body["username"] == user

    def issued(self):
        with self.lock:
            return list(self.access)

    def secret_values(self):
        return [self.client_secret] + list(self.refresh_tokens) + \
            self.issued()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _env(srv):
    return {"DBS_TEST_REFRESH_TOKEN": srv.refresh_token,
            "DBS_TEST_CLIENT_SECRET": srv.client_secret}


def _oauth(tmp, srv, **over):
    o = {"token_url": srv.token_url, "client_id": CLIENT_ID,
         "client_secret": "env:DBS_TEST_CLIENT_SECRET",
         "refresh_token": "env:DBS_TEST_REFRESH_TOKEN"}
    o.update(over)
    return o


def _imap_def(tmp, dc, srv, out, **over):
    p = {"name": "inbox", "type": "imap",
         "url": "imap://127.0.0.1:%d/" % dc.port, "username": "alice",
         "starttls": False, "oauth2": _oauth(tmp, srv)}
    p.update(over)
    return definition("mail", [p],
                      [{"name": "out", "type": "dir", "path": str(out),
                        "passenger_json": True}])


def _assert_no_secret_leaked(b, srv, tmp):
    """Neither the daemon's output, nor the drive logs, nor anything in
    the store (queue, logs, event log: every byte of the data dir) holds
    a token or the client secret."""
    texts = [b.stderr()]
    for it in b.ctl("logs", "ls")["items"]:
        texts.append(json.dumps(b.ctl("logs", "show", it["client"],
                                      it["id"])))
    blob = "\n".join(texts).encode()
    for root, _, files in os.walk(b.data_dir):
        for f in files:
            if Path(root, f).is_file():  # not the control socket
                blob += Path(root, f).read_bytes()
    for s in srv.secret_values():
        assert s.encode() not in blob, "a secret leaked: %s..." % s[:6]


def _log_texts(b, client_name):
    return [json.dumps(b.ctl("logs", "show", client_name, it["id"]))
            for it in b.ctl("logs", "ls")["items"]]


def test_imap_xoauth2_login_and_renewal(tmp, bus, dovecot_factory):
    srv = OAuthServer(lifetime=3)
    try:
        dc = dovecot_factory({"alice": "pw-for-the-test-only"},
                             introspection_url=srv.introspection_url)
        out = tmp / "out"
        out.mkdir()
        dc.append("alice", make_mail(1))
        b = bus({"acme": client(_imap_def(tmp, dc, srv, out))},
                env=_env(srv))
        b.drive("acme", "mail")
        b.wait_counts("acme", "mail", pending=0, done=1, dead=0)
        first = srv.issued()
        assert len(first) >= 1, srv.grants
        # Dovecot let the puller in because the endpoint vouched for it.
        assert (first[-1], True) in srv.introspected, srv.introspected
        assert all(g == ("refresh_token", 200) for g in srv.grants)

        # The token runs out; Dovecot would refuse it now. The next drive
        # renews it and logs in again with the new one.
        wait_for(lambda: time.time() > srv.access[first[-1]][1], 10,
                 "the first access token to expire")
        dc.append("alice", make_mail(2))
        b.drive("acme", "mail")
        b.wait_counts("acme", "mail", pending=0, done=2, dead=0)
        assert "msg-2@example.test" in _passengers(out)
        later = [t for t in srv.issued() if t not in first]
        assert later, srv.grants
        assert (later[-1], True) in srv.introspected
        # The expired token was never presented once it had expired.
        assert (first[-1], False) not in srv.introspected
        # The cached token is reused while it is valid: one grant per
        # lifetime, not one per command or drive.
        assert len(srv.grants) <= len(srv.issued())
        _assert_no_secret_leaked(b, srv, tmp)
        assert b.stop() == 0
    finally:
        srv.close()


def test_imap_token_refused_by_the_server(tmp, bus, dovecot_factory):
    """Dovecot refuses a token issued for another user: the puller drops
    it, asks for a new one once, and reports the refused login."""
    srv = OAuthServer()
    try:
        dc = dovecot_factory({"alice": "pw-for-the-test-only",
                              "bob": "pw-for-the-test-only"},
                             introspection_url=srv.introspection_url)
        out = tmp / "out"
        out.mkdir()
        dc.append("bob", make_mail(1))
        b = bus({"acme": client(_imap_def(tmp, dc, srv, out,
                                          username="bob"))},
                env=_env(srv))
        wait_for(lambda: (lambda d: d.get("last_run") and
                          not d.get("driving"))(b.definition("acme", "mail")),
                 30, "the start-up drive to end")
        texts = wait_for(lambda: [t for t in _log_texts(b, "acme")
                                  if "denied" in t.lower()], 20,
                         "the refused login in a drive log")
        assert "imap://127.0.0.1:%d/" % dc.port in texts[0], texts[0]
        # The first token, refused, then one fresh try (refused too).
        assert srv.grants == [("refresh_token", 200)] * 2, srv.grants
        # Both were valid, but for alice: Dovecot refused bob's login.
        assert [ok for _, ok in srv.introspected] == [True, True]
        # The next drive: the cached token, then one new one.
        b.drive("acme", "mail")
        assert srv.grants == [("refresh_token", 200)] * 3, srv.grants
        assert [ok for _, ok in srv.introspected] == [True] * 4
        assert b.counts("acme", "mail") == (0, 0, 0)
        _assert_no_secret_leaked(b, srv, tmp)
        assert b.stop() == 0
    finally:
        srv.close()


def test_revoked_refresh_token_is_permanent(tmp, bus, dovecot_factory):
    srv = OAuthServer()
    srv.revoked.add(srv.refresh_token)
    sink = SmtpSink(verify=srv.verify)
    try:
        dc = dovecot_factory({"alice": "pw-for-the-test-only"},
                             introspection_url=srv.introspection_url)
        out = tmp / "out"
        out.mkdir()
        dc.append("alice", make_mail(1))
        (tmp / "in").mkdir()
        (tmp / "in" / "a.txt").write_text("hello\n")
        smtp = definition(
            "notify",
            [{"name": "inbox", "type": "dir", "path": str(tmp / "in"),
              "pattern": "*"}],
            [{"name": "mail", "type": "smtp",
              "url": "smtp://127.0.0.1:%d" % sink.port, "starttls": False,
              "username": "alice", "from": "bot@example.test",
              "to": "ops@example.test", "oauth2": _oauth(tmp, srv)}],
            retry={"max_attempts": 100, "backoff": "1s",
                   "max_backoff": "2s"})
        b = bus({"acme": client(_imap_def(tmp, dc, srv, out), smtp)},
                env=_env(srv))

        # The pusher: the step fails permanently, saying why.
        b.drive("acme", "notify")
        b.wait_counts("acme", "notify", pending=0, done=0, dead=1)
        item = [p for p in b.queue("--client", "acme")
                if p["definition"] == "notify"][0]
        errs = [s.get("error", "") for s in item["steps"]]
        assert any("refused the refresh token" in e and "revoked" in e
                   for e in errs), errs
        assert sink.logins == [] and sink.messages == []

        # The puller: an error in the drive log, nothing pulled, and the
        # endpoint is not asked again at the next drive.
        b.drive("acme", "mail")
        wait_for(lambda: any("refused the refresh token" in t
                             for t in _log_texts(b, "acme")), 20,
                 "the puller's error in a drive log")
        asked = len(srv.grants)
        b.drive("acme", "mail")
        assert len(srv.grants) == asked, srv.grants
        assert b.counts("acme", "mail") == (0, 0, 0)
        assert all("\\Seen" not in f for f in dc.flags("alice").values())
        assert all(g == ("refresh_token", 400) for g in srv.grants)
        _assert_no_secret_leaked(b, srv, tmp)
        assert b.stop() == 0
    finally:
        sink.close()
        srv.close()


def test_smtp_oauthbearer_client_credentials(tmp, bus):
    srv = OAuthServer(lifetime=3)
    sink = SmtpSink(verify=srv.verify)
    try:
        (tmp / "in").mkdir()
        (tmp / "in" / "a.txt").write_text("first\n")
        o = _oauth(tmp, srv, grant="client_credentials", scope="mail.send",
                   mechanism="oauthbearer")
        del o["refresh_token"]
        d = definition(
            "notify",
            [{"name": "inbox", "type": "dir", "path": str(tmp / "in"),
              "pattern": "*"}],
            [{"name": "mail", "type": "smtp",
              "url": "smtp://127.0.0.1:%d" % sink.port, "starttls": False,
              "username": "alice", "from": "bot@example.test",
              "to": "ops@example.test", "oauth2": o}])
        b = bus({"acme": client(d)}, env=_env(srv))
        b.drive("acme", "notify")
        b.wait_counts("acme", "notify", pending=0, done=1, dead=0)
        assert len(sink.messages) == 1
        first = srv.issued()
        assert [(m, ok) for m, _, ok in sink.logins] == \
            [("OAUTHBEARER", True)], sink.logins
        assert sink.logins[0][1] == ("alice", first[-1])

        # Expired: the next push sends with a new token.
        wait_for(lambda: time.time() > srv.access[first[-1]][1], 10,
                 "the first access token to expire")
        (tmp / "in" / "b.txt").write_text("second\n")
        b.drive("acme", "notify")
        b.wait_counts("acme", "notify", pending=0, done=2, dead=0)
        assert len(sink.messages) == 2
        assert sink.logins[-1][2] and sink.logins[-1][1][1] not in first
        assert all(ok for _, _, ok in sink.logins), sink.logins
        assert all(g == ("client_credentials", 200) for g in srv.grants)
        _assert_no_secret_leaked(b, srv, tmp)
        assert b.stop() == 0
    finally:
        sink.close()
        srv.close()


def test_oauth2_settings_at_check(tmp):
    srv_url = "https://login.example.test/oauth2/v2.0/token"
    base = {"token_url": srv_url, "client_id": "x",
            "refresh_token": "env:DBS_TEST_SET"}
    cases = [
        ({"oauth2": "yes"}, "oauth2", "expected an object"),
        ({"oauth2": {"client_id": "x"}}, "oauth2.token_url", "missing"),
        ({"oauth2": dict(base, token_url="http://login.example.test/t")},
         "oauth2.token_url", "https://"),
        ({"oauth2": dict(base, grant="password")}, "oauth2.grant",
         "client_credentials"),
        ({"oauth2": dict(base, mechanism="plain")}, "oauth2.mechanism",
         "xoauth2"),
        ({"oauth2": dict(base, refresh_token="env:DBS_TEST_UNSET_VAR")},
         "oauth2.refresh_token", "not set"),
        ({"oauth2": {"token_url": srv_url, "client_id": "x"}},
         "oauth2.refresh_token", "missing"),
        ({"oauth2": dict(base, grant="client_credentials")},
         "oauth2.refresh_token", "not used"),
        ({"oauth2": dict(base, client_secret="env:DBS_TEST_UNSET_VAR")},
         "oauth2.client_secret", "not set"),
        ({"oauth2": dict(base, ca_file="/etc/ssl/certs/x.pem")},
         "oauth2.ca_file", "unknown setting"),
        ({"oauth2": dict(base, tenant="x")}, "oauth2.tenant",
         "unknown setting"),
        ({"oauth2": base, "password": "pw"}, "oauth2", "password"),
    ]
    for kind in ("imap", "smtp"):
        for over, where, words in cases:
            if kind == "imap":
                p = {"name": "inbox", "type": "imap",
                     "url": "imap://127.0.0.1:1/", "username": "alice"}
                p.update(over)
                d = definition("mail", [p], [{"name": "n",
                                              "type": "null"}])
                at = "$.passengers[0].pullers[0]"
            else:
                p = {"name": "mail", "type": "smtp",
                     "url": "smtp://127.0.0.1:1", "username": "alice",
                     "from": "a@example.test", "to": "b@example.test"}
                p.update(over)
                d = definition("mail", [{"name": "in", "type": "dir",
                                         "path": str(tmp)}], [p])
                at = "$.passengers[0].pushers[0]"
            cfg = write_config(tmp, {"acme": client(d)})
            r = run_databusd(["--config", cfg], tmp,
                             env={"DBS_TEST_SET": "rt-set"})
            assert r.returncode == 100, (kind, over, r.stderr)
            assert at in r.stderr, (kind, over, r.stderr)
            assert "%s: " % where in r.stderr and words in r.stderr, \
                (kind, over, r.stderr)
            assert "rt-set" not in r.stderr
