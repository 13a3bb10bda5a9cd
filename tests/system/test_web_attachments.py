"""Attachments with any name (issue 13, finding 15): a name with "/",
'"', "%", "?", "#", spaces, dots or non-ASCII letters is listed, viewed
and downloaded through the API exactly like a plain one.

GET .../attachment?name=<encodeURIComponent(name)> round-trips any name,
"." and ".." too; .../attachments/<segment> any name but those two (a
client resolves them in a path before sending it).
"""

import http.client
import json
import urllib.parse

import pytest

from conftest import client, deadline, definition
from test_web_api import Web

NAMES = ["plain.txt", "a/b.txt", "dir/sub/c.txt", 'q"uote".txt',
         "per%2Fcent.txt", "100%.txt", "what?.txt", "hash#tag.txt",
         "sp ace.txt", "..", ".", "...txt", "caf\u00e9.txt", "back\\slash.txt",
         "semi;colon.txt", "/leading.txt", "trailing/", "a//b.txt"]

PULLER = r'''
import json, sys
op = json.loads(sys.stdin.readline())
if op["op"] == "pull":
    names = json.loads(%r)
    print(json.dumps({"type": "item", "external_id": "odd-names",
                      "attachments": [{"name": n, "content_type":
                                       "text/plain", "text": "body of " + n}
                                      for n in names]}))
print(json.dumps({"type": "result", "status": "ok"}))
'''


@pytest.fixture
def web(bus, tmp):
    script = tmp / "odd.py"
    script.write_text(PULLER % json.dumps(NAMES))
    b = bus({"acme": client(definition(
        "odd", [{"name": "src", "type": "exec",
                 "command": ["/usr/bin/python3", str(script)]}],
        [{"name": "n", "type": "null"}]),
        users=[{"username": "ann", "password": "ann-pw-1"}])})
    b.wait_counts("acme", "odd", pending=0, done=1, timeout=30)
    w = Web(b.data_dir)
    w.bus = b
    yield w
    w.stop()


def get(web, path, tok):
    """GET without the API's header checks (attachments carry their own
    sandbox CSP)."""
    c = http.client.HTTPConnection("127.0.0.1", web.port,
                                   timeout=deadline(20))
    try:
        c.request("GET", path, headers={"Cookie": "dbs_session=" + tok})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_any_name_round_trips(web):
    tok = web.login("acme", "ann", "ann-pw-1")[2]
    st, q = web.json("GET", "/api/v1/queue?client=acme", cookie=tok)
    assert st == 200
    (item,) = q["items"]
    st, p = web.json("GET", "/api/v1/queue/acme/%d" % item["id"], cookie=tok)
    assert st == 200
    listed = [a["name"] for a in p["passenger"]["attachments"]]
    assert sorted(listed) == sorted(NAMES)
    bad = []
    for name in NAMES:
        seg = urllib.parse.quote(name, safe="")
        base = "/api/v1/queue/acme/%d/attachment?name=%s" % (item["id"], seg)
        if name not in (".", ".."):
            st, _, data = get(web, "/api/v1/queue/acme/%d/attachments/%s"
                              % (item["id"], seg), tok)
            assert st == 200 and data == ("body of " + name).encode(), name
        st, hdrs, data = get(web, base, tok)
        if st != 200:
            bad.append((name, st))
            continue
        assert data == ("body of " + name).encode(), name
        assert hdrs["content-type"].startswith("text/plain")
        st, hdrs, data = get(web, base + "&download=1", tok)
        assert st == 200 and data == ("body of " + name).encode(), name
        disp = hdrs["content-disposition"]
        assert disp.startswith("attachment;"), disp
        # The file name offered is safe to write anywhere.
        assert "/" not in disp.split("filename=", 1)[1].strip('"'), disp
    assert not bad, bad
    # Names that are not there stay 404.
    for seg in ("nope", "a%2Fb.txt%2F", "%2E%2E%2Fplain.txt", "plain.txt%00"):
        st, _, _ = get(web, "/api/v1/queue/acme/%d/attachments/%s"
                       % (item["id"], seg), tok)
        assert st in (400, 404), (seg, st)
        st, _, _ = get(web, "/api/v1/queue/acme/%d/attachment?name=%s"
                       % (item["id"], seg), tok)
        assert st in (400, 404), (seg, st)
    st, _, _ = get(web, "/api/v1/queue/acme/%d/attachment" % item["id"], tok)
    assert st == 400
