# SPDX-License-Identifier: Apache-2.0
"""Several slotboxd "hosts" on one machine: each daemon runs in a network
namespace of its own, reached from the test's namespace over a veth pair
with its own 10.x address, listening on TCP with a token, as daemons on
separate machines would be.

Names carry a random tag and the addresses a free /24, so that runs on a
shared machine do not collide. Only the network namespace is separate:
`nsenter --net` (not `ip netns exec`, which remounts /sys and would hide
the cgroup hierarchies the daemons need)."""
import os
import random
import subprocess
import tempfile

from conftest import Daemon

PORT = 8390
TOKEN = "multinode-token-0123456789abcdef"


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def free_prefix():
    """A 10.x.y of no address or route on this machine."""
    used = ip("-4", "addr").stdout + ip("-4", "route").stdout
    for _ in range(100):
        prefix = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        if prefix + "." not in used:
            return prefix
    raise RuntimeError("no free 10.x.y.0/24 for the test's hosts")


class Hosts:
    def __init__(self, n, config_yaml, daemon_args=()):
        self.tag = "%04x" % random.getrandbits(16)
        self.prefix = free_prefix()
        self.tmp = tempfile.mkdtemp(prefix="sbx-mn-", dir="/tmp")
        self.token_file = os.path.join(self.tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(self.token_file, 0o600)  # others may not read it
        self.netns, self.links, self.daemons, self.addrs, self.ns_links = [], [], [], [], []
        try:
            for i in range(n):
                self._add(i, config_yaml, daemon_args)
            for d in self.daemons:
                d.wait_ready(timeout=30)
        except BaseException:
            self.close()
            raise

    def _add(self, i, config_yaml, daemon_args):
        ns, host_if, ns_if = f"sbmn{self.tag}{i}", f"sbm{self.tag}h{i}", f"sbm{self.tag}n{i}"
        # a /30 per host: .4i+1 on our side, .4i+2 in the host's namespace
        ours, theirs = f"{self.prefix}.{4 * i + 1}", f"{self.prefix}.{4 * i + 2}"
        ip("netns", "add", ns)
        self.netns.append(ns)
        ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        self.links.append(host_if)
        ip("link", "set", ns_if, "netns", ns)
        self.ns_links.append(ns_if)
        ip("addr", "add", ours + "/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", ns, "addr", "add", theirs + "/30", "dev", ns_if)
        ip("-n", ns, "link", "set", ns_if, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        tmp = os.path.join(self.tmp, f"host{i}")
        os.mkdir(tmp)
        d = Daemon(tmp, config_yaml, args=["--listen", f"tcp://0.0.0.0:{PORT}",
                                           "--token-file", self.token_file, *daemon_args])
        d.prefix = ["nsenter", f"--net=/run/netns/{ns}", "--"]
        d.url = f"http://{theirs}:{PORT}"
        self.daemons.append(d.start(wait=False))
        self.addrs.append(theirs)

    def cut(self, i, up=False):
        """Host i vanishes from the network (its link goes down: packets
        to it are lost, nothing answers, not even a reset), or, with
        up=True, comes back."""
        ip("-n", self.netns[i], "link", "set", self.ns_links[i], "up" if up else "down")

    def urls(self):
        return [d.url for d in self.daemons]

    def by_url(self, url):
        return next(d for d in self.daemons if d.url == url)

    def close(self):
        """Daemons first (a killed one is started again so that it cleans
        up its cgroups and state, then stopped), then the namespaces (their
        veth ends go with them) and our ends."""
        errors = []
        for d in self.daemons:
            if d.proc is None:
                continue
            try:
                if d.proc and d.proc.poll() is not None and d.proc.returncode != 0:
                    d.start()
                rc = d.stop()
                if rc != 0:
                    errors.append(f"slotboxd {d.url} exited {rc}:\n{d.read_log()[-3000:]}")
            except Exception as e:  # noqa: BLE001 - clean up the rest anyway
                if d.proc and d.proc.poll() is None:
                    d.proc.kill()
                errors.append(f"{d.url}: {e!r}")
        for ns in self.netns:
            ip("netns", "del", ns, check=False)
        for link in self.links:
            if ip("link", "show", link, check=False).returncode == 0:
                ip("link", "del", link, check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)
        return errors
