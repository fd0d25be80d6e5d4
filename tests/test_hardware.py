"""Hardware probes, run for real on this machine (CPU-only torch, openvino installed)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from hardware.fingerprint import EnvironmentFingerprint, environment_fingerprint
from hardware.names import UnknownNameError
from hardware.registry import BACKEND_NAMES, detect_all, get_backend, probe, resolve_hardware
from hardware.resources import resource_tags

ON_CPU_ONLY_TORCH = torch.version.cuda is None and torch.version.hip is None


def test_registry_has_every_backend() -> None:
    assert BACKEND_NAMES == ("cpu", "cuda", "rocm", "openvino", "mps", "qnn")


def test_unknown_backend_suggests_close_match() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_backend("cdua")
    assert info.value.suggestions == ["cuda"]
    assert "Did you mean cuda?" in str(info.value)


def test_cpu_probe_reports_real_details() -> None:
    status = probe("cpu")
    assert status.available and status.reason == ""
    assert status.details["logical_cores"] >= 1
    assert status.details["memory_bytes"] > 2**30
    assert status.details["device_name"]


def test_probes_are_cached() -> None:
    assert probe("openvino") is probe("openvino")


def test_openvino_probe_lists_the_cpu_device() -> None:
    status = probe("openvino")
    assert status.available, status.reason
    assert "CPU" in [d["id"] for d in status.details["devices"]]
    assert status.details["openvino_version"]


@pytest.mark.skipif(
    not ON_CPU_ONLY_TORCH, reason="asserts the reasons given by a CPU-only torch build"
)
def test_absent_backends_say_why() -> None:
    statuses = detect_all()
    assert statuses["cuda"].reason == "torch built without CUDA"
    assert "ROCm" in statuses["rocm"].reason
    assert not any(statuses[n].available for n in ("cuda", "rocm"))


@pytest.mark.skipif(sys.platform == "darwin", reason="asserts the non-macOS reason")
def test_mps_absent_off_macos() -> None:
    assert probe("mps").reason.startswith("not macOS")


def test_qnn_without_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QNN_SDK_ROOT", raising=False)
    status = get_backend("qnn").probe()
    assert not status.available and "no QNN SDK" in status.reason


def test_qnn_with_an_sdk_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib" / "x86_64-linux-clang"
    lib.mkdir(parents=True)
    (lib / "libQnnHtp.so").write_bytes(b"")
    monkeypatch.setenv("QNN_SDK_ROOT", str(tmp_path))
    status = get_backend("qnn").probe()
    assert status.available
    assert status.details["backend_libs"] == ["libQnnHtp.so"]


def test_resource_tags_follow_detection() -> None:
    tags = resource_tags()
    assert tags == {name: 1.0 for name, s in detect_all().items() if s.available}
    assert tags["cpu"] == 1.0
    assert resource_tags(["cpu"]) == {"cpu": 1.0}


def test_resolve_hardware_splits_present_and_absent() -> None:
    present, absent = resolve_hardware(["cpu", "mps"])
    assert present == ["cpu"] and absent == ["mps"]
    auto, none_absent = resolve_hardware(["auto"])
    assert "cpu" in auto and none_absent == []


def test_fingerprint_is_stable_and_sensitive() -> None:
    fp = environment_fingerprint()
    assert len(fp.environment_id) == 16
    assert fp.packages["torch"] == torch.__version__
    same = EnvironmentFingerprint(**fp.model_dump(exclude={"environment_id"}))
    assert same.environment_id == fp.environment_id
    changed = EnvironmentFingerprint(
        **{**fp.model_dump(exclude={"environment_id"}), "git_sha": "other"}
    )
    assert changed.environment_id != fp.environment_id


def test_cli_hardware_json_is_keyed_by_backend() -> None:
    result = CliRunner().invoke(app, ["hardware", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == list(BACKEND_NAMES)
    assert data["cpu"]["available"] is True
    for name, entry in data.items():
        assert set(entry) == {"available", "reason", "details"}
        assert entry["available"] or entry["reason"], name
