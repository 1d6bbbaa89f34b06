# SPDX-License-Identifier: Apache-2.0
"""Clients that load the daemon and remember what they wrote.

Each worker holds up to three leases. For each lease it keeps a manifest:
path -> the contents the file may have (a set of bytes values, None for
"absent"). A write the daemon answered makes the entry certain; one whose
answer was lost (the daemon died, the call was killed or cancelled) leaves
both the old and the new content possible until a read settles it.
"""
import base64
import json
import os
import random
import socket
import threading
import time

from faultlib import UnixClient, call

TRANSIENT = (OSError, ValueError)  # cut connections, half answers


class Lease:
    def __init__(self, slot_id, manifest, tag):
        self.slot_id = slot_id
        # names this lease writes: a workspace released without reset
        # reaches its next holder with the files of the last one
        self.tag = tag
        self.manifest = {k: set(v) for k, v in (manifest or {}).items()}

    def certain(self):
        return all(len(v) == 1 for v in self.manifest.values())


class Worker(threading.Thread):
    def __init__(self, k, socket_path, seed, stats):
        super().__init__(daemon=True)
        self.k = k
        self.sock = socket_path
        self.rng = random.Random(seed * 1000 + k)
        self.cl = UnixClient(socket_path, timeout=30)
        self.leases = {}
        self.pending_release = set()  # releases whose answer was lost
        self.uncertain_new = 0  # acquires/forks whose answer was lost
        self.snapshots = {}  # name -> manifest
        self.violations = []
        self.stats = stats
        self.running = threading.Event()
        self.idle = threading.Event()
        self.stop_flag = False
        self.n = 0

    # -- bookkeeping --
    def new_tag(self):
        return "w%d-%08x-" % (self.k, self.rng.getrandbits(32))

    def note(self, what):
        with self.stats["lock"]:
            self.stats[what] = self.stats.get(what, 0) + 1

    def violate(self, msg):
        self.violations.append(f"worker {self.k}: {msg}")

    def lost(self, lease, why):
        """The daemon answered sandbox_lost: the lease ends (released on
        a best-effort basis, as a trainer would)."""
        self.leases.pop(lease.slot_id, None)
        self.pending_release.add(lease.slot_id)
        self.note("sandbox_lost")

    def judge(self, lease, status, body, what):
        """Classify a non-success answer for a held lease."""
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if status == 502 and code == "sandbox_lost":
            self.lost(lease, what)
            return
        if status in (503, 507):
            self.note(f"http_{status}")
            return
        self.violate(f"{what} on {lease.slot_id}: {status} {body}")
        self.leases.pop(lease.slot_id, None)

    # -- operations --
    def op_acquire(self):
        body = {"timeout_s": 5, "trajectory_id": f"w{self.k}"}
        if self.snapshots and self.rng.random() < 0.3:
            name = self.rng.choice(sorted(self.snapshots))
            body["snapshot"] = name
            manifest = self.snapshots[name]
        else:
            manifest = {}
        try:
            st, b = call(self.cl, "POST", "/v1/slots", body)
        except TRANSIENT:
            self.uncertain_new += 1
            raise
        if st == 201:
            self.leases[b["slot_id"]] = Lease(b["slot_id"], manifest, self.new_tag())
            self.note("acquired")
        elif st in (503, 507, 404):
            # 404: a snapshot lost with a daemon killed while taking it
            self.note(f"acquire_{st}")
        elif st == 502 and b["error"]["code"] == "sandbox_lost":
            # from a snapshot: the sandbox of the slot being filled died
            # (nothing granted; a leaked lease would fail the host check)
            self.note("acquire_lost")
        else:
            self.violate(f"acquire: {st} {b}")

    def op_release(self, lease):
        reset = self.rng.random() < 0.5
        self.leases.pop(lease.slot_id)
        self.pending_release.add(lease.slot_id)
        st, b = call(self.cl, "DELETE", f"/v1/slots/{lease.slot_id}?reset={str(reset).lower()}")
        self.pending_release.discard(lease.slot_id)
        if st == 204:
            self.note("released")
        elif not (st == 502 or st == 404):
            # 404 after sandbox_lost: the lease is gone already
            self.violate(f"release {lease.slot_id}: {st} {b}")

    def op_write(self, lease):
        path = f"{lease.tag}f{self.rng.randrange(6)}"
        data = os.urandom(self.rng.randrange(1, 8192))
        old = lease.manifest.get(path, {None})
        lease.manifest[path] = set(old) | {data}
        st, b = call(self.cl, "PUT", f"/v1/slots/{lease.slot_id}/file?path={path}", data, raw=True)
        if st == 200:
            lease.manifest[path] = {data}
            self.note("writes")
        else:
            self.judge(lease, st, json.loads(b) if b else None, "write")

    def op_exec(self, lease):
        path = f"{lease.tag}e{self.rng.randrange(4)}"
        text = "%016x" % self.rng.getrandbits(64)
        data = (text + "\n").encode()
        old = lease.manifest.get(path, {None})
        # a call killed between the shell's truncation and its write
        # leaves the file empty
        lease.manifest[path] = set(old) | {data, b""}
        st, b = call(self.cl, "POST", f"/v1/slots/{lease.slot_id}/exec",
                     {"tool": "bash", "timeout_s": 20,
                      "args": {"command": f"echo {text} > {path} && cat {path}"}})
        if st != 200:
            self.judge(lease, st, b, "exec")
            return
        md = b["metadata"]
        if b["success"]:
            lease.manifest[path] = {data}
            if md["stdout"] != text + "\n":
                self.violate(f"exec output {md['stdout']!r} != {text!r}")
            self.note("execs")
        elif md.get("error_code") == "sandbox_lost":
            self.lost(lease, "exec")
        else:
            self.note("exec_killed")  # the nemesis killed the call

    def op_read(self, lease):
        if not lease.manifest:
            return
        path = self.rng.choice(sorted(lease.manifest))
        self.check_file(lease, path)

    def check_file(self, lease, path):
        st, b = call(self.cl, "GET", f"/v1/slots/{lease.slot_id}/file?path={path}&encoding=base64")
        allowed = lease.manifest[path]
        if st == 200:
            got = base64.b64decode(b["content"])
        elif st == 404 and isinstance(b, dict) and b["error"]["code"] != "sandbox_lost":
            got = None
        else:
            self.judge(lease, st, b, "read")
            return False
        if got not in allowed:
            self.violate(f"{lease.slot_id}:{path}: {len(got) if got else got} bytes, "
                         f"expected one of {[len(x) if x else x for x in allowed]}")
            return False
        lease.manifest[path] = {got}
        self.note("reads")
        return True

    def op_fork(self, lease):
        if not lease.certain() or len(self.leases) >= 4:
            return
        try:
            st, b = call(self.cl, "POST", f"/v1/slots/{lease.slot_id}/fork", {"count": 1})
        except TRANSIENT:
            self.uncertain_new += 1
            raise
        if st == 201:
            for s in b["slots"]:
                self.leases[s["slot_id"]] = Lease(s["slot_id"], lease.manifest, self.new_tag())
            self.note("forks")
        elif st not in (503, 507):
            self.judge(lease, st, b, "fork")

    def op_snapshot(self, lease):
        if not lease.certain() or len(self.snapshots) >= 3:
            return
        name = f"w{self.k}-{self.n}"
        st, b = call(self.cl, "POST", f"/v1/slots/{lease.slot_id}/snapshot", {"name": name})
        if st in (200, 201):
            self.snapshots[name] = {k: set(v) for k, v in lease.manifest.items()}
            self.note("snapshots")
        elif st not in (503, 507, 409):
            self.judge(lease, st, b, "snapshot")

    def op_renew(self, lease):
        st, b = call(self.cl, "POST", f"/v1/slots/{lease.slot_id}/renew", {"ttl_s": 0})
        if st == 200:
            self.note("renews")
        else:
            self.judge(lease, st, b, "renew")

    def op_cancel(self, lease):
        """A call cancelled by DELETE /v1/executions/{id} or by closing its
        connection; its file may or may not be written."""
        path = f"{lease.tag}c{self.rng.randrange(2)}"
        data = b"done\n"
        # empty too: the shell's > truncates before echo writes, and the
        # cancel may land in between
        lease.manifest[path] = set(lease.manifest.get(path, {None})) | {data, b""}
        ex = f"w{self.k}x{self.n}"
        body = json.dumps({"tool": "bash", "execution_id": ex, "timeout_s": 20,
                           "args": {"command": f"sleep 0.3; echo done > {path}"}}).encode()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        try:
            s.connect(self.sock)
            s.sendall((f"POST /v1/slots/{lease.slot_id}/exec HTTP/1.1\r\nHost: x\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                       ).encode() + body)
            time.sleep(self.rng.random() * 0.4)
            if self.rng.random() < 0.5:
                st, _ = call(self.cl, "DELETE", f"/v1/executions/{ex}")
                s.recv(65536)
                self.note("cancel_delete")
            else:
                self.note("cancel_close")
        finally:
            s.close()

    def step(self):
        self.n += 1
        r = self.rng.random()
        if not self.leases or (r < 0.15 and len(self.leases) < 3):
            return self.op_acquire()
        lease = self.leases[self.rng.choice(sorted(self.leases))]
        ops = [(0.08, self.op_release), (0.25, self.op_write), (0.25, self.op_exec),
               (0.2, self.op_read), (0.05, self.op_fork), (0.04, self.op_snapshot),
               (0.06, self.op_renew), (0.07, self.op_cancel)]
        x = self.rng.random() * sum(w for w, _ in ops)
        for w, fn in ops:
            x -= w
            if x <= 0:
                return fn(lease)
        return ops[-1][1](lease)

    def run(self):
        while not self.stop_flag:
            if not self.running.is_set():
                self.idle.set()
                self.running.wait(0.2)
                continue
            self.idle.clear()
            try:
                self.step()
            except TRANSIENT:
                self.cl.close()
                self.note("transient")
                time.sleep(0.1)
            except Exception as e:  # a bug in the worker: report, go on
                self.violate(f"worker error: {type(e).__name__}: {e}")
        self.idle.set()

    def pause(self, timeout=60):
        self.running.clear()
        self.idle.wait(timeout)
