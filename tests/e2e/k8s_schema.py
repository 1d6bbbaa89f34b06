# SPDX-License-Identifier: Apache-2.0
"""A small offline schema for the Kubernetes kinds in deploy/kubernetes:
the fields slotbox's manifests use (and their common neighbours), with
types, required keys and value formats. Unknown keys are errors, so a
misspelt field (readinessprobe, mountpath) fails here instead of being
silently dropped by the API server's pruning. No cluster, no kubectl.

A spec is a type (str, int, bool), a predicate (a function returning an
error or None), a dict {key: spec} where "key?" is optional, or a
one-element list [spec] for a list of such items."""
import base64
import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def name(v):
    if not isinstance(v, str) or len(v) > 63 or not DNS_LABEL.match(v):
        return f"{v!r} is not a DNS-1123 label"
    return None


def labels(v):
    if not isinstance(v, dict):
        return "labels must be a map"
    for k, val in v.items():
        if not isinstance(k, str) or not LABEL_KEY.match(k) or len(k.split("/")[-1]) > 63:
            return f"bad label key {k!r}"
        if not isinstance(val, str) or len(val) > 63 or not LABEL_VALUE.match(val):
            return f"label {k}: value {val!r} must be a string of at most 63 label characters"
    return None


def str_map(v):
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str)
                                          for k, x in v.items()):
        return "must map strings to strings (quote numbers and booleans)"
    return None


def b64_map(v):
    err = str_map(v)
    if err:
        return err
    for k, x in v.items():
        try:
            base64.b64decode(x, validate=True)
        except ValueError:
            return f"data.{k} is not base64"
    return None


def one_of(*values):
    return lambda v: None if v in values else f"{v!r} is not one of {values}"


def port(v):
    return None if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 \
        else f"{v!r} is not a port number"


def port_or_name(v):
    if isinstance(v, str):
        return None if len(v) <= 15 and PORT_NAME.match(v) and re.search("[a-z]", v) \
            else f"{v!r} is not a port name"
    return port(v)


def abs_path(v):
    return None if isinstance(v, str) and v.startswith("/") else f"{v!r} is not an absolute path"


def count(lo):
    return lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= lo \
        else f"{v!r} is not an integer >= {lo}"


def quantity(v):
    return None if isinstance(v, str) and QUANTITY.match(v) or isinstance(v, int) \
        else f"{v!r} is not a quantity"


def int_or_percent(v):
    return None if isinstance(v, int) or isinstance(v, str) and re.match(r"^[0-9]+%$", v) \
        else f"{v!r} is not an integer or a percentage"


def file_mode(v):
    return None if isinstance(v, int) and 0 <= v <= 0o777 else f"{v!r} is not a file mode"


def anything(v):
    return None


META = {"name": name, "namespace?": name, "labels?": labels, "annotations?": str_map}
KEY_TO_PATH = [{"key": str, "path": str, "mode?": file_mode}]
PROBE = {
    "httpGet?": {"path": abs_path, "port": port_or_name, "host?": str,
                 "scheme?": one_of("HTTP", "HTTPS"),
                 "httpHeaders?": [{"name": str, "value": str}]},
    "tcpSocket?": {"port": port_or_name},
    "exec?": {"command": [str]},
    "initialDelaySeconds?": count(0), "periodSeconds?": count(1), "timeoutSeconds?": count(1),
    "successThreshold?": count(1), "failureThreshold?": count(1),
    "terminationGracePeriodSeconds?": count(0),
}
RESOURCES = {"requests?": {"cpu?": quantity, "memory?": quantity, "ephemeral-storage?": quantity},
             "limits?": {"cpu?": quantity, "memory?": quantity, "ephemeral-storage?": quantity}}
