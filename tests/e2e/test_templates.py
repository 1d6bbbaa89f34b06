# SPDX-License-Identifier: Apache-2.0
"""Issue 8: workspace templates, forks and snapshots, against the real daemon.

Every workspace comparison is a tree hash computed inside the slot by one
bash command: each entry's relative path, type, mode, size (files) or link
target, plus the sha256 of every file, hashed again. The same command run
on the host over the template dir gives the expected value."""
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from conftest import SLOTBOXD, api

# Entries sorted by name; directories' sizes differ between filesystems
# and owners between slots, so neither is part of the hash.
TREE_HASH = (
    "cd {d} && {{ "
    "find . -mindepth 1 \\( -type f -printf '%P f %m %s\\n' \\) -o "
    "\\( ! -type f -printf '%P %y %m %l\\n' \\) | LC_ALL=C sort; "
    "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; "
    "}} | sha256sum | cut -d' ' -f1")


def make_template(root, dirs=100, files=100):
    """dirs x files small files (distinct contents) plus a symlink, an
    executable, an empty dir and a read-only file."""
    os.makedirs(root)
    for d in range(dirs):
        sub = os.path.join(root, f"d{d:03}")
        os.mkdir(sub)
        for f in range(files):
            with open(os.path.join(sub, f"f{f:03}.txt"), "w") as fh:
                fh.write(f"file {d}/{f}\n" * (1 + (d + f) % 7))
    with open(os.path.join(root, "run.sh"), "w") as fh:
        fh.write("#!/bin/sh\necho template-script\n")
    os.chmod(os.path.join(root, "run.sh"), 0o755)
    os.symlink("d000/f000.txt", os.path.join(root, "link"))
    os.mkdir(os.path.join(root, "empty"))
    with open(os.path.join(root, "readonly.txt"), "w") as fh:
        fh.write("ro\n")
    os.chmod(os.path.join(root, "readonly.txt"), 0o444)
    return root


def host_hash(path):
    return subprocess.run(["bash", "-c", TREE_HASH.format(d=path)],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def template():
    tmp = tempfile.mkdtemp(prefix="sbx-tpl-", dir="/tmp")
    root = make_template(os.path.join(tmp, "repo"))
    yield root, host_hash(root)
    shutil.rmtree(tmp)


def pool_yaml(tpl, slots=8, sandboxes=5, minimum=1, extra=""):
    return f"""
profiles:
  default:
    slots_per_sandbox: {slots}
    min_sandboxes: {minimum}
    max_sandboxes: {sandboxes}
    acquire_timeout_s: 60
    execution_timeout_s: 120
    workspace_template: {tpl}
{extra}"""


def started(make_daemon, yaml):
    """A daemon with a template: copying one of 10,000 files to the state
    dir takes seconds on a slow disk, longer than the fixture waits."""
    d = make_daemon(yaml, start=False)
    d.start(wait=False)
    d.wait_ready(timeout=180)
    return d


def restart(d):
    d.stop()
    d.start(wait=False)
    d.wait_ready(timeout=180)


def start_fails(tmp, tpl):
    """slotboxd with this template must refuse to start; its stderr."""
    cfg = os.path.join(tmp, "bad.yaml")
    with open(cfg, "w") as f:
        f.write(pool_yaml(tpl))
    r = subprocess.run([SLOTBOXD, "--socket", os.path.join(tmp, "bad.sock"),
                        "--state-dir", os.path.join(tmp, "bad-state"),
                        "--config", cfg], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    return r.stderr


def acquire(c, **body):
    return api(c, "POST", "/v1/slots", body, 201)["slot_id"]


def bash(c, slot, command, ok=True):
    r = api(c, "POST", f"/v1/slots/{slot}/exec",
            {"tool": "bash", "args": {"command": command}, "timeout_s": 120},
            200)
    if ok:
        assert r["success"], r
    return r["metadata"]["stdout"]


def batch(c, slots, command):
    """command in every slot at once; their stdouts in order."""
    r = api(c, "POST", "/v1/exec", {
        "requests": [{"slot_id": s, "tool": "bash",
                      "args": {"command": command}} for s in slots],
        "timeout_s": 300}, 200)
    for x in r["results"]:
        assert x["success"], x
    return [x["metadata"]["stdout"] for x in r["results"]]


def tree_hashes(c, slots):
    return [h.strip() for h in batch(c, slots, TREE_HASH.format(d="/workspace"))]


# 50 files changed, 25 deleted, 25 added (and a dir made): 100 changes.
CHANGE_100 = (
    "cd /workspace && for i in $(seq -w 0 49); do echo changed >> d001/f0$i.txt; done"
    " && for i in $(seq -w 0 24); do rm d002/f0$i.txt; done"
    " && mkdir -p new/deeper && for i in $(seq 1 25); do echo new $i > new/deeper/n$i; done")


def test_template_instantiate_and_reset_32_slots(make_daemon, template):
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=8, sandboxes=4, minimum=4))
    c = d.client()
    slots = [acquire(c) for _ in range(32)]
    assert tree_hashes(c, slots) == [want] * 32
    # Template files are the slot's own: owned by its uid, writable.
    out = batch(c, slots, "stat -c %u d000/f000.txt; id -u; "
                "echo mine >> d000/f000.txt && echo wrote; "
                "rm -r d003 && echo removed; ./run.sh")
    for o in out:
        owner, uid, wrote, removed, script = o.split()[:5]
        assert owner == uid and int(uid) >= 1000000
        assert (wrote, removed, script) == ("wrote", "removed",
                                             "template-script")
    # Each slot now differs; a reset returns every one to the template.
    batch(c, slots, "echo junk > junk.txt; chmod 700 d010; ln -s x y")
    assert all(h != want for h in tree_hashes(c, slots))
    for s in slots:
        api(c, "DELETE", f"/v1/slots/{s}", status=204)
    again = [acquire(c) for _ in range(32)]
    assert tree_hashes(c, again) == [want] * 32
    # The host never sees a slot's files in the template tree.
    assert host_hash(tpl) == want


