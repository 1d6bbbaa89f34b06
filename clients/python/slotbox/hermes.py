# SPDX-License-Identifier: Apache-2.0
"""Hermes-Agent terminal backend on slotbox.

The switch is configuration only:

    pip install ./clients/python          # registers the plugin (entry point)
    TERMINAL_ENV=slotbox SLOTBOX_SOCKET=/run/slotbox/slotbox.sock hermes ...

(or SLOTBOX_URL=http://host:7070 with SLOTBOX_TOKEN_FILE; SLOTBOX_PROFILE
picks the profile). Hermes finds the plugin through the
"hermes_agent.plugins" entry point, which names this module: Hermes calls
register(ctx), which registers SlotboxProvider under the name "slotbox".

SlotboxEnvironment keeps the pool-era contract: one slot per task_id;
execute(command, cwd="", timeout=None) -> {"output", "returncode"} with
stdout and stderr interleaved as a terminal shows them; a timeout gives
124, an interrupt 130; a failing command never raises; .cwd is the slot's
workspace; cleanup()/stop() release the slot.
"""
import concurrent.futures
import os
import posixpath
import threading
import time
from typing import Any, Dict, Optional

from .client import Client
from .errors import BadRequest, SlotboxError, SlotNotLeased
from .transport import DEFAULT_SOCKET
from .aio import new_execution_id

NAME = "slotbox"
# How long a background process interrupted during wait_background may
# take to end by itself before it is killed.
INTERRUPT_GRACE_S = 5.0
# The most output wait_background keeps (the tail).
MAX_WAIT_OUTPUT = 1 << 20


def _code(exit_code) -> int:
    """A shell's status: 128+N for a process a signal ended."""
    if exit_code is None:
        return 1
    return 128 + (-exit_code & 127) if exit_code < 0 else int(exit_code)

try:  # Hermes' own classes when this runs inside Hermes
    from agent.terminal_env_provider import TerminalEnvironmentProvider as _ProviderBase
except Exception:  # noqa: BLE001 - any import problem: stand alone
    _ProviderBase = object
try:
    from tools.environments.base import BaseEnvironment as _EnvBase
except Exception:  # noqa: BLE001
    _EnvBase = object


def _interrupted() -> bool:
    """Hermes' interrupt flag (the user pressed stop), when Hermes is here."""
    try:
        from tools.interrupt import is_interrupted
    except Exception:  # noqa: BLE001
        return False
    try:
        return bool(is_interrupted())
    except Exception:  # noqa: BLE001
        return False


def _endpoint() -> str:
    return os.environ.get("SLOTBOX_URL") or os.environ.get("SLOTBOX_SOCKET") or DEFAULT_SOCKET


class _Lease:
    """The slot held for one task_id, shared by its environments."""

    def __init__(self, slot):
        self.slot = slot
        self.refs = 0


_leases: Dict[tuple, _Lease] = {}
_leases_lock = threading.Lock()


