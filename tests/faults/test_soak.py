# SPDX-License-Identifier: Apache-2.0
"""The soak in short mode (CI): SLOTBOX_SOAK_S seconds (default 60) of
steady mixed load, sampled every SLOTBOX_SOAK_INTERVAL_S (default 10);
soak.csv and soak.png go to SLOTBOX_FAULTS_OUT (default a temp dir).
Pass/fail on slopes only (soak.py states them)."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import soak  # noqa: E402


def test_soak_is_flat(capsys):
    out_dir = os.environ.get("SLOTBOX_FAULTS_OUT") or tempfile.mkdtemp(prefix="sbf-soak-")
    seconds = float(os.environ.get("SLOTBOX_SOAK_S", "60"))
    interval = float(os.environ.get("SLOTBOX_SOAK_INTERVAL_S", "10"))

    def out(s):
        with capsys.disabled():
            print(s, flush=True)

    failures = soak.run(seconds, interval, out_dir, out=out)
    assert not failures, failures
    assert os.path.getsize(os.path.join(out_dir, "soak.csv")) > 0
