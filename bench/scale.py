#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/scale.py: lease N slots one after another and see what it costs
the host (issue 22's "10,000 slots, flat").

    bench/scale.py --build build [--baseline OLD_BUILD] [-n 10000]
    bench/scale.py --baseline OLD --build build --build build,memory_mb=0,sandbox_memory_mb=20480

For each build, in turn on the same machine (the baseline first): a fresh
slotboxd whose only profile has --per slots per sandbox (max N/per
sandboxes), N acquires one after another with the Python client, each new
sandbox started on demand; the time of every 1,000-slot block (first
against last); `echo hi` in --exec-n random leased slots (Python client,
p50/p99), each call followed by the host's own run of the same command
(subprocess.run from the same Python: the baseline with these slots
alive, measured at the same moments); what the host lost per idle leased slot: MemAvailable and
/proc/meminfo's SUnreclaim (unreclaimable slab), next to what the daemon's
memory cgroup is charged; then everything is released and the daemon
stopped, and the host must come back (MemAvailable, slab, cgroup count).

Before each build, the floor (bench/slotfloor.c, unless --no-floor): the
same number of bare slots, each a process in new mount, pid, IPC and
network namespaces with a tmpfs, an overlay root and /proc, made by one
maker per CPU with nothing else (no cgroup, daemon, protocol or
confinement). Each build's lease time is shown against it, block by block,
and its `echo hi` latencies against the host's own posix_spawn of the same
command (bench/slotbench spawn) with every bare slot alive.

Each build's daemon (state dir, the slots' upper dirs) runs on a fresh
ext4 file system with a journal, on a loop device, made for it and
removed after (FreshFs; --same-fs runs them all in --tmp), and the next
build waits for the kernel to free the previous one's namespaces and
cgroups: measured back to back on one file system, the second build ran
10-40% slower than the first, whichever it was.

Memory safety (the machine is shared): leasing stops early when the
projection from what the slots leased so far cost leaves less than
--reserve-gb of MemAvailable at N, and the run releases everything and
stops when MemAvailable falls under --abort-gb.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

from slotbox import Client  # noqa: E402

PROFILE = """\
default_profile: scale
profiles:
  scale:
    slots_per_sandbox: {per}
    min_sandboxes: 0
    max_sandboxes: {sandboxes}
    idle_timeout: 3600
    acquire_timeout_s: 300
{extra}"""

BLOCK = 1000
GIB = 1 << 30


def meminfo():
    """/proc/meminfo in KiB."""
    with open("/proc/meminfo") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f}


def cgroup_counts():
    """Live cgroups per v1 controller (/proc/cgroups) and in the unified
    hierarchy (cgroup.stat of its root, when there is one)."""
    out = {}
    with open("/proc/cgroups") as f:
        for line in f:
            if not line.startswith("#"):
                name, _, num, _ = line.split()
                out[name] = int(num)
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            with open(os.path.join(root, "cgroup.stat")) as f:
                for line in f:
                    k, v = line.split()
                    out["v2 " + k] = int(v)
            break
        except OSError:
            pass
    return out


def slab_objects():
    """(active objects, object size) per slab cache (/proc/slabinfo)."""
    out = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                v = line.split()
                out[v[0]] = (int(v[1]), int(v[3]))
    except OSError:
        pass
    return out


def slabinfo():
    """KiB per slab cache: active objects x object size."""
    return {k: n * size / 1024 for k, (n, size) in slab_objects().items()}


def teardown_marks():
    """What a stopped daemon's sandboxes leave for the kernel to free in
    the background: namespaces (slab objects) and pids/cpu cgroups."""
    out = {"net_namespace": slab_objects().get("net_namespace", (0, 0))[0]}
    c = cgroup_counts()
    out.update({k: c.get(k, 0) for k in ("pids", "cpu")})
    return out


