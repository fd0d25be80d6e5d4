"""Marks shared by several test modules."""

from __future__ import annotations

import pytest

from hardware.registry import probe

#: OpenVINO is a pinned dependency, so this skips only on a machine where its package or CPU
#: device cannot load (`skillsets hardware` says why).
needs_openvino = pytest.mark.skipif(
    not probe("openvino").available, reason="openvino is not available here"
)
