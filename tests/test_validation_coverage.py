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


def test_broad_causes_group_fail_and_unsupported_with_examples():
    records = [
        *RECORDS,
        rec("idefics", "openvino", "unsupported", error_type="UnsupportedCombinationError",
            message="[load] idefics: openvino runs forward passes, decoder-only and "
            "encoder-decoder generation; image-text-to-text needs a multimodal generate loop "
            "(run it on cpu)"),
        rec("granitemoe", "openvino", "fail", error_type="SkillUnavailableError", stage="load",
            message="[load] openvino could not convert GraniteMoeForCausalLM: "
            "OpConversionFailure: no conversion rule for aten::histc"),
        rec("glm5", "openvino", "fail", error_type="SkillUnavailableError", stage="load",
            message="[load] openvino could not convert Glm5Model: OpConversionFailure: "
            "no conversion rule for aten::histc, aten::nan_to_num"),
        rec("wavlm", "openvino", "fail", error_type="Surprise", stage="forward",
            message="[forward] something nobody classified"),
    ]
    groups = {g.cause.name: g for g in build_report(records).categories}
    assert {name: (g.model_types, g.failed, g.unsupported) for name, g in groups.items()} == {
        "missing-library": (("dinat", "nat", "timm_wrapper"), 3, 0),
        "openvino-unconverted-op": (("glm5", "granitemoe"), 2, 0),
        "compiled-differs": (("albert",), 1, 0),
        "openvino-no-generate-loop": (("idefics",), 0, 1),
        "other": (("wavlm",), 1, 0),
    }
    assert groups["openvino-unconverted-op"].hardware == ("openvino",)
    assert "TRACEABLE_REPLACEMENTS" in groups["openvino-unconverted-op"].cause.hint
    assert list(groups)[0] == "missing-library"  # most model types first
    text = render_markdown(build_report(records))
    assert "| 2 | 2 | 0 | openvino-unconverted-op:" in text
    assert "glm5, granitemoe" in text


def test_classify_the_frontend_and_runtime_messages_seen_in_sweeps():
    from skillsets.validation.causes import classify

    cases = {
        ("SkillUnavailableError", "openvino",
         "openvino could not convert {Class}: OpConversionFailure: conversion failed for "
         "SequenceMark (This is OpenVINO internal type. Consumer: opset1::Result"):
            "openvino-list-value",
        ("SkillUnavailableError", "openvino",
         "openvino could not convert {Class}: RuntimeError: Couldn't get TorchScript module by "
         "tracing."): "openvino-trace-failed",
        ("RuntimeError", "openvino",
         "openvino inference rejected the inputs {'pixel_values': [N, N]}: Can't set the input "
         "tensor"): "openvino-inference-rejected",
        ("SkillUnavailableError", "cpu",
         "{type}: {Class}.forward needs image_grid_thw, which the image input builder does not "
         "produce"): "inputs-not-buildable",
        ("RuntimeError", "openvino",
         "openvino inference rejected the inputs {'pixel_values': (N, N)}: [CPU] Reshape node "
         "with name '__module.model.embeddings/prim::ListConstruct/SequenceMark/Reshape'"):
            "openvino-inference-rejected",
        ("SkillUnavailableError", "openvino",
         "openvino could not convert {Class}: RuntimeError: While validating node "
         "'opset1::MatMul'"): "openvino-graph-shape-invalid",
        ("RuntimeError", "openvino", "shape '[-N, N, N]' is invalid for input of size N"):
            "openvino-example-rejected",
        ("Timeout", "cpu", "no result in N s"): "timeout",
        ("Surprise", "cpu", "never seen"): "other",
    }
    assert {key: classify(*key).name for key in cases} == cases


