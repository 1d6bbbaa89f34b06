#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""slotbox's benchmark suite. Run it through bench/run (which installs what it
needs and builds); see docs/bench.md.

Starts its own slotboxd on a temp socket and state dir, measures slotbox and
the baselines and peers in the same run on the same machine, writes
results.csv (one row per figure), samples.csv (every timed call),
results.md and latency.png under bench/results/<timestamp>/ (or --out),
and prints the markdown. --quick runs every row with few iterations (the
smoke mode). Exits non-zero when a measurement could not be made; targets
that are missed are reported, not failed.
"""
import argparse
import ctypes
import csv
import datetime
import io
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
sys.path.insert(0, HERE)

from slotbox import Client  # noqa: E402

import forks  # noqa: E402
import peers  # noqa: E402
import ports  # noqa: E402
import pyclient  # noqa: E402
import streamed  # noqa: E402
import timing  # noqa: E402
import report  # noqa: E402
import scale  # noqa: E402

S_TRUE = "exec bash -c 'true'"
S_ECHO = "exec bash -c 'echo hi'"
S_ACQ = "acquire + release (warm)"
S_COLD = "sandbox cold start"
S_RESET = "reset of a slot holding files"
LIMIT = "host posix_spawn (limit)"
# The scale row's exec again once every slot has run a call: a slot's
# first call makes its memory group (src/sandbox/slot_limits.c), and about
# half of the first pass's calls are a slot's first.
SCALE_AGAIN = "exec bash -c 'echo hi' at scale, every slot past its first call"
CMDS = [("true", S_TRUE), ("echo hi", S_ECHO)]
THINK_MS = 20
S_THINK = f"exec bash -c 'echo hi' after {THINK_MS} ms idle"
S_TCP = "exec bash -c 'echo hi' over TCP (loopback)"
TCP_TOKEN = "bench-" + os.urandom(16).hex()

COUNTS = {
    # About 3 minutes on 2 vCPUs (plus installing and building once).
    "full": dict(exec_n=3000, py_n=1500, acq_n=3000, batch_calls=2000, cold_n=150, probe_n=500,
                 reset_n=40, files=10000, scale_sandboxes=100, scale_slots=10, scale_exec_n=2000,
                 holders=100, peer_n=500, docker_n=150, crun_cold_n=200, docker_cold_n=30,
                 pool_n=1500, fork_n=10),
    "quick": dict(exec_n=40, py_n=30, acq_n=40, batch_calls=300, cold_n=4, probe_n=10,
                  reset_n=2, files=10000, scale_sandboxes=10, scale_slots=10, scale_exec_n=40,
                  holders=10, peer_n=10, docker_n=4, crun_cold_n=5, docker_cold_n=2,
                  pool_n=30, fork_n=2),
}

BATCH_SIZES = (32, 256)

# Every row bench/run prints, as (section, system, scenario); rows that
# could not be measured are still printed, saying why.
EXPECTED = (
    [("exec", s, scen) for _, scen in CMDS for s in (
        LIMIT, "host posix_spawn /bin/true (no shell)", "slotbox (C client)",
        "slotbox (Python client)", "bwrap --unshare-all", "unshare --mount-proc", "crun exec",
        "docker exec", "python subprocess pool (seed)")
     if scen == S_TRUE or "no shell" not in s]
    + [("exec", s, S_THINK) for s in (LIMIT, "slotbox (C client)")]
    + [("exec", s, S_TCP) for s in (LIMIT, "slotbox (C client, TCP)")]
    + [("batch", s, f"batch {k} slots") for k in BATCH_SIZES for s in (
        "host posix_spawn x2 workers (limit)", "host posix_spawn, a thread per slot",
        "slotbox (C client) thread per slot", "slotbox (C client) POST /v1/exec",
        "slotbox (Python client) POST /v1/exec")]
    + [("acqrel", s, S_ACQ) for s in (
        "transport floor: 2x GET /v1/health (C)", "slotbox (C client)",
        "slotbox (C client) reset=true", "slotbox (Python client)",
        "python subprocess pool (seed)")]
    + [("cold", s, S_COLD) for s in (
        "bare clone+overlay+exec (coldprobe)", "slotbox (C client)", "crun run (new container)",
        "docker run --rm (new container)")]
    + [("reset", s, S_RESET) for s in (
        "host rm -rf on tmpfs (baseline)", "slotbox release(reset=true)",
        "slotbox next acquire + first exec")]
    + list(forks.EXPECTED)
    + list(pyclient.EXPECTED)
    + list(ports.EXPECTED)
    + list(streamed.EXPECTED)
    + [("scale", s, scen) for s, scen in (
        ("slotbox", "lease all slots"),
        ("slotbox daemon", "RSS with all slots leased"),
        ("slotbox", "memory per idle sandbox"),
        (LIMIT, "exec bash -c 'echo hi' at scale"),
        ("slotbox (C client)", "exec bash -c 'echo hi' at scale"),
        (LIMIT, SCALE_AGAIN),
        ("slotbox (C client)", SCALE_AGAIN))]
)

DAEMON_PROFILES = """\
default_profile: lat
profiles:
  lat:            # exec round trip, acquire + release
    slots_per_sandbox: 8
    min_sandboxes: 2
    max_sandboxes: 2
    idle_timeout: 3600
    execution_timeout_s: 60
  b32:
    slots_per_sandbox: 8
    min_sandboxes: 0
    max_sandboxes: 4
    idle_timeout: 3600
  b256:
    slots_per_sandbox: 16
    min_sandboxes: 0
    max_sandboxes: 16
    idle_timeout: 3600
  cold:           # every acquire starts a sandbox of its own
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: {cold_max}
    idle_timeout: 3600
  reset:          # one slot: the next acquire gets the slot just reset
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
"""

SCALE_PROFILE = """\
default_profile: scale
profiles:
  scale:
    slots_per_sandbox: {slots}
    min_sandboxes: 0
    max_sandboxes: {sandboxes}
    idle_timeout: 3600
    acquire_timeout_s: 300
