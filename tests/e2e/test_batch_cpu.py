# SPDX-License-Identifier: Apache-2.0
"""bench/batch_cpu.py, where the batch row's CPU goes: it must run its three
ways, find slotbox's own processes in the samples and print the table.
No figure is judged here (timings never are)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

SCRIPT = os.path.join(ROOT, "bench", "batch_cpu.py")


def run(*args, timeout=300):
    env = dict(os.environ, SLOTBOX_BUILD=BUILD)
    return subprocess.run([SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def row(out, label):
    """(limit, host from as many threads as slots, slotbox), µs a call."""
    m = re.search(r"^" + re.escape(label) + r"\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    assert m, (label, out)
    return tuple(int(g) for g in m.groups())


@pytest.mark.skipif(not shutil.which("perf"), reason="perf is not installed (linux-perf)")
def test_both_ways_are_recorded_and_split_by_who_ran_them():
    # a short wait for a quiet machine: a busy CI host must not wait it
    # out seven times (seen: past the timeout under a CPU hog)
    r = run("-k", "4", "-n", "40", "--settle", "3")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    out = r.stdout
    assert all(x > 0 for x in row(out, "all but idle")), out
    # the command ran every way; slotbox's leader and daemon only in its own
    assert all(x > 0 for x in row(out, "the command (bash, after its exec)")), out
    assert row(out, "slot leader, and each spare up to its exec")[2] > 0, out
    assert row(out, "daemon")[2] > 0, out
    # the derived lines, each with a figure
    for start in ("the concurrency itself", "the sandbox, in the command",
                  "slotbox's own path", "80% of the limit: at most"):
        assert re.search(r"^" + re.escape(start) + r".*-?\d+ µs", out, re.M), (start, out)
    # one slotbench row per way and round (2 rounds by default)
    for way in ("host posix_spawn x2 workers (limit)", '"host posix_spawn, a thread per slot"',
                "slotbox (C client) POST /v1/exec"):
        assert out.count(way + ",batch 4 slots") == 2, (way, out)


def test_bad_arguments_are_refused():
    r = run("-k", "8", "-n", "4")
    assert r.returncode != 0
    assert "-n at least -k" in r.stderr
