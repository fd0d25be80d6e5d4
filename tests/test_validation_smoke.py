"""Smoke runs of real skillsets (bert, gpt2, vit) on cpu and OpenVINO, in process and isolated.

Real tiny random-weight models from each type's config; nothing is mocked.
"""

from __future__ import annotations

import math

import pytest
import torch
from marks import needs_openvino

from hardware.registry import probe
from skillsets.runtime.decode import with_start_ids
from skillsets.runtime.skill import load_skill
from skillsets.validation.causes import classify
from skillsets.validation.outputs import compare, flatten
from skillsets.validation.smoke import (
    SmokeCheckError,
    SmokeOptions,
    _compare_with_torch,
    _SmokeRun,
    smoke_test,
)
from skillsets.validation.tolerance import parity_limit

MODELS = ("bert", "gpt2", "vit")
# The inventory builds every head class; covered once below, skipped elsewhere to keep this fast.
FAST = SmokeOptions(inventory=False)



@pytest.mark.parametrize("model_type", MODELS)
def test_cpu_smoke_passes_with_round_trip(model_type):
    result = smoke_test(model_type, "cpu", options=FAST)
    assert result.status == "pass", (result.message, result.details.get("traceback"))
    assert set(result.details["inputs"]) == {"1", "2"}
    assert result.details["roundtrip"]["identical"] is True
    assert any(name.endswith(".safetensors") for name in result.details["roundtrip"]["files"])
    assert result.details["batch_consistency"]["checked"] is True
    assert result.max_abs_diff is None
    assert {"load", "forward_bs1", "forward_bs2", "roundtrip"} <= set(result.timings)


@needs_openvino
@pytest.mark.parametrize("model_type", MODELS)
def test_openvino_matches_torch(model_type):
    result = smoke_test(model_type, "openvino", options=FAST)
    assert result.status == "pass", (result.message, result.details.get("traceback"))
    # f32 on every x86 CPU, with or without bf16 instructions: the hint is set, not inherited.
    assert result.execution_precision == "f32"
    assert result.max_abs_diff is not None and math.isfinite(result.max_abs_diff)
    assert result.max_abs_diff < 1e-4
    assert result.details["compiled_vs_torch"]["arrays"] >= 1


@needs_openvino
@pytest.mark.parametrize("model_type", ["pocket_tts", "musicgen"])
def test_a_task_openvino_has_no_path_for_is_unsupported_not_failed(model_type):
    # pocket_tts and musicgen (an encoder-decoder) generate audio in their own generate():
    # openvino's generate loops produce token ids (decoder-only and encoder-decoder), so it
    # has no path for them.
    result = smoke_test(model_type, "openvino", options=FAST)
    assert result.status == "unsupported"
    assert result.error_type == "UnsupportedCombinationError"
    assert "generate loop" in result.message


@needs_openvino
def test_a_reference_that_depends_on_torchs_attention_implementation_is_told_apart():
    # PaliGemma's bidirectional text config: under sdpa transformers skips the mask and the
    # module attends both ways; eager attention, and the trace OpenVINO converts, are causal.
    result = smoke_test("paligemma", "openvino", options=FAST)
    assert result.status == "fail"
    assert result.error_type == "TorchAttentionDisagrees", result.message
    compared = result.details["compiled_vs_torch"]
    assert compared["max_abs_diff"] > 0.1  # against torch's sdpa
    assert compared["eager"]["max_abs_diff"] < 1e-4 and compared["eager"]["attention"] == "sdpa"
    assert classify(result.error_type, "openvino", result.message).name == (
        "torch-attention-disagrees")


@needs_openvino
def test_the_eager_check_puts_every_attention_setting_back():
    skill = load_skill("paligemma", "openvino")
    prepared = with_start_ids(skill.model, skill.prepare(skill.example_inputs(1)))
    with torch.inference_mode():
        before = skill.model(**prepared, use_cache=False).logits
    run = _SmokeRun("paligemma", "openvino", FAST)
    run.result.details["compiled_vs_torch"] = {}
    comparison = _compare_with_torch(skill, prepared, FAST.seed)
    with pytest.raises(SmokeCheckError, match="equals torch with eager attention"):
        run.explain_by_attention(skill, prepared, comparison, parity_limit("f32"))
    with torch.inference_mode():
        after = skill.model(**prepared, use_cache=False).logits
    assert {m.config._attn_implementation for m in skill.model.modules()
            if hasattr(getattr(m, "config", None), "_attn_implementation_internal")} == {"sdpa"}
    assert torch.equal(before, after)


def test_inventory_lists_every_head_class_of_bert():
    result = smoke_test("bert", "cpu", options=SmokeOptions(roundtrip=False))
    assert result.status == "pass", result.message
    inventory = result.details["inventory"]
    names = {c["class_name"] for c in inventory["classes"]}
    assert {
        "BertModel",
        "BertForMaskedLM",
        "BertForSequenceClassification",
        "BertForQuestionAnswering",
        "BertForMultipleChoice",
    } <= names
    assert inventory["heads"] == len(names)
    assert inventory["ran"] == inventory["heads"], [c for c in inventory["classes"] if not c["ran"]]
    # Without a saved checkpoint (no round trip) every other head is built from the config.
    assert {c["via"] for c in inventory["classes"] if c["class_name"] != "BertModel"} == {
        "from_config"
    }


def test_inventory_loads_heads_from_the_round_trip_checkpoint():
    result = smoke_test("bert", "cpu", options=SmokeOptions())
    assert result.status == "pass", result.message
    classes = result.details["inventory"]["classes"]
    # The skillset's own class is known from the smoke run; every other head loads, as a user
    # would load it, from the folder the round trip saved.
    others = [c for c in classes if c["class_name"] != "BertModel"]
    assert len(others) >= 6
    assert all(c["via"] == "from_pretrained" and c["ran"] for c in others), others


def test_unknown_model_type_fails_at_load_with_its_name():
    result = smoke_test("no-such-model", "cpu", options=FAST)
    assert result.status == "fail" and result.stage == "load"
    assert "no-such-model" in result.message


def test_isolated_sweep_records_pass_and_skip():
    """The sweep path end to end on a thread pool: a real pass on cpu, a skip for absent cuda."""
    from skillsets.validation.sweep import SweepPlan, run_validation_sweep

    hardware = ["cpu"] if probe("cuda").available else ["cpu", "cuda"]
    records = run_validation_sweep(
        None,
        ["bert"],
        hardware,
        "test-run",
        plan=SweepPlan(options=FAST),
        workers=1,
        environment_id="env-test",
        progress=False,
    )
    by_hw = {r.hardware: r for r in records}
    assert by_hw["cpu"].status == "pass", by_hw["cpu"].message
    assert by_hw["cpu"].details["timings"]["process_start"] < 5
    if "cuda" in by_hw:
        assert by_hw["cuda"].status == "skip" and by_hw["cuda"].error_type == "HardwareAbsent"


def test_compare_pairs_by_position_and_by_path():
    import numpy as np

    a = {"logits": np.array([[1.0, 2.0]]), "hidden": np.array([[0.0]])}
    b = {"x": np.array([[1.0, 2.5]]), "y": np.array([[0.0]])}
    by_position = compare(flatten(a), flatten(b))
    assert by_position.max_abs_diff == 0.5 and by_position.worst_path == "x"
    assert compare(flatten(a), flatten(b), by_path=True).mismatch.startswith("nothing to compare")
    assert (
        "shape"
        in compare(flatten({"l": np.zeros((2, 2))}), flatten({"l": np.zeros((1, 2))})).mismatch
    )
