# SPDX-License-Identifier: Apache-2.0
"""Typed exceptions for the API's error codes."""


class SlotboxError(Exception):
    """Any error answer from slotboxd: .status, .code, .message."""

    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BadRequest(SlotboxError): pass
class Unauthorized(SlotboxError): pass
class NotFound(SlotboxError): pass
class UnknownProfile(NotFound): pass
class SlotNotLeased(SlotboxError): pass
class AcquireTimeout(SlotboxError, TimeoutError):
    """No slot within the deadline; also a TimeoutError, as upstream pools raise."""
class PayloadTooLarge(SlotboxError): pass
class PathOutsideWorkspace(SlotboxError): pass
class SandboxLost(SlotboxError): pass
class InsufficientStorage(SlotboxError): pass
class SnapshotNotFound(NotFound): pass
class SnapshotExists(SlotboxError): pass
class TemplateMismatch(SlotboxError): pass
class ProcessNotFound(NotFound):
    """No such background process in the slot (never was, or killed)."""
class PortUnreachable(SlotboxError):
    """Nothing listens on that port inside the slot (502 from the proxy)."""
class NodeUnavailable(SlotboxError):
    """ClusterClient: no node could be reached for a call that holds no
    slot yet (acquire, status, ...). Code node_unavailable, status 503;
    the client makes it, no daemon answers it."""


_BY_CODE = {
    "bad_request": BadRequest,
    "unauthorized": Unauthorized,
    "not_found": NotFound,
    "unknown_profile": UnknownProfile,
    "slot_not_leased": SlotNotLeased,
    "acquire_timeout": AcquireTimeout,
    "payload_too_large": PayloadTooLarge,
    "path_outside_workspace": PathOutsideWorkspace,
    "sandbox_lost": SandboxLost,
    "insufficient_storage": InsufficientStorage,
    "snapshot_not_found": SnapshotNotFound,
    "snapshot_exists": SnapshotExists,
    "snapshot_profile_mismatch": TemplateMismatch,
    "template_mismatch": TemplateMismatch,
    "port_unreachable": PortUnreachable,
    "process_not_found": ProcessNotFound,
}


def error_for(status, code, message):
    return _BY_CODE.get(code, SlotboxError)(status, code, message)