"""


class MemMeter:
    """Memory charged to a group of processes: a cgroup v1 memory group
    they start in (user pages, tmpfs and kernel objects: namespaces, mounts,
    page tables) when the host has one, else the drop in MemAvailable."""

    V1 = "/sys/fs/cgroup/memory"

    def __init__(self, name):
        self.cg = None
        if os.path.exists(os.path.join(self.V1, "memory.usage_in_bytes")):
            self.cg = os.path.join(self.V1, f"slotbench-{name}-{os.getpid()}")
            os.makedirs(self.cg, exist_ok=True)

    def wrap(self, argv):
        if not self.cg:
            return argv
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cg] + argv

    def kib(self):
        if self.cg:
            with open(os.path.join(self.cg, "memory.usage_in_bytes")) as f:
                return int(f.read()) / 1024
        with open("/proc/meminfo") as f:
            m = {l.split(":")[0]: int(l.split()[1]) for l in f}
        return m["MemTotal"] - m["MemAvailable"]

    def settled_kib(self, timeout=15):
        """Once it stops moving (the kernel frees namespaces lazily)."""
        prev = self.kib()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            cur = self.kib()
            if abs(cur - prev) < 256:
                return cur
            prev = cur
        return prev

    def method(self, pids):
        if not self.cg:
            return "host MemAvailable drop"
        rel = "/" + os.path.basename(self.cg)
        for p in pids:
            try:
                with open(f"/proc/{p}/cgroup") as f:
                    for line in f:
                        _, ctrl, path = line.rstrip("\n").split(":", 2)
                        if "memory" in ctrl.split(",") and not path.startswith(rel):
                            return (f"cgroup v1 memory usage (process {p} is in {path}: "
                                    f"under-counted)")
            except OSError:
                pass
        return "cgroup v1 memory.usage_in_bytes (kernel memory included)"

    def close(self):
        if not self.cg:
            return
        for _ in range(100):
            try:
                os.rmdir(self.cg)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def free_port():
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """slotboxd on a temp socket and state dir (as tests/e2e/conftest.py)."""

    # A bench killed outright (a test's timeout sends SIGKILL) runs no
    # finally: its daemon, with every sandbox, would live on beside the
    # next bench or test. The kernel stops it instead (PR_SET_PDEATHSIG).
    _libc = ctypes.CDLL(None, use_errno=True)

    @staticmethod
    def _stop_with_parent():
        Daemon._libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG

    def __init__(self, build, tmp, name, config, wrap=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.socket = os.path.join(self.dir, "s.sock")
        self.log_path = os.path.join(self.dir, "slotboxd.log")
        cfg = os.path.join(self.dir, "profiles.yaml")
        with open(cfg, "w") as f:
            f.write(config)
        self.log = open(self.log_path, "ab")
        # also on loopback TCP with a token, for the TCP row
        self.token_file = os.path.join(self.dir, "token")
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(TCP_TOKEN + "\n")
        self.url = f"http://127.0.0.1:{free_port()}"
        argv = [os.path.join(build, "slotboxd"), "--socket", self.socket, "--state-dir",
                os.path.join(self.dir, "state"), "--config", cfg,
                "--listen", "tcp" + self.url[4:], "--token-file", self.token_file]
        self.proc = subprocess.Popen(wrap(argv) if wrap else argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=Daemon._stop_with_parent)
        self.client = Client(self.socket, timeout=600)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("slotboxd exited: " + self.log_tail())
            try:
                self.client.health()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("slotboxd did not come up: " + self.log_tail())
                time.sleep(0.02)

    def log_tail(self, n=1500):
        with open(self.log_path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def wait_settled(self, profile, timeout=60):
        """Until every slot of the pool is back and ready (released slots
        restart their leaders in the background)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.client.status()["pools"].get(profile)
            if not p or (p["available_slots"] + p["leased_slots"] == p["total_slots"] and
                         p["starting_sandboxes"] == 0):
                return
            time.sleep(0.05)

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"slotboxd exited with {self.proc.returncode}: " + self.log_tail())


