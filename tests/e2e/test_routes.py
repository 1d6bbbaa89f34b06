# SPDX-License-Identifier: Apache-2.0
"""The route table (src/api/routes.c): a known path with a method it does
not serve answers 405, an unknown path 404, a slot path names the missing
slot first; each answer is the API's error body."""
import json

from conftest import api

# (path, the methods it serves); "{S}" is a leased slot's id
SERVED = [
    ("/v1/health", {"GET", "HEAD"}),
    ("/v1/profiles", {"GET", "HEAD"}),
    ("/v1/status", {"GET", "HEAD"}),
    ("/metrics", {"GET", "HEAD"}),
    ("/v1/slots", {"POST"}),
    ("/v1/exec", {"POST"}),
    ("/v1/slots/{S}", {"GET", "HEAD", "DELETE"}),
    ("/v1/slots/{S}/exec", {"POST"}),
    ("/v1/slots/{S}/file", {"GET", "HEAD", "PUT"}),
    ("/v1/slots/{S}/list", {"GET", "HEAD"}),
    ("/v1/slots/{S}/archive", {"GET", "HEAD", "PUT"}),
    ("/v1/slots/{S}/renew", {"POST"}),
    ("/v1/slots/{S}/fork", {"POST"}),
    ("/v1/slots/{S}/snapshot", {"POST"}),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def error(client, method, path, status):
    code, data = client.request(method, path, raw=True)
    assert code == status, (method, path, code, data)
    return json.loads(data)["error"]


def test_wrong_method_is_405(client):
    sid = api(client, "POST", "/v1/slots", {}, status=201)["slot_id"]
    for path, served in SERVED:
        real = path.replace("{S}", sid)
        for method in METHODS:
            if method in served:
                continue
            e = error(client, method, real, 405)
            assert e["code"] == "method_not_allowed", (method, path, e)
            # top-level paths name themselves; a slot's say "here"
            where = "here" if "{S}" in path else f"on {real}"
            assert e["message"] == f"{method} is not allowed {where}", e
    # nothing was done by any of them: the slot is still leased
    assert api(client, "GET", f"/v1/slots/{sid}", status=200)["state"] == "acquired"


def test_unknown_path_is_404(client):
    sid = api(client, "POST", "/v1/slots", {}, status=201)["slot_id"]
    for method in METHODS:
        for path in ["/v1/nothing", "/v1", "/v1/healthz", "/v1/slotsx",
                     "/v1/executions", "/v1/imagesx", "/v1/snapshotsx"]:
            e = error(client, method, path, 404)
            assert e == {"code": "not_found", "message": f"no endpoint {path}"}
        for sub in ["nothing", "exec/", "execx", "file/x", "portsx"]:
            e = error(client, method, f"/v1/slots/{sid}/{sub}", 404)
            assert e == {"code": "not_found", "message": "no such endpoint"}
        # the slot is looked up before the endpoint and the method
        for sub in ["", "/exec", "/nothing"]:
            e = error(client, method, f"/v1/slots/nope_slot_0{sub}", 404)
            assert e == {"code": "not_found",
                         "message": 'no slot "nope_slot_0"'}, (method, sub, e)
        e = error(client, method, "/v1/slots//exec", 404)
        assert e == {"code": "not_found", "message": "no such slot"}


def test_served_method_reaches_its_handler(client):
    sid = api(client, "POST", "/v1/slots", {}, status=201)["slot_id"]
    base = sid.rsplit(".", 1)[0]
    # a lease check comes after the route: an ended lease's id is 409
    stale = f"{base}.{int(sid.rsplit('.', 1)[1]) + 7}"
    e = error(client, "POST", f"/v1/slots/{stale}/exec", 409)
    assert e["code"] == "slot_not_leased"
    # a trailing slash names the slot itself, as it always did
    assert api(client, "GET", f"/v1/slots/{sid}/", status=200)["slot_id"] == sid
    code, _ = client.request("DELETE", f"/v1/slots/{sid}/")
    assert code == 204
    e = error(client, "DELETE", f"/v1/slots/{sid}", 409)
    assert e == {"code": "slot_not_leased",
                 "message": f"slot {sid} is not leased"}
