"""docs/examples/ runs as shipped (docs/configuration.md calls it "a
complete, working example").

The example's files are copied as they are into a temp dir; the one change
is web.listen, to a free port, so that the test does not need port 5000.
databusd starts with every worker ready (the dir puller and pushers find
their folders), a sample invoice and a stray text file dropped into in/
are pulled: the invoice is archived with its passenger JSON, the text file
completes without a push, and the demo mails reach outbox/.
"""
import json
import os
import shutil

from conftest import REPO, free_port, wait_for

EXAMPLE = REPO / "docs" / "examples"
SHIPPED = ["databus.json", "clients", "extra", "in", "archive", "outbox"]


def _copy(dest):
    for name in SHIPPED:
        src = EXAMPLE / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy(src, dest / name)
    ticket = json.loads((dest / "databus.json").read_text())
    ticket["web"]["listen"] = "127.0.0.1:%d" % free_port()
    (dest / "databus.json").write_text(json.dumps(ticket))


def test_docs_example_runs_as_shipped(tmp, daemons):
    ex = tmp / "example"
    ex.mkdir()
    _copy(ex)
    bus = daemons(["--config", ex / "databus.json"])
    assert os.path.realpath(bus.data_dir) == os.path.realpath(ex / "var")
    defs = bus.defs()
    assert sorted(defs) == [("acme", "invoices"), ("acme", "mails")], defs
    for d in defs.values():
        assert d["worker"]["state"] in ("ready", "busy"), d

    for f in ("invoice-1001.xml", "notes.txt"):
        shutil.copy(EXAMPLE / "samples" / f, ex / "in" / f)
    bus.drive("acme", "invoices")
    bus.wait_counts("acme", "invoices", pending=0, done=2, dead=0)
    done = {p["metadata"]["filename"]: p for p in
            bus.queue("--client", "acme", "--passenger", "invoices")}
    assert sorted(done) == ["invoice-1001.xml", "notes.txt"], done
    archived = os.listdir(ex / "archive")
    inv = done["invoice-1001.xml"]
    assert "%s.json" % inv["id"] in archived, archived
    assert "%s-invoice-1001.xml" % inv["id"] in archived, archived
    assert not [f for f in archived
                if f.startswith("%s-" % done["notes.txt"]["id"])], archived
    # Pulled files are moved out of the way once seated.
    assert sorted(os.listdir(ex / "in")) == [".done", ".gitkeep"]

    bus.drive("acme", "mails")
    wait_for(lambda: [f for f in os.listdir(ex / "outbox")
                      if f != ".gitkeep"], 20, "demo mails in outbox/")
    assert bus.stop() == 0
