# SPDX-License-Identifier: Apache-2.0
"""The nemesis loop in short mode (CI) and a check that its invariant
checker catches what it is meant to catch.

SLOTBOX_FAULTS_ROUNDS (default 4) and SLOTBOX_FAULTS_SEED (default: a new
one, printed) choose the run; the long mode is scripts/faults --long."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nemesis  # noqa: E402
from faultlib import Harness, call  # noqa: E402


def test_nemesis_rounds_hold_every_invariant(capsys):
    seed = int(os.environ.get("SLOTBOX_FAULTS_SEED") or random.SystemRandom().randrange(1 << 31))
    rounds = int(os.environ.get("SLOTBOX_FAULTS_ROUNDS", "4"))
    lines = []

    def out(s):
        lines.append(s)
        with capsys.disabled():
            print(s, flush=True)

    violations = nemesis.run(rounds, seed, n_workers=3, round_s=4.0, out=out)
    assert not violations, f"seed {seed}:\n" + "\n".join(violations)


def test_checker_sees_leftovers():
    """Leftovers planted by hand are each reported."""
    h = Harness(nemesis.POOL).start()
    try:
        cl = h.client()
        v, _ = nemesis.settle(h, cl, [], 20)
        assert v == [], v
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
        assert st == 201
        # a lease no client holds and no answer was lost for
        v, unknown = nemesis.host_violations(h, cl, [])
        assert any("leases no client holds" in x for x in v), v
        # a stray scratch dir, socket and journal record
        os.mkdir(os.path.join(h.state_dir, "sandboxes", "stray-1"))
        open(os.path.join(h.state_dir, "ctl", "stray-1.sock"), "w").close()
        with open(os.path.join(h.state_dir, "journal", "sb-stray-1"), "w") as f:
            f.write('{"id": "stray-1", "n_slots": 1}')
        v, _ = nemesis.host_violations(h, cl, [])
        for what in ("scratch dirs", "ctl sockets", "journal sandboxes", "total_slots"):
            assert any(what in x for x in v), (what, v)
        for p in ("sandboxes/stray-1", "ctl/stray-1.sock", "journal/sb-stray-1"):
            path = os.path.join(h.state_dir, p)
            os.rmdir(path) if os.path.isdir(path) else os.unlink(path)
        # an init killed behind the daemon's back is no longer counted
        h.kill9()
        for pid in list(nemesis.inventory(h)["tree"]["inits"])[:1]:
            os.kill(pid, 9)
        h.restart()
        cl = h.client()
        v, _ = nemesis.settle(h, cl, [], 20)
        assert not any("status sandboxes" in x for x in v), v
        h.stop()
    finally:
        h.cleanup()
