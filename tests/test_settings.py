"""Settings: environment variables, flag overrides, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillsets.settings import DATA_DIR, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WAREHOUSE", "OUTPUT_DIR", "SCHEDULER_ADDRESS", "HARDWARE"):
        monkeypatch.delenv(f"SKILLSETS_{var}", raising=False)


def test_defaults_live_in_the_project_data_folder() -> None:
    settings = load_settings()
    assert settings.warehouse == DATA_DIR / "warehouse.duckdb"
    assert settings.scheduler_address == ""
    assert settings.hardware == ["auto"]


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("SKILLSETS_HARDWARE", "cpu, openvino")
    settings = load_settings()
    assert settings.warehouse == tmp_path / "w.duckdb"
    assert settings.hardware == ["cpu", "openvino"]


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SKILLSETS_HARDWARE", "cpu")
    assert load_settings(hardware=["openvino"], warehouse=None).hardware == ["openvino"]


def test_unknown_hardware_names_the_variable_and_suggests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLSETS_HARDWARE", "cpu,opnevino")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "SKILLSETS_HARDWARE" in message
    assert "Did you mean openvino?" in message


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(SettingsError, match="flag --hardware: .*unknown hardware backend 'gpu'"):
        load_settings(hardware=["gpu"])


def test_scheduler_address_needs_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLSETS_SCHEDULER_ADDRESS", "10.0.0.5:8786")
    with pytest.raises(SettingsError, match="SKILLSETS_SCHEDULER_ADDRESS: .*tcp://10.0.0.5:8786"):
        load_settings()


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(SettingsError, match="flag --colour"):
        load_settings(colour="blue")
