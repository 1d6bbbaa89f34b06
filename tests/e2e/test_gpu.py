# SPDX-License-Identifier: Apache-2.0
"""GPU profiles (docs/gpu.md).

On any host: the per-slot GPU keys are checked at start; in a private mount
namespace with fake NVIDIA device nodes, a private ld.so.cache listing
stand-in driver libraries (tests/c/fakedrv) and a read-only
/usr/local/nvidia mount of its own, each slot gets the device nodes of its
own GPUs only and the driver's files read-only under /usr/local/nvidia,
for the host image and a dir: image alike; a fake NVML
(SLOTBOX_NVML_LIBRARY) proves that GPU rows reach /metrics, GET /v1/status
and `slotbox top`, attributed to the right slot, and that without NVML
there are none. On a host with a GPU, nvidia-smi runs in slots with
different GPUs (scripts/gpu-check runs the full device check)."""
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BUILD, SLOTBOXD, api

FAKEDRV = os.path.join(BUILD, "tests", "c", "fakedrv")
SLOTBOX = os.path.join(BUILD, "slotbox")
HAVE_GPU = os.path.exists("/dev/nvidiactl")


def start_fails(tmp_path, yaml):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml)
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0, p.stderr
    return p.stderr


@pytest.mark.parametrize("yaml,why", [
    ("slot_gpus: ['0']", "slot_gpus needs gpu: all or a list"),
    ("gpu: H100\n    gpu_per_slot: 1", "gpu_per_slot needs gpu: all or a list"),
    ("gpu: all\n    slot_gpus: ['0,x']", "item #1 \"0,x\" is not none, all or a list"),
    ("gpu: all\n    slot_gpus: ['0,0']", "item #1 \"0,0\""),
    ("gpu: all\n    gpu_per_slot: -1", "gpu_per_slot"),
    ("gpu: all\n    gpu_per_slot: 65", "gpu_per_slot"),
    ("gpu: all\n    gpu_per_slot: 1\n    slot_gpus: ['0']", "exclude each other"),
    ("gpu: '0,1'\n    gpu_per_slot: 3", "gpu_per_slot 3 is more than the 2 GPU(s)"),
    ("gpu: '0,1'\n    slot_gpus: ['1', '2']", "slot_gpus item #2 names GPU 2, which is not in gpu"),
])
def test_gpu_keys_refused_with_clear_errors(tmp_path, yaml, why):
    err = start_fails(tmp_path, "profiles:\n  g:\n    " + yaml + "\n")
    assert why in err, err
    assert "/dev/nvidiactl" not in err  # a config error, before the host check


def test_gpu_per_slot_profile_without_gpu_refuses_to_start(tmp_path):
    if HAVE_GPU:
        pytest.skip("this host has a GPU")
    err = start_fails(tmp_path, "profiles:\n  g:\n    gpu: all\n    slot_gpus: ['0', none]\n")
    assert 'profile "g"' in err and "/dev/nvidiactl is missing" in err, err


# ---- fake driver in a private mount namespace ----

SETUP = r"""
set -e
T=$1; shift
mount -t tmpfs tmpfs "$T/ovl"
mkdir "$T/ovl/u" "$T/ovl/w"
# /dev with fake NVIDIA nodes (an overlay: the host's /dev is untouched)
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$T/ovl/u,workdir=$T/ovl/w" /dev
mknod -m 666 /dev/nvidiactl c 195 255
for n in ${FAKE_GPUS:-0 1}; do mknod -m 666 /dev/nvidia$n c 195 $n; done
mknod -m 666 /dev/nvidia-uvm c 238 0
mkdir /dev/nvidia-caps
mknod -m 400 /dev/nvidia-caps/nvidia-cap1 c 239 1
# a loader cache that lists the stand-in libcuda and libnvidia-ml
if [ -d /var/cache/ldconfig ]; then mount -t tmpfs tmpfs /var/cache/ldconfig; fi
ldconfig -X -C "$T/ld.so.cache" -f "$T/ld.so.conf"
mount --bind "$T/ld.so.cache" /etc/ld.so.cache
# the driver tree as a read-only mount of its own (as on NVIDIA's hosts)
mount -t tmpfs tmpfs /usr/local
mkdir -p /usr/local/nvidia
mount -t tmpfs tmpfs /usr/local/nvidia
mkdir /usr/local/nvidia/bin /usr/local/nvidia/glibc
cp "${FAKE_SMI:-/bin/true}" /usr/local/nvidia/bin/nvidia-smi
echo driver-glibc > /usr/local/nvidia/glibc/marker
mount -o remount,ro /usr/local/nvidia
exec "$@"
"""


