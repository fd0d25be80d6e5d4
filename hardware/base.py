"""The shape every hardware backend shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class BackendStatus:
    """The result of probing one backend on this machine.

    Attributes:
        name: Backend name (`cpu`, `cuda`, ...).
        available: Whether models can run on it here.
        reason: Why not, when unavailable; empty when available.
        details: Device names, counts, memory, versions... whatever applies.
    """

    name: str
    available: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as printed by `skillsets hardware --json`."""
        return {"available": self.available, "reason": self.reason, "details": self.details}


class Backend:
    """A hardware backend: a name, the torch device it maps to, and a probe.

    Subclasses implement `_probe`; `probe` is cached by the registry.
    """

    name: ClassVar[str]
    #: torch device type used to run a model here ("cpu" for OpenVINO and QNN, which compile
    #: from a CPU-resident torch model).
    torch_device: ClassVar[str] = "cpu"
    #: skillset method that initialises a model on this backend (original framework's names).
    init_method: ClassVar[str]

    def probe(self) -> BackendStatus:
        """Probe this backend on the current machine (uncached)."""
        raise NotImplementedError
