# SPDX-License-Identifier: Apache-2.0
"""`slotbox exec -it`, `attach`, `ps` and `kill` against the real daemon,
driven through a real terminal: tmux runs a local shell, keys are sent
with send-keys and the screen is read with capture-pane. Also runs
tests/c/proc_check.c (libslotbox's API 1.1 calls, TAP).

Every wait below ends as soon as the awaited text is on the screen;
PATIENCE_S only bounds "never"."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import BUILD, SMALL_POOL, Daemon
from slotbox import Client

SLOTBOX = os.path.join(BUILD, "slotbox")
PATIENCE_S = 20


@pytest.fixture(scope="module")
def tty_daemon():
    tmp = tempfile.mkdtemp(prefix="sbx-tty-", dir="/tmp")
    d = Daemon(tmp, SMALL_POOL)
    d.start()
    yield d
    rc = d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0, d.read_log()


@pytest.fixture
def slot(tty_daemon):
    with Client(tty_daemon.socket) as c:
        s = c.acquire("tty")
        yield s.slot_id
        c.release(s)


class Tmux:
    """A private tmux server (its own socket) with one window running a
    plain local bash whose prompt is 'local$ '."""

    def __init__(self, cols=100, rows=30):
        if not shutil.which("tmux"):
            pytest.skip("tmux is not installed (scripts/deps installs it)")
        self.name = "sbtest-" + uuid.uuid4().hex[:8]
        env = dict(os.environ, TERM="xterm-256color")
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(cols),
                 "-y", str(rows), "bash --norc --noprofile", env=env)
        self.run("set-option", "-t", "t", "status", "off")
        self.line("PS1='loc''al$ '")  # typed so that the line itself does not match
        self.wait_for("local$")

    def run(self, *args, env=None):
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True,
                              check=True, env=env, timeout=PATIENCE_S).stdout

    def send(self, *keys):
        self.run("send-keys", "-t", "t", *keys)

    def line(self, text):
        self.send("-l", text)
        self.send("Enter")

    def screen(self):
        return self.run("capture-pane", "-p", "-J", "-t", "t", "-S", "-200")

    def lines(self):
        return [ln.rstrip() for ln in self.screen().splitlines()]

    def wait_for(self, text, exact_line=False, count=1):
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            lines = self.lines()
            n = sum(1 for ln in lines if (ln == text if exact_line else text in ln))
            if n >= count:
                return lines
            time.sleep(0.05)
        raise AssertionError(f"never saw {text!r} on the screen:\n" + self.screen())

    def size(self):
        rows, cols = self.run("display-message", "-p", "-t", "t",
                              "#{pane_height} #{pane_width}").split()
        return int(rows), int(cols)

    def resize(self, cols, rows):
        self.run("resize-window", "-t", "t", "-x", str(cols), "-y", str(rows))

    def pane_pid(self):
        return int(self.run("display-message", "-p", "-t", "t", "#{pane_pid}"))

    def kill(self):
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.kill()


def sb_line(daemon, *args):
    return " ".join([SLOTBOX, "--socket", daemon.socket, *args])


def local_stty(tmux, tag):
    """The local terminal's settings (stty -g) as the local shell sees them."""
    tmux.line(f"echo {tag}=$(stty -g)")
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        for ln in tmux.lines():
            if ln.startswith(f"{tag}=") and ":" in ln:
                return ln.split("=", 1)[1]
        time.sleep(0.05)
    raise AssertionError(tmux.screen())


def test_exec_it_bash_in_tmux(tty_daemon, slot, tmux):
    before = local_stty(tmux, "BEFORE")
    # (rem''ote: the typed line itself must not match what we wait for)
    tmux.line(sb_line(tty_daemon, "exec", "-it", "-e", "MARK=remote-side", slot, "--",
                      "env", "PS1=rem''ote#", "bash", "--norc", "--noprofile", "-i")
              + "; echo EXIT=$?")
    tmux.wait_for("remote#")
    tmux.line("echo $((6*7))")
    tmux.wait_for("42", exact_line=True)
    rows, cols = tmux.size()
    tmux.line("stty size; tty; echo TERM=$TERM")
    tmux.wait_for(f"{rows} {cols}", exact_line=True)
    lines = tmux.wait_for("TERM=xterm-256color", exact_line=True)
    assert any(ln.startswith("/dev/pts/") for ln in lines), lines
    tmux.resize(cols + 20, rows + 10)
    nrows, ncols = tmux.size()
    assert (nrows, ncols) != (rows, cols)
    tmux.line("stty size")
    tmux.wait_for(f"{nrows} {ncols}", exact_line=True)
    # ^C is a byte for the remote terminal: it stops the remote sleep,
    # not the CLI (whose end would print EXIT=)
    tmux.line("sleep 60; echo after-sleep")
    time.sleep(0.3)
    tmux.send("C-c")
    tmux.line("echo mark=$MARK")
    tmux.wait_for("mark=remote-side", exact_line=True)
    stripped = [ln.strip() for ln in tmux.lines()]
    assert "after-sleep" not in stripped
    assert not any(ln.startswith("EXIT=") for ln in stripped)
    tmux.line("exit 3")
    tmux.wait_for("EXIT=3", exact_line=True)
    after = local_stty(tmux, "AFTER")
    assert after == before  # raw mode undone
    tmux.line("echo local-$((1+1))")
    tmux.wait_for("local-2", exact_line=True)


