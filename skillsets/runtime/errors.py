"""Errors the runtime raises when a skill cannot be loaded or run as asked."""

from __future__ import annotations


class SkillUnavailableError(RuntimeError):
    """A model type cannot run here; the message says why and what would make it run.

    Raised for missing optional libraries (timm, torchvision, natten...), inputs the runtime cannot
    build, and weights that are not on disk.
    """


class UnsupportedCombinationError(SkillUnavailableError):
    """The runtime knowingly has no path for this task on this backend (e.g. OpenVINO has no
    encoder-decoder generate loop yet): not a bug of the model, a gap with a stated reason."""


class UnsupportedPrecisionError(ValueError):
    """A precision was asked of a hardware that cannot run it (fp16 on cpu, int8 on cuda...)."""
