"""Encoder-decoder generation on OpenVINO: a compiled encoder, a compiled decoder, and
transformers' own greedy loop over them.

The encoder (`model.get_encoder()`) and the decoder step (the whole model called with
`encoder_outputs`, returning logits) are converted and compiled separately, each through
`OpenVinoExecutor`, so both run at the skill's explicit precision. The decoder has no past key
values: each step takes the whole decoder prefix, which keeps one IR for every step at the price
of recomputing the prefix (quadratic in the generated length; 8 tokens by default).

The encoder's output keeps the type and every tensor field of what the torch encoder returns
(`last_hidden_state`, and the subsampled `attention_mask` of the Parakeet encoders Canary and
Cohere ASR use): each field is an output of the compiled encoder and an input of the compiled
decoder, which gets them back in that output type, so a decoder reading
`encoder_outputs.attention_mask` or `.router_logits` (None where the encoder returned none) reads
what it reads under torch.

The search itself is transformers' `generate()` of the model's own class (greedy, with the
model's logits processors: Whisper's suppressed tokens, Marian's banned pad, BART's forced
tokens), run on a shallow copy of the torch model whose forward and encoder are the compiled
ones. Writing the loop by hand would mean re-implementing those processors per family, and the
tokens would then only equal torch's where the copy is faithful; reusing the loop makes them
equal by construction wherever the compiled logits are.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from skillsets.runtime.errors import SkillUnavailableError, UnsupportedCombinationError
from skillsets.runtime.openvino_exec import OpenVinoExecutor
from skillsets.runtime.prepare import forward_params

#: Decoder prefix length the decoder is traced with: two tokens, so no length-1 special case
#: (a squeezed dimension, a skipped causal mask) is baked into the IR.
_TRACE_PREFIX = 2


def is_encoder_decoder(model: Any) -> bool:
    """Whether `model` generates with a separate encoder and decoder (T5, BART, Whisper...)."""
    return bool(getattr(model.config, "is_encoder_decoder", False)) and callable(
        getattr(model, "get_encoder", None))


def _encoder_input(field: str) -> str:
    """The compiled decoder's input name for the encoder output field `field`."""
    return f"encoder_{field}"


def _generate_encodes_itself(model: Any, example: dict[str, Any]) -> bool:
    """Whether generate()'s own input preparation already computes `encoder_outputs`.

    Transducers do (Parakeet's RNN-T and TDT: `_prepare_model_inputs` runs the encoder and its
    projector through `get_audio_features`), so their generate() never calls `get_encoder()`,
    the part this path compiles. Only a class that overrides the preparation is asked, by
    running it on `example` as generate() would.
    """
    import torch
    from transformers import GenerationMixin

    prepare = getattr(type(model), "_prepare_model_inputs", None)
    if prepare is None or prepare is GenerationMixin._prepare_model_inputs:
        return False
    with torch.no_grad():
        _, _, kwargs = model._prepare_model_inputs(None, None, dict(example))
    return kwargs.get("encoder_outputs") is not None


class _DecoderStep:
    """The model as one decoder step: (prefix ids, encoder output fields[, encoder mask]) ->
    logits, the fields put back into the encoder's own output type."""

    def __init__(self, model: Any, output_type: type, fields: list[str], with_mask: bool) -> None:
        import torch

        # Without a decoder mask and a cache, transformers looks for packed sequences in the
        # position ids (`aten::diff`, which OpenVINO cannot convert). An all-ones mask means the
        # same (generate's decoder prefix is never padded) and keeps that path out of the trace.
        ones = "decoder_attention_mask" in forward_params(model)

        class Step(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, decoder_input_ids: Any, attention_mask: Any = None,
                        **encoder: Any) -> dict[str, Any]:
                kwargs = {"attention_mask": attention_mask} if with_mask else {}
                if ones:
                    kwargs["decoder_attention_mask"] = torch.ones_like(decoder_input_ids)
                outputs = output_type(**{f: encoder[_encoder_input(f)] for f in fields})
                out = self.model(decoder_input_ids=decoder_input_ids, encoder_outputs=outputs,
                                 use_cache=False, **kwargs)
                return {"logits": out.logits}

        self.module = Step().eval()


