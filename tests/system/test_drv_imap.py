"""imap puller against a real Dovecot started by the test (loopback, a
throwaway maildir store and passwd-file): unseen messages become
passengers with the raw .eml, the MIME parts and the headers; notify marks
them \\Seen or moves them; peek changes no flag; the Excel-only example
config keeps just the mails with a spreadsheet."""
import email
import email.policy
import json
import os
import re
from email.message import EmailMessage
from pathlib import Path

from conftest import REPO, client, definition, wait_for
from driver_servers import dovecot_factory  # noqa: F401 (fixture)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def make_mail(n, attachments=(), subject=None, html=False):
    m = EmailMessage()
    m["From"] = "Sender %d <sender%d@example.test>" % (n, n)
    m["To"] = "ops@example.test"
    m["Subject"] = subject or "report %d" % n
    m["Date"] = "Mon, 02 Mar 2026 10:%02d:00 +0100" % n
    m["Message-ID"] = "<msg-%d@example.test>" % n
    m.set_content("Hello %d,\nsee attached.\n+ a line that looks like "
                  "IMAP continuation\nD1 OK not a tagged reply\n" % n)
    if html:
        m.add_alternative("<p>Hello %d</p>" % n, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype,
                         filename=name)
    return m.as_bytes(policy=email.policy.SMTP)


def _imap_def(dc, retry=None, processors=(), out=None, **over):
    p = {"name": "inbox", "type": "imap",
         "url": "imap://127.0.0.1:%d/" % dc.port, "username": "alice",
         "password": "env:DBS_TEST_IMAP_PASSWORD", "starttls": False}
    p.update(over)
    return definition("mail", [p],
                      [{"name": "out", "type": "dir", "path": str(out),
                        "passenger_json": True}],
                      processors=processors)


ENV = {"DBS_TEST_IMAP_PASSWORD": "s3cret pass"}


def _passengers(out):
    """{external_id: (passenger json, {attachment name: bytes})}."""
    res = {}
    for f in sorted(os.listdir(out)):
        if not f.endswith(".json"):
            continue
        p = json.loads((out / f).read_text())
        atts = {}
        for a in p["attachments"]:
            # The dir pusher's sanitising, byte by byte.
            safe = re.sub(rb"[^A-Za-z0-9._-]", b"_",
                          a["name"].encode()).decode()
            f = out / ("%s-%s" % (p["id"], safe))
            if f.exists():
                atts[a["name"]] = f.read_bytes()
        res[p["external_id"]] = (p, atts)
    return res


def _crlf(b):
    return b.replace(b"\r\n", b"\n")


def test_pull_parts_metadata_and_seen(tmp, bus, dovecot_factory):
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    out = tmp / "out"
    out.mkdir()
    sheet = os.urandom(3000)
    pdf = b"%PDF-1.4\n" + os.urandom(500)
    raws = {
        1: make_mail(1, [("report.xlsx", XLSX, sheet)]),
        2: make_mail(2, html=True),
        3: make_mail(3, [("Rechnung März.pdf", "application/pdf", pdf)],
                     subject="Grüße aus Köln"),
    }
    uids = {n: dc.append("alice", raw) for n, raw in raws.items()}
    # An already seen message is not a new one.
    dc.append("alice", make_mail(4), flags="(\\Seen)")

    b = bus({"acme": client(_imap_def(dc, out=out))}, env=ENV)
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=3, dead=0)

    got = _passengers(out)
    assert sorted(got) == ["msg-1@example.test", "msg-2@example.test",
                           "msg-3@example.test"], sorted(got)
    p1, a1 = got["msg-1@example.test"]
    md = p1["metadata"]
    assert md["from"] == "Sender 1 <sender1@example.test>", md
    assert md["to"] == "ops@example.test"
    assert md["subject"] == "report 1"
    assert md["date"] == "2026-03-02T09:01:00Z", md
    assert md["message_id"] == "msg-1@example.test"
    assert md["uid"] == str(uids[1]) and md["folder"] == "INBOX"
    # The raw message, byte for byte (Dovecot keeps what was appended).
    assert _crlf(a1["message.eml"]) == _crlf(raws[1])
    assert a1["report.xlsx"] == sheet
    types = {a["name"]: a["content_type"] for a in p1["attachments"]}
    assert types["report.xlsx"] == XLSX
    assert types["message.eml"] == "message/rfc822"
    # The text body is decoded, and protocol-looking lines are content.
    assert b"+ a line that looks like IMAP" in a1["body.txt"]
    assert b"D1 OK not a tagged reply" in a1["body.txt"]

    p2, a2 = got["msg-2@example.test"]
    assert a2["body.html"].strip() == b"<p>Hello 2</p>"
    assert set(a2) == {"message.eml", "body.txt", "body.html"}

    p3, a3 = got["msg-3@example.test"]
    assert p3["metadata"]["subject"] == "Grüße aus Köln"
    assert a3["Rechnung März.pdf"] == pdf

    # Notify marked exactly the seated ones \Seen.
    flags = dc.flags("alice")
    assert all("\\Seen" in f for f in flags.values()), flags

    # Nothing new at the next drive; a new mail flows alone.
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=3, dead=0)
    dc.append("alice", make_mail(5))
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=4, dead=0)
    assert "msg-5@example.test" in _passengers(out)
    assert b.stop() == 0


