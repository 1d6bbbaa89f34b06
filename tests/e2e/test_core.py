# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of issue 2: acquire, exec, batch, release, isolation,
timeouts, output caps, contention and error bodies, against the real daemon."""
import hashlib
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import TWO_SLOTS_ONE_SANDBOX, api


def bash(client, slot, command, status=200, **extra):
    body = {"tool": "bash", "args": {"command": command}}
    body["args"].update(extra.pop("args", {}))
    body.update(extra)
    return api(client, "POST", f"/v1/slots/{slot}/exec", body, status)


def acquire(client, **body):
    return api(client, "POST", "/v1/slots", body, 201)


def test_health_profiles_status(client):
    h = api(client, "GET", "/v1/health", status=200)
    assert h["ok"] is True and h["version"]
    p = api(client, "GET", "/v1/profiles", status=200)
    assert p["default_profile"] == "default"
    d = p["profiles"]["default"]
    for key in ("image", "gpu", "cpu", "memory_mb", "pids_max", "network",
                "slots_per_sandbox", "min_sandboxes", "max_sandboxes",
                "idle_timeout_s", "max_lifetime_s", "acquire_timeout_s",
                "execution_timeout_s", "workspace_dir", "active"):
        assert key in d, key
    assert d["image"] == "host" and d["slots_per_sandbox"] == 2
    s = api(client, "GET", "/v1/status", status=200)
    pool = s["pools"]["default"]
    for key in ("sandboxes", "healthy_sandboxes", "starting_sandboxes",
                "max_sandboxes", "slots_per_sandbox", "total_slots",
                "available_slots", "leased_slots", "waiters"):
        assert key in pool, key


def test_acquire_exec_release(client):
    slot = acquire(client, trajectory_id="traj-1")
    assert slot["state"] == "acquired" and slot["trajectory_id"] == "traj-1"
    assert slot["workspace_dir"] == "/workspace"
    sid = slot["slot_id"]
    r = bash(client, sid, "echo hello; echo oops >&2; pwd; id -u")
    assert r["success"] is True
    md = r["metadata"]
    assert md["returncode"] == 0 and md["error_class"] == "none"
    out = md["stdout"].split("\n")
    assert out[0] == "hello" and out[1] == "/workspace"
    assert int(out[2]) >= 1000000, "commands must not run as root"
    assert md["stderr"] == "oops\n"
    assert r["output"] == md["stdout"] + "\n" + md["stderr"]
    assert r["slot_id"] == sid and r["execution_id"]
    got = api(client, "GET", f"/v1/slots/{sid}", status=200)
    assert got["state"] == "acquired"
    api(client, "DELETE", f"/v1/slots/{sid}", status=204)
    # a released slot takes no calls and cannot be released twice
    err = bash(client, sid, "true", status=409)
    assert err["error"]["code"] == "slot_not_leased"
    err = api(client, "DELETE", f"/v1/slots/{sid}", status=409)
    assert err["error"]["code"] == "slot_not_leased"


def test_failure_stdin_env_cwd(client):
    sid = acquire(client)["slot_id"]
    r = bash(client, sid, "exit 3")
    assert r["success"] is False and r["metadata"]["returncode"] == 3
    assert r["metadata"]["error_class"] == "task"
    r = bash(client, sid, "cat; echo \"[$FOO]\"", args={"stdin": "in put\n", "env": {"FOO": "b a r"}})
    assert r["metadata"]["stdout"] == "in put\n[b a r]\n"
    bash(client, sid, "mkdir -p sub/dir")
    r = bash(client, sid, "pwd", args={"cwd": "sub/dir"})
    assert r["metadata"]["stdout"] == "/workspace/sub/dir\n"
    r = bash(client, sid, "pwd", args={"cwd": "/tmp"})
    assert r["metadata"]["stdout"] == "/tmp\n"
    r = bash(client, sid, "true", args={"cwd": "missing"})
    assert r["success"] is False and r["metadata"]["error_class"] == "task"
    # quotes, $() and newlines are the command's own business
    r = bash(client, sid, "printf '%s\\n' \"a'b\" '$(x)'")
    assert r["metadata"]["stdout"] == "a'b\n$(x)\n"
    # invalid UTF-8 output still comes back as JSON
    r = bash(client, sid, "printf 'a\\377b'")
    assert r["metadata"]["stdout"] == "a\ufffdb"


@pytest.mark.parametrize("size", [100, 32 << 10, 100 << 10])
def test_payload_sizes(client, size):
    """A call's command and environment (its payload) reach the command
    whole, whether they travel inside the call's message to the leader
    (up to 32 KiB, SB_EXEC_INLINE) or in a memfd beside it (larger; one
    string stays under the kernel's 128 KiB for an exec's)."""
    sid = acquire(client)["slot_id"]
    value = "".join(chr(0x61 + i % 26) for i in range(size))
    for _ in range(2):  # the second on a spare made after the first call
        r = bash(client, sid, 'printf %s "$BIG" | wc -c; printf %s "$BIG" | md5sum',
                 args={"env": {"BIG": value}})
        md = r["metadata"]
        assert md["returncode"] == 0, md["stderr"]
        digest = hashlib.md5(value.encode()).hexdigest()
        assert md["stdout"] == f"{size}\n{digest}  -\n"


def test_env_name_limit_is_the_profiles(client):
    # A request's env names have the bound a profile's env_vars have:
    # 255 bytes (SB_ENV_NAME_MAX), not one more.
    sid = acquire(client)["slot_id"]
    name = "N" * 255
    r = bash(client, sid, f"printenv {name}", args={"env": {name: "v"}})
    assert r["metadata"]["stdout"] == "v\n"
    err = bash(client, sid, "true", args={"env": {name + "N": "v"}}, status=400)
    assert err["error"]["code"] == "bad_request"


def test_two_slots_are_isolated(make_daemon):
    d = make_daemon(TWO_SLOTS_ONE_SANDBOX)
    c = d.client()
    a = acquire(c)
    b = acquire(c)
    assert a["sandbox_id"] == b["sandbox_id"], "both slots must share one sandbox"
    sa, sb = a["slot_id"], b["slot_id"]
    secret = "secret-" + os.urandom(8).hex()
    r = bash(c, sa, f"echo {secret} > /workspace/a-{secret}.txt; echo {secret} > /tmp/t.txt; "
                    "echo x > /dev/shm/s; sleep 300 > /dev/null 2>&1 &")
    assert r["success"], r
    # slot B sees its own (empty) workspace, /tmp and /dev/shm, not A's
    r = bash(c, sb, "ls -A /workspace /tmp /dev/shm; cat /tmp/t.txt")
    assert r["success"] is False
    assert secret not in r["output"] and "s\n" not in r["metadata"]["stdout"]
    # B cannot find A's file anywhere it can reach
    r = bash(c, sb, f"find / -xdev -name 'a-{secret}.txt' 2>/dev/null; "
                    f"grep -rsl {secret} /workspace /tmp /var/tmp /dev/shm /run 2>/dev/null; true")
    assert secret not in r["metadata"]["stdout"]
    # B sees none of A's processes and cannot signal them
    r = bash(c, sb, "ps -eo pid,args --no-headers")
    assert "sleep 300" in bash(c, sa, "ps -eo args")["metadata"]["stdout"]
    assert "sleep 300" not in r["metadata"]["stdout"]
    r = bash(c, sb, "pkill -x sleep; echo rc=$?")
    assert "rc=1" in r["metadata"]["stdout"]
    r = bash(c, sa, "ps -eo args --no-headers | grep -c '^sleep 300'")
    assert r["metadata"]["stdout"].strip() == "1", "A's process must survive B's attempt"
    # different uids
    ua = bash(c, sa, "id -u")["metadata"]["stdout"]
    ub = bash(c, sb, "id -u")["metadata"]["stdout"]
    assert ua != ub
    # the host's daemon state and other slots' scratch are not visible
    r = bash(c, sb, f"ls -A {d.state_dir}")
    assert r["metadata"]["stdout"].strip() == ""


def host_procs(marker):
    out = subprocess.run(["ps", "-eo", "args", "--no-headers"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if marker in l]


def test_timeout_kills_whole_tree(client):
    sid = acquire(client)["slot_id"]
    t0 = time.monotonic()
    r = bash(client, sid, "sleep 100.5 & setsid sleep 100.5 & (sleep 100.5 &) ; sleep 100.5", timeout_s=1)
    elapsed = time.monotonic() - t0
    assert r["metadata"]["timed_out"] is True
    assert r["metadata"]["error_class"] == "timeout"
    assert r["success"] is False
    assert elapsed < 5, elapsed
    deadline = time.monotonic() + 2
    while host_procs("sleep 100.5") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_procs("sleep 100.5") == [], "a process of the timed-out call survived"
    # the slot still works afterwards
    assert bash(client, sid, "echo alive")["metadata"]["stdout"] == "alive\n"


def test_background_process_survives_call_but_not_release(client):
    sid = acquire(client)["slot_id"]
    r = bash(client, sid, "sleep 100.7 > /dev/null 2>&1 & echo started")
    assert r["metadata"]["stdout"] == "started\n"
    assert len(host_procs("sleep 100.7")) == 1
    api(client, "DELETE", f"/v1/slots/{sid}", status=204)
    deadline = time.monotonic() + 2
    while host_procs("sleep 100.7") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_procs("sleep 100.7") == []


def test_output_cap_keeps_daemon_small(daemon, client):
    sid = acquire(client)["slot_id"]
    with daemon.peak_rss() as rss:
        r = bash(client, sid, "yes | head -c 2G", timeout_s=300)
    md = r["metadata"]
    assert md["truncated"] is True
    assert md["returncode"] == 0 and md["timed_out"] is False
    assert len(md["stdout"]) == 1 << 20
    assert md["stdout"].startswith("y\ny\n")
    assert 0 < rss.kib < 64 * 1024, f"daemon RSS peaked at {rss.kib} KiB"


@pytest.mark.parametrize("pace", ["fresh", "slow calls"])
def test_output_before_and_after_the_pipes_are_watched(client, pace):
    """A plain call's pipes are read only at its end or once it has run a
    few ms, twice as long as the slot's calls usually take, up to 20 ms
    (src/sandbox/exec_pace.h): more than a pipe holds, written at once or
    over a longer run, and both streams, all arrive in order; also in a
    slot whose calls have been slow (the delay at its cap) and after a
    large output (which brings it back down)."""
    sid = acquire(client)["slot_id"]
    if pace == "slow calls":
        for _ in range(8):
            assert bash(client, sid, "sleep 0.03")["metadata"]["returncode"] == 0
    for _ in range(2):
        r = bash(client, sid, "head -c 300000 /dev/zero | tr '\\0' a; "
                 "head -c 200000 /dev/zero | tr '\\0' b >&2")
        md = r["metadata"]
        assert md["stdout"] == "a" * 300000 and md["stderr"] == "b" * 200000
        assert md["truncated"] is False
    r = bash(client, sid, "for i in $(seq 150); do printf '%04d' $i; "
             "head -c 996 /dev/zero | tr '\\0' x; sleep 0.002; done; "
             "echo err >&2; exit 3")
    md = r["metadata"]
    assert md["returncode"] == 3 and md["stderr"] == "err\n", md["stderr"]
    out = md["stdout"]
    assert len(out) == 150 * 1000
    assert [out[i * 1000:i * 1000 + 4] for i in range(150)] == \
        ["%04d" % (i + 1) for i in range(150)]


def test_reset_and_keep_workspace(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
""")
    c = d.client()
    sid = acquire(c)["slot_id"]
    bash(c, sid, "echo kept > f.txt")
    api(c, "DELETE", f"/v1/slots/{sid}?reset=false", status=204)
    s2 = api(c, "POST", "/v1/slots", {"timeout_s": 10}, 201)
    # the same slot, under a new lease id: the old one no longer works
    assert s2["slot_id"].split(".")[0] == sid.split(".")[0]
    assert s2["slot_id"] != sid
    err = api(c, "POST", f"/v1/slots/{sid}/exec",
              {"tool": "bash", "args": {"command": "true"}}, status=409)
    assert err["error"]["code"] == "slot_not_leased"
    sid = s2["slot_id"]
    assert bash(c, sid, "cat f.txt")["metadata"]["stdout"] == "kept\n"
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)  # reset=true is the default
    s3 = api(c, "POST", "/v1/slots", {"timeout_s": 10}, 201)
    assert s3["slot_id"].split(".")[0] == sid.split(".")[0]
    sid = s3["slot_id"]
    r = bash(c, sid, "ls -A /workspace; ls -A /tmp")
    assert r["metadata"]["stdout"] == ""


