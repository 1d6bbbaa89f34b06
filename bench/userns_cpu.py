# SPDX-License-Identifier: Apache-2.0
"""bench/userns_cpu.py BUILD [N] [ROUNDS]: what userns: true costs a sandbox
cold start, in CPU time as well as latency (a loaded host inflates the
latency of both alike; the CPU time stays what the work costs).

Each round starts one daemon per mode (userns false, then true; one-slot
sandboxes, min_sandboxes 0), has `slotbench cold` start N sandboxes, stops
the daemon (which ends them) and takes from wait4() the CPU time of the
daemon and every process of its sandboxes (all its reaped descendants).
Prints, per mode and round: the cold start p50/p99 (us) and the CPU time
per sandbox (ms, the daemon's share included), and the same CPU figure of
a daemon that started no sandbox (the baseline to subtract)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def one(userns, count):
    t = tempfile.mkdtemp(prefix="uns-cpu-")
    with open(os.path.join(t, "p.yaml"), "w") as f:
        f.write("profiles:\n  cold:\n    slots_per_sandbox: 1\n    min_sandboxes: 0\n"
                "    max_sandboxes: %d\n    idle_timeout: 3600\n    userns: %s\n"
                % (count + 2, "true" if userns else "false"))
    sock = os.path.join(t, "s.sock")
    log = open(os.path.join(t, "log"), "wb")
    p = subprocess.Popen([os.path.join(build, "slotboxd"), "--socket", sock,
                          "--state-dir", os.path.join(t, "st"),
                          "--config", os.path.join(t, "p.yaml")],
                         stdout=log, stderr=subprocess.STDOUT)
    while not os.path.exists(sock):
        time.sleep(0.02)
    time.sleep(0.3)
    row = ""
    if count:
        row = subprocess.run([os.path.join(build, "slotbench"), "cold", "--socket", sock,
                              "--profile", "cold", "-n", str(count)],
                             capture_output=True, text=True, check=True).stdout
    p.send_signal(signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    log.close()
    shutil.rmtree(t, ignore_errors=True)
    cpu_ms = (ru.ru_utime + ru.ru_stime) * 1000
    fields = row.split(",")
    return cpu_ms, (float(fields[3]), float(fields[4])) if count else None


for r in range(rounds):
    base, _ = one(False, 0)
    for userns in (False, True):
        cpu, (p50, p99) = one(userns, n)
        print("%s,round %d,n=%d,cold_start_p50_us=%.0f,p99_us=%.0f,cpu_ms_per_sandbox=%.2f,"
              "minus_idle_daemon=%.2f" % ("userns" if userns else "plain", r + 1, n, p50, p99,
                                          cpu / n, (cpu - base) / n), flush=True)