class OpenVinoSeq2Seq:
    """An encoder-decoder model compiled as two OpenVINO models, generating greedily.

    Attributes:
        execution_precision: What both compiled models report they execute (`f32`, `bf16`...).
        weight_memory: Bytes of both compiled models' constants.
        matmul_weight_memory: Of those, the bytes feeding MatMul weights.
        encoder_inputs: The prepared inputs the encoder takes (`input_ids`, `input_features`...).
    """

    def __init__(self, model: Any, example: dict[str, Any], decoder_start: int,
                 precision: str = "fp32") -> None:
        """Convert and compile `model`'s encoder and decoder step, traced on `example`.

        Args:
            model: A torch encoder-decoder model with `get_encoder()`.
            example: Prepared inputs of the skill (what `Skill.prepare` returns).
            decoder_start: The token generate() starts the decoder with.
            precision: `fp32`, `bf16` or `fp16`.

        Raises:
            SkillUnavailableError: a part cannot be converted, or the example lacks the
                encoder's inputs.
            UnsupportedCombinationError: generate() merges some prepared inputs into the
                encoder's (multimodal encoder-decoders such as Florence-2), or computes the
                encoder outputs itself (transducers such as Parakeet's RNN-T).
            UnsupportedPrecisionError: the device cannot run `precision`.
        """
        import torch

        self.model = model
        encoder = model.get_encoder()
        params = forward_params(encoder)
        self.encoder_inputs = [k for k, v in example.items()
                               if k in params and isinstance(v, torch.Tensor)]
        if not self.encoder_inputs:
            raise SkillUnavailableError(
                f"{type(model).__name__}: none of the prepared inputs {sorted(example)} is an "
                f"input of its encoder {type(encoder).__name__}; openvino cannot trace it")
        merged = [k for k, v in example.items() if isinstance(v, torch.Tensor)
                  and k not in self.encoder_inputs and not k.startswith("decoder_")]
        if merged:
            # Florence-2 and the like fold these (image features) into the encoder's
            # inputs_embeds inside their own generate(): an encoder traced on the prepared
            # inputs would never see them.
            raise UnsupportedCombinationError(
                f"{type(model).__name__}: its encoder {type(encoder).__name__} does not take "
                f"{merged}; generate() merges them into the encoder's input first, and openvino's "
                "encoder-decoder path compiles the encoder on the prepared inputs (run it on cpu)")
        if _generate_encodes_itself(model, example):
            raise UnsupportedCombinationError(
                f"{type(model).__name__}: openvino has no generate loop for it: its generate() "
                "computes the encoder outputs in its own input preparation (as transducers do), "
                "never through get_encoder(), which openvino's encoder-decoder path compiles "
                "(run it on cpu)")
        enc_example = {k: example[k] for k in self.encoder_inputs}
        self.encoder = OpenVinoExecutor(encoder, enc_example, params, precision)
        # no_grad, not inference_mode: the outputs are a tracing input, and inference tensors
        # cannot be traced.
        with torch.no_grad():
            reference = encoder(**enc_example,
                                **({"use_cache": False} if "use_cache" in params else {}))
        self.encoder_output_type = type(reference)
        self.encoder_fields = [k for k, v in reference.items() if isinstance(v, torch.Tensor)]
        # The encoder mask goes to the decoder's cross-attention only where the model takes it.
        self.with_mask = "attention_mask" in self.encoder_inputs and (
            "attention_mask" in forward_params(model))
        batch = reference.last_hidden_state.shape[0]
        dec_example = {
            "decoder_input_ids": torch.full((batch, _TRACE_PREFIX), decoder_start,
                                            dtype=torch.long),
            **({"attention_mask": example["attention_mask"]} if self.with_mask else {}),
            **{_encoder_input(f): reference[f] for f in self.encoder_fields},
        }
        step = _DecoderStep(model, self.encoder_output_type, self.encoder_fields,
                            self.with_mask).module
        self.decoder = OpenVinoExecutor(step, dec_example, frozenset(), precision)
        self.decoder_start = decoder_start
        self.execution_precision = self.encoder.execution_precision
        self.weight_memory = self.encoder.weight_memory + self.decoder.weight_memory
        self.matmul_weight_memory = (
            self.encoder.matmul_weight_memory + self.decoder.matmul_weight_memory
        )
        self._generator = self._compiled_copy()

    def encode_outputs(self, prepared: dict[str, Any]) -> Any:
        """The encoder's output for `prepared`, computed by OpenVINO, in the type the torch
        encoder returns (`BaseModelOutput`, `MoEModelOutput`...) with its tensor fields."""
        missing = [k for k in self.encoder_inputs if k not in prepared]
        if missing:
            raise SkillUnavailableError(
                f"the openvino encoder was traced with {self.encoder_inputs}; the inputs lack "
                f"{missing}: prepare them with the skill's own `prepare`")
        return self.encoder_output_type(
            **self.encoder({k: prepared[k] for k in self.encoder_inputs}))

    def encode(self, prepared: dict[str, Any]) -> Any:
        """The encoder's last hidden state for `prepared`, computed by OpenVINO."""
        return self.encode_outputs(prepared).last_hidden_state

    def step(self, decoder_input_ids: Any, encoder_outputs: Any, attention_mask: Any = None) -> Any:
        """Logits of every position of the decoder prefix `decoder_input_ids`.

        Args:
            decoder_input_ids: The decoder prefix, (batch, length).
            encoder_outputs: What `encode_outputs` returns (or any mapping with the encoder's
                fields, or its `to_tuple()`); a tensor is the last hidden state, for encoders
                that return only it.
            attention_mask: The encoder inputs' mask, where the model's forward takes it.

        Raises:
            ValueError: `encoder_outputs` lacks a field the compiled decoder takes.
        """
        if hasattr(encoder_outputs, "keys"):
            fields = encoder_outputs
        elif isinstance(encoder_outputs, list | tuple):
            fields = dict(zip(self.encoder_fields, encoder_outputs, strict=False))
        else:
            fields = {"last_hidden_state": encoder_outputs}
        missing = [f for f in self.encoder_fields if fields.get(f) is None]
        if missing:
            raise ValueError(
                f"the openvino decoder takes the encoder's {self.encoder_fields}; "
                f"encoder_outputs lacks {missing}: pass what `encode_outputs` returns")
        inputs = {"decoder_input_ids": decoder_input_ids,
                  **{_encoder_input(f): fields[f] for f in self.encoder_fields}}
        if self.with_mask:
            inputs["attention_mask"] = attention_mask
        return self.decoder(inputs)["logits"]

    def prefill(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """The encoder pass plus the first decoder step from the start token (as torch's
        `Skill.prefill` runs it): `logits` and `encoder_last_hidden_state`."""
        import torch

        outputs = self.encode_outputs(prepared)
        states = outputs.last_hidden_state
        start = torch.full((states.shape[0], 1), self.decoder_start, dtype=torch.long)
        logits = self.step(start, outputs, prepared.get("attention_mask"))
        return {"logits": logits, "encoder_last_hidden_state": states}

    def generate(self, prepared: dict[str, Any], generate_kwargs: dict[str, Any]) -> Any:
        """Greedy generation: the model class's own generate() over the compiled parts.

        `use_cache=False`, so every step hands the whole decoder prefix to the compiled decoder.
        """
        import torch

        with torch.inference_mode():
            return self._generator.generate(**prepared, **generate_kwargs, use_cache=False)

    def _compiled_copy(self) -> Any:
        """A shallow copy of the torch model whose forward and encoder are the compiled ones.

        Shallow: the copy shares the torch weights (generate reads its config, generation
        config and device from them) but never runs them.
        """
        from transformers.modeling_outputs import Seq2SeqLMOutput

        model, outer = self.model, self

        class CompiledEncoder:
            """What generate() calls as `get_encoder()(**kwargs)`."""

            main_input_name = getattr(model.get_encoder(), "main_input_name", "input_ids")

            def forward(self, **kwargs: Any) -> Any:
                return outer.encode_outputs(kwargs)

            __call__ = forward

        encoder = CompiledEncoder()

        # functools.wraps keeps the original signature: generate() inspects `forward` to
        # decide which keyword arguments the model takes.
        @functools.wraps(model.forward)
        def forward(decoder_input_ids: Any = None, encoder_outputs: Any = None,
                    attention_mask: Any = None, **_: Any) -> Any:
            return Seq2SeqLMOutput(
                logits=outer.step(decoder_input_ids, encoder_outputs, attention_mask),
                encoder_last_hidden_state=encoder_outputs[0])

        clone = copy.copy(model)
        clone.forward = forward
        clone.get_encoder = lambda *args, **kwargs: encoder
        return clone
