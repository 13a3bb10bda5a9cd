"""smtp pusher against an SMTP sink the test runs on loopback: each
passenger becomes one mail (configured sender and recipients, subject and
text templates filled with passenger fields, attachments as MIME parts),
read back and parsed; a refused recipient fails permanently, a sink that
is down is retried and nothing is lost."""
import json

from conftest import client, definition, run_databusd, wait_for, \
    write_config
from driver_servers import SmtpSink, smtp_sink  # noqa: F401 (fixture)


def _def(tmp, port, retry=None, **over):
    pusher = {"name": "mail", "type": "smtp",
              "url": "smtp://127.0.0.1:%d" % port, "starttls": False,
              "from": "Databus Bot <bot@example.test>",
              "to": ["ops@example.test", "Audit <audit@example.test>"],
              "subject": "[{client}] {metadata.filename} ({external_id})",
              # A lone "." line would end DATA unless dot-stuffed.
              "text": "Passenger {id} from {puller}.\nFile: "
                      "{metadata.filename}\n.\n..two dots\n"}
    pusher.update(over)
    return definition("notify",
                      [{"name": "inbox", "type": "dir",
                        "path": str(tmp / "in"), "pattern": "*"}],
                      [pusher],
                      retry=retry or {"max_attempts": 100, "backoff": "1s",
                                      "max_backoff": "2s"})


def test_mail_per_passenger(tmp, bus, smtp_sink):
    (tmp / "in").mkdir()
    payload = {"rapport März.csv": "a;b\n1;2\n".encode(),
               "blob.bin": bytes(range(256)) * 40}
    for name, data in payload.items():
        (tmp / "in" / name).write_bytes(data)
    b = bus({"acme": client(_def(tmp, smtp_sink.port))})
    b.drive("acme", "notify")
    b.wait_counts("acme", "notify", pending=0, done=2, dead=0)

    mails = smtp_sink.parsed()
    assert len(mails) == 2, mails
    by_name = {}
    for env, msg in mails:
        assert env["from"] == "<bot@example.test>", env
        assert env["to"] == ["<ops@example.test>", "<audit@example.test>"]
        assert msg["From"] == "Databus Bot <bot@example.test>"
        assert "ops@example.test" in msg["To"]
        assert "Audit <audit@example.test>" in msg["To"]
        atts = {p.get_filename(): p.get_content()
                for p in msg.iter_attachments()}
        assert len(atts) == 1, atts
        name = list(atts)[0]
        by_name[name] = (msg, atts[name])
    assert set(by_name) == set(payload)
    msg, data = by_name["rapport März.csv"]
    data = data.encode() if isinstance(data, str) else data
    assert data == payload["rapport März.csv"]
    assert by_name["blob.bin"][1] == payload["blob.bin"]
    # The subject template, non-ASCII kept (RFC 2047 on the wire).
    assert msg["Subject"].startswith("[acme] rapport März.csv (")
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "from inbox." in body and "File: rapport März.csv" in body
    assert "\n.\n..two dots\n" in body, body
    # The Message-ID follows the idempotency key <id>:<pusher>.
    items = b.queue("--client", "acme")
    ids = {str(p["id"]) for p in items}
    for m, _ in by_name.values():
        key = m["X-Databus-Idempotency-Key"]
        pid, pusher = key.split(":")
        assert pid in ids and pusher == "mail"
        assert m["Message-ID"].startswith("<databus.%s.mail.acme@" % pid)
    assert b.stop() == 0


def test_refused_recipient_is_permanent(tmp, bus, smtp_sink):
    (tmp / "in").mkdir()
    (tmp / "in" / "a.txt").write_text("hello\n")
    smtp_sink.refuse_rcpt = True
    b = bus({"acme": client(_def(tmp, smtp_sink.port))})
    b.drive("acme", "notify")
    b.wait_counts("acme", "notify", pending=0, done=0, dead=1)
    dead = b.queue("--client", "acme", "--state", "dead")
    err = " ".join(s.get("error", "") for s in dead[0]["steps"])
    assert "550" in err or "refused" in err, err
    assert smtp_sink.messages == []
    assert b.stop() == 0


def test_sink_down_then_up(tmp, bus):
    (tmp / "in").mkdir()
    sink = SmtpSink()
    port = sink.port
    sink.close()  # nothing listens on the port for now
    for i in range(5):
        (tmp / "in" / ("f%d.txt" % i)).write_text("file %d\n" % i)
    b = bus({"acme": client(_def(tmp, port))})
    b.drive("acme", "notify")
    b.wait_counts("acme", "notify", pending=5, done=0, dead=0)
    items = wait_for(lambda: [p for p in b.queue("--client", "acme")
                              if any(s.get("error") for s in p["steps"])],
                     30, "a failed attempt")
    err = [s["error"] for s in items[0]["steps"] if s.get("error")][0]
    assert "connect" in err.lower(), err

    again = SmtpSink(port=port)
    try:
        b.wait_counts("acme", "notify", pending=0, done=5, dead=0,
                      timeout=60)
        subjects = sorted(m["Subject"] for _, m in again.parsed())
        assert len(subjects) == 5, subjects
    finally:
        again.close()
    assert b.stop() == 0


def test_bad_settings_at_check(tmp):
    (tmp / "in").mkdir()
    cases = [
        ({"to": []}, "to", "address"),
        ({"to": ["not an address"]}, "to[0]", "address"),
        ({"from": "nobody"}, "from", "address"),
        ({"subject": "{nope}"}, "subject", "placeholder"),
        ({"url": "http://x"}, "url", "smtp://"),
        ({"password": "env:DBS_TEST_UNSET_VARIABLE"}, "password",
         "not set"),
    ]
    for over, where, words in cases:
        cfg = write_config(tmp, {"acme": client(_def(tmp, 25, **over))})
        r = run_databusd(["--config", cfg], tmp)
        assert r.returncode == 100, (over, r.stderr)
        assert "$.passengers[0].pushers[0]" in r.stderr, r.stderr
        assert where in r.stderr and words in r.stderr, (over, r.stderr)
