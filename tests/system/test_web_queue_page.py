"""The queue page (GET /api/v1/queue) is written by the fast JSON writer
(proto/json_writer.c) from records decoded into an arena; the detail page
and databusctl --json use the jansson form (proto/record_json.c). Through
the real server, both must show every passenger identically, and paging
with any limit must visit each passenger exactly once, newest first.
"""

import json

import pytest

from conftest import bench_puller, client, definition
from test_web_api import Web


@pytest.fixture
def web(bus):
    b = bus({"acme": client(
        definition("orders", [bench_puller(count=120, prefix="ord")],
                   [{"name": "n", "type": "null"}]),
        definition("mails", [bench_puller(count=30, prefix="mail")],
                   [{"name": "n", "type": "null"}]),
        users=[{"username": "ann", "password": "ann-pw-1"}])})
    b.wait_counts("acme", "orders", pending=0, done=120, timeout=60)
    b.wait_counts("acme", "mails", pending=0, done=30, timeout=60)
    w = Web(b.data_dir)
    w.bus = b
    status, _, w.token, _ = w.login("acme", "ann", "ann-pw-1")
    assert status == 200
    yield w
    w.stop()


def pages(web, query, limit):
    items, cursor = [], 0
    for _ in range(1000):
        status, doc = web.json(
            "GET", "/api/v1/queue?%slimit=%d&cursor=%d" % (query, limit,
                                                           cursor),
            cookie=web.token)
        assert status == 200, doc
        assert set(doc) == {"items", "next_cursor"}
        assert len(doc["items"]) <= limit
        items += doc["items"]
        cursor = doc["next_cursor"]
        if cursor == 0:
            return items
    raise AssertionError("paging does not end")


def test_page_equals_detail_and_ctl(web):
    status, doc = web.json("GET", "/api/v1/queue?limit=500",
                           cookie=web.token)
    assert status == 200 and doc["next_cursor"] == 0
    items = doc["items"]
    assert len(items) == 150
    ids = [p["id"] for p in items]
    assert ids == sorted(ids, reverse=True), "newest first"
    # Every item, as the jansson form shows it: detail page and CLI.
    ctl = {p["id"]: p for p in web.bus.queue("--client", "acme")}
    for p in items:
        status, one = web.json("GET", "/api/v1/queue/acme/%d" % p["id"],
                               cookie=web.token)
        assert status == 200
        assert one["passenger"] == p
        assert ctl[p["id"]] == p
    sample = items[0]
    assert sample["state"] == "done" and sample["metadata"]
    assert sample["attachments"] and sample["steps"]
    # Any page size visits the same passengers once, in the same order.
    for limit in (1, 7, 50, 149, 150, 151):
        got = pages(web, "", limit)
        assert [p["id"] for p in got] == ids, limit
        assert got == items


def test_page_filters(web):
    mails = pages(web, "client=acme&passenger=mails&", 8)
    assert len(mails) == 30
    assert {p["definition"] for p in mails} == {"mails"}
    found = pages(web, "q=mail-1&", 4)  # mail-1, mail-10..mail-19
    assert sorted(p["external_id"] for p in found) == sorted(
        ["mail-1"] + ["mail-1%d" % i for i in range(10)])
    one = web.json("GET", "/api/v1/queue?q=%d" % found[0]["id"],
                   cookie=web.token)[1]
    assert [p["id"] for p in one["items"]] == [found[0]["id"]]
    assert pages(web, "state=dead&", 5) == []
    # The raw text is compact JSON, as json_dumps writes it.
    status, _, data, _ = web.request("GET", "/api/v1/queue?limit=3",
                                     cookie=web.token)
    assert status == 200
    assert data == json.dumps(json.loads(data), separators=(",", ":"),
                              ensure_ascii=False).encode()
