"""The man pages (build/man/, made by pandoc from docs/ through
docs/man/man.lua) carry what the docs and the programs say: every verb and
option of databusctl (its --help and docs/cli.md), every option of databusd
and databus-web (their usage), every configuration field of
docs/configuration.md, every driver type and setting of docs/drivers.md.
Each page has a NAME line that mandb/whatis can read, and renders without
markdown left over."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, CTL, DATABUSD, REPO

MAN = REPO / "build" / "man"
DOCS = REPO / "docs"
PAGES = {"databusd.8": "databusd.md", "databusctl.8": "cli.md",
         "databus-web.8": "web.md", "databus.json.5": "configuration.md",
         "databus-drivers.7": "drivers.md"}


def _render(page):
    path = MAN / page
    if not path.exists():
        pytest.fail("%s missing (run ninja man)" % path)
    env = dict(os.environ, MANWIDTH="120", LC_ALL="C.UTF-8")
    env.pop("MAN_KEEP_FORMATTING", None)
    r = subprocess.run(["man", "--no-hyphenation", "--no-justification",
                        "-E", "UTF-8", "-l", str(path)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return " ".join(r.stdout.split())


def _missing(text, words):
    return sorted(w for w in words if w not in text)


def _table_names(doc, header):
    """The backticked names in the first column of every table whose
    header's first cell is `header` ("field", "setting")."""
    names, inside = set(), False
    for line in (DOCS / doc).read_text().splitlines():
        if line.startswith("| %s |" % header):
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside:
            names |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_databusctl_verbs_and_options():
    text = _render("databusctl.8")
    usage = subprocess.run([str(CTL), "--help"], capture_output=True,
                           text=True, check=True).stdout
    verbs = {m.group(1) for m in re.finditer(
        r"^  ([a-z]+(?: [a-z]+)?)(?: |$)", usage, re.M)}
    assert {"status", "queue ls", "user revoke", "compact"} <= verbs
    verbs.discard("help")  # documented with --help, not as a verb section
    assert not _missing(text, verbs), _missing(text, verbs)
    options = set(re.findall(r"--[a-z][a-z-]*", usage))
    cli = (DOCS / "cli.md").read_text()
    documented = {v for line in re.findall(r"^### (.*)", cli, re.M)
                  for v in re.findall(r"`([a-z]+(?: [a-z]+)?)", line)}
    options |= set(re.findall(r"--[a-z][a-z-]*", cli))
    assert documented >= verbs, verbs - documented
    assert not _missing(text, documented | options)


def test_program_options():
    usage = subprocess.run([str(DATABUSD), "--help"], capture_output=True,
                           text=True).stdout
    web = subprocess.run([str(BUILD / "databus-web")], capture_output=True,
                         text=True).stderr
    for page, out in (("databusd.8", usage), ("databus-web.8", web)):
        options = set(re.findall(r"--[a-z][a-z-]*", out))
        assert len(options) >= 3, out
        assert not _missing(_render(page), options), page


def test_configuration_fields():
    fields = _table_names("configuration.md", "field")
    assert {"data_dir", "web.listen", "store.max_size", "sync_frequency",
            "open_access"} <= fields, fields
    missing = _missing(_render("databus.json.5"), fields)
    assert not missing, missing


def test_drivers():
    doc = (DOCS / "drivers.md").read_text()
    types = set(re.findall(r"^### `([a-z_]+)`", doc, re.M))
    settings = _table_names("drivers.md", "setting")
    assert {"dir", "webhook", "postgres"} <= types and len(settings) > 20
    missing = _missing(_render("databus-drivers.7"), types | settings)
    assert not missing, missing


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_shape(page):
    name, section = page.rsplit(".", 1)
    r = subprocess.run(["lexgrog", str(MAN / page)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and '"%s - ' % name in r.stdout, r.stdout
    src = (MAN / page).read_text()
    assert src.count('.TH "%s" "%s"' % (name, section)) == 1, src[:400]
    text = _render(page)
    assert text.startswith("%s(%s)" % (name, section)), text[:100]
    for heading in ("NAME", "DESCRIPTION", "SEE ALSO"):
        assert " %s " % heading in text, heading
    # No markdown left: link syntax, table rules, image references.
    assert not re.search(r"\]\(|\|---|!\[|\.md#", text), \
        re.search(r".{40}(\]\(|\|---|!\[|\.md#).{40}", text)