def wait_kernel_teardown(base, log, stall_s=120, cap_s=600, margin=100):
    """Wait until the previous build's namespaces and cgroups are gone
    (back within margin of base), so that a build is not measured while the
    kernel still frees the 10,000 network namespaces and cgroups of the one
    before. As long as their counts keep falling, up to cap_s; it gives up
    after stall_s without progress. (On the VM's earlier kernel build they
    were gone by the time the previous run had finished; on its newer one,
    with page faults trapping to the hypervisor, 4,390 network namespaces
    were still going after two minutes; after bench/slotfloor's 10,000
    their count once stood still for 30 s at 4,489 and then fell again:
    hence the two minutes without progress before it gives up.)"""
    t = last_progress = time.monotonic()
    best = None
    done = False
    while time.monotonic() - t < cap_s and time.monotonic() - last_progress < stall_s:
        cur = teardown_marks()
        if all(cur.get(k, 0) <= v + margin for k, v in base.items()):
            done = True
            break
        left = sum(max(0, cur.get(k, 0) - v) for k, v in base.items())
        if best is None or left < best:
            best, last_progress = left, time.monotonic()
        time.sleep(1)
    how = "done" if done else "gave up, still going"
    log(f"  the kernel's teardown of the previous build: waited "
        f"{time.monotonic() - t:.0f} s, {how} ({cur})")


def host_mem(settle_s=20):
    """(MemAvailable, SUnreclaim) in KiB once they stop moving: the kernel
    frees namespaces and cgroups in the background (RCU, workqueues)."""
    prev = meminfo()
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        cur = meminfo()
        if (abs(cur["MemAvailable"] - prev["MemAvailable"]) < 2048 and
                abs(cur["SUnreclaim"] - prev["SUnreclaim"]) < 1024):
            prev = cur
            break
        prev = cur
    return prev["MemAvailable"], prev["SUnreclaim"]


def memcg_usage_kib(pid):
    """memory.usage_in_bytes (cgroup v1) or memory.current (v2) of the
    daemon's own slotbox/<instance> group, found from a sandbox process."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, ctrl, path = line.split(":", 2)
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "slotbox":
            continue
        inst = "/".join(parts[:2])
        if "memory" in ctrl.split(","):
            p = f"/sys/fs/cgroup/memory/{inst}/memory.usage_in_bytes"
        elif ctrl == "":
            p = f"/sys/fs/cgroup/{inst}/memory.current"
            if not os.path.exists(p):
                p = f"/sys/fs/cgroup/unified/{inst}/memory.current"
        else:
            continue
        try:
            with open(p) as f:
                return int(f.read()) / 1024
        except OSError:
            continue
    return None


def children_of(pid):
    """pid's children, made by any of its threads (the daemon's sandbox
    inits are its launcher thread's: /proc/PID/task/TID/children lists
    each thread's own)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def count_procs(pid):
    n, todo = 0, children_of(pid)
    while todo:
        p = todo.pop()
        n += 1
        todo += children_of(p)
    return n


def cpu_ticks(pid):
    """(starttime, utime + stime + cutime + cstime) of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[19]), sum(int(x) for x in v[11:15])


def host_cpu():
    """(busy, idle) clock ticks of all CPUs since boot (/proc/stat), and
    those of the kernel's DAMON threads (kdamond: a host that runs DAMON
    walks every mapping of a sampled page, and 11,000 processes map
    slotbox-init's and libc's)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    kd = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().startswith("kdamond"):
                    continue
            kd += cpu_ticks(int(pid))[1]
        except OSError:
            pass
    return sum(v[:8]) - idle, idle, kd