def test_fork_into_8_children(make_daemon, template):
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=8, sandboxes=2))
    c = d.client()
    src = acquire(c, trajectory_id="root")
    bash(c, src, CHANGE_100)
    # a background writer keeps running in the source during the fork
    bash(c, src, "(while :; do date > /tmp/tick; sleep 0.01; done) &>/dev/null &")
    src_hash = tree_hashes(c, [src])[0]
    assert src_hash != want
    r = api(c, "POST", f"/v1/slots/{src}/fork",
            {"count": 8, "trajectory_ids": [f"t{i}" for i in range(8)]}, 201)
    kids = [s["slot_id"] for s in r["slots"]]
    assert len(set(kids)) == 8 and src not in kids
    assert [s["trajectory_id"] for s in r["slots"]] == [f"t{i}" for i in range(8)]
    assert all(s["state"] == "acquired" for s in r["slots"])
    # Cost follows the change, not the template: about 100 entries.
    assert r["copied_entries"] < 200, r
    assert tree_hashes(c, kids) == [src_hash] * 8
    assert tree_hashes(c, [src]) == [src_hash]
    # Running processes are not copied.
    assert bash(c, kids[0], "pgrep -c -x sleep || true").strip() == "0"
    # Later writes stay where they are made.
    bash(c, kids[0], "echo only-kid0 > kid.txt; rm d000/f001.txt; echo x >> d001/f000.txt")
    bash(c, src, "echo only-src > src.txt")
    h = tree_hashes(c, [src] + kids)
    assert h[1] != src_hash and h[0] != src_hash and h[0] != h[1]
    assert h[2:] == [src_hash] * 7
    assert bash(c, kids[1], "ls kid.txt src.txt 2>&1 || true").count("No such") == 2
    # Each child is a lease like any other: journaled, released alone.
    for k in kids:
        api(c, "DELETE", f"/v1/slots/{k}", status=204)
    assert tree_hashes(c, [src]) == [h[0]]


