#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""gpu_check.py - the checks of scripts/gpu-check (run that, not this).

Starts slotboxd (binaries from --bin) with GPU profiles, leases slots and
checks from inside them that the GPU passthrough works:
  a. nvidia-smi -L in a slot lists exactly the slot's GPUs
  b. a CUDA program runs in a slot (host image) and on the host: timings
  c. the same program in a dir: image assembled here (driver files bound)
  d. two slots with different GPUs cannot see each other's device
  e. the GPU memory of a killed call is freed
  f. /metrics (and slotbox top) show the GPU and the slot's memory
Each check prints PASS/FAIL/SKIP with its details and goes on after a
failure; a summary follows; the exit status is 1 if any check failed.
Standard library only (the lent machine has no package network).
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HOLD_MIB = 4096
HOLD_TIMEOUT_S = 25  # the hold call is killed at this timeout
SAXPY_N = 1 << 25
SAXPY_REPS = 100


def log(*a):
    print(*a, flush=True)


class Unix(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Api:
    def __init__(self, sock):
        self.sock = sock

    def req(self, method, path, body=None, raw=None, timeout=120):
        c = Unix(self.sock, timeout)
        try:
            headers = {}
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            out = r.read()
            return r.status, out
        finally:
            c.close()

    def json(self, method, path, body=None, want=(200, 201), timeout=120):
        st, out = self.req(method, path, body, timeout=timeout)
        if st not in want:
            raise RuntimeError("%s %s -> %d %s" % (method, path, st, out[:500].decode(errors="replace")))
        return json.loads(out) if out else None

    def acquire(self, profile):
        # a sandbox starts in about a second: a failing one should not
        # eat the device time (the daemon's log says why)
        return self.json("POST", "/v1/slots", {"profile": profile, "timeout_s": 30})

    def release(self, slot):
        try:
            self.req("DELETE", "/v1/slots/%s?reset=false" % slot["slot_id"])
        except Exception as e:  # best effort
            log("  (release %s: %s)" % (slot["slot_id"], e))

    def bash(self, slot, command, timeout_s=120, env=None):
        args = {"command": command}
        if env:
            args["env"] = env
        return self.json("POST", "/v1/slots/%s/exec" % slot["slot_id"],
                         {"tool": "bash", "args": args, "timeout_s": timeout_s},
                         timeout=timeout_s + 60)

    def upload(self, slot, path, data):
        st, out = self.req("PUT", "/v1/slots/%s/file?path=%s" % (slot["slot_id"], path), raw=data)
        if st != 200:
            raise RuntimeError("upload %s -> %d %s" % (path, st, out[:300]))


def sh(argv, timeout=120, env=None):
    """Run on the host: (rc, stdout+stderr). Never raises."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout.decode(errors="replace")
    except FileNotFoundError:
        return 127, "%s: not found" % argv[0]
    except subprocess.TimeoutExpired as e:
        return 124, "timed out after %ss: %s" % (timeout, (e.output or b"").decode(errors="replace"))


def kv(line):
    """key=value pairs of the probe's output line."""
    return dict((m.group(1), m.group(2).strip('"'))
                for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', line))


def out_of(res):
    md = res.get("metadata", {})
    return "rc=%s timed_out=%s class=%s\n%s" % (
        md.get("returncode"), md.get("timed_out"), md.get("error_class"),
        (res.get("output") or "").rstrip())


class Checks:
    def __init__(self):
        self.results = []  # (name, status, summary, details)

    def add(self, name, status, summary, details=""):
        self.results.append((name, status, summary, details))
        log("%s %s: %s" % (status, name, summary))
        if details:
            for line in details.rstrip().splitlines():
                log("    " + line)

    def run(self, name, fn, *a):
        log("\n=== %s" % name)
        try:
            fn(*a)
        except Exception as e:  # a broken check must not stop the others
            import traceback
            self.add(name, "FAIL", "error: %s" % e, traceback.format_exc())

    def failed(self):
        return [r for r in self.results if r[1] == "FAIL"]


def host_gpus():
    """[(minor, uuid, name)] from nvidia-smi -q (minor numbers name the
    /dev/nvidiaN the profiles use); falls back to -L order."""
    rc, out = sh(["nvidia-smi", "-q"], timeout=60)
    gpus, cur = [], {}
    if rc == 0:
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Product Name"):
                cur["name"] = line.split(":", 1)[1].strip()
            elif line.startswith("GPU UUID"):
                cur["uuid"] = line.split(":", 1)[1].strip()
            elif line.startswith("Minor Number"):
                v = line.split(":", 1)[1].strip()
                cur["minor"] = int(v) if v.isdigit() else None
                gpus.append(cur)
                cur = {}
    if not gpus or any(g.get("minor") is None or "uuid" not in g for g in gpus):
        rc, out = sh(["nvidia-smi", "-L"], timeout=60)
        gpus = []
        for i, line in enumerate(out.splitlines()):
            m = re.search(r"GPU (\d+): (.*) \(UUID: ([^)]+)\)", line)
            if m:
                gpus.append({"minor": int(m.group(1)), "name": m.group(2), "uuid": m.group(3)})
    return sorted(gpus, key=lambda g: g["minor"])


def uuids_in(text):
    return re.findall(r"UUID: (GPU-[0-9A-Za-z-]+)", text)


def gpu_mem_used():
    rc, out = sh(["nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits"])
    used = {}
    for line in out.splitlines():
        p = [x.strip() for x in line.split(",")]
        if len(p) == 2 and p[0].isdigit() and p[1].isdigit():
            used[int(p[0])] = int(p[1])
    return used


def compute_apps():
    rc, out = sh(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
    apps = []
    for line in out.splitlines():
        p = [x.strip() for x in line.split(",")]
        if len(p) == 2 and p[0].isdigit():
            apps.append((int(p[0]), int(p[1]) if p[1].isdigit() else -1))
    return apps


def find_nvcc():
    for c in (os.environ.get("NVCC"), "/usr/local/cuda/bin/nvcc", shutil.which("nvcc")):
        if c and os.access(c, os.X_OK):
            return c
    return None


def ldd_paths(path):
    rc, out = sh(["ldd", path])
    paths = []
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            paths.append(m.group(1))
    return paths


def driver_lib(name):
    rc, out = sh(["ldconfig", "-p"])
    for line in out.splitlines():
        if line.strip().startswith(name + " ") and "x86-64" in line:
            return line.split("=>")[-1].strip()
    return None


def make_image(root, probe):
    """A minimal rootfs: bash, the probe and their (and libcuda's) non-driver
    libraries at the host's paths. No driver file: those must come from the
    slot's bind of the driver tree."""
    files = {"/bin/bash", "/bin/sh"} | set(ldd_paths("/bin/bash")) | set(ldd_paths(probe))
    cuda = driver_lib("libcuda.so.1")
    if cuda:
        files |= set(ldd_paths(cuda))
    dirs = set()
    for f in sorted(files):
        base = os.path.basename(f)
        if base.startswith(("libcuda", "libnvidia")) or not os.path.exists(f):
            continue
        dst = root + f
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(f), dst)
        if base.endswith(".so") or ".so." in base:
            dirs.add(os.path.dirname(f))
    for d in ("tmp", "workspace", "usr/local/nvidia", "etc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(probe, os.path.join(root, "gpu_probe"))
    return sorted(dirs)


class Run:
    def __init__(self, args):
        self.args = args
        self.checks = Checks()
        self.tmp = tempfile.mkdtemp(prefix="sb-gpucheck-", dir="/tmp")
        self.sock = os.path.join(self.tmp, "slotbox.sock")
        self.state = os.path.join(self.tmp, "state")
        self.log_path = os.path.join(self.tmp, "slotboxd.log")
        self.proc = None
        self.facts = []
        self.probe = None
        self.host_saxpy = None
        self.img_libdirs = []
        self.uploaded = set()

    # ---- setup ----
    def fact(self, k, v):
        self.facts.append((k, v))
        log("%-22s %s" % (k + ":", v))

    def host_facts(self):
        rc, out = sh(["nvidia-smi", "-L"])
        self.host_list = out.strip()
        self.fact("nvidia-smi -L (host)", out.strip().replace("\n", "; "))
        rc, out = sh(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                      "--format=csv,noheader"])
        self.fact("GPU", out.strip().replace("\n", "; "))
        self.gpus = host_gpus()
        self.fact("GPUs (minor, uuid)", ", ".join("%s=%s" % (g["minor"], g["uuid"]) for g in self.gpus))
        try:
            with open("/proc/driver/nvidia/version") as f:
                self.fact("driver", f.readline().strip())
        except OSError as e:
            self.fact("driver", "/proc/driver/nvidia/version: %s" % e)
        self.fact("kernel", os.uname().release)
        rc, out = sh(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"])
        self.fact("OS", out.strip())
        self.fact("cgroup", "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1")
        self.fact("/usr/local/nvidia", "mount point" if os.path.ismount("/usr/local/nvidia")
                  else ("dir" if os.path.isdir("/usr/local/nvidia") else "absent"))
        self.fact("/dev/nvidia-caps", "present" if os.path.exists("/dev/nvidia-caps") else "absent")
        self.nvcc = find_nvcc()
        if self.nvcc:
            rc, out = sh([self.nvcc, "--version"])
            self.fact("nvcc", "%s (%s)" % (self.nvcc, out.strip().splitlines()[-1] if out.strip() else "?"))
        else:
            self.fact("nvcc", "not found: CUDA checks (b, c, e) are skipped")

    def build_probe(self):
        if not self.nvcc:
            return
        src = os.path.join(HERE, "gpu_probe.cu")
        out = os.path.join(self.tmp, "gpu_probe")
        t = time.monotonic()
        rc, text = sh([self.nvcc, "-O2", "-arch=native", "-o", out, src], timeout=240)
        if rc != 0:
            log("nvcc -arch=native failed (%d), retrying without: %s" % (rc, text[-500:]))
            rc, text = sh([self.nvcc, "-O2", "-o", out, src], timeout=240)
        if rc == 0:
            self.probe = out
            self.fact("probe build", "%.1f s" % (time.monotonic() - t))
        else:
            self.fact("probe build", "FAILED: " + text[-800:])

    def profiles(self):
        two = len(self.gpus) >= 2
        self.second = "1" if two else "none"
        img = os.path.join(self.tmp, "image")
        if self.probe:
            self.img_libdirs = make_image(img, self.probe)
        else:
            os.makedirs(img)
        cfg = """\
default_profile: gpu
profiles:
  default:
    min_sandboxes: 0
    max_sandboxes: 1
    slots_per_sandbox: 1
  gpu:
    gpu: all
    slots_per_sandbox: 2
    slot_gpus: ["0", "%s"]
    min_sandboxes: 1
    max_sandboxes: 1
    cpu: 4
    memory_mb: 16384
    execution_timeout_s: 120
  gpuimg:
    image: dir:%s
    gpu: all
    gpu_per_slot: 1
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    cpu: 4
    memory_mb: 16384
    execution_timeout_s: 120
  gpunoseccomp:
    gpu: all
    seccomp: none
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
    memory_mb: 16384
""" % (self.second, img)
        path = os.path.join(self.tmp, "profiles.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        log("profiles.yaml:\n" + cfg)
        return path

    def start_daemon(self, cfg):
        bindir = self.args.bin
        cmd = [os.path.join(bindir, "slotboxd"), "--socket", self.sock, "--state-dir",
               self.state, "--config", cfg]
        log("starting: " + " ".join(cmd))
        self.logf = open(self.log_path, "ab")
        env = dict(os.environ)
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        self.api = Api(self.sock)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slotboxd exited (%s):\n%s" % (self.proc.returncode, self.daemon_log()))
            try:
                st, _ = self.api.req("GET", "/v1/health", timeout=2)
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("slotboxd not ready in 60 s:\n" + self.daemon_log())
        for line in self.daemon_log().splitlines():
            if "gpu_driver" in line or "gpu_metrics" in line or "cgroups" in line:
                self.fact("daemon", line.strip())

    def daemon_log(self, tail=0):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    def stop_daemon(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # ---- helpers ----
    def slots(self):
        """The gpu profile's two slots, keyed by their first GPU or none."""
        a = self.api.acquire("gpu")
        b = self.api.acquire("gpu")
        log("slot %s gpus=%s; slot %s gpus=%s" % (a["slot_id"], a.get("gpus"), b["slot_id"], b.get("gpus")))
        if a.get("gpus") != ["0"]:
            a, b = b, a
        return a, b

    def put_probe(self, slot):
        """Upload the probe into the slot's workspace (once per slot)."""
        if slot["slot_id"] in self.uploaded:
            return
        with open(self.probe, "rb") as f:
            self.api.upload(slot, "gpu_probe", f.read())
        res = self.api.bash(slot, "chmod 755 gpu_probe && echo ok")
        if "ok" not in res.get("output", ""):
            raise RuntimeError("chmod in slot: " + out_of(res))
        self.uploaded.add(slot["slot_id"])

    # ---- checks ----
    def check_a(self):
        a, b = self.slot_a, self.slot_b
        details = []
        res = self.api.bash(a, "nvidia-smi -L; echo rc=$?")
        details.append("slot %s (gpus %s): nvidia-smi -L\n%s" % (a["slot_id"], a.get("gpus"), out_of(res)))
        res2 = self.api.bash(a, "echo PATH=$PATH; echo LD_LIBRARY_PATH=$LD_LIBRARY_PATH; "
                                "echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES "
                                "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; "
                                "ls -l /dev/nvidia* 2>&1; ls -la /dev/nvidia-caps 2>&1; "
                                "ls /usr/local/nvidia /usr/local/nvidia/bin 2>&1; "
                                "ls -l /usr/local/nvidia/lib64 2>&1 | head -40; "
                                "ls /usr/local/nvidia/lib64 | wc -l; "
                                "touch /usr/local/nvidia/lib64/x 2>&1; "
                                "grep nvidia /proc/self/mountinfo | head -5")
        details.append("slot %s environment and files:\n%s" % (a["slot_id"], out_of(res2)))
        want = [g["uuid"] for g in self.gpus if str(g["minor"]) in (a.get("gpus") or [])]
        got = uuids_in(res.get("output", ""))
        details.append("host: %s" % self.host_list)
        details.append("expected UUIDs %s, slot listed %s" % (want, got))
        ok = res["metadata"]["returncode"] == 0 and sorted(got) == sorted(want) and got
        if self.second != "none":
            resb = self.api.bash(b, "nvidia-smi -L; echo rc=$?")
            wantb = [g["uuid"] for g in self.gpus if str(g["minor"]) in (b.get("gpus") or [])]
            gotb = uuids_in(resb.get("output", ""))
            details.append("slot %s (gpus %s): %s; expected %s" % (b["slot_id"], b.get("gpus"), gotb, wantb))
            ok = ok and sorted(gotb) == sorted(wantb) and gotb
        self.checks.add("a. nvidia-smi -L in a slot lists its GPUs only", "PASS" if ok else "FAIL",
                        "slot lists %s, expected %s" % (got, want), "\n".join(details))

    def check_b(self):
        name = "b. CUDA program in a slot (host image) vs on the host"
        if not self.probe:
            self.checks.add(name, "SKIP", "no nvcc (or the probe did not build): see nvcc above")
            return
        argv = [self.probe, "saxpy", str(SAXPY_N), str(SAXPY_REPS)]
        sh([self.probe, "count"])  # warm the driver on the host
        t = time.monotonic()
        rc, out = sh(argv)
        host_wall = (time.monotonic() - t) * 1000
        host = kv(out.strip().splitlines()[-1] if out.strip() else "")
        self.put_probe(self.slot_a)
        self.api.bash(self.slot_a, "./gpu_probe count")  # same warm-up in the slot
        res = self.api.bash(self.slot_a, "./gpu_probe saxpy %d %d" % (SAXPY_N, SAXPY_REPS))
        slot_out = (res.get("output") or "").strip()
        slot = kv(slot_out.splitlines()[-1] if slot_out else "")
        slot_wall = res["metadata"].get("duration_ms", 0)
        details = "host: rc=%d wall=%.0f ms %s\nslot: %s wall=%.0f ms" % (
            rc, host_wall, out.strip(), out_of(res), slot_wall)
        ok = rc == 0 and host.get("ok") == "1" and slot.get("ok") == "1"
        if ok:
            hk, sk = float(host["kernel_ms"]), float(slot["kernel_ms"])
            self.ratio = (sk / hk if hk else 0, slot_wall / host_wall if host_wall else 0)
            summary = ("%s: kernel %.3f ms (slot) vs %.3f ms (host), ratio %.3f; "
                       "whole process %.0f ms vs %.0f ms, ratio %.2f; %s GB/s in the slot"
                       % (slot.get("device"), sk, hk, self.ratio[0], slot_wall, host_wall,
                          self.ratio[1], slot.get("gbps")))
        else:
            summary = "did not run cleanly (host ok=%s, slot ok=%s)" % (host.get("ok"), slot.get("ok"))
            # Tell a seccomp refusal from a missing file: the same in a slot without a filter.
            try:
                n = self.api.acquire("gpunoseccomp")
                self.put_probe(n)
                r2 = self.api.bash(n, "./gpu_probe saxpy %d 10" % SAXPY_N)
                details += "\nsame with seccomp: none: " + out_of(r2)
                self.api.release(n)
            except Exception as e:
                details += "\n(seccomp-none retry failed: %s)" % e
        self.checks.add(name, "PASS" if ok else "FAIL", summary, details)

    def check_c(self):
        name = "c. CUDA program in a dir: image (driver files bound in)"
        if not self.probe:
            self.checks.add(name, "SKIP", "no nvcc")
            return
        s = self.api.acquire("gpuimg")
        try:
            ld = ":".join(["/usr/local/nvidia/lib64"] + self.img_libdirs)
            res = self.api.bash(s, "echo /usr/local/nvidia/lib64/libcuda*; echo /usr/local/nvidia/bin/*; "
                                   "/gpu_probe saxpy %d %d" % (SAXPY_N, SAXPY_REPS),
                                env={"LD_LIBRARY_PATH": ld})
            out = (res.get("output") or "").strip()
            last = kv(out.splitlines()[-1] if out else "")
            ok = res["metadata"]["returncode"] == 0 and last.get("ok") == "1"
            self.checks.add(name, "PASS" if ok else "FAIL",
                            "kernel %s ms on %s in a rootfs without any driver file of its own"
                            % (last.get("kernel_ms"), last.get("device")) if ok else "failed",
                            "slot %s gpus=%s image libs %s\n%s" % (s["slot_id"], s.get("gpus"), ld, out_of(res)))
        finally:
            self.api.release(s)

    def check_d(self):
        a, b = self.slot_a, self.slot_b
        name = "d. slots with different GPUs cannot see each other's device"
        details = []
        ok = True
        other = "/dev/nvidia%s" % (b.get("gpus") or ["1"])[0] if self.second != "none" else None
        probe = self.probe is not None
        if probe:
            self.put_probe(a)
            self.put_probe(b)
        # B: the slot without GPU 0
        # nvidia-modprobe (setuid root where installed) makes missing nodes:
        # no_new_privs in slots must keep it from making one here.
        cmd = ("ls -l /dev/nvidia* 2>&1; if command -v nvidia-modprobe >/dev/null; then "
               "nvidia-modprobe -c 0 2>&1; echo modprobe_rc=$?; fi; "
               "test -e /dev/nvidia0 && echo HAS_NVIDIA0 || echo NO_NVIDIA0; "
               "nvidia-smi -L 2>&1; echo smi_rc=$?; ")
        if probe:
            cmd += "env -u CUDA_VISIBLE_DEVICES ./gpu_probe count"
        res = self.api.bash(b, cmd)
        outb = res.get("output", "")
        details.append("slot %s (gpus %s):\n%s" % (b["slot_id"], b.get("gpus"), out_of(res)))
        if self.second == "none":
            ok = ok and "NO_NVIDIA0" in outb and not uuids_in(outb)
            if probe:
                ok = ok and "devices=0" in outb
        else:
            ok = ok and "NO_NVIDIA0" in outb and self.gpus[0]["uuid"] not in outb
            if probe:
                ok = ok and "devices=1" in outb
        # A: has its GPU, not B's
        cmd = "ls -l /dev/nvidia* 2>&1; "
        if other:
            cmd += "test -e %s && echo HAS_OTHER || echo NO_OTHER; cat %s 2>&1 | head -1; " % (other, other)
        if probe:
            cmd += "env -u CUDA_VISIBLE_DEVICES ./gpu_probe count"
        res = self.api.bash(a, cmd)
        outa = res.get("output", "")
        details.append("slot %s (gpus %s):\n%s" % (a["slot_id"], a.get("gpus"), out_of(res)))
        if other:
            ok = ok and "NO_OTHER" in outa
        if probe:
            ok = ok and "devices=1" in outa
        summary = ("GPU-0 slot sees 1 device; the 'none' slot has no /dev/nvidia0 and finds no GPU"
                   if self.second == "none" else "each slot sees only its own /dev/nvidiaN")
        self.checks.add(name, "PASS" if ok else "FAIL", summary if ok else "isolation not as expected",
                        "\n".join(details))

    def check_e_f(self):
        name_e = "e. GPU memory of a killed call is freed"
        name_f = "f. /metrics and slotbox top show the GPU and the slot's memory"
        if not self.probe:
            self.checks.add(name_e, "SKIP", "no nvcc")
            self.checks.add(name_f, "SKIP", "no nvcc (nothing to hold GPU memory)")
            return
        a = self.slot_a
        self.put_probe(a)
        minor = int(a["gpus"][0])
        index = next((i for i, g in enumerate(self.gpus) if g["minor"] == minor), 0)
        base = gpu_mem_used().get(index, 0)
        apps0 = set(p for p, _ in compute_apps())
        result = {}

        def hold():
            try:
                result["res"] = self.api.bash(a, "./gpu_probe hold %d 600" % HOLD_MIB,
                                            timeout_s=HOLD_TIMEOUT_S)
            except Exception as e:
                result["err"] = e

        t = threading.Thread(target=hold)
        t0 = time.monotonic()
        t.start()
        peak, held_apps, metrics_seen, metrics_text, top_text = 0, [], None, "", ""
        deadline = time.monotonic() + HOLD_TIMEOUT_S - 3
        while time.monotonic() < deadline and t.is_alive():
            used = gpu_mem_used().get(index, 0)
            peak = max(peak, used)
            apps = [x for x in compute_apps() if x[0] not in apps0]
            if apps:
                held_apps = apps
            # once the memory is held (or, to show what there is, after 10 s)
            if metrics_seen is None and (used - base >= HOLD_MIB * 0.9 or
                                         time.monotonic() - t0 > 10):
                # NVML is sampled every 2 s: up to three tries for the slot's row
                for _ in range(3):
                    time.sleep(2.2)
                    st, body = self.api.req("GET", "/metrics")
                    metrics_text = body.decode(errors="replace")
                    metrics_seen = [l for l in metrics_text.splitlines()
                                    if l.startswith(("slotbox_gpu_", "slotbox_slot_gpu_"))]
                    if any(l.startswith("slotbox_slot_gpu_memory") for l in metrics_seen):
                        break
                rc, top_text = sh([os.path.join(self.args.bin, "slotbox"), "--socket", self.sock,
                                   "top", "--once"])
            time.sleep(0.5)
        t.join(timeout=60)
        t_end = time.monotonic()
        freed_after = None
        last = None
        while time.monotonic() - t_end < 15:
            last = gpu_mem_used().get(index, 0)
            left = [x for x in compute_apps() if x[0] not in apps0]
            if last - base < 256 and not left:
                freed_after = time.monotonic() - t_end
                break
            time.sleep(0.25)
        res = result.get("res")
        details = ("baseline %d MiB, peak %d MiB while held, new compute apps %s\n"
                   "call: %s\nafter the call ended (%.1f s after start): %s MiB used, freed after %s s"
                   % (base, peak, held_apps, out_of(res) if res else result.get("err"),
                      t_end - t0, last, "%.2f" % freed_after if freed_after is not None else "NOT FREED in 15"))
        held = peak - base >= HOLD_MIB * 0.9
        timed_out = bool(res and res["metadata"].get("timed_out"))
        ok_e = held and timed_out and freed_after is not None
        self.checks.add(name_e, "PASS" if ok_e else "FAIL",
                        ("%d MiB held, call killed at its %d s timeout, freed %.2f s later"
                         % (peak - base, HOLD_TIMEOUT_S, freed_after)) if ok_e else
                        "held=%s timed_out=%s freed=%s" % (held, timed_out, freed_after is not None), details)
        # f
        slot_base = a["slot_id"].split(".")[0]
        slot_rows = [l for l in (metrics_seen or []) if slot_base in l]
        dev_rows = [l for l in (metrics_seen or []) if l.startswith("slotbox_gpu_")]
        mem_rows = [l for l in slot_rows if "memory" in l]
        mem_ok = False
        for l in mem_rows:
            try:
                mem_ok = mem_ok or float(l.split()[-1]) >= HOLD_MIB * 0.9 * (1 << 20)
            except ValueError:
                pass
        ok_f = bool(dev_rows) and mem_ok
        self.checks.add(name_f, "PASS" if ok_f else "FAIL",
                        "%d device rows, slot rows %s" % (len(dev_rows), slot_rows) if ok_f else
                        "device rows %d, slot memory row >= %d MiB: %s" % (len(dev_rows), HOLD_MIB * 0.9, mem_ok),
                        "GPU lines of /metrics:\n%s\n\nslotbox top --once:\n%s"
                        % ("\n".join(metrics_seen or ["(none: metrics not fetched)"]), top_text))

    # ---- report ----
    def report(self, elapsed):
        res = self.checks.results
        failed = self.checks.failed()
        lines = ["# slotbox gpu-check", "",
                 "Run %s UTC, %.0f s." % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), elapsed), "",
                 "## Host", ""]
        lines += ["- **%s**: %s" % (k, v) for k, v in self.facts]
        lines += ["", "## Summary", "", "| check | result | summary |", "|---|---|---|"]
        for n, st, summ, _ in res:
            lines.append("| %s | %s | %s |" % (n, st, summ.replace("|", "/")))
        lines += ["", "%d checks: %d passed, %d failed, %d skipped." % (
            len(res), sum(r[1] == "PASS" for r in res), len(failed), sum(r[1] == "SKIP" for r in res)), ""]
        lines += ["## Details", ""]
        for n, st, summ, det in res:
            lines += ["### %s: %s" % (n, st), "", summ, "", "```", det.rstrip(), "```", ""]
        lines += ["## slotboxd log (last 60 lines)", "", "```", self.daemon_log(60), "```", ""]
        text = "\n".join(lines)
        log("\n" + "=" * 70 + "\nSUMMARY")
        for n, st, summ, _ in res:
            log("%-4s %s: %s" % (st, n, summ))
        log("%d checks: %d passed, %d failed, %d skipped (%.0f s)" % (
            len(res), sum(r[1] == "PASS" for r in res), len(failed), sum(r[1] == "SKIP" for r in res),
            elapsed))
        if failed:
            log("\nslotboxd log (last 60 lines):\n" + self.daemon_log(60))
        if self.args.report:
            with open(self.args.report, "w") as f:
                f.write(text)
            log("report: " + self.args.report)

    def main(self):
        t0 = time.monotonic()
        try:
            self.host_facts()
            self.build_probe()
            cfg = self.profiles()
            try:
                self.start_daemon(cfg)
            except Exception as e:
                self.checks.add("daemon start", "FAIL", str(e).splitlines()[0], str(e))
                return
            try:
                self.slot_a, self.slot_b = self.slots()
            except Exception as e:
                self.checks.add("acquire GPU slots", "FAIL", str(e), self.daemon_log(40))
                return
            self.checks.run("a. nvidia-smi -L in a slot lists its GPUs only", self.check_a)
            self.checks.run("b. CUDA program in a slot (host image) vs on the host", self.check_b)
            self.checks.run("c. CUDA program in a dir: image (driver files bound in)", self.check_c)
            self.checks.run("d. slots with different GPUs cannot see each other's device", self.check_d)
            self.checks.run("e/f. memory of a killed call freed; metrics", self.check_e_f)
        finally:
            self.stop_daemon()
            self.report(time.monotonic() - t0)
            if not self.args.keep:
                subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)
            else:
                log("kept " + self.tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="directory with slotboxd, slotbox-init, slotbox")
    ap.add_argument("--report", help="write a Markdown report here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    r = Run(args)
    r.main()
    sys.exit(1 if r.checks.failed() or not r.checks.results else 0)


if __name__ == "__main__":
    main()
