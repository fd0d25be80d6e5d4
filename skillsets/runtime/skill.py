"""A loaded skill: one model type, on one hardware, at one precision, ready to call.

`load_skill` is the typed entry point the rest of the pipeline (validation, benchmarks) uses;
generated skillsets wrap the same object in the original framework's interface.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillsets.catalog import CatalogEntry, get_entry
from skillsets.runtime import inputs as example_builders
from skillsets.runtime.decode import greedy_decode, with_start_ids
from skillsets.runtime.errors import UnsupportedCombinationError
from skillsets.runtime.openvino_exec import OpenVinoExecutor
from skillsets.runtime.openvino_generate import OpenVinoSeq2Seq, is_encoder_decoder
from skillsets.runtime.outputs import OutputContext, postprocess
from skillsets.runtime.precision import (
    apply_precision,
    check_precision,
    pin_fp32_matmuls,
    torch_dtype,
    torch_execution_precision,
)
from skillsets.runtime.prepare import (
    PrepareContext,
    find_config_value,
    forward_params,
    prepare,
)
from skillsets.runtime.processors import Preprocessors, build_preprocessors
from skillsets.runtime.quantize import CALIBRATION_SAMPLES, torch_weight_bytes
from skillsets.runtime.weights import load_model, missing_library
from skillsets.tasks import TASKS

log = logging.getLogger(__name__)

#: Tokens generated per call: short and fixed, so generate() timings compare across runs.
MAX_NEW_TOKENS = 8
#: Generation-config entries of multi-stage generators, each stage sized on its own.
_STAGE_CONFIGS = ("semantic_config", "coarse_acoustics_config", "fine_acoustics_config")
#: Backends whose models run through torch on a torch device.
_TORCH_DEVICES = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "mps": "mps"}


@dataclass(frozen=True)
class Placement:
    """Where a skill really runs, and what was asked for when it had to fall back."""

    hardware: str
    fallback_from: str | None = None
    reason: str = ""


def place(hardware: str) -> Placement:
    """The backend a skill asked for `hardware` runs on: itself when present, else cpu.

    Raises:
        UnknownNameError: an unknown backend name.
    """
    from hardware.registry import get_backend, probe

    get_backend(hardware)
    status = probe(hardware)
    if hardware == "qnn" and status.available:
        return Placement("cpu", "qnn", "the runtime has no QNN execution path yet")
    if status.available:
        return Placement(hardware)
    return Placement("cpu", hardware, status.reason or f"{hardware} is not available")


@dataclass
class Skill:
    """A model ready to run on one hardware at one precision.

    Attributes:
        model_type: The catalog model type.
        entry: Its catalog entry.
        hardware: Where it actually runs (`cpu` after a fallback).
        fallback_from: The hardware asked for when it was absent, else None.
        precision: `fp32`, `bf16`, `fp16`, `int8`, `int8-wo` or `int4-wo`: what was asked for.
        execution_precision: What the backend reports it executes (`f32`, `bf16`, `f16`,
            `int8`), read back after loading.
        model: The torch model (kept for comparison even when OpenVINO runs it).
        processor: The main preprocessing object (tokenizer, image processor...), or None.
        weights: `pretrained:<path>@<digest>` or `random:<ConfigClass>:<size>`.
        config: The model's config.
        max_new_tokens: Tokens per generate() call for generative tasks.
        weight_memory: Bytes the weights take as run (`skillsets.runtime.quantize`: torch
            storage, or the compiled OpenVINO models' constants).
        matmul_weight_memory: Of those, the linear / MatMul weights' bytes (what weight-only
            quantization compresses).
        instantiation_seconds: Wall time `load_skill` spent building the model object (config
            or checkpoint -> model, before device, precision and compile): the benchmark's
            `instantiation_time`, read here so the model is not built twice to time it.
    """

    model_type: str
    entry: CatalogEntry
    hardware: str
    fallback_from: str | None
    precision: str
    model: Any
    processor: Any
    weights: str
    config: Any
    preprocessors: Preprocessors = field(repr=False, default_factory=Preprocessors)
    source: Path | None = None
    seed: int = 0
    max_new_tokens: int = MAX_NEW_TOKENS
    fallback_reason: str = ""
    execution_precision: str = ""
    size: str = "tiny"
    parameters: int = 0
    weight_memory: int = 0
    matmul_weight_memory: int = 0
    instantiation_seconds: float = 0.0
    _openvino: OpenVinoExecutor | OpenVinoSeq2Seq | None = field(default=None, repr=False)

    @property
    def device(self) -> str:
        """The torch device the model's tensors live on."""
        return _TORCH_DEVICES.get(self.hardware, "cpu")

    @property
    def generative(self) -> bool:
        """Whether `run` calls generate() (else one forward pass)."""
        if self.entry.task in ("text-to-audio", "rnnt", "tdt"):
            # Speech synthesisers and transducers decode with generate() when they have one.
            return bool(getattr(self.model, "can_generate", lambda: False)())
        return TASKS[self.entry.task].generative

    @property
    def decoder_only(self) -> bool:
        """Whether `run` generates token ids with a decoder-only model (text, or text
        conditioned on images or audio): the generators `greedy_decode` runs on OpenVINO."""
        return (self.generative and TASKS[self.entry.task].output == "generated"
                and not is_encoder_decoder(self.model))

    @property
    def kv_cache(self) -> tuple[bool, str | None]:
        """Whether `run`'s decoding steps after the first reuse past keys and values, and why
        not where they do not (None where they do, or where `run` does not decode).

        torch: generate()'s own cache. OpenVINO: an encoder-decoder's decoder with past where it
        converted and passed its check at load (`OpenVinoSeq2Seq.kv_cache`); a decoder-only
        generator runs its whole compiled forward on the grown sequence each step.
        """
        if not self.generative:
            return False, None
        if isinstance(self._openvino, OpenVinoSeq2Seq):
            return self._openvino.kv_cache, self._openvino.kv_cache_reason
        if self._openvino is not None:
            return False, ("openvino's decoder-only loop runs the whole compiled forward on the "
                           "grown sequence each step")
        return bool(getattr(getattr(self.model, "generation_config", None), "use_cache", True)
                    ), None

    @property
    def custom_generate(self) -> bool:
        """Whether generation goes through the model's own generate(), not transformers'."""
        from transformers import GenerationMixin

        # Models that cannot generate at all (PI0, an action policy) have no generate().
        own = getattr(type(self.model), "generate", GenerationMixin.generate)
        return self.generative and own is not GenerationMixin.generate

    def example_inputs(self, batch_size: int) -> list[Any]:
        """`batch_size` natural inputs for this model (texts, images, waveforms...), seeded."""
        return example_builders.example_inputs(self.entry.modality, self.config, batch_size,
                                               self.preprocessors.feature_extractor, self.seed)

    def prepare(self, natural: Any) -> dict[str, Any]:
        """Natural inputs -> tensors on the skill's device and dtype (not timed by benchmarks)."""
        import torch

        batch = natural if isinstance(natural, list) else [natural]
        ctx = PrepareContext(self.entry, self.model, self.config, self.preprocessors,
                             keep_all=self.custom_generate)
        with missing_library(self.model_type):
            tensors = prepare(ctx, batch)
        # OpenVINO takes fp32 inputs at every precision and converts inside the compiled model.
        dtype = torch.float32 if self.hardware == "openvino" else torch_dtype(self.precision)

        def move(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                return value.to(dtype) if value.is_floating_point() else value
            if isinstance(value, list):
                return [move(v) for v in value]
            return value

        return {k: move(v) for k, v in tensors.items()}

    def _generate_kwargs(self) -> dict[str, Any]:
        if not self.custom_generate:
            from transformers import GenerationMixin

            # Exactly max_new_tokens, greedy: every call does the same amount of work. Models
            # with their own logits processing (audio codebooks: HiggsAudioV2) reject text
            # length processors, so they stop at max_new_tokens or at their end token.
            own = type(self.model)._get_logits_processor is not (
                GenerationMixin._get_logits_processor)
            fixed = {} if own else {"min_new_tokens": self.max_new_tokens}
            return {"max_new_tokens": self.max_new_tokens, **fixed, "do_sample": False}
        # A model's own generate() usually forwards max_new_tokens to transformers' one; a
        # multi-stage one (Bark) sizes each stage from its generation config instead.
        gen = getattr(self.model, "generation_config", None)
        staged = any(isinstance(getattr(gen, a, None), dict) for a in _STAGE_CONFIGS)
        return {} if staged else {"max_new_tokens": self.max_new_tokens}

    def run(self, prepared: dict[str, Any]) -> Any:
        """The task's real work: generate() for generative tasks, else one forward pass.

        This is what benchmarks time.
        """
        if isinstance(self._openvino, OpenVinoSeq2Seq):
            return self._openvino.generate(prepared, self._generate_kwargs())
        if self._openvino is not None:
            if self.generative:
                kwargs = self._generate_kwargs()
                return greedy_decode(self._openvino, self.model, prepared, self.max_new_tokens,
                                     kwargs.get("min_new_tokens", 0))
            return self._openvino(prepared)
        return self.torch_run(prepared)

    def torch_run(self, prepared: dict[str, Any], use_cache: bool | None = None) -> Any:
        """`run` through the torch model, whatever backend the skill runs on: the reference a
        compiled backend is compared with.

        Args:
            prepared: What `prepare` returned.
            use_cache: For generative tasks, generate() with (True) or without (False) its KV
                cache; None = the model's default. OpenVINO decodes without one.
        """
        import torch

        cache = {} if use_cache is None else {"use_cache": use_cache}
        with torch.inference_mode(), missing_library(self.model_type):
            if self.generative:
                return self.model.generate(**prepared, **self._generate_kwargs(), **cache)
            return self.model(**prepared)

    def prefill(self, prepared: dict[str, Any]) -> Any:
        """One forward pass over the prompt (the prefill of a generative task; a decoder
        conditioned on an image alone starts from generate()'s start ids, `with_start_ids`)."""
        if isinstance(self._openvino, OpenVinoSeq2Seq):
            return self._openvino.prefill(prepared)
        if self._openvino is not None:
            return self._openvino(with_start_ids(self.model, prepared) if self.decoder_only
                                  else prepared)
        return self.torch_prefill(prepared)

    def torch_prefill(self, prepared: dict[str, Any]) -> Any:
        """`prefill` through the torch model, whatever backend the skill runs on."""
        import torch

        params = forward_params(self.model)
        if self.decoder_only:
            prepared = with_start_ids(self.model, prepared)
        inputs = {k: v for k, v in prepared.items() if k in params}
        if (
            getattr(self.config, "is_encoder_decoder", False)
            and "decoder_input_ids" in params
            and "decoder_input_ids" not in inputs
            and "decoder_inputs_embeds" not in inputs
        ):
            # An encoder-decoder's prefill is the encoder pass plus the first decoder step,
            # which starts from the decoder start token, as generate() starts it.
            batch = next(v for v in inputs.values() if isinstance(v, torch.Tensor)).shape[0]
            inputs["decoder_input_ids"] = torch.full(
                (batch, 1), self._decoder_start_id(), dtype=torch.long, device=self.device
            )
        with torch.inference_mode(), missing_library(self.model_type):
            return self.model(**inputs)

    def _decoder_start_id(self) -> int:
        """The token generate() starts the decoder with: the generation config's (which
        `load_model` completes), else the config's start, bos or pad token, else 0."""
        start = getattr(getattr(self.model, "generation_config", None),
                        "decoder_start_token_id", None)
        if isinstance(start, int):
            return start
        found = find_config_value(self.config, ("decoder_start_token_id", "pad_token_id"))
        return found if found is not None else 0

    def postprocess(self, raw: Any, prepared: dict[str, Any] | None = None) -> dict[str, Any]:
        """The task's output dict (embedding, generated ids/text, logits/labels...)."""
        ctx = OutputContext(self.entry, self.config, self.preprocessors.tokenizer,
                            prepared or {}, self.source)
        kind = TASKS[self.entry.task].output
        out = postprocess(ctx, kind, raw)
        out.update(hardware=self.hardware, fallback_from=self.fallback_from,
                   precision=self.precision, execution_precision=self.execution_precision,
                   weights=self.weights)
        return out

    def __call__(self, natural: Any) -> dict[str, Any]:
        """postprocess(run(prepare(natural)))."""
        prepared = self.prepare(natural)
        return self.postprocess(self.run(prepared), prepared)


def _calibration(skill: Skill, seed: int) -> list[dict[str, Any]]:
    """Prepared calibration samples for int4-wo's GPTQ: none of the example inputs, so the
    quality measured on those is out of sample (`inputs.calibration_inputs`)."""
    return [skill.prepare([sample]) for sample in example_builders.calibration_inputs(
        skill.entry.modality, skill.config, CALIBRATION_SAMPLES,
        skill.preprocessors.feature_extractor, seed)]


def load_skill(
    model_type: str,
    hardware: str = "cpu",
    precision: str = "fp32",
    model_name: str | None = None,
    *,
    seed: int = 0,
    size: str = "tiny",
    memory_budget: float = 0.8,
) -> Skill:
    """Load a model type for a hardware and precision.

    Args:
        model_type: A catalog model type or alias (`bert`, `xlm-roberta`, `blip2`).
        hardware: A backend name (`cpu`, `cuda`, `rocm`, `openvino`, `mps`, `qnn`). An absent
            backend falls back to cpu; the skill's `fallback_from` says so.
        precision: `fp32`, `bf16` (cpu/cuda), `fp16` (cuda), `int8` (cpu, dynamic quantization),
            `int8-wo` or `int4-wo` (cpu, openvino): weight-only quantization.
        model_name: A local directory or a model id in the HF cache; None (or a name with no
            files on disk) builds a seeded random-weight model from the type's tiny config.
        seed: Seed for random weights and example inputs.
        size: `tiny` (the catalog's shrunk config), `reference` (the type's default config,
            refused with the reason when it would not fit `memory_budget`) or `checkpoint`
            (`model_name` must resolve to files; see `weights.load_model`).
        memory_budget: Share of available memory a reference model's weights may take.

    Raises:
        UnknownNameError: unknown model type, hardware or precision.
        UnsupportedPrecisionError: the precision cannot run where the skill would run.
        SkillUnavailableError: the type cannot run here (missing library, missing input...).
    """
    entry = get_entry(model_type)
    placement = place(hardware)
    check_precision(precision, placement.hardware)
    if placement.fallback_from is not None:
        log.warning("%s: %s is absent (%s); running on cpu", entry.model_type,
                    placement.fallback_from, placement.reason)
    pin_fp32_matmuls()
    started = time.perf_counter_ns()
    loaded = load_model(entry, model_name, seed, size=size, precision=precision,
                        budget_fraction=memory_budget)
    instantiation_seconds = (time.perf_counter_ns() - started) / 1e9
    model = loaded.model
    if placement.hardware in _TORCH_DEVICES:
        model = model.to(_TORCH_DEVICES[placement.hardware])
        if precision != "int4-wo":  # int4-wo calibrates through the skill, below
            model = apply_precision(model, precision)
    with missing_library(entry.model_type):
        pre = build_preprocessors(entry, loaded.config, loaded.source)
    skill = Skill(
        model_type=entry.model_type, entry=entry, hardware=placement.hardware,
        fallback_from=placement.fallback_from, precision=precision, model=model,
        processor=pre.main(), weights=loaded.weights, config=loaded.config, preprocessors=pre,
        size=loaded.size, parameters=loaded.parameters,
        source=loaded.source, seed=seed, fallback_reason=placement.reason,
        instantiation_seconds=instantiation_seconds,
    )
    gen = getattr(model, "generation_config", None)
    if skill.generative and gen is not None:
        gen.max_new_tokens = skill.max_new_tokens
    if placement.hardware == "openvino":
        seq2seq = skill.generative and is_encoder_decoder(model)
        # MusicGen is an encoder-decoder too, but its generate() decodes audio codes to a
        # waveform, which the token-id loops cannot do.
        speaks = TASKS[entry.task].output == "audio"
        if skill.generative and (speaks or (not seq2seq and not skill.decoder_only)):
            raise UnsupportedCombinationError(
                f"{entry.model_type}: openvino runs forward passes and the decoder-only and "
                f"encoder-decoder generate loops, which produce token ids; {entry.task} "
                f"produces {TASKS[entry.task].output} in the model's own generate() "
                "(run it on cpu)")

        def traced(prepared: dict[str, Any]) -> dict[str, Any]:
            # The compiled forward of a decoder-only generator takes the ids it grows.
            return with_start_ids(model, prepared) if skill.decoder_only else prepared

        example = traced(skill.prepare(skill.example_inputs(1)))
        calibration = [traced(prepared) for prepared in _calibration(skill, seed)
                       ] if precision == "int4-wo" and not seq2seq else None
        skill._openvino = (
            OpenVinoSeq2Seq(model, example, skill._decoder_start_id(), precision) if seq2seq
            else OpenVinoExecutor(model, example, forward_params(model), precision, calibration))
        skill.execution_precision = skill._openvino.execution_precision
        skill.weight_memory = skill._openvino.weight_memory
        skill.matmul_weight_memory = skill._openvino.matmul_weight_memory
    else:
        if precision == "int4-wo":
            from skillsets.runtime.int4 import quantize_int4

            # A generator calibrates on its prefill (what its quality is measured on), anything
            # else on its task's call.
            call = skill.torch_prefill if skill.generative else skill.torch_run
            samples = _calibration(skill, seed)
            quantize_int4(model, lambda: (call(prepared) for prepared in samples))
        skill.execution_precision = torch_execution_precision(model)
        skill.weight_memory, skill.matmul_weight_memory = torch_weight_bytes(model)
    return skill