def test_peek_changes_no_flag(tmp, bus, dovecot_factory):
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    out = tmp / "out"
    out.mkdir()
    b = bus({"acme": client(_imap_def(dc, out=out))}, env=ENV)
    wait_for(lambda: (lambda d: d.get("last_run") and not d.get("driving"))
             (b.definition("acme", "mail")), 30, "the start-up drive to end")
    for n in range(1, 4):
        dc.append("alice", make_mail(n, [("a%d.xlsx" % n, XLSX, b"x" * 99)]))
    dc.append("alice", make_mail(9), flags="(\\Flagged)")
    before = dc.flags("alice")
    assert len(before) == 4 and not any("\\Seen" in f
                                        for f in before.values())

    peek = b.ctl("peek", "acme", "mail")
    items = peek["items"] if isinstance(peek, dict) else peek
    assert sorted(i["external_id"] for i in items) == \
        ["msg-%d@example.test" % n for n in (1, 2, 3, 9)], items
    names = {a["name"] for a in items[0]["attachments"]}
    assert "message.eml" in names and "body.txt" in names, items[0]
    assert dc.flags("alice") == before
    assert b.counts("acme", "mail") == (0, 0, 0)

    # The pull that follows still finds all of them.
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=4, dead=0)
    after = dc.flags("alice")
    assert all("\\Seen" in f for f in after.values()), after
    assert b.stop() == 0


def test_move_to_folder(tmp, bus, dovecot_factory):
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    out = tmp / "out"
    out.mkdir()
    dc.append("alice", make_mail(0), folder="Processed")  # creates it
    for n in range(1, 4):
        dc.append("alice", make_mail(n))
    b = bus({"acme": client(_imap_def(dc, out=out, move_to="Processed"))},
            env=ENV)
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=3, dead=0)
    assert dc.flags("alice") == {}
    assert len(dc.flags("alice", "Processed")) == 4
    assert b.stop() == 0


def test_wrong_password_loses_nothing(tmp, bus, dovecot_factory):
    dc = dovecot_factory({"alice": "right"})
    out = tmp / "out"
    out.mkdir()
    dc.append("alice", make_mail(1))
    b = bus({"acme": client(_imap_def(dc, out=out))}, env=ENV)
    b.drive("acme", "mail")
    logs = b.ctl("logs", "ls")
    items = logs["items"] if isinstance(logs, dict) else logs
    assert items and items[0]["level"] == "error", items
    text = json.dumps(b.ctl("logs", "show", "acme", items[0]["id"]))
    assert "login denied" in text.lower(), text[:3000]
    assert ENV["DBS_TEST_IMAP_PASSWORD"] not in text
    assert b.counts("acme", "mail") == (0, 0, 0)
    assert dc.flags("alice") == {1: set()} or \
        all("\\Seen" not in f for f in dc.flags("alice").values())
    assert b.stop() == 0


def test_excel_only_example(tmp, bus, dovecot_factory):
    """docs/examples/mail/acme.json: the original Databus's filter —
    only mails with an Excel attachment reach the archive."""
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    example = json.loads((REPO / "docs/examples/mail/acme.json")
                         .read_text())
    d = [p for p in example["passengers"] if p["name"] == "excel-mails"][0]
    out = tmp / "archive"
    out.mkdir()
    d["pullers"][0].update(url="imap://127.0.0.1:%d/" % dc.port,
                           username="alice", starttls=False)
    d["pushers"][0]["path"] = str(out)
    d["sync_frequency"] = 1440
    dc.append("alice", make_mail(1, [("q1.xlsx", XLSX, b"PK" + b"1" * 50)]))
    dc.append("alice", make_mail(2, [("old.XLS", "application/vnd.ms-excel",
                                      b"\xd0\xcf" + b"2" * 50)]))
    dc.append("alice", make_mail(3, [("notes.pdf", "application/pdf",
                                      b"%PDF" + b"3" * 50)]))
    dc.append("alice", make_mail(4))
    b = bus({"acme": {"passengers": [d]}},
            env={"IMAP_PASSWORD": ENV["DBS_TEST_IMAP_PASSWORD"]})
    b.drive("acme", "excel-mails")
    b.wait_counts("acme", "excel-mails", pending=0, done=4, dead=0)
    got = _passengers(out)
    assert sorted(got) == ["msg-1@example.test", "msg-2@example.test"], \
        sorted(got)
    assert "q1.xlsx" in got["msg-1@example.test"][1]
    assert "old.XLS" in got["msg-2@example.test"][1]
    # All four were taken from the mailbox (marked seen), two were
    # filtered out without being pushed.
    assert all("\\Seen" in f for f in dc.flags("alice").values())
    assert b.stop() == 0