def minimal_rootfs(root):
    """bash and its libraries only: no driver file of its own."""
    for f in ["/bin/bash"] + [p for p in subprocess.run(
            ["ldd", "/bin/bash"], capture_output=True, text=True).stdout.split()
            if p.startswith("/")]:
        dst = os.path.join(root, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(f), dst)
    for d in ("tmp", "workspace"):
        os.makedirs(os.path.join(root, d), exist_ok=True)


@pytest.fixture
def fake_gpu_daemon(make_daemon, tmp_path):
    if HAVE_GPU:
        pytest.skip("this host has a real GPU: the fake one would hide it")
    for tool in ("unshare", "ldconfig", "mknod"):
        if not shutil.which(tool):
            pytest.skip(tool + " is missing")
    libs = tmp_path / "drv"
    libs.mkdir()
    for name in os.listdir(FAKEDRV):
        if ".so" in name and not name.endswith(".p"):
            src = os.path.join(FAKEDRV, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), libs / name)
            else:
                shutil.copy2(src, libs / name)
    (tmp_path / "ld.so.conf").write_text(str(libs) + "\n")
    (tmp_path / "ovl").mkdir()
    img = tmp_path / "img"
    minimal_rootfs(str(img))
    cfg = f"""
profiles:
  default:
    gpu: all
    slots_per_sandbox: 3
    slot_gpus: ["0", "1", none]
    min_sandboxes: 1
    max_sandboxes: 1
  img:
    image: dir:{img}
    gpu: "1"
    gpu_per_slot: 1
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
"""
    d = make_daemon(cfg, start=False)
    d.prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", SETUP, "sh",
                str(tmp_path)]
    d.start()
    return d, libs


def run(c, slot, command):
    r = api(c, "POST", f"/v1/slots/{slot}/exec", {"tool": "bash", "args": {"command": command}}, 200)
    return r["metadata"]["stdout"], r


def test_gpu_slots_get_their_own_nodes_and_the_driver_files(fake_gpu_daemon):
    d, libs = fake_gpu_daemon
    c = d.client()
    log = d.read_log()
    assert re.search(r"gpu_driver.*libs=4 bins=1 dirs=1 cuda=found", log), log
    slots = [api(c, "POST", "/v1/slots", {}, 201) for _ in range(3)]
    by = {tuple(s["gpus"]): s["slot_id"] for s in slots}
    assert set(by) == {("0",), ("1",), ()}, slots
    show = ("ls /dev | grep nvidia | tr '\\n' ' '; echo; "
            "echo $NVIDIA_VISIBLE_DEVICES/$CUDA_VISIBLE_DEVICES/$LD_LIBRARY_PATH; "
            "echo $PATH")
    out, _ = run(c, by[("0",)], show)
    lines = out.splitlines()
    assert lines[0].split() == ["nvidia-caps", "nvidia-uvm", "nvidia0", "nvidiactl"], out
    assert lines[1] == "0/0//usr/local/nvidia/lib64", out
    assert lines[2].startswith("/usr/local/nvidia/bin:"), out
    out, _ = run(c, by[("1",)], show)
    assert out.splitlines()[0].split() == ["nvidia-caps", "nvidia-uvm", "nvidia1", "nvidiactl"]
    assert out.splitlines()[1] == "1/0//usr/local/nvidia/lib64", out
    out, _ = run(c, by[()], show + "; test -e /dev/nvidia0 || echo no-gpu-node")
    assert out.splitlines()[0].split() == ["nvidia-caps", "nvidia-uvm", "nvidiactl"], out
    assert out.splitlines()[1] == "none//" + "/usr/local/nvidia/lib64", out
    assert "no-gpu-node" in out
    # the driver's files: real files bound read-only, soname links kept
    out, r = run(c, by[("0",)],
                 "cd /usr/local/nvidia; ls lib64 | tr '\\n' ' '; echo; "
                 "readlink lib64/libcuda.so.1; readlink lib64/libnvidia-ml.so.1; "
                 "cmp lib64/libcuda.so.999.1 /usr/local/nvidia/lib64/libcuda.so.1 && echo same; "
                 "cat glibc/marker; nvidia-smi && echo smi-ran; "
                 "touch lib64/new 2>/dev/null || echo ro-dir; "
                 "(echo x >> lib64/libcuda.so.999.1) 2>/dev/null || echo ro-file; "
                 "ls -A /dev/nvidia-caps; (echo x > /dev/nvidia-caps/y) 2>/dev/null || echo ro-caps")
    assert out.splitlines()[0].split() == [
        "libcuda.so", "libcuda.so.1", "libcuda.so.999.1", "libnvidia-ml.so",
        "libnvidia-ml.so.1", "libnvidia-ml.so.999.1"], out
    assert out.splitlines()[1:] == ["libcuda.so.999.1", "libnvidia-ml.so.999.1", "same",
                                    "driver-glibc", "smi-ran", "ro-dir", "ro-file",
                                    "nvidia-cap1", "ro-caps"], out
    with open(libs / "libcuda.so.999.1", "rb") as f:
        host = f.read()
    got = api(c, "GET", f"/v1/slots/{by[('0',)]}/file?path=/usr/local/nvidia/lib64/libcuda.so.1"
              "&encoding=base64", None, 200)
    import base64
    assert base64.b64decode(got["content"]) == host


