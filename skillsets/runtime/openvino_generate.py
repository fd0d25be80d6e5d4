"""Encoder-decoder generation on OpenVINO: a compiled encoder, a compiled decoder with and
without past key values, and transformers' own greedy loop over them.

Three models are converted and compiled, each through `OpenVinoExecutor`, so all run at the
skill's explicit precision:

- the encoder (`model.get_encoder()`);
- the decoder without past (the whole model called with `encoder_outputs`): it takes a whole
  decoder prefix and returns its logits and, where the model caches, every layer's self- and
  cross-attention keys and values. It runs generation's first step and `step()`;
- the decoder with past: one new token, the encoder fields and every layer's cached keys and
  values in, the logits and the new token's self-attention keys and values out. Each later step
  runs it, so a step costs one token's work instead of the whole prefix's.

The cache between steps is the `EncoderDecoderCache` generate() makes, filled with the compiled
decoders' keys and values. A model whose decoder keeps no such cache, whose decoder with past
cannot be converted, or whose decoder with past gives other logits than the whole prefix on a
check at load (a trace that keeps its traced past length) decodes without past, recomputing the
prefix each step; `kv_cache` says which, and `kv_cache_reason` why not.

The encoder's output keeps the type and every tensor field of what the torch encoder returns
(`last_hidden_state`, and the subsampled `attention_mask` of the Parakeet encoders Canary and
Cohere ASR use): each field is an output of the compiled encoder and an input of the compiled
decoders, which get them back in that output type, so a decoder reading
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


#: Past length the decoder with past is traced at. The check at load (`_past_differs`) runs it
#: at past lengths 1 to `_CHECK_PREFIX - 1`, so at this one and at others.
_TRACE_PAST = 3
_CHECK_PREFIX = 5

#: Names of the compiled decoders' key/value outputs, and (with the layer) of the past inputs.
_KV = ("self_keys", "self_values", "cross_keys", "cross_values")


def _past_input(kind: str, layer: int) -> str:
    """The decoder with past's input name for layer `layer`'s cached `kind` (one of `_KV`)."""
    return f"past_{kind}_{layer}"


def _cache_problem(model: Any, cache: Any) -> str | None:
    """Why `cache`, what `model`'s decoder returned with `use_cache=True`, cannot be passed
    through the compiled decoders as tensors (None: it can).

    They pass an `EncoderDecoderCache` of plain growing layers (`DynamicLayer`) holding
    (batch, heads, sequence, head dim) tensors, a cross-attention layer per self-attention one.
    """
    from transformers.cache_utils import DynamicLayer, EncoderDecoderCache

    name = type(model).__name__
    if not isinstance(cache, EncoderDecoderCache):
        return (f"{name}'s decoder returns no EncoderDecoderCache with use_cache=True "
                f"({type(cache).__name__})")
    layers = [*cache.self_attention_cache.layers, *cache.cross_attention_cache.layers]
    if len(cache.self_attention_cache.layers) != len(cache.cross_attention_cache.layers):
        return f"{name}'s decoder caches cross-attention for some of its layers only"
    odd = sorted({type(layer).__name__ for layer in layers if type(layer) is not DynamicLayer
                  or layer.keys is None or layer.keys.dim() != 4})
    if odd:
        return f"{name}'s decoder cache has layers the compiled decoders do not pass: {odd}"
    return None


def _kv_outputs(cache: Any, new: int | None) -> dict[str, list[Any]]:
    """The compiled decoders' key/value outputs from `cache`: every layer's self- and
    cross-attention keys and values (with `new`, only the last `new` positions of the
    self-attention ones, and no cross-attention), sequence first, (batch, sequence, heads,
    head dim).

    Sequence first so `OpenVinoExecutor`'s check for a trace that kept its sizes reads the
    sequence where it looks for it (an output's second dimension), not the number of heads,
    which a tiny model can have equal to the traced length.
    """
    selves = cache.self_attention_cache.layers
    out = {"self_keys": [layer.keys[:, :, -new:] if new else layer.keys for layer in selves],
           "self_values": [layer.values[:, :, -new:] if new else layer.values
                           for layer in selves]}
    if not new:
        out["cross_keys"] = [layer.keys for layer in cache.cross_attention_cache.layers]
        out["cross_values"] = [layer.values for layer in cache.cross_attention_cache.layers]
    return {k: [t.transpose(1, 2) for t in v] for k, v in out.items()}


def _cache_inputs(cache: Any) -> dict[str, Any]:
    """The decoder with past's cache inputs (`_past_input`) from an `EncoderDecoderCache`:
    every layer's keys and values as the cache holds them, (batch, heads, sequence, head dim)."""
    inputs = {}
    for i, (own, cross) in enumerate(zip(cache.self_attention_cache.layers,
                                         cache.cross_attention_cache.layers, strict=True)):
        for kind, tensor in zip(_KV, (own.keys, own.values, cross.keys, cross.values),
                                strict=True):
            inputs[_past_input(kind, i)] = tensor
    return inputs


class _DecoderStep:
    """The model as one decoder step: (prefix ids, encoder output fields[, encoder mask]) ->
    logits, the fields put back into the encoder's own output type.

    With `past`, the step takes each layer's cached keys and values too (`_past_input`), as an
    `EncoderDecoderCache` whose cross-attention is filled, and returns the new positions'
    self-attention keys and values; with `cached` and no past, it starts from an empty cache and
    returns every layer's keys and values (`_kv_outputs`). Neither: logits only, no cache.
    """

    def __init__(self, model: Any, output_type: type, fields: list[str], with_mask: bool,
                 cached: bool = False, past: int = 0) -> None:
        import torch
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        # Without a decoder mask and a cache, transformers looks for packed sequences in the
        # position ids (`aten::diff`, which OpenVINO cannot convert). An all-ones mask means the
        # same (generate's decoder prefix is never padded) and keeps that path out of the trace.
        ones = "decoder_attention_mask" in forward_params(model)

        class Step(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, decoder_input_ids: Any, attention_mask: Any = None,
                        **inputs: Any) -> dict[str, Any]:
                kwargs: dict[str, Any] = {"attention_mask": attention_mask} if with_mask else {}
                if ones:
                    # Over the past and the new ids, from tensors, so its length is no constant
                    # of the trace.
                    mask = [torch.ones_like(inputs[_past_input("self_keys", 0)][:, 0, :, 0],
                                            dtype=torch.long)] if past else []
                    kwargs["decoder_attention_mask"] = torch.cat(
                        [*mask, torch.ones_like(decoder_input_ids)], dim=1)
                outputs = output_type(**{f: inputs[_encoder_input(f)] for f in fields})
                if not cached:
                    out = self.model(decoder_input_ids=decoder_input_ids, encoder_outputs=outputs,
                                     use_cache=False, **kwargs)
                    return {"logits": out.logits}
                cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
                for i in range(past):
                    cache.self_attention_cache.update(
                        inputs[_past_input("self_keys", i)],
                        inputs[_past_input("self_values", i)], i)
                    cache.cross_attention_cache.update(
                        inputs[_past_input("cross_keys", i)],
                        inputs[_past_input("cross_values", i)], i)
                    cache.is_updated[i] = True
                out = self.model(decoder_input_ids=decoder_input_ids, encoder_outputs=outputs,
                                 cache=cache, use_cache=True, **kwargs)
                new = decoder_input_ids.shape[1] if past else None
                return {"logits": out.logits, **_kv_outputs(out.cache, new)}

        self.module = Step().eval()


class OpenVinoSeq2Seq:
    """An encoder-decoder model compiled as two OpenVINO models, generating greedily.

    Attributes:
        execution_precision: What the compiled models report they execute (`f32`, `bf16`...).
        weight_memory: Bytes of the compiled models' constants (each decoder keeps its own).
        matmul_weight_memory: Of those, the bytes feeding MatMul weights.
        encoder_inputs: The prepared inputs the encoder takes (`input_ids`, `input_features`...).
        kv_cache: Whether generation steps after the first run the decoder with past.
        kv_cache_reason: Why not, where they do not (a sentence; None where they do).
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
        self._mask = {"attention_mask": example["attention_mask"]} if self.with_mask else {}
        self._fields = {_encoder_input(f): reference[f] for f in self.encoder_fields}
        self.decoder_start = decoder_start
        self.precision = precision
        prefix = torch.full((batch, _TRACE_PREFIX), decoder_start, dtype=torch.long)
        #: Whether later steps run the decoder with past (`decoder_with_past`), and why not.
        self.kv_cache = False
        self.kv_cache_reason, vocab = self._torch_cache_problem(reference)
        self.decoder = None
        if self.kv_cache_reason is None:
            try:
                self.decoder = self._convert_step(prefix, cached=True)
            except SkillUnavailableError as exc:
                self.kv_cache_reason = f"its decoder cannot return its cache: {exc}"
        if self.decoder is None:
            self.decoder = self._convert_step(prefix, cached=False)
        self.decoder_with_past: OpenVinoExecutor | None = None
        if self.kv_cache_reason is None:
            self._compile_with_past(reference, vocab)
        self.execution_precision = self.encoder.execution_precision
        parts = [p for p in (self.encoder, self.decoder, self.decoder_with_past) if p]
        self.weight_memory = sum(p.weight_memory for p in parts)
        self.matmul_weight_memory = sum(p.matmul_weight_memory for p in parts)
        self._generator = self._compiled_copy()

    def _convert_step(self, ids: Any, cached: bool, past: dict[str, Any] | None = None
                      ) -> OpenVinoExecutor:
        """The decoder step (`_DecoderStep`) traced on `ids`, the encoder's example outputs and
        `past` (inputs named by `_past_input`), converted and compiled."""
        layers = len(past) // len(_KV) if past else 0
        step = _DecoderStep(self.model, self.encoder_output_type, self.encoder_fields,
                            self.with_mask, cached=cached, past=layers).module
        example = {"decoder_input_ids": ids, **self._mask, **self._fields, **(past or {})}
        return OpenVinoExecutor(step, example, frozenset(), self.precision)

    def _torch_cache_problem(self, reference: Any) -> tuple[str | None, int]:
        """Why the torch decoder's cache cannot pass through the compiled decoders (None: it
        can), from one torch decoder pass with `use_cache=True` on the encoder's example, and
        the width of that pass's logits (0 where it failed): the token ids the check at load
        may draw."""
        import torch

        batch = reference.last_hidden_state.shape[0]
        ids = torch.full((batch, _TRACE_PREFIX), self.decoder_start, dtype=torch.long)
        try:
            with torch.no_grad():
                out = self.model(decoder_input_ids=ids, encoder_outputs=reference,
                                 use_cache=True, **self._mask)
        except Exception as exc:  # noqa: BLE001 - a decoder that cannot cache says so; it is data
            return (f"its torch decoder fails with use_cache=True: {type(exc).__name__}: {exc}",
                    0)
        return _cache_problem(self.model, getattr(out, "cache", None)), out.logits.shape[-1]

    def _compile_with_past(self, reference: Any, vocab: int) -> None:
        """Convert the decoder with past, traced at `_TRACE_PAST` cached positions from the torch
        decoder, and check it against the decoder without past (`_past_differs`) on token ids
        below `vocab`; set `kv_cache`, or `kv_cache_reason` where either fails."""
        import torch

        batch = reference.last_hidden_state.shape[0]
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (batch, _CHECK_PREFIX), generator=generator)
        ids[:, 0] = self.decoder_start
        with torch.no_grad():
            torch_out = self.model(decoder_input_ids=ids[:, :_TRACE_PAST],
                                   encoder_outputs=reference, use_cache=True, **self._mask)
        past = _cache_inputs(torch_out.cache)
        try:
            with_past = self._convert_step(ids[:, _TRACE_PAST:_TRACE_PAST + 1], cached=True,
                                           past=past)
        except SkillUnavailableError as exc:
            self.kv_cache_reason = f"its decoder with past cannot be converted: {exc}"
            return
        problem = self._past_differs(with_past, ids, reference)
        if problem:
            self.kv_cache_reason = problem
            return
        self.decoder_with_past, self.kv_cache = with_past, True

    def _torch_past_gap(self, reference: Any, ids: Any, position: int) -> float:
        """How far torch's own logits for `ids[:, position]` after a cache of the positions
        before it are from its logits on the whole prefix, relative to the largest."""
        import torch

        with torch.no_grad():
            whole = self.model(decoder_input_ids=ids[:, :position + 1], encoder_outputs=reference,
                               use_cache=False, **self._mask).logits[:, -1]
            cached = self.model(decoder_input_ids=ids[:, :position], encoder_outputs=reference,
                                use_cache=True, **self._mask).cache
            step = self.model(decoder_input_ids=ids[:, position:position + 1],
                              encoder_outputs=reference, cache=cached, use_cache=True,
                              **self._mask).logits[:, -1]
        return float((step - whole).abs().max()) / (1.0 + float(whole.abs().max()))

    @staticmethod
    def _past_inputs(kv: dict[str, list[Any]]) -> dict[str, Any]:
        """The decoder with past's cache inputs from key/value outputs (`_kv_outputs`):
        every layer's, in torch's (batch, heads, sequence, head dim) layout."""
        return {_past_input(kind, i): t.transpose(1, 2) for kind in _KV
                for i, t in enumerate(kv[kind])}

    def _past_differs(self, with_past: OpenVinoExecutor, ids: Any, reference: Any
                      ) -> str | None:
        """Why the decoder with past cannot decode: where, stepping through `ids` one token at
        a time from the first, it first gives other logits than the decoder without past on all
        of `ids` at once (None where it never does).

        The past lengths run from 1 to `_CHECK_PREFIX - 1`, the traced one among them, so a
        trace that kept its traced past length (a position computed from a Python int) shows
        here. Both are compiled at the same precision; the limit is that precision's float
        rounding, relative to 1 + the largest |logit|. Where they differ, torch's own cached
        step is compared with its whole prefix at that position too (`_torch_past_gap`): a
        model whose cached decoding is another computation in torch (ProphetNet) is told apart
        from a trace that kept a size.
        """
        import numpy as np
        import torch

        inputs = {**self._mask, **self._fields}
        try:
            whole = self.decoder({"decoder_input_ids": ids, **inputs})["logits"]
            first = self.decoder({"decoder_input_ids": ids[:, :1], **inputs})
        except RuntimeError as exc:
            return f"its decoder without past rejects a {ids.shape[1]}-token prefix: {exc}"
        if whole.shape[1] != ids.shape[1]:
            return (f"its decoder without past returns {whole.shape[1]} positions for a "
                    f"{ids.shape[1]}-token prefix: a trace that keeps a size of its example")
        kv = {kind: first[kind] for kind in _KV}
        limit = 1e-4 if self.encoder.execution_precision == "f32" else 5e-2
        for position in range(1, ids.shape[1]):
            try:
                out = with_past({"decoder_input_ids": ids[:, position:position + 1], **inputs,
                                 **self._past_inputs(kv)})
            except RuntimeError as exc:
                return f"its decoder with past rejects a past of {position}: {exc}"
            want, got = whole[:, position].numpy(), out["logits"][:, -1].numpy()
            worst = float(np.abs(got - want).max()) / (1.0 + float(np.abs(want).max()))
            if worst > limit:
                gap = self._torch_past_gap(reference, ids, position)
                cause = ("the model's cached decoding is another computation"
                         if 10 * gap >= worst else
                         "a trace that keeps a size of its example (a past length or a token "
                         "count read as an int)")
                return (f"its decoder with past differs from the whole prefix's by {worst:.3g} "
                        f"(relative to the largest logit) at past length {position}, traced at "
                        f"{_TRACE_PAST}; torch's own cached step differs from its whole prefix "
                        f"by {gap:.3g} there: {cause}")
            for kind in ("self_keys", "self_values"):
                kv[kind] = [torch.cat([a, b], dim=1) for a, b in zip(kv[kind], out[kind],
                                                                     strict=True)]
        return None

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
        inputs = {"decoder_input_ids": decoder_input_ids,
                  **self._field_inputs(encoder_outputs)}
        if self.with_mask:
            inputs["attention_mask"] = attention_mask
        return self.decoder(inputs)["logits"]

    def _field_inputs(self, encoder_outputs: Any) -> dict[str, Any]:
        """The compiled decoders' encoder inputs from `encoder_outputs` (as `step` takes it).

        Raises:
            ValueError: `encoder_outputs` lacks a field the compiled decoders take.
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
        return {_encoder_input(f): fields[f] for f in self.encoder_fields}

    def prefill(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """The encoder pass plus the first decoder step from the start token (as torch's
        `Skill.prefill` runs it): `logits` and `encoder_last_hidden_state`."""
        import torch

        outputs = self.encode_outputs(prepared)
        states = outputs.last_hidden_state
        start = torch.full((states.shape[0], 1), self.decoder_start, dtype=torch.long)
        logits = self.step(start, outputs, prepared.get("attention_mask"))
        return {"logits": logits, "encoder_last_hidden_state": states}

    def generate(self, prepared: dict[str, Any], generate_kwargs: dict[str, Any],
                 use_cache: bool | None = None) -> Any:
        """Greedy generation: the model class's own generate() over the compiled parts.

        With the cache (`use_cache`; None: `kv_cache`), the first step runs the decoder without
        past on generate()'s start ids and each later one the decoder with past on the new
        token; without, every step hands the whole decoder prefix to the decoder without past.

        Raises:
            ValueError: the cache was asked for where there is no decoder with past.
        """
        import torch

        cached = self.kv_cache if use_cache is None else use_cache
        if cached and not self.kv_cache:
            raise ValueError(f"no decoder with past to decode with: {self.kv_cache_reason}")
        with torch.inference_mode():
            return self._generator.generate(**prepared, **generate_kwargs, use_cache=cached)

    def _cached_step(self, decoder_input_ids: Any, encoder_outputs: Any, attention_mask: Any,
                     cache: Any) -> Any:
        """One generation step through `cache`, the `EncoderDecoderCache` generate() made:
        the decoder without past on an empty one (which fills it, cross-attention included),
        else the decoder with past on the new ids (whose keys and values are appended)."""
        fields = self._field_inputs(encoder_outputs)
        mask = {"attention_mask": attention_mask} if self.with_mask else {}
        selves, crosses = cache.self_attention_cache, cache.cross_attention_cache
        if cache.get_seq_length() == 0:
            out = self.decoder({"decoder_input_ids": decoder_input_ids, **mask, **fields})
            for i, (keys, values) in enumerate(zip(out["cross_keys"], out["cross_values"],
                                                   strict=True)):
                crosses.update(keys.transpose(1, 2), values.transpose(1, 2), i)
                cache.is_updated[i] = True
        else:
            assert self.decoder_with_past is not None  # kv_cache
            out = self.decoder_with_past({"decoder_input_ids": decoder_input_ids, **mask,
                                          **fields, **_cache_inputs(cache)})
        for i, (keys, values) in enumerate(zip(out["self_keys"], out["self_values"],
                                               strict=True)):
            selves.update(keys.transpose(1, 2), values.transpose(1, 2), i)
        return out["logits"]

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
                    attention_mask: Any = None, cache: Any = None,
                    use_cache: bool | None = None, **_: Any) -> Any:
            if outer.kv_cache and use_cache and cache is not None:
                logits = outer._cached_step(decoder_input_ids, encoder_outputs, attention_mask,
                                            cache)
                return Seq2SeqLMOutput(logits=logits, cache=cache,
                                       encoder_last_hidden_state=encoder_outputs[0])
            return Seq2SeqLMOutput(
                logits=outer.step(decoder_input_ids, encoder_outputs, attention_mask),
                encoder_last_hidden_state=encoder_outputs[0])

        clone = copy.copy(model)
        clone.forward = forward
        clone.get_encoder = lambda *args, **kwargs: encoder
        return clone
