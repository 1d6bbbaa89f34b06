# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the seccomp filter and capability drop (issue 5):
every command a slot runs (and every file operation) runs as the slot's uid
with no capability in any set, an empty bounding set, no_new_privs and the
profile's seccomp filter. The tests pick calls an unprivileged process
could make without the filter (a user namespace, keyctl, clone3) so they
fail if the protection is missing, not only if the kernel refuses anyway."""
import os
import shutil
import subprocess

import pytest

import conftest
from conftest import SLOTBOXD, api

ONE_SLOT = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
"""

PROFILES = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
  open:
    seccomp: none
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
  keys:
    seccomp_allow: [keyctl]
    seccomp_deny: [mkdir, mkdirat]
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
"""

EPERM, ENOSYS = 1, 38

# Raw system calls through ctypes: prints "name=errno" (0 when it worked).
SYSCALLS_PY = r"""
import ctypes, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"x86_64": dict(mount=165, keyctl=250, add_key=248, bpf=321, clone3=435,
                     unshare=272, setns=308, perf_event_open=298),
      "aarch64": dict(mount=40, keyctl=219, add_key=217, bpf=280, clone3=435,
                      unshare=97, setns=268, perf_event_open=241)}[platform.machine()]
def call(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(NR[name], *args)
    print("%s=%d" % (name, 0 if r >= 0 else ctypes.get_errno()))
# a missing target: ENOENT without the filter, which checks first
call("mount", b"none", b"/nonexistent-target", b"tmpfs", 0, None)
call("keyctl", 0, ctypes.c_long(-3), 0)        # KEYCTL_GET_KEYRING_ID, session
call("add_key", b"user", b"k", b"v", 1, ctypes.c_long(-3))
call("bpf", 0, None, 0)
call("clone3", None, 0)                        # EINVAL without the filter
call("unshare", 0x10000000)                    # CLONE_NEWUSER
call("setns", 0, 0)                            # EINVAL without the filter
"""


def acquire(client, profile=None):
    body = {"trajectory_id": "sec"}
    if profile:
        body["profile"] = profile
    return api(client, "POST", "/v1/slots", body, 201)["slot_id"]


def run(client, slot, command, timeout_s=60):
    r = api(client, "POST", "/v1/slots/%s/exec" % slot,
            {"tool": "bash", "args": {"command": command},
             "timeout_s": timeout_s}, 200)
    return r["metadata"]


def status_fields(client, slot):
    md = run(client, slot, "cat /proc/self/status")
    assert md["returncode"] == 0, md
    out = {}
    for line in md["stdout"].splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def syscalls(client, slot):
    md = run(client, slot, "python3 - <<'EOF'\n%sEOF" % SYSCALLS_PY)
    assert md["returncode"] == 0, md
    return {k: int(v) for k, v in
            (line.split("=") for line in md["stdout"].split())}


def userns_allowed_on_host():
    """Can an unprivileged process make a user namespace here at all?"""
    for path, bad in (("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                      ("/proc/sys/user/max_user_namespaces", "0"),
                      ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                       "1")):
        try:
            with open(path) as f:
                if f.read().strip() == bad:
                    return False
        except OSError:
            pass
    return True


@pytest.fixture
def sec(make_daemon):
    return make_daemon(PROFILES).client()


def test_no_capabilities_no_new_privs_and_a_filter(sec):
    slot = acquire(sec)
    st = status_fields(sec, slot)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[key], 16) == 0, (key, st[key])
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    uid = st["Uid"].split()
    assert len(set(uid)) == 1 and int(uid[0]) >= 1000000, uid
    assert st["Groups"] == "", "supplementary groups must be cleared"
    # a child of the command inherits all of it
    md = run(sec, slot, "bash -c 'grep -E \"^(CapBnd|Seccomp):\" /proc/self/status'")
    assert md["stdout"].split() == ["CapBnd:", "0000000000000000", "Seccomp:", "2"]


@pytest.mark.skipif(not shutil.which("setpriv"), reason="no setpriv")
def test_capabilities_inherited_by_the_daemon_are_dropped(make_daemon, tmp_path,
                                                         monkeypatch):
    """A daemon started with inheritable and ambient capabilities (as a
    service manager may) passes none of them on: the uid change clears the
    ambient set, but only an explicit capset clears the inheritable one."""
    wrapper = tmp_path / "slotboxd"
    wrapper.write_text("#!/bin/sh\nexec setpriv --inh-caps=+net_raw,+sys_admin "
                       "--ambient-caps=+net_raw -- %s \"$@\"\n" % SLOTBOXD)
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "SLOTBOXD", str(wrapper))
    c = make_daemon(ONE_SLOT).client()
    slot = acquire(c)
    st = status_fields(c, slot)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[key], 16) == 0, (key, st[key])


def test_user_namespaces_are_refused(sec):
    slot = acquire(sec)
    for cmd in ("unshare -U true", "unshare -Ur true", "unshare -Urm true"):
        md = run(sec, slot, cmd + "; echo rc=$?")
        assert "rc=0" not in md["stdout"], (cmd, md)
        assert "Operation not permitted" in md["stderr"], (cmd, md)


def test_denied_calls_fail_with_eperm_and_clone3_with_enosys(sec):
    slot = acquire(sec)
    got = syscalls(sec, slot)
    assert got == {"mount": EPERM, "keyctl": EPERM, "add_key": EPERM,
                   "bpf": EPERM, "clone3": ENOSYS, "unshare": EPERM,
                   "setns": EPERM}, got


def test_ordinary_tools_still_work(sec):
    slot = acquire(sec)
    script = r"""
set -e
python3 -c '
import threading, subprocess, multiprocessing
out = []
ts = [threading.Thread(target=out.append, args=(i,)) for i in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
assert sorted(out) == list(range(16))
assert subprocess.run(["echo", "spawned"], capture_output=True).stdout == b"spawned\n"
with multiprocessing.Pool(2) as p:
    assert p.map(abs, [-1, -2]) == [1, 2]
print("python ok")
'
seq 1 1000 | sort -rn | head -n 1
echo "$(echo sub | tr a-z A-Z) $( (echo bg) & wait )"
git init -q repo && cd repo && git config user.email a@b && git config user.name a
echo x > f && git add f && git commit -qm one && git log --oneline | wc -l
"""
    md = run(sec, slot, script)
    assert md["returncode"] == 0, md
    assert md["stdout"].split("\n")[:4] == ["python ok", "1000", "SUB bg", "1"], md


# unshare(CLONE_NEWUSER) through the i386 ABI (int 0x80) from a 64-bit
# process: machine code in an executable page, called through ctypes.
I386_UNSHARE_PY = r"""
import ctypes, mmap
code = bytes.fromhex("53" "b836010000" "bb00000010" "cd80" "5b" "c3")
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
print(ctypes.CFUNCTYPE(ctypes.c_int)(addr)())
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 only")
def test_the_32bit_abi_is_filtered_not_killed(sec):
    """The filter covers the compat ABIs: a call through int 0x80 meets
    the same rule (EPERM) rather than no rule or a kill."""
    cmd = "python3 - <<'EOF'\n%sEOF" % I386_UNSHARE_PY
    md = run(sec, acquire(sec, "open"), cmd)
    if md["returncode"] != 0 or md["stdout"].strip() != "0":
        pytest.skip("no i386 ABI or no user namespaces here: %r" % md)
    md = run(sec, acquire(sec), cmd)
    assert md["returncode"] == 0, md
    assert md["stdout"].strip() == "-%d" % EPERM, md


def ptrace_allowed_on_host():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read()) < 2
    except OSError:
        return True


@pytest.mark.skipif(not ptrace_allowed_on_host(), reason="yama forbids ptrace")
def test_tracers_work_inside_the_slot(sec):
    slot = acquire(sec)
    if run(sec, slot, "command -v strace")["returncode"] != 0:
        pytest.skip("no strace on this host")
    md = run(sec, slot, "strace -f -e trace=execve -o /tmp/trace true && "
                        "grep -c execve /tmp/trace")
    assert md["returncode"] == 0 and int(md["stdout"]) >= 1, md
    if run(sec, slot, "command -v gdb")["returncode"] == 0:
        md = run(sec, slot, "gdb -q -batch -ex run -ex 'info inferiors' "
                            "--args /bin/true 2>&1")
        assert md["returncode"] == 0 and "exited normally" in md["stdout"], md


def test_file_operations_still_work(sec):
    slot = acquire(sec)
    api(sec, "POST", "/v1/slots/%s/exec" % slot,
        {"tool": "write_file", "args": {"path": "a.txt", "content": "hi"}}, 200)
    r = api(sec, "POST", "/v1/slots/%s/exec" % slot,
            {"tool": "read_file", "args": {"path": "a.txt"}}, 200)
    assert r["success"] is True and "hi" in r["output"], r


def test_seccomp_none_is_what_lets_user_namespaces_through(sec):
    slot = acquire(sec, "open")
    st = status_fields(sec, slot)
    assert st["Seccomp"] == "0"
    # the rest of the confinement does not depend on the filter
    assert st["NoNewPrivs"] == "1" and int(st["CapBnd"], 16) == 0
    assert int(st["CapEff"], 16) == 0
    got = syscalls(sec, slot)
    assert got["clone3"] != ENOSYS and got["mount"] != EPERM, got
    assert got["keyctl"] == 0, got
    if not userns_allowed_on_host():
        pytest.skip("this host forbids unprivileged user namespaces")
    md = run(sec, slot, "unshare -U true")
    assert md["returncode"] == 0, md


def test_profile_allow_and_deny_lists(sec):
    slot = acquire(sec, "keys")
    got = syscalls(sec, slot)
    assert got["keyctl"] == 0, got          # allowed by the profile
    assert got["add_key"] == EPERM, got     # still on the default list
    assert got["clone3"] == ENOSYS, got
    md = run(sec, slot, "mkdir d")                 # denied by the profile
    assert md["returncode"] != 0, md
    assert "Operation not permitted" in md["stderr"], md
    md = run(sec, slot, "unshare -U true")
    assert md["returncode"] != 0, md


def test_profiles_report_the_policy(sec):
    p = api(sec, "GET", "/v1/profiles", None, 200)["profiles"]
    d = p["default"]
    assert d["seccomp"] == "default"
    assert d["seccomp_deny"] == [] and d["seccomp_allow"] == []
    rules = d["seccomp_rules"]
    assert rules["mount"] == "EPERM" and rules["keyctl"] == "EPERM"
    assert rules["clone3"] == "ENOSYS"
    assert rules["unshare"] == "EPERM when flags include CLONE_NEWUSER"
    assert p["open"]["seccomp"] == "none" and p["open"]["seccomp_rules"] == {}
    k = p["keys"]
    assert k["seccomp_allow"] == ["keyctl"]
    assert k["seccomp_deny"] == ["mkdir", "mkdirat"]
    assert "keyctl" not in k["seccomp_rules"]
    assert k["seccomp_rules"]["mkdirat"] == "EPERM"


def start_fails(tmp_path, profile, env=None):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(profile)
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "state"), "--config",
                        str(cfg)],
                       capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, **(env or {})))
    assert p.returncode != 0
    return p.stderr


