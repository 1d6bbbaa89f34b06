# SPDX-License-Identifier: Apache-2.0
"""Slot, ExecutionResult and ToolResult with the shapes RL frameworks already
use (atropos-agent's Slot / ExecutionResult / ToolResult), so code written
against them reads and calls ours unchanged."""
import importlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Dict, Optional


class SlotState(str, Enum):
    AVAILABLE = "available"
    ACQUIRED = "acquired"
    EXECUTING = "executing"
    RELEASING = "releasing"
    ERROR = "error"
    STARTING = "starting"


@dataclass
class Slot:
    """One leased workspace. Compares equal by value; to_dict()/from_dict()
    round-trip. The state methods only track the lease on this side (the
    daemon holds the real one) and refuse the moves upstream refuses."""
    slot_id: str
    alloc_id: str  # the sandbox id
    container_addr: str
    workspace_dir: str = ""
    state: SlotState = SlotState.ACQUIRED
    trajectory_id: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    # The daemon that holds the lease (its socket path or http:// URL):
    # a ClusterClient routes every call for the slot there.
    endpoint: str = ""

    def __post_init__(self):
        if not isinstance(self.state, SlotState):
            self.state = SlotState(getattr(self.state, "value", self.state))
        if not self.workspace_dir:
            self.workspace_dir = "/workspace"

    @property
    def is_available(self) -> bool:
        return self.state == SlotState.AVAILABLE

    @property
    def is_acquired(self) -> bool:
        return self.state in (SlotState.ACQUIRED, SlotState.EXECUTING)

    def acquire(self, trajectory_id: Optional[str] = None) -> None:
        if not self.is_available:
            raise RuntimeError(f"slot {self.slot_id} cannot be acquired: it is {self.state.value}")
        self.state = SlotState.ACQUIRED
        self.trajectory_id = trajectory_id or str(uuid.uuid4())

    def start_execution(self, execution_id: Optional[str] = None) -> None:
        if self.state != SlotState.ACQUIRED:
            raise RuntimeError(f"slot {self.slot_id} cannot start a call: it is {self.state.value}")
        self.state = SlotState.EXECUTING
        if execution_id:
            self.metadata["current_execution_id"] = execution_id

    def end_execution(self) -> None:
        if self.state != SlotState.EXECUTING:
            raise RuntimeError(f"slot {self.slot_id} runs no call: it is {self.state.value}")
        self.state = SlotState.ACQUIRED
        self.metadata.pop("current_execution_id", None)

    def release(self) -> None:
        self.state = SlotState.AVAILABLE
        self.trajectory_id = None
        self.metadata.pop("current_execution_id", None)

    def mark_error(self, error: str) -> None:
        self.state = SlotState.ERROR
        self.metadata["error"] = error

    def to_dict(self) -> Dict[str, Any]:
        return {"slot_id": self.slot_id, "alloc_id": self.alloc_id,
                "container_addr": self.container_addr, "workspace_dir": self.workspace_dir,
                "state": self.state.value, "trajectory_id": self.trajectory_id,
                "metadata": dict(self.metadata), "endpoint": self.endpoint}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Slot":
        return cls(slot_id=data["slot_id"], alloc_id=data["alloc_id"],
                   container_addr=data["container_addr"],
                   workspace_dir=data.get("workspace_dir", ""),
                   state=SlotState(data.get("state", "available")),
                   trajectory_id=data.get("trajectory_id"),
                   metadata=dict(data.get("metadata") or {}),
                   endpoint=data.get("endpoint", ""))

    @classmethod
    def from_api(cls, d: Dict[str, Any], endpoint: str) -> "Slot":
        try:
            state = SlotState(d.get("state", "acquired"))
        except ValueError:
            state = SlotState.ERROR
        return cls(
            slot_id=d["slot_id"],
            alloc_id=d["sandbox_id"],
            container_addr=f"slotbox://{endpoint}/{d['sandbox_id']}",
            workspace_dir=d.get("workspace_dir", "/workspace"),
            state=state,
            trajectory_id=d.get("trajectory_id"),
            metadata=dict({"profile": d.get("profile"), "acquired_at": d.get("acquired_at")},
                          **{k: d[k] for k in ("snapshot", "ttl_s", "fork_ms", "forked_from")
                             if k in d}),
            endpoint=endpoint,
        )


@dataclass
class ToolResult:
    """Stands in for atropos-agent's ToolResult when that is not importable."""
    success: bool
    output: str = ""
    error: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)
    uniq_id: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_xml(self) -> str:
        data: Dict[str, Any] = {"success": self.success, "output": self.output}
        for k in ("uniq_id", "error", "metadata"):
            if getattr(self, k):
                data[k] = getattr(self, k)
        return f"<tool_response>{json.dumps(data)}</tool_response>"


# Where the caller's own ToolResult type may live (first importable wins).
TOOL_RESULT_MODULES = ("atropos.tools.base", "atropos_agent.tools.base")
_tool_result_type = None


def tool_result_type():
    """The ToolResult class of the framework in this process, else ours."""
    global _tool_result_type
    if _tool_result_type is None:
        for mod in TOOL_RESULT_MODULES:
            try:
                _tool_result_type = importlib.import_module(mod).ToolResult
                break
            except (ImportError, AttributeError):
                continue
        else:
            _tool_result_type = ToolResult
    return _tool_result_type


@dataclass
class ExecutionResult:
    success: bool
    output: str = ""
    error: str = ""
    execution_id: str = ""
    slot_id: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_tool_result(self):
        """The caller's ToolResult (uniq_id: this call's execution id; the
        ToolExecutor sets its own tool-call id on it afterwards)."""
        return tool_result_type()(success=self.success, output=self.output, error=self.error,
                                  metadata=self.metadata, uniq_id=self.execution_id)

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "ExecutionResult":
        return cls(success=bool(d.get("success")), output=d.get("output", ""),
                   error=d.get("error", ""), execution_id=d.get("execution_id", ""),
                   slot_id=d.get("slot_id", ""), metadata=dict(d.get("metadata") or {}))
