# SPDX-License-Identifier: Apache-2.0
"""Fixtures that start the real slotboxd on a temporary socket and state dir.

Every test talks to the daemon over its unix socket exactly as a client would.
The build directory comes from $SLOTBOX_BUILD (default: ./build).
"""
import json
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time

import sys

import pytest

from sbhttp import UnixClient

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "clients", "python"))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("SLOTBOX_BUILD", os.path.join(ROOT, "build")))
SLOTBOXD = os.path.join(BUILD, "slotboxd")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="slotboxd needs root (namespaces, mounts, cgroups)")
        for item in items:
            item.add_marker(skip)


class Daemon:
    def __init__(self, tmp, config_yaml=None, env=None, args=()):
        self.tmp = tmp
        self.socket = os.path.join(tmp, "run", "slotbox.sock")
        self.state_dir = os.path.join(tmp, "state")
        self.log_path = os.path.join(tmp, "slotboxd.log")
        self.config = None
        if config_yaml is not None:
            self.config = os.path.join(tmp, "profiles.yaml")
            with open(self.config, "w") as f:
                f.write(config_yaml)
        self.env = dict(os.environ)
        self.env.update(env or {})
        # SLOTBOX_TEST_DAEMON_ARGS: more slotboxd arguments for every
        # daemon, e.g. scripts/test's second pass with --slot-root chroot
        self.args = list(args) + shlex.split(os.environ.get("SLOTBOX_TEST_DAEMON_ARGS", ""))
        self.prefix = []  # a command that runs slotboxd, e.g. nsenter --net=...
        self.proc = None

    def start(self, wait=True):
        cmd = self.prefix + [SLOTBOXD, "--socket", self.socket, "--state-dir", self.state_dir]
        if self.config:
            cmd += ["--config", self.config]
        cmd += self.args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slotboxd exited: " + self.read_log())
            try:
                status, body = self.client().request("GET", "/v1/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("slotboxd did not become ready: " + self.read_log())

    def client(self):
        return UnixClient(self.socket)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def peak_rss(self):
        """Context manager sampling the daemon's RSS every 20 ms; .kib is
        the peak seen while the block ran."""
        daemon = self

        class Watch:
            kib = 0

            def __enter__(self):
                self.stop = threading.Event()
                self.thread = threading.Thread(target=self.run)
                self.thread.start()
                return self

            def run(self):
                while not self.stop.is_set():
                    self.kib = max(self.kib, daemon.rss_kib())
                    time.sleep(0.02)

            def __exit__(self, *exc):
                self.stop.set()
                self.thread.join()

        return Watch()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("slotboxd did not stop on SIGTERM")
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def make_daemon():
    """Factory: make_daemon(config_yaml=None, env=None) -> started Daemon."""
    started = []
    tmpdirs = []

    def factory(config_yaml=None, env=None, args=(), start=True):
        tmp = tempfile.mkdtemp(prefix="sbx-", dir="/tmp")
        tmpdirs.append(tmp)
        d = Daemon(tmp, config_yaml, env, args)
        started.append(d)
        return d.start() if start else d

    yield factory
    for d in started:
        rc = d.stop()
        assert rc in (0, None), "slotboxd exited with %r\n%s" % (rc, d.read_log())
    for t in tmpdirs:
        subprocess.run(["rm", "-rf", "--one-file-system", t], check=False)


SMALL_POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
"""


# Two slots that must share one sandbox (isolation tests).
TWO_SLOTS_ONE_SANDBOX = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


@pytest.fixture
def daemon(make_daemon):
    return make_daemon(SMALL_POOL)


@pytest.fixture
def client(daemon):
    return daemon.client()


def api(client, method, path, body=None, status=None):
    """One request; asserts the status when given; returns the JSON (or None)."""
    code, data = client.request(method, path, body)
    if status is not None:
        assert code == status, (code, data)
    return json.loads(data) if data else None


def wait_for(cond, timeout=15):
    """Poll cond every 0.1 s: True once it holds, False after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False
