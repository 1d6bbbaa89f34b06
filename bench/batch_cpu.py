#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where the machine's CPU goes in the batch row: `perf record -a` over the
host's own limit (2 threads of posix_spawn), over the host's posix_spawn
from as many threads as slots (what that many processes at once cost by
themselves) and over slotbox's POST /v1/exec batches, the same number of
calls of the same command, and the samples split by who ran them and, for
slotbox's own processes, by the kernel entry they were in. The three ways
on one daemon, in turns.

    bench/batch_cpu.py [--build DIR] [-k SLOTS] [-n CALLS] [--cmd C] [--rounds R]

As root, with perf (Debian: linux-perf). The slots are leased and warmed
first (each gets its first call, its call group and its next lease's
namespaces), and the machine left to settle, so that the recorded rounds
hold the calls only. CPU per call is samples x perf's period / calls:
sampled, so read it to about 10 us. Prints a table; nothing is judged.
The command's own row is the samples of processes named bash: keep --cmd
to bash's builtins (bash execs a lone external program in its place,
whose samples then count under "anything else")."""
import argparse
import collections
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
import bench  # noqa: E402
from timing import cpu_mark  # noqa: E402

PROFILE = """\
default_profile: b
profiles:
  b:
    slots_per_sandbox: 16
    min_sandboxes: 0
    max_sandboxes: {sandboxes}
    idle_timeout: 3600
