"""Dask worker resource tags derived from hardware detection."""

from __future__ import annotations

from hardware.registry import detect_all


def resource_tags(hardware: list[str] | None = None) -> dict[str, float]:
    """Resource tags a Dask worker on this machine should carry, e.g. `{"cpu": 1, "openvino": 1}`.

    Each available backend is one unit, so a worker runs one measurement per backend at a time
    (measurements must not share the device with another measurement).

    Args:
        hardware: Restrict to these backends (still only the available ones). None = all.
    """
    statuses = detect_all()
    names = hardware if hardware is not None else list(statuses)
    return {name: 1.0 for name in names if statuses[name].available}
