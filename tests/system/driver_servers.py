"""Real servers for the mail and SQL driver tests, started on loopback in
the test's temp dir: PostgreSQL (initdb + postgres), Dovecot (IMAP, with
password logins and optionally OAuth 2.0 bearer logins checked against an
introspection endpoint) and a minimal SMTP sink (optionally requiring
SASL XOAUTH2 / OAUTHBEARER). Each runs as an unprivileged user when the tests run as
root (postgres as `postgres`, Dovecot as `dovecot`, both created by the
Debian packages), so the temp dir is made traversable (0711) and the
server's own folder is handed to that user.

Every server is stopped (and waited for) by its fixture; none is left
behind, so the `daemons` fixture's check for leftover processes holds.
"""

import base64
import email
import email.policy
import imaplib
import os
import pwd
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import deadline, free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_user(name):
    """Popen keyword arguments that run a child as `name` when we are
    root, and as ourselves otherwise."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(name)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _give(path, name):
    """Hand `path` (recursively) to user `name` when we are root."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(name)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o755)


def _stop(proc, sig, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(deadline(timeout))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -------------------------------------------------------------- PostgreSQL

class Postgres:
    """A throwaway cluster: trust authentication, user `postgres`,
    listening on 127.0.0.1:<port> and a unix socket in its folder."""

    def __init__(self, tmp):
        os.chmod(tmp, 0o711)
        self.dir = Path(tmp) / "pg"
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.port = free_port()
        self.proc = None
        self.log = self.dir / "postgres.log"
        self.dir.mkdir()
        self.sock.mkdir()
        _give(self.dir, "postgres")
        r = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
            capture_output=True, text=True, timeout=deadline(120),
            cwd=str(self.dir), **_as_user("postgres"))
        assert r.returncode == 0, "initdb failed:\n%s%s" % (r.stdout,
                                                           r.stderr)

    @property
    def conninfo(self):
        return ("host=127.0.0.1 port=%d user=postgres dbname=postgres"
                % self.port)

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.data),
             "-p", str(self.port), "-k", str(self.sock),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(self.dir), **_as_user("postgres"))
        logf.close()
        wait_for(lambda: self._ready(), 60, "postgres accepting "
                 "connections on port %d" % self.port)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited: %s"
                                 % self.log.read_text(errors="replace"))
        r = subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h",
                            "127.0.0.1", "-p", str(self.port)],
                           capture_output=True)
        return r.returncode == 0

    def stop(self):
        # SIGINT: fast shutdown (sessions are ended).
        _stop(self.proc, signal.SIGINT)
        self.proc = None

    def sql(self, statement):
        """Run SQL with psql; rows as lists of strings ('' for NULL)."""
        r = subprocess.run(
            ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", "postgres", "-c", statement],
            capture_output=True, text=True, timeout=deadline(60))
        assert r.returncode == 0, "psql %r: %s" % (statement, r.stderr)
        return [line.split("\t") for line in r.stdout.splitlines()]


@pytest.fixture
def postgres(tmp):
    pg = Postgres(tmp)
    pg.start()
    yield pg
    pg.stop()


# ------------------------------------------------------------------ Dovecot

DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechs}
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{dir}/mail/%u
mail_plugins =
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={user} gid={group} home={dir}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {user}
}}
"""


DOVECOT_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2.conf
}}
"""

