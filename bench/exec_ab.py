#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A/B of the exec round trip between two builds of slotboxd, on this
machine, in one run: both daemons run side by side with the same profile,
and `slotbench exec` (the same client binary for both) measures one daemon,
then the other, in alternating rounds (A B B A ...), so that a noisy
machine's drift hits both alike. Prints each round's p50/p99 (microseconds)
and the median of the rounds' p50s per build, with the daemon's own CPU
time per call (all its threads, from /proc/PID/task/*/schedstat) and the
whole machine's busy CPU time per call (/proc/stat).

    sudo python3 bench/exec_ab.py --a OLD/build --b build -n 400 --rounds 6

Run as root (slotboxd creates namespaces, mounts, cgroups)."""
import argparse
import csv
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PROFILE = """\
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
"""


def http(sock_path, method, path, body=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


class Daemon:
    def __init__(self, build, tag):
        self.tmp = tempfile.mkdtemp(prefix=f"sbx-ab-{tag}-", dir="/tmp")
        self.socket = os.path.join(self.tmp, "sb.sock")
        cfg = os.path.join(self.tmp, "profiles.yaml")
        with open(cfg, "w") as f:
            f.write(PROFILE)
        self.log = open(os.path.join(self.tmp, "log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(build, "slotboxd"), "--socket", self.socket,
             "--state-dir", os.path.join(self.tmp, "state"), "--config", cfg],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if http(self.socket, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit(f"slotboxd of {build} did not start (log: {self.tmp}/log)")
            time.sleep(0.05)
        st, body = http(self.socket, "POST", "/v1/slots", {"timeout_s": 60})
        if st != 201:
            sys.exit(f"acquire on {build}: {st} {body!r}")
        self.slot = json.loads(body)["slot_id"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def daemon_cpu_ns(pid):
    """CPU time the daemon's threads have run, in nanoseconds."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def machine_busy_us():
    """CPU time the whole machine spent busy (all CPUs: user, nice,
    system, irq, softirq, steal), in microseconds: what a call costs
    everything that runs for it, client, daemon, leader, spare, command
    and the kernel's workers alike (and whatever else runs meanwhile,
    which the alternating rounds spread over both builds)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) * 1e6 / hz


def measure(slotbench, d, n, cmd):
    out = subprocess.run([slotbench, "exec", "--socket", d.socket, "--slot", d.slot,
                          "-n", str(n), "--rounds", "1", "--cmd", cmd],
                         capture_output=True, text=True, check=True).stdout
    for row in csv.reader(io.StringIO(out)):
        if row and row[0] == "slotbox (C client)":
            return float(row[3]), float(row[4])
    sys.exit("slotbench printed no slotbox row:\n" + out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="build dir A (the baseline)")
    ap.add_argument("--b", required=True, help="build dir B")
    ap.add_argument("--slotbench", help="client binary (default: A's slotbench)")
    ap.add_argument("-n", type=int, default=400, help="calls per round and build")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--cmd", default="true")
    o = ap.parse_args()
    slotbench = o.slotbench or os.path.join(o.a, "slotbench")
    da, db = Daemon(o.a, "a"), Daemon(o.b, "b")
    p50 = {"A": [], "B": []}
    cpu = {"A": [], "B": []}
    busy = {"A": [], "B": []}
    limit_busy = []
    try:
        print("round,build,p50_us,p99_us,daemon_cpu_us_per_call,"
              "machine_cpu_us_per_call")
        for r in range(o.rounds):
            order = [("A", da), ("B", db)] if r % 2 == 0 else [("B", db), ("A", da)]
            for tag, d in order:
                c0, m0 = daemon_cpu_ns(d.proc.pid), machine_busy_us()
                a50, a99 = measure(slotbench, d, o.n, o.cmd)
                per_call = (daemon_cpu_ns(d.proc.pid) - c0) / o.n / 1000
                machine = (machine_busy_us() - m0) / o.n
                p50[tag].append(a50)
                cpu[tag].append(per_call)
                busy[tag].append(machine)
                print(f"{r},{tag},{a50:.0f},{a99:.0f},{per_call:.1f},"
                      f"{machine:.0f}", flush=True)
            # slotbench exec also runs the limit's n spawns: what they
            # cost the machine alone, to take off
            m0 = machine_busy_us()
            subprocess.run([slotbench, "spawn", "-n", str(o.n), "--system", "limit",
                            "--label", "limit", "--", "/bin/bash", "-c", o.cmd],
                           capture_output=True, check=True)
            limit_busy.append((machine_busy_us() - m0) / o.n)
    finally:
        da.stop()
        db.stop()
    ma, mb = statistics.median(p50["A"]), statistics.median(p50["B"])
    print(f"# exec bash -c '{o.cmd}', {o.n} calls x {o.rounds} rounds per build, "
          f"one slot each")
    print(f"# median p50: A ({o.a}) {ma:.0f} us, B ({o.b}) {mb:.0f} us, "
          f"B/A = {mb / ma:.3f}")
    ca, cb = statistics.median(cpu["A"]), statistics.median(cpu["B"])
    print(f"# median daemon CPU per call: A {ca:.1f} us, B {cb:.1f} us, "
          f"B/A = {cb / ca:.3f}")
    lb = statistics.median(limit_busy)
    ba = statistics.median(busy["A"]) - lb
    bb = statistics.median(busy["B"]) - lb
    print(f"# median machine CPU per call (all processes and the kernel, "
          f"less the {lb:.0f} us of the limit's spawn run with it): "
          f"A {ba:.0f} us, B {bb:.0f} us, B/A = {bb / ba:.3f}")


if __name__ == "__main__":
    main()
