# SPDX-License-Identifier: Apache-2.0
"""Archives built and read in memory (standard library only)."""
import io
import os
import tarfile
import zipfile


def tar_gz_dir(local_dir: str) -> bytes:
    """local_dir's contents (not the directory itself) as a tar.gz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in sorted(os.listdir(local_dir)):
            tf.add(os.path.join(local_dir, name), arcname=name)
    return buf.getvalue()


def tar_gz_files(files) -> bytes:
    """{relative name: bytes or str} as a tar.gz of regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            if isinstance(data, str):
                data = data.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def count_entries(data: bytes, fmt: str) -> int:
    """How many members an archive the daemon made holds."""
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return len(zf.infolist())
    mode = "r:gz" if fmt in ("tar.gz", "tgz") else "r:"
    with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tf:
        return sum(1 for _ in tf)
