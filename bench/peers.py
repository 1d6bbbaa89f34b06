# SPDX-License-Identifier: Apache-2.0
"""The systems slotbox is measured against, set up and torn down here.

- a minimal root filesystem (bash, coreutils' true/sleep and their
  libraries, copied from the host) for the container peers;
- crun: a running container to `crun exec` into, and `crun run` of a fresh
  one for cold starts. On a host with the hybrid cgroup layout (v1
  controllers plus cgroup2 on /sys/fs/cgroup/unified) crun refuses to start
  ("cgroups in hybrid mode not supported"), so every crun call runs in a
  private mount namespace in which that cgroup2 mount is unmounted;
- docker: an engine that is reachable (DOCKER_HOST or the default socket),
  or one started here (Debian's docker.io: dockerd with its data under the
  run's temp dir, no bridge, no iptables); the rootfs goes in with
  `docker import` (no registry);
- the seed's simple pool, with local subprocesses instead of Modal.
"""
import glob
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from typing import List, Optional

class Unavailable(RuntimeError):
    """The peer is not to be had here (not installed, no engine)."""


ROOTFS_BINARIES = ["/bin/bash", "/bin/true", "/bin/sleep", "/bin/cat", "/bin/echo"]


def make_rootfs(path: str) -> None:
    """A root filesystem with just bash, true, sleep, cat, echo and the
    libraries they link (found with ldd)."""
    for d in ("bin", "tmp", "proc", "dev", "sys", "etc", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    libs = set()
    for b in ROOTFS_BINARIES:
        real = os.path.realpath(b)
        shutil.copy2(real, os.path.join(path, "bin", os.path.basename(b)))
        out = subprocess.run(["ldd", real], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            for word in line.split():
                if word.startswith("/"):
                    libs.add(word)
    for lib in sorted(libs):
        dst = path + lib
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dst)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/bash\n")


# ---- crun ---------------------------------------------------------------

def hybrid_cgroups() -> bool:
    return os.path.ismount("/sys/fs/cgroup/unified")


def crun_wrap(argv: List[str]) -> List[str]:
    """argv run in a private mount namespace where crun sees no cgroup2
    mount beside the v1 hierarchies (only when the host is hybrid)."""
    if not hybrid_cgroups():
        return argv
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'umount /sys/fs/cgroup/unified && exec "$@"', "crun-wrap"] + argv


