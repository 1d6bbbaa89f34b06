# SPDX-License-Identifier: Apache-2.0
"""Build small OCI image layouts in Python for the image tests: a rootfs
made of this host's bash and python3 (with the libraries they need), extra
layers with whiteouts, and malicious layers."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

PY_SKIP = {"test", "__pycache__", "idlelib", "tkinter", "ensurepip",
           "lib2to3", "pydoc_data", "distutils", "config-3.11-x86_64-linux-gnu"}
BINS = ["/bin/bash", "/usr/bin/cat", "/usr/bin/ls", "/usr/bin/id",
        "/usr/bin/python3.11"]


def _libs(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                libs.append(p)
    return libs


def rootfs_tar():
    """A gzipped tar of a tiny rootfs that can run bash and python3."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as t:
        done = set()

        def add(path):
            real = os.path.realpath(path)
            name = path.lstrip("/")
            if name in done:
                return
            done.add(name)
            t.add(real, arcname=name, recursive=False)

        for d in ["bin", "usr", "usr/bin", "usr/lib", "lib", "lib64", "etc",
                  "usr/lib/x86_64-linux-gnu", "tmp", "app", "old"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
            done.add(d)
        for b in BINS:
            add(b)
            for lib in _libs(b):
                add(lib)
        link = tarfile.TarInfo("usr/bin/python3")
        link.type = tarfile.SYMTYPE
        link.linkname = "python3.11"
        t.addfile(link)
        for root, dirs, files in os.walk("/usr/lib/python3.11"):
            dirs[:] = [d for d in dirs if d not in PY_SKIP]
            t.add(root, arcname=root.lstrip("/"), recursive=False)
            for f in files:
                t.add(os.path.join(root, f), arcname=os.path.join(root, f).lstrip("/"))
        for name, data in [("app/gone.txt", b"from layer 1\n"),
                           ("old/a", b"a\n"), ("etc/image-marker", b"layer1\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_of(entries, gz=False):
    """entries: (name, kind, payload) with kind file|dir|symlink|hardlink|chr
    (a dir's payload: its mode, when an int)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
            if kind == "dir":
                info.mode = payload if isinstance(payload, int) else 0o755
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            if kind == "chr":
                info.devmajor, info.devminor = 1, 3
            t.addfile(info)
    return buf.getvalue()


def _blob(layout, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}


def oci_layout(path, layers, env=None, workdir="", user=""):
    """Write an OCI image layout with these layer blobs (bottom first)."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs = []
    for data in layers:
        d = _blob(path, data)
        gz = data[:2] == b"\x1f\x8b"
        d["mediaType"] = ("application/vnd.oci.image.layer.v1.tar+gzip" if gz
                          else "application/vnd.oci.image.layer.v1.tar")
        descs.append(d)
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": env or [], "WorkingDir": workdir, "User": user},
              "rootfs": {"type": "layers", "diff_ids": []}}
    cd = _blob(path, json.dumps(config).encode())
    cd["mediaType"] = "application/vnd.oci.image.config.v1+json"
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": cd, "layers": descs}
    md = _blob(path, json.dumps(man).encode())
    md["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    md["platform"] = {"os": "linux", "architecture": "amd64"}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [md]}, f)
    return path


def tar_dir(src, dest):
    with tarfile.open(dest, "w") as t:
        for name in os.listdir(src):
            t.add(os.path.join(src, name), arcname=name)
    return dest
