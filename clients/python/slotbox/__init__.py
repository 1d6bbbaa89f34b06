# SPDX-License-Identifier: Apache-2.0
"""slotbox: a standard-library client for slotboxd.

    from slotbox import SlotboxToolBackend      # asyncio, drop-in ToolBackend
    from slotbox import AsyncClient             # asyncio, every endpoint
    from slotbox import Client                  # synchronous, for scripts
    from slotbox import ClusterClient           # Client over many nodes
"""
from .errors import (AcquireTimeout, BadRequest, InsufficientStorage, NodeUnavailable, NotFound,
                     PathOutsideWorkspace, PayloadTooLarge, SandboxLost, SlotboxError,
                     SlotNotLeased, SnapshotExists, SnapshotNotFound, TemplateMismatch,
                     UnknownProfile, Unauthorized, PortUnreachable, ProcessNotFound)
from .types import ExecutionResult, Slot, SlotState, ToolResult
from .procs import AsyncProcess, PortResponse, Process, ProcessOutput, StreamEvent
from .aio import AsyncClient
from .client import Client
from .cluster import ClusterClient
from .backend import SlotboxToolBackend

__all__ = [
    "Client", "AsyncClient", "ClusterClient", "ToolResult", "SlotboxToolBackend", "Slot", "SlotState", "ExecutionResult",
    "SlotboxError", "AcquireTimeout", "SlotNotLeased", "SandboxLost", "NotFound",
    "UnknownProfile", "BadRequest", "PayloadTooLarge", "PathOutsideWorkspace",
    "Unauthorized", "InsufficientStorage", "SnapshotNotFound", "SnapshotExists",
    "TemplateMismatch", "NodeUnavailable", "PortUnreachable", "ProcessNotFound",
    "Process", "AsyncProcess", "ProcessOutput", "StreamEvent", "PortResponse",
]