def test_batch_in_order_and_isolated_failures(client):
    a = acquire(client)["slot_id"]
    b = acquire(client)["slot_id"]
    reqs = [
        {"slot_id": a, "tool": "bash", "args": {"command": "sleep 0.3; echo A"}},
        {"slot_id": b, "tool": "bash", "args": {"command": "echo B"}},
        {"slot_id": "nope_slot_0", "tool": "bash", "args": {"command": "echo X"}},
        {"slot_id": a, "tool": "bash", "args": {}},
        {"slot_id": b, "tool": "bash", "args": {"command": "exit 7"}},
    ]
    t0 = time.monotonic()
    res = api(client, "POST", "/v1/exec", {"requests": reqs, "timeout_s": 20}, 200)["results"]
    assert len(res) == 5
    assert res[0]["metadata"]["stdout"] == "A\n" and res[0]["slot_id"] == a
    assert res[1]["metadata"]["stdout"] == "B\n" and res[1]["slot_id"] == b
    assert res[2]["success"] is False and res[2]["metadata"]["error_code"] == "not_found"
    assert res[3]["success"] is False and res[3]["metadata"]["error_code"] == "bad_request"
    assert res[4]["metadata"]["returncode"] == 7
    assert time.monotonic() - t0 < 5


def test_contention_fifo_deadlines(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 2
    max_sandboxes: 2
""")
    c = d.client()
    # wait until both sandboxes are warm so the test measures the queue
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pool = api(c, "GET", "/v1/status", status=200)["pools"]["default"]
        if pool["available_slots"] == 8:
            break
        time.sleep(0.05)
    assert pool["available_slots"] == 8
    timeout = 1.5
    outcomes = []
    lock = threading.Lock()

    def trajectory(i):
        cl = d.client()
        t0 = time.monotonic()
        code, data = cl.request("POST", "/v1/slots", {"trajectory_id": f"t{i}", "timeout_s": timeout})
        elapsed = time.monotonic() - t0
        body = json.loads(data)
        if code == 201:
            time.sleep(0.4)
            c2, _ = cl.request("DELETE", f"/v1/slots/{body['slot_id']}?reset=false")
            assert c2 == 204
        with lock:
            outcomes.append((code, elapsed, body))
        cl.close()

    threads = [threading.Thread(target=trajectory, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 64
    got = [o for o in outcomes if o[0] == 201]
    timed_out = [o for o in outcomes if o[0] != 201]
    assert got and timed_out
    for code, elapsed, body in timed_out:
        assert code == 503 and body["error"]["code"] == "acquire_timeout", body
        assert abs(elapsed - timeout) <= 0.1, elapsed
    for code, elapsed, body in got:
        assert elapsed <= timeout + 0.1
    pool = api(c, "GET", "/v1/status", status=200)["pools"]["default"]
    assert pool["waiters"] == 0 and pool["leased_slots"] == 0


def test_error_bodies(client):
    def err(method, path, body, status, code, raw=False):
        c, data = client.request(method, path, body, raw=raw)
        assert c == status, (c, data)
        e = json.loads(data)["error"]
        assert e["code"] == code and e["message"]

    err("POST", "/v1/slots", b"{not json", 400, "bad_request", raw=True)
    err("POST", "/v1/slots", b'{"profile": "default", "profile": "x"}', 400, "bad_request", raw=True)
    err("POST", "/v1/slots", b"[1,2]", 400, "bad_request", raw=True)
    err("POST", "/v1/slots", {"profile": "gpu-nope"}, 404, "unknown_profile")
    err("POST", "/v1/slots", {"timeout_s": -1}, 400, "bad_request")
    err("POST", "/v1/slots", {"timeout_s": "10"}, 400, "bad_request")
    err("POST", "/v1/slots", {"colour": "red"}, 400, "bad_request")
    err("GET", "/v1/slots/nope_slot_1", None, 404, "not_found")
    err("POST", "/v1/slots/nope_slot_1/exec", {"tool": "bash", "args": {"command": "true"}}, 404, "not_found")
    err("GET", "/v1/nothing", None, 404, "not_found")
    err("POST", "/v1/exec", {"requests": "x"}, 400, "bad_request")
    sid = acquire(client)["slot_id"]
    err("POST", f"/v1/slots/{sid}/exec", b"{", 400, "bad_request", raw=True)
    err("POST", f"/v1/slots/{sid}/exec", {"tool": "rm -rf", "args": {}}, 400, "bad_request")
    err("POST", f"/v1/slots/{sid}/exec", {"tool": "bash", "args": {"command": 5}}, 400, "bad_request")
    err("POST", f"/v1/slots/{sid}/exec", {"tool": "bash", "args": {"command": "true"}, "timeout_s": 0}, 400, "bad_request")
    err("POST", f"/v1/slots/{sid}/exec", {"tool": "bash", "args": {"command": "true", "env": {"A=B": "x"}}}, 400, "bad_request")
    # the daemon is still fine
    assert bash(client, sid, "echo ok")["metadata"]["stdout"] == "ok\n"


def test_sigterm_leaves_nothing(make_daemon):
    d = make_daemon(None, env={"SLOTBOX_SLOTS_PER_SANDBOX": "2"})
    c = d.client()
    sid = acquire(c)["slot_id"]
    bash(c, sid, "sleep 100.9 > /dev/null 2>&1 &")
    assert host_procs("sleep 100.9")
    assert d.stop() == 0
    assert host_procs("sleep 100.9") == []
    assert not os.path.exists(d.socket)
    with open("/proc/self/mountinfo") as f:
        assert d.state_dir not in f.read()
    leftover = os.listdir(os.path.join(d.state_dir, "sandboxes")) if os.path.isdir(
        os.path.join(d.state_dir, "sandboxes")) else []
    assert leftover == []
