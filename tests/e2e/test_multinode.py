# SPDX-License-Identifier: Apache-2.0
"""Scale-out across machines (issue 12): three slotboxd "hosts", each in
its own network namespace with its own address, on TCP with a token
(hosts.py), driven by the Python ClusterClient: placement by free slots,
every call routed to the slot's node, a DNS name standing for every node,
and a node killed mid-run losing only its own slots.

The tests share the three daemons; the last one kills a node."""
import collections
import json
import os
import queue
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD
from hosts import TOKEN, Hosts
from slotbox import (AcquireTimeout, Client, ClusterClient, SandboxLost, SlotboxToolBackend, SlotNotLeased,
                     SnapshotNotFound)

POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 4
    execution_timeout_s: 30
"""

# The model's turn between two tool calls. Placement goes to the node with
# the most free slots, so a node that ends its trajectories sooner gets
# more of them; with turns like an agent's, every node's trajectories last
# about as long and the counts show the placement itself. (With none, on
# two shared cores, one node's calls can take 1.6x another's.)
THINK_S = 0.25


@pytest.fixture(scope="module")
def hosts():
    # --orphan-timeout 0: a killed node's sandboxes end with it, as in a
    # pod whose PID namespace goes (deploy/kubernetes/README.md)
    h = Hosts(3, POOL, daemon_args=["--orphan-timeout", "0"])
    yield h
    errors = h.close()
    assert not errors, "\n".join(errors)


def test_dns_name_stands_for_every_node(hosts, monkeypatch):
    """A headless Service's name has one address per ready pod."""
    real = socket.getaddrinfo
    answer = {"addrs": list(hosts.addrs)}

    def fake(host, port, *a, **kw):
        if host != "slotbox-headless":
            return real(host, port, *a, **kw)
        if not answer["addrs"]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answer["addrs"]]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    c = ClusterClient("http://slotbox-headless:8390", token=TOKEN)
    assert sorted(c.nodes()) == sorted(hosts.urls())
    slots = [c.acquire(f"dns-{i}", timeout_s=30) for i in range(3)]
    assert sorted(s.endpoint for s in slots) == sorted(hosts.urls()), "one per idle node"
    held = slots[0]
    # the name loses held's node (its pod is not ready): no new leases
    # there, but held's calls still go to it
    answer["addrs"] = [a for a in hosts.addrs if not held.endpoint.endswith(f"//{a}:8390")]
    c.resolve()
    assert held.endpoint not in c.nodes() and len(c.nodes()) == 2
    assert c.bash(held, "echo still").output == "still\n"
    extra = c.acquire("dns-x", timeout_s=30)
    assert extra.endpoint != held.endpoint
    # a lookup that fails keeps the last answer (a DNS hiccup)
    answer["addrs"] = []
    c.resolve()
    assert len(c.nodes()) == 2
    for s in slots + [extra]:
        c.release(s)
    c.close()


def test_calls_follow_the_slot(hosts):
    with ClusterClient(hosts.urls(), token=TOKEN) as c:
        slots = [c.acquire(f"route-{i}", timeout_s=30) for i in range(3)]
        assert len({s.endpoint for s in slots}) == 3
        assert all(s.slot_id.startswith("default-") for s in slots), "the server's ids, untouched"
        for i, s in enumerate(slots):
            c.write_file(s, "n.txt", f"{i}\n")
        # one batch over three nodes: one request each, answers in order
        res = c.exec_batch([(s, "bash", {"command": "cat n.txt"}) for s in reversed(slots)])
        assert [r.output for r in res] == ["2\n", "1\n", "0\n"]
        # bare ids: from this client's map, or found by a client that never saw them
        assert c.bash(slots[1].slot_id, "cat n.txt").output == "1\n"
        with ClusterClient(hosts.urls(), token=TOKEN) as other:
            assert other.read_file(slots[2].slot_id, "n.txt")["content"] == "2\n"
            with pytest.raises(SlotNotLeased):
                other.bash("default-00000000_slot_0.1", "true")
        st = c.status()
        assert st["pools"]["default"]["leased_slots"] == 3
        assert st["pools"]["default"]["max_sandboxes"] == 12
        assert sorted(st["nodes"]) == sorted(hosts.urls())
        # forks and snapshots stay on the source's node
        kids = c.fork(slots[0], 2)
        assert {k.endpoint for k in kids} == {slots[0].endpoint}
        assert [c.bash(k, "cat n.txt").output for k in kids] == ["0\n", "0\n"]
        c.snapshot(slots[1], "mn-snap")
        listed = [s for s in c.snapshots() if s["name"] == "mn-snap"]
        assert [s["node"] for s in listed] == [slots[1].endpoint]
        restored = c.acquire("from-snap", snapshot="mn-snap", timeout_s=30)
        assert restored.endpoint == slots[1].endpoint
        assert c.bash(restored, "cat n.txt").output == "1\n"
        c.delete_snapshot("mn-snap")
        with pytest.raises(SnapshotNotFound):
            c.acquire(snapshot="mn-snap", timeout_s=5)
        for s in slots + kids + [restored]:
            c.release(s)
        assert c.status()["pools"]["default"]["leased_slots"] == 0
    # one endpoint: the plain Client, as before, over TCP
    with Client(hosts.urls()[0], token=TOKEN) as one:
        s = one.acquire("single", timeout_s=30)
        assert s.endpoint == hosts.urls()[0]
        assert one.bash(s, "echo one").output == "one\n"
        one.release(s)


