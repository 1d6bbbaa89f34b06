# SPDX-License-Identifier: Apache-2.0
"""The image store: OCI layouts and docker-save archives imported with
libarchive, layers stacked as overlay lowers with whiteouts, the config's
Env honoured, malicious archives refused with nothing written outside the
store, and GPU profiles refused on a host without a GPU."""
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import BUILD, SLOTBOXD, api
from sbhttp import UnixClient
import imagekit

SLOTBOX = os.path.join(BUILD, "slotbox")

PROFILES = """
profiles:
  default:
    min_sandboxes: 0
    slots_per_sandbox: 1
  tiny:
    image: "tiny:1"
    min_sandboxes: 0
    slots_per_sandbox: 1
    acquire_timeout_s: 20
  docker:
    image: "tiny:docker"
    min_sandboxes: 0
    slots_per_sandbox: 1
"""


@pytest.fixture(scope="module")
def base_layer():
    return imagekit.rootfs_tar()


def top_layer():
    """Hides app/gone.txt, makes old/ opaque, replaces the marker."""
    return imagekit.tar_of([
        ("app/.wh.gone.txt", "file", b""),
        ("old/.wh..wh..opq", "file", b""),
        ("old/b", "file", b"b\n"),
        ("etc/image-marker", "file", b"layer2\n"),
    ])


@pytest.fixture(scope="module")
def layout(base_layer, tmp_path_factory):
    d = tmp_path_factory.mktemp("img") / "oci"
    return imagekit.oci_layout(str(d), [base_layer, top_layer()],
                               env=["FOO=bar", "PATH=/usr/bin:/bin"],
                               workdir="/app")


def cli(d, *args, check_rc=None):
    p = subprocess.run([SLOTBOX, "--socket", d.socket, *args],
                       capture_output=True, timeout=300)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.stdout, p.stderr)
    return p


def run_in(c, profile, command):
    s = api(c, "POST", "/v1/slots", {"profile": profile}, 201)["slot_id"]
    r = api(c, "POST", f"/v1/slots/{s}/exec",
            {"tool": "bash", "args": {"command": command}}, 200)
    api(c, "DELETE", f"/v1/slots/{s}", None, 204)
    return r


CHECK = ("cat /etc/image-marker; ls -A /app; ls -A /old; echo $FOO; "
         "python3 -c 'print(6*7)'; "
         "test -e /etc/debian_version && echo host-files || echo image-files")
EXPECT = "layer2\nb\nbar\n42\nimage-files\n"


def test_oci_layout_import_and_run(make_daemon, layout):
    d = make_daemon(PROFILES)
    c = d.client()
    out = json.loads(cli(d, "--json", "image", "import", "tiny:1", layout,
                         check_rc=0).stdout)
    assert len(out["layers"]) == 2 and out["env"][0] == "FOO=bar"
    assert out["workdir"] == "/app" and out["source"] == "oci"
    r = run_in(c, "tiny", CHECK)
    assert r["metadata"]["stdout"] == EXPECT, r
    rows = cli(d, "image", "ls", check_rc=0).stdout.decode().splitlines()
    assert rows[0].split()[0] == "IMAGE" and rows[1].split()[:2] == ["tiny:1", "2"]


def test_oci_tar_and_docker_archive(make_daemon, layout, tmp_path):
    d = make_daemon(PROFILES)
    c = d.client()
    oci_tar = imagekit.tar_dir(layout, str(tmp_path / "oci.tar"))
    cli(d, "image", "import", "tiny:1", oci_tar, check_rc=0)
    assert run_in(c, "tiny", CHECK)["metadata"]["stdout"] == EXPECT
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (scripts/deps installs it)")
    docker_tar = str(tmp_path / "docker.tar")
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}",
                    f"docker-archive:{docker_tar}:tiny:1"], check=True,
                   capture_output=True)
    out = json.loads(cli(d, "--json", "image", "import", "tiny:docker",
                         docker_tar, check_rc=0).stdout)
    assert out["source"] == "docker-archive"
    assert run_in(c, "docker", CHECK)["metadata"]["stdout"] == EXPECT
    # replacing an image under running sandboxes is refused
    p = cli(d, "image", "import", "tiny:docker", docker_tar)
    assert p.returncode == 125 and b"image_in_use" in p.stderr


