"""Coverage analysis over synthetic compatibility records, with exact expectations."""

from __future__ import annotations

from skillsets.validation.coverage import (
    Rate,
    build_report,
    diff_histogram,
    diff_statistics,
    normalise_message,
    render_html,
    render_markdown,
)
from warehouse.records import CompatibilityRecord


def rec(
    model_type,
    hardware,
    status,
    *,
    tier="all",
    family="vision",
    error_type=None,
    message=None,
    diff=None,
    stage=None,
):
    return CompatibilityRecord(
        run_id="r1",
        environment_id="e1",
        model_type=model_type,
        hardware=hardware,
        status=status,
        error_type=error_type,
        message=message,
        max_abs_diff=diff,
        seconds=1.0,
        details={
            "tier": tier,
            "family": family,
            "stage": stage,
            "timings": {"load": 0.5, "forward_bs1": 0.25, "process_start": 0.01},
        },
    )


RECORDS = [
    rec("bert", "cpu", "pass", tier="critical", family="encoder-only"),
    rec("bert", "openvino", "pass", tier="critical", family="encoder-only", diff=2e-7),
    rec("albert", "cpu", "pass", tier="high", family="encoder-only"),
    rec(
        "albert",
        "openvino",
        "fail",
        tier="high",
        family="encoder-only",
        error_type="CompiledMismatch",
        message="[compiled] openvino differs from torch by 0.5 at logits",
        diff=0.5,
        stage="compiled",
    ),
    rec(
        "dinat",
        "cpu",
        "fail",
        error_type="ModuleNotFoundError",
        stage="load",
        message="[load] No module named 'natten'",
    ),
    rec(
        "nat",
        "cpu",
        "fail",
        error_type="ModuleNotFoundError",
        stage="load",
        message="[load] No module named 'natten'",
    ),
    rec(
        "timm_wrapper",
        "cpu",
        "fail",
        error_type="ModuleNotFoundError",
        stage="load",
        message="[load] No module named 'timm'",
    ),
    rec("vit", "cuda", "skip", tier="critical"),
]


def test_rates_by_hardware_tier_and_family():
    report = build_report(RECORDS)
    assert report.overall["cpu"] == Rate(2, 3, 0)
    assert report.overall["openvino"] == Rate(1, 1, 0)
    assert report.overall["cuda"] == Rate(0, 0, 1)
    assert report.overall["cpu"].rate == 0.4
    assert report.overall["cuda"].rate is None
    # Tiers nest: critical inside high inside medium inside all.
    assert report.by_tier["critical"]["cpu"] == Rate(1, 0, 0)
    assert report.by_tier["high"]["cpu"] == Rate(2, 0, 0)
    assert report.by_tier["medium"]["openvino"] == Rate(1, 1, 0)
    assert report.by_tier["all"]["cpu"] == Rate(2, 3, 0)
    assert report.by_family["vision"]["cpu"] == Rate(0, 3, 0)
    assert report.by_family["encoder-only"]["openvino"] == Rate(1, 1, 0)


def test_failures_grouped_by_cause_largest_first():
    causes = build_report(RECORDS).causes
    assert [(c.error_type, c.cause, c.model_types) for c in causes] == [
        ("ModuleNotFoundError", "No module named 'natten'", ("dinat", "nat")),
        ("CompiledMismatch", "openvino differs from torch by N at logits", ("albert",)),
        ("ModuleNotFoundError", "No module named 'timm'", ("timm_wrapper",)),
    ]
    assert causes[0].stage == "load" and causes[0].hardware == ("cpu",)
    assert "dependencies" in causes[0].hint


def test_normalise_message_abstracts_run_specific_parts():
    assert normalise_message(
        "[forward] shape [1, 8, 64] vs (2, 8) in BertSelfAttention at 0x7f3a"
    ) == ("shape [N, N, N] vs (N, N) in {Class} at 0x…")
    assert (
        normalise_message("/work/x/.venv/lib/modeling_llama.py line 12")
        == "modeling_llama.py line N"
    )
    assert normalise_message("") == ""


def test_diff_distribution():
    values = [0.0, 5e-8, 2e-7, 3e-6, 0.5]
    stats = diff_statistics(values)
    assert stats == {"n": 5, "min": 0.0, "p50": 2e-7, "p90": 0.5, "p99": 0.5, "max": 0.5}
    assert diff_statistics([])["p50"] is None
    hist = dict(diff_histogram(values))
    assert hist["== 0"] == 1 and hist["<= 1e-07"] == 1 and hist["<= 1e-06"] == 1
    assert hist["<= 1e-05"] == 1 and hist["> 0.1"] == 1
    report = build_report(RECORDS)
    assert report.diff_stats["openvino"]["max"] == 0.5
    assert report.diff_stats["openvino"]["n"] == 2


def test_timings_are_summed_per_hardware():
    report = build_report(RECORDS)
    assert report.timings["cpu"]["load"] == 2.5
    assert report.timings["cpu"]["records"] == 5


def test_renderings_show_rates_and_causes():
    report = build_report(RECORDS)
    md = render_markdown(report)
    assert "| cpu | 2 | 3 | 0 | 0 | 40.0% |" in md
    assert "No module named 'natten'" in md and "dinat, nat" in md
    page = render_html(report)
    assert page.startswith("<!doctype html>") and "No module named &#x27;natten&#x27;" in page
    assert "<script" not in page


def test_records_as_dicts_with_json_details():
    import json

    rows = [{**r.model_dump(), "details": json.dumps(r.details)} for r in RECORDS]
    assert build_report(rows).overall == build_report(RECORDS).overall
