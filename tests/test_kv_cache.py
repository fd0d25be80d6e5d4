"""Quantized KV cache against the default one, for real, on a tiny random-weight gpt2: memory at
its longest context, agreement of the next-token choice, and the rows they are stored as."""

from __future__ import annotations

import pytest

from skillsets.bench.kv_cache import (
    KV_METRIC_UNITS,
    cache_bytes,
    kv_cache_rows,
    longest_context,
    make_cache,
    measure_kv_caches,
)
from skillsets.runtime import load_skill
from warehouse.analysis import higher_is_better
from warehouse.frames import records_frame

OUTPUT_TOKENS = 8


@pytest.fixture(scope="module")
def results():
    skill = load_skill("gpt2", "cpu", "fp32", seed=0)
    # The tiny config keeps gpt2's 1024 positions; 256 tokens are two residual windows of 128.
    return {r.label: r for r in measure_kv_caches(skill.model, context=256,
                                                  output_tokens=OUTPUT_TOKENS)}


def test_quantized_caches_hold_a_fraction_of_the_default_cache(results) -> None:
    default, int4, int2 = results["kv-default"], results["kv-int4"], results["kv-int2"]
    assert default.context_tokens == int4.context_tokens == int2.context_tokens == 256
    # fp32 keys/values: 4 bytes per value. int4 at 256 tokens: 249 tokens at 4 bits plus a scale
    # and shift per group of 64, 7 fp32 residual tokens: about a fifth.
    assert int4.cache_bytes <= 0.3 * default.cache_bytes
    assert int2.cache_bytes < int4.cache_bytes
    assert (default.storage, int4.storage) == ("f32", "int4:quanto:g64:r128")


def test_agreement_is_a_share_and_the_default_agrees_with_itself(results) -> None:
    assert results["kv-default"].top1_agreement == 1.0
    for label in ("kv-int4", "kv-int2"):
        result = results[label]
        assert 0.0 <= result.top1_agreement <= 1.0
        # Teacher forcing: the quantized caches are fed the default cache's tokens.
        assert result.tokens == results["kv-default"].tokens
        assert len(result.step_ms) == OUTPUT_TOKENS - 1


def test_rows_carry_each_cache_as_a_precision_with_a_judged_direction(results) -> None:
    rows = kv_cache_rows(list(results.values()), run_id="r", environment_id="e",
                         model_type="gpt2", size="tiny", weights="random:GPT2Config:tiny")
    frame = records_frame("results", rows)
    assert set(frame["benchmark"]) == {"kv_cache"}
    assert set(frame["precision"]) == {"kv-default", "kv-int4", "kv-int2"}
    assert frame.height == 3 * len(KV_METRIC_UNITS)
    memory = {r.precision: r.value for r in rows if r.metric == "kv_cache_memory"}
    assert memory["kv-int4"] == results["kv-int4"].cache_bytes
    tokens = {r.metric: r.value for r in rows if r.precision == "kv-int2"}
    assert (tokens["prompt_tokens"], tokens["output_tokens"]) == (249, OUTPUT_TOKENS)
    assert not higher_is_better("kv_cache_memory", "bytes")
    assert higher_is_better("top1_agreement", "ratio")


def test_an_empty_cache_holds_nothing_and_an_unknown_label_lists_the_valid_ones() -> None:
    from transformers import GPT2Config

    from hardware.names import UnknownNameError

    config = GPT2Config(n_layer=2)
    assert cache_bytes(make_cache("kv-int4", config)[0]) == 0
    assert longest_context(config) == 1024
    with pytest.raises(UnknownNameError, match="kv-int4"):
        make_cache("kv-int3", config)