@pytest.mark.parametrize("profile,needles", [
    ("profiles:\n  default:\n    seccomp_deny: [mount, not_a_call]\n",
     ['p.yaml:3: profile "default": key "seccomp_deny": unknown system '
      'call "not_a_call"']),
    ("profiles:\n  big:\n    seccomp_allow: [read]\n",
     ['profile "big": key "seccomp_allow": "read" is not on the default '
      'deny list']),
    ("profiles:\n  a:\n    seccomp: strict\n",
     ['profile "a": key "seccomp": seccomp mode "strict" is not supported']),
    ("profiles:\n  a:\n    seccomp_deny: [keyctl]\n    seccomp_allow: [keyctl]\n",
     ['profile "a": system call "keyctl" is in both seccomp_deny and '
      'seccomp_allow']),
])
def test_bad_seccomp_settings_stop_the_daemon(tmp_path, profile, needles):
    err = start_fails(tmp_path, profile)
    for needle in needles:
        assert needle in err, err


def test_bad_seccomp_environment_stops_the_daemon(tmp_path):
    err = start_fails(tmp_path, "profiles: {}\n",
                      {"SLOTBOX_PROFILE_DEFAULT_SECCOMP_DENY": "mount,nope"})
    assert ("environment variable SLOTBOX_PROFILE_DEFAULT_SECCOMP_DENY: key "
            "\"seccomp_deny\": unknown system call \"nope\"") in err, err
