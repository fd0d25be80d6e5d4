"""Generation on OpenVINO: encoder-decoders (t5, whisper) as a compiled encoder and decoder,
decoder-only models conditioned on an image (llava, git, kosmos-2) as one compiled full forward
decoded by `greedy_decode`; greedy tokens equal to torch's generate() on the same real tiny
random-weight model; nothing is mocked.
"""

from __future__ import annotations

import pytest
import torch
from marks import needs_openvino, openvino_skill

from hardware.names import UnknownNameError
from skillsets.runtime import load_skill
from skillsets.runtime.decode import (
    GENERATED_TOKEN_VALUES,
    along_text,
    greedy_decode,
    with_start_ids,
)
from skillsets.runtime.errors import UnsupportedCombinationError
from skillsets.runtime.openvino_exec import OpenVinoExecutor
from skillsets.runtime.openvino_generate import OpenVinoSeq2Seq
from skillsets.validation.smoke import SmokeOptions, smoke_test
from skillsets.validation.tolerance import PARITY_LIMITS, parity_limit

#: The critical-tier encoder-decoders: text (t5) and speech (whisper).
MODELS = ("t5", "whisper")


@pytest.fixture(scope="module", params=MODELS)
def skill(request):
    return openvino_skill(request.param)


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


class _Counted:
    """A real compiled decoder, called through a counter."""

    def __init__(self, executor, calls, key):
        self.executor, self.calls, self.key = executor, calls, key

    def __call__(self, inputs):
        self.calls[self.key] += 1
        return self.executor(inputs)


@needs_openvino
def test_each_step_after_the_first_runs_the_decoder_with_past(skill, monkeypatch):
    ov = skill._openvino
    assert skill.kv_cache == (True, None)
    assert ov.decoder_with_past is not None
    calls = {"decoder": 0, "decoder_with_past": 0}
    for key in calls:
        monkeypatch.setattr(ov, key, _Counted(getattr(ov, key), calls, key))
    prepared = skill.prepare(skill.example_inputs(2))
    compiled = skill.run(prepared)
    compiled = getattr(compiled, "sequences", compiled)
    reference = skill.torch_run(prepared, use_cache=True)
    reference = getattr(reference, "sequences", reference)
    assert torch.equal(compiled, reference), (compiled.tolist(), reference.tolist())
    # One step per new token: the first through the decoder without past (from generate()'s
    # start ids), every later one with past.
    assert calls == {"decoder": 1, "decoder_with_past": skill.max_new_tokens - 1}


@needs_openvino
def test_a_decoder_with_past_that_disagrees_with_the_whole_prefix_is_caught(skill):
    """The check at load, on a real decoder with past that is wrong for this model: the one
    compiled for the same type with other random weights (seed 1)."""
    ov = skill._openvino
    other = load_skill(skill.model_type, "openvino", seed=1)._openvino
    ids = torch.randint(0, 50, (1, 5), generator=torch.Generator().manual_seed(3))
    ids[:, 0] = ov.decoder_start
    prepared = skill.prepare(skill.example_inputs(1))  # what the decoders were traced on
    with torch.no_grad():
        reference = skill.model.get_encoder()(**{k: prepared[k] for k in ov.encoder_inputs})
    assert ov._past_differs(ov.decoder_with_past, ids, reference) is None
    problem = ov._past_differs(other.decoder_with_past, ids, reference)
    assert problem is not None
    # the first step with past already, and torch's own cached step agrees with its whole
    # prefix there, so the cause is the compiled decoder
    assert "at past length 1, traced at 3" in problem
    assert "a trace that keeps a size of its example" in problem


@needs_openvino
def test_a_decoder_with_past_that_fails_its_check_is_not_used():
    """FSMT's decoder with past is 0.0305 off its whole prefix (relative to the largest logit)
    at past length 1, where torch's own cached step is 0.00102 off: the check at load catches
    it, so the skill decodes without past, says why, and its tokens are torch's uncached
    ones."""
    skill = openvino_skill("fsmt")
    ov = skill._openvino
    cached, reason = skill.kv_cache
    assert cached is False and ov.decoder_with_past is None
    assert "differs from the whole prefix's" in reason and "at past length 1" in reason
    with pytest.raises(ValueError, match="no decoder with past"):
        ov.generate(skill.prepare(skill.example_inputs(1)), skill._generate_kwargs(),
                    use_cache=True)
    prepared = skill.prepare(skill.example_inputs(1))
    compiled = skill.run(prepared)
    reference = skill.torch_run(prepared, use_cache=False)
    assert torch.equal(compiled, getattr(reference, "sequences", reference))


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
    assert tokens["kv_cache"] is True and "kv_cache_reason" not in tokens
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


