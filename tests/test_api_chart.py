"""The API chart: latency against load from stored `benchmark='api'` rows (seeded, exact)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from skillsets.api.client import RequestResult
from skillsets.api.load import Load
from skillsets.api.metrics import summarize
from skillsets.api.rows import ApiRowMaker
from warehouse.charts_api import api_latency_chart, api_latency_frame
from warehouse.frames import records_frame
from warehouse.records import ResultRecord


def _level_rows(run_id: str, concurrency: int, ttft_s: float) -> list[ResultRecord]:
    results = [RequestResult(ok=True, ttft=ttft_s + i / 1000, latency=ttft_s + 0.1,
                             output_tokens=5, itl=[0.025] * 4) for i in range(5)]
    maker = ApiRowMaker(run_id, "env", "gpt2", "api:127.0.0.1:8000/v1/chat/completions")
    return maker.level_rows(Load(concurrency=concurrency), summarize(results, 1.0))


def _history() -> list[ResultRecord]:
    old = _level_rows("run-1", 1, 0.500)  # superseded by run-2: the chart shows the latest
    new = _level_rows("run-2", 1, 0.010) + _level_rows("run-2", 4, 0.040)
    later = old[0].measured_at + timedelta(seconds=1)
    return old + [row.model_copy(update={"measured_at": later}) for row in new]


def test_frame_holds_the_latest_latency_per_load_in_ms() -> None:
    frame = api_latency_frame(records_frame("results", _history()))
    ttft = frame.filter(frame["metric"] == "ttft").sort("concurrency")
    assert ttft["concurrency"].to_list() == [1, 4]
    assert ttft["p50_ms"].to_list() == pytest.approx([12.0, 42.0])
    assert set(ttft["run_id"]) == {"run-2"}
    assert set(frame["endpoint"]) == {"gpt2 @ 127.0.0.1:8000/v1/chat/completions"}
    assert set(frame["metric"]) == {"ttft", "tpot", "itl", "e2e_latency"}
    assert set(frame["load"]) == {"closed-loop"}


def test_chart_offers_each_latency_metric() -> None:
    spec = api_latency_chart(records_frame("results", _history())).to_dict()
    (param,) = spec["params"]
    assert param["bind"]["options"] == ["ttft", "tpot", "itl", "e2e_latency"]
    assert spec["title"] == "API endpoints: latency against load"


def test_chart_without_api_rows_says_so() -> None:
    inference = _history()[0].model_copy(update={"benchmark": "inference", "metric": "latency"})
    spec = api_latency_chart(records_frame("results", [inference])).to_dict()
    assert "no API benchmark results" in str(spec)
