# SPDX-License-Identifier: Apache-2.0
"""GET /metrics moves as acquires, calls and failures happen; results carry
the call's CPU time and peak memory."""
import re

from conftest import api

PROFILE = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
    output_limit_bytes: 1024
    memory_mb: 1024
"""


def scrape(c):
    code, body = c.request("GET", "/metrics")
    assert code == 200
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^(\w+)(\{[^}]*\})? (\S+)$', line)
        assert m, line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def call(c, slot, tool, args, timeout_s=10):
    return api(c, "POST", f"/v1/slots/{slot}/exec",
               {"tool": tool, "args": args, "timeout_s": timeout_s}, 200)


def calls(m, tool, cls):
    return m[f'slotbox_calls_total{{profile="default",tool="{tool}",error_class="{cls}"}}']


def test_metrics_move_with_the_work(make_daemon):
    d = make_daemon(PROFILE)
    c = d.client()
    m0 = scrape(c)
    assert m0['slotbox_slots_leased{profile="default"}'] == 0
    assert m0['slotbox_sandboxes_max{profile="default"}'] == 1
    s = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    s2 = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    call(c, s, "bash", {"command": "true"})
    call(c, s, "bash", {"command": "exit 3"})
    call(c, s, "bash", {"command": "sleep 5"}, timeout_s=0.3)
    call(c, s, "bash", {"command": "yes | head -c 100000"})
    call(c, s, "read_file", {"path": "missing"})
    call(c, s, "write_file", {"path": "f", "content": "x"})
    api(c, "POST", "/v1/slots", {"timeout_s": 0.2}, 503)  # pool is full
    m = scrape(c)
    assert m['slotbox_slots_leased{profile="default"}'] == 2
    assert m['slotbox_slots_available{profile="default"}'] == 0
    assert calls(m, "bash", "none") - calls(m0, "bash", "none") == 2
    assert calls(m, "bash", "task") - calls(m0, "bash", "task") == 1
    assert calls(m, "bash", "timeout") - calls(m0, "bash", "timeout") == 1
    assert calls(m, "read_file", "task") - calls(m0, "read_file", "task") == 1
    assert calls(m, "write_file", "none") - calls(m0, "write_file", "none") == 1
    assert m['slotbox_calls_truncated_total{profile="default"}'] == 1
    assert m['slotbox_exec_seconds_count{profile="default"}'] == 6
    assert m['slotbox_exec_seconds_bucket{profile="default",le="+Inf"}'] == 6
    # the timed-out call took at least 0.3 s: it is not in the 0.25 bucket
    assert m['slotbox_exec_seconds_bucket{profile="default",le="0.25"}'] <= 5
    assert m['slotbox_acquire_wait_seconds_count{profile="default"}'] == 2
    assert m['slotbox_acquire_failures_total{profile="default",reason="timeout"}'] == 1
    assert m['slotbox_sandbox_start_seconds_count{profile="default"}'] >= 1
    assert m['slotbox_sandboxes_created_total{profile="default"}'] >= 1
    api(c, "DELETE", f"/v1/slots/{s}", None, 204)
    api(c, "DELETE", f"/v1/slots/{s2}", None, 204)
    assert scrape(c)['slotbox_slots_leased{profile="default"}'] == 0


def test_results_carry_cpu_time_and_peak_memory(make_daemon):
    d = make_daemon(PROFILE)
    c = d.client()
    s = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    r = call(c, s, "bash", {"command":
             "python3 -c 'b = bytearray(200 << 20); b[::4096] = b\"x\" * len(b[::4096])'"},
             timeout_s=30)
    md = r["metadata"]
    assert r["success"], r
    assert md["peak_memory_bytes"] >= 200 << 20
    r = call(c, s, "bash", {"command":
             "python3 -c 'import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass'"},
             timeout_s=30)
    md = r["metadata"]
    assert md["cpu_user_ms"] + md["cpu_system_ms"] >= 250, md
    assert md["peak_memory_bytes"] < 200 << 20  # this one is small


def test_sd_notify_ready(make_daemon, tmp_path):
    import socket
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    make_daemon(PROFILE, env={"NOTIFY_SOCKET": path})
    assert s.recv(4096).startswith(b"READY=1")


def test_top_once(make_daemon):
    import os
    import subprocess
    from conftest import BUILD
    d = make_daemon(PROFILE)
    api(d.client(), "POST", "/v1/slots", {}, 201)
    p = subprocess.run([os.path.join(BUILD, "slotbox"), "--socket", d.socket,
                        "top", "--once"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("slotbox top")
    row = [l.split() for l in lines if l.startswith("default ")][0]
    assert row[7] == "1"  # LEASED
    assert subprocess.run([os.path.join(BUILD, "slotbox"), "--socket", d.socket,
                           "top", "--interval", "x"], capture_output=True).returncode == 2
