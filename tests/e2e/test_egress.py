# SPDX-License-Identifier: Apache-2.0
"""network: egress. The daemon runs in a network namespace of the test's
own ("D"), routed to two test hosts in namespaces of their own: a
"remote" one on 198.18.0.2 (also answering as 169.254.169.254, the cloud
metadata address) and a private one on 10.99.0.2. No packet goes to a
real outside address. Every host runs a TCP server that answers each
connection with its name; each refusal below is paired with a probe that
does get through (from another profile, or from D itself), so that each
test fails if its rule were missing."""
import json
import os
import random
import subprocess
import tempfile
import time

import pytest

from conftest import SLOTBOXD, Daemon, api

PORT = 8471

PROFILES = """
profiles:
  default:
    network: egress
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
  allowpriv:
    network: egress
    allow_cidrs: [10.99.0.0/16]
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
  denyremote:
    network: egress
    deny_cidrs: [198.18.0.0/24]
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
  single:
    network: egress
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
  isolated:
    network: none
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
"""

SERVER = r"""
import socket, sys, threading
def serve(addr, name):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, %d))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.sendall(name.encode() + b"\n")
        c.close()
for item in sys.argv[1:]:
    addr, name = item.split("=")
    threading.Thread(target=serve, args=(addr, name), daemon=True).start()
print("up", flush=True)
threading.Event().wait()
""" % PORT

# Prints what each address answers, as JSON: its name or the error.
PROBE = r"""
import json, socket, sys
out = {}
for addr in sys.argv[1:]:
    try:
        s = socket.create_connection((addr, %d), timeout=2)
        out[addr] = s.recv(64).decode().strip()
    except OSError as e:
        out[addr] = "error:" + type(e).__name__
print(json.dumps(out))
""" % PORT


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_ns(ns):
    return ["nsenter", "--net=/run/netns/" + ns, "--"]