def test_umoci_made_layout(make_daemon, base_layer, tmp_path):
    if not shutil.which("umoci"):
        pytest.skip("umoci is not installed (scripts/deps installs it)")
    lay = str(tmp_path / "lay")
    bundle = str(tmp_path / "bundle")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("umoci", "init", "--layout", lay)
    run("umoci", "new", "--image", f"{lay}:t")
    run("umoci", "unpack", "--image", f"{lay}:t", bundle)
    import io
    with tarfile.open(fileobj=io.BytesIO(base_layer)) as t:
        t.extractall(os.path.join(bundle, "rootfs"))
    with open(os.path.join(bundle, "rootfs", "etc", "image-marker"), "w") as f:
        f.write("umoci\n")
    run("umoci", "repack", "--image", f"{lay}:t", bundle)
    d = make_daemon(PROFILES)
    cli(d, "image", "import", "tiny:1", lay, check_rc=0)
    r = run_in(d.client(), "tiny", "cat /etc/image-marker; python3 -c 'print(1+1)'")
    assert r["metadata"]["stdout"] == "umoci\n2\n", r


def test_layers_are_shared_and_removed_when_unused(make_daemon, layout):
    d = make_daemon(PROFILES)
    store = os.path.join(d.state_dir, "images", "layers")
    cli(d, "image", "import", "a", layout, check_rc=0)
    cli(d, "image", "import", "b", layout, check_rc=0)
    assert len(os.listdir(store)) == 2  # two images, two shared layers
    cli(d, "image", "rm", "a", check_rc=0)
    assert len(os.listdir(store)) == 2  # b still uses them
    cli(d, "image", "rm", "b", check_rc=0)
    assert os.listdir(store) == []
    p = cli(d, "image", "rm", "b")
    assert p.returncode == 125 and b"not_found" in p.stderr
    cli(d, "image", "import", "tiny:1", layout, check_rc=0)
    p = cli(d, "image", "rm", "tiny:1")
    assert p.returncode == 125 and b"image_in_use" in p.stderr


def test_import_errors(make_daemon, tmp_path):
    d = make_daemon(PROFILES)
    p = cli(d, "image", "import", "x", str(tmp_path / "missing"))
    assert p.returncode == 125 and b"missing" in p.stderr
    (tmp_path / "empty").mkdir()
    p = cli(d, "image", "import", "x", str(tmp_path / "empty"))
    assert p.returncode == 125 and b"neither an OCI image layout" in p.stderr
    p = cli(d, "image", "import", "bad/name", str(tmp_path / "empty"))
    assert p.returncode == 125 and b"bad_request" in p.stderr
    code, body = d.client().request("POST", "/v1/images",
                                    {"name": "x", "path": "relative"})
    assert code == 400
    # a profile whose image is not imported: acquire says why
    e = api(d.client(), "POST", "/v1/slots", {"profile": "tiny", "timeout_s": 1}, 503)
    assert "tiny:1" in e["error"]["message"] and "not in the store" in e["error"]["message"]


CANARY = "/tmp/slotbox-canary-%d" % os.getpid()