#: Normalised messages of the whole-catalog sweep (bench-validate-33e377c0) that no rule
#: classified then, one per new rule or pattern, each with the cause it has now.
SWEEP_MESSAGES = {
    ("SkillUnavailableError", "openvino",
     "openvino could not convert {Class}: OpConversionFailure: conversion failed for aten::unfold "
     "(Exception happened during conversion of operation __module.model.model.patchifier/aten::"
     "unfold with schema "): "openvino-op-conversion-failed",
    ("SkillUnavailableError", "openvino",
     "openvino could not convert {Class}: OpConversionFailure: conversion failed for aten::"
     "new_full_reverseprop (This is an internal openvino operation representing reverse data "
     "propagation."): "openvino-op-conversion-failed",
    ("SkillUnavailableError", "openvino",
     "openvino could not convert {Class}: OpConversionFailure: normalize step failed with: "
     "Exception from srcgraph_rewrite.cpp:N:"): "openvino-graph-rewrite-failed",
    ("AttributeError", "openvino", "'BaseModelOutput' object has no attribute 'router_logits'"):
        "openvino-encoder-output-incomplete",
    ("RuntimeError", "openvino",
     "Sizes of tensors must match except in dimension N. Expected size N but got size N for "
     "tensor number N in the list."): "openvino-generate-batch-mismatch",
    ("SkillUnavailableError", "cpu", "{type}: class {Class} is not defined by transformers N.0"):
        "catalog-class-undefined",
    ("SkillUnavailableError", "cpu",
     "{type}: no image placeholder token id or get_image_features in this model; its prompt "
     "format needs the checkpoint's processor files"): "checkpoint-only",
    ("ValueError", "cpu", "Chelsie is not available, available speakers: dict_keys([])"):
        "checkpoint-only",
    ("ValueError", "openvino", "inputs_embeds and shared_kv_states cannot be None."):
        "assistant-needs-target",
    ("ValueError", "cpu",
     "`get_seq_length` can only be called on Attention layers, and the current Cache seem to "
     "only contain {Class} layers."): "assistant-needs-target",
    ("AttributeError", "cpu", "'{Class}' object has no attribute 'num_hidden_layers'"):
        "transformers-defect",
    ("RuntimeError", "cpu", "mat1 and mat2 shapes cannot be multiplied (480x… and 120x…)"):
        "inputs-rejected",
    ("RuntimeError", "openvino",
     "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: "
     "[N, N, N, N]"): "inputs-rejected",
    ("RuntimeError", "cpu",
     "Given groups=N, weight of size [N, N, N], expected input[N, N, N] to have N channels, but "
     "got N channels instead"): "inputs-rejected",
    ("ValueError", "cpu",
     "The following `model_kwargs` are not used by the model: ['padding_mask', 'input_values'] "
     "(note: typos in the generate arguments will also show up in this list)"): "inputs-rejected",
    ("TypeError", "cpu",
     "{Class}.get_image_features() missing N required positional argument: 'pixel_values'"):
        "inputs-rejected",
    ("AttributeError", "cpu", "'list' object has no attribute 'to'"): "inputs-rejected",
    ("ValueError", "cpu", "torch.cat(): expected a non-empty list of Tensors"): "inputs-rejected",
    ("RuntimeError", "cpu", "stack expects a non-empty TensorList"): "inputs-rejected",
    ("SkillUnavailableError", "cpu",
     "{type}: its image tower rejects generically resized pixels (ValueError: pixel_values has "
     "patch width N but the model expects N (= N * patch_size ** N with patch_size=N)); its only "
     "image processor, {Cl"): "inputs-not-buildable",
}


def test_classify_the_whole_catalog_sweeps_last_unclassified_messages():
    from skillsets.validation.causes import classify

    assert {key: classify(*key).name for key in SWEEP_MESSAGES} == SWEEP_MESSAGES


def test_the_new_rules_stay_specific():
    """Near misses the new rules must leave alone: a list value inside OpenVINO's conversion,
    a backend other than the one a rule is for, an attribute of no config or class."""
    from skillsets.validation.causes import classify

    cases = {
        ("SkillUnavailableError", "openvino",
         "openvino could not convert {Class}: OpConversionFailure: conversion failed for "
         "SequenceMark (This is OpenVINO internal type. Consumer: aten::cat"):
            "openvino-list-value",
        ("RuntimeError", "cpu",
         "Sizes of tensors must match except in dimension N. Expected size N but got size N"):
            "other",
        ("AttributeError", "cpu", "'BaseModelOutput' object has no attribute 'router_logits'"):
            "other",
        ("AttributeError", "cpu", "'NoneType' object has no attribute 'shape'"): "other",
    }
    assert {key: classify(*key).name for key in cases} == cases


def test_versus_cpu_counts_types_passing_on_cpu_that_pass_elsewhere():
    report = build_report(RECORDS)
    # cpu passes bert and albert; openvino passes bert of them; cuda only skipped.
    assert report.versus_cpu == {"openvino": (1, 2)}
    assert "| openvino | 1 | 2 | 50.0% |" in render_markdown(report)