class Crun:
    """A running container (sleep infinity) to exec into, and a second
    bundle whose process is /bin/true, for cold starts."""

    def __init__(self, tmp: str, rootfs: str):
        self.crun = shutil.which("crun")
        self.dir = os.path.join(tmp, "crun")
        self.state = os.path.join(self.dir, "state")
        self.rootfs = rootfs
        self.name = "slotbench-" + uuid.uuid4().hex[:8]
        self.running = False

    def _bundle(self, name: str, args: List[str]) -> str:
        import json
        b = os.path.join(self.dir, name)
        os.makedirs(b, exist_ok=True)
        subprocess.run([self.crun, "spec"], cwd=b, check=True, capture_output=True)
        with open(os.path.join(b, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        spec["root"] = {"path": self.rootfs, "readonly": True}
        spec["hostname"] = "slotbench"
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    def start(self) -> None:
        os.makedirs(self.state, exist_ok=True)
        self.exec_bundle = self._bundle("exec", ["/bin/sleep", "infinity"])
        self.cold_bundle = self._bundle("cold", ["/bin/true"])
        # The container inherits crun's stdout and stderr: a file, not a
        # pipe that would never see EOF.
        self.running = True  # from here on, stop() deletes it
        errf = os.path.join(self.dir, "crun-run.log")
        with open(errf, "wb") as f:
            r = subprocess.run(crun_wrap([self.crun, "--root", self.state, "run", "-d",
                                          "-b", self.exec_bundle, self.name]),
                               stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                               timeout=60)
        if r.returncode != 0:
            with open(errf, errors="replace") as f:
                raise RuntimeError("crun run: " + f.read().strip()[-300:])

    # These two run inside crun_wrap() (the caller wraps the whole timing
    # loop, so that no call pays for the namespace).
    def exec_argv(self, cmd: str) -> List[str]:
        return [self.crun, "--root", self.state, "exec", self.name, "/bin/bash", "-c", cmd]

    def cold_argv(self) -> List[str]:
        return [self.crun, "--root", self.state, "run", "-b", self.cold_bundle,
                self.name + "-cold"]

    def stop(self) -> None:
        if self.running:
            for name in (self.name, self.name + "-cold"):
                subprocess.run(crun_wrap([self.crun, "--root", self.state, "delete", "-f", name]),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            self.running = False


# ---- docker -------------------------------------------------------------

class Docker:
    """A docker engine: the one reachable, else one started here."""

    IMAGE = "slotbench-rootfs:latest"

    def __init__(self, tmp: str, log):
        # Debian's client matches Debian's engine; any other on PATH works too.
        self.cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
        self.tmp = tmp
        self.log = log
        self.env = dict(os.environ)
        self.proc: Optional[subprocess.Popen] = None
        self.container = "slotbench-" + uuid.uuid4().hex[:8]
        self.started_container = False
        self.imported = False
        self.where = ""

    def _reachable(self) -> bool:
        if not self.cli:
            return False
        try:
            r = subprocess.run([self.cli, "version", "--format", "{{.Server.Version}}"],
                               env=self.env, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and bool(r.stdout.strip())

    def start(self, rootfs: str, allow_start: bool) -> None:
        """Raises RuntimeError with the reason when no engine can be had."""
        if not self.cli:
            raise Unavailable("no docker client (Debian's docker.io is not installed)")
        if self._reachable():
            self.where = "the engine at " + self.env.get("DOCKER_HOST", "/var/run/docker.sock")
        else:
            dockerd = shutil.which("dockerd")
            if not dockerd:
                raise Unavailable("no docker engine reachable and no dockerd to start "
                                  "(bench/run without --quick installs docker.io)")
            if not allow_start:
                raise Unavailable("no docker engine reachable, and --no-docker")
            d = os.path.join(self.tmp, "dk")
            os.makedirs(d, exist_ok=True)
            sock = os.path.join(d, "docker.sock")
            self.dir = d
            self.logf = open(os.path.join(d, "dockerd.log"), "wb")
            self.proc = subprocess.Popen(
                [dockerd, "--data-root", os.path.join(d, "root"), "--exec-root",
                 os.path.join(d, "x"), "--pidfile", os.path.join(d, "pid"), "-H",
                 "unix://" + sock, "--iptables=false", "--ip-masq=false", "--bridge=none",
                 "--log-level=warn"],
                stdout=self.logf, stderr=subprocess.STDOUT)
            self.env["DOCKER_HOST"] = "unix://" + sock
            deadline = time.monotonic() + 60
            while not self._reachable():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    with open(os.path.join(d, "dockerd.log"), "rb") as f:
                        tail = f.read()[-400:].decode(errors="replace")
                    raise RuntimeError("dockerd did not come up: " + tail.strip())
                time.sleep(0.2)
            self.where = "a dockerd started by bench/run"
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run([self.cli, "import", "-", self.IMAGE], stdin=tar.stdout, env=self.env,
                           capture_output=True, text=True, timeout=120)
        tar.stdout.close()
        tar.wait()
        if r.returncode != 0:
            raise RuntimeError("docker import: " + r.stderr.strip())
        self.imported = True
        r = subprocess.run([self.cli, "run", "-d", "--name", self.container, "--network", "none",
                            self.IMAGE, "/bin/sleep", "infinity"], env=self.env,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("docker run: " + r.stderr.strip())
        self.started_container = True

    def exec_argv(self, cmd: str) -> List[str]:
        return [self.cli, "exec", self.container, "/bin/bash", "-c", cmd]

    def cold_argv(self) -> List[str]:
        return [self.cli, "run", "--rm", "--network", "none", self.IMAGE, "/bin/true"]

    def stop(self) -> None:
        if self.started_container:
            subprocess.run([self.cli, "rm", "-f", self.container], env=self.env,
                           capture_output=True, timeout=60)
            self.started_container = False
        if self.imported and not self.proc:
            # The user's own engine: leave nothing behind.
            subprocess.run([self.cli, "rmi", "-f", self.IMAGE], env=self.env,
                           capture_output=True, timeout=60)
        self.imported = False
        if self.proc:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.logf.close()
            self.proc = None
            subprocess.run(["rm", "-rf", "--one-file-system", self.dir], check=False)
            # dockerd's cgroupfs driver leaves an empty "docker" group in
            # each v1 hierarchy; rmdir removes only empty ones.
            for h in glob.glob("/sys/fs/cgroup/*/docker"):
                try:
                    os.rmdir(h)
                except OSError:
                    pass


# ---- the seed's simple pool ----------------------------------------------

class LocalEnv:
    """What the seed's pool keeps warm, locally: commands run with
    subprocess (bash -c), in a directory of the environment."""

    def __init__(self, base: str):
        self.base = base
        os.makedirs(base, exist_ok=True)

    def execute(self, command: str, cwd: str = "", timeout: int = 60) -> dict:
        r = subprocess.run(["bash", "-c", command], cwd=cwd or self.base,
                           capture_output=True, text=True, timeout=timeout)
        out = r.stdout
        if r.stderr:
            out = f"{out}\n{r.stderr}" if out else r.stderr
        return {"output": out, "returncode": r.returncode}


class SeedPool:
    """The seed's ModalEnvPool (thread-safe pool of warm environments, one
    task per environment at a time) over LocalEnv instead of Modal."""

    def __init__(self, base: str, max_size: int = 4):
        self.base = base
        self.max_size = max_size
        self._cond = threading.Condition()
        self._idle: list = []
        self._total = 0

    def acquire(self, wait_s: float = 300):
        deadline = time.time() + wait_s
        with self._cond:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._total < self.max_size:
                    self._total += 1
                    break
                remaining = deadline - time.time()
                if remaining <= 0:
                    self._total += 1
                    break
                self._cond.wait(timeout=min(5, remaining))
        return LocalEnv(os.path.join(self.base, f"env{self._total}"))

    def release(self, env) -> None:
        with self._cond:
            self._idle.append(env)
            self._cond.notify()


class SeedTask:
    """The seed's ModalPooledTaskEnvironment: a task dir made and emptied
    with a command at acquire, removed with one at cleanup."""

    def __init__(self, pool: SeedPool, task_id: str = ""):
        self.pool = pool
        self.inner = pool.acquire()
        self.task_id = task_id or str(uuid.uuid4())
        self.cwd = f"{self.inner.base}/tasks/{self.task_id}"
        self.inner.execute(f"mkdir -p {self.cwd} && rm -rf {self.cwd}/*", cwd="/")

    def execute(self, command: str, timeout: int = 60) -> dict:
        return self.inner.execute(command, cwd=self.cwd, timeout=timeout)

    def cleanup(self) -> None:
        try:
            self.inner.execute(f"rm -rf {self.cwd}", cwd="/")
        finally:
            self.pool.release(self.inner)