def test_a_full_node_sends_acquires_on(hosts):
    """Figures say node A has room, but it is full (someone else took all
    its slots since): A holds an acquire probe_wait_s at most, then the
    next node serves it. With every node full, the wait ends in
    AcquireTimeout."""
    a, b = hosts.urls()[1], hosts.urls()[2]
    c = ClusterClient([a, b], token=TOKEN, status_ttl_s=3600, probe_wait_s=0.3)
    c.release(c.acquire("warm-up", timeout_s=30))  # reads the figures once, for good
    with Client(a, token=TOKEN) as other:
        held = [other.acquire(f"fill-{i}", timeout_s=30) for i in range(16)]
        t0 = time.monotonic()
        got = [c.acquire(f"spill-{i}", timeout_s=30) for i in range(3)]
        assert {s.endpoint for s in got} == {b}
        assert time.monotonic() - t0 >= 0.3, "A was never tried"
        with ClusterClient([a], token=TOKEN) as only_a, pytest.raises(AcquireTimeout):
            only_a.acquire("none-left", timeout_s=0.5)
        for s in held:
            other.release(s)
    for s in got:
        c.release(s)
    with pytest.raises(SlotNotLeased):
        c.bash(held[0].slot_id, "true")  # found on A, and ended
    res = c.exec_batch([(got[0], "bash", {"command": "true"}),
                        ("default-00000000_slot_0.1", "bash", {"command": "true"})])
    assert [r.metadata.get("error_code") for r in res] == ["slot_not_leased", "slot_not_leased"]
    c.close()


