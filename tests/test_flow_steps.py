"""The deployment pull step finds the project's folder without an environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.steps import HOME_VARIABLE, enter_project_home, project_home

REPO = Path(__file__).resolve().parents[1]


def test_without_the_variable_the_installed_checkout_is_home(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(HOME_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)  # a worker's temporary folder
    assert project_home() == REPO
    assert enter_project_home() == {"directory": str(REPO)}
    assert Path.cwd() == REPO


def test_the_variable_wins_and_a_bad_value_is_named(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))
    assert project_home() == tmp_path.resolve()
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match=f"{HOME_VARIABLE}=.*missing is not a folder"):
        project_home()


def test_every_deployment_names_its_flow_by_module() -> None:
    import yaml

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert spec["pull"] == [{"flows.steps.enter_project_home": {}}]
    for deployment in spec["deployments"]:
        module, _, name = deployment["entrypoint"].partition(":")
        assert "/" not in module and not module.endswith(".py"), deployment["entrypoint"]
        flow = getattr(__import__(module, fromlist=[name]), name)
        assert callable(flow), deployment["entrypoint"]


def test_weekly_deployment_sweeps_the_whole_catalog_on_cpu_and_openvino() -> None:
    import inspect

    import yaml

    from flows.validate import validate

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    weekly = next(d for d in spec["deployments"] if d["name"] == "validate-all-weekly")
    assert weekly["entrypoint"] == "flows.validate:validate"
    assert weekly["parameters"] == {"priority": "all", "hardware": ["cpu", "openvino"]}
    assert [s["active"] for s in weekly["schedules"]] == [True]
    inspect.signature(validate.fn).bind(**weekly["parameters"])  # the flow takes them
