# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the migration part of issue 18: slotboxd takes the
seed's profiles YAML as written (app_name passed over with a warning,
registry-style image names resolved in the store or a start refused with
the import command), reads ATROPOS_MODAL_* as a fallback to SLOTBOX_*, and
warms every profile's min_sandboxes at start."""
import io
import json
import os
import subprocess
import tarfile
import time

import imagekit
from conftest import BUILD, api

SLOTBOX = os.path.join(BUILD, "slotbox")

# The seed's load_profiles() shape, keys as its from_dict() reads them.
SEED_YAML = """
profiles:
  default:
    app_name: my-training
    image: {image}
    gpu: null
    cpu: 1.0
    memory: 1024
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 2
    idle_timeout: 120
    max_lifetime: 3600
    acquire_timeout_s: 60.0
    execution_timeout_s: 30.0
    secrets: []
    env_vars:
      FROM_SEED: "yes"
    workspace_base: /data
  small:
    app_name: ~
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
"""


def start(make_daemon, yaml=None, env=None):
    d = make_daemon(yaml, env=env, start=False).start(wait=False)
    d.wait_ready(timeout=120)
    return d


def wait_for(pred, timeout=120):
    """Wait for a state the daemon reaches on its own (not a timing test:
    the bound only keeps a broken daemon from hanging the suite)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def status(c):
    return api(c, "GET", "/v1/status", None, 200)["pools"]


def profiles(c):
    return api(c, "GET", "/v1/profiles", None, 200)["profiles"]


def bash(c, sid, command):
    r = api(c, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": command}}, 200)
    assert r["success"], r
    return r["metadata"]["stdout"]


def log_lines(d, needle):
    return [line for line in d.read_log().splitlines() if needle in line]


def test_seed_yaml_accepted_with_a_warning(make_daemon):
    d = start(make_daemon, SEED_YAML.format(image="host"))
    c = d.client()
    p = profiles(c)
    assert p["default"]["memory_mb"] == 1024 and p["default"]["slots_per_sandbox"] == 2
    assert p["default"]["workspace_dir"] == "/data"
    assert p["default"]["acquire_timeout_s"] == 60 and p["default"]["execution_timeout_s"] == 30
    warned = log_lines(d, "app_name")
    assert len(warned) == 2 and all("level=warn" in w and "ignored" in w for w in warned)
    assert any('profile \\"default\\"' in w or 'profile "default"' in w for w in warned)
    sid = api(c, "POST", "/v1/slots", {}, 201)
    assert sid["workspace_dir"] == "/data"
    assert bash(c, sid["slot_id"], "echo $FROM_SEED; pwd") == "yes\n/data\n"


def refused_start(tmp_path, yaml):
    """slotboxd on this config must stop at start: its exit code and log."""
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml)
    p = subprocess.run([os.path.join(BUILD, "slotboxd"), "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "state"), "--config", str(cfg)],
                       capture_output=True, timeout=120)
    return p.returncode, (p.stdout + p.stderr).decode()


def test_unknown_store_image_refused_with_the_import_command(tmp_path):
    rc, log = refused_start(tmp_path, SEED_YAML.format(image="docker.io/library/python:3.11"))
    assert rc == 1
    assert 'slotboxd: config: profile "default"' in log
    assert "slotbox image import python:3.11 FILE.tar" in log
    # a name the store cannot hold is refused as the config is read, saying how
    rc, log = refused_start(tmp_path, SEED_YAML.format(image="pytorch/pytorch:2.1.0"))
    assert rc == 1
    assert "slotbox image import NAME FILE.tar" in log and "pytorch/pytorch:2.1.0" in log


def small_rootfs():
    """bash and what it links, plus a marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in ["bin", "usr", "usr/bin", "lib", "lib64", "etc", "tmp",
                  "usr/lib", "usr/lib/x86_64-linux-gnu"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        seen = set()
        for path in ["/bin/bash", "/usr/bin/cat"] + imagekit._libs("/bin/bash"):
            name = path.lstrip("/")
            if name not in seen:
                seen.add(name)
                t.add(os.path.realpath(path), arcname=name, recursive=False)
        info = tarfile.TarInfo("etc/marker")
        info.size = 5
        t.addfile(info, io.BytesIO(b"tiny\n"))
    return buf.getvalue()


def test_registry_name_resolves_to_the_store_image(make_daemon, tmp_path):
    # first import the image while no profile needs it at start
    d = start(make_daemon, SEED_YAML.format(image="tiny:1").replace(
        "min_sandboxes: 1", "min_sandboxes: 0"))
    warned = log_lines(d, "image_missing")
    assert warned and "slotbox image import tiny:1 FILE.tar" in warned[0]
    layout = imagekit.oci_layout(str(tmp_path / "lay"), [small_rootfs()])
    p = subprocess.run([SLOTBOX, "--socket", d.socket, "image", "import", "tiny:1", layout],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert d.stop() == 0
    # then the seed's file, with the registry's spelling of that name
    with open(d.config, "w") as f:
        f.write(SEED_YAML.format(image="docker.io/library/tiny:1"))
    d.start(wait=False)
    d.wait_ready(timeout=120)
    c = d.client()
    assert profiles(c)["default"]["image"] == "tiny:1"
    sid = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    assert bash(c, sid, "cat /etc/marker") == "tiny\n"


def test_atropos_modal_env_fallback(make_daemon, tmp_path):
    env = {
        "ATROPOS_MODAL_MEMORY": "768",
        "ATROPOS_MODAL_SLOTS_PER_SANDBOX": "3",
        "SLOTBOX_SLOTS_PER_SANDBOX": "2",
        "ATROPOS_MODAL_MIN_SANDBOXES": "0",
        "ATROPOS_MODAL_PROFILES": "extra",
        "ATROPOS_MODAL_PROFILE_EXTRA_MAX_SANDBOXES": "3",
        "ATROPOS_MODAL_PROFILE_EXTRA_EXECUTION_TIMEOUT": "12.5",
        "ATROPOS_MODAL_PROFILE_GHOST_IMAGE": "x",
    }
    d = start(make_daemon, None, env)
    c = d.client()
    p = profiles(c)
    assert set(p) == {"default", "extra"}
    assert p["default"]["memory_mb"] == 768 and p["extra"]["memory_mb"] == 768
    assert p["default"]["slots_per_sandbox"] == 2  # SLOTBOX_ wins
    assert p["extra"]["max_sandboxes"] == 3 and p["extra"]["execution_timeout_s"] == 12.5
    for var in ("ATROPOS_MODAL_MEMORY", "ATROPOS_MODAL_MIN_SANDBOXES",
                "ATROPOS_MODAL_PROFILES", "ATROPOS_MODAL_PROFILE_EXTRA_MAX_SANDBOXES",
                "ATROPOS_MODAL_PROFILE_EXTRA_EXECUTION_TIMEOUT"):
        lines = log_lines(d, var + " used")
        assert len(lines) == 1 and "level=warn" in lines[0], (var, d.read_log())
    assert log_lines(d, "ATROPOS_MODAL_SLOTS_PER_SANDBOX ignored: SLOTBOX_SLOTS_PER_SANDBOX is set")
    assert log_lines(d, "ATROPOS_MODAL_PROFILE_GHOST_IMAGE: matches no profile")
    # the seed's profiles file variable stands in for --config
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_YAML.format(image="host").replace("min_sandboxes: 1",
                                                          "min_sandboxes: 0"))
    d = start(make_daemon, None, {"ATROPOS_MODAL_PROFILES_FILE": str(seed)})
    assert profiles(d.client())["default"]["workspace_dir"] == "/data"
    assert log_lines(d, "ATROPOS_MODAL_PROFILES_FILE used as --config")
    # as in the seed, a file that is not there is passed over
    d = start(make_daemon, None, {"ATROPOS_MODAL_PROFILES_FILE": str(tmp_path / "none.yaml")})
    assert profiles(d.client())["default"]["workspace_dir"] == "/workspace"
    assert log_lines(d, "ATROPOS_MODAL_PROFILES_FILE ignored: no such file")


def test_every_profile_warmed_at_start(make_daemon):
    d = start(make_daemon, """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
  warm:
    slots_per_sandbox: 2
    min_sandboxes: 2
    max_sandboxes: 3
  cold:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
""")
    c = d.client()
    # right after start, without any acquire
    p = profiles(c)
    assert p["warm"]["active"] is True and p["cold"]["active"] is False
    s = status(c)
    assert s["warm"]["sandboxes"] == 2 and s["cold"]["sandboxes"] == 0
    # a sandbox is healthy once its init answers; each slot becomes
    # available when its leader has said hello (its namespaces made)
    up = wait_for(lambda: (lambda s: s["warm"]["healthy_sandboxes"] == 2
                           and s["warm"]["available_slots"] == 4 and s)(status(c)))
    assert up and up["warm"]["available_slots"] == 4 and up["warm"]["total_slots"] == 4
    assert up["cold"]["sandboxes"] == 0 and up["default"]["healthy_sandboxes"] == 1
    # and kept: a lease and its release leave them there
    sid = api(c, "POST", "/v1/slots", {"profile": "warm"}, 201)["slot_id"]
    c.request("DELETE", f"/v1/slots/{sid}")
    assert status(c)["warm"]["sandboxes"] == 2
    started = log_lines(d, "event=sandbox_starting profile=warm")
    assert len(started) == 2