def test_gpu_driver_files_in_a_dir_image(fake_gpu_daemon):
    d, _ = fake_gpu_daemon
    c = d.client()
    s = api(c, "POST", "/v1/slots", {"profile": "img"}, 201)
    assert s["gpus"] == ["1"]
    out, r = run(c, s["slot_id"], "echo /usr/local/nvidia/lib64/*; echo /dev/nvidia*; "
                                  "test -e /etc/debian_version || echo image-root")
    assert out.splitlines() == [
        " ".join("/usr/local/nvidia/lib64/" + n for n in (
            "libcuda.so", "libcuda.so.1", "libcuda.so.999.1", "libnvidia-ml.so",
            "libnvidia-ml.so.1", "libnvidia-ml.so.999.1")),
        "/dev/nvidia-caps /dev/nvidia-uvm /dev/nvidia1 /dev/nvidiactl", "image-root"], r


# ---- metrics through a fake NVML ----

def find_pid(marker, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[0] == marker.encode():
                        return int(p)
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("no process " + marker)


def test_gpu_metrics_from_nvml_attributed_to_the_slot(make_daemon, tmp_path):
    pids = tmp_path / "pids"
    pids.write_text("")
    d = make_daemon("profiles:\n  default:\n    slots_per_sandbox: 2\n    max_sandboxes: 1\n",
                    env={"SLOTBOX_NVML_LIBRARY": os.path.join(FAKEDRV, "libnvidia-ml.so.1"),
                         "FAKE_NVML_PIDS": str(pids), "SLOTBOX_GPU_SAMPLE_S": "0.2"})
    c = d.client()
    busy = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    idle = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    tag = "gpuhold%d" % os.getpid()
    cmd = f"(exec -a {tag}a sleep 30) & exec -a {tag}b sleep 30"
    c2 = d.client()  # a connection of its own for the call that blocks
    t = threading.Thread(target=lambda: api(c2, "POST", f"/v1/slots/{busy}/exec",
                                            {"tool": "bash", "args": {"command": cmd},
                                             "timeout_s": 8}))
    t.start()
    try:
        a, b = find_pid(tag + "a"), find_pid(tag + "b")
        # two processes of the slot, and one that is in no slot (this test)
        pids.write_text(f"{a}\n{b}\n{os.getpid()}\n")
        base = busy.split(".")[0]
        want_mem = f'slotbox_slot_gpu_memory_bytes{{profile="default",slot="{base}",gpu="0"}} 246913578'
        want_util = f'slotbox_slot_gpu_utilization_percent{{profile="default",slot="{base}",gpu="0"}} 84'
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            code, body = c.request("GET", "/metrics")
            text = body.decode()
            if want_mem in text and want_util in text:
                break
            time.sleep(0.1)
        assert want_mem in text and want_util in text, text[-1500:]
        assert ('slotbox_gpu_utilization_percent{gpu="0",name="Fake GPU 9000",'
                'uuid="GPU-fake-0000"} 37') in text
        assert 'slotbox_gpu_memory_used_bytes{gpu="0"} 3221225472' in text
        assert 'slotbox_gpu_memory_total_bytes{gpu="0"} 17179869184' in text
        assert idle.split(".")[0] not in text  # nothing for the idle slot
        rows = [l for l in text.splitlines() if l.startswith("slotbox_slot_gpu_memory_bytes")]
        assert len(rows) == 1, rows  # the test's own pid is in no slot
        st = api(c, "GET", "/v1/status", None, 200)
        assert st["gpus"]["devices"][0]["name"] == "Fake GPU 9000"
        assert st["gpus"]["slots"] == [{"slot": base, "profile": "default", "gpu": 0,
                                        "memory_bytes": 246913578, "utilization_percent": 84}]
        top = subprocess.run([SLOTBOX, "--socket", d.socket, "top", "--once"],
                             capture_output=True, text=True, timeout=10)
        assert top.returncode == 0, top.stderr
        assert re.search(r"^0\s+Fake GPU 9000\s+37\s+3072\s+16384\s*$", top.stdout, re.M), top.stdout
        assert re.search(r"^%s\s+default\s+0\s+84\s+235\s*$" % re.escape(base), top.stdout,
                         re.M), top.stdout
    finally:
        t.join()
    assert "gpu_metrics" in d.read_log() and "state=on" in d.read_log()


def test_gpu_metrics_without_nvml(make_daemon):
    d = make_daemon("profiles:\n  default:\n    min_sandboxes: 0\n",
                    env={"SLOTBOX_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"})
    c = d.client()
    code, body = c.request("GET", "/metrics")
    assert code == 200 and b"slotbox_gpu" not in body and b"slot_gpu" not in body
    assert "gpus" not in api(c, "GET", "/v1/status", None, 200)
    top = subprocess.run([SLOTBOX, "--socket", d.socket, "top", "--once"],
                         capture_output=True, text=True, timeout=10)
    assert top.returncode == 0 and "GPU" not in top.stdout, top.stdout
    lines = [l for l in d.read_log().splitlines() if "gpu_metrics" in l]
    assert len(lines) == 1 and "state=off" in lines[0] and "level=info" in lines[0], lines


# ---- a real GPU ----

@pytest.mark.skipif(not HAVE_GPU, reason="no NVIDIA GPU (/dev/nvidiactl not found); "
                    "scripts/gpu-check runs the full check on a GPU host")
def test_gpu_real_nvidia_smi_per_slot(make_daemon):
    d = make_daemon("profiles:\n  default:\n    gpu: all\n    slots_per_sandbox: 2\n"
                    "    slot_gpus: ['0', none]\n    max_sandboxes: 1\n")
    c = d.client()
    slots = [api(c, "POST", "/v1/slots", {}, 201) for _ in range(2)]
    by = {tuple(s["gpus"]): s["slot_id"] for s in slots}
    out, r = run(c, by[("0",)], "nvidia-smi -L")
    assert r["success"] and "GPU 0" in out, r
    _, r = run(c, by[()], "test -e /dev/nvidia0 || nvidia-smi -L")
    assert "UUID" not in r["output"], r


# ---- scripts/gpu-check and scripts/gpu-kit without a GPU ----

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gpu_check(*args, env=None):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu-check")] + list(args),
                          capture_output=True, text=True, timeout=120, env=env)