def test_fork_without_template_and_of_a_fork(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 4
    max_sandboxes: 1
""")
    c = d.client()
    src = acquire(c)
    bash(c, src, "mkdir -p a/b && echo 1 > a/b/x && ln -s a/b/x l && "
         "mkfifo p && chmod 640 a/b/x && ln a/b/x hard && chmod 750 .")
    want = tree_hashes(c, [src])[0]
    kid = api(c, "POST", f"/v1/slots/{src}/fork", {}, 201)["slots"][0]["slot_id"]
    assert tree_hashes(c, [kid]) == [want]
    assert bash(c, kid, "stat -c '%h %a' a/b/x; stat -c %a .; id -u; stat -c %u a/b/x").split() \
        == ["2", "640", "750"] + [bash(c, kid, "id -u").strip()] * 2
    grand = api(c, "POST", f"/v1/slots/{kid}/fork", {"count": 1}, 201)["slots"][0]["slot_id"]
    assert tree_hashes(c, [grand]) == [want]


def test_snapshot_survives_restart(make_daemon, template):
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=4, sandboxes=2))
    c = d.client()
    src = acquire(c)
    bash(c, src, CHANGE_100 + " && chmod 600 d004/f004.txt")
    saved = tree_hashes(c, [src])[0]
    r = api(c, "POST", f"/v1/slots/{src}/snapshot", {"name": "step-1.a"}, 201)
    assert r["snapshot"] == "step-1.a" and r["profile"] == "default"
    bash(c, src, "echo after > after.txt")  # not in the snapshot
    lst = api(c, "GET", "/v1/snapshots", status=200)["snapshots"]
    assert [s["name"] for s in lst] == ["step-1.a"]
    assert lst[0]["profile"] == "default" and lst[0]["entries"] < 200
    restart(d)
    c = d.client()
    assert [s["name"] for s in api(c, "GET", "/v1/snapshots", status=200)["snapshots"]] == ["step-1.a"]
    slots = [api(c, "POST", "/v1/slots", {"snapshot": "step-1.a", "trajectory_id": f"r{i}"},
                 201) for i in range(3)]
    assert all(s["snapshot"] == "step-1.a" for s in slots)
    ids = [s["slot_id"] for s in slots]
    assert tree_hashes(c, ids) == [saved] * 3
    assert bash(c, ids[0], "stat -c %u d000/f000.txt; id -u").split()[0] == \
        bash(c, ids[0], "id -u").strip()
    # a restored slot resets to the template, not to the snapshot
    api(c, "DELETE", f"/v1/slots/{ids[0]}", status=204)
    fresh = [acquire(c) for _ in range(4)]
    assert want in tree_hashes(c, fresh)
    api(c, "DELETE", "/v1/snapshots/step-1.a", status=204)
    assert api(c, "GET", "/v1/snapshots", status=200)["snapshots"] == []
    api(c, "POST", "/v1/slots", {"snapshot": "step-1.a"}, 404)
    assert os.listdir(os.path.join(d.state_dir, "snapshots")) in ([], [".trash"]) or \
        all(n.startswith(".trash-") for n in os.listdir(os.path.join(d.state_dir, "snapshots")))


def test_snapshot_without_template_and_delete_while_restoring(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 4
    max_sandboxes: 1
""")
    c = d.client()
    src = acquire(c)
    bash(c, src, "head -c 3000000 /dev/urandom > big; mkdir d; echo x > d/x")
    want = tree_hashes(c, [src])[0]
    api(c, "POST", f"/v1/slots/{src}/snapshot", {"name": "s"}, 201)
    got = acquire(c, snapshot="s")
    api(c, "DELETE", "/v1/snapshots/s", status=204)
    assert tree_hashes(c, [got]) == [want]
    # the name is free again at once
    api(c, "POST", f"/v1/slots/{src}/snapshot", {"name": "s"}, 201)


def test_errors(make_daemon, template):
    tpl, _ = template
    d = started(make_daemon, pool_yaml(tpl, slots=2, sandboxes=2, extra="""
  other:
    slots_per_sandbox: 2
    min_sandboxes: 0
    max_sandboxes: 1
"""))
    c = d.client()
    src = acquire(c)
    # fork: bad counts and bodies
    for body in ({"count": 0}, {"count": -1}, {"count": 4}, {"count": 1000},
                 {"count": "2"}, {"count": 1.5}, {"nope": 1},
                 {"count": 2, "trajectory_ids": ["a"]},
                 {"count": 1, "trajectory_ids": [1]}):
        e = api(c, "POST", f"/v1/slots/{src}/fork", body, 400)
        assert e["error"]["code"] == "bad_request", body
    # fork or snapshot of a slot that is not leased, or an ended lease
    free_id = src.rsplit(".", 1)[0].replace("_slot_0", "_slot_1")
    api(c, "POST", f"/v1/slots/{free_id}/fork", {"count": 1}, 409)
    api(c, "POST", f"/v1/slots/{free_id}/snapshot", {"name": "x"}, 409)
    api(c, "POST", "/v1/slots/nope_slot_0/fork", {"count": 1}, 404)
    old = acquire(c)
    api(c, "DELETE", f"/v1/slots/{old}", status=204)
    e = api(c, "POST", f"/v1/slots/{old}/fork", {"count": 1}, 409)
    assert e["error"]["code"] == "slot_not_leased"
    api(c, "GET", f"/v1/slots/{src}/fork", status=405)
    # not enough slots in time: nothing stays leased
    hog = [acquire(c) for _ in range(2)]
    e = api(c, "POST", f"/v1/slots/{src}/fork", {"count": 3, "timeout_s": 0.5}, 503)
    assert e["error"]["code"] == "acquire_timeout"
    st = api(c, "GET", "/v1/status", status=200)["pools"]["default"]
    assert st["leased_slots"] == 3
    for h in hog:
        api(c, "DELETE", f"/v1/slots/{h}", status=204)
    # snapshots: names, duplicates, unknown ones, profile mismatch
    for name in ("", ".hidden", "a/b", "x" * 65, "a b", None):
        body = {} if name is None else {"name": name}
        api(c, "POST", f"/v1/slots/{src}/snapshot", body, 400)
    api(c, "POST", f"/v1/slots/{src}/snapshot", {"name": "dup"}, 201)
    e = api(c, "POST", f"/v1/slots/{src}/snapshot", {"name": "dup"}, 409)
    assert e["error"]["code"] == "snapshot_exists"
    e = api(c, "POST", "/v1/slots", {"snapshot": "missing"}, 404)
    assert e["error"]["code"] == "snapshot_not_found"
    api(c, "POST", "/v1/slots", {"snapshot": "../x"}, 404)
    api(c, "POST", "/v1/slots", {"snapshot": 7}, 400)
    e = api(c, "POST", "/v1/slots", {"snapshot": "dup", "profile": "other"}, 409)
    assert e["error"]["code"] == "snapshot_profile_mismatch"
    api(c, "DELETE", "/v1/snapshots/missing", status=404)
    api(c, "DELETE", "/v1/snapshots/..", status=404)
    api(c, "POST", "/v1/snapshots", {}, 405)
    api(c, "DELETE", "/v1/snapshots/dup", status=204)
    # the daemon is fine after all that
    assert bash(c, src, "echo ok").strip() == "ok"