def inits_of(daemon_pid):
    """The sandboxes' inits: the daemon's children, or its zygote's (the
    zygote forks them: src/sandbox/zygote.h)."""
    out = []
    for pid in children_of(daemon_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        out += [pid] if b"--id" in argv else children_of(pid)
    return out


def cpu_ms(pid):
    """(starttime, CPU ms) of pid: its own time on a CPU from schedstat
    (nanoseconds: a sandbox's whole start is a few ms, under one clock
    tick), plus its reaped children's user + system ticks."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/schedstat") as f:
        ns = int(f.read().split()[0])
    hz = os.sysconf("SC_CLK_TCK")
    return int(v[19]), ns / 1e6 + (int(v[13]) + int(v[14])) * 1000 / hz


def sandbox_cpu_ms(daemon_pid):
    """CPU time that each sandbox's processes have used, in ms, oldest
    sandbox first: what it cost to create, and unlike wall time barely
    moved by other load."""
    out = []
    for init in inits_of(daemon_pid):
        try:
            start, total = cpu_ms(init)
            todo = children_of(init)
            while todo:
                p = todo.pop()
                total += cpu_ms(p)[1]
                todo += children_of(p)
        except OSError:
            continue
        out.append((start, total))
    return [ms for _, ms in sorted(out)]


def mount_devs(pid):
    """The device ids ("major:minor") of the file systems mounted in pid's
    mount namespace, as it sees them (/proc/PID/mountinfo)."""
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            return {line.split()[2] for line in f}
    except OSError:
        return set()


class FreshFs:
    """A new ext4 file system (a sparse image on a loop device) for one
    build's daemon: state dir, slots' upper dirs and all. On the same file
    system as the build before it, a build pays for that build's teardown:
    ext4 without a journal (this VM's root) skips every inode freed in the
    last 1-6 minutes at each create, reading it to check, so the next
    daemon's lease records and slot dirs cost up to 3x the CPU, whichever
    build it is."""

    def __init__(self, parent, size_gb):
        self.dir = tempfile.mkdtemp(prefix="fs-", dir=parent)
        self.img = self.dir + ".img"
        self.mounted = False
        try:
            with open(self.img, "wb") as f:
                f.truncate(size_gb << 30)
            subprocess.run(["mkfs.ext4", "-q", "-F", self.img], check=True)
            subprocess.run(["mount", "-o", "loop", self.img, self.dir], check=True)
            self.mounted = True
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.dir], check=False)
        os.rmdir(self.dir)
        if os.path.exists(self.img):
            os.unlink(self.img)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


class Daemon:
    def __init__(self, build, tmp, per, sandboxes, keys, extra=(), config=None):
        """config: the whole profiles file instead of PROFILE's one."""
        self.dir = tempfile.mkdtemp(prefix="scale-", dir=tmp)
        self.socket = os.path.join(self.dir, "s.sock")
        cfg = os.path.join(self.dir, "profiles.yaml")
        with open(cfg, "w") as f:
            f.write(config or PROFILE.format(
                per=per, sandboxes=sandboxes,
                extra="".join(f"    {k}: {v}\n" for k, v in keys)))
        self.log = open(os.path.join(self.dir, "slotboxd.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(build, "slotboxd"), "--socket", self.socket, "--state-dir",
             os.path.join(self.dir, "state"), "--config", cfg, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.client = Client("unix://" + self.socket, timeout=600)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slotboxd exited; see {self.dir}/slotboxd.log")
            try:
                self.client.health()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_one(spec, a, log):
    """Lease, exec, measure, release one build ("DIR[,key=value...]":
    profile keys); a dict of figures."""
    build, *kv = spec.split(",")
    keys = [x.split("=", 1) for x in kv]
    r = {"build": spec}
    mem0, slab0 = host_mem()
    cg0 = cgroup_counts()
    sl0 = slabinfo()
    avail0 = meminfo()["MemAvailable"]
    info0 = meminfo()
    d = Daemon(os.path.abspath(build), a.tmp, a.per, -(-a.n // a.per), keys,
               a.daemon_arg)
    slots, blocks = [], []
    try:
        t0 = tb = time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        dcpu = [cpu_ticks(d.proc.pid)[1]]
        hcpu = [host_cpu()]
        stop = None
        acq = []  # each acquire's wall time, ms
        for i in range(a.n):
            ta = time.perf_counter()
            slots.append(d.client.acquire(f"scale-{i}", timeout_s=300))
            acq.append((time.perf_counter() - ta) * 1e3)
            if (i + 1) % 100:
                continue
            avail = meminfo()["MemAvailable"]
            if avail < a.abort_gb * GIB / 1024:
                stop = f"aborted at {i + 1} slots: MemAvailable {avail / 2**20:.1f} GiB"
                break
            proj = (avail0 - avail) / (i + 1) * (a.n - i - 1)
            if avail - proj < a.reserve_gb * GIB / 1024:
                stop = (f"stopped at {i + 1} slots: {a.n} would leave "
                        f"{(avail - proj) / 2**20:.1f} GiB available")
                break
            if (i + 1) % BLOCK == 0:
                now = time.monotonic()
                blocks.append(now - tb)
                dcpu.append(cpu_ticks(d.proc.pid)[1])
                hcpu.append(host_cpu())
                tb = now
                log(f"  {i + 1} slots: last {BLOCK} in {blocks[-1]:.2f} s, "
                    f"MemAvailable {avail / 2**20:.1f} GiB")
        r["lease_s"] = time.monotonic() - t0
        # A sequential leaser's every per-th acquire finds every sandbox
        # full and waits for one to start; the others take a free slot.
        # Split them, per block, to see which of the two grows.
        r["acq_split"] = []
        for b0 in range(0, len(acq) - BLOCK + 1, BLOCK):
            ks = range(b0, b0 + BLOCK)
            waited = [acq[k] for k in ks if k % a.per == 0]
            rest = [acq[k] for k in ks if k % a.per]
            r["acq_split"].append((sum(waited) / 1e3, pct(waited, 50),
                                   sum(rest) / 1e3, pct(rest, 50)))
        r["slots"] = len(slots)
        r["blocks"] = blocks
        r["stop"] = stop
        if stop:
            log("  " + stop)
        # the daemon makes the cgroups: their kernel cost is its CPU
        r["dcpu"] = [(b - a_) * 1000 / hz / BLOCK for a_, b in zip(dcpu, dcpu[1:])]
        # where the machine's CPU went per block: busy share, of it kdamond
        r["hcpu"] = []
        for (b0, i0, k0), (b1, i1, k1) in zip(hcpu, hcpu[1:]):
            tot = max(1, (b1 - b0) + (i1 - i0))
            r["hcpu"].append((100 * (i1 - i0) / tot, 100 * (k1 - k0) / tot))
        cpu = sandbox_cpu_ms(d.proc.pid)
        tenth = max(1, len(cpu) // 10)
        r["cpu_first"] = sum(cpu[:tenth]) / (tenth * a.per)
        r["cpu_last"] = sum(cpu[-tenth:]) / (tenth * a.per)
        if not stop:
            # what the slots cost before any of them ran a call, then
            # what a first call adds (a slot's memory group: slot_limits.c)
            idle_mem, idle_slab = host_mem()
            # steadier than MemAvailable, which the host's page cache moves
            info1 = meminfo()
            r["proc_kib"] = {k: (info1.get(k, 0) - info0.get(k, 0)) / len(slots)
                             for k in ("AnonPages", "PageTables", "KernelStack")}
            r["idle_avail_kib_per_slot"] = (mem0 - idle_mem) / len(slots)
            lat, host = [], []
            for s in random.Random(22).sample(slots, min(a.exec_n, len(slots))):
                t = time.perf_counter()
                res = d.client.bash(s, "echo hi")
                lat.append((time.perf_counter() - t) * 1e3)
                if not res.success or res.output.strip() != "hi":
                    raise RuntimeError(f"echo hi in {s.slot_id}: {res.output!r} {res.error!r}")
                # the baseline at the same moment, these slots alive: the
                # host runs the same command itself, from the same Python
                t = time.perf_counter()
                out = subprocess.run(["bash", "-c", "echo hi"], check=True,
                                     capture_output=True).stdout
                host.append((time.perf_counter() - t) * 1e3)
                if out.strip() != b"hi":
                    raise RuntimeError(f"host echo hi: {out!r}")
            r["exec_p50"], r["exec_p99"] = pct(lat, 50), pct(lat, 99)
            r["host_p50"], r["host_p99"] = pct(host, 50), pct(host, 99)
            r["n_exec"] = len(lat)
        mem1, slab1 = host_mem()
        if "exec_p50" in r:
            r["first_call_kib"] = (idle_mem - mem1) / min(a.exec_n, len(slots))
        r["procs"] = count_procs(d.proc.pid)
        # a slot's leader: init stays in the daemon's groups
        leaders = [g for k in inits_of(d.proc.pid) for g in children_of(k)]
        r["memcg_kib"] = memcg_usage_kib(leaders[0]) if leaders else None
        # File systems the slots see that the host has not: each is a
        # superblock with a shrinker, which every memory cgroup on the host
        # pays a counter for (docs/bench.md, "What a slot costs the
        # kernel"). An IPC namespace's mqueue has one too, unseen here.
        host_devs = mount_devs(d.proc.pid)
        r["fs"] = len(set().union(*(mount_devs(p) for p in leaders)) - host_devs)
        cg1 = cgroup_counts()
        sl1 = slabinfo()
        r["slabs"] = sorted(((sl1[k] - sl0.get(k, 0), k) for k in sl1), reverse=True)[:4]
        r["cgroups"] = {k: cg1.get(k, 0) - cg0.get(k, 0)
                        for k in ("memory", "cpu", "pids", "freezer", "v2 nr_descendants")}
        n = max(1, len(slots))
        r["avail_kib_per_slot"] = (mem0 - mem1) / n
        r["slab_kib_per_slot"] = (slab1 - slab0) / n
        if r["memcg_kib"] is not None:
            r["memcg_kib_per_slot"] = r["memcg_kib"] / n
        with open(f"/proc/{d.proc.pid}/status") as f:
            r["rss_kib"] = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        t = time.monotonic()
        for s in slots:
            d.client.release(s, reset=False)
        r["release_s"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        d.stop()
        r["stop_s"] = time.monotonic() - t
    mem2, slab2 = host_mem(60)
    r["back_avail_kib"] = mem0 - mem2
    r["back_slab_kib"] = slab2 - slab0
    cg2 = cgroup_counts()
    r["back_memcg"] = cg2.get("memory", 0) - cg0.get("memory", 0)
    return r


def run_floor(exe, a, log):
    """bench/slotfloor: the same number of bare slots (new mount, pid,
    IPC and network namespaces, a tmpfs, an overlay root, /proc, loopback
    up; no cgroup, no daemon), made by one maker per CPU and held while
    the host is measured. What the kernel charges for the objects a slot
    is: slotbox cannot lease N slots faster than this on the same host."""
    mem0, slab0 = host_mem()
    # a bare slot takes some 0.3 MiB; keep --reserve-gb free
    if mem0 - a.n * 512 < a.reserve_gb * GIB / 1024:
        raise RuntimeError(f"slotfloor: {a.n} bare slots would leave less than "
                           f"{a.reserve_gb} GiB available")
    p = subprocess.Popen([exe, "-n", str(a.n), "--block", str(BLOCK), "--hold"],
                         stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        made = p.stdout.readline().split()
        if not made or made[0] != "made":
            raise RuntimeError(f"slotfloor: {' '.join(made) or 'no output'}")
        mem1, slab1 = host_mem()
        # the limit under exec at scale: the host's own call with every
        # bare slot alive (what kdamond, reclaim and the scheduler make
        # of N namespaced processes, without slotbox)
        sp = subprocess.run([os.path.join(os.path.dirname(exe), "slotbench"), "spawn",
                             "-n", str(a.exec_n), "--system", "host posix_spawn",
                             "--label", "at scale", "--expect", "hi\n", "--",
                             "/bin/bash", "-c", "echo hi"],
                            capture_output=True, text=True, timeout=600)
        spawn = (sp.stdout.strip().split(",") if sp.returncode == 0 else None)
        p.stdin.write("\n")
        p.stdin.close()
        end = p.stdout.read().split()
    finally:
        if p.wait(timeout=600) != 0:
            raise RuntimeError(f"slotfloor exited with {p.returncode}")
    # made N in T s; blocks B1 B2 ...; makers_cpu_ms_per_slot C
    i = made.index("blocks")
    j = made.index("makers_cpu_ms_per_slot")
    r = {"n": int(made[1]), "total_s": float(made[3]),
         "blocks": [float(x.rstrip(";")) for x in made[i + 1:j]],
         "makers_ms": float(made[j + 1]),
         "teardown_s": float(end[1]), "slots_ms": float(end[end.index(
             "slots_cpu_ms_per_slot") + 1]),
         "avail_kib_per_slot": (mem0 - mem1) / int(made[1]),
         "slab_kib_per_slot": (slab1 - slab0) / int(made[1])}
    if spawn:
        r["spawn_p50"], r["spawn_p99"] = float(spawn[3]) / 1e3, float(spawn[4]) / 1e3
    return r


def show_floor(f):
    b = f["blocks"]
    blocks = (f"  per {BLOCK}-slot block: first {b[0]:.2f} s, last {b[-1]:.2f} s, "
              f"last/first {b[-1] / b[0]:.2f}; all: {' '.join(f'{x:.1f}' for x in b)}\n"
              if b else "")
    return (f"floor (bench/slotfloor: {f['n']} bare slots, one maker per CPU; "
            f"namespaces, mounts and a process, no cgroup, no daemon): made in "
            f"{f['total_s']:.1f} s\n" + blocks +
            f"  CPU per slot: makers {f['makers_ms']:.2f} ms + the slots' own "
            f"{f['slots_ms']:.2f} ms; host memory per slot: MemAvailable "
            f"{f['avail_kib_per_slot'] / 1024:.3f} MiB, of it unreclaimable slab "
            f"{f['slab_kib_per_slot'] / 1024:.3f} MiB; teardown {f['teardown_s']:.1f} s"
            + (f"\n  with them all alive, the host's own posix_spawn of bash -c 'echo hi' "
               f"(bench/slotbench spawn): p50 {f['spawn_p50']:.2f} ms, p99 "
               f"{f['spawn_p99']:.2f} ms" if "spawn_p50" in f else ""))


def show(r):
    n = r["slots"]
    b = r["blocks"]
    lines = [f"build {r['build']}: {n} slots leased in {r['lease_s']:.1f} s"
             + (f" ({r['stop']})" if r["stop"] else "")]
    fl = r.get("floor")
    if fl:
        fb = fl["blocks"]
        lines.append(f"  against the floor measured just before it: "
                     f"{r['lease_s'] / fl['total_s']:.2f}x in all"
                     + (f", first block {b[0] / fb[0]:.2f}x, last block "
                        f"{b[-1] / fb[-1]:.2f}x" if b and len(b) == len(fb) else "")
                     + (f"; exec p50/p99 {r['exec_p50'] / fl['spawn_p50']:.2f}x/"
                        f"{r['exec_p99'] / fl['spawn_p99']:.2f}x the host's spawn at "
                        f"scale" if "exec_p50" in r and "spawn_p50" in fl else ""))
    if b:
        lines.append(f"  per {BLOCK}-slot block: first {b[0]:.2f} s "
                     f"({b[0] / BLOCK * 1e3:.2f} ms/slot), last {b[-1]:.2f} s "
                     f"({b[-1] / BLOCK * 1e3:.2f} ms/slot), last/first {b[-1] / b[0]:.2f}; "
                     f"all: {' '.join(f'{x:.1f}' for x in b)}")
    sp = r.get("acq_split") or []
    if sp:
        lines.append("  per block, the acquires that waited for a sandbox start "
                     "(every per-th): total s / p50 ms: "
                     + " ".join(f"{t:.2f}/{m:.1f}" for t, m, _, _ in sp))
        lines.append("  per block, the other acquires (a free slot): total s / p50 ms: "
                     + " ".join(f"{t:.2f}/{m:.2f}" for _, _, t, m in sp))
    lines.append(f"  CPU time of the sandboxes' processes per slot (schedstat, load-independent): "
                 f"first tenth of the sandboxes {r['cpu_first']:.2f} ms, last tenth "
                 f"{r['cpu_last']:.2f} ms, last/first {r['cpu_last'] / max(r['cpu_first'], 1e-9):.2f}")
    if r.get("hcpu"):
        lines.append(f"  the machine's CPU per {BLOCK}-slot block, idle % / kdamond %: "
                     + " ".join(f"{i:.0f}/{k:.0f}" for i, k in r["hcpu"]))
    if r["dcpu"]:
        lines.append(f"  daemon CPU per slot (it makes the cgroups) per {BLOCK}-slot block: "
                     + " ".join(f"{x:.2f}" for x in r["dcpu"]) + " ms")
    if "exec_p50" in r:
        lines.append(f"  exec echo hi in random leased slots (Python client): "
                     f"p50 {r['exec_p50']:.2f} ms, p99 {r['exec_p99']:.2f} ms; the host's "
                     f"own subprocess.run of it between those calls, these slots alive: "
                     f"p50 {r['host_p50']:.2f} ms, p99 {r['host_p99']:.2f} ms "
                     f"({r['exec_p50'] / r['host_p50']:.2f}x/{r['exec_p99'] / r['host_p99']:.2f}x)")
    mc = (f"{r['memcg_kib_per_slot'] / 1024:.3f} MiB" if "memcg_kib_per_slot" in r
          else "n/a")
    ran = f", {r['n_exec']} of them after a call" if "n_exec" in r else ""
    lines.append(f"  host memory per leased slot{ran}: MemAvailable "
                 f"{r['avail_kib_per_slot'] / 1024:.3f} MiB, of it unreclaimable slab "
                 f"{r['slab_kib_per_slot'] / 1024:.3f} MiB; daemon's memory cgroup "
                 f"charged {mc} (for comparison)")
    if "proc_kib" in r:
        lines.append("  before any call, per leased slot: "
                     + ", ".join(f"{k} {v:.1f} KiB" for k, v in r["proc_kib"].items()))
    if "first_call_kib" in r:
        lines.append(f"  before any call: MemAvailable {r['idle_avail_kib_per_slot'] / 1024:.3f} "
                     f"MiB per leased slot; a slot's first call added "
                     f"{r['first_call_kib'] / 1024:.3f} MiB (over the {r['n_exec']} slots "
                     f"that ran one)")
    lines.append(f"  kernel objects: {r['procs']} sandbox processes "
                 f"({r['procs'] / max(1, n):.2f} per slot); new cgroups "
                 + ", ".join(f"{k} {v}" for k, v in r["cgroups"].items())
                 + f"; daemon RSS {r['rss_kib'] / 1024:.1f} MiB")
    lines.append("  slab caches that grew most (KiB per slot): "
                 + ", ".join(f"{k} {v / max(1, n):.0f}" for v, k in r["slabs"]))
    mcg = r["cgroups"]["memory"]
    k1 = next((v for v, k in r["slabs"] if k == "kmalloc-1k"), None)
    lines.append(f"  file systems the slots mount (none of the host's): {r['fs']}, "
                 f"{r['fs'] / max(1, n):.2f} per slot"
                 + (f"; kmalloc-1k per new memory cgroup: {k1 / mcg:.0f} KiB "
                    f"(a memory cgroup's shrinker counters: 1 KiB per 64 "
                    f"shrinkers the host has ever had at once)" if k1 and mcg > 0 else ""))
    lines.append(f"  release all {r['release_s']:.1f} s, daemon stop {r['stop_s']:.1f} s; "
                 f"host after: MemAvailable {r['back_avail_kib'] / 1024:+.0f} MiB lost, "
                 f"slab {r['back_slab_kib'] / 1024:+.0f} MiB, memory cgroups "
                 f"{r['back_memcg']:+d} (other tenants move these too)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="append",
                    help="DIR[,key=value...] (profile keys); repeat to measure several in turn")
    ap.add_argument("--baseline", help="a build measured first, the same way")
    ap.add_argument("-n", type=int, default=10000, help="slots to lease")
    ap.add_argument("--per", type=int, default=10, help="slots per sandbox")
    ap.add_argument("--exec-n", type=int, default=200)
    ap.add_argument("--reserve-gb", type=float, default=6.0,
                    help="MemAvailable the projection must leave at N")
    ap.add_argument("--abort-gb", type=float, default=5.0,
                    help="release everything when MemAvailable falls under this")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--same-fs", action="store_true",
                    help="run every build in --tmp itself, not each on a fresh "
                         "ext4 of its own (FreshFs says why that is the default)")
    ap.add_argument("--fs-gb", type=int, default=16,
                    help="size of each fresh file system (sparse)")
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="an extra slotboxd argument (repeat), e.g. --daemon-arg=--cgroup=none")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip bench/slotfloor, the bare slots measured before each build")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/scale.py: run as root")
    a.tmp = a.tmp or tempfile.mkdtemp(prefix="slotbox-scale-")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    out = []
    base = teardown_marks()
    builds = ([a.baseline] if a.baseline else []) + (a.build or ["build"])
    floor_exe = os.path.join(os.path.abspath(builds[-1].split(",")[0]), "slotfloor")
    if a.no_floor or not os.access(floor_exe, os.X_OK):
        log("no floor: " + ("--no-floor" if a.no_floor else f"{floor_exe} is not built"))
        floor_exe = None
    for i, b in enumerate(builds):
        if i:
            wait_kernel_teardown(base, log)
        fl = None
        if floor_exe:
            log(f"floor: {a.n} bare slots (bench/slotfloor)")
            fl = run_floor(floor_exe, a, log)
            out.append(show_floor(fl))
            log(out[-1])
            wait_kernel_teardown(base, log)
        log(f"{b}: leasing up to {a.n} slots ({a.per} per sandbox)")
        fs = None if a.same_fs else FreshFs(a.tmp, a.fs_gb)
        try:
            r = run_one(b, a if not fs else argparse.Namespace(**{**vars(a), "tmp": fs.dir}),
                        log)
        finally:
            if fs:
                fs.close()
        r["floor"] = fl
        out.append(show(r))
        log(out[-1])
    uname = os.uname()
    print(f"# bench/scale.py: {a.n} slots, {a.per} per sandbox, "
          + ("every build in the same directory" if a.same_fs else
             "each build's daemon on a fresh ext4 (loop device)")
          + f"; {uname.sysname} "
          f"{uname.release}, {os.cpu_count()} CPUs, "
          f"MemTotal {meminfo()['MemTotal'] / 2**20:.1f} GiB; shared machine: other tenants "
          f"move MemAvailable and slab")
    print("\n".join(out))


if __name__ == "__main__":
    main()