def test_gpu_check_arguments_and_clear_failure_without_gpu(tmp_path):
    p = gpu_check("--help")
    assert p.returncode == 0 and "--kit DIR" in p.stdout, p
    p = gpu_check("--bogus")
    assert p.returncode == 2 and "unknown argument: --bogus" in p.stderr, p
    p = gpu_check("--kit")
    assert p.returncode != 0 and "--kit needs a directory" in p.stderr, p
    if HAVE_GPU:
        pytest.skip("this host has a GPU")
    report = tmp_path / "r.md"
    p = gpu_check("--kit", str(tmp_path / "nokit"), "--report", str(report))
    # before anything else: no build, no daemon, the reason on stderr and in the report
    assert p.returncode == 2, p
    assert p.stderr.strip() == "gpu-check: no NVIDIA GPU: /dev/nvidiactl not found", p.stderr
    assert p.stdout == ""
    assert "NOT RUN: no NVIDIA GPU: /dev/nvidiactl not found" in report.read_text()


def test_gpu_kit_is_self_contained(tmp_path):
    if not shutil.which("patchelf"):
        pytest.skip("patchelf is missing (scripts/deps installs it)")
    kit = tmp_path / "kit"
    p = subprocess.run([os.path.join(ROOT, "scripts", "gpu-kit"), str(kit), BUILD],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(os.listdir(kit / "bin")) == ["slotbox", "slotbox-image", "slotbox-init",
                                               "slotboxd"]
    libs = os.listdir(kit / "lib")
    assert "libuv.so.1" in libs and "libjansson.so.4" in libs and "libslotbox.so.0" in libs
    assert not [l for l in libs if l.startswith(("libc.so", "libm.so", "libstdc++", "ld-linux"))]
    for b in os.listdir(kit / "bin"):
        d = subprocess.run(["readelf", "-d", str(kit / "bin" / b)], capture_output=True,
                           text=True).stdout
        heads = subprocess.run(["readelf", "-l", str(kit / "bin" / b)], capture_output=True,
                               text=True).stdout
        if "INTERP" not in heads:
            # static (slotbox-init, meson.build: init_static): needs no
            # library, and still runs as copied
            assert "(NEEDED)" not in d, (b, d)
            v = subprocess.run([str(kit / "bin" / b), "--version"], capture_output=True,
                               text=True, env={})
            assert v.returncode == 0, (b, v)
            continue
        assert "[$ORIGIN/../lib]" in d, (b, d)
        # every library it needs beyond glibc's resolves inside the kit
        for line in subprocess.run(["ldd", str(kit / "bin" / b)], capture_output=True,
                                   text=True).stdout.splitlines():
            if "=>" in line and not re.search(r"lib(c|m|stdc\+\+|gcc_s)\.so", line):
                assert str(kit / "lib") in line or "../lib" in line, (b, line)
    p = subprocess.run([str(kit / "bin" / "slotboxd"), "--version"], capture_output=True,
                       text=True, env={})
    assert p.returncode == 0 and "slotboxd" in p.stdout, p


def test_gpu_check_dry_run_on_a_fake_gpu(tmp_path):
    """The whole of scripts/gpu-check with --kit, on one fake GPU: device
    nodes, driver files and NVML from tests/c/fakedrv (nvidia-smi too),
    and a fake nvcc whose probe is a bash script. Proves the plumbing of
    the script (every check, the report) where no GPU exists; only a real
    GPU proves CUDA."""
    if HAVE_GPU:
        pytest.skip("this host has a real GPU: run scripts/gpu-check itself")
    if not shutil.which("patchelf") or not shutil.which("unshare"):
        pytest.skip("patchelf or unshare is missing")
    kit = tmp_path / "kit"
    p = subprocess.run([os.path.join(ROOT, "scripts", "gpu-kit"), str(kit), BUILD],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    ns = tmp_path / "ns"
    (ns / "ovl").mkdir(parents=True)
    (ns / "drv").mkdir()
    for name in os.listdir(FAKEDRV):
        src = os.path.join(FAKEDRV, name)
        if name.startswith("lib") and ".so" in name and not name.endswith(".p"):
            if os.path.islink(src):
                os.symlink(os.readlink(src), ns / "drv" / name)
            else:
                shutil.copy2(src, ns / "drv" / name)
    (ns / "ld.so.conf").write_text(str(ns / "drv") + "\n")
    report = tmp_path / "report.md"
    env = dict(os.environ, FAKE_GPUS="0", FAKE_SMI=os.path.join(FAKEDRV, "nvidia-smi"),
               NVCC=os.path.join(ROOT, "tests", "e2e", "gpufake", "nvcc"),
               FAKE_NVML_MATCH="gpu_probe", FAKE_NVML_PROC_MEM=str(4200 << 20))
    env["PATH"] = "/usr/local/nvidia/bin:" + env["PATH"]
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SETUP, "sh",
                        str(ns), "bash", os.path.join(ROOT, "scripts", "gpu-check"),
                        "--kit", str(kit), "--report", str(report)],
                       capture_output=True, text=True, timeout=300, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    for check in "abcdef":
        assert re.search(r"^PASS %s\. " % check, out, re.M), (check, out)
    assert "6 checks: 6 passed, 0 failed, 0 skipped" in out, out
    assert "ratio 1.000" in out  # the fake probe's kernel time is the same everywhere
    text = report.read_text()
    assert "| a. nvidia-smi -L in a slot lists its GPUs only | PASS |" in text, text
    assert "GPU-fake-0000" in text and "## slotboxd log" in text