def test_template_from_archive_and_bad_templates(make_daemon, tmp_path):
    src = tmp_path / "src"
    os.makedirs(src / "pkg")
    (src / "pkg" / "mod.py").write_text("X = 1\n")
    (src / "README").write_text("hi\n")
    os.chmod(src / "README", 0o600)
    arc = tmp_path / "repo.tar.gz"
    with tarfile.open(arc, "w:gz") as t:
        t.add(src, arcname=".")
    d = started(make_daemon, pool_yaml(arc, slots=2, sandboxes=1))
    c = d.client()
    s = acquire(c)
    assert bash(c, s, "cat pkg/mod.py; stat -c '%a %u' README; id -u").split() == \
        ["X", "=", "1", "600", bash(c, s, "id -u").strip(), bash(c, s, "id -u").strip()]
    # archives that climb out, or hold devices, stop the daemon at start
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as t:
        info = tarfile.TarInfo("../escape")
        info.size = 0
        t.addfile(info)
    assert "relative path inside the tree" in start_fails(tmp_path, evil)
    dev = tmp_path / "dev.tar"
    with tarfile.open(dev, "w") as t:
        info = tarfile.TarInfo("null")
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3
        t.addfile(info)
    assert "devices" in start_fails(tmp_path, dev)
    assert "nothere" in start_fails(tmp_path, tmp_path / "nothere")
    (tmp_path / "plain.txt").write_text("x")
    assert "is not a directory" in start_fails(tmp_path, tmp_path / "plain.txt")
    assert not os.path.exists("/escape")


def test_template_reused_across_restart(make_daemon, template):
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=2, sandboxes=1))
    restart(d)
    assert "reused=true" in d.read_log()
    c = d.client()
    assert tree_hashes(c, [acquire(c)]) == [want]
    trees = os.listdir(os.path.join(d.state_dir, "templates"))
    assert len(trees) == 1


def test_python_client_and_backend(make_daemon, template):
    import asyncio

    import slotbox
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=4, sandboxes=2))
    c = slotbox.Client(d.socket)
    src = c.acquire("root")
    c.bash(src, "echo step > step.txt")
    kids = c.fork(src, 3, trajectory_ids=["a", "b", "c"])
    assert [k.trajectory_id for k in kids] == ["a", "b", "c"]
    assert all(c.bash(k, "cat step.txt").output == "step\n" for k in kids)
    info = c.snapshot(src, "py-snap")
    assert info["snapshot"] == "py-snap"
    assert [s["name"] for s in c.snapshots()] == ["py-snap"]
    with pytest.raises(slotbox.SnapshotExists):
        c.snapshot(src, "py-snap")
    for k in kids:
        c.release(k)
    got = c.acquire(snapshot="py-snap", trajectory_id="restored")
    assert got.metadata["snapshot"] == "py-snap"
    assert c.bash(got, "cat step.txt").output == "step\n"
    c.delete_snapshot("py-snap")
    with pytest.raises(slotbox.SnapshotNotFound):
        c.acquire(snapshot="py-snap")
    with pytest.raises(slotbox.BadRequest):
        c.fork(src, 0)
    c.release(got)

    async def backend_flow():
        b = slotbox.SlotboxToolBackend(d.socket)
        await b.start()
        s = await b.acquire("t")
        await b.execute_batch([(s, "write_file", {"path": "x.txt", "content": "x\n"})])
        forks = await b.fork(s, 2, ["f1", "f2"])
        res = await b.execute_batch([(f, "read_file", {"path": "x.txt"}) for f in forks])
        assert [r.output for r in res] == ["x\n", "x\n"]
        await b.snapshot(s, "b-snap")
        assert [x["name"] for x in await b.list_snapshots()] == ["b-snap"]
        r = await b.acquire("r", snapshot="b-snap")
        res = await b.execute_batch([(r, "bash", {"command": "cat x.txt"})])
        assert res[0].output == "x\n"
        await b.delete_snapshot("b-snap")
        await b.stop(purge=True)
        assert c.status()["pools"]["default"]["leased_slots"] == 1  # src
    asyncio.run(backend_flow())
    c.release(src)
    c.close()


