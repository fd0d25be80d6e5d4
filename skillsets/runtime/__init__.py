"""The shared runtime every generated skillset imports: loading, inputs, handlers, fallback.

Importing it pins the HuggingFace libraries offline before they are imported: nothing is ever
downloaded, a model id resolves only to files already on disk. The public names are imported on
first use, so `import skillsets.runtime.errors` (or a CLI that only lists commands) stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    from skillsets.runtime.errors import (  # noqa: F401
        SkillUnavailableError,
        UnsupportedPrecisionError,
    )
    from skillsets.runtime.precision import PRECISIONS  # noqa: F401
    from skillsets.runtime.skill import Skill, load_skill  # noqa: F401

# Imported eagerly (it is light): the function must shadow its same-named submodule, which
# Python would otherwise bind here on the first `import skillsets.runtime.tiny_config`.
from skillsets.runtime.tiny_config import tiny_config  # noqa: E402, F401

_EXPORTS = {
    "PRECISIONS": "skillsets.runtime.precision",
    "Skill": "skillsets.runtime.skill",
    "SkillUnavailableError": "skillsets.runtime.errors",
    "UnsupportedPrecisionError": "skillsets.runtime.errors",
    "load_skill": "skillsets.runtime.skill",
}
__all__ = sorted([*_EXPORTS, "tiny_config"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'skillsets.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
