"""Shell completion of databusctl (ctl/completion/): bash and zsh offer
exactly the verbs, sub-verbs and options that `databusctl --help` lists,
and the values of --state, --role and the last word of `queue set` and
`user role`. The completion functions run in real bash and zsh; zsh's
completion builtins (compadd, _describe, _files, ...) are replaced by
stand-ins that print what they were given."""
import re
import shutil
import subprocess

import pytest

from conftest import CTL, REPO

BASH = REPO / "ctl" / "completion" / "databusctl.bash"
ZSH = REPO / "ctl" / "completion" / "_databusctl"
GLOBAL = {"--data", "--socket", "--json", "--help"}


def _usage():
    """{verb: synopsis} from `databusctl --help` (verb lines are indented
    by two spaces and start with lower-case words)."""
    out = subprocess.run([str(CTL), "--help"], capture_output=True,
                         text=True, check=True).stdout
    verbs = {}
    for line in out.splitlines():
        m = re.match(r"^  ([a-z][a-z-]*(?: [a-z]+)?)(?: (.*))?$", line)
        if m and not line.startswith("   "):
            verbs[m.group(1)] = m.group(2) or ""
    assert "queue ls" in verbs and "status" in verbs, out
    return verbs


def _bash(words):
    script = ('source "$1"; shift; COMP_WORDS=("$@"); '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _databusctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "--norc", "-c", script, "bash", str(BASH),
                        "databusctl"] + words, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return {w for w in r.stdout.split("\n") if w}


def _zsh(words):
    script = r'''
compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
_describe() { local a=${@[-1]}; print -l -- ${${(P)a}%%:*}; }
_files() { print '<files>'; }
_directories() { print '<dirs>'; }
_message() { }
words=(databusctl "${@[2,-1]}")
CURRENT=${#words}
source "$1"
'''
    r = subprocess.run(["zsh", "-f", "-c", script, "zsh", str(ZSH)] + words,
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return {w for w in r.stdout.split("\n") if w}


SHELLS = [pytest.param(_bash, id="bash"),
          pytest.param(_zsh, id="zsh",
                       marks=pytest.mark.skipif(
                           shutil.which("zsh") is None,
                           reason="zsh is not installed (./setup does)"))]


@pytest.mark.parametrize("complete", SHELLS)
def test_verbs_and_options(complete):
    verbs = _usage()
    groups = {v.split()[0] for v in verbs}
    assert complete([""]) == groups
    for g in groups:
        subs = {v.split()[1] for v in verbs if v.startswith(g + " ")}
        if subs:
            assert complete([g, ""]) == subs, g
            assert complete(["--json", g, "--data", "x", ""]) == subs, g
    for verb, synopsis in verbs.items():
        want = set(re.findall(r"--[a-z-]+", synopsis)) | GLOBAL
        assert complete(verb.split() + ["--"]) == want, verb


@pytest.mark.parametrize("complete", SHELLS)
def test_values(complete):
    verbs = _usage()
    states = set(re.search(r"--state ([a-z|]+)",
                           verbs["queue ls"]).group(1).split("|"))
    roles = set(re.search(r"--role ([a-z|]+)",
                          verbs["user add"]).group(1).split("|"))
    assert complete(["queue", "ls", "--state", ""]) == states
    assert complete(["user", "add", "a", "b", "--role", ""]) == roles
    # The last argument of `queue set` and `user role`, as the usage has it.
    last = verbs["queue set"].split()[-1].split("|")
    assert complete(["queue", "set", "acme", "1", "erp", ""]) == set(last)
    assert complete(["queue", "set", "acme", "1", ""]) == set()
    last = verbs["user role"].split()[-1].split("|")
    assert complete(["user", "role", "acme", "bob", ""]) == set(last)
    assert complete(["queue", "ls", "--state", "d"]) >= {"dead"}


def test_files_and_dirs(tmp):
    (tmp / "sub").mkdir()
    (tmp / "file.json").write_text("{}")
    assert _bash(["--data", str(tmp) + "/"]) == {str(tmp / "sub")}
    assert str(tmp / "file.json") in _bash(["export", str(tmp) + "/"])
    if shutil.which("zsh"):
        assert _zsh(["--data", ""]) == {"<dirs>"}
        assert _zsh(["backup", ""]) == {"<files>"}