# Dovecot's oauth2 passdb asks the introspection endpoint (RFC 7662, POST
# token=...) about every bearer token: the token must be active and its
# "username" must be the user the client logs in as.
DOVECOT_OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 10000
"""


class Dovecot:
    """Dovecot on 127.0.0.1:<port> with a maildir store and a passwd-file
    of users in its folder, started with `-F -c <folder>/dovecot.conf`.
    With tls=True it also serves IMAPS on <imaps_port> with a fresh
    self-signed certificate for 127.0.0.1 (its PEM file is `cert`). With
    introspection_url, it also takes SASL XOAUTH2 and OAUTHBEARER logins
    (the oauth2 passdb) and has each token checked at that URL."""

    def __init__(self, tmp, users, tls=False, introspection_url=None):
        os.chmod(tmp, 0o711)
        self.dir = Path(tmp) / "dovecot"
        n = 1
        while self.dir.exists():  # a second server in the same test
            n += 1
            self.dir = Path(tmp) / ("dovecot-%d" % n)
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.users = dict(users)
        self.proc = None
        for d in ("run", "state", "mail", "home"):
            (self.dir / d).mkdir(parents=True)
        ssl = "ssl = no"
        self.cert = None
        if tls:
            self.cert = self.dir / "cert.pem"
            key = self.dir / "key.pem"
            r = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-days", "2", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1",
                 "-keyout", str(key), "-out", str(self.cert)],
                capture_output=True, text=True, timeout=deadline(60))
            assert r.returncode == 0, r.stderr
            ssl = ("ssl = yes\nssl_cert = <%s\nssl_key = <%s"
                   % (self.cert, key))
        (self.dir / "passwd").write_text("".join(
            "%s:{PLAIN}%s::::::\n" % (u, p) for u, p in self.users.items()))
        if os.geteuid() == 0:
            user = "dovecot"
        else:
            user = pwd.getpwuid(os.geteuid()).pw_name
        group = user if os.geteuid() == 0 else \
            __import__("grp").getgrgid(os.getegid()).gr_name
        oauth_mechs, oauth_passdb = "", ""
        if introspection_url:
            oauth_mechs = " xoauth2 oauthbearer"
            oauth_passdb = DOVECOT_OAUTH2_PASSDB.format(dir=self.dir)
            (self.dir / "oauth2.conf").write_text(
                DOVECOT_OAUTH2_CONF.format(url=introspection_url))
        (self.dir / "dovecot.conf").write_text(DOVECOT_CONF.format(
            dir=self.dir, port=self.port, user=user, group=group, ssl=ssl,
            imaps_port=self.imaps_port, oauth_mechs=oauth_mechs,
            oauth_passdb=oauth_passdb))
        _give(self.dir, "dovecot")

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/sbin/dovecot", "-F", "-c", str(self.dir / "dovecot.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr", "w"), cwd=str(self.dir),
            **_as_user("dovecot"))
        wait_for(self._ready, 30, "dovecot on port %d" % self.port)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("dovecot exited: %s %s" % (
                (self.dir / "stderr").read_text(errors="replace"),
                self.logtext()))
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def logtext(self):
        try:
            return (self.dir / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        _stop(self.proc, signal.SIGTERM)
        self.proc = None

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login(user, self.users[user])
        return m

    def append(self, user, raw, folder="INBOX", flags=None):
        """APPEND one message; returns its UID."""
        m = self.imap(user)
        try:
            if folder != "INBOX":
                m.create(folder)
            typ, data = m.append(folder, flags, None, raw)
            assert typ == "OK", data
            # [APPENDUID <validity> <uid>]
            text = data[0].decode()
            return int(text.split("APPENDUID ")[1].split()[1].rstrip("]"))
        finally:
            m.logout()

    def flags(self, user, folder="INBOX"):
        """{uid: set of flags} of every message in `folder`, read with
        EXAMINE (read-only: looking changes nothing)."""
        m = self.imap(user)
        try:
            typ, _ = m.select(folder, readonly=True)
            if typ != "OK":
                return None
            typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
            out = {}
            for item in data:
                if not item:
                    continue
                text = item.decode() if isinstance(item, bytes) else \
                    item[0].decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                fl = text.split("FLAGS (")[1].split(")")[0].split()
                out[uid] = set(fl)
            return out
        finally:
            m.logout()


@pytest.fixture
def dovecot_factory(tmp):
    started = []

    def make(users, tls=False, introspection_url=None):
        d = Dovecot(tmp, users, tls=tls,
                    introspection_url=introspection_url).start()
        started.append(d)
        return d
    yield make
    for d in started:
        d.stop()


# --------------------------------------------------------------- SMTP sink

def sasl_bearer(mech, raw):
    """(user, token) of a decoded SASL XOAUTH2 or OAUTHBEARER (RFC 7628)
    initial response, or None when it is malformed."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = text.split("\x01")
    user = None
    if mech == "OAUTHBEARER":
        gs2 = fields[0].split(",")  # n,a=user,
        if len(gs2) < 2 or gs2[0] not in ("n", "y"):
            return None
        user = gs2[1][2:] if gs2[1].startswith("a=") else None
        fields = fields[1:]
    auth = None
    for f in fields:
        if f.startswith("user=") and mech == "XOAUTH2":
            user = f[5:]
        elif f.startswith("auth="):
            auth = f[5:]
    if user is None or auth is None or not auth.startswith("Bearer "):
        return None
    return user, auth[7:]


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept mail from libcurl: EHLO/HELO,
    MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT; and,
    when the sink has a `verify` function, AUTH XOAUTH2 / OAUTHBEARER
    (RFC 4954, RFC 7628) required before MAIL."""

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def auth(self, cmd):
        """One SASL exchange; True when the bearer token was accepted."""
        sink = self.server.sink
        parts = cmd.split()
        mech = parts[1].upper() if len(parts) > 1 else ""
        if mech not in ("XOAUTH2", "OAUTHBEARER"):
            self.reply("504 5.5.4 mechanism not supported")
            return False
        if len(parts) > 2:
            initial = parts[2]
        else:
            self.reply("334 ")
            initial = self.rfile.readline(65536).decode().strip()
        try:
            got = sasl_bearer(mech, base64.b64decode(initial, validate=True))
        except ValueError:
            got = None
        ok = got is not None and sink.verify(*got)
        with sink.lock:
            sink.logins.append((mech, got, ok))
        if ok:
            self.reply("235 2.7.0 Authentication successful")
            return True
        # The failure challenge, then the client's (empty or ^A) answer.
        self.reply("334 " + base64.b64encode(
            b'{"status":"invalid_token"}').decode())
        self.rfile.readline(65536)
        self.reply("535 5.7.8 Authentication credentials invalid")
        return False

    def handle(self):
        sink = self.server.sink
        self.reply("220 sink.test ESMTP ready")
        mail_from, rcpts = None, []
        authed = sink.verify is None
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                auth = ("250-AUTH XOAUTH2 OAUTHBEARER\r\n"
                        if sink.verify is not None else "")
                self.reply("250-sink.test\r\n" + auth +
                           "250-8BITMIME\r\n250 SIZE 0"
                           if verb == "EHLO" else "250 sink.test")
            elif verb == "AUTH" and sink.verify is not None and not authed:
                authed = self.auth(cmd)
            elif cmd.upper().startswith("MAIL FROM:") and not authed:
                self.reply("530 5.7.0 Authentication required")
            elif cmd.upper().startswith("MAIL FROM:"):
                mail_from, rcpts = cmd[10:].strip().split()[0], []
                self.reply("250 OK")
            elif cmd.upper().startswith("RCPT TO:"):
                if sink.refuse_rcpt:
                    self.reply("550 no such user")
                    continue
                rcpts.append(cmd[8:].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self.reply("503 need MAIL and RCPT first")
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                data = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data.append(l)
                with sink.lock:
                    sink.messages.append({"from": mail_from,
                                          "to": list(rcpts),
                                          "data": b"".join(data)})
                self.reply("250 OK queued")
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.
    With verify(user, token) -> bool, a client must log in with SASL
    XOAUTH2 or OAUTHBEARER first; every attempt is kept in `logins` as
    (mechanism, (user, token) or None, accepted). `port` 0 picks a free
    one; another one brings a sink back on a port used before."""

    def __init__(self, verify=None, port=0):
        self.messages = []
        self.logins = []
        self.verify = verify
        self.lock = threading.Lock()
        self.refuse_rcpt = False
        self.server = _Server(("127.0.0.1", port), _SmtpHandler)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def parsed(self):
        with self.lock:
            msgs = list(self.messages)
        return [(m, email.message_from_bytes(m["data"],
                                             policy=email.policy.default))
                for m in msgs]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp_sink():
    s = SmtpSink()
    yield s
    s.close()
