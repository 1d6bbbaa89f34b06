# SPDX-License-Identifier: Apache-2.0
"""The dashboard page (GET /): its cookie login on the TCP listener, its
headers, and what it shows, read back from a real headless Chromium and
compared with /v1/status and /metrics taken around the same moment."""
import base64
import hashlib
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import api
from sbhttp import tcp_exchange, unix_exchange

TOKEN = "dash-token-0123456789abcdef"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM, reason="no chromium binary (scripts/deps installs Debian's chromium)")

PROFILE = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 2
    max_sandboxes: 2
  small:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
"""
POOL_FIELDS = ["sandboxes", "healthy_sandboxes", "starting_sandboxes",
               "max_sandboxes", "total_slots", "available_slots",
               "leased_slots", "waiters"]
XSS = '<img src=x onerror="document.title=\'pwned\'">'


def start(make_daemon, tmp_path, config=PROFILE):
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)  # a token others can read is refused
    d = make_daemon(config, args=["--listen", "tcp://127.0.0.1:0",
                                  "--token-file", str(tok), "--log-level", "debug"])
    m = re.search(r"listening.*?port\W+(\d+)", d.read_log())
    assert m, d.read_log()
    d.port = int(m.group(1))
    return d


def login_cookie(d):
    code, h, _ = tcp_exchange(d.port, "GET", "/?token=" + TOKEN)
    assert code == 303, h
    m = re.match(r"slotbox_token=([0-9a-f]+); ", h["set-cookie"])
    assert m, h["set-cookie"]
    return "slotbox_token=" + m.group(1)


def test_login_cookie_and_headers(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    bearer = {"Authorization": "Bearer " + TOKEN}
    # no credentials, a wrong token: a 401 page a browser can show
    for path in ("/", "/?token=nope", "/?token=" + TOKEN[:-1], "/?token=%zz"):
        code, h, body = tcp_exchange(d.port, "GET", path)
        assert code == 401, path
        assert h["content-type"].startswith("text/html")
        assert b"401" in body and TOKEN.encode() not in body
    code, h, _ = tcp_exchange(d.port, "GET", "/v1/status")
    assert code == 401 and h["content-type"] == "application/json"
    # the login: 303 to / with an HttpOnly, SameSite=Strict cookie that is
    # not the token itself
    code, h, _ = tcp_exchange(d.port, "GET", "/?token=" + TOKEN)
    assert code == 303 and h["location"] == "/"
    parts = [p.strip() for p in h["set-cookie"].split(";")]
    assert parts[0].startswith("slotbox_token=")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(parts[1:])
    assert TOKEN not in h["set-cookie"]
    assert h["cache-control"] == "no-store"
    cookie = {"Cookie": "other=1; " + parts[0] + "; more=2"}
    # reads with the cookie work: the page, HEAD, the figures it polls
    code, h, page = tcp_exchange(d.port, "GET", "/", headers=cookie)
    assert code == 200 and h["content-type"] == "text/html; charset=utf-8"
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    csp = dict(p.strip().split(" ", 1) for p in h["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    # the policy lets exactly the page's own script and style run
    for tag, key in (("script", "script-src"), ("style", "style-src")):
        text = re.search(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()),
                         page, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(text).digest()).decode()
        assert csp[key] == "'sha256-%s'" % digest
    assert b'data-figure="latency.exec.p50"' in page
    code, h, body = tcp_exchange(d.port, "HEAD", "/", headers=cookie)
    assert code == 200 and body == b"" and int(h["content-length"]) == len(page)
    for path in ("/v1/status?sandboxes=true", "/metrics", "/v1/health"):
        assert tcp_exchange(d.port, "GET", path, headers=cookie)[0] == 200, path
        assert tcp_exchange(d.port, "HEAD", path, headers=cookie)[0] == 200, path
    # ... but never changes anything (no CSRF): bearer only
    code, _, body = tcp_exchange(d.port, "POST", "/v1/slots", {}, headers=cookie)
    assert code == 401, body
    slot = tcp_exchange(d.port, "POST", "/v1/slots", {}, headers=bearer)
    assert slot[0] == 201
    sid = json.loads(slot[2])["slot_id"]
    assert tcp_exchange(d.port, "DELETE", "/v1/slots/" + sid, headers=cookie)[0] == 401
    assert tcp_exchange(d.port, "POST", "/v1/slots/%s/exec" % sid,
                        {"tool": "bash", "args": {"command": "true"}},
                        headers=cookie)[0] == 401
    assert tcp_exchange(d.port, "DELETE", "/v1/slots/" + sid, headers=bearer)[0] == 204
    # a forged cookie, a cookie of another name: nothing
    for bad in ("slotbox_token=" + "0" * 64, "slotbox_token=" + TOKEN,
                "xslotbox_token=" + parts[0].split("=", 1)[1]):
        assert tcp_exchange(d.port, "GET", "/v1/status",
                            headers={"Cookie": bad})[0] == 401, bad
    # the unix socket needs no token; other methods on / are refused
    code, _, body = unix_exchange(d.socket, "GET", "/")
    assert code == 200 and body == page
    assert unix_exchange(d.socket, "POST", "/", b"")[0] == 405
    assert TOKEN not in d.read_log()


# ---- reading the page back from Chromium ----

class Dom(html.parser.HTMLParser):
    """Elements with data-figure, and slot rows (tr[data-slot]) with their
    td[data-field] cells: attributes and text content."""
    VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col",
            "embed", "source", "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.stack, self.figures, self.rows, self.imgs = [], {}, [], 0
        self.title = ""
        self.pending = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs += 1
        if tag in self.VOID:
            return
        self.stack.append((tag, dict(attrs), []))

    def handle_data(self, data):
        for _, _, text in self.stack:
            text.append(data)

    def handle_endtag(self, tag):
        while self.stack:
            t, attrs, text = self.stack.pop()
            self.closed(t, attrs, "".join(text))
            if t == tag:
                return

    def closed(self, tag, attrs, text):
        if tag == "title":
            self.title = text
        if "data-figure" in attrs:
            self.figures[attrs["data-figure"]] = (attrs.get("data-value"), text)
        if tag == "tr" and "data-slot" in attrs:
            self.rows.append({"slot_id": attrs["data-slot"],
                              "sandbox": attrs["data-sandbox"],
                              "state": attrs["data-state"], "fields": {}})
            self.rows[-1]["fields"] = self.pending
        if tag == "td" and "data-field" in attrs:
            self.pending[attrs["data-field"]] = (attrs.get("data-value"), text)
        if tag == "tr":
            self.pending = {}


def chromium(url, tmp, *extra, budget_ms=3500):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile,
           "--virtual-time-budget=%d" % budget_ms, *extra, url]
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return p.stdout.decode()


def status(c):
    return api(c, "GET", "/v1/status?sandboxes=true", None, 200)


def counts(st):
    return {name: {f: pool[f] for f in POOL_FIELDS} for name, pool in st["pools"].items()}


def hists(c):
    """{metric: {profile: ([le...], [cumulative...])}} from /metrics."""
    code, body = c.request("GET", "/metrics")
    assert code == 200
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r'^(\w+)_bucket\{profile="([^"]*)",le="([^"]+)"\} (\S+)$', line)
        if not m:
            continue
        les, cum = out.setdefault(m.group(1), {}).setdefault(m.group(2), ([], []))
        les.append(math.inf if m.group(3) == "+Inf" else float(m.group(3)))
        cum.append(float(m.group(4)))
    return out


def quantile(q, les, cum):
    """Prometheus' histogram_quantile, as the page computes it."""
    n, total = len(cum), cum[-1]
    if not total > 0:
        return None
    rank, i = q * total, 0
    while i < n - 1 and cum[i] < rank:
        i += 1
    if les[i] == math.inf:
        return les[n - 2]
    lo, clo = (0.0, 0.0) if i == 0 else (les[i - 1], cum[i - 1])
    if cum[i] == clo:
        return les[i]
    return lo + (les[i] - lo) * (rank - clo) / (cum[i] - clo)


