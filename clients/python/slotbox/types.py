"""Slot and ExecutionResult with the shapes RL frameworks already use."""
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
    slot_id: str
    alloc_id: str  # the sandbox id
    container_addr: str
    workspace_dir: str
    state: SlotState = SlotState.ACQUIRED
    trajectory_id: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    # The daemon that holds the lease (its socket path or http:// URL):
    # a ClusterClient routes every call for the slot there.
    endpoint: str = ""

    @property
    def is_available(self) -> bool:
        return self.state == SlotState.AVAILABLE

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
                          **{k: d[k] for k in ("snapshot", "ttl_s") if k in d}),
            endpoint=endpoint,
        )


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

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "ExecutionResult":
        return cls(success=bool(d.get("success")), output=d.get("output", ""),
                   error=d.get("error", ""), execution_id=d.get("execution_id", ""),
                   slot_id=d.get("slot_id", ""), metadata=dict(d.get("metadata") or {}))
