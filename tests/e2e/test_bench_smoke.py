# SPDX-License-Identifier: Apache-2.0
"""bench/run --quick, the benchmark suite's smoke mode: every row with a few
iterations. Asserts only that it exits 0 and that every row is in the CSV;
no timing is ever asserted here (the figures are bench/run's business)."""
import csv
import os
import subprocess

from conftest import BUILD, ROOT

SCEN_TRUE = "exec bash -c 'true'"
SCEN_ECHO = "exec bash -c 'echo hi'"
COLD = "sandbox cold start"
ACQ = "acquire + release (warm)"
RESET = "reset of a slot holding files"
AT_SCALE = "exec bash -c 'echo hi' at scale"

PEERS = ["bwrap --unshare-all", "unshare --mount-proc", "crun exec", "docker exec",
         "python subprocess pool (seed)"]

ROWS = (
    [("exec", s, scen) for scen in (SCEN_TRUE, SCEN_ECHO)
     for s in ["host posix_spawn (limit)", "slotbox (C client)", "slotbox (Python client)"]
     + PEERS]
    + [("exec", "host posix_spawn /bin/true (no shell)", SCEN_TRUE)]
    + [("exec", s, "exec bash -c 'echo hi' after 20 ms idle")
       for s in ("host posix_spawn (limit)", "slotbox (C client)")]
    + [("exec", s, "exec bash -c 'echo hi' over TCP (loopback)")
       for s in ("host posix_spawn (limit)", "slotbox (C client, TCP)")]
    + [("batch", s, f"batch {k} slots") for k in (32, 256)
       for s in ("host posix_spawn x2 workers (limit)", "slotbox (C client) thread per slot",
                 "slotbox (C client) POST /v1/exec", "slotbox (Python client) POST /v1/exec")]
    + [("acqrel", s, ACQ) for s in ("transport floor: 2x GET /v1/health (C)",
                                    "slotbox (C client)", "slotbox (C client) reset=true",
                                    "slotbox (Python client)", "python subprocess pool (seed)")]
    + [("cold", s, COLD) for s in ("bare clone+overlay+exec (coldprobe)", "slotbox (C client)",
                                   "crun run (new container)", "docker run --rm (new container)")]
    + [("reset", s, RESET) for s in ("host rm -rf on tmpfs (baseline)",
                                     "slotbox release(reset=true)",
                                     "slotbox next acquire + first exec")]
    + [("fork", s, "template instantiation") for s in (
        "host cp -a to tmpfs (baseline)", "slotbox from template: reset + acquire + first exec",
        "slotbox empty workspace: reset + acquire + first exec")]
    + [("fork", s, f"fork into 8 ({k} files changed)") for k in (100, 1000)
       for s in ("host cp -a x8 to tmpfs (baseline)", "slotbox fork count=8")]
    + [("fork", s, "snapshot of a slot (1000 files changed)")
       for s in ("slotbox snapshot save", "slotbox restore: acquire + first exec")]
    + [("scale", "slotbox", "lease all slots"),
       ("scale", "slotbox daemon", "RSS with all slots leased"),
       ("scale", "slotbox", "memory per idle sandbox"),
       ("scale", "host posix_spawn (limit)", AT_SCALE),
       ("scale", "slotbox (C client)", AT_SCALE)]
    + [("python", s, "64 trajectories x sleep 2 (wall)") for s in (
        "ideal (2 s)", "host posix_spawn, 64 at once (floor)",
        "slotbox SlotboxToolBackend (asyncio client)",
        "asyncio.to_thread + sync Client (previous backend)")]
    + [("python", s, "exec bash -c 'echo hi' one at a time") for s in (
        "host posix_spawn (limit)", "slotbox AsyncClient", "slotbox Client (sync)")]
    + [("proxy", s, "GET 1 KiB file (new connection each)") for s in (
        "host loopback, direct (baseline)", "slotbox port proxy (unix socket)",
        "slotbox port proxy (TCP + token)")]
)


def test_bench_quick_prints_every_row(tmp_path):
    env = dict(os.environ, SLOTBOX_BUILD=BUILD)
    r = subprocess.run([os.path.join(ROOT, "bench", "run"), "--quick", "--out", str(tmp_path)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-5000:])
    with open(tmp_path / "results.csv", newline="") as f:
        rows = {(row["section"], row["system"], row["scenario"]): row
                for row in csv.DictReader(f)}
    missing = [row for row in ROWS if row not in rows]
    assert not missing, missing
    # Every slotbox figure was measured (peers may be absent on a host).
    unmeasured = [k for k, row in rows.items() if k[1].startswith("slotbox") and not row["n"]
                  and not row["value"]]
    assert not unmeasured, unmeasured
    for name in ("results.md", "samples.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "### Exec round trip" in r.stdout