class Net:
    """D with lo, 198.18.0.1/24 towards R (198.18.0.2, 169.254.169.254)
    and 10.99.0.1/24 towards P (10.99.0.2)."""

    def __init__(self):
        tag = "%04x" % random.getrandbits(16)
        self.d, self.r, self.p = "sbeD" + tag, "sbeR" + tag, "sbeP" + tag
        self.servers, self.netns = [], []
        self.tmp = tempfile.mkdtemp(prefix="sbx-eg-", dir="/tmp")
        for ns in (self.d, self.r, self.p):
            sh("ip", "netns", "add", ns)
            self.netns.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.link(self.r, "r" + tag, "198.18.0.1/24", "198.18.0.2/24")
        self.link(self.p, "p" + tag, "10.99.0.1/24", "10.99.0.2/24")
        sh("ip", "-n", self.r, "addr", "add", "169.254.169.254/32", "dev", "eth0")
        sh("ip", "-n", self.d, "route", "add", "169.254.169.254/32", "via", "198.18.0.2")
        sh("ip", "-n", self.r, "route", "add", "default", "via", "198.18.0.1")
        sh("ip", "-n", self.p, "route", "add", "default", "via", "10.99.0.1")
        self.serve(self.d, "127.0.0.1=d-loopback", "198.18.0.1=d-own")
        self.serve(self.r, "198.18.0.2=remote", "169.254.169.254=metadata")
        self.serve(self.p, "10.99.0.2=private")

    def link(self, ns, name, ours, theirs):
        sh("ip", "-n", self.d, "link", "add", "e" + name, "type", "veth",
           "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", self.d, "addr", "add", ours, "dev", "e" + name)
        sh("ip", "-n", self.d, "link", "set", "e" + name, "up")
        sh("ip", "-n", ns, "addr", "add", theirs, "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def serve(self, ns, *items):
        p = subprocess.Popen(in_ns(ns) + ["python3", "-c", SERVER, *items],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "up"
        self.servers.append(p)

    def probe_from(self, ns, *addrs):
        out = sh(*in_ns(ns), "python3", "-c", PROBE, *addrs).stdout
        return json.loads(out)

    def close(self):
        for p in self.servers:
            p.kill()
            p.wait()
        for ns in self.netns:
            sh("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", self.tmp], check=False)


@pytest.fixture
def net():
    n = Net()
    yield n
    n.close()


@pytest.fixture
def egress(net):
    d = Daemon(net.tmp, PROFILES)
    d.prefix = in_ns(net.d)
    d.start(wait=False)
    try:
        d.wait_ready(timeout=30)
        yield net, d, d.client()
    finally:
        rc = d.stop()
        assert rc in (0, None), d.read_log()


def acquire(c, profile="default"):
    return api(c, "POST", "/v1/slots", {"profile": profile}, 201)["slot_id"]


def put(c, slot, path, text):
    code, body = c.request("PUT", "/v1/slots/%s/file?path=%s" % (slot, path),
                           text.encode(), raw=True)
    assert code in (200, 201, 204), body


def probe(c, slot, *addrs):
    put(c, slot, "probe.py", PROBE)
    r = api(c, "POST", "/v1/slots/%s/exec" % slot,
            {"tool": "bash", "args": {"command": "python3 probe.py " + " ".join(addrs)},
             "timeout_s": 30}, 200)
    assert r["metadata"]["returncode"] == 0, r
    return json.loads(r["metadata"]["stdout"])


def tables(net):
    return sh(*in_ns(net.d), "nft", "list", "tables").stdout


ALL = ["198.18.0.2", "127.0.0.1", "198.18.0.1", "10.99.0.2", "169.254.169.254"]


def test_egress_reaches_the_remote_and_nothing_of_the_host(egress):
    net, d, c = egress
    # D itself reaches every server: each refusal below is the rules' doing
    assert net.probe_from(net.d, *ALL) == {
        "198.18.0.2": "remote", "127.0.0.1": "d-loopback", "198.18.0.1": "d-own",
        "10.99.0.2": "private", "169.254.169.254": "metadata"}
    a = acquire(c)
    got = probe(c, a, *ALL)
    assert got["198.18.0.2"] == "remote", got
    for addr in ALL[1:]:
        assert got[addr].startswith("error:"), got
    r = api(c, "POST", "/v1/slots/%s/exec" % a,
            {"tool": "bash", "args": {"command": "true"}}, 200)
    assert r["metadata"]["network"] == "egress"


def test_allow_cidrs_lets_a_private_network_through(egress):
    net, d, c = egress
    got = probe(c, acquire(c, "allowpriv"), "10.99.0.2", "198.18.0.2", "169.254.169.254")
    assert got == {"10.99.0.2": "private", "198.18.0.2": "remote",
                   "169.254.169.254": got["169.254.169.254"]}, got
    assert got["169.254.169.254"].startswith("error:"), got


def test_profiles_show_the_networks_as_parsed(egress):
    net, d, c = egress
    ps = api(c, "GET", "/v1/profiles", None, 200)["profiles"]
    assert ps["allowpriv"]["network"] == "egress"
    assert ps["allowpriv"]["allow_cidrs"] == ["10.99.0.0/16"]
    assert ps["denyremote"]["deny_cidrs"] == ["198.18.0.0/24"]
    assert "allow_cidrs" not in ps["isolated"]


def test_deny_cidrs_blocks_the_remote(egress):
    net, d, c = egress
    got = probe(c, acquire(c, "denyremote"), "198.18.0.2")
    assert got["198.18.0.2"].startswith("error:"), got


def test_network_none_reaches_nothing(egress):
    net, d, c = egress
    got = probe(c, acquire(c, "isolated"), *ALL)
    # its own loopback has no server: refused, not the host's d-loopback
    assert all(v.startswith("error:") for v in got.values()), got


ADDR = r"""
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ifr = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"eth0"))
print(socket.inet_ntoa(ifr[20:24]))
"""

SLOT_SERVER = SERVER.replace('threading.Event().wait()', 'open("/tmp/up", "w").close()\nthreading.Event().wait()')


def test_two_egress_slots_cannot_reach_each_other(egress):
    net, d, c = egress
    a, b = acquire(c), acquire(c)
    put(c, b, "addr.py", ADDR)
    put(c, b, "srv.py", SLOT_SERVER)
    r = api(c, "POST", "/v1/slots/%s/exec" % b,
            {"tool": "bash", "args": {"command":
             "addr=$(python3 addr.py) && (python3 srv.py $addr=slot-b >/dev/null 2>&1 &) && "
             "for i in $(seq 100); do [ -e /tmp/up ] && break; sleep 0.05; done; echo $addr"}},
            200)
    b_addr = r["metadata"]["stdout"].strip()
    assert b_addr.startswith("10."), r
    # b's server answers on its address (from D, which routes to it) ...
    assert net.probe_from(net.d, b_addr) == {b_addr: "slot-b"}
    # ... but not to a
    got = probe(c, a, b_addr)
    assert got[b_addr].startswith("error:"), got


def test_table_is_removed_when_the_daemon_stops(net):
    d = Daemon(net.tmp, PROFILES)
    d.prefix = in_ns(net.d)
    d.start(wait=False)
    d.wait_ready(timeout=30)
    assert "table inet slotbox_" in tables(net)
    assert d.stop() == 0
    assert "slotbox_" not in tables(net)


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.0/33", "nonsense", "1.2.3/24",
                                 "10.0.0.0/8; flush ruleset"])
def test_bad_cidrs_are_refused_at_start(tmp_path, bad):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("profiles:\n  default:\n    network: egress\n"
                   "    allow_cidrs: [%s]\n" % json.dumps(bad))
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert 'key "allow_cidrs": item #1' in p.stderr, p.stderr
    assert "is not a network in CIDR notation" in p.stderr, p.stderr


