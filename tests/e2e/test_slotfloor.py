# SPDX-License-Identifier: Apache-2.0
"""bench/slotfloor, the floor bench/scale.py measures slotbox's leases
against: it must really make the bare slots it times (each alive in
namespaces of its own, in its overlay root with /proc and a workspace),
hold them while the caller measures, and leave nothing behind. No timing
is asserted."""
import os
import subprocess

import pytest

from conftest import BUILD

EXE = os.path.join(BUILD, "slotfloor")


def ns(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


@pytest.fixture
def floor():
    if not os.access(EXE, os.X_OK):
        pytest.skip("slotfloor is not built")
    p = subprocess.Popen([EXE, "-n", "24", "--parallel", "2", "--block", "8", "--hold"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield p
    if p.poll() is None:
        p.kill()
        p.wait()


def test_the_bare_slots_are_made_held_and_ended(floor):
    made = floor.stdout.readline().split()
    assert made[:2] == ["made", "24"], made
    blocks = made[made.index("blocks") + 1:made.index("makers_cpu_ms_per_slot")]
    assert len(blocks) == 3  # 24 slots in blocks of 8
    assert all(float(b.rstrip(";")) > 0 for b in blocks)

    # Held: the makers are gone and every slot is the floor's child now
    # (it is their subreaper), each alone in its namespaces.
    slots = children(floor.pid)
    assert len(slots) == 24
    for kind in ("net", "ipc", "mnt", "pid_for_children"):
        seen = {ns(p, kind) for p in slots}
        assert len(seen) == 24, kind
        assert ns(os.getpid(), kind) not in seen, kind
    s = slots[0]
    # its root is the overlay, with its own /proc (it is PID 1 there) and
    # the workspace bound in; loopback is up in its network namespace
    assert os.path.isdir(f"/proc/{s}/root/workspace")
    with open(f"/proc/{s}/root/proc/1/status") as f:
        assert any(line.startswith("NSpid:") and line.split()[-1] == "1" for line in f)
    with open(f"/proc/{s}/net/fib_trie") as f:
        assert "127.0.0.1" in f.read()  # local routes come once lo is up

    out, _ = floor.communicate("\n", timeout=120)
    assert floor.returncode == 0
    assert out.startswith("teardown "), out
    assert not any(os.path.exists(f"/proc/{p}") for p in slots)


def test_bad_arguments_are_refused():
    if not os.access(EXE, os.X_OK):
        pytest.skip("slotfloor is not built")
    for args in (["-n", "0"], ["--parallel", "0"], ["--block", "-1"], ["--what"]):
        r = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, args
        assert r.stderr.strip(), args