def test_cli(make_daemon, template):
    import json
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=4, sandboxes=2))
    cli = os.path.join(os.path.dirname(SLOTBOXD), "slotbox")

    def sb(*args, rc=0):
        p = subprocess.run([cli, "--socket", d.socket, *args], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
        return p.stdout

    src = sb("acquire").strip()
    sb("exec", src, "-c", "echo cli > cli.txt")
    kids = sb("fork", "-n", "2", src).split()
    assert len(kids) == 2
    assert all(sb("exec", k, "--", "cat", "cli.txt") == "cli\n" for k in kids)
    named = json.loads(sb("--json", "fork", "--trajectory-id", "x", "--trajectory-id", "y", src))
    assert [s["trajectory_id"] for s in named["slots"]] == ["x", "y"]
    for s in kids + [s["slot_id"] for s in named["slots"]]:
        sb("release", s)
    assert sb("snapshot", src, "cli-snap").strip() == "cli-snap"
    rows = sb("snapshots").splitlines()
    assert rows[0].split()[:2] == ["NAME", "PROFILE"]
    assert rows[1].split()[:2] == ["cli-snap", "default"]
    assert [s["name"] for s in json.loads(sb("snapshots", "--json"))["snapshots"]] == ["cli-snap"]
    got = sb("acquire", "--snapshot", "cli-snap", "--trajectory-id", "r").strip()
    assert sb("exec", got, "--", "cat", "cli.txt") == "cli\n"
    assert sb("run", "--snapshot", "cli-snap", "--", "cat", "cli.txt") == "cli\n"
    sb("snapshots", "rm", "cli-snap")
    assert sb("snapshots").splitlines()[1:] == []
    # errors: exit 125 with the API's code, 2 for a bad command line
    p = subprocess.run([cli, "--socket", d.socket, "acquire", "--snapshot", "cli-snap"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 125 and "snapshot_not_found" in p.stderr
    sb("snapshots", "rm", "cli-snap", rc=125)
    sb("fork", "-n", "0", src, rc=2)
    sb("fork", rc=2)
    sb("snapshot", src, rc=2)
    sb("acquire", "--snapshot", "x", "--profile", "default", rc=2)
    sb("fork", "-n", "3", src + "9", rc=125)


def test_fork_leases_survive_daemon_crash_and_keep_workspace(make_daemon, template):
    tpl, want = template
    d = started(make_daemon, pool_yaml(tpl, slots=4, sandboxes=1))
    c = d.client()
    src = acquire(c)
    bash(c, src, "echo crash > crash.txt; rm d000/f000.txt")
    h = tree_hashes(c, [src])[0]
    kids = [s["slot_id"] for s in
            api(c, "POST", f"/v1/slots/{src}/fork", {"count": 2}, 201)["slots"]]
    d.proc.kill()  # SIGKILL: the sandboxes wait for the next daemon
    d.proc.wait()
    d.start(wait=False)
    d.wait_ready(timeout=180)
    c = d.client()
    assert tree_hashes(c, [src] + kids) == [h] * 3
    # release without reset keeps the workspace (the overlay is mounted
    # again on the same upper layer); with reset it is the template again
    last = acquire(c)
    bash(c, last, "echo kept > kept.txt")
    api(c, "DELETE", f"/v1/slots/{last}?reset=false", status=204)
    again = acquire(c)
    assert bash(c, again, "cat kept.txt").strip() == "kept"
    api(c, "DELETE", f"/v1/slots/{again}", status=204)
    assert tree_hashes(c, [acquire(c)]) == [want]
