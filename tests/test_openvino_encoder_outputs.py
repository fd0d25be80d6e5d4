"""OpenVINO encoder-decoders whose decoder reads more of the encoder's output than its last hidden
state: the compiled encoder returns the torch encoder's own output type with every tensor field,
and the compiled decoder takes them back. Real tiny random-weight models; nothing is mocked.
"""

from __future__ import annotations

import pytest
import torch
from marks import needs_openvino, openvino_skill

from skillsets.runtime import load_skill
from skillsets.runtime.errors import UnsupportedCombinationError

#: Canary's Parakeet encoder returns its subsampled attention_mask, which the decoder's
#: cross-attention takes; Moonshine's decoder reads `encoder_outputs.attention_mask` (None);
#: NLLB-MoE reads `encoder_outputs.router_logits` (None).
MODELS = ("canary", "moonshine", "nllb-moe")


@pytest.fixture(scope="module", params=MODELS)
def skill(request):
    return openvino_skill(request.param)


@needs_openvino
def test_encoder_output_keeps_the_torch_encoders_type_and_fields(skill):
    ov = skill._openvino
    prepared = skill.prepare(skill.example_inputs(2))
    with torch.inference_mode():
        reference = skill.model.get_encoder()(**{k: prepared[k] for k in ov.encoder_inputs})
    compiled = ov.encode_outputs(prepared)
    assert type(compiled) is type(reference)
    assert list(compiled.keys()) == ov.encoder_fields == [
        k for k, v in reference.items() if isinstance(v, torch.Tensor)]
    for field in ov.encoder_fields:
        assert compiled[field].shape == reference[field].shape
        assert torch.allclose(compiled[field].to(reference[field].dtype), reference[field],
                              atol=1e-4), field


@needs_openvino
def test_decoder_reading_more_encoder_fields_generates_torchs_tokens(skill):
    prepared = skill.prepare(skill.example_inputs(2))
    compiled = skill.run(prepared)
    reference = skill.torch_run(prepared, use_cache=False)
    compiled = getattr(compiled, "sequences", compiled)
    reference = getattr(reference, "sequences", reference)
    assert torch.equal(compiled, reference), (compiled.tolist(), reference.tolist())


@needs_openvino
def test_canary_decoder_takes_the_subsampled_encoder_mask():
    skill = load_skill("canary", "openvino")
    ov = skill._openvino
    assert ov.encoder_fields == ["last_hidden_state", "attention_mask"]
    prepared = skill.prepare(skill.example_inputs(1))
    outputs = ov.encode_outputs(prepared)
    start = torch.full((1, 1), ov.decoder_start, dtype=torch.long)
    with pytest.raises(ValueError, match=r"lacks \['attention_mask'\]"):
        ov.step(start, outputs.last_hidden_state, prepared.get("attention_mask"))
    assert ov.step(start, outputs, prepared.get("attention_mask")).shape[:2] == (1, 1)


@needs_openvino
def test_a_transducer_is_unsupported_with_its_reason():
    """Parakeet's RNN-T computes its encoder outputs (encoder plus projector) in generate()'s
    own input preparation, so a compiled get_encoder() would never run."""
    with pytest.raises(UnsupportedCombinationError,
                       match=r"no generate loop.*own input preparation"):
        load_skill("parakeet_rnnt", "openvino")
