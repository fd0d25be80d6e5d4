"""The original framework's skillset interface, on top of `load_skill`.

Every generated `hf_<type>` class subclasses `HfSkillset` and declares only what is specific to
its model; `init_<hardware>` methods return the original 5-tuple
`(endpoint, processor, handler, queue, batch_size)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from skillsets.runtime.skill import Skill, load_skill

#: What every init_<hardware> method returns: (endpoint, processor, handler, queue, batch_size).
InitResult = tuple[Any, Any, "SkillHandler", asyncio.Queue, int]
QUEUE_SIZE = 64


class SkillHandler:
    """The callable an init method returns: natural input in, the task's output dict out.

    A single input (a str, an HxWx3 image, a 1-D waveform, a dict for multimodal inputs) gives
    one result; a list gives a batch. Every result names the hardware it ran on; after a
    fallback, `label` is the label actually used and `fallback_from` the one asked for.
    """

    def __init__(self, skill: Skill, label: str) -> None:
        self.skill = skill
        self.requested_label = label
        self.label = f"cpu:0 (fallback from {label})" if skill.fallback_from else label

    def __call__(self, natural: Any) -> dict[str, Any]:
        out = self.skill(natural)
        out["label"] = self.label
        out["fallback_from"] = self.requested_label if self.skill.fallback_from else None
        return out


class HfSkillset:
    """Base of every generated skillset class: one model type, any hardware.

    Subclasses set the class attributes from the catalog; nothing here is model-specific.
    """

    model_type: ClassVar[str] = ""
    family: ClassVar[str] = ""
    task: ClassVar[str] = ""
    auto_class: ClassVar[str] = ""
    model_class: ClassVar[str] = ""
    config_class: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    output: ClassVar[str] = ""
    tier: ClassVar[str] = ""
    note: ClassVar[str] = ""

    def __init__(self, resources: Mapping[str, Any] | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.resources = dict(resources or {})
        self.metadata = dict(metadata or {})
        self.skill: Skill | None = None

    def _init(self, hardware: str, model_name: str | None, device: str, label: str) -> InitResult:
        """Load on `hardware` (cpu when absent) and wrap the skill in the original 5-tuple.

        `metadata` may set `precision` (default fp32), `batch_size` (default 1) and `seed`.
        `device` is kept for the original signature: the backend decides the torch device.
        """
        skill = load_skill(
            self.model_type,
            hardware,
            str(self.metadata.get("precision", "fp32")),
            model_name or self.model_type,
            seed=int(self.metadata.get("seed", 0)),
        )
        self.skill = skill
        endpoint = skill.model
        batch_size = int(self.metadata.get("batch_size", 1))
        handler = SkillHandler(skill, label)
        return endpoint, skill.processor, handler, asyncio.Queue(QUEUE_SIZE), batch_size
