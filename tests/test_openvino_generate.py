"""Encoder-decoder generation on OpenVINO (t5, whisper): compiled encoder and decoder, greedy
tokens equal to torch's generate() on the same real tiny random-weight model; nothing is mocked.
"""

from __future__ import annotations

import pytest
import torch
from marks import needs_openvino

from hardware.names import UnknownNameError
from hardware.registry import probe
from skillsets.runtime import load_skill
from skillsets.runtime.openvino_generate import OpenVinoSeq2Seq
from skillsets.validation.smoke import SmokeOptions, smoke_test
from skillsets.validation.tolerance import PARITY_LIMITS, parity_limit

#: The critical-tier encoder-decoders: text (t5) and speech (whisper).
MODELS = ("t5", "whisper")


@pytest.fixture(scope="module", params=MODELS)
def skill(request):
    if not probe("openvino").available:
        pytest.skip("openvino is not available here")
    return load_skill(request.param, "openvino")


@needs_openvino
def test_generates_torchs_greedy_tokens(skill):
    assert isinstance(skill._openvino, OpenVinoSeq2Seq)
    assert skill.execution_precision == "f32"
    prepared = skill.prepare(skill.example_inputs(2))
    compiled = skill.run(prepared)
    reference = skill.torch_run(prepared)
    compiled = getattr(compiled, "sequences", compiled)
    reference = getattr(reference, "sequences", reference)
    assert compiled.shape[0] == 2
    assert compiled.shape[1] >= skill.max_new_tokens
    assert torch.equal(compiled, reference), (compiled.tolist(), reference.tolist())


@needs_openvino
def test_decoder_step_logits_match_torch_on_a_random_prefix(skill):
    """Every position's logits, not only the argmax: greedy tokens of a random tiny model can
    repeat one id, which alone would not show a wrong decoder."""
    from transformers.modeling_outputs import BaseModelOutput

    prepared = skill.prepare(skill.example_inputs(2))
    ov = skill._openvino
    states = ov.encode(prepared)
    generator = torch.Generator().manual_seed(1)
    prefix = torch.randint(0, skill.config.vocab_size, (2, 5), generator=generator)
    compiled = ov.step(prefix, states, prepared.get("attention_mask"))
    mask = {"attention_mask": prepared["attention_mask"]} if ov.with_mask else {}
    with torch.inference_mode():
        torch_states = skill.model.get_encoder()(
            **{k: prepared[k] for k in ov.encoder_inputs}).last_hidden_state
        reference = skill.model(decoder_input_ids=prefix, use_cache=False, **mask,
                                encoder_outputs=BaseModelOutput(last_hidden_state=torch_states)
                                ).logits
    assert torch.allclose(states, torch_states, atol=1e-4)
    assert compiled.shape == reference.shape == (2, 5, skill.config.vocab_size)
    assert torch.allclose(compiled, reference, atol=1e-4), (compiled - reference).abs().max()


@needs_openvino
@pytest.mark.parametrize("model_type", MODELS)
def test_smoke_compares_tokens_and_passes_at_f32(model_type):
    result = smoke_test(model_type, "openvino",
                        options=SmokeOptions(inventory=False, batch_sizes=(1,)))
    assert result.status == "pass", (result.message, result.details.get("traceback"))
    assert result.execution_precision == "f32"
    assert result.details["tolerance"] == {"execution_precision": "f32", "atol": 1e-3,
                                           "rtol": 1e-3}
    tokens = result.details["compiled_vs_torch"]["tokens"]
    assert tokens["equal"] is True
    # For t5 and whisper torch's cached and uncached generate() agree too.
    assert tokens["torch_cache_agrees"] is True
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-3


def test_parity_limits_are_tight_at_f32_and_named_looser_below():
    f32, bf16, f16 = (parity_limit(p) for p in ("f32", "bf16", "f16"))
    assert f32.atol < f16.atol < bf16.atol
    assert f32.rtol < f16.rtol < bf16.rtol
    assert set(PARITY_LIMITS) == {"f32", "bf16", "f16"}
    with pytest.raises(UnknownNameError, match="Did you mean f16"):
        parity_limit("fp16")
