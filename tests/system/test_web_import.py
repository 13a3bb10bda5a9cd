"""Root's import of an uploaded archive in databus-web's export section.

The archive goes up in pieces (each at the offset the server has
reached), a preview (the dry run) says what would be added, remapped and
skipped without writing, and only then does apply import, through
databusd like `databusctl import`: twice adds nothing, a damaged archive
fails with nothing written, an LMDB file is sent to databusctl. Only
root gets an answer; Origin and content types are checked as for every
other mutation.
"""
import os
import shutil
import time

from conftest import bench_puller, client, definition, deadline
from test_web_api import Web

SINK = [{"name": "n", "type": "null"}]
CHUNK = 1 << 20


def _upload(w, tok, data, piece=CHUNK):
    st, up = w.json("POST", "/api/v1/imports", body={"size": len(data)},
                    cookie=tok)
    assert st == 201 and up["state"] == "uploading", up
    for off in range(0, len(data), piece):
        st, up = w.json("POST", "/api/v1/imports/%s/data?offset=%d"
                        % (up["id"], off), body=data[off:off + piece],
                        ctype="application/octet-stream", cookie=tok)
        assert st == 200, up
    assert up["received"] == len(data), up
    return up["id"]


def _run(w, tok, uid, what, body=None):
    st, up = w.json("POST", "/api/v1/imports/%s/%s" % (uid, what),
                    body=body or {}, cookie=tok)
    assert st == 202, up
    end = time.monotonic() + deadline(30)
    while up["state"] in ("checking", "importing"):
        assert time.monotonic() < end, up
        time.sleep(0.05)
        st, up = w.json("GET", "/api/v1/imports/" + uid, cookie=tok)
        assert st == 200, up
    return up


def test_web_import(tmp, bus):
    d = definition("orders", [bench_puller(count=30, prefix="w",
                                           size=40000)], SINK)
    users = [{"username": "ann", "password": "ann-pw-1",
              "role": "administrator"}]
    root_users = {"users": [{"username": "admin",
                             "password": "admin-pw-1"}]}
    b = bus({"acme": client(d, users=users), "root": root_users})
    b.wait_counts("acme", "orders", pending=0, done=30, timeout=60)
    arch = tmp / "all.json"
    b.ctl("export", arch)
    b.ctl("backup", tmp / "hot.mdb")
    assert b.stop() == 0
    shutil.rmtree(os.path.join(b.data_dir, "store"))
    # A fresh store whose first ids are taken: the import remaps.
    d2 = definition("orders", [bench_puller(count=10, prefix="z")], SINK)
    b = bus({"acme": client(d2, users=users), "root": root_users})
    b.wait_counts("acme", "orders", pending=0, done=10, timeout=60)
    data = arch.read_bytes()
    assert len(data) > CHUNK  # more than one piece

    w = Web(b.data_dir)
    try:
        _, _, root, _ = w.login("root", "admin", "admin-pw-1")
        _, _, ann, _ = w.login("acme", "ann", "ann-pw-1")
        # Root only; Origin and content type as every mutation.
        st, doc = w.json("POST", "/api/v1/imports", body={"size": 10},
                         cookie=ann)
        assert st == 403, doc
        st, doc = w.json("POST", "/api/v1/imports", body={"size": 10},
                         cookie=root, origin="http://evil.example")
        assert st == 403 and doc["error"]["code"] == "forbidden_origin"
        st, doc = w.json("POST", "/api/v1/imports",
                         body={"size": 1 << 31}, cookie=root)
        assert st == 400 and doc["error"]["code"], doc
        st, up = w.json("POST", "/api/v1/imports", body={"size": 5},
                        cookie=root)
        st, doc = w.json("POST", "/api/v1/imports/%s/data?offset=0"
                         % up["id"], body=b"{}", cookie=root)
        assert st == 415, doc
        st, doc = w.json("POST", "/api/v1/imports/%s/data?offset=3"
                         % up["id"], body=b"{}", cookie=root,
                         ctype="application/octet-stream")
        assert st == 409 and doc["error"]["code"] == "wrong_offset", doc
        st, doc = w.json("POST", "/api/v1/imports/%s/apply" % up["id"],
                         body={}, cookie=root)
        assert st == 409 and doc["error"]["code"] == "incomplete", doc
        st, doc = w.json("DELETE", "/api/v1/imports/" + up["id"],
                         body={}, cookie=root)
        assert st == 200, doc
        st, doc = w.json("GET", "/api/v1/imports/" + up["id"], cookie=root)
        assert st == 404, doc

        before = b.counts("acme", "orders")
        # A damaged archive: the preview fails, nothing is written.
        bad = _upload(w, root, data[: len(data) // 2])
        up = _run(w, root, bad, "preview")
        assert up["state"] == "failed" and "does not parse" in up["error"], up
        st, doc = w.json("POST", "/api/v1/imports/%s/apply" % bad, body={},
                         cookie=root)
        assert st == 409 and doc["error"]["code"] == "preview_first"
        # An LMDB file goes to databusctl.
        lm = _upload(w, root, (tmp / "hot.mdb").read_bytes())
        up = _run(w, root, lm, "preview")
        assert up["state"] == "failed" and "databusctl" in up["error"], up

        uid = _upload(w, root, data)
        up = _run(w, root, uid, "preview", {"client": "acme"})
        rep = up["report"]
        assert up["state"] == "ready" and rep["dry_run"], up
        assert rep["added"] == 30 and rep["duplicates"] == 0, rep
        assert rep["remapped_count"] == 30 and rep["users_existing"] == 1
        assert b.counts("acme", "orders") == before
        up = _run(w, root, uid, "apply")
        assert up["state"] == "done", up
        assert up["report"]["added"] == rep["added"], up
        assert up["report"]["remapped_count"] == rep["remapped_count"], up
        assert b.counts("acme", "orders") == (0, 40, 0)
        # Twice adds nothing.
        again = _upload(w, root, data)
        up = _run(w, root, again, "preview")
        assert up["report"]["added"] == 0, up
        assert up["report"]["duplicates"] == 30, up
        assert b.ctl_raw("verify").returncode == 0
    finally:
        w.stop()