def test_imaps_verifies_the_certificate(tmp, bus, dovecot_factory):
    """TLS verification is on by default: a self-signed server is refused
    (nothing read, nothing marked) until its certificate is given as
    ca_file; tls_verify false is the explicit opt-out."""
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]}, tls=True)
    out = tmp / "out"
    out.mkdir()
    dc.append("alice", make_mail(1))
    url = "imaps://127.0.0.1:%d/" % dc.imaps_port
    b = bus({"acme": client(_imap_def(dc, out=out, url=url))}, env=ENV)
    b.drive("acme", "mail")
    logs = b.ctl("logs", "ls")
    items = logs["items"] if isinstance(logs, dict) else logs
    text = json.dumps(b.ctl("logs", "show", "acme", items[0]["id"]))
    assert "certificate" in text.lower(), text[:2000]
    assert b.counts("acme", "mail") == (0, 0, 0)
    assert all("\\Seen" not in f for f in dc.flags("alice").values())
    assert b.stop() == 0

    b = bus({"acme": client(_imap_def(dc, out=out, url=url,
                                      ca_file=str(dc.cert)))}, env=ENV)
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=1, dead=0)
    assert all("\\Seen" in f for f in dc.flags("alice").values())
    assert b.stop() == 0


def test_max_size_skips_and_keeps(tmp, bus, dovecot_factory):
    """A message above max_size is left unseen with a warning; the others
    flow."""
    dc = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    out = tmp / "out"
    out.mkdir()
    big = dc.append("alice", make_mail(1, [("big.bin",
                                            "application/octet-stream",
                                            os.urandom(4096))]))
    dc.append("alice", make_mail(2))
    b = bus({"acme": client(_imap_def(dc, out=out, max_size=2048))},
            env=ENV)
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=1, dead=0)
    flags = dc.flags("alice")
    assert "\\Seen" not in flags[big], flags
    assert sorted(_passengers(out)) == ["msg-2@example.test"]
    logs = b.ctl("logs", "ls")
    items = logs["items"] if isinstance(logs, dict) else logs
    text = json.dumps([b.ctl("logs", "show", "acme", i["id"])
                       for i in items])
    assert "max_size" in text, text[:2000]
    assert b.stop() == 0


def test_starttls_required_by_default(tmp, bus, dovecot_factory):
    """imap:// needs STARTTLS unless told otherwise: a server without TLS
    is refused before the password is sent; one with it is used, with the
    certificate verified."""
    plain = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]})
    out = tmp / "out"
    out.mkdir()
    plain.append("alice", make_mail(1))
    d = _imap_def(plain, out=out)
    del d["pullers"][0]["starttls"]  # the default
    logins = plain.logtext().count("Login: user=<alice>")  # the APPEND
    b = bus({"acme": client(d)}, env=ENV)
    b.drive("acme", "mail")
    logs = b.ctl("logs", "ls")
    items = logs["items"] if isinstance(logs, dict) else logs
    assert items[0]["level"] == "error", items
    assert b.counts("acme", "mail") == (0, 0, 0)
    assert plain.logtext().count("Login: user=<alice>") == logins
    assert b.stop() == 0
    plain.stop()

    tls = dovecot_factory({"alice": ENV["DBS_TEST_IMAP_PASSWORD"]},
                          tls=True)
    tls.append("alice", make_mail(2))
    d = _imap_def(tls, out=out, ca_file=str(tls.cert))
    del d["pullers"][0]["starttls"]
    b = bus({"acme": client(d)}, env=ENV)
    b.drive("acme", "mail")
    b.wait_counts("acme", "mail", pending=0, done=1, dead=0)
    assert ", TLS, session=" in tls.logtext(), tls.logtext()
    assert b.stop() == 0
