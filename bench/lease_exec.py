# SPDX-License-Identifier: Apache-2.0
"""bench/lease_exec.py SOCKET PROFILE N LABEL [THINK_S [RESET]]: acquire, one
exec (bash true), [think, exec, think,] release(reset=RESET, "false" unless
"true"), N times; prints acquire + release p50/p99 and the parts (us). On a
one-slot pool the next acquire waits for the recycle (or reset), and the
next lease's first exec for its spare: exec_p50 is the first call of a
lease."""
import os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from slotbox.client import Client
sock, profile, n, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
think = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
reset = len(sys.argv) > 6 and sys.argv[6] == "true"
c = Client("unix://" + sock)
acq, rel, ex = [], [], []
for i in range(n):
    t0 = time.perf_counter(); s = c.acquire(profile=profile, timeout_s=60)
    t1 = time.perf_counter(); c.bash(s, "true")
    t2 = time.perf_counter()
    if think:
        time.sleep(think); c.bash(s, "true"); time.sleep(think)
    t2b = time.perf_counter(); c.release(s, reset=reset)
    t3 = time.perf_counter()
    acq.append(t1 - t0); ex.append(t2 - t1); rel.append(t3 - t2b)
def q(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e6
tot = [a + r for a, r in zip(acq, rel)]
print("%s,%s,think=%.3f,acquire+release%s around 1 exec (py),n=%d,p50_us=%.0f,p99_us=%.0f,acquire_p50=%.0f,release_p50=%.0f,exec_p50=%.0f"
      % (label, profile, think, " reset=true" if reset else "", n, q(tot, .5), q(tot, .99), q(acq, .5), q(rel, .5), q(ex, .5)))
