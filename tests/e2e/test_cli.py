# SPDX-License-Identifier: Apache-2.0
"""The `slotbox` CLI and libslotbox against the real daemon.

Every command is run as a user would run it, with its output and exit code
checked, including the error paths. The C library's own checks run as
tests/c/client_check.c (TAP) against the same daemon.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, SMALL_POOL, Daemon

SLOTBOX = os.path.join(BUILD, "slotbox")


@pytest.fixture(scope="module")
def cli_daemon():
    tmp = tempfile.mkdtemp(prefix="sbx-cli-", dir="/tmp")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("s3cret-token-0123456789\n")
    os.chmod(token, 0o600)  # a token others can read is refused
    d = Daemon(tmp, SMALL_POOL, args=["--listen", "tcp://127.0.0.1:0",
                                      "--token-file", token])
    d.token_file = token
    d.start()
    yield d
    rc = d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0, d.read_log()


def sb(daemon, *args, stdin=None, timeout=60, check_rc=None):
    p = subprocess.run([SLOTBOX, "--socket", daemon.socket, *args], input=stdin,
                       capture_output=True, timeout=timeout)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stdout, p.stderr)
    return p


@pytest.fixture
def slot(cli_daemon):
    s = sb(cli_daemon, "acquire", check_rc=0).stdout.decode().strip()
    yield s
    sb(cli_daemon, "release", s)


def leased(daemon):
    doc = json.loads(sb(daemon, "--json", "status", check_rc=0).stdout)
    return doc["pools"]["default"]["leased_slots"]


def test_c_library_checks(cli_daemon):
    p = subprocess.run([os.path.join(BUILD, "client_check"), cli_daemon.socket],
                       capture_output=True, text=True, timeout=120)
    assert "not ok" not in p.stdout, p.stdout
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1..34" in p.stdout


def test_status_and_profiles_tables_and_json(cli_daemon):
    out = sb(cli_daemon, "status", check_rc=0).stdout.decode().splitlines()
    assert out[0].split()[:3] == ["PROFILE", "SANDBOXES", "HEALTHY"]
    assert out[1].split()[0] == "default"
    doc = json.loads(sb(cli_daemon, "status", "--json", check_rc=0).stdout)
    assert doc["pools"]["default"]["max_sandboxes"] == 2
    rows = sb(cli_daemon, "profiles", check_rc=0).stdout.decode().splitlines()
    default = [r.split() for r in rows if r.startswith("default ")][0]
    assert default[1] == "host" and default[-1] == "*"
    doc = json.loads(sb(cli_daemon, "--json", "profiles", check_rc=0).stdout)
    assert doc["default_profile"] == "default"
    assert sb(cli_daemon, "status", "extra").returncode == 2


def test_acquire_prints_id_and_json(cli_daemon):
    p = sb(cli_daemon, "acquire", "--json", "--trajectory-id", "t-9",
           check_rc=0)
    s = json.loads(p.stdout)
    assert s["state"] == "acquired" and s["trajectory_id"] == "t-9"
    assert leased(cli_daemon) == 1
    sb(cli_daemon, "release", s["slot_id"], check_rc=0)
    assert leased(cli_daemon) == 0


def test_acquire_errors(cli_daemon):
    p = sb(cli_daemon, "acquire", "--profile", "nope")
    assert p.returncode == 125
    assert b"unknown_profile" in p.stderr and b"nope" in p.stderr
    assert sb(cli_daemon, "acquire", "--timeout", "soon").returncode == 2
    assert sb(cli_daemon, "acquire", "--cwd", "/").returncode == 2


def test_exec_passes_words_exactly_and_exit_codes(cli_daemon, slot):
    p = sb(cli_daemon, "exec", slot, "--", "printf", "%s|", "a b", "it's",
           "$HOME", "*", check_rc=0)
    assert p.stdout == b"a b|it's|$HOME|*|"
    p = sb(cli_daemon, "exec", slot, "-c", "echo out; echo err >&2; exit 7")
    assert (p.returncode, p.stdout, p.stderr) == (7, b"out\n", b"err\n")
    assert sb(cli_daemon, "exec", slot, "--", "sh", "-c",
              "kill -9 $$").returncode == 137
    assert sb(cli_daemon, "exec", slot, "--", "no-such-cmd").returncode == 127


def test_exec_options(cli_daemon, slot):
    sb(cli_daemon, "exec", slot, "--", "mkdir", "sub", check_rc=0)
    p = sb(cli_daemon, "exec", "-e", "A=1", "-e", "B=two words", "--cwd",
           "sub", slot, "-c", 'echo "$A $B $(pwd)"', check_rc=0)
    assert p.stdout == b"1 two words /workspace/sub\n"
    p = sb(cli_daemon, "exec", "-i", slot, "--", "wc", "-l", stdin=b"a\nb\n",
           check_rc=0)
    assert p.stdout.strip() == b"2"
    p = sb(cli_daemon, "exec", "--timeout", "0.5", slot, "--", "sleep", "30")
    assert p.returncode == 124 and b"timed out" in p.stderr
    p = sb(cli_daemon, "exec", "--json", slot, "-c", "echo hi; exit 4")
    assert p.returncode == 4
    r = json.loads(p.stdout)
    assert r["success"] is False and r["metadata"]["stdout"] == "hi\n"


def test_exec_errors(cli_daemon, slot):
    assert sb(cli_daemon, "exec", slot).returncode == 2
    assert sb(cli_daemon, "exec").returncode == 2
    assert sb(cli_daemon, "exec", slot, "-c", "x", "--", "y").returncode == 2
    assert sb(cli_daemon, "exec", "-e", "NOEQ", slot, "-c", "x").returncode == 2
    p = sb(cli_daemon, "exec", "default-00000000_slot_9", "--", "true")
    assert p.returncode == 125 and b"not_found" in p.stderr
    p = sb(cli_daemon, "exec", "-i", slot, "--", "cat", stdin=b"a\0b")
    assert p.returncode == 125 and b"NUL" in p.stderr


def test_release_errors_and_keep_workspace(cli_daemon):
    s = sb(cli_daemon, "acquire", check_rc=0).stdout.decode().strip()
    sb(cli_daemon, "release", "--keep-workspace", s, check_rc=0)
    p = sb(cli_daemon, "release", s)
    assert p.returncode == 125 and b"slot_not_leased" in p.stderr
    assert sb(cli_daemon, "release").returncode == 2
    assert sb(cli_daemon, "release", "a", "b").returncode == 2


def test_run_acquires_execs_and_releases(cli_daemon):
    p = sb(cli_daemon, "run", "--", "sh", "-c", "echo $PWD; exit 5")
    assert p.returncode == 5 and p.stdout == b"/workspace\n"
    assert leased(cli_daemon) == 0
    p = sb(cli_daemon, "run", "--profile", "nope", "--", "true")
    assert p.returncode == 125 and b"unknown_profile" in p.stderr
    assert sb(cli_daemon, "run").returncode == 2


def test_run_interrupted_still_releases(cli_daemon):
    p = subprocess.Popen([SLOTBOX, "--socket", cli_daemon.socket, "run", "--",
                          "sleep", "60"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while leased(cli_daemon) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leased(cli_daemon) == 1
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 130
    assert leased(cli_daemon) == 0


def test_cp_both_ways(cli_daemon, slot, tmp_path):
    blob = bytes(range(256)) * 64
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    sb(cli_daemon, "cp", str(src), slot + ":data/", check_rc=0)
    p = sb(cli_daemon, "exec", slot, "--", "sha256sum", "data/blob.bin",
           check_rc=0)
    assert p.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    sb(cli_daemon, "cp", slot + ":data/blob.bin", str(tmp_path / "back"),
       check_rc=0)
    assert (tmp_path / "back").read_bytes() == blob
    outdir = tmp_path / "dir"
    outdir.mkdir()
    sb(cli_daemon, "cp", slot + ":/workspace/data/blob.bin", str(outdir),
       check_rc=0)
    assert (outdir / "blob.bin").read_bytes() == blob
    sb(cli_daemon, "cp", "-", slot + ":note.txt", stdin=b"hi there", check_rc=0)
    assert sb(cli_daemon, "cp", slot + ":note.txt", "-",
              check_rc=0).stdout == b"hi there"


def test_cp_errors(cli_daemon, slot, tmp_path):
    p = sb(cli_daemon, "cp", str(tmp_path / "missing"), slot + ":x")
    assert p.returncode == 125 and b"No such file" in p.stderr
    p = sb(cli_daemon, "cp", slot + ":missing", str(tmp_path / "x"))
    assert p.returncode == 125 and b"not_found" in p.stderr
    p = sb(cli_daemon, "cp", slot + ":../../etc/passwd", "-")
    assert p.returncode == 125 and b"path_outside_workspace" in p.stderr
    assert sb(cli_daemon, "cp", "a", "b").returncode == 2
    assert sb(cli_daemon, "cp", "a").returncode == 2


def test_global_errors():
    p = subprocess.run([SLOTBOX, "--socket", "/nonexistent/s.sock", "status"],
                       capture_output=True)
    assert p.returncode == 125 and b"is slotboxd running?" in p.stderr
    p = subprocess.run([SLOTBOX, "frobnicate"], capture_output=True)
    assert p.returncode == 2 and b"unknown command" in p.stderr
    assert subprocess.run([SLOTBOX], capture_output=True).returncode == 2
    p = subprocess.run([SLOTBOX, "--version"], capture_output=True)
    assert p.returncode == 0 and p.stdout.startswith(b"slotbox ")
    p = subprocess.run([SLOTBOX, "--help"], capture_output=True)
    assert p.returncode == 0 and b"cp SRC DST" in p.stdout


def tcp_url(daemon):
    m = re.search(r'listening.*?port\W+(\d+)', daemon.read_log())
    assert m, daemon.read_log()
    return "http://127.0.0.1:" + m.group(1)


def test_tcp_with_token(cli_daemon, tmp_path):
    url = tcp_url(cli_daemon)
    p = subprocess.run([SLOTBOX, "--url", url, "--token-file",
                        cli_daemon.token_file, "run", "--", "echo", "tcp"],
                       capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, b"tcp\n"), p.stderr
    p = subprocess.run([SLOTBOX, "--url", url, "status"], capture_output=True)
    assert p.returncode == 125 and b"unauthorized" in p.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    p = subprocess.run([SLOTBOX, "--url", url, "--token-file", str(wrong),
                        "status"], capture_output=True)
    assert p.returncode == 125 and b"unauthorized" in p.stderr
    p = subprocess.run([SLOTBOX, "--url", "ftp://x", "status"],
                       capture_output=True)
    assert p.returncode == 125 and b"http://" in p.stderr


def test_ttl_and_renew(cli_daemon):
    s = json.loads(sb(cli_daemon, "acquire", "--json", "--ttl", "30",
                      check_rc=0).stdout)
    assert s["ttl_s"] == 30
    sb(cli_daemon, "renew", s["slot_id"], check_rc=0)
    sb(cli_daemon, "renew", "--ttl", "0", s["slot_id"], check_rc=0)
    sb(cli_daemon, "release", s["slot_id"], check_rc=0)
    p = sb(cli_daemon, "renew", s["slot_id"])
    assert p.returncode == 125 and b"slot_not_leased" in p.stderr
    assert sb(cli_daemon, "renew").returncode == 2
    assert sb(cli_daemon, "renew", "--ttl", "x", s["slot_id"]).returncode == 2