def summed(by_profile, only=None):
    les, acc = None, None
    for p, (l, cum) in sorted(by_profile.items()):
        if only is not None and p != only:
            continue
        les = l
        acc = list(cum) if acc is None else [a + b for a, b in zip(acc, cum)]
    return les, acc


def wait_settled(c, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(c)
        pools = st["pools"]
        if pools["default"]["healthy_sandboxes"] == 2 and all(
                p["starting_sandboxes"] == 0 for p in pools.values()) and all(
                s["state"] in ("available", "acquired")
                for sb in st["sandboxes"] for s in sb["slots"]):
            return st
        time.sleep(0.05)
    raise AssertionError(status(c))


def check_page(d, tmp):
    """Load the page in Chromium; compare what it shows with the daemon's
    own figures, taken just before and just after."""
    c = d.client()
    before = status(c)
    dom = Dom(chromium("http://127.0.0.1:%d/?token=%s" % (d.port, TOKEN), tmp,
                       "--dump-dom"))
    after = status(c)
    assert counts(before) == counts(after), "the pool moved during the check"
    f = dom.figures
    assert f["status"][1] == "ok", f["status"]
    assert int(f["polls"][0]) >= 2, f["polls"]  # it keeps polling
    assert f["version"][1] == api(c, "GET", "/v1/health", None, 200)["version"]
    for name, pool in counts(after).items():
        for field, want in pool.items():
            val, text = f["pool.%s.%s" % (name, field)]
            assert (int(val), text) == (want, str(want)), (name, field)
    # every slot, with its state, trajectory and lease age
    want = {s["slot_id"]: (sb["sandbox_id"], s) for sb in after["sandboxes"]
            for s in sb["slots"]}
    got = {r["slot_id"]: r for r in dom.rows}
    assert set(got) == set(want)
    old = {s["slot_id"]: s for sb in before["sandboxes"] for s in sb["slots"]}
    for sid, (sandbox, s) in want.items():
        r = got[sid]
        assert (r["sandbox"], r["state"]) == (sandbox, s["state"])
        assert r["fields"]["state"][1] == s["state"]
        assert r["fields"]["trajectory_id"][1] == (s["trajectory_id"] or "")
        age = r["fields"]["lease_age_s"][0]
        if s["lease_age_s"] is None:
            assert age == ""
        else:  # read by the page between our two reads
            assert old[sid]["lease_age_s"] - 0.01 <= float(age) <= s["lease_age_s"] + 0.01
    # latencies: the page's first poll counts everything since the start,
    # later ones add their deltas (none here), all within its 60 s window
    h = hists(c)
    for key, metric in (("acquire", "slotbox_acquire_wait_seconds"),
                        ("exec", "slotbox_exec_seconds")):
        les, cum = summed(h[metric])
        assert int(f["latency.%s.count" % key][0]) == cum[-1]
        for q in (0.5, 0.99):
            name = "latency.%s.p%d" % (key, round(q * 100))
            exp, val = quantile(q, les, cum), f[name][0]
            if exp is None:
                assert val == "", name
            else:
                assert math.isclose(float(val), exp, rel_tol=1e-9), (name, val, exp)
            for prof in after["pools"]:
                pl, pc = summed(h[metric], prof)
                pexp = quantile(q, pl, pc)
                pval = f["pool.%s.%s_p%d" % (prof, key, round(q * 100))][0]
                assert (pval == "") if pexp is None else math.isclose(
                    float(pval), pexp, rel_tol=1e-9), (prof, key, q)
    # data is text, never markup
    assert dom.imgs == 0 and dom.title == "slotbox"
    return dom, after


@needs_chromium
def test_dashboard_in_chromium(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    c = d.client()
    wait_settled(c)
    slots = {}
    for traj in ("traj-a", XSS, "traj-c"):
        slots[traj] = api(c, "POST", "/v1/slots", {"trajectory_id": traj}, 201)["slot_id"]
    for _ in range(3):
        api(c, "POST", "/v1/slots/%s/exec" % slots["traj-a"],
            {"tool": "bash", "args": {"command": "true"}}, 200)
    time.sleep(0.3)  # lease ages well above zero
    dom1, st1 = check_page(d, tmp_path)
    assert dom1.figures["pool.default.leased_slots"][1] == "3"
    assert dom1.figures["pool.small.total_slots"][1] == "0"
    assert dom1.figures["latency.exec.count"][1] == "3"
    assert dom1.figures["latency.exec.p50"][0] != ""
    assert any(r["fields"]["trajectory_id"][1] == XSS for r in dom1.rows)

    # the page follows the pool: release two, lease one more
    api(c, "DELETE", "/v1/slots/" + slots["traj-a"], None, 204)
    api(c, "DELETE", "/v1/slots/" + slots["traj-c"], None, 204)
    api(c, "POST", "/v1/slots", {"trajectory_id": "traj-d"}, 201)
    wait_settled(c)
    dom2, st2 = check_page(d, tmp_path)
    assert dom2.figures["pool.default.leased_slots"][1] == "2"
    assert dom2.figures["pool.default.available_slots"][1] == "2"
    assert dom2.figures["latency.acquire.count"][1] == "4"
    trajs = lambda dom: sorted(r["fields"]["trajectory_id"][1] for r in dom.rows
                               if r["fields"]["trajectory_id"][1])
    assert trajs(dom1) == sorted(["traj-a", XSS, "traj-c"])
    assert trajs(dom2) == sorted([XSS, "traj-d"])

    # and a picture of it
    png = tmp_path / "dashboard.png"
    chromium("http://127.0.0.1:%d/?token=%s" % (d.port, TOKEN), tmp_path,
             "--screenshot=%s" % png, "--window-size=1280,900", "--hide-scrollbars")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000, len(data)
    print("dashboard screenshot:", png)
    shots = os.environ.get("SLOTBOX_ARTIFACTS")
    if shots:
        os.makedirs(shots, exist_ok=True)
        shutil.copy(png, os.path.join(shots, "dashboard.png"))
    assert TOKEN not in d.read_log()