MALICIOUS = {
    "dotdot": [("../../../../../../%s/dotdot" % CANARY.lstrip("/"), "file", b"x")],
    "absolute": [(CANARY + "/abs", "file", b"x")],
    "symlink_then_write": [("link", "symlink", CANARY),
                           ("link/through", "file", b"x")],
    "hardlink_out": [("h", "hardlink", "../../../../../../etc/passwd")],
    "hardlink_absolute": [("h", "hardlink", "/etc/passwd")],
    "device_node": [("dev/evil", "chr", None)],
    "whiteout_escape": [("a/../../.wh.passwd", "file", b"")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_layers_are_refused(make_daemon, tmp_path, case):
    os.makedirs(CANARY, exist_ok=True)
    d = make_daemon(PROFILES)
    lay = imagekit.oci_layout(str(tmp_path / "evil"),
                              [imagekit.tar_of(MALICIOUS[case])])
    before = open("/etc/passwd", "rb").read()
    code, body = d.client().request("POST", "/v1/images",
                                    {"name": "evil", "path": lay})
    assert code == 400, body
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert os.listdir(CANARY) == []
    assert open("/etc/passwd", "rb").read() == before
    store = os.path.join(d.state_dir, "images")
    assert os.listdir(os.path.join(store, "layers")) == []
    assert os.listdir(os.path.join(store, "tmp")) == []
    assert not os.path.exists(os.path.join(store, "refs", "evil.json"))


def test_malicious_outer_archive_is_refused(make_daemon, tmp_path):
    os.makedirs(CANARY, exist_ok=True)
    d = make_daemon(PROFILES)
    bad = tmp_path / "outer.tar"
    bad.write_bytes(imagekit.tar_of([("index.json", "file", b"{}"),
                                     ("../../../../%s/o" % CANARY.lstrip("/"),
                                      "file", b"x")]))
    code, body = d.client().request("POST", "/v1/images",
                                    {"name": "evil", "path": str(bad)})
    assert code == 400, body
    assert os.listdir(CANARY) == []


def test_layout_symlink_cannot_read_host_files(make_daemon, base_layer, tmp_path):
    d = make_daemon(PROFILES)
    lay = imagekit.oci_layout(str(tmp_path / "lay"), [base_layer])
    # swap the manifest for a symlink to a host file
    os.unlink(os.path.join(lay, "index.json"))
    os.symlink("/etc/passwd", os.path.join(lay, "index.json"))
    code, body = d.client().request("POST", "/v1/images", {"name": "x", "path": lay})
    assert code >= 400 and b"root:" not in body


def test_layout_fifo_is_refused_without_hanging(make_daemon, base_layer, tmp_path):
    """A FIFO where a layout file should be (fuzz_image found this: the
    import blocked for good opening it), in a layout directory and in an
    OCI tar: refused at once, and the daemon serves on."""
    d = make_daemon(PROFILES)
    lay = imagekit.oci_layout(str(tmp_path / "lay"), [base_layer])
    os.unlink(os.path.join(lay, "index.json"))
    os.mkfifo(os.path.join(lay, "index.json"))
    c = UnixClient(d.socket, timeout=20)  # a hang fails the test, not the suite
    code, body = c.request("POST", "/v1/images", {"name": "fifo", "path": lay})
    assert code == 400 and b"index.json" in body, body
    packed = tmp_path / "fifo.tar"
    with tarfile.open(packed, "w") as t:
        t.add(lay, arcname=".")
    code, body = c.request("POST", "/v1/images", {"name": "fifo2", "path": str(packed)})
    assert code == 400 and b"index.json" in body, body
    assert c.request("GET", "/v1/health")[0] == 200


def test_gpu_profile_without_gpu_refuses_to_start(tmp_path):
    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("this host has a GPU: see test_gpu_visible_in_slot")
    cfg = tmp_path / "p.yaml"
    cfg.write_text("profiles:\n  gpu:\n    gpu: all\n")
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert 'profile "gpu"' in p.stderr and "/dev/nvidiactl" in p.stderr


def test_gpu_visible_in_slot(make_daemon):
    if not os.path.exists("/dev/nvidiactl"):
        pytest.skip("no NVIDIA GPU on this host (/dev/nvidiactl is missing)")
    d = make_daemon("profiles:\n  default:\n    gpu: all\n    min_sandboxes: 1\n")
    r = run_in(d.client(), "default", "nvidia-smi -L && ls /dev/nvidia0")
    assert r["success"], r
    assert "GPU 0" in r["metadata"]["stdout"]
