"""What machine we are on: backend registry, probes, environment fingerprint, Dask resource tags.

This package never imports Prefect and never imports an optional SDK that is not installed.
"""

from hardware.base import BackendStatus
from hardware.registry import BACKEND_NAMES, detect_all, get_backend, probe

__all__ = ["BACKEND_NAMES", "BackendStatus", "detect_all", "get_backend", "probe"]
