# SPDX-License-Identifier: Apache-2.0
"""Results: rows -> results.csv, samples -> samples.csv, results.md, latency.png."""
import csv
import os
from typing import Dict, List, Optional

FIELDS = ["section", "system", "scenario", "n", "p50_us", "p99_us", "ops_per_s", "value",
          "unit", "baseline", "vs_baseline", "target", "met", "notes"]

SECTIONS = [
    ("exec", "Exec round trip, one call at a time",
     "Client → API → sandbox → back, `bash -c CMD` on a leased slot, against the host's "
     "`posix_spawn` of the same `/bin/bash -c CMD` with a pipe for stdout (the limit), "
     "measured in the same run and interleaved with slotbox's calls. slotbox's API always "
     "runs `bash -c`, so the `true` row is `bash -c 'true'` everywhere; `/bin/true` spawned "
     "without a shell is shown for reference. Peers run the same `/bin/bash -c CMD`, one "
     "process per call, timed by the same C harness; their ratio is to the limit measured in "
     "the slotbox phase of this run. The \"after 20 ms idle\" rows space the calls as an "
     "agent's are (model turns between tool calls): each timed call, the limit's too, "
     "follows 20 ms of idle time."),
    ("batch", "Batch throughput",
     "2 vCPUs: the limit is 2 threads doing `posix_spawn` of `bash -c 'echo hi'` as fast as "
     "they can. slotbox: the same calls spread over N leased slots, either one C thread and "
     "connection per slot, or `POST /v1/exec` batches of one call per slot from the C client "
     "and from the Python one (bench/pybatch.py); every way takes its turns with the limit in "
     "the same rounds. For reference, "
     "the host's `posix_spawn` from as many threads as slots: what running that many "
     "processes at once costs the machine itself. Each row's notes give the machine's CPU "
     "time per call while it ran (/proc/stat: busy, and stolen by other guests): where "
     "slotbox's ops/s fall short of the limit's, that column says whether the calls cost "
     "more CPU or waited."),
    ("acqrel", "Acquire + release of a warm slot",
     "`POST /v1/slots` + `DELETE /v1/slots/{id}` on a pool with free warm slots. The floor is "
     "two `GET /v1/health` round trips on the same connection. A release that keeps the "
     "workspace (`reset=false`) recycles the slot in place: its leader kills what the lease "
     "started, group by group, and offers the slot again. A reset recycles it in place too, on "
     "a new workspace generation that init makes after the release has answered (not on this "
     "path); these leases run nothing, and a lease that touched nothing has nothing to reset "
     "(bench/lease_exec.py times a reset after a call)."),
    ("cold", "Sandbox cold start",
     "slotbox: an acquire that has to start a new sandbox (profile with one slot per sandbox, "
     "`min_sandboxes: 0`): the init zygote's clone3 into namespaces (no exec), cgroup, tmpfs, slotbox-init, the slot "
     "leader's overlay root, /proc, /dev, pivot_root, until the slot is ready and leased. "
     "Baseline: `bench/coldprobe`, a bare clone into the same namespaces + tmpfs + overlay + "
     "/proc + exec of /bin/true."),
    ("reset", "Reset",
     "A slot whose workspace holds 10,000 files: the `release(reset=true)` call, then the "
     "next acquire + first exec on that slot (the profile has one slot). Baseline: `rm -rf` "
     "of 10,000 files on a host tmpfs, which is what a reset by deletion (the seed's) costs."),
    ("fork", "Templates, forks and snapshots",
     "A daemon of its own whose profiles start every workspace from a template of 10,000 "
     "small files in 100 directories (an overlay lower layer). Instantiation: release with "
     "reset + acquire + first exec on a one-slot pool, so every round is a new workspace "
     "(an empty workspace for reference). Fork: `POST /v1/slots/{id}/fork {\"count\": 8}` "
     "of a slot that changed 100, then 1,000 files, until all 8 leases are answered; the "
     "children's tree hashes are checked against the source's. Snapshot: save, and restore "
     "(acquire with `snapshot` + first exec). Baseline: `cp -a` of the whole template into a "
     "tmpfs, once and 8 times, which is what instantiating and forking by copy cost; for the "
     "snapshot save, `cp -a` of 1,000 files into the snapshot store's own filesystem, taking "
     "turns with the saves: on ext4, creating inodes within minutes of mass deletions is slow "
     "(ext4's recently_deleted scan), and a save pays that as any copy does."),
    ("python", "Python client under asyncio",
     "64 asyncio tasks, each acquire + `bash sleep 2` + release, all at once: through "
     "SlotboxToolBackend (the asyncio client, no thread per call) and the previous backend's way "
     "(a sync Client call per `asyncio.to_thread`, the default thread pool); p50 is the wall "
     "time of the whole run, against the 2 s ideal. Then `bash -c 'echo hi'` one call at a "
     "time from AsyncClient and from the sync Client, against the host's spawn (the limit)."),
    ("proxy", "Port proxy",
     "A small GET (`python3 -m http.server`, a 1 KiB file) through "
     "`/v1/slots/{id}/ports/{port}/` over the daemon's unix socket and over TCP with the "
     "token, next to the same GET straight to the same server on the host's loopback (the "
     "baseline); http.client, a new connection per request on every row (proxied answers "
     "close their connection), rows measured in turns."),
    ("stream", "Streamed exec",
     "`bash -c 'echo hi'` on one slot with `\"stream\": true` (NDJSON events, chunked, then "
     "the result) and without (one JSON answer), the two taking turns on one keep-alive "
     "connection of the same minimal client (http.client over the unix socket), so the "
     "difference is the daemon's. Target: streamed p50 at most 1.1x plain. Then the time "
     "from sending a streamed `echo first; sleep 0.2` to its first stdout event, while the "
     "command still runs (target: 50 ms)."),
    ("scale", "Scale",
     "A fresh daemon whose only profile has 10 slots per sandbox; every slot leased (the "
     "counts are in the rows). Memory is what the host loses: the drop in MemAvailable "
     "(kernel objects, slab, page tables and tmpfs included; other tenants of the machine "
     "move it too) from before the daemon started to all slots leased, divided by the number "
     "of sandboxes; the unreclaimable slab's share, what the daemon's memory cgroup is charged "
     "(which leaves out most kernel objects) and the sum of the sandbox processes' PSS are in "
     "the notes. `bench/scale.py` leases 10,000 slots this way. Baseline: the same measure over bare namespaced "
     "processes (`unshare --fork --pid --mount --uts --ipc --net --mount-proc sleep`). Exec "
     "spreads its calls over all the leased slots, interleaved with the limit: first with "
     "the slots as leased, so that about half of the calls are a slot's first, which makes "
     "the slot's memory cgroup (src/sandbox/slot_limits.c); then again once every slot has "
     "run a call."),
]


