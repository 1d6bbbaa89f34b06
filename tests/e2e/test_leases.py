# SPDX-License-Identifier: Apache-2.0
"""Lease TTL, renewal, lease-unique slot ids and recycling.

Waits are polls with generous deadlines: what is asserted is the
behaviour (expired or not, drained or not), never how fast it happened."""
import time

from conftest import api, wait_for

ONE_SANDBOX = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


def acquire(c, **body):
    return api(c, "POST", "/v1/slots", body, 201)


def bash(c, slot, command, status=200, timeout_s=30):
    return api(c, "POST", f"/v1/slots/{slot}/exec",
               {"tool": "bash", "args": {"command": command},
                "timeout_s": timeout_s}, status=status)


def leased(c):
    return api(c, "GET", "/v1/status", status=200)["pools"]["default"]["leased_slots"]


def test_silent_lease_expires_and_slot_is_reusable(make_daemon):
    c = make_daemon(ONE_SANDBOX).client()
    s = acquire(c, ttl_s=1)
    sid = s["slot_id"]
    got = api(c, "GET", f"/v1/slots/{sid}", status=200)
    assert got["ttl_s"] == 1 and 0 <= got["expires_in_s"] <= 1
    bash(c, sid, "echo left-behind > f")
    assert wait_for(lambda: leased(c) == 0), "lease never expired"
    err = bash(c, sid, "cat f", status=409)
    assert err["error"]["code"] == "slot_not_leased"
    # both slots can be leased again, and the expired one was reset
    a, b = acquire(c)["slot_id"], acquire(c)["slot_id"]
    for x in (a, b):
        assert bash(c, x, "cat f 2>/dev/null || echo clean")["metadata"]["stdout"] == "clean\n"


def test_activity_and_long_calls_keep_a_lease(make_daemon):
    c = make_daemon(ONE_SANDBOX).client()
    sid = acquire(c, ttl_s=1)["slot_id"]
    for _ in range(8):  # 2.4 s of activity, each gap well under the TTL
        bash(c, sid, "true")
        time.sleep(0.3)
    # a single call longer than the TTL is not cut off either
    r = bash(c, sid, "sleep 2.5; echo done")
    assert r["metadata"]["stdout"] == "done\n"
    assert api(c, "GET", f"/v1/slots/{sid}", status=200)["state"] == "acquired"
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)


def test_renew(make_daemon):
    c = make_daemon(ONE_SANDBOX).client()
    sid = acquire(c, ttl_s=1)["slot_id"]
    for _ in range(6):
        r = api(c, "POST", f"/v1/slots/{sid}/renew", status=200)
        assert r["slot_id"] == sid
        time.sleep(0.4)
    assert leased(c) == 1
    r = api(c, "POST", f"/v1/slots/{sid}/renew", {"ttl_s": 0}, status=200)
    assert "ttl_s" not in r
    time.sleep(2)
    assert leased(c) == 1  # expiry turned off
    for bad in ({"ttl_s": -1}, {"ttl_s": "x"}, {"other": 1}):
        e = api(c, "POST", f"/v1/slots/{sid}/renew", bad, status=400)
        assert e["error"]["code"] == "bad_request"
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    e = api(c, "POST", f"/v1/slots/{sid}/renew", status=409)
    assert e["error"]["code"] == "slot_not_leased"
    e = api(c, "POST", "/v1/slots", {"ttl_s": 0}, status=400)
    assert "ttl_s" in e["error"]["message"]


def test_stale_lease_id_cannot_touch_the_next_holder(make_daemon):
    c = make_daemon(ONE_SANDBOX.replace("slots_per_sandbox: 2",
                                        "slots_per_sandbox: 1")).client()
    old = acquire(c, trajectory_id="first")["slot_id"]
    api(c, "DELETE", f"/v1/slots/{old}?reset=false", status=204)
    new = acquire(c, trajectory_id="second")["slot_id"]
    assert new != old and new.split(".")[0] == old.split(".")[0]
    for method, path, body in [
            ("POST", f"/v1/slots/{old}/exec", {"tool": "bash", "args": {"command": "true"}}),
            ("GET", f"/v1/slots/{old}/file?path=x", None),
            ("DELETE", f"/v1/slots/{old}", None)]:
        e = api(c, method, path, body, status=409)
        assert e["error"]["code"] == "slot_not_leased"
    r = api(c, "POST", "/v1/exec", {"requests": [
        {"slot_id": old, "tool": "bash", "args": {"command": "true"}}]}, status=200)
    assert r["results"][0]["metadata"]["error_class"] == "infra"
    assert api(c, "GET", f"/v1/slots/{new}", status=200)["trajectory_id"] == "second"


def test_max_lifetime_drains_without_killing_a_lease(make_daemon):
    c = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 3
    max_lifetime_s: 1
""").client()
    s = acquire(c)
    sid, first_sb = s["slot_id"], s["sandbox_id"]
    bash(c, sid, "echo mine > f")
    time.sleep(2)
    # past its lifetime the sandbox keeps the lease working ...
    assert bash(c, sid, "cat f")["metadata"]["stdout"] == "mine\n"
    # ... but takes no new lease
    other = acquire(c, timeout_s=20)
    assert other["sandbox_id"] != first_sb
    api(c, "DELETE", f"/v1/slots/{other['slot_id']}", status=204)
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    # once its lease ended it goes
    assert wait_for(lambda: c.request("GET", f"/v1/slots/{sid}")[0] == 404)


def test_idle_sandboxes_above_min_are_stopped(make_daemon):
    c = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 3
    idle_timeout_s: 1
""").client()
    slots = [acquire(c, timeout_s=20)["slot_id"] for _ in range(3)]
    assert api(c, "GET", "/v1/status")["pools"]["default"]["sandboxes"] == 3
    time.sleep(2)
    # leased sandboxes are never idle
    assert api(c, "GET", "/v1/status")["pools"]["default"]["sandboxes"] == 3
    for s in slots:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)
    assert wait_for(lambda: api(c, "GET", "/v1/status")["pools"]["default"]["sandboxes"] == 1)


def test_many_idle_sandboxes_all_go_a_few_at_a_time(make_daemon):
    """The reaper retires at most 4 of a pool's sandboxes at once (each
    one gone retires the next): all ten still go, and none is lost."""
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 10
    idle_timeout_s: 1
""")
    c = d.client()
    slots = [acquire(c, timeout_s=30)["slot_id"] for _ in range(10)]
    for s in slots:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)
    assert wait_for(lambda: api(c, "GET", "/v1/status")["pools"]["default"]["sandboxes"] == 0,
                    timeout=30)
    log = d.read_log()
    assert log.count("event=sandbox_recycle") == 10, log[-3000:]
    assert "sandbox_lost" not in log