def host_links(net):
    out = sh(*in_ns(net.d), "ip", "-o", "link", "show").stdout
    return sorted(line.split(":")[1].strip().split("@")[0]
                  for line in out.splitlines() if ": sb" in line)


@pytest.mark.parametrize("reset", [False, True])
def test_released_slot_gets_a_new_veth_and_still_egresses(egress, reset):
    net, d, c = egress
    a = acquire(c, "single")
    put(c, a, "keep.txt", "kept")
    assert probe(c, a, "198.18.0.2", "10.99.0.2") == {
        "198.18.0.2": "remote", "10.99.0.2": "error:TimeoutError"}
    before = host_links(net)
    # two per slot (the live generation's, the next one's, made ahead):
    # default's 2 slots, single's 1
    assert len(before) == 6, before
    leader = "cut -d' ' -f22 /proc/1/stat"  # the slot's PID 1's start
    first = api(c, "POST", "/v1/slots/%s/exec" % a,
                {"tool": "bash", "args": {"command": leader}}, 200)
    api(c, "DELETE", "/v1/slots/%s?reset=%s" % (a, str(reset).lower()), None, 204)
    b = acquire(c, "single")
    again = api(c, "POST", "/v1/slots/%s/exec" % b,
                {"tool": "bash", "args": {"command": leader}}, 200)
    # a reset moves the leader to its new generation in place (init sends
    # the namespaces it made ahead); a release that keeps the files of a
    # lease that ran calls restarts it (issue 22)
    same = first["metadata"]["stdout"] == again["metadata"]["stdout"]
    assert same == reset, (first, again)
    got = probe(c, b, "198.18.0.2", "10.99.0.2")
    assert got == {"198.18.0.2": "remote", "10.99.0.2": "error:TimeoutError"}, got
    # a new pair: the old generation's is gone (torn down with its
    # namespace, asynchronously), and nothing piles up
    deadline = time.monotonic() + 10
    while len(host_links(net)) != 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    after = host_links(net)
    assert len(after) == 6 and after != before, (before, after)
    r = api(c, "POST", "/v1/slots/%s/exec" % b,
            {"tool": "bash", "args": {"command": "cat keep.txt 2>/dev/null || echo gone"}}, 200)
    assert b.split(".")[0] == a.split(".")[0]  # the same slot, a new lease
    assert r["metadata"]["stdout"].strip() == ("gone" if reset else "kept"), r


@pytest.mark.parametrize("bad", ["10.0.0.0/8", "10.200.0.1/16", "fd00::/16", "x"])
def test_bad_egress_net_is_refused_at_start(tmp_path, bad):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("profiles:\n  default:\n    network: egress\n")
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg),
                        "--egress-net", bad],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0, p.stderr
    assert "--egress-net must be an IPv4 /16" in p.stderr, p.stderr


SERVER6 = SERVER.replace("s = socket.socket()", "s = socket.socket(socket.AF_INET6)")

# The slot's IPv6 routes (destination/prefix of /proc/net/ipv6_route, but
# the kernel's reject entries: flags with RTF_REJECT) and addresses, as
# JSON.
ROUTES6 = r"""
import json
routes = [l.split()[0] + "/" + l.split()[1] for l in open("/proc/net/ipv6_route")
          if not int(l.split()[8], 16) & 0x200]
addrs = [l.split()[0] for l in open("/proc/net/if_inet6")]
print(json.dumps({"routes": routes, "addrs": addrs}))
"""


def test_egress_is_ipv4_only_an_ipv6_remote_is_unreachable(egress):
    net, d, c = egress
    # the remote on 2001:db8::2 too, with D forwarding IPv6: only the
    # slot's lack of an IPv6 route keeps it from there
    link = "er" + net.r[4:]
    sh("ip", "-n", net.d, "addr", "add", "2001:db8::1/64", "dev", link, "nodad")
    sh("ip", "-n", net.r, "addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad")
    sh(*in_ns(net.d), "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    p = subprocess.Popen(in_ns(net.r) + ["python3", "-c", SERVER6, "2001:db8::2=remote6"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "up"
    net.servers.append(p)
    assert net.probe_from(net.d, "2001:db8::2") == {"2001:db8::2": "remote6"}
    a = acquire(c)
    got = probe(c, a, "2001:db8::2", "198.18.0.2")
    assert got["198.18.0.2"] == "remote", got
    assert got["2001:db8::2"].startswith("error:"), got
    put(c, a, "r6.py", ROUTES6)
    r = api(c, "POST", "/v1/slots/%s/exec" % a,
            {"tool": "bash", "args": {"command": "python3 r6.py"}}, 200)
    seen = json.loads(r["metadata"]["stdout"])
    # link-local and multicast only: no default route, no global address
    assert all(x.startswith(("fe80", "ff00", "00000000000000000000000000000001"))
               for x in seen["routes"]), seen
    assert "0" * 32 + "/00" not in seen["routes"], seen
    assert all(x.startswith("fe80") or x == "0" * 31 + "1" for x in seen["addrs"]), seen
