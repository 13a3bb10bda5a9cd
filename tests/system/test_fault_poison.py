"""A poison passenger — one whose push crashes the worker (the null
pusher's "crash_on" aborts on that external id) — is dead after exactly
`max_attempts` attempts, and every other passenger of the same definition
is delivered meanwhile; the worker is restarted after each crash."""
from conftest import bench_puller, client, definition, wait_for

COUNT = 500
MAX_ATTEMPTS = 3


def test_poison_passenger_dies_after_max_attempts(tmp, bus):
    poison = "p-137"
    d = definition("load", [bench_puller(count=COUNT, prefix="p")],
                   [{"name": "sink", "type": "null", "crash_on": poison}],
                   retry={"max_attempts": MAX_ATTEMPTS, "backoff": "100ms",
                          "max_backoff": "200ms"})
    other = definition("other", [bench_puller(count=200, prefix="o")],
                       [{"name": "sink", "type": "null"}])
    b = bus({"acme": client(d, other)}, workers=False)
    b.wait_workers("ready", only={("acme", "other")})
    other_pid = b.worker("acme", "other")["pid"]

    b.wait_counts("acme", "load", pending=0, done=COUNT - 1, dead=1,
                  timeout=120)
    dead = b.queue("--client", "acme", "--passenger", "load",
                   "--state", "dead")
    assert [p["external_id"] for p in dead] == [poison], dead
    shown = b.show("acme", dead[0]["id"])
    print("poison passenger:", {k: shown.get(k) for k in
                                ("state", "attempts", "steps")})
    steps = shown.get("steps") or shown.get("passenger", {}).get("steps")
    assert steps, shown
    sink = [s for s in steps if s.get("name") == "sink"]
    assert sink and sink[0]["attempts"] == MAX_ATTEMPTS, steps

    w = b.worker("acme", "load")
    assert w["restarts"] >= MAX_ATTEMPTS - 1, w
    print("load worker restarts: %d, last_exit %r"
          % (w["restarts"], w["last_exit"]))
    # It stays dead: no further crash once dead.
    restarts = w["restarts"]
    b.drive("acme", "load")
    assert b.counts("acme", "load") == (0, COUNT - 1, 1)
    assert b.worker("acme", "load")["restarts"] == restarts
    # The other definition was never disturbed.
    b.wait_counts("acme", "other", pending=0, done=200, dead=0)
    assert b.worker("acme", "other")["pid"] == other_pid
    assert b.ctl_raw("verify").returncode == 0
    assert b.stop() == 0
