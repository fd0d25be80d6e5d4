"""The numbers a nightly's report shows are the ones that were measured, with their meaning.

One nightly as the flows write it: a validate run, then a benchmark run that stores every metric
the benchmarks emit (latencies in ms, startup and task times in s), then a later validate run
whose checks the nightly's report must not see. The rendered HTML is read back and its numbers
compared with the warehouse.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warehouse_data import ENV, ENVIRONMENT

from skillsets.tiers import TIERS
from warehouse.records import CompatibilityRecord, ResultRecord, RunRecord
from warehouse.report import build_report
from warehouse.store import Warehouse

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
#: p50 in ms of each (model, hardware) latency at batch 1, and the whole task's wall time in s.
LATENCY_MS = {("bert", "cpu"): 9.0, ("whisper", "cpu"): 438.0, ("bert", "openvino"): 6.5}
TASK_S = {("bert", "cpu"): 12.0, ("whisper", "cpu"): 75.0, ("bert", "openvino"): 20.0}
STARTUP_S = {"import_time": 6.0, "instantiation_time": 0.5, "init_time": 2.0}


def _check(
    run_id: str, model: str, hardware: str, status: str, at: datetime
) -> CompatibilityRecord:
    failed = status == "fail"
    return CompatibilityRecord(
        run_id=run_id, environment_id=ENV, model_type=model, hardware=hardware, status=status,
        error_type="RuntimeError" if failed else "UnsupportedCombinationError"
        if status == "unsupported" else None,
        message="boom" if failed else "no generate loop" if status == "unsupported" else None,
        checked_at=at, execution_precision="f32" if status == "pass" else None,
    )


def _row(model: str, hardware: str, metric: str, value: float, unit: str, **extra: object):
    return ResultRecord(
        run_id="bench-1", environment_id=ENV, model_type=model, hardware=hardware,
        benchmark="inference", metric=metric, value=value, unit=unit, n=1,
        measured_at=T0 + timedelta(minutes=15), execution_precision="f32", **extra,
    )


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("truth")
    path = root / "warehouse.duckdb"
    runs = [
        RunRecord(run_id="validate-1", flow="validate", started_at=T0,
                  ended_at=T0 + timedelta(minutes=9), status="completed", git_sha="a",
                  environment_id=ENV),
        RunRecord(run_id="bench-1", flow="benchmark", started_at=T0 + timedelta(minutes=10),
                  ended_at=T0 + timedelta(minutes=30), status="completed", git_sha="a",
                  environment_id=ENV),
        # The next night's validation: later than the report run, so not part of its report.
        RunRecord(run_id="validate-2", flow="validate", started_at=T0 + timedelta(days=1),
                  ended_at=T0 + timedelta(days=1, minutes=9), status="completed", git_sha="b",
                  environment_id=ENV),
    ]
    at = T0 + timedelta(minutes=5)
    checks = [
        _check("validate-1", "bert", "cpu", "pass", at),
        _check("validate-1", "bert", "openvino", "pass", at),
        _check("validate-1", "whisper", "cpu", "pass", at),
        _check("validate-1", "t5", "cpu", "fail", at),
        _check("validate-1", "t5", "openvino", "unsupported", at),
        _check("validate-2", "bert", "cpu", "fail", T0 + timedelta(days=1, minutes=5)),
        _check("validate-2", "whisper", "cpu", "fail", T0 + timedelta(days=1, minutes=5)),
    ]
    results = []
    for (model, hardware), ms in LATENCY_MS.items():
        results.append(_row(model, hardware, "latency", ms, "ms", p50=ms, p90=ms * 1.1,
                            p99=ms * 1.2, min=ms * 0.9, max=ms * 1.3))
        results.append(_row(model, hardware, "prefill_latency", ms / 3, "ms", p50=ms / 3))
        results.append(_row(model, hardware, "task_time", TASK_S[(model, hardware)], "s"))
        for metric, seconds in STARTUP_S.items():
            results.append(_row(model, hardware, metric, seconds, "s"))
        results.append(_row(model, hardware, "load_memory", 2e8, "bytes"))
    with Warehouse.open(path, quarantine_dir=root / "quarantine") as wh:
        wh.record_environment(ENVIRONMENT)
        for run in runs:
            wh.record_run(run)
        wh.record_models([
            {"model_type": "bert", "family": "encoder-only", "task": "feature-extraction",
             "tier": "critical"},
            {"model_type": "whisper", "family": "speech/audio", "task": "asr", "tier": "critical"},
            {"model_type": "t5", "family": "encoder-decoder", "task": "text2text",
             "tier": "critical"},
        ])
        wh.load_compatibility(checks)
        wh.load_results(results)
        paths = build_report(wh, "bench-1", output_dir=root / "report", formats="html,json",
                             tiers=TIERS)
    return paths.html.read_text(), root / "report"


def _cells(html: str, hardware: str) -> list[str]:
    row = re.search(rf"<tr><td>{hardware}</td>(.*?)</tr>", html, re.S)
    assert row, f"no summary row for {hardware}"
    return re.findall(r'<td class="num">([^<]*)</td>', row.group(1))


def test_the_nightly_report_shows_the_checks_of_its_own_night(report_html) -> None:
    html, _ = report_html
    # validate-1: bert, whisper pass on cpu, t5 fails; openvino: bert passes, t5 unsupported.
    # validate-2 (the next night) would have made cpu 0 of 3.
    assert re.search(r"<b>75%</b><span>compatibility pass rate</span>", html)
    checked, passed, failed, unsupported, skipped, rate = _cells(html, "cpu")[:6]
    assert (checked, passed, failed, unsupported, skipped, rate) == ("3", "2", "1", "0", "0", "67%")
    assert _cells(html, "openvino")[:6] == ["2", "1", "0", "1", "0", "100%"]


def test_the_latency_column_holds_latencies_only(report_html) -> None:
    html, _ = report_html
    # median of the batch-1 latency p50s on cpu: bert 9 ms and whisper 438 ms; not the task
    # time (75 s = 75,000 ms), nor import, init or prefill.
    assert _cells(html, "cpu")[-1] == f"{(9.0 + 438.0) / 2:.2f}"
    assert _cells(html, "openvino")[-1] == "6.50"


def test_the_slowest_chart_is_in_ms_and_matches_the_slowest_latency(report_html) -> None:
    _, folder = report_html
    spec = json.loads((folder / "charts" / "movers.json").read_text())
    slowest = next(c for c in spec["hconcat"] if c["title"].startswith("Slowest"))
    values = spec["datasets"][slowest["data"]["name"]]
    top = max(values, key=lambda v: v["latest_ms"])
    assert (top["model_type"], top["hardware"], top["latest_ms"]) == ("whisper", "cpu", 438.0)
    assert {v["latest_ms"] for v in values} == set(LATENCY_MS.values())
    assert slowest["encoding"]["x"]["title"] == "latency p50 (ms)"


def test_startup_costs_have_their_own_chart_in_seconds(report_html) -> None:
    _, folder = report_html
    spec = json.loads((folder / "charts" / "startup.json").read_text())
    values = spec["datasets"][spec["data"]["name"]]
    assert {v["metric"] for v in values} == set(STARTUP_S)
    for value in values:
        assert value["seconds"] == pytest.approx(STARTUP_S[value["metric"]])
    assert spec["encoding"]["x"]["title"] == "seconds"