def stats(samples_us):
    v = sorted(samples_us)
    return report.pct(v, 50), report.pct(v, 99)


def descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _shares_parents_memory(pid):
    """A spare cloned with CLONE_VM shares its parent's (the leader's)
    address space: kcmp KCMP_VM says so. Its smaps repeat the parent's,
    so a sum of PSS would count that memory twice."""
    import ctypes
    import platform
    nr = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        ppid = int(st[st.rindex(")") + 2:].split()[1])
    except OSError:
        return False
    if nr is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(nr, pid, ppid, 1, 0, 0) == 0  # KCMP_VM


def pss_kib(pids):
    """The sum of the processes' PSS, each address space counted once."""
    total = 0
    for p in pids:
        if _shares_parents_memory(p):
            continue
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds():
    """(busy CPU seconds of the whole machine, CPU seconds of this process
    and of the children it has waited for). At the end of the run every
    process it started has been waited for, directly or through its
    parent, except orphans that init reaped (docker's shims)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle, iowait.
    busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        ours += r.ru_utime + r.ru_stime
    return busy, ours


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    distro = platform.platform()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return (f"{os.cpu_count()} vCPU {model}, {mem_kib / 1048576:.1f} GiB RAM, {distro}, "
            f"Linux {platform.release()}")


def git_rev():
    try:
        r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return r.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.c = COUNTS[self.mode]
        self.build = os.path.abspath(args.build)
        self.t0 = time.monotonic()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.out = os.path.abspath(args.out or os.path.join(HERE, "results", stamp))
        os.makedirs(self.out, exist_ok=True)
        self.samples = os.path.join(self.out, "samples.csv")
        with open(self.samples, "w") as f:
            f.write("system,scenario,us\n")
        self.tmp = tempfile.mkdtemp(prefix="sbb-", dir="/tmp")
        self.load_start = os.getloadavg()
        self.cpu_start = cpu_seconds()
        self.rows = []
        self.smoke = []
        self.failures = []

    # ---- plumbing ----

    def log(self, msg):
        print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def pypeer(self, d, *args):
        """argv of the Python client's side of a slotbench row (bench/pypeer.py)."""
        return [sys.executable, os.path.join(HERE, "pypeer.py"), "--socket", d.socket, *args]

    def slotbench(self, section, sub, *args, prog="slotbench", wrap=None, timeout=600, env=None):
        """Run build/slotbench SUB ARGS (or build/coldprobe ARGS when sub is
        None) and take in the rows it prints."""
        argv = [os.path.join(self.build, prog)] + ([sub] if sub else []) + \
            ["--samples", self.samples] + list(args)
        if wrap:
            argv = wrap(argv)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"{prog} {sub or ''} failed: {r.stderr.strip()[-800:]}")
        rows = []
        for rec in csv.reader(io.StringIO(r.stdout)):
            if len(rec) != 7:
                continue
            row = dict(section=section, system=rec[0], scenario=rec[1], n=int(rec[2]),
                       p50_us=float(rec[3]), p99_us=float(rec[4]), ops_per_s=float(rec[5]),
                       notes=rec[6])
            self.rows.append(row)
            rows.append(row)
        return rows

    def add(self, section, system, scenario, samples=None, ops=None, notes="", **extra):
        row = dict(section=section, system=system, scenario=scenario, notes=notes, **extra)
        if samples:
            p50, p99 = stats(samples)
            row.update(n=len(samples), p50_us=round(p50, 1), p99_us=round(p99, 1),
                       ops_per_s=round(ops if ops else len(samples) / (sum(samples) / 1e6), 1))
            with open(self.samples, "a", newline="") as f:
                w = csv.writer(f)
                for s in samples:
                    w.writerow([system, scenario, f"{s:.1f}"])
        self.rows.append(row)
        return row

    def skip(self, section, system, scenario, why):
        self.log(f"  {system}: {scenario}: {why}")
        self.rows.append(dict(section=section, system=system, scenario=scenario, notes=why))

    def phase(self, name, fn):
        t = time.monotonic()
        self.log(f"== {name}")
        try:
            fn()
        except Exception as e:  # keep going: the other figures still count
            self.failures.append(f"{name}: {e}")
            self.log(f"!! {name} failed: {e}")
            traceback.print_exc()
        self.log(f"   {name}: {time.monotonic() - t:.1f} s")

    def timed(self, fn, n, warm=10):
        return timing.timed(fn, n, warm)

    def ok(self, system, what):
        self.smoke.append(f"{system}: {what}")

    # ---- slotbox phases (one daemon) ----

    def phase_slotbox(self):
        c = self.c
        d = Daemon(self.build, self.tmp, "main",
                   DAEMON_PROFILES.format(cold_max=max(c["cold_n"], 1) + 2))
        try:
            self.phase("exec round trip (C and Python clients)", lambda: self.exec_phase(d))
            self.phase("acquire + release", lambda: self.acqrel_phase(d))
            self.phase("batch throughput", lambda: self.batch_phase(d))
            self.phase("reset of a slot holding files", lambda: self.reset_phase(d))
            self.phase("sandbox cold start", lambda: self.cold_phase(d))
        finally:
            d.stop()

    def exec_phase(self, d):
        c = self.c
        slot = d.client.acquire("bench-exec", profile="lat", timeout_s=120)
        d.wait_settled("lat")
        for cmd, scen in CMDS:
            extra = ["--bare", "/bin/true"] if cmd == "true" else []
            self.log(f"  C client, Python client + limit: bash -c '{cmd}' x {c['exec_n']}")
            rows = self.slotbench("exec", "exec", "--socket", d.socket, "--slot", slot.slot_id,
                                  "-n", str(c["exec_n"]), "--cmd", cmd, *extra,
                                  "--system", "slotbox (Python client)", "--", *self.pypeer(
                                      d, "--slot", slot.slot_id, "--cmd", cmd))
            for r in rows:
                if r["system"] == "slotbox (Python client)":
                    r["notes"] = "Client.bash, keep-alive; " + r["notes"]
        think = max(10, c["exec_n"] // 10)
        self.log(f"  C client + limit: bash -c 'echo hi' x {think}, {THINK_MS} ms idle before each")
        self.slotbench("exec", "exec", "--socket", d.socket, "--slot", slot.slot_id,
                       "-n", str(think), "--cmd", "echo hi", "--think-ms", str(THINK_MS))
        self.log(f"  C client over TCP + limit: bash -c 'echo hi' x {c['exec_n'] // 2}")
        self.slotbench("exec", "exec", "--url", d.url, "--token", TCP_TOKEN, "--slot",
                       slot.slot_id, "-n", str(c["exec_n"] // 2), "--cmd", "echo hi",
                       "--label", S_TCP)
        self.ok("slotbox (C client)", "bash -c 'echo hi' printed hi, same as on the host")
        self.ok("slotbox (Python client)", "bash -c 'echo hi' printed hi, same as on the host")
        self.log(f"  streamed vs plain exec: bash -c 'echo hi' x {c['py_n']} each, in turns")
        streamed.phase(self, d, slot.slot_id, c["py_n"])
        d.client.release(slot)
        d.wait_settled("lat")

    def acqrel_phase(self, d):
        c = self.c
        self.slotbench("acqrel", "acqrel", "--socket", d.socket, "--profile", "lat",
                       "-n", str(c["acq_n"]))
        d.wait_settled("lat")

        def acq_rel():
            s = d.client.acquire("bench-acq", profile="lat", timeout_s=60)
            d.client.release(s, reset=False)
        xs = self.timed(acq_rel, c["py_n"])
        self.add("acqrel", "slotbox (Python client)", S_ACQ, xs, notes="release reset=false")
        d.wait_settled("lat")

    def batch_phase(self, d):
        c = self.c
        for k in BATCH_SIZES:
            prof = f"b{k}"
            scen = f"batch {k} slots"
            t = time.monotonic()
            slots = [d.client.acquire(f"bench-b{i}", profile=prof, timeout_s=300) for i in range(k)]
            self.log(f"  leased {k} slots in {time.monotonic() - t:.1f} s; {c['batch_calls']} calls")
            path = os.path.join(self.tmp, f"slots-{k}")
            with open(path, "w") as f:
                f.write("".join(s.slot_id + "\n" for s in slots))
            # The Python client is a peer way of slotbench's: it takes its
            # turns with the limit like the C rows do.
            rows = self.slotbench("batch", "batch", "--socket", d.socket, "--slots-file", path,
                                  "-n", str(c["batch_calls"]), "--cmd", "echo hi", "--label",
                                  scen, "--rounds", "4", "--ways", "ltecp",
                                  "--system", "slotbox (Python client) POST /v1/exec", "--",
                                  *self.pypeer(d, "--batch", "--slots-file", path))
            for r in rows:
                r["n"] = c["batch_calls"]  # calls; the samples may be per request
            for s in slots:
                d.client.release(s)
            d.wait_settled(prof)
        self.ok("slotbox POST /v1/exec", "every result success with output hi")

    def reset_phase(self, d):
        c = self.c
        self.slotbench("reset", "reset", "--socket", d.socket, "--profile", "reset",
                       "-n", str(c["reset_n"]), "--files", str(c["files"]))
        self.ok("slotbox reset", f"{c['files']} files made, workspace empty at the next lease")

    def cold_phase(self, d):
        c = self.c
        self.slotbench("cold", "cold", "--socket", d.socket, "--profile", "cold",
                       "-n", str(c["cold_n"]))
        self.slotbench("cold", None, "-n", str(c["probe_n"]), prog="coldprobe")
        self.ok("coldprobe", "clone + overlay + exec /bin/true exited 0")

    # ---- scale (a daemon of its own) ----

    def phase_scale(self):
        c = self.c
        n_sb, per = c["scale_sandboxes"], c["scale_slots"]
        total = n_sb * per
        meter = MemMeter("scale")
        d = Daemon(self.build, self.tmp, "scale", SCALE_PROFILE.format(slots=per, sandboxes=n_sb),
                   wrap=meter.wrap)
        try:
            rss0 = d.rss_kib()
            mem0 = meter.settled_kib()
            host0 = scale.host_mem()
            t = time.monotonic()
            slots = [d.client.acquire(f"bench-s{i}", timeout_s=300) for i in range(total)]
            lease_s = time.monotonic() - t
            sandboxes = {s.alloc_id for s in slots}
            if len(sandboxes) != n_sb:
                raise RuntimeError(f"{total} slots came from {len(sandboxes)} sandboxes, "
                                   f"not {n_sb}")
            self.add("scale", "slotbox", "lease all slots", value=f"{lease_s:.2f}", unit="s",
                     n=total, baseline="",
                     notes=f"{total} acquires one after another (Python client), each new "
                           f"sandbox started on demand ({n_sb} × {per} slots)")
            procs = descendants(d.proc.pid)
            mem1 = meter.settled_kib()
            host1 = scale.host_mem()
            rss = d.rss_kib()
            pss = pss_kib(procs)
            how = meter.method(procs)
            # What the host loses (MemAvailable, kernel slab included),
            # not only what a memory cgroup is charged: most of a slot's
            # cost is kernel objects no cgroup is charged for.
            per_sb_kib = (host0[0] - host1[0]) / n_sb
            slab_sb_kib = (host1[1] - host0[1]) / n_sb
            cg_sb_kib = (mem1 - mem0) / n_sb
            self.log(f"  {total} slots leased in {lease_s:.2f} s; daemon RSS {rss / 1024:.1f} MiB; "
                     f"{len(procs)} sandbox processes; {per_sb_kib / 1024:.2f} MiB per sandbox "
                     f"(host MemAvailable; {how}: {cg_sb_kib / 1024:.2f} MiB)")
            self.add("scale", "slotbox daemon", "RSS with all slots leased",
                     value=f"{rss / 1024:.1f}", unit="MiB", n=total,
                     baseline=f"idle daemon, no sandbox: {rss0 / 1024:.1f} MiB",
                     vs_baseline=round(rss / rss0, 2) if rss0 else "",
                     notes=f"VmRSS of slotboxd with {total} leased slots in {n_sb} sandboxes")

            # Exec at that scale, before anything else runs.
            path = os.path.join(self.tmp, "slots-scale")
            with open(path, "w") as f:
                f.write("".join(s.slot_id + "\n" for s in slots))
            self.log(f"  exec over {total} slots x {c['scale_exec_n']}")
            self.slotbench("scale", "exec", "--socket", d.socket, "--slots-file", path,
                           "-n", str(c["scale_exec_n"]), "--cmd", "echo hi",
                           "--label", "exec bash -c 'echo hi' at scale")
            self.ok("slotbox at scale", f"all {total} slots ran bash -c 'echo hi'")
            for s in slots:
                if not d.client.bash(s, "true").success:
                    raise RuntimeError(f"bash -c true in {s.slot_id} failed")
            self.slotbench("scale", "exec", "--socket", d.socket, "--slots-file", path,
                           "-n", str(c["scale_exec_n"]), "--cmd", "echo hi",
                           "--label", SCALE_AGAIN)
            for s in slots:
                d.client.release(s, reset=False)
        finally:
            d.stop()
            meter.close()
        base_kib, base_pss, _ = self.holders_baseline(c["holders"])
        self.add("scale", "slotbox", "memory per idle sandbox",
                 value=f"{per_sb_kib / 1024:.2f}", unit="MiB", n=n_sb,
                 baseline=f"bare namespaced process: {base_kib / 1024:.2f} MiB",
                 vs_baseline=round(per_sb_kib / base_kib, 1) if base_kib > 0 else "",
                 notes=f"the host's MemAvailable drop (kernel objects included; other tenants "
                       f"move it too); {per} slots each, {per_sb_kib / per / 1024:.2f} MiB per "
                       f"slot, of it unreclaimable slab (SUnreclaim) {slab_sb_kib / per / 1024:.2f}"
                       f" MiB; for comparison {how}: {cg_sb_kib / 1024:.2f} MiB per sandbox; "
                       f"PSS of the sandbox processes {pss / n_sb / 1024:.2f} MiB per sandbox "
                       f"({len(procs)} processes); baseline: the same MemAvailable drop, "
                       f"PSS {base_pss / 1024:.2f} MiB")

    def holders_baseline(self, k):
        """Memory per bare namespaced process (and its PSS), measured the
        same way as the sandboxes."""
        meter = MemMeter("holders")
        try:
            host0 = scale.host_mem()
            procs = [subprocess.Popen(meter.wrap(
                ["unshare", "--fork", "--kill-child", "--pid", "--mount", "--uts", "--ipc",
                 "--net", "--mount-proc", "sleep", "600"])) for _ in range(k)]
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    if all(descendants(p.pid) for p in procs):
                        break
                    time.sleep(0.05)
                host1 = scale.host_mem()
                pids = [p.pid for p in procs] + [q for p in procs for q in descendants(p.pid)]
                pss = pss_kib(pids)
                how = meter.method(pids)
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
        finally:
            meter.close()
        return (host0[0] - host1[0]) / k, pss / k, how

    # ---- peers ----

    def peer(self, name, keys, fn):
        """Run one peer's measurements; a tool that fails here (not
        installed, refused by this kernel) leaves its rows saying why
        instead of failing the run."""
        self.log(f"  {name}")
        try:
            fn()
        except Exception as e:  # the peer's problem, not slotbox's
            if isinstance(e, peers.Unavailable):
                why = f"skipped: {e}"
            else:
                why = f"skipped: {name} failed here: {str(e).strip()[-300:]}"
            have = {(r["section"], r["system"], r["scenario"]) for r in self.rows}
            for k in keys:
                if k not in have:
                    self.skip(*k, why)

    def phase_peers(self):
        c = self.c
        rootfs = os.path.join(self.tmp, "rootfs")
        peers.make_rootfs(rootfs)
        hi = "hi\n"

        def spawn(section, system, scen, argv, n, expect=None, env=None, wrap=None):
            args = ["spawn", "-n", str(n), "--system", system, "--label", scen]
            if expect is not None:
                args += ["--expect", expect]
            self.slotbench(section, *args, "--", *argv, env=env, wrap=wrap)

        def output(cmd):
            return hi if cmd == "echo hi" else ""

        # bwrap and unshare: a new sandbox per call.
        def bwrap():
            path = shutil.which("bwrap")
            if not path:
                raise peers.Unavailable("bwrap not installed (Debian: bubblewrap)")
            for cmd, scen in CMDS:
                spawn("exec", "bwrap --unshare-all", scen,
                      [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                       "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                       "/bin/bash", "-c", cmd], c["peer_n"], output(cmd))
            self.ok("bwrap", "printed hi")
        self.peer("bwrap", [("exec", "bwrap --unshare-all", scen) for _, scen in CMDS], bwrap)

        def unshare():
            for cmd, scen in CMDS:
                spawn("exec", "unshare --mount-proc", scen,
                      ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
                       "--mount-proc", "/bin/bash", "-c", cmd], c["peer_n"], output(cmd))
            self.ok("unshare", "printed hi")
        self.peer("unshare", [("exec", "unshare --mount-proc", scen) for _, scen in CMDS],
                  unshare)

        # crun: exec into a running container; run of a new one.
        def crun():
            if not shutil.which("crun"):
                raise peers.Unavailable("crun not installed (Debian: crun)")
            cr = peers.Crun(self.tmp, rootfs)
            try:
                cr.start()
                note = " (cgroup2 mount hidden in a private mount namespace)" \
                    if peers.hybrid_cgroups() else ""
                for cmd, scen in CMDS:
                    spawn("exec", "crun exec", scen, cr.exec_argv(cmd), c["peer_n"],
                          output(cmd), wrap=peers.crun_wrap)
                    self.rows[-1]["notes"] += note
                spawn("cold", "crun run (new container)", S_COLD, cr.cold_argv(),
                      c["crun_cold_n"], wrap=peers.crun_wrap)
                self.rows[-1]["notes"] = "crun run of a bundle whose process is /bin/true" + note
                self.ok("crun", "exec printed hi; run of /bin/true exited 0")
            finally:
                cr.stop()
        self.peer("crun", [("exec", "crun exec", scen) for _, scen in CMDS]
                  + [("cold", "crun run (new container)", S_COLD)], crun)

        # docker: exec into a running container; run --rm of a new one.
        def docker():
            dk = peers.Docker(self.tmp, self.log)
            try:
                dk.start(rootfs, allow_start=not self.args.no_docker)
                for cmd, scen in CMDS:
                    spawn("exec", "docker exec", scen, dk.exec_argv(cmd), c["docker_n"],
                          output(cmd), env=dk.env)
                    self.rows[-1]["notes"] += f"; {dk.where}"
                spawn("cold", "docker run --rm (new container)", S_COLD, dk.cold_argv(),
                      c["docker_cold_n"], env=dk.env)
                self.rows[-1]["notes"] = f"docker run --rm --network none IMAGE /bin/true; {dk.where}"
                self.ok("docker", f"exec printed hi ({dk.where})")
            finally:
                dk.stop()
        self.peer("docker", [("exec", "docker exec", scen) for _, scen in CMDS]
                  + [("cold", "docker run --rm (new container)", S_COLD)], docker)

        # The seed's simple pool, with local subprocesses (our code: a
        # failure here fails the run).
        self.log("  python subprocess pool (seed)")
        pool = peers.SeedPool(os.path.join(self.tmp, "seedpool"))
        task = peers.SeedTask(pool, "bench")
        try:
            for cmd, scen in CMDS:
                r = task.execute(cmd)
                if r["returncode"] != 0 or r["output"] != output(cmd):
                    raise RuntimeError(f"seed pool: {cmd!r} gave {r}")
                xs = self.timed(lambda: task.execute(cmd), c["pool_n"])
                self.add("exec", "python subprocess pool (seed)", scen, xs,
                         notes="subprocess.run(['bash','-c',cmd], cwd=task dir, capture_output)")
        finally:
            task.cleanup()

        def acq_rel():
            peers.SeedTask(pool).cleanup()
        xs = self.timed(acq_rel, c["pool_n"])
        self.add("acqrel", "python subprocess pool (seed)", S_ACQ, xs,
                 notes="seed's acquire (mkdir + rm via bash) and cleanup (rm -rf via bash)")
        self.ok("python subprocess pool (seed)", "printed hi")

    # ---- verdicts ----

    def judge(self):
        def find(section, system, scenario):
            for r in self.rows:
                if (r["section"], r["system"], r["scenario"]) == (section, system, scenario) \
                        and r.get("n"):
                    return r
            return None

        # Sections compared by p50 with a baseline row of the same scenario:
        # (baseline systems, label, decimals of the label in ms, of the ratio)
        by_p50 = {
            "exec": ((LIMIT,), "limit", 3, 2),
            "scale": ((LIMIT,), "limit", 3, 2),
            "acqrel": (("transport floor: 2x GET /v1/health (C)",), "floor", 3, 2),
            "cold": (("bare clone+overlay+exec (coldprobe)",), "probe", 3, 2),
            "reset": (("host rm -rf on tmpfs (baseline)",), "rm -rf", 3, 3),
            "fork": ((forks.CP1, forks.CP8), "cp -a", 1, 3),
            "proxy": ((ports.BASE,), "direct", 3, 2),
        }
        for r in self.rows:
            if not r.get("n") or r["section"] == "scale" and r.get("value") not in (None, ""):
                continue
            sec, sys_, scen = r["section"], r["system"], r["scenario"]
            if sec in by_p50:
                systems, label, ms_dec, ratio_dec = by_p50[sec]
                base = next((b for b in (find(sec, s, scen) for s in systems) if b), None)
                if base and base is not r:
                    r["baseline"] = f"{label} p50 {base['p50_us'] / 1000:.{ms_dec}f} ms"
                    r["vs_baseline"] = round(r["p50_us"] / base["p50_us"], ratio_dec)
            elif sec == "batch":
                base = find(sec, "host posix_spawn x2 workers (limit)", scen)
                if base and base is not r:
                    r["baseline"] = f"limit {base['ops_per_s']:,.0f} ops/s"
                    r["vs_baseline"] = round(r["ops_per_s"] / base["ops_per_s"], 3)
                    if sys_.startswith("slotbox"):
                        r["target"] = "≥ 80% of limit ops/s"
                        r["met"] = r["vs_baseline"] >= 0.8
            # the targets
            if sec == "exec" and sys_.startswith("slotbox") and "vs_baseline" in r:
                # issue 22: the C client 1.3x, the Python client 1.4x
                bound = 1.4 if "Python" in sys_ else 1.3
                r["target"] = f"p50 ≤ {bound}× limit"
                r["met"] = r["vs_baseline"] <= bound
            elif sec == "acqrel" and sys_ == "slotbox (C client)":
                r["target"] = "p50 ≤ 200 µs (C, unix socket)"
                r["met"] = r["p50_us"] <= 200
            elif sec == "cold" and sys_ == "slotbox (C client)":
                r["target"] = "p50 ≤ 10 ms"
                r["met"] = r["p50_us"] <= 10000

    def fill_missing(self):
        have = {(r["section"], r["system"], r["scenario"]) for r in self.rows}
        for key in EXPECTED:
            if key not in have:
                self.rows.append(dict(section=key[0], system=key[1], scenario=key[2],
                                      notes="not measured: its phase failed (see the log)"))
                self.failures.append(f"missing row {key}")
        order = {k: i for i, k in enumerate(EXPECTED)}
        self.rows.sort(key=lambda r: order.get((r["section"], r["system"], r["scenario"]), 999))

    def run(self):
        self.log(f"slotbox bench, {self.mode} mode: results in {self.out}")
        self.log("iterations: " + ", ".join(f"{k}={v}" for k, v in self.c.items()))
        try:
            self.phase("slotbox daemon", self.phase_slotbox)
            self.phase("templates, forks and snapshots", lambda: forks.phase(self, Daemon))
            self.phase("Python client under asyncio", lambda: pyclient.phase(self, Daemon))
            self.phase("port proxy", lambda: ports.phase(self, Daemon))
            self.phase("peers", self.phase_peers)
            self.phase("scale", self.phase_scale)
        finally:
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)
        self.judge()
        self.fill_missing()
        wall = time.monotonic() - self.t0
        return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every row, few iterations (smoke)")
    ap.add_argument("--build", default=os.environ.get("SLOTBOX_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--out", help="results folder (default bench/results/<UTC timestamp>)")
    ap.add_argument("--no-docker", action="store_true",
                    help="do not start a docker engine when none is reachable")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (slotboxd creates namespaces, mounts and cgroups)")
    b = Bench(args)
    wall = b.run()
    busy, ours = cpu_seconds()
    outside = max(0.0, (busy - b.cpu_start[0]) - (ours - b.cpu_start[1]))
    outside /= wall * (os.cpu_count() or 1)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = "\n".join([
        f"## slotbox benchmarks ({b.mode} run)", "",
        f"- machine: {machine()}",
        f"- when: {when}; slotbox {git_rev()}; wall time of the run {wall:.0f} s",
        f"- load average (1 min) when the run started: {b.load_start[0]:.2f}; CPU time not "
        f"charged to bench/run's own processes during the run: {100 * outside:.0f}% of the "
        "machine's (other tenants; kernel threads, which also tear down the namespaces and "
        "cgroups this run makes; docker's shims). Load from outside skews every figure, the "
        "limits included.",
        "- iterations: " + ", ".join(f"{k}={v}" for k, v in b.c.items()),
        "- p50/p99 are per call (nearest rank); ops/s is calls per second of wall time for "
        "the batch rows, and 1/mean latency (one call at a time) elsewhere; ms throughout.",
        "- smoke checks passed: " + ("; ".join(b.smoke) if b.smoke else "none"),
    ])
    md = report.markdown(b.rows, header)
    if b.failures:
        md += "\n**Failures:**\n\n" + "\n".join(f"- {f}" for f in b.failures) + "\n"
    report.write_csv(os.path.join(b.out, "results.csv"), b.rows)
    with open(os.path.join(b.out, "results.md"), "w") as f:
        f.write(md + "\n")
    why = report.plot(b.samples, os.path.join(b.out, "latency.png"),
                      f"slotbox bench ({b.mode}), {machine()}, {when}")
    print(md)
    print(f"\nresults: {b.out}/results.csv, samples.csv, results.md"
          + (", latency.png" if not why else f" ({why})"))
    total = ""
    if os.environ.get("SLOTBENCH_T0"):
        total = f"; {time.time() - float(os.environ['SLOTBENCH_T0']):.0f} s with installing and building"
    print(f"wall time: {wall:.0f} s measuring{total}")
    sys.exit(1 if b.failures else 0)


if __name__ == "__main__":
    main()