def test_exec_it_python_repl_in_tmux(tty_daemon, slot, tmux):
    tmux.line(sb_line(tty_daemon, "exec", "-it", slot, "--", "python3", "-q")
              + "; echo EXIT=$?")
    tmux.wait_for(">>>")
    tmux.line("print(6*7)")
    tmux.wait_for("42", exact_line=True)
    tmux.line("import time; time.sleep(60)")
    time.sleep(0.3)
    tmux.send("C-c")
    tmux.wait_for("KeyboardInterrupt")
    tmux.line("import os, sys; print(os.isatty(0), os.get_terminal_size())")
    rows, cols = tmux.size()
    tmux.wait_for(f"True os.terminal_size(columns={cols}, lines={rows})", exact_line=True)
    tmux.line("raise SystemExit(5)")
    tmux.wait_for("EXIT=5", exact_line=True)


def test_terminal_restored_when_the_cli_is_killed(tty_daemon, slot, tmux):
    before = local_stty(tmux, "BEFORE")
    tmux.line(sb_line(tty_daemon, "exec", "-it", slot, "--", "cat") + "; echo EXIT=$?")
    shell = tmux.pane_pid()

    def cli_pid():
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        st = f.read()
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        argv0 = f.read().split(b"\0")[0]
                except OSError:
                    continue
                if int(st.rsplit(")", 1)[1].split()[1]) == shell and argv0 == SLOTBOX.encode():
                    return int(d)
        return None

    deadline = time.monotonic() + PATIENCE_S
    pid = None
    while pid is None and time.monotonic() < deadline:
        pid = cli_pid()
        time.sleep(0.05)
    assert pid, "the CLI never started"
    tmux.line("typed-into-cat")
    tmux.wait_for("typed-into-cat", count=2)  # echoed by the pty and by cat
    os.kill(pid, signal.SIGTERM)
    tmux.wait_for(f"EXIT={128 + signal.SIGTERM}", exact_line=True)
    assert local_stty(tmux, "AFTER") == before


def test_attach_gets_the_ring_then_live_output(tty_daemon, slot, tmux):
    with Client(tty_daemon.socket) as c:
        p = c.start_process(slot, "echo before-attach; read x; echo got-$x; exit 6", pty=True)
        assert "before-attach" in p.output(wait_s=5).text
        tmux.line(sb_line(tty_daemon, "attach", slot, p.process_id) + "; echo EXIT=$?")
        tmux.wait_for("before-attach", exact_line=True)  # from its ring
        tmux.line("hello")
        try:
            tmux.wait_for("got-hello", exact_line=True)  # live
        except AssertionError as e:
            # seen twice in CI (the exit came, this line never did): it was
            # lost before the daemon's ring, at the terminal's hangup
            # (test_pty.py's last test); this still tells one from a loss
            # between the ring and here
            ring = p.output(since=0)
            raise AssertionError(f"{e}\nthe daemon's ring: {ring.text!r}, "
                                 f"running {ring.running}, exit {ring.exit_code}") from None
        tmux.wait_for("EXIT=6", exact_line=True)

        q = c.start_process(slot, "echo cat-ready; exec cat", pty=True)
        tmux.line(sb_line(tty_daemon, "attach", slot, q.process_id) + "; echo EXIT=$?")
        tmux.wait_for("cat-ready", exact_line=True)  # attached: keys go there now
        tmux.line("ping")
        tmux.wait_for("ping", exact_line=True, count=2)
        tmux.send("C-]")  # detach: the process keeps running
        tmux.wait_for("slotbox: detached")
        tmux.wait_for("EXIT=0", exact_line=True)
        assert any(x["process_id"] == q.process_id and x["running"] for x in c.processes(slot))
        q.kill()


def test_attach_to_a_process_on_pipes(tty_daemon, slot, tmux):
    """No pty: the local terminal stays as it is (lines as typed, echoed
    here) and Ctrl-C is sent on as INT."""
    with Client(tty_daemon.socket) as c:
        p = c.start_process(slot, "trap 'echo got-int; exit 8' INT; echo ready; "
                                  "while read l; do echo line:$l; done")
        assert p.output(wait_s=5).text == "ready\n"
        before = local_stty(tmux, "BEFORE")
        tmux.line(sb_line(tty_daemon, "attach", slot, p.process_id) + "; echo EXIT=$?")
        tmux.wait_for("ready", exact_line=True)
        tmux.line("abc")
        tmux.wait_for("line:abc", exact_line=True)
        tmux.send("C-c")
        tmux.wait_for("got-int")  # after the "^C" the local terminal echoed
        tmux.wait_for("EXIT=8", exact_line=True)
        assert local_stty(tmux, "AFTER") == before


