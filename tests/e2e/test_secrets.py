# SPDX-License-Identifier: Apache-2.0
"""Secrets and env_vars: injected into every command, never shown by the
API, the logs or the state directory."""
import json
import os
import subprocess

import pytest

from conftest import SLOTBOXD, api

VALUE = "tok-TOPSECRET-8d1f2a"

PROFILE = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
    secrets: [creds]
    env_vars:
      PLAIN: visible
"""


def secrets_dir(tmp_path, content="API_TOKEN=%s\n# a comment\nOTHER=x y\n" % VALUE,
                mode=0o600):
    d = tmp_path / "secrets"
    d.mkdir(exist_ok=True)
    f = d / "creds"
    f.write_text(content)
    f.chmod(mode)
    return str(d)


def acquire(client):
    return api(client, "POST", "/v1/slots", {"trajectory_id": "t"}, 201)["slot_id"]


def bash(client, slot, command, env=None):
    args = {"command": command}
    if env:
        args["env"] = env
    return api(client, "POST", "/v1/slots/%s/exec" % slot,
               {"tool": "bash", "args": args}, 200)


def all_state_bytes(root):
    out = b""
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    out += f.read()
            except OSError:
                pass
    return out


def test_secrets_and_env_vars_reach_commands_only(make_daemon, tmp_path):
    d = make_daemon(PROFILE, args=["--secrets-dir", secrets_dir(tmp_path),
                                   "--log-level", "debug"])
    c = d.client()
    slot = acquire(c)
    r = bash(c, slot, 'echo "$API_TOKEN|$OTHER|$PLAIN"')
    assert r["metadata"]["stdout"] == "%s|x y|visible\n" % VALUE
    # a call's own env still wins (the caller asked for it)
    r = bash(c, slot, 'echo "$OTHER"', env={"OTHER": "mine"})
    assert r["metadata"]["stdout"] == "mine\n"
    # a failing command, a timeout and a file read: still nothing leaks
    bash(c, slot, "exit 3")
    api(c, "POST", "/v1/slots/%s/exec" % slot,
        {"tool": "bash", "args": {"command": "sleep 5"}, "timeout_s": 0.2}, 200)
    profiles = api(c, "GET", "/v1/profiles", None, 200)
    assert profiles["profiles"]["default"]["secrets"] == ["creds"]
    for path in ("/v1/profiles", "/v1/status", "/v1/health",
                 "/v1/slots/%s" % slot):
        code, body = c.request("GET", path)
        assert VALUE.encode() not in body, path
    api(c, "DELETE", "/v1/slots/%s" % slot, None, 204)
    assert VALUE not in d.read_log()
    assert VALUE.encode() not in all_state_bytes(d.state_dir)


def start_fails(tmp_path, sdir, profile=PROFILE):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(profile)
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "state"), "--config",
                        str(cfg), "--secrets-dir", sdir],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    return p.stderr


def test_missing_secret_stops_start(tmp_path):
    err = start_fails(tmp_path, str(tmp_path / "nowhere"))
    assert "secrets directory" in err and "nowhere" in err
    sdir = secrets_dir(tmp_path)
    os.unlink(os.path.join(sdir, "creds"))
    err = start_fails(tmp_path, sdir)
    assert 'secret "creds"' in err and 'profile "default"' in err


@pytest.mark.parametrize("content,mode,needle", [
    ("API_TOKEN %s\n" % VALUE, 0o600, "line 1"),
    ("API_TOKEN=%s\n" % VALUE, 0o666, "writable"),
])
def test_bad_secret_file_refused_without_its_value(tmp_path, content, mode, needle):
    err = start_fails(tmp_path, secrets_dir(tmp_path, content, mode))
    assert needle in err
    assert VALUE not in err