CONTAINER = {
    "name": name, "image": str,
    "imagePullPolicy?": one_of("Always", "IfNotPresent", "Never"),
    "command?": [str], "args?": [str], "workingDir?": abs_path,
    "env?": [{"name": str, "value?": str, "valueFrom?": anything}],
    "ports?": [{"name?": port_or_name, "containerPort": port,
                "protocol?": one_of("TCP", "UDP", "SCTP")}],
    "securityContext?": {"privileged?": bool, "allowPrivilegeEscalation?": bool,
                         "readOnlyRootFilesystem?": bool, "runAsUser?": count(0),
                         "capabilities?": {"add?": [str], "drop?": [str]}},
    "startupProbe?": PROBE, "readinessProbe?": PROBE, "livenessProbe?": PROBE,
    "resources?": RESOURCES,
    "volumeMounts?": [{"name": name, "mountPath": abs_path, "readOnly?": bool, "subPath?": str,
                       "mountPropagation?": one_of("None", "HostToContainer", "Bidirectional")}],
}
VOLUME = {
    "name": name,
    "hostPath?": {"path": abs_path,
                  "type?": one_of("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File",
                                  "Socket", "CharDevice", "BlockDevice")},
    "emptyDir?": {"medium?": one_of("", "Memory"), "sizeLimit?": quantity},
    "configMap?": {"name": name, "items?": KEY_TO_PATH, "defaultMode?": file_mode,
                   "optional?": bool},
    "secret?": {"secretName": name, "items?": KEY_TO_PATH, "defaultMode?": file_mode,
                "optional?": bool},
}
POD_SPEC = {
    "hostPID?": bool, "hostNetwork?": bool, "hostIPC?": bool,
    "automountServiceAccountToken?": bool, "enableServiceLinks?": bool,
    "serviceAccountName?": name, "priorityClassName?": str,
    "terminationGracePeriodSeconds?": count(0), "nodeSelector?": labels,
    "tolerations?": [anything], "affinity?": anything,
    "containers": [CONTAINER], "initContainers?": [CONTAINER], "volumes?": [VOLUME],
}

KINDS = {
    ("v1", "Namespace"): {"metadata": META},
    ("v1", "ConfigMap"): {"metadata": META, "data?": str_map, "binaryData?": b64_map,
                          "immutable?": bool},
    ("v1", "Secret"): {"metadata": META, "type?": str, "data?": b64_map, "stringData?": str_map,
                       "immutable?": bool},
    ("v1", "Service"): {"metadata": META, "spec": {
        "type?": one_of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
        "clusterIP?": str, "publishNotReadyAddresses?": bool, "selector": labels,
        "ports": [{"name?": port_or_name, "port": port, "targetPort?": port_or_name,
                   "protocol?": one_of("TCP", "UDP", "SCTP")}]}},
    ("apps/v1", "DaemonSet"): {"metadata": META, "spec": {
        "selector": {"matchLabels": labels},
        "updateStrategy?": {"type": one_of("RollingUpdate", "OnDelete"),
                            "rollingUpdate?": {"maxUnavailable?": int_or_percent,
                                               "maxSurge?": int_or_percent}},
        "minReadySeconds?": count(0), "revisionHistoryLimit?": count(0),
        "template": {"metadata": {"labels": labels, "annotations?": str_map},
                     "spec": POD_SPEC}}},
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): {
        "resources": [str], "namespace?": name,
        "images?": [{"name": str, "newName?": str, "newTag?": str, "digest?": str}]},
}

ONE_OF = {id(PROBE): ("httpGet", "tcpSocket", "exec"),
          id(VOLUME): ("hostPath", "emptyDir", "configMap", "secret")}


def check(obj, spec, path="$"):
    """Every error in obj against spec, as 'path: message' strings."""
    if isinstance(spec, type):
        ok = isinstance(obj, spec) and not (spec is int and isinstance(obj, bool))
        return [] if ok else [f"{path}: {obj!r} is not a {spec.__name__}"]
    if callable(spec):
        err = spec(obj)
        return [f"{path}: {err}"] if err else []
    if isinstance(spec, list):
        if not isinstance(obj, list) or not obj:
            return [f"{path}: must be a non-empty list"]
        return [e for i, item in enumerate(obj) for e in check(item, spec[0], f"{path}[{i}]")]
    if not isinstance(obj, dict):
        return [f"{path}: must be a map"]
    errors = []
    known = {k.rstrip("?"): k.endswith("?") for k in spec}
    for k in obj:
        if k not in known:
            errors.append(f"{path}: unknown field {k!r}")
    for k, optional in known.items():
        if k in obj:
            errors += check(obj[k], spec[k + "?" if optional else k], f"{path}.{k}")
        elif not optional:
            errors.append(f"{path}: {k!r} is required")
    handlers = ONE_OF.get(id(spec))
    if handlers and sum(h in obj for h in handlers) != 1:
        errors.append(f"{path}: exactly one of {handlers} is required")
    return errors


def validate(doc, where):
    """Errors of one manifest document (apiVersion, kind and its fields)."""
    if not isinstance(doc, dict):
        return [f"{where}: not a map"]
    spec = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
    if spec is None:
        return [f"{where}: unknown apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}"]
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    return check(body, spec, f"{where}:{doc['kind']}")
