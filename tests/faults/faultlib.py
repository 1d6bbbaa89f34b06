# SPDX-License-Identifier: Apache-2.0
"""What the fault suite shares: a daemon under test, a small HTTP helper and
the host-side view of what a daemon left on the machine.

Host inventory (all read from the host, never from the daemon):
  processes  /proc/*/cmdline naming the state dir, and their descendants;
             an init is a slotbox-init naming the state dir whose parent
             does not; its children are slot leaders; a leader's children
             still named slotbox-leader are spares, the others (and all
             their descendants) calls.
  mounts     /proc/self/mountinfo lines naming the state dir (the host
             sees none: a sandbox's mounts live in its own namespace), and
             in each init's /proc/PID/mountinfo the `slotbox-slot` tmpfs
             mounts of its slot generations (.../s<i>/g<n>).
  cgroups    the daemon's group in each hierarchy (its `event=cgroups`
             log line): one child per live sandbox.
  journal    <state>/journal: `sb-<id>` and `lease-<slot>` records; a
             record blanked to whitespace is an ended lease.
  sockets    <state>/ctl/<id>.sock, one per live sandbox.
  scratch    <state>/sandboxes/<id>, one per live sandbox.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from conftest import Daemon  # noqa: E402  (the e2e suite's daemon runner)
from sbhttp import UnixClient  # noqa: E402,F401


def call(client, method, path, body=None, raw=False):
    """One request -> (status, parsed JSON or raw bytes). OSError when the
    daemon is unreachable or the connection is cut."""
    status, data = client.request(method, path, body, raw=raw)
    if data and not raw:
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data
    return status, data


class Harness:
    """A daemon on its own temp dir that the nemesis may kill and restart."""

    def __init__(self, config_yaml, args=(), env=None, state_dir=None):
        self.tmp = tempfile.mkdtemp(prefix="sbf-", dir="/tmp")
        self.d = Daemon(self.tmp, config_yaml, env, args)
        if state_dir:
            self.d.state_dir = state_dir
        self.restarts = 0

    @property
    def state_dir(self):
        return self.d.state_dir

    @property
    def socket(self):
        return self.d.socket

    def start(self, timeout=20):
        self.d.start(wait=False)
        self.d.wait_ready(timeout)
        return self

    def alive(self):
        return self.d.proc is not None and self.d.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        self.d.log.close()

    def restart(self):
        """What a supervisor does: start it again on the same state dir."""
        if self.alive():
            return
        self.d.log.close()
        self.restarts += 1
        self.start()

    def client(self, timeout=60):
        return UnixClient(self.socket, timeout=timeout)

    def log(self):
        return self.d.read_log()

    def stop(self):
        rc = self.d.stop() if self.alive() else None
        return rc

    def cleanup(self):
        if self.alive():
            self.kill9()
        # a kill -9 leaves sandboxes running: end them by their init pids
        for pid, _ in inits(self.state_dir).items():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while inits(self.state_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        for g in cgroup_children(self.log()):
            subprocess.run(["find", g, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
                           stderr=subprocess.DEVNULL, check=False)
        if os.path.ismount(self.state_dir):  # an exhaustion test's tmpfs
            subprocess.run(["umount", "-l", self.state_dir], check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)


# ---- host inventory ----

def _procs():
    """pid -> (ppid, argv list) for every process."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        out[int(p)] = (ppid, [a.decode(errors="replace") for a in argv if a])
    return out


def _names(argv, state_dir):
    return any(state_dir in a for a in argv)


def process_tree(state_dir, daemon_pid=None):
    """{"inits": {pid: sandbox_id}, "leaders": {pid: init}, "spares":
    {pid: leader}, "calls": {pid: leader}, "other": {pid: argv}} for
    everything that belongs to the sandboxes of state_dir."""
    ps = _procs()
    naming = {p for p, (_, argv) in ps.items() if _names(argv, state_dir)}
    tree = {"inits": {}, "leaders": {}, "spares": {}, "calls": {}, "other": {}}
    for p in naming:
        ppid, argv = ps[p]
        if p == daemon_pid or (argv and argv[0].endswith("slotboxd")):
            continue
        if ppid not in naming or ps[ppid][1][0].endswith("slotboxd"):
            if "--id" in argv:
                tree["inits"][p] = argv[argv.index("--id") + 1]
                continue
    children = {}
    for p, (ppid, _) in ps.items():
        children.setdefault(ppid, []).append(p)
    for init in tree["inits"]:
        for p in children.get(init, []):
            tree["leaders"][p] = init
    for leader in tree["leaders"]:
        stack = list(children.get(leader, []))
        while stack:
            p = stack.pop()
            if ps[p][1][:1] == ["slotbox-leader"] and ps[p][0] == leader:
                tree["spares"][p] = leader
            else:
                tree["calls"][p] = leader
            stack += children.get(p, [])
    accounted = set(tree["inits"]) | set(tree["leaders"]) | set(tree["spares"]) | set(tree["calls"])
    for p in naming:
        argv = ps[p][1]
        if p not in accounted and not (argv and argv[0].endswith("slotboxd")) \
                and "python" not in (argv[0] if argv else ""):
            tree["other"][p] = argv
    return tree


