# SPDX-License-Identifier: Apache-2.0
"""Sandbox inits are forked by a pre-started `slotbox-init --zygote`
(src/init/init_zygote.c, src/sandbox/zygote.c) instead of an exec each:
the init is still the daemon's child (CLONE_PARENT), shows its own argv,
holds none of the zygote's descriptors, and the daemon copes with a zygote
that dies (a new one) or is turned off (SLOTBOX_ZYGOTE=0: exec as before)."""
import os
import signal
import time

from conftest import api
from test_core import acquire as acquire_body
from test_spares import ONE_SLOT

TWO_SANDBOXES = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 4
"""


def children(ppid):
    """{pid: argv} of ppid's children."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            out[int(p)] = [a.decode() for a in argv]
    return out


def zygotes(d):
    return [p for p, argv in children(d.proc.pid).items() if argv[1:] == ["--zygote"]]


def init_of(d, sandbox_id):
    inits = [p for p, argv in children(d.proc.pid).items()
             if argv[1:3] == ["--id", sandbox_id]]
    assert len(inits) == 1, children(d.proc.pid)
    return inits[0]


def text_base(pid):
    """Where the slotbox-init binary's first mapping sits (PIE: random per exec)."""
    exe = os.readlink(f"/proc/{pid}/exe")
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            if line.rstrip().endswith(exe):
                return line.split("-")[0]
    raise AssertionError(f"no mapping of {exe} in {pid}")


def fd_targets(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


def run_ok(c, sid):
    r = api(c, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": "echo hi"}}, 200)
    assert r["success"] and r["metadata"]["stdout"] == "hi\n", r


def lease(c):
    sid = acquire_body(c, timeout_s=20)["slot_id"]
    return sid, sid.split("_slot_")[0]


def test_inits_are_forked_by_the_zygote_as_the_daemons_children(make_daemon):
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid, sb = lease(c)
    run_ok(c, sid)
    [z] = zygotes(d)
    init = init_of(d, sb)  # a child of the daemon, its argv its own
    assert os.readlink(f"/proc/{init}/exe") == os.readlink(f"/proc/{z}/exe")
    # Forked, not exec'd: the binary sits where the zygote's does (an exec
    # of a PIE gets a new random base).
    assert text_base(init) == text_base(z)
    # Nothing of the zygote's: not its socket to the daemon.
    zsock = os.readlink(f"/proc/{z}/fd/3")
    assert zsock.startswith("socket:")
    assert zsock not in fd_targets(init)
    with open(f"/proc/{init}/status") as f:
        sig = {k: v.strip() for k, v in (l.split(":", 1) for l in f)}
    assert sig["PPid"] == str(d.proc.pid)


def test_a_dead_zygote_is_replaced_and_leaves_no_zombie(make_daemon):
    d = make_daemon(TWO_SANDBOXES)
    c = d.client()
    sid, _ = lease(c)
    [z] = zygotes(d)
    os.kill(z, signal.SIGKILL)
    sid2, sb2 = lease(c)  # needs a new sandbox: a new zygote makes it
    run_ok(c, sid2)
    run_ok(c, sid)
    [z2] = zygotes(d)
    assert z2 != z
    assert text_base(init_of(d, sb2)) == text_base(z2)
    assert z not in children(d.proc.pid), "the killed zygote was not reaped"


def two_execd_sandboxes(d):
    """Two sandboxes that work, started without a zygote: two execs, so
    two random bases."""
    c = d.client()
    a, sa = lease(c)
    b, sb = lease(c)
    run_ok(c, a)
    run_ok(c, b)
    assert zygotes(d) == []
    assert text_base(init_of(d, sa)) != text_base(init_of(d, sb))


def zygote_metrics(d):
    """slotbox_init_zygote and slotbox_init_zygote_failures_total from
    GET /metrics."""
    status, body = d.client().request("GET", "/metrics")
    assert status == 200
    text = body.decode()
    got = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("slotbox_init_zygote", "slotbox_init_zygote_failures_total"):
            got[name] = int(value)
    return got["slotbox_init_zygote"], got["slotbox_init_zygote_failures_total"]


def test_turned_off_inits_are_execd(make_daemon):
    d = make_daemon(TWO_SANDBOXES, env={"SLOTBOX_ZYGOTE": "0"})
    assert zygote_metrics(d) == (0, 0)
    two_execd_sandboxes(d)


def test_the_zygote_ends_with_the_daemon(make_daemon):
    d = make_daemon(ONE_SLOT)
    c = d.client()
    run_ok(c, lease(c)[0])
    [z] = zygotes(d)
    assert d.stop() == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{z}") and time.monotonic() < deadline:
        with open(f"/proc/{z}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break  # exited; its new parent reaps it
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{z}") or \
        open(f"/proc/{z}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"


def test_an_init_without_zygote_mode_is_execd_as_before(make_daemon, tmp_path):
    """An older slotbox-init (no --zygote: it exits on the option) never
    says the zygote's hello: the daemon asks it for nothing, starts every
    sandbox by exec, and tries no zygote again."""
    real = os.path.join(os.environ.get("SLOTBOX_BUILD", "build"), "slotbox-init")
    old = tmp_path / "old-init"
    old.write_text('#!/bin/sh\n[ "$1" = --zygote ] && { echo "unrecognized option" >&2; exit 2; }\n'
                   f'exec {os.path.abspath(real)} "$@"\n')
    old.chmod(0o755)
    d = make_daemon(TWO_SANDBOXES, env={"SLOTBOX_INIT": str(old)})
    assert zygote_metrics(d) == (1, 0)  # not tried yet
    two_execd_sandboxes(d)
    assert zygote_metrics(d) == (0, 1)
    log = d.read_log()
    assert log.count("zygote_failed") == 1, log[-2000:]


def test_a_killed_daemon_takes_its_zygote_not_its_sandboxes(make_daemon):
    """kill -9 of the daemon: the zygote reads the end of its socket and
    exits; the inits it made (the daemon's children, not its) live on and
    are adopted by the next daemon, which starts a zygote of its own."""
    from test_faults import kill9
    d = make_daemon(TWO_SANDBOXES)
    c = d.client()
    sid, sb = lease(c)
    run_ok(c, sid)
    [z] = zygotes(d)
    init = init_of(d, sb)
    assert zygote_metrics(d) == (1, 0)
    kill9(d)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{z}/cmdline") and time.monotonic() < deadline:
        if not open(f"/proc/{z}/cmdline", "rb").read():
            break  # a zombie: it has exited
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{z}/cmdline") or \
        not open(f"/proc/{z}/cmdline", "rb").read(), "the zygote outlived its daemon"
    assert os.path.exists(f"/proc/{init}"), "the sandbox died with the daemon"
    d.start()
    c = d.client()
    run_ok(c, sid)  # adopted
    sid2, sb2 = lease(c)  # a new sandbox through the new daemon's zygote
    run_ok(c, sid2)
    [z2] = zygotes(d)
    assert z2 != z