def pct(sorted_vals: List[float], p: float) -> float:
    """Nearest-rank percentile (as slotbench computes it)."""
    if not sorted_vals:
        return 0.0
    import math
    rank = max(1, min(len(sorted_vals), math.ceil(p / 100.0 * len(sorted_vals))))
    return sorted_vals[rank - 1]


def write_csv(path: str, rows: List[Dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS})


def _ms(us) -> str:
    if us in (None, ""):
        return ""
    v = float(us) / 1000.0
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"


def _ops(v) -> str:
    return "" if v in (None, "") else f"{float(v):,.0f}"


def _met(r) -> str:
    m = r.get("met")
    if m is True:
        return "**yes**"
    if m is False:
        return "**NO**"
    return ""


def _ratio(r) -> str:
    v = r.get("vs_baseline")
    if v in (None, ""):
        return ""
    v = float(v)
    if r.get("section") == "batch":
        return f"{v * 100:.0f}%"
    return f"{v:.3f}×" if v < 0.1 else f"{v:.2f}×"


def _skip_or(r, text) -> str:
    return text if r.get("n") else ""


def markdown(rows: List[Dict], header: str) -> str:
    out = [header.rstrip(), ""]
    for key, title, blurb in SECTIONS:
        rs = [r for r in rows if r["section"] == key]
        if not rs:
            continue
        out += [f"### {title}", "", blurb, ""]
        if key == "scale":
            out += ["| figure | value | baseline (same run) | vs baseline | notes |",
                    "|---|---|---|---|---|"]
            for r in rs:
                if r.get("value") not in (None, ""):
                    val = f"{r['value']} {r.get('unit', '')}".strip()
                else:
                    val = (f"p50 {_ms(r['p50_us'])} ms, p99 {_ms(r['p99_us'])} ms, "
                           f"{_ops(r['ops_per_s'])} ops/s (n={r['n']})" if r.get("n") else "")
                out.append(f"| {r['system']}: {r['scenario']} | {val} | {r.get('baseline') or ''}"
                           f" | {_ratio(r)} {_met(r)} | {r.get('notes') or ''} |")
            out.append("")
            continue
        if key == "batch":
            out += ["| scenario | system | calls | ops/s | vs limit (ops/s) | p50 ms | p99 ms | "
                    "target | met | notes |", "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
        else:
            out += ["| scenario | system | n | p50 ms | p99 ms | ops/s | vs baseline (p50) | "
                    "target | met | notes |", "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
        for r in rs:
            if key == "batch":
                out.append(f"| {r['scenario']} | {r['system']} | {r.get('n') or ''} | "
                           f"{_ops(r.get('ops_per_s'))} | {_ratio(r)} | {_ms(r.get('p50_us'))} | "
                           f"{_ms(r.get('p99_us'))} | {r.get('target') or ''} | {_met(r)} | "
                           f"{r.get('notes') or ''} |")
            else:
                out.append(f"| {r['scenario']} | {r['system']} | {r.get('n') or ''} | "
                           f"{_ms(r.get('p50_us'))} | {_ms(r.get('p99_us'))} | "
                           f"{_ops(r.get('ops_per_s'))} | {_ratio(r)} | {r.get('target') or ''} | "
                           f"{_met(r)} | {r.get('notes') or ''} |")
        out.append("")
    return "\n".join(out)


def read_samples(path: str) -> Dict[tuple, List[float]]:
    got: Dict[tuple, List[float]] = {}
    if not os.path.exists(path):
        return got
    with open(path, newline="") as f:
        for rec in csv.reader(f):
            if len(rec) != 3 or rec[0] == "system":
                continue
            got.setdefault((rec[0], rec[1]), []).append(float(rec[2]))
    return got


# (colour, line style, width) by what a system is: slotbox bold, the
# limits and baselines dashed black, each peer its own colour in every panel.
LOOKS = [
    ("no shell", ("#7f7f7f", ":", 1.6)),
    ("limit", ("black", "--", 2.0)),
    ("floor", ("black", "--", 2.0)),
    ("coldprobe", ("black", "--", 2.0)),
    ("reset=true", ("#ff7f0e", "-", 2.2)),
    ("slotbox (C client)", ("#d62728", "-", 2.8)),
    ("slotbox (Python client)", ("#9467bd", "-", 2.4)),
    ("bwrap", ("#1f77b4", "-", 1.4)),
    ("unshare", ("#17becf", "-", 1.4)),
    ("crun", ("#2ca02c", "-", 1.4)),
    ("docker", ("#8c564b", "-", 1.4)),
    ("seed", ("#bcbd22", "-", 1.4)),
]


def look(system: str):
    for key, style in LOOKS:
        if key in system:
            return style
    return ("#e377c2", "-", 1.4)


def plot(samples_path: str, png_path: str, title: str) -> Optional[str]:
    """ECDFs of the per-call latencies, one panel per scenario, one line
    per system. Returns why not when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no plot: {e} (install python3-matplotlib)"
    s = read_samples(samples_path)
    panels = [
        ("exec bash -c 'true'", "exec `bash -c 'true'`"),
        ("exec bash -c 'echo hi'", "exec `bash -c 'echo hi'`"),
        ("acquire + release (warm)", "acquire + release (warm)"),
        ("sandbox cold start", "sandbox cold start"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    for ax, (scen, label) in zip(axes.flat, panels):
        series = sorted(((k[0], v) for k, v in s.items() if k[1] == scen),
                        key=lambda kv: pct(sorted(kv[1]), 50))
        for system, vals in series:
            vals = sorted(v / 1000.0 for v in vals)
            n = len(vals)
            ys = [(i + 1) / n for i in range(n)]
            colour, style, width = look(system)
            ax.step(vals, ys, where="post", linestyle=style, linewidth=width,
                    color=colour, label=f"{system} (p50 {pct(vals, 50):.2f} ms)")
        ax.set_xscale("log")
        ax.set_title(label.replace("`", ""))
        ax.set_xlabel("latency, ms (log scale)")
        ax.set_ylabel("fraction of calls ≤ x")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return None
