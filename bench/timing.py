# SPDX-License-Identifier: Apache-2.0
"""The one timing loop of the Python benchmark phases: fn() warm times,
then n timed calls, each sample in microseconds; and the machine's CPU time
over a phase, per call."""
import os
import time


def timed(fn, n, warm=10):
    for _ in range(min(warm, n)):
        fn()
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1e6)
    return xs


def cpu_mark():
    """The machine's CPU time so far from /proc/stat, in ms: (busy, stolen);
    busy is user + nice + system + irq + softirq (as bench/benchlib.c's
    cpu_mark)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    tick = 1000.0 / os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) * tick, v[7] * tick


def cpu_note(before, after, wall_s, calls):
    """"machine CPU 1.23 ms/call (busy 97%, steal 3%)", as slotbench's."""
    avail = wall_s * 1000.0 * (os.cpu_count() or 1)
    busy, steal = after[0] - before[0], after[1] - before[1]
    return (f"machine CPU {busy / calls:.2f} ms/call (busy {100 * busy / avail:.0f}%, "
            f"steal {100 * steal / avail:.0f}%)")