# ----------------------------------------------------------------- decoder-only, conditioned
#: Decoders conditioned on an image, compiled as one full forward (`greedy_decode`): a prompt
#: whose image placeholders take the tower's features (llava), an image-only prompt that
#: starts from generate()'s bos ids (git), and an input along the text that the registry grows,
#: under the model's own generate() (kosmos-2).
CONDITIONED = ("llava", "git", "kosmos-2")


@pytest.fixture(scope="module", params=CONDITIONED)
def conditioned(request):
    return openvino_skill(request.param)


def _torch_forward(skill):
    """The torch model's full forward on the names `greedy_decode` hands it: the loop's
    semantics without a compiled model."""
    names = list(with_start_ids(skill.model, skill.prepare(skill.example_inputs(1))))

    def forward(inputs):
        return skill.model(**{k: inputs[k] for k in names}, use_cache=False)

    return forward


@needs_openvino
def test_conditioned_decoders_generate_torchs_greedy_tokens(conditioned):
    skill = conditioned
    assert isinstance(skill._openvino, OpenVinoExecutor)
    assert skill.execution_precision == "f32"
    prepared = skill.prepare(skill.example_inputs(1))
    prompt = with_start_ids(skill.model, prepared)["input_ids"].shape[1]
    with torch.inference_mode():
        compiled = skill.run(prepared)
    reference = skill.torch_run(prepared, use_cache=False)
    reference = getattr(reference, "sequences", reference)
    assert compiled.shape == (1, prompt + skill.max_new_tokens)
    assert torch.equal(compiled, reference), (compiled[:, prompt:].tolist(),
                                              reference[:, prompt:].tolist())


@needs_openvino
def test_conditioned_prefill_logits_match_torch_at_every_position(conditioned):
    """Every prompt position's logits, not only the argmax the tokens show."""
    skill = conditioned
    prepared = skill.prepare(skill.example_inputs(1))
    with torch.inference_mode():
        compiled = skill.prefill(prepared)["logits"]
        reference = skill.torch_prefill(prepared).logits
    assert compiled.shape == reference.shape
    assert torch.allclose(compiled, reference, atol=1e-4), (compiled - reference).abs().max()


@needs_openvino
def test_smoke_compares_git_tokens_and_passes():
    result = smoke_test("git", "openvino", options=SmokeOptions(inventory=False,
                                                                batch_sizes=(1,)))
    assert result.status == "pass", (result.message, result.details.get("traceback"))
    assert result.details["compiled_vs_torch"]["tokens"]["equal"] is True
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-3


@pytest.mark.parametrize("model_type", ["kosmos-2", "mllama"])
def test_the_loop_grows_inputs_along_the_text_as_generate_does(model_type):
    """kosmos-2's image_embeds_position_mask (the registry) and Mllama's cross_attention_mask
    (its own `_update_model_kwargs_for_generation`) grow per step; with torch's forward in the
    loop the tokens are generate()'s, batch of 2 included."""
    skill = load_skill(model_type, "cpu")
    prepared = skill.prepare(skill.example_inputs(2))
    along = along_text({k: v for k, v in prepared.items() if k != "input_ids"},
                       prepared["input_ids"])
    assert {"image_embeds_position_mask", "cross_attention_mask"} & set(along)
    kwargs = skill._generate_kwargs()
    with torch.inference_mode():
        looped = greedy_decode(_torch_forward(skill), skill.model, prepared,
                               skill.max_new_tokens, kwargs.get("min_new_tokens", 0))
    reference = skill.torch_run(prepared, use_cache=False)
    reference = getattr(reference, "sequences", reference)
    assert torch.equal(looped, reference), (looped.tolist(), reference.tolist())


def test_an_input_along_the_text_that_nothing_grows_is_refused(monkeypatch):
    skill = load_skill("kosmos-2", "cpu")
    monkeypatch.delitem(GENERATED_TOKEN_VALUES, "image_embeds_position_mask")
    prepared = skill.prepare(skill.example_inputs(1))
    with pytest.raises(UnsupportedCombinationError, match="image_embeds_position_mask"), \
            torch.inference_mode():
        greedy_decode(_torch_forward(skill), skill.model, prepared, 2)


def test_logits_that_keep_the_traced_batch_raise_instead_of_decoding():
    """A compiled model that kept its example's batch of 1 and ran a batch of 2 anyway (the
    sweep's state-space and MoE decoders) is named, not a torch.cat size error."""
    skill = load_skill("gpt2", "cpu")
    forward = _torch_forward(skill)
    prepared = skill.prepare(skill.example_inputs(2))
    with pytest.raises(RuntimeError, match=r"logits \[1, .*for input_ids \[2,"), \
            torch.inference_mode():
        greedy_decode(lambda inputs: {"logits": forward(inputs).logits[:1]}, skill.model,
                      prepared, 2)