class SlotboxEnvironment(_EnvBase):
    """A Hermes terminal environment on one slotbox slot (per task_id)."""

    # Hermes: commands do not run on the Hermes host.
    is_local = False

    def __init__(self, cwd: str = "", timeout: int = 60, task_id: str = "default",
                 env: Optional[Dict[str, str]] = None, profile: Optional[str] = None,
                 endpoint: Optional[str] = None, token: Optional[str] = None,
                 client: Optional[Client] = None, **kwargs: Any):
        self.client = client or Client(endpoint or _endpoint(), token)
        self.task_id = task_id
        self.profile = profile or os.environ.get("SLOTBOX_PROFILE") or None
        self._key = (self.client.endpoint, self.profile, task_id)
        self._lease = self._take_lease()
        self.slot = self._lease.slot
        self.workspace = self.slot.workspace_dir
        if _EnvBase is not object:
            super().__init__(self.workspace, timeout, env)
        self.timeout = timeout
        self.env = dict(env or {})
        self.cwd = self._map_cwd(cwd) or self.workspace
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="slotbox-exec")
        self._stop = threading.Event()
        self._merge = True  # API 1.1 merge_output; off against an older daemon
        self._released = False
        self._procs: Dict[str, Any] = {}  # background processes by id
        self._waiting = None  # the process wait_background waits on

    def _take_lease(self) -> _Lease:
        with _leases_lock:
            lease = _leases.get(self._key)
            if lease is None:
                slot = self.client.acquire(f"hermes-{self.task_id}", self.profile)
                lease = _leases[self._key] = _Lease(slot)
            lease.refs += 1
            return lease

    def _map_cwd(self, cwd: str) -> str:
        """The slot-side directory for cwd: the workspace for "", "~", /root
        and host-looking paths (the Hermes host's home or cwd, /home/...,
        /Users/...); relative paths under the workspace; other absolute
        paths as they are (the slot's own view)."""
        if not cwd:
            return ""
        ws = self.workspace
        if cwd == ws or cwd.startswith(ws.rstrip("/") + "/"):
            return cwd
        if cwd in ("~", "~/") or cwd == "/root" or cwd.startswith(("/root/", "/home/", "/Users/")):
            return ws
        host = {os.path.expanduser("~"), os.getcwd()}
        if any(cwd == h or cwd.startswith(h.rstrip("/") + "/") for h in host if h and h != "/"):
            return ws
        if not cwd.startswith("/"):
            p = posixpath.normpath(posixpath.join(ws, cwd))
            return p if p == ws or p.startswith(ws.rstrip("/") + "/") else ws
        return cwd

    # The call itself -----------------------------------------------------

    def _args(self, command, cwd, stdin_data):
        args: Dict[str, Any] = {"command": command, "cwd": cwd}
        if self._merge:
            args["merge_output"] = True
        else:
            args["command"] = "exec 2>&1\n" + command
        if self.env:
            args["env"] = dict(self.env)
        if stdin_data is not None:
            args["stdin"] = stdin_data
        return args

    def _run(self, command, cwd, timeout, stdin_data, execution_id):
        try:
            return self.client.exec(self.slot, "bash", self._args(command, cwd, stdin_data),
                                    timeout, execution_id)
        except BadRequest as e:
            if self._merge and "merge_output" in e.message:
                self._merge = False
                return self._run(command, cwd, timeout, stdin_data, execution_id)
            raise

    def execute(self, command: str, cwd: str = "", timeout: Optional[int] = None, *,
                stdin_data: Optional[str] = None, **kwargs: Any) -> Dict[str, Any]:
        """Run command in the slot: {"output", "returncode"} (124: timed
        out, 130: interrupted). Never raises for a failing command; a call
        slotbox cannot run at all gives returncode 1 and says why."""
        timeout = timeout or self.timeout
        where = self._map_cwd(cwd) or self.cwd
        recreated = False
        for attempt in (0, 1):
            eid = new_execution_id()
            self._stop.clear()
            fut = self._pool.submit(self._run, command, where, timeout, stdin_data, eid)
            while True:
                try:
                    r = fut.result(timeout=0.05)
                    break
                except concurrent.futures.TimeoutError:
                    if self._stop.is_set() or _interrupted():
                        self._cancel(eid)
                        return {"output": "[Command interrupted]", "returncode": 130}
                except SlotNotLeased:
                    if attempt:
                        return {"output": "[slotbox: the slot's lease ended]", "returncode": 1}
                    self._renew_lease()
                    recreated = True
                    r = None
                    break
                except SlotboxError as e:
                    return {"output": f"[slotbox: {e}]", "returncode": 1}
                except OSError as e:
                    return {"output": f"[slotbox unreachable: {e}]", "returncode": 1}
            if r is not None:
                break
        out = self._result(r, timeout)
        if recreated:
            out["environment_recreated"] = True
        return out

    @staticmethod
    def _result(r, timeout) -> Dict[str, Any]:
        md = r.metadata
        output = r.output
        if md.get("timed_out") or md.get("error_class") == "timeout":
            suffix = f"[Command timed out after {timeout}s]"
            return {"output": (output + "\n" + suffix) if output else suffix, "returncode": 124}
        if md.get("error_class") == "cancelled":
            return {"output": (output + "\n[Command interrupted]").lstrip("\n"), "returncode": 130}
        rc = md.get("returncode")
        if rc is None:
            rc = 0 if r.success else 1
            if r.error and not output:
                output = r.error
        return {"output": output, "returncode": int(rc)}

    def _cancel(self, execution_id):
        try:
            self.client.cancel(execution_id)
        except (SlotboxError, OSError):
            pass

    def _renew_lease(self):
        """The lease ended under us (TTL, daemon restart): take a new slot
        for this task_id; Hermes is told the environment was recreated."""
        with _leases_lock:
            slot = self.client.acquire(f"hermes-{self.task_id}", self.profile)
            self._lease.slot = slot
        self.slot = slot

    def interrupt(self) -> None:
        """Stop the running command (it answers 130); safe from any thread.
        A background process being waited for (wait_background) gets INT,
        as Ctrl-C would send it, and is killed if it does not end."""
        self._stop.set()
        waited = self._waiting
        if waited is not None:
            try:
                waited.interrupt()
            except (SlotboxError, OSError):
                pass

    # Background processes (API 1.1) ----------------------------------------

    def run_background(self, command: str, cwd: str = "", pty: bool = False) -> str:
        """Start command in the background in this slot (a dev server, a
        long test run); its process id. It runs until it ends, is killed,
        or the slot is released."""
        p = self.client.start_process(self.slot, command, env=self.env or None,
                                      cwd=self._map_cwd(cwd) or self.cwd, pty=pty or None)
        self._procs[p.process_id] = p
        return p.process_id

    def _proc(self, process_id: str):
        p = self._procs.get(process_id)
        if p is None:
            p = self._procs[process_id] = self.client.process(self.slot, process_id)
        return p

    def read_background(self, process_id: str) -> Dict[str, Any]:
        """Output since the last read: {"output", "running", "returncode"}
        (returncode None while it runs)."""
        p = self._proc(process_id)
        o = p.output()
        return {"output": o.text, "running": o.running,
                "returncode": None if o.running else _code(o.exit_code)}

    def wait_background(self, process_id: str, timeout: Optional[float] = None
                        ) -> Dict[str, Any]:
        """Wait for a background process to end: {"output" (since the last
        read), "returncode"}. interrupt() meanwhile sends it INT (its own
        handler decides; it is killed if still running INTERRUPT_GRACE_S
        later); timeout: returncode 124, the process left running."""
        p = self._proc(process_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks, size = [], 0
        self._stop.clear()
        self._waiting = p
        sent_int = None
        try:
            while True:
                if sent_int is None and (self._stop.is_set() or _interrupted()):
                    try:
                        p.interrupt()
                    except SlotboxError:
                        pass
                    sent_int = time.monotonic()
                elif sent_int is not None and time.monotonic() - sent_int > INTERRUPT_GRACE_S:
                    p.kill()  # the daemon forgets it: nothing more to read
                    return {"output": "".join(chunks) + "\n[Command interrupted]",
                            "returncode": 130}
                o = p.output(wait_s=0.1)
                text = o.text
                if text:
                    chunks.append(text)
                    size += len(text)
                    while size > MAX_WAIT_OUTPUT and len(chunks) > 1:
                        size -= len(chunks.pop(0))
                if not o.running:
                    rc = _code(o.exit_code)
                    if sent_int is not None and rc == 0:
                        rc = 130
                    return {"output": "".join(chunks), "returncode": rc}
                if deadline is not None and time.monotonic() > deadline:
                    return {"output": "".join(chunks) + f"\n[still running after {timeout}s]",
                            "returncode": 124}
        finally:
            self._waiting = None

    def kill_background(self, process_id: str) -> None:
        """Kill a background process's whole tree."""
        self._proc(process_id).kill()

    # Files (Hermes' file tools may use these when present) -----------------

    def read_file(self, path: str, encoding: str = "text") -> Dict[str, Any]:
        return self.client.read_file(self.slot, path, encoding)

    def write_file(self, path: str, data) -> Dict[str, Any]:
        return self.client.write_file(self.slot, path, data)

    def get_temp_dir(self) -> str:
        return "/tmp"

    # Lifecycle -------------------------------------------------------------

    def cleanup(self) -> None:
        """Release this task's slot (the last environment of the task_id
        releases it; its workspace is reset for the next task)."""
        if getattr(self, "_released", True):
            return
        self._released = True
        self._stop.set()
        with _leases_lock:
            self._lease.refs -= 1
            last = self._lease.refs <= 0
            if last:
                _leases.pop(self._key, None)
        if last:
            try:
                self.client.release(self.slot, reset=True)
            except (SlotboxError, OSError):
                pass
        self._pool.shutdown(wait=False)

    stop = cleanup

    def __del__(self):
        try:
            self.cleanup()
        except Exception:  # noqa: BLE001
            pass


class SlotboxProvider(_ProviderBase):
    """TerminalEnvironmentProvider "slotbox" for Hermes' plugin registry."""

    name = NAME
    display_name = "slotbox"
    is_remote = True
    is_container = True
    session_isolated_when_nonpersistent = True

    @property
    def description(self) -> str:
        return "Run commands in a slot of a slotbox sandbox pool (slotboxd)."

    @property
    def env_description(self) -> str:
        return "a slotbox sandbox slot (Linux)"

    @property
    def skip_container_guards(self) -> bool:
        return True

    @property
    def cache_path_base(self):
        return None

    @property
    def strip_env_keys(self) -> frozenset:
        return frozenset({"SLOTBOX_TOKEN"})

    def is_available(self) -> bool:
        """Configured: a URL is set, or the daemon's socket exists (no call)."""
        if os.environ.get("SLOTBOX_URL"):
            return True
        return os.path.exists(os.environ.get("SLOTBOX_SOCKET") or DEFAULT_SOCKET)

    def check_requirements(self, config: Dict[str, Any]) -> bool:
        try:
            with Client(_endpoint()) as c:
                return bool(c.health().get("ok"))
        except (SlotboxError, OSError):
            return False

    def probe(self):
        return ("ready", "") if self.is_available() else (
            "needs_setup", "set SLOTBOX_SOCKET or SLOTBOX_URL (+ SLOTBOX_TOKEN_FILE)")

    def setup_instructions(self):
        return ["Start slotboxd, then set SLOTBOX_SOCKET=/run/slotbox/slotbox.sock",
                "(or SLOTBOX_URL=http://host:port and SLOTBOX_TOKEN_FILE=...),",
                "optionally SLOTBOX_PROFILE=<profile>."]

    def get_config_schema(self) -> Dict[str, Dict[str, Any]]:
        return {}

    def get_setup_schema(self) -> Dict[str, Any]:
        return {"name": self.display_name, "badge": "", "tag": "",
                "env_vars": [{"key": "SLOTBOX_SOCKET", "prompt": "slotboxd socket", "url": ""},
                             {"key": "SLOTBOX_URL", "prompt": "slotboxd URL", "url": ""},
                             {"key": "SLOTBOX_TOKEN_FILE", "prompt": "token file", "url": ""},
                             {"key": "SLOTBOX_PROFILE", "prompt": "profile", "url": ""}]}

    def create_environment(self, *, cwd: str = "", timeout: int = 60, task_id: str = "default",
                           image: Optional[str] = None,
                           container_config: Optional[Dict[str, Any]] = None, **kwargs: Any):
        """One slot per task_id; image and container sizes are the profile's
        (SLOTBOX_PROFILE), so they are not taken from here."""
        del image, container_config
        return SlotboxEnvironment(cwd=cwd, timeout=timeout, task_id=task_id,
                                  env=kwargs.get("env"))


def register(ctx) -> None:
    """Hermes plugin entry: registers the "slotbox" terminal backend."""
    ctx.register_terminal_environment_provider(SlotboxProvider())
