# SPDX-License-Identifier: Apache-2.0
"""deploy/kubernetes and contrib/systemd, checked offline: every manifest
against a schema of its kind (k8s_schema.py), the references between
them (Secret, ConfigMap, volumes, labels and selectors, ports, the image
name kustomize rewrites), the daemon's flags against `slotboxd --help`,
and then the real daemon started with the DaemonSet's own arguments and
the ConfigMap's profiles, probed the way kubelet probes it."""
import glob
import http.client
import os
import re
import subprocess
import tempfile

import pytest
import yaml

from conftest import ROOT, SLOTBOXD, Daemon
from k8s_schema import validate

DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
TOKEN = "deploy-test-token-0123456789"


def load():
    """{(kind, name): doc} of every manifest, and the kustomization."""
    docs, kust = {}, None
    for path in sorted(glob.glob(os.path.join(DEPLOY, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                errors = validate(doc, os.path.basename(path))
                assert not errors, "\n".join(errors)
                if doc["kind"] == "Kustomization":
                    kust = doc
                else:
                    docs[(doc["kind"], doc["metadata"]["name"])] = dict(doc, _file=os.path.basename(path))
    return docs, kust


def one(docs, kind):
    found = [d for (k, _), d in docs.items() if k == kind]
    assert len(found) == 1, f"one {kind} expected, found {len(found)}"
    return found[0]


def flags(argv):
    """--name=value / --name value / --name -> {name: value or True}."""
    out, i = {}, 0
    while i < len(argv):
        a = argv[i]
        assert a.startswith("--"), f"stray argument {a!r}"
        if "=" in a:
            k, v = a[2:].split("=", 1)
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            k, v = a[2:], argv[i + 1]
            i += 1
        else:
            k, v = a[2:], True
        out[k] = v
        i += 1
    return out


def daemon_flags():
    help_text = subprocess.run([SLOTBOXD, "--help"], capture_output=True, text=True,
                               check=True).stdout
    return set(re.findall(r"--([a-z][a-z-]+)", help_text))


@pytest.fixture(scope="module")
def manifests():
    return load()


@pytest.fixture(scope="module")
def pod(manifests):
    docs, _ = manifests
    ds = one(docs, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    c = spec["containers"][0]
    return ds, spec, c, flags(c["args"])


def test_every_file_is_listed_and_namespaced(manifests):
    docs, kust = manifests
    files = {os.path.basename(p) for p in glob.glob(os.path.join(DEPLOY, "*.yaml"))}
    # secret.yaml stays out: applying it would put the placeholder back
    assert kust is not None and set(kust["resources"]) == files - {"kustomization.yaml",
                                                                    "secret.yaml"}
    ns = one(docs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for (kind, n), d in docs.items():
        if kind != "Namespace":
            assert d["metadata"].get("namespace") == ns["metadata"]["name"], (kind, n)


def test_labels_selectors_and_ports(manifests, pod):
    docs, kust = manifests
    ds, spec, c, f = pod
    tpl_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= tpl_labels.items()
    svc = one(docs, "Service")
    assert svc["spec"]["clusterIP"] == "None", "headless: one DNS record per node"
    assert svc["spec"].get("publishNotReadyAddresses", False) is False
    assert svc["spec"]["selector"].items() <= tpl_labels.items()
    cports = {p.get("name"): p["containerPort"] for p in c["ports"]}
    listen = re.fullmatch(r"tcp://(.+):(\d+)", f["listen"])
    assert listen, f["listen"]
    for p in svc["spec"]["ports"]:
        target = p.get("targetPort", p["port"])
        assert (cports.get(target) if isinstance(target, str) else target) == int(listen.group(2))
    assert [i["name"] for i in kust["images"]] == [c["image"]], "kustomize must rewrite the image"


def test_probes_match_the_daemon_flags(pod):
    ds, spec, c, f = pod
    known = daemon_flags()
    assert set(f) <= known, f"flags slotboxd does not know: {set(f) - known}"
    assert {"socket", "state-dir", "config", "listen", "token-file"} <= set(f)
    port = int(f["listen"].rsplit(":", 1)[1])
    cports = {p.get("name"): p["containerPort"] for p in c["ports"]}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[kind]["httpGet"]
        assert get["path"] == "/v1/health", kind
        p = get["port"]
        assert (cports[p] if isinstance(p, str) else p) == port, kind
        # kubelet sends no token: the daemon must let /v1/health through
        assert not get.get("httpHeaders") and f.get("public-health") is True, kind


def test_volumes_secret_and_configmap_resolve(manifests, pod):
    docs, _ = manifests
    ds, spec, c, f = pod
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert set(mounts.values()) == set(vols), "every volume mounted, every mount declared"

    def volume_of(path):
        best = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")),
                   key=len, default=None)
        assert best, f"{path} is on no volume"
        return vols[mounts[best]], os.path.relpath(path, best)

    vol, key = volume_of(f["token-file"])
    secret = docs[("Secret", vol["secret"]["secretName"])]
    assert key in {**secret.get("data", {}), **secret.get("stringData", {})}
    assert vol["secret"]["defaultMode"] == 0o400
    vol, key = volume_of(f["config"])
    cm = docs[("ConfigMap", vol["configMap"]["name"])]
    profiles = yaml.safe_load(cm["data"][key])
    assert profiles["default_profile"] in profiles["profiles"]
    vol, _ = volume_of(f["state-dir"])
    assert vol["hostPath"]["path"] == "/var/lib/slotbox"
    vol, rel = volume_of(f["cgroup"])
    assert (vol["hostPath"]["path"], rel) == ("/sys/fs/cgroup", ".")
    vol, _ = volume_of(os.path.dirname(f["socket"]))
    assert "emptyDir" in vol
    # host cgroups need the host's cgroup namespace, reached through PID 1
    assert spec["hostPID"] is True and c["securityContext"]["privileged"] is True
    assert c["command"][:2] == ["nsenter", "--cgroup=/proc/1/ns/cgroup"]
    assert c["command"][-1] == "slotboxd" and spec.get("hostNetwork", False) is False


def test_kustomize_builds_when_kubectl_is_here():
    """Optional: Debian's archive has no current kubectl; where one is
    installed, `kubectl kustomize` (offline) must build the directory."""
    kubectl = subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True, text=True)
    if kubectl.returncode != 0:
        pytest.skip("no kubectl")
    p = subprocess.run(["kubectl", "kustomize", DEPLOY], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "image: registry.example.com/slotbox/slotboxd:0.1.0" in p.stdout


def test_systemd_units_use_known_flags():
    known = daemon_flags()
    for unit in ("slotboxd.service", "slotboxd@.service"):
        with open(os.path.join(ROOT, "contrib", "systemd", unit)) as f:
            exec_start = re.search(r"^ExecStart=(\S+) (.*)$", f.read(), re.M)
        assert exec_start.group(1).endswith("/slotboxd")
        f = flags(exec_start.group(2).split())
        assert set(f) <= known, (unit, set(f) - known)
    assert f["listen"] == "tcp://%i" and "token-file" in f and f["public-health"] is True


def get(port, path, token=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def start_as_in_the_pod(pod, manifests, token):
    """slotboxd with the container's arguments: the ConfigMap's profiles,
    the token file, TCP on a free port of 127.0.0.1 instead of the pod's
    0.0.0.0:8390, the default cgroup mount instead of the host's at
    /host/sys/fs/cgroup, our own socket and state dir."""
    docs, _ = manifests
    ds, spec, c, f = pod
    tmp = tempfile.mkdtemp(prefix="sbx-deploy-", dir="/tmp")
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as fh:
        fh.write(token + "\n")
    os.chmod(token_file, 0o400)  # as the Secret's defaultMode mounts it
    cm = one(docs, "ConfigMap")
    args = []
    for k, v in f.items():
        if k in ("socket", "state-dir", "config", "cgroup"):
            continue
        v = {"listen": "tcp://127.0.0.1:0", "token-file": token_file}.get(k, v)
        args.append(f"--{k}" if v is True else f"--{k}={v}")
    d = Daemon(tmp, cm["data"][os.path.basename(f["config"])], args=args)
    return d, tmp


def test_daemon_runs_with_the_pods_arguments(pod, manifests):
    d, tmp = start_as_in_the_pod(pod, manifests, TOKEN)
    try:
        d.start(wait=True)
        m = re.search(r'listening.*?port\W+(\d+)', d.read_log())
        assert m, d.read_log()
        port = int(m.group(1))
        # what kubelet's httpGet probes do: no token
        status, body = get(port, "/v1/health")
        assert status == 200 and b'"ok":true' in body.replace(b" ", b"")
        assert get(port, "/v1/health", method="HEAD")[0] == 200
        assert get(port, "/v1/health?probe=1")[0] == 200
        # nothing else opens without the token, not even spellings of the path
        for path in ("/v1/status", "/v1/profiles", "/metrics", "/v1/health/",
                     "/v1/%68ealth", "/v1/health/../status", "//v1/health"):
            assert get(port, path)[0] == 401, path
        assert get(port, "/v1/health", method="POST")[0] == 401
        status, body = get(port, "/v1/status", token=TOKEN)
        assert status == 200 and b'"max_sandboxes":16' in body.replace(b" ", b"")
    finally:
        rc = d.stop()
        subprocess.run(["rm", "-rf", "--one-file-system", tmp], check=False)
    assert rc == 0, d.read_log()


def test_the_secrets_placeholder_is_refused(pod, manifests):
    docs, _ = manifests
    placeholder = one(docs, "Secret")["stringData"]["token"]
    d, tmp = start_as_in_the_pod(pod, manifests, placeholder)
    try:
        d.start(wait=False)
        assert d.proc.wait(timeout=30) != 0
        assert "at least 16 characters" in d.read_log()
    finally:
        d.stop()
        subprocess.run(["rm", "-rf", "--one-file-system", tmp], check=False)


def test_public_health_needs_listen():
    p = subprocess.run([SLOTBOXD, "--public-health"], capture_output=True, text=True)
    assert p.returncode == 2 and "--public-health needs --listen" in p.stderr


def test_the_schema_catches_the_usual_mistakes(pod):
    """The checker itself: each broken copy of the DaemonSet is refused."""
    import copy
    ds = pod[0]

    def broken(edit):
        d = copy.deepcopy({k: v for k, v in ds.items() if k != "_file"})
        edit(d["spec"]["template"]["spec"]["containers"][0], d)
        return validate(d, "x")

    assert not broken(lambda c, d: None)
    assert broken(lambda c, d: c.update(readinessprobe=c.pop("readinessProbe")))
    assert broken(lambda c, d: c["volumeMounts"][0].update(mountPath="var/lib"))
    assert broken(lambda c, d: c["ports"][0].update(containerPort="8390"))
    assert broken(lambda c, d: d["metadata"]["labels"].update(tier=1))
    assert broken(lambda c, d: c["livenessProbe"].update(exec={"command": ["true"]}))
    assert broken(lambda c, d: c["resources"]["requests"].update(cpu="a lot"))
    assert broken(lambda c, d: d["spec"]["template"]["spec"]["volumes"][0].pop("hostPath"))
    assert broken(lambda c, d: d.update(apiVersion="extensions/v1beta1"))
