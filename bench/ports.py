#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The port proxy: a small GET through /v1/slots/{id}/ports/{port}/ next to
the same GET straight to the same kind of server on the host's loopback.
One phase of bench/run (rows in section "proxy"), or on its own:

    sudo python3 bench/ports.py [--build build] [--quick]

Both servers are `python3 -m http.server` serving the same 1 KiB file, one
in a slot, one on the host; the client is http.client, a new connection
per request on both sides (the proxy answers Connection: close), so the
difference is what the proxy adds: the daemon's parsing, the connect inside
the slot's network namespace and the relay.
"""
import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clients", "python"))
from timing import timed  # noqa: E402

S_GET = "GET 1 KiB file (new connection each)"
BASE = "host loopback, direct (baseline)"
PROXY = "slotbox port proxy (unix socket)"
PROXY_TCP = "slotbox port proxy (TCP + token)"
EXPECTED = tuple(("proxy", s, S_GET) for s in (BASE, PROXY, PROXY_TCP))
PORT = 8080
PROFILES = """\
profiles:
  ports:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
"""


class _Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def get(conn, path, headers=None):
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200 or len(body) != 1024:
        raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")


def measure(b, d, n):
    slot = d.client.acquire("bench-ports", profile="ports", timeout_s=120)
    r = d.client.bash(slot, "mkdir -p site && head -c 1024 /dev/zero | tr '\\0' x > "
                      "site/f.txt && cd site && setsid nohup python3 -m http.server "
                      f"{PORT} --bind 127.0.0.1 >/dev/null 2>&1 </dev/null & "
                      "for i in $(seq 100); do python3 -c 'import socket; socket."
                      f"create_connection((\"127.0.0.1\", {PORT}))' 2>/dev/null && exit 0; "
                      "sleep 0.05; done; exit 1")
    if not r.success:
        raise RuntimeError("cannot start the server in the slot: " + r.output)
    site = tempfile.mkdtemp(prefix="sbb-site-", dir="/tmp")
    with open(os.path.join(site, "f.txt"), "wb") as f:
        f.write(b"x" * 1024)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        hport = s.getsockname()[1]
    host = subprocess.Popen([sys.executable, "-m", "http.server", str(hport), "--bind",
                             "127.0.0.1"], cwd=site, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", hport)).close()
                break
            except OSError:
                time.sleep(0.05)
        path = f"/v1/slots/{slot.slot_id}/ports/{PORT}/f.txt"
        tport = int(d.url.rsplit(":", 1)[1])
        with open(d.token_file) as f:
            auth = {"Authorization": "Bearer " + f.read().strip()}
        runs = {
            BASE: lambda: get(http.client.HTTPConnection("127.0.0.1", hport, timeout=30),
                              "/f.txt"),
            PROXY: lambda: get(_Unix(d.socket), path),
            PROXY_TCP: lambda: get(http.client.HTTPConnection("127.0.0.1", tport, timeout=30),
                                   path, auth),
        }
        samples = {k: [] for k in runs}
        for _ in range(4):  # in turns, so that drift hits every row alike
            for k, fn in runs.items():
                b.log(f"  {k}: {S_GET} x {n // 4}")
                samples[k] += timed(fn, n // 4)
        for k, xs in samples.items():
            b.add("proxy", k, S_GET, xs,
                  notes="python3 -m http.server; http.client, Connection: close")
        b.ok("slotbox port proxy", "GET through the proxy returned the slot's 1 KiB file")
    finally:
        host.kill()
        host.wait()
        subprocess.run(["rm", "-rf", site], check=False)
        d.client.release(slot)


def phase(b, daemon_cls):
    """bench/run's phase (b is the Bench)."""
    d = daemon_cls(b.build, b.tmp, "ports", PROFILES)
    try:
        d.wait_settled("ports", timeout=120)
        measure(b, d, 40 if b.mode == "quick" else 1000)
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", default=os.environ.get("SLOTBOX_BUILD", "build"))
    args = ap.parse_args()
    import bench
    b = bench.Bench(argparse.Namespace(quick=args.quick, build=args.build, out=None,
                                       no_docker=True))
    try:
        b.phase("port proxy", lambda: phase(b, bench.Daemon))
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", b.tmp], check=False)
    b.judge()
    for r in b.rows:
        print(f"{r['system']:40} {r['scenario']:40} p50 {r.get('p50_us', 0) / 1000:.3f} ms"
              f"  p99 {r.get('p99_us', 0) / 1000:.3f} ms  {r.get('baseline', '')}"
              f"  x{r.get('vs_baseline', '')}")
    sys.exit(1 if b.failures else 0)


if __name__ == "__main__":
    main()
