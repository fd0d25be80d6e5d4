"""The environment fingerprint: what a result was measured on. Every stored row carries its id."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import psutil
from pydantic import BaseModel, Field

from hardware.cpu import cpu_model_name
from hardware.registry import detect_all

REPO_ROOT = Path(__file__).resolve().parents[1]
_VERSIONED_PACKAGES = ("torch", "transformers", "openvino", "prefect", "dask", "duckdb")


class EnvironmentFingerprint(BaseModel):
    """Machine, software and code version of one environment.

    The id is a hash of everything but itself, so the same machine with the same software and
    code always gets the same id, and any change (a torch upgrade, a new commit) a new one.
    """

    environment_id: str = ""
    hostname: str
    cpu_model: str
    cpu_cores: int
    memory_bytes: int
    os: str
    python: str
    packages: dict[str, str | None]
    hardware: dict[str, str | None] = Field(description="available backend -> device name")
    git_sha: str

    def model_post_init(self, _context: object) -> None:
        if not self.environment_id:
            payload = self.model_dump(exclude={"environment_id"})
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            self.environment_id = digest[:16]


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_sha(repo: Path = REPO_ROOT) -> str:
    """The checkout's commit (`-dirty` when it has uncommitted changes), or `SKILLSETS_GIT_SHA`."""
    if sha := os.environ.get("SKILLSETS_GIT_SHA"):
        return sha
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


@functools.cache
def environment_fingerprint() -> EnvironmentFingerprint:
    """This process's environment fingerprint (computed once)."""
    statuses = detect_all()
    return EnvironmentFingerprint(
        hostname=platform.node(),
        cpu_model=cpu_model_name(),
        cpu_cores=os.cpu_count() or 0,
        memory_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        packages={name: package_version(name) for name in _VERSIONED_PACKAGES},
        hardware={n: s.details.get("device_name") for n, s in statuses.items() if s.available},
        git_sha=git_sha(),
    )
