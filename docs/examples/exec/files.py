#!/usr/bin/env python3
"""An exec driver in Python: puller, processor and pusher in one program.

It speaks Databus's exec protocol (docs/drivers.md): one JSON request line
on stdin, JSON lines on stdout ending with a {"type": "result"} line,
diagnostics on stderr (they go into the drive log), exit status 0.

- pull / peek: every *.txt file in $SOURCE_DIR is an item (its name is the
  external id, its text the attachment);
- notify: move the seated file into $SOURCE_DIR/.done;
- process: upper-case the text attachments, count their words (metadata
  "words"); an empty passenger is skipped;
- push: write the passenger as JSON to $OUT_DIR/<idempotency key>.json,
  atomically, so that a retried push gives the same file.
"""
import json
import os
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def result(status="ok", **extra):
    emit(dict(type="result", status=status, **extra))


def pull(req):
    """pull and peek alike: listing changes nothing (notify moves)."""
    src = os.environ["SOURCE_DIR"]
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if not name.endswith(".txt") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        emit({"type": "item", "external_id": name, "source_ref": name,
              "metadata": {"filename": name},
              "attachments": [{"name": name, "content_type": "text/plain",
                               "text": text}]})
    emit({"type": "log", "level": "info", "message": "listed " + src})
    result()


def notify(req):
    src = os.environ["SOURCE_DIR"]
    done = os.path.join(src, ".done")
    os.makedirs(done, exist_ok=True)
    try:
        os.rename(os.path.join(src, req["source_ref"]),
                  os.path.join(done, req["source_ref"]))
    except FileNotFoundError:
        pass  # moved already: notify must be idempotent
    result()


def process(req):
    p = req["passenger"]
    texts = [a for a in p["attachments"] if "text" in a]
    if not any(a["text"].strip() for a in texts):
        result("skip")
        return
    words = sum(len(a["text"].split()) for a in texts)
    result(metadata={"words": str(words)},
           attachments=[{"name": a["name"], "content_type": a["content_type"],
                         "text": a["text"].upper()} for a in texts])


def push(req):
    out = os.environ["OUT_DIR"]
    if not os.path.isdir(out):
        print("no directory " + out, file=sys.stderr)
        result("retry", error="the target directory is missing",
               retry_after_ms=1000)
        return
    key = req["idempotency_key"].replace(":", "_").replace("/", "_")
    tmp = os.path.join(out, "." + key + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(req["passenger"], f, sort_keys=True)
    os.replace(tmp, os.path.join(out, key + ".json"))
    result()


def main():
    req = json.loads(sys.stdin.readline())
    op = req["op"]
    if op in ("pull", "peek"):
        pull(req)
    elif op == "notify":
        notify(req)
    elif op == "process":
        process(req)
    elif op == "push":
        push(req)
    else:
        result("fail", error="unknown op " + op)


if __name__ == "__main__":
    main()