"""

# who ran a sample, by its comm
ROLES = [
    ("bash", "the command (bash, after its exec)"),
    ("slotbox-init", "slot leader, and each spare up to its exec"),
    ("slotboxd", "daemon"),
    ("slotbench", "client; the host's threads and children up to their exec"),
]
IDLE = "swapper"
# the measurement's own (perf-exec: the record's child until its exec)
PERF = ("perf", "perf-exec")
# slotbench batch's ways: l the limit, c the host from K threads, e slotbox
WAYS = "lce"

SAMPLE = re.compile(r"^(\S.*?)\s+(\d+)\s+\[\d+\]\s+[\d.]+:\s+(\d+)\s+\S+:")
ENTRIES = ("do_epoll_wait", "do_seccomp", "__do_sys_clone3", "__x64_sys_execve",
           "__x64_sys_unshare", "do_sys_poll", "__sys_sendmsg", "__sys_recvmsg", "do_sys_openat2",
           "__x64_sys_mkdirat", "__x64_sys_socketpair", "__do_sys_wait4",
           "__x64_sys_close", "__do_sys_close_range", "__x64_sys_exit_group",
           "exc_page_fault")


def entry_of(frames):
    """The kernel entry a sample sits in: a named syscall or fault, else the
    syscall function nearest the entry, else "user"."""
    kern = [f for f, k in frames if k]
    if not kern:
        return "user space"
    for e in ENTRIES:
        if e in kern:
            return e
    calls = [f for f in kern if f.startswith(("__x64_sys_", "__do_sys_"))]
    return calls[-1] if calls else "other kernel (" + kern[-1] + ")"


def parse(script):
    """{comm: Counter(entry -> ns)} from `perf script` text."""
    out = collections.defaultdict(collections.Counter)
    for block in script.split("\n\n"):
        lines = block.strip("\n").split("\n")
        m = SAMPLE.match(lines[0]) if lines else None
        if not m:
            continue
        comm, period = m.group(1).strip(), int(m.group(3))
        frames = []
        for ln in lines[1:]:
            parts = ln.split(None, 1)
            if len(parts) < 2:
                continue
            sym = parts[1].split(" (")[0].split("+")[0]
            frames.append((sym, "[kernel" in parts[1]))
        out[comm][entry_of(frames)] += period
    return out


def record(sb, args, way, data):
    """One way's rounds under perf; the slotbench row and perf's samples."""
    cmd = ["perf", "record", "-q", "-a", "-g", "-o", data, "--", sb, "batch",
           *args, "--ways", way, "--no-warm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"batch_cpu: {' '.join(cmd)}: {r.stderr.strip()[-800:]}")
    row = next(line for line in r.stdout.splitlines() if "," in line)
    s = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True)
    if s.returncode != 0:
        sys.exit("batch_cpu: perf script: " + s.stderr.strip()[-800:])
    return row, parse(s.stdout)


def merge(into, part):
    for comm, c in part.items():
        into[comm].update(c)


def settle(limit_s=60):
    """Until one second passes with the machine under 5% busy, for at most
    limit_s; says so on stderr when the machine stayed busier."""
    def busy():
        a = cpu_mark()[0]
        time.sleep(1)
        return (cpu_mark()[0] - a) / (1000.0 * (os.cpu_count() or 1))
    t = time.monotonic()
    while (b := busy()) > 0.05:
        if time.monotonic() - t >= limit_s:
            print(f"(the machine was still {b:.0%} busy after {limit_s:g} s: "
                  "the figures that follow include that load)", file=sys.stderr)
            return


def us_per_call(ns, calls):
    return ns / 1000 / calls


def report(rows, prof, calls):
    known = {c for c, _ in ROLES} | {IDLE, *PERF}
    # ns a way: everything but idle and perf, and the command's own
    total = {w: sum(sum(c.values()) for comm, c in prof[w].items()
                    if comm != IDLE and comm not in PERF) for w in WAYS}
    command = {w: sum(prof[w]["bash"].values()) for w in WAYS}
    print(f"\nCPU per call, µs (perf samples; {calls} calls a way)\n")
    print(f"{'who':58} {'limit':>8} {'host xK':>8} {'slotbox':>8}")

    def line(label, per_way):
        print(f"{label:58} " + " ".join(f"{us_per_call(per_way(w), calls):8.0f}"
                                        for w in WAYS))
    for comm, label in ROLES:
        line(label, lambda w, comm=comm: sum(prof[w][comm].values()))
    line("anything else (kernel threads, ...)",
         lambda w: sum(sum(c.values()) for comm, c in prof[w].items() if comm not in known))
    line("all but idle", lambda w: total[w])
    line("idle (swapper)", lambda w: sum(prof[w][IDLE].values()))
    line("perf itself (not in the rows above)",
         lambda w: sum(sum(prof[w][comm].values()) for comm in PERF))
    tot = {w: us_per_call(total[w], calls) for w in WAYS}
    cmd = {w: us_per_call(command[w], calls) for w in WAYS}
    print(f"\nthe concurrency itself (host xK - limit): {tot['c'] - tot['l']:.0f} µs a call")
    print(f"the sandbox, in the command (slotbox - host xK): {cmd['e'] - cmd['c']:.0f} µs a call")
    print(f"slotbox's own path (all but the command, slotbox - host xK): "
          f"{(tot['e'] - cmd['e']) - (tot['c'] - cmd['c']):.0f} µs a call")
    print(f"80% of the limit: at most {tot['l'] / 0.8:.0f} µs a call, "
          f"{tot['e'] - tot['l'] / 0.8:.0f} µs less than slotbox now")
    for comm, label, n in (("slotbox-init", "slot leader and spares, by kernel entry", 14),
                           ("slotboxd", "the daemon, by kernel entry", 8),
                           ("bash", "the command, by kernel entry", 10)):
        print(f"\n{label}:")
        c_e = prof["e"][comm]
        for k in sorted(c_e, key=lambda k: -c_e[k])[:n]:
            print(f"  {k:56} " + " ".join(f"{us_per_call(prof[w][comm][k], calls):8.1f}"
                                          for w in WAYS))
    print("\nslotbench rows (system,scenario,n,p50_us,p99_us,ops_per_s,notes):")
    for r in rows:
        print("  " + r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("SLOTBOX_BUILD", "build"))
    ap.add_argument("-k", type=int, default=256, help="slots (default 256)")
    ap.add_argument("-n", type=int, default=2000, help="calls a way (default 2000)")
    ap.add_argument("--cmd", default="echo hi")
    ap.add_argument("--rounds", type=int, default=2, help="turns of each way (default 2)")
    ap.add_argument("--settle", type=float, default=60, metavar="S",
                    help="at most S seconds of waiting for a quiet machine before "
                    "each recording (default 60)")
    a = ap.parse_args()
    if a.k < 1 or a.n < a.k * a.rounds or a.rounds < 1:
        sys.exit("batch_cpu: -k at least 1, --rounds at least 1, -n at least -k "
                 "times --rounds (a batch request per slot and round)")
    if os.geteuid() != 0:
        sys.exit("batch_cpu: run as root (slotboxd, perf record -a)")
    if not shutil.which("perf"):
        sys.exit("batch_cpu: needs perf (apt-get install linux-perf)")
    build = os.path.abspath(a.build)
    sb = os.path.join(build, "slotbench")
    with tempfile.TemporaryDirectory(prefix="batch_cpu-") as tmp:
        d = bench.Daemon(build, tmp, "d", PROFILE.format(sandboxes=math.ceil(a.k / 16)))
        try:
            slots = [d.client.acquire(f"batch-cpu-{i}", profile="b", timeout_s=300)
                     for i in range(a.k)]
            path = os.path.join(tmp, "slots")
            with open(path, "w") as f:
                f.write("".join(s.slot_id + "\n" for s in slots))
            common = ["--socket", d.socket, "--slots-file", path, "--cmd", a.cmd,
                      "--label", f"batch {a.k} slots", "--rounds", "1"]
            # warm: each slot's first call, then its idle leader makes the
            # next lease's namespaces (leader.c, NEXT_SPARE_IDLE_MS)
            subprocess.run([sb, "batch", *common, "-n", str(a.k), "--ways", "e"],
                           check=True, capture_output=True)
            settle(a.settle)
            prof = {w: collections.defaultdict(collections.Counter) for w in WAYS}
            rows = []
            per = a.n // a.rounds
            for r in range(a.rounds):
                m = a.n - per * r if r == a.rounds - 1 else per
                for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
                    row, p = record(sb, [*common, "-n", str(m)], way,
                                    os.path.join(tmp, "perf.data"))
                    rows.append(row)
                    merge(prof[way], p)
                    settle(a.settle)
            for s in slots:
                d.client.release(s)
        finally:
            d.stop()
        report(rows, prof, a.n)


if __name__ == "__main__":
    main()
