# SPDX-License-Identifier: Apache-2.0
"""prestart_slots: an acquire that leaves the pool short of free slots
starts the next sandbox ahead of demand (docs/profiles.md).

What is asserted is which sandboxes start and when (the daemon's
sandbox_starting log lines and /v1/status), never how fast."""
import time

from conftest import api, wait_for

PROFILES = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 3
    idle_timeout_s: 1
  off:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
    prestart_slots: 0
  single:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 3
"""


def acquire(c, profile="default"):
    return api(c, "POST", "/v1/slots", {"profile": profile, "timeout_s": 30}, 201)


def pool(c, profile="default"):
    return api(c, "GET", "/v1/status", status=200)["pools"][profile]


def start_reasons(d, profile):
    """What each sandbox_starting line of profile says it started for."""
    out = []
    for line in d.read_log().splitlines():
        if "event=sandbox_starting" in line and f"profile={profile} " in line + " ":
            out.append(next((f[4:] for f in line.split() if f.startswith("for=")), None))
    return out


def starts(d, profile):
    return len(start_reasons(d, profile))


def test_defaults_are_half_a_sandbox(make_daemon):
    c = make_daemon(PROFILES).client()
    p = api(c, "GET", "/v1/profiles", status=200)["profiles"]
    assert p["default"]["prestart_slots"] == 2
    assert p["off"]["prestart_slots"] == 0
    # one slot per sandbox: nothing ahead, a sandbox per acquire as before
    assert p["single"]["prestart_slots"] == 0


def test_the_next_sandbox_starts_before_anyone_waits(make_daemon):
    d = make_daemon(PROFILES)
    c = d.client()
    assert wait_for(lambda: pool(c)["available_slots"] == 4, 30)
    held = [acquire(c)["slot_id"], acquire(c)["slot_id"]]
    # two of four free: enough, nothing started ahead
    time.sleep(0.5)
    assert starts(d, "default") == 1 and pool(c)["sandboxes"] == 1
    # the third leaves one free: the second sandbox starts, with no
    # acquire waiting for it
    held.append(acquire(c)["slot_id"])
    assert wait_for(lambda: pool(c)["available_slots"] == 5, 30), pool(c)
    assert starts(d, "default") == 2 and pool(c)["waiters"] == 0
    assert start_reasons(d, "default") == ["min", "ahead"]
    # leases pack into the older sandbox: the fourth takes its last slot
    first = api(c, "GET", f"/v1/slots/{held[0]}", status=200)["sandbox_id"]
    fourth = acquire(c)
    assert fourth["sandbox_id"] == first
    held.append(fourth["slot_id"])
    # 4 free in the new one: no third sandbox
    time.sleep(0.5)
    assert starts(d, "default") == 2
    # a pool left alone goes back to min_sandboxes and starts nothing in
    # place of the sandbox the idle reaper stops
    for s in held:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)
    assert wait_for(lambda: pool(c)["sandboxes"] == 1, 30)
    time.sleep(2.5)  # two more idle periods
    assert starts(d, "default") == 2 and pool(c)["sandboxes"] == 1


def test_never_past_max_sandboxes(make_daemon):
    d = make_daemon(PROFILES)
    c = d.client()
    held = [acquire(c)["slot_id"] for _ in range(10)]  # 2 free in the third
    assert wait_for(lambda: pool(c)["available_slots"] == 2, 30)
    held.append(acquire(c)["slot_id"])  # 1 free, and no room for a fourth
    time.sleep(0.5)
    assert starts(d, "default") == 3 and pool(c)["sandboxes"] == 3
    for s in held:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)


def test_zero_starts_only_for_a_waiting_acquire(make_daemon):
    d = make_daemon(PROFILES)
    c = d.client()
    held = [acquire(c, "off")["slot_id"] for _ in range(4)]
    time.sleep(0.5)
    assert starts(d, "off") == 1 and pool(c, "off")["sandboxes"] == 1
    # the fifth waits for the second sandbox, which it alone started
    held.append(acquire(c, "off")["slot_id"])
    assert start_reasons(d, "off") == ["min", "acquire"]
    for s in held:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)