def test_exec_t_without_a_terminal(tty_daemon, slot):
    sb = [SLOTBOX, "--socket", tty_daemon.socket]
    p = subprocess.run(sb + ["exec", "-t", slot, "--", "tty"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=PATIENCE_S)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"/dev/pts/") and p.stdout.endswith(b"\r\n")
    p = subprocess.run(sb + ["exec", "-t", slot, "-c", "echo out; exit 5"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=PATIENCE_S)
    assert p.returncode == 5 and p.stdout == b"out\r\n"
    p = subprocess.run(sb + ["exec", "-it", slot, "--", "head", "-1"], input=b"piped line\n",
                       capture_output=True, timeout=PATIENCE_S)
    assert p.returncode == 0 and b"piped line" in p.stdout
    # non-tty exec is unchanged: separate streams, no \r
    p = subprocess.run(sb + ["exec", slot, "-c", "echo out; echo err >&2; exit 2"],
                       capture_output=True, timeout=PATIENCE_S)
    assert (p.returncode, p.stdout, p.stderr) == (2, b"out\n", b"err\n")
    p = subprocess.run(sb + ["exec", "-t", "--timeout", "5", slot, "--", "true"],
                       capture_output=True, timeout=PATIENCE_S)
    assert p.returncode == 2 and b"no --timeout" in p.stderr


def test_attach_to_a_process_that_has_ended(tty_daemon, slot):
    """The whole answer (head, output, result, end) then comes in one
    read: the CLI must not wait on the socket for more. It did, for
    ever, when `exec -t` met a command that ended before its stream was
    asked for (a loaded machine)."""
    sb = [SLOTBOX, "--socket", tty_daemon.socket]
    with Client(tty_daemon.socket) as c:
        for pty in (True, False):
            p = c.start_process(slot, "echo all-done; exit 4", pty=pty)
            deadline = time.monotonic() + PATIENCE_S
            while p.output(since=0).running and time.monotonic() < deadline:
                time.sleep(0.02)
            r = subprocess.run(sb + ["attach", "--no-stdin", slot, p.process_id],
                               capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=PATIENCE_S)
            assert r.returncode == 4, (pty, r)
            assert r.stdout.replace(b"\r", b"") == b"all-done\n", (pty, r)


def test_ps_and_kill(tty_daemon, slot):
    sb = [SLOTBOX, "--socket", tty_daemon.socket]
    with Client(tty_daemon.socket) as c:
        a = c.start_process(slot, "trap 'exit 9' TERM; echo armed; while :; do sleep 0.05; done")
        b = c.start_process(slot, "sleep 300")
        assert a.output(wait_s=5).text == "armed\n"
        out = subprocess.run(sb + ["ps", slot], capture_output=True, text=True,
                             timeout=PATIENCE_S, check=True).stdout.splitlines()
        assert out[0].split()[:3] == ["PROCESS_ID", "PID", "STATE"]
        rows = {ln.split()[0]: ln for ln in out[1:]}
        assert "running" in rows[a.process_id] and "sleep 300" in rows[b.process_id]
        pid_col, state, started = rows[a.process_id].split()[1:4]
        assert int(pid_col) > 0 and state == "running"
        assert time.strftime("%Y-%m-%dT", time.gmtime()) in started  # ISO UTC
        p = subprocess.run(sb + ["kill", "-s", "TERM", slot, a.process_id], capture_output=True,
                           timeout=PATIENCE_S)
        assert p.returncode == 0, p.stderr
        assert a.wait(timeout=PATIENCE_S) == 9
        p = subprocess.run(sb + ["kill", slot, b.process_id], capture_output=True,
                           timeout=PATIENCE_S)
        assert p.returncode == 0, p.stderr

        def listed():
            doc = json.loads(subprocess.run(sb + ["ps", "--json", slot], capture_output=True,
                                            timeout=PATIENCE_S, check=True).stdout)
            return {x["process_id"]: x for x in doc["processes"]}
        deadline = time.monotonic() + PATIENCE_S
        while b.process_id in listed() and time.monotonic() < deadline:
            time.sleep(0.05)
        now = listed()
        assert b.process_id not in now  # killed: its tree is gone and so is its record
        assert now[a.process_id]["exit_code"] == 9 and not now[a.process_id]["running"]
        p = subprocess.run(sb + ["kill", slot, "no-such-process"], capture_output=True,
                           timeout=PATIENCE_S)
        assert p.returncode == 125 and b"404" in p.stderr
        p = subprocess.run(sb + ["kill", "-s", "99", slot, a.process_id], capture_output=True,
                           timeout=PATIENCE_S)
        assert p.returncode == 2


def test_c_library_process_checks(tty_daemon):
    p = subprocess.run([os.path.join(BUILD, "proc_check"), tty_daemon.socket],
                       capture_output=True, encoding="utf-8", errors="replace", timeout=180)
    assert "not ok" not in p.stdout, p.stdout + p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1..30" in p.stdout, p.stdout