def inits(state_dir):
    return process_tree(state_dir)["inits"]


def host_mounts(state_dir):
    """Mounts the host sees under the state dir, the state dir's own mount
    (an exhaustion test's tmpfs) left out."""
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f
                if state_dir in l.split()[4] and l.split()[4] != state_dir]


def slot_mounts(init_pid):
    """(slot index, generation) of each slotbox-slot mount in a sandbox."""
    out = []
    try:
        with open(f"/proc/{init_pid}/mountinfo") as f:
            for l in f:
                m = re.search(r"/s(\d+)/g(\d+) ", l)
                if m and " slotbox-slot " in l:
                    out.append((int(m.group(1)), int(m.group(2))))
    except OSError:
        pass
    return out


def cgroup_dirs(log):
    """The daemon's group in each hierarchy, from its latest start-up line."""
    found = re.findall(r"event=cgroups .*", log)
    if not found:
        return []
    return sorted(set(re.findall(r"=v[12]:(\S+)", found[-1])))


def cgroup_children(log):
    out = []
    for d in cgroup_dirs(log):
        if os.path.isdir(d):
            out += [os.path.join(d, e) for e in os.listdir(d)
                    if os.path.isdir(os.path.join(d, e))]
    return out


def journal(state_dir):
    """name -> record (None for a blanked one)."""
    out = {}
    jd = os.path.join(state_dir, "journal")
    for name in os.listdir(jd) if os.path.isdir(jd) else []:
        try:
            with open(os.path.join(jd, name)) as f:
                text = f.read().strip()
        except OSError:
            continue
        out[name] = json.loads(text) if text and text != "{}" else None
    return out


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def cgroup_owner(name):
    """The sandbox a group below the daemon's belongs to: its name, or for
    a slot's memory group beside the sandboxes' (cgroup v1 without a
    sandbox-wide cap, src/sandbox/cgroup.c flat_memory) the part before
    ".s<N>"."""
    m = re.fullmatch(r"(.+)\.s\d+", name)
    return m.group(1) if m else name


def inventory(h):
    """Everything the host holds for h's daemon."""
    tree = process_tree(h.state_dir, h.d.proc.pid if h.d.proc else None)
    cg, stock = {}, []
    for g in cgroup_children(h.log()):
        # the next slot's memory group, made ahead (cgroup v1 beside the
        # sandboxes', src/sandbox/cg_stock.c): no sandbox's, checked apart
        if re.fullmatch(r"stock\.\d+", os.path.basename(g)):
            stock.append(g)
            continue
        cg.setdefault(cgroup_owner(os.path.basename(g)), []).append(g)
    return {
        "tree": tree,
        "host_mounts": host_mounts(h.state_dir),
        "slot_mounts": {sid: slot_mounts(p) for p, sid in tree["inits"].items()},
        "cgroups": cg,
        "cg_stock": stock,
        "journal": journal(h.state_dir),
        "ctl": [n[:-5] for n in listdir(os.path.join(h.state_dir, "ctl"))
                if n.endswith(".sock")],
        # spares (.spare-<n>, kept for the next sandboxes) are no
        # sandbox's: nemesis checks them apart
        "scratch": [n for n in listdir(os.path.join(h.state_dir, "sandboxes"))
                    if not n.startswith(".spare-")],
        "spares": {sub: [n for n in listdir(os.path.join(h.state_dir, sub))
                         if n.startswith(".spare-")]
                   for sub in ("journal", "sandboxes")},
    }


def proc_stats(pid):
    """Daemon's RSS (KiB), open fds, threads."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads
