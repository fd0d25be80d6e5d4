"""Marks shared by several test modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hardware.registry import probe

if TYPE_CHECKING:
    from skillsets.runtime import Skill

#: OpenVINO is a pinned dependency, so this skips only on a machine where its package or CPU
#: device cannot load (`skillsets hardware` says why).
needs_openvino = pytest.mark.skipif(
    not probe("openvino").available, reason="openvino is not available here"
)


def openvino_skill(model_type: str) -> Skill:
    """`model_type`'s skill loaded on OpenVINO, for module fixtures; skips where `needs_openvino`
    does, whatever marks the requesting test carries."""
    if not probe("openvino").available:
        pytest.skip("openvino is not available here")
    from skillsets.runtime import load_skill  # torch and transformers: only where a test loads

    return load_skill(model_type, "openvino")
