"""Deployment pull steps: where a worker runs a flow of this project, found without help.

Deployments name their flows by module (`flows.nightly:nightly`), so a worker imports them from
the installed project wherever it runs; no checkout path is stored in a deployment. What still
depends on a folder is where relative settings land (`data/warehouse.duckdb`, `data/output`):
this step picks that folder, or fails saying what to set.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Set it to run flows in another folder than the project's checkout (its data/ is used).
HOME_VARIABLE = "SKILLSETS_HOME"


def project_home() -> Path:
    """The folder flows run in: `$SKILLSETS_HOME`, else the checkout the project is installed
    from (an editable install, as `make install` makes).

    Raises:
        RuntimeError: neither is set or found (a wheel install with no SKILLSETS_HOME); the
            message names the variable to set.
    """
    configured = os.environ.get(HOME_VARIABLE)
    if configured:
        home = Path(configured).expanduser()
        if not home.is_dir():
            raise RuntimeError(f"{HOME_VARIABLE}={configured} is not a folder; point it at the "
                               "folder whose data/ should hold the warehouse and reports")
        return home.resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "prefect.yaml").is_file():
        return checkout
    raise RuntimeError(
        f"hf-skillsets is installed as a package at {checkout}, not from a checkout, so this "
        f"worker has no folder for data/: set {HOME_VARIABLE} (or SKILLSETS_WAREHOUSE and "
        "SKILLSETS_OUTPUT_DIR as absolute paths) in the worker's environment"
    )


def enter_project_home() -> dict[str, str]:
    """Pull step: change to `project_home()`; returns it as the step's output `directory`."""
    home = project_home()
    os.chdir(home)
    return {"directory": str(home)}