def cluster_check(*args, timeout=120, prefix=()):
    p = subprocess.run([*prefix, os.path.join(BUILD, "cluster_check"), *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0 and "not ok" not in p.stdout, p.stdout + p.stderr
    assert "\n1.." in p.stdout, p.stdout  # the plan: it ran to the end
    return p.stdout


def test_c_client_routes_calls_to_the_slot(hosts):
    """libslotbox's struct sbcc (tests/c/cluster_check.c): placement, calls
    and bare ids routed, forks and snapshots on their node, status summed."""
    cluster_check("routes", ",".join(hosts.urls()), TOKEN)


def test_c_client_name_stands_for_every_node(hosts, tmp_path):
    """One host name with three addresses, as a headless Service's: the C
    client looks it up with getaddrinfo. The name lives in an /etc/hosts
    bind-mounted in a mount namespace of the program's own."""
    etc_hosts = tmp_path / "hosts"
    with open("/etc/hosts") as f:
        etc_hosts.write_text(f.read() + "".join(f"{a} slotbox-headless\n" for a in hosts.addrs))
    out = cluster_check("name", "http://slotbox-headless:8390", "3", TOKEN, prefix=[
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        'mount --bind "$0" /etc/hosts && exec "$@"', str(etc_hosts)])
    assert sorted(line.split()[-1] for line in out.splitlines() if line.startswith("# node ")) \
        == sorted(hosts.urls())


def test_cli_over_nodes(hosts):
    """`slotbox --url A,B,C`: acquire spreads and says where, every
    command on a slot finds its node, status sums the nodes, run leases
    and gives back; a command for one node says so."""
    cli = [os.path.join(BUILD, "slotbox"), "--url", ",".join(hosts.urls()),
           "--token-file", hosts.token_file]

    def sh(*args, check=True):
        p = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    leased = [json.loads(sh("acquire", "--json", "--trajectory-id", f"cli-{i}").stdout) for i in range(3)]
    assert sorted(s["endpoint"] for s in leased) == sorted(hosts.urls()), "one per idle node"
    for i, s in enumerate(leased):  # a fresh process each time: found by asking the nodes
        sh("exec", s["slot_id"], "-c", f"echo {i} > n.txt")
    assert [sh("exec", s["slot_id"], "--", "cat", "n.txt").stdout for s in leased] == ["0\n", "1\n", "2\n"]
    # cp between slots on two nodes
    p = subprocess.run([*cli, "cp", f"{leased[0]['slot_id']}:n.txt", "-"], capture_output=True, text=True)
    assert p.stdout == "0\n"
    p = subprocess.run([*cli, "cp", "-", f"{leased[2]['slot_id']}:from-cli.txt"], input="hi\n",
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sh("exec", leased[2]["slot_id"], "--", "cat", "from-cli.txt").stdout == "hi\n"
    st = json.loads(sh("status", "--json").stdout)
    assert st["pools"]["default"]["leased_slots"] == 3 and sorted(st["nodes"]) == sorted(hosts.urls())
    kids = sh("fork", "-n", "2", leased[1]["slot_id"]).stdout.split()
    assert [sh("exec", k, "--", "cat", "n.txt").stdout for k in kids] == ["1\n", "1\n"]
    with Client(leased[1]["endpoint"], token=TOKEN) as one:  # the children are on the source's node
        assert all(one.slot(k).state.value == "acquired" for k in kids)
    for s in [x["slot_id"] for x in leased] + kids:
        sh("release", s)
    assert json.loads(sh("status", "--json").stdout)["pools"]["default"]["leased_slots"] == 0
    p = sh("run", "--", "sh", "-c", "echo ran; exit 3", check=False)
    assert p.returncode == 3 and p.stdout == "ran\n", p.stderr
    assert json.loads(sh("status", "--json").stdout)["pools"]["default"]["leased_slots"] == 0
    p = sh("exec", "default-00000000_slot_0.1", "--", "true", check=False)
    assert p.returncode == 125 and "slot_not_leased" in p.stderr, p.stderr
    p = sh("image", "ls", check=False)
    assert p.returncode == 125 and "works on one node" in p.stderr, p.stderr


def test_tool_backend_over_nodes(hosts):
    import asyncio

    async def rollout():
        b = SlotboxToolBackend(hosts.urls(), token=TOKEN)
        await b.start()
        slots = [await b.acquire(f"b-{i}") for i in range(6)]
        assert len({s.endpoint for s in slots}) == 3
        res = await b.execute_batch([(s, "bash", {"command": f"echo {i}"}) for i, s in enumerate(slots)])
        assert [r.output for r in res] == [f"{i}\n" for i in range(6)]
        assert b.get_status()["pools"]["default"]["leased_slots"] == 6
        await b.release(slots[0])
        await b.stop()
        assert b.client.status()["pools"]["default"]["leased_slots"] == 0

    asyncio.run(rollout())


def test_300_trajectories_balanced_and_a_killed_node_loses_only_its_slots(hosts):
    """12 threads run 300 trajectories (acquire, write a file, think,
    read it, release). Half-way, one node gets kill -9 while it holds slots: those
    report sandbox_lost and are run again (as a trainer would), everything
    else completes, and no acquire goes to the dead node after."""
    n, workers = 300, 12
    victim = hosts.daemons[0]
    c = ClusterClient(hosts.urls(), token=TOKEN, connect_timeout_s=2.0)
    todo = queue.Queue()
    for i in range(n):
        todo.put(i)
    lock = threading.Lock()
    attempts, done, failures, killed = [], set(), [], []
    inflight = collections.Counter()

    def trajectory(i):
        a = {"i": i, "t_start": time.monotonic()}
        s = c.acquire(trajectory_id=f"traj-{i}", timeout_s=60, ttl_s=120)
        a["node"], a["slot"] = s.endpoint, s
        with lock:
            attempts.append(a)
            inflight[s.endpoint] += 1
        try:
            r = c.bash(s, f"echo {i} > out.txt")
            assert r.success, r
            time.sleep(THINK_S)
            r = c.bash(s, "cat out.txt")
            assert r.output == f"{i}\n", r
            c.release(s)
            a["outcome"] = "ok"
        except SandboxLost as e:
            a["outcome"] = e.code
            try:
                c.release(s)
            except SandboxLost:
                pass
        finally:
            with lock:
                inflight[s.endpoint] -= 1
        return a["outcome"] == "ok"

    def worker():
        while len(done) + len(failures) < n:
            try:
                i = todo.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                if trajectory(i):
                    with lock:
                        done.add(i)
                else:
                    todo.put(i)  # its sandbox was lost: run it again elsewhere
            except BaseException as e:  # noqa: BLE001 - reported below
                failures.append((i, repr(e)))

    def killer():
        while len(done) < n // 2 and not failures:
            time.sleep(0.005)
        deadline = time.monotonic() + 10
        while inflight[victim.url] < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        in_flight = inflight[victim.url]
        victim.proc.kill()
        victim.proc.wait()
        # after the kill: an acquire asked for later cannot reach it
        killed.append((time.monotonic(), in_flight))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    threads.append(threading.Thread(target=killer))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "the run hung"
    assert not failures, failures[:5]
    assert len(done) == n
    kill_t, inflight_at_kill = killed[0]
    lost = judge_kill_run(attempts, n, kill_t, inflight_at_kill, victim.url, hosts.urls(), t0)
    # the dead node's slots keep failing the same way; the others serve
    with pytest.raises(SandboxLost) as e:
        c.bash(lost[0]["slot"], "true")
    assert e.value.code == "sandbox_lost"
    st = c.status()
    assert "error" in st["nodes"][victim.url] and st["pools"]["default"]["leased_slots"] == 0
    c.close()


def judge_kill_run(attempts, n, kill_t, inflight_at_kill, victim_url, urls, t0):
    """What a run with a node killed half-way must show: placement
    balanced before the kill (no node over 40% of leases), only the
    victim's in-flight slots lost (sandbox_lost) and each of those run
    again, no acquire on the victim after the kill. attempts: dicts with
    node, t_start, outcome. Returns the lost attempts."""
    before = [a for a in attempts if a["t_start"] < kill_t and a.get("node")]
    share = collections.Counter(a["node"] for a in before)
    summary = (f"{len(attempts)} attempts in {time.monotonic() - t0:.1f}s; before the kill "
               f"{dict(share)}; {inflight_at_kill} in flight on the victim at the kill")
    print(summary)
    assert len(share) == 3 and max(share.values()) <= 0.40 * len(before), summary
    lost = [a for a in attempts if a["outcome"] != "ok"]
    assert lost, "no slot was in flight on the killed node: " + summary
    assert all(a["outcome"] == "sandbox_lost" and a["node"] == victim_url for a in lost), lost
    after = [a for a in attempts if a["t_start"] > kill_t]
    assert after and all(a["node"] != victim_url for a in after), summary
    assert {a["node"] for a in after} == set(urls) - {victim_url}, summary
    assert all(a["outcome"] == "ok" for a in attempts if a["node"] != victim_url)
    assert len(attempts) == n + len(lost)
    return lost


@pytest.fixture
def own_hosts():
    """Three nodes of the test's own: it kills one."""
    h = Hosts(3, POOL, daemon_args=["--orphan-timeout", "0"])
    yield h
    errors = h.close()
    assert not errors, "\n".join(errors)


def test_c_client_300_trajectories_balanced_and_a_killed_node_loses_only_its_slots(own_hosts):
    """The same run as above through libslotbox: cluster_check runs 300
    trajectories on 12 threads (sharing one struct sbcc) and prints an event
    per lease granted and ended; half-way, the node with slots in flight
    gets kill -9."""
    hosts, n = own_hosts, 300
    victim = hosts.daemons[0]
    p = subprocess.Popen([os.path.join(BUILD, "cluster_check"), "run", ",".join(hosts.urls()), TOKEN,
                          str(n), "12", str(int(THINK_S * 1000))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    attempts, open_attempt, lines, killed = [], {}, [], []
    inflight, done = collections.Counter(), 0
    watchdog = threading.Timer(300, p.kill)
    watchdog.start()
    try:
        for line in p.stdout:
            lines.append(line)
            f = line.split()
            if f[0] == "acq":
                a = {"i": int(f[1]), "t_start": float(f[2]), "node": f[3]}
                attempts.append(a)
                open_attempt[a["i"]] = a
                inflight[a["node"]] += 1
            elif f[0] == "end":
                a = open_attempt.pop(int(f[1]))
                a["outcome"] = f[4]
                inflight[a["node"]] -= 1
                done += f[4] == "ok"
            if not killed and done >= n // 2 and (inflight[victim.url] >= 2
                                                  or time.monotonic() - t0 > 60):
                in_flight = inflight[victim.url]
                victim.proc.kill()
                victim.proc.wait()
                killed.append((time.monotonic(), in_flight))
        rc = p.wait()
    finally:
        watchdog.cancel()
    err = p.stderr.read()
    assert rc == 0, "".join(lines[-20:]) + err
    assert lines[-1].strip() == f"summary done={n} failed=0", lines[-1]
    assert killed, "the run ended before half of it was done"
    kill_t, inflight_at_kill = killed[0]
    judge_kill_run(attempts, n, kill_t, inflight_at_kill, victim.url, hosts.urls(), t0)


def test_c_client_host_vanishes(own_hosts):
    """The first node's host drops off the network (link down: no reset,
    no answer) while a call runs there: keepalives end that call with
    sandbox_lost long before its command would have ended, the node's
    next call fails within the connect timeout, acquires go elsewhere."""
    hosts = own_hosts
    p = subprocess.Popen([os.path.join(BUILD, "cluster_check"), "vanish", ",".join(hosts.urls()), TOKEN],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    head = []
    try:
        for line in p.stdout:
            head.append(line)
            if line.strip() == "started":
                break
        assert head and head[-1].strip() == "started", "".join(head)
        time.sleep(1)  # the call is on its way
        hosts.cut(0)
        p.stdin.write("cut\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
        hosts.cut(0, up=True)
    out = "".join(head) + out
    print(out)
    assert p.returncode == 0 and "not ok" not in out, out + err
    assert "\n1..8" in out, out


def test_python_client_host_vanishes(own_hosts):
    """The same through the Python ClusterClient."""
    hosts = own_hosts
    victim = hosts.urls()[0]
    c = ClusterClient(hosts.urls(), token=TOKEN, connect_timeout_s=2.0)
    try:
        slots = {s.endpoint: s for s in (c.acquire(timeout_s=30, ttl_s=300) for _ in range(3))}
        assert sorted(slots) == sorted(hosts.urls())
        outcome = {}

        def long_call():
            t0 = time.monotonic()
            try:
                c.bash(slots[victim], "sleep 60")
                outcome["error"] = None
            except SandboxLost as e:
                outcome["error"] = e.code
            outcome["s"] = time.monotonic() - t0

        t = threading.Thread(target=long_call)
        t.start()
        time.sleep(1)
        hosts.cut(0)
        t.join(timeout=90)
        assert not t.is_alive(), "the call on the vanished host hung"
        print(outcome)
        assert outcome["error"] == "sandbox_lost" and outcome["s"] < 50, outcome
        for url, s in slots.items():
            if url != victim:
                assert c.bash(s, "echo on").output == "on\n"
        t0 = time.monotonic()
        with pytest.raises(SandboxLost):
            c.bash(slots[victim], "true")
        print(f"next call failed after {time.monotonic() - t0:.1f}s")
        fresh = [c.acquire(timeout_s=30) for _ in range(2)]
        assert all(s.endpoint != victim for s in fresh)
        for s in fresh + [s for u, s in slots.items() if u != victim]:
            c.release(s)
    finally:
        hosts.cut(0, up=True)
        c.close()
