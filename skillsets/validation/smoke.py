"""The smoke run of one skillset on one backend, in the current process.

`smoke_test` loads the model type through the shared runtime (small random weights from the
type's config when no weights are on disk), builds modality-correct synthetic inputs for each
batch size, runs the task's real forward or generate, and checks the outputs: shapes (the batch
dimension), finite values, and batch consistency (a batch of two copies of one sample gives that
sample's output twice). Then, on torch backends, the from_pretrained round trip: the model is
saved with `save_pretrained` (safetensors) to a temporary folder and loaded back through the
skillset's own weights-on-disk path, and its outputs must be identical. On OpenVINO the compiled
model's outputs are compared with torch's and the largest absolute difference is recorded. Last,
the inventory of the type's head classes (`skillsets.validation.inventory`), loaded from the
round trip's saved folder.

Run it in a child process (`skillsets.validation.isolate`): a model may hang or crash.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from skillsets.runtime.errors import UnsupportedCombinationError, UnsupportedPrecisionError
from skillsets.validation import outputs
from skillsets.validation.inventory import as_details, take_inventory
from skillsets.validation.tolerance import (
    PARITY_LIMITS,
    ParityLimit,
    parity_limit,
    tolerance_details,
)

SmokeStatus = Literal["pass", "fail", "unsupported", "skip"]

#: What a validation zygote imports (and warms) once, so each forked smoke run starts in ~0.03 s
#: instead of paying 5-15 s of imports (transformers.modeling_utils alone is most of it).
PRELOAD: tuple[str, ...] = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "transformers.generation",
    "safetensors.torch",
    "openvino",
    "skillsets.runtime",
    "skillsets.validation.smoke",
    "skillsets.catalog:build_catalog",
)

#: Backends whose skill runs the torch model itself (the round trip is checked there).
TORCH_BACKENDS = frozenset({"cpu", "cuda", "rocm", "mps"})
#: Backends that compile the torch model; their outputs are compared with torch's.
COMPILED_BACKENDS = frozenset({"openvino", "qnn"})


@dataclass(frozen=True)
class SmokeOptions:
    """What a smoke run checks, and how strictly.

    Attributes:
        batch_sizes: Batch sizes to run (each must give outputs with that batch dimension).
        seed: Seed of the random weights and of every forward pass.
        roundtrip: Check the save_pretrained / from_pretrained round trip (None = on torch
            backends only; it repeats the conversion on compiled backends).
        inventory: Build and run every head class of the type (in torch; None = on torch
            backends only, where it is not a repeat of the same torch work).
        inventory_budget_s: Seconds the inventory may take before the rest is `not tried`.
        skillset_dir: Folder of generated `hf_<type>.py` files; the round trip then loads the
            saved folder through the generated class's `init_<hw>`. None = through `load_skill`.
        checkpoints: Model type -> checkpoint folder to validate instead of the tiny random
            model (real weights; the folder must hold them, see `weights.resolve_checkpoint`).
        batch_atol: Absolute tolerance of the batch-consistency check.
        batch_rtol: Relative tolerance (times the largest reference magnitude) of that check.
        parity: Tolerance of a compiled backend against torch, per the precision it reports
            executing (`skillsets.validation.tolerance.PARITY_LIMITS`).
        roundtrip_atol: Absolute tolerance of the reloaded model against the saved one. Reloading
            may pick other kernels (a fused attention path, another memory layout), which moves
            results by float rounding (~1e-7); a weight that is not saved moves them by far
            more. Whether the outputs were bit-identical is recorded too.
        roundtrip_rtol: Relative tolerance (times the largest magnitude) of that comparison.
    """

    batch_sizes: tuple[int, ...] = (1, 2)
    seed: int = 0
    roundtrip: bool | None = None
    inventory: bool | None = None
    inventory_budget_s: float = 20.0
    skillset_dir: str | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)
    batch_atol: float = 1e-4
    batch_rtol: float = 1e-4
    parity: dict[str, ParityLimit] = field(default_factory=lambda: dict(PARITY_LIMITS))
    roundtrip_atol: float = 1e-5
    roundtrip_rtol: float = 1e-5

    def __post_init__(self) -> None:
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes must be positive integers, got {self.batch_sizes}")
        for name in (
            "roundtrip_atol",
            "roundtrip_rtol",
            "batch_atol",
            "batch_rtol",
            "inventory_budget_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class SmokeResult:
    """What one smoke run found: the fields of a compatibility record, less run and environment.

    Attributes:
        status: `pass`, `fail` (with `error_type`, `message`, `stage`), `unsupported` (the
            runtime has no path for this task or precision here; `message` says why) or `skip`.
        execution_precision: What the backend reported it executed (`f32`, `bf16`...).
        stage: Where it failed: `load`, `inputs`, `forward`, `outputs`, `batch`, `roundtrip`,
            `compiled` (OpenVINO vs torch) or `postprocess`.
        max_abs_diff: Largest |compiled - torch| on a compiled backend; None on torch backends.
        seconds: Wall time of the whole run.
        timings: Seconds per stage (`load`, `forward_bs1`, `forward_bs2`, `roundtrip`...).
        details: Shapes, weights, inventory, traceback of a failure.
    """

    model_type: str
    hardware: str
    status: SmokeStatus = "pass"
    error_type: str | None = None
    message: str | None = None
    stage: str | None = None
    max_abs_diff: float | None = None
    execution_precision: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class SmokeCheckError(Exception):
    """A check of the smoke run failed; `error_type` names the check for grouping."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def smoke_test(
    model_type: str, hardware: str = "cpu", *, options: SmokeOptions | None = None
) -> SmokeResult:
    """Validate one model type's skillset on one backend, in this process.

    Args:
        model_type: A catalog model type.
        hardware: A backend name (`cpu`, `openvino`, `cuda`...); it must be available here.
        options: What to check; defaults to `SmokeOptions()`.

    Returns:
        The result; a failure is returned, not raised (with the stage and traceback in details).
    """
    run = _SmokeRun(model_type, hardware, options or SmokeOptions())
    started = time.perf_counter()
    try:
        run.check()
    except SmokeCheckError as exc:
        run.fail(exc.error_type, str(exc), None)
    except (UnsupportedCombinationError, UnsupportedPrecisionError) as exc:
        run.fail(type(exc).__name__, str(exc), None)
        run.result.status = "unsupported"
    except Exception as exc:  # any exception of the skillset is the finding this run exists for
        run.fail(type(exc).__name__, _one_line(exc), traceback.format_exc())
    run.result.seconds = time.perf_counter() - started
    return run.result


class _SmokeRun:
    """The state of one smoke run: the stage it is in, the result being filled, the inputs."""

    def __init__(self, model_type: str, hardware: str, options: SmokeOptions) -> None:
        self.model_type = model_type
        self.hardware = hardware
        self.options = options
        self.result = SmokeResult(model_type, hardware)
        self.stage = "load"
        self.natural: dict[int, Any] = {}
        self.prepared: dict[int, dict[str, Any]] = {}
        self.raw: dict[int, list[tuple[str, Any]]] = {}
        self.post: dict[int, dict[str, Any]] = {}
        #: Batch sizes run as copies of the first sample (see `run_batch`).
        self.repeated: list[int] = []

    def fail(self, error_type: str, message: str, tb: str | None) -> None:
        r = self.result
        r.status, r.stage, r.error_type = "fail", self.stage, error_type
        r.message = f"[{self.stage}] {message}"
        if tb:
            r.details["traceback"] = _short_traceback(tb)

    @contextlib.contextmanager
    def timed(self, stage: str, timing: str | None = None) -> Iterator[None]:
        """Enter `stage` and time it under `timing` (default: the stage's name)."""
        self.stage = stage
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.result.timings[timing or stage] = round(time.perf_counter() - t0, 4)

    def check(self) -> None:
        from skillsets.runtime import load_skill

        opts, details = self.options, self.result.details
        with self.timed("load"):
            checkpoint = opts.checkpoints.get(self.model_type)
            skill = load_skill(self.model_type, hardware=self.hardware, seed=opts.seed,
                               model_name=checkpoint,
                               size="checkpoint" if checkpoint else "tiny")
        details["weights"] = str(skill.weights)
        self.result.execution_precision = skill.execution_precision or None
        if skill.hardware != self.hardware or skill.fallback_from:
            raise SmokeCheckError(
                "HardwareFallback",
                f"asked for {self.hardware}, the skill runs on {skill.hardware}: "
                f"{getattr(skill, 'fallback_reason', '') or 'no reason given'}",
            )
        details["parameters"] = sum(p.numel() for p in skill.model.parameters())
        for batch in opts.batch_sizes:
            self.run_batch(skill, batch)
        first = opts.batch_sizes[0]
        with self.timed("batch", "batch_consistency"):
            if _patch_major("pixel_values", self.prepared[first]):
                details["batch_consistency"] = {
                    "checked": False,
                    "reason": "the model folds the batch into one patch sequence",
                }
            elif _frame_packed(self.prepared[first], self.raw[first]):
                n = self.repeated[0] if self.repeated else 2
                copies = self.raw[n] if self.repeated else outputs.flatten(_run(
                    skill, {k: _repeat(v, n) for k, v in self.prepared[first].items()},
                    opts.seed))
                details["batch_consistency"] = _packed_consistency(
                    self.raw[first], copies, n, opts
                )
            elif self.repeated:
                batch = self.repeated[0]
                details["batch_consistency"] = _consistency(
                    skill,
                    self.prepared[first],
                    self.raw[first],
                    self.raw[batch],
                    batch,
                    opts,
                    skill.run,
                    f"the batch of {batch} was {batch} copies of the first sample",
                )
            else:
                details["batch_consistency"] = _batch_consistency(
                    skill, self.prepared[first], self.raw[first], opts
                )
        if self.hardware in COMPILED_BACKENDS:
            with self.timed("compiled", "compare"):
                self.compare_compiled(skill, self.prepared[first])
        with tempfile.TemporaryDirectory(prefix=f"skillsets-{self.model_type}-") as folder:
            saved = None
            if opts.roundtrip if opts.roundtrip is not None else self.hardware in TORCH_BACKENDS:
                with self.timed("roundtrip"):
                    details["roundtrip"] = self.roundtrip(skill, first, folder)
                saved = folder
            if opts.inventory if opts.inventory is not None else self.hardware in TORCH_BACKENDS:
                with self.timed("inventory"):
                    heads = take_inventory(
                        self.model_type,
                        skill.config,
                        self.prepared[first],
                        known={type(skill.model).__name__: (True, True, "")},
                        budget_s=opts.inventory_budget_s,
                        checkpoint=saved,
                    )
                details["inventory"] = as_details(heads)

    def run_batch(self, skill: Any, batch: int) -> None:
        """Synthetic inputs of one batch size, the task's run, and the output checks.

        When the runtime's inputs for this batch size have exactly the first batch's layout
        (nothing padded, nothing merged: only the batch dimension differs), the batch run is
        `batch` copies of the first sample instead: the same shapes go through the model, and the
        rows double as the batch-consistency check, which saves a forward pass per model.
        Generative tasks always run the runtime's own samples (tokens are compared exactly, and
        a near-tie in random logits must not flip one).
        """
        details = self.result.details
        self.stage = "inputs"
        natural = skill.example_inputs(batch)
        prepared = skill.prepare(natural)
        if not isinstance(prepared, dict):
            raise SmokeCheckError(
                "InputError", f"prepare() returned {type(prepared).__name__}, not a dict"
            )
        _check_inputs(prepared, batch)
        details.setdefault("inputs", {})[str(batch)] = _input_shapes(prepared)
        first = self.options.batch_sizes[0]
        if (
            batch != first
            and first == 1
            and not getattr(skill, "generative", False)
            and _same_layout(prepared, self.prepared[first], batch)
        ):
            natural = [natural[0]] * batch if isinstance(natural, list) and natural else natural
            prepared = {k: _repeat(v, batch) for k, v in self.prepared[first].items()}
            self.repeated.append(batch)
        with self.timed("forward", f"forward_bs{batch}"):
            try:
                raw = _run(skill, prepared, self.options.seed)
            except RuntimeError as exc:
                where = _model_code_frame(exc)
                if batch == first or where is None:
                    raise
                raise SmokeCheckError(
                    "BatchUnsupported",
                    f"the model runs at batch {first}; at batch {batch} transformers' own model "
                    f"code fails ({where}: {_one_line(exc)}): it does not batch these inputs",
                ) from exc
        self.stage = "outputs"
        flat = outputs.flatten(raw)
        folded = _patch_major("pixel_values", prepared) or _frame_packed(prepared, flat)
        _check_outputs(flat, batch, batch_folded=folded)
        details.setdefault("outputs", {})[str(batch)] = outputs.describe(flat)
        self.stage = "postprocess"
        post = skill.postprocess(raw, prepared)
        if not isinstance(post, dict):
            raise SmokeCheckError(
                "PostprocessError", f"postprocess() returned {type(post).__name__}, not a dict"
            )
        self.natural[batch], self.prepared[batch], self.raw[batch], self.post[batch] = (
            natural,
            prepared,
            flat,
            post,
        )

    def compare_compiled(self, skill: Any, prepared: dict[str, Any]) -> None:
        """Record the compiled backend's largest difference from torch; fail past the limit of
        the precision it executed. Generative skills' greedy tokens must then equal torch's."""
        opts = self.options
        limit = parity_limit(skill.execution_precision, opts.parity)
        self.result.details["tolerance"] = tolerance_details(skill.execution_precision, limit)
        comparison = _compare_with_torch(skill, prepared, opts.seed)
        finite = math.isfinite(comparison.max_abs_diff)
        self.result.max_abs_diff = comparison.max_abs_diff if finite else None
        self.result.details["compiled_vs_torch"] = {
            "max_abs_diff": comparison.max_abs_diff if finite else None,
            "scale": comparison.scale,
            "arrays": comparison.compared,
            "worst": comparison.worst_path,
        }
        if not comparison.within(limit.atol, limit.rtol):
            self.explain_by_attention(skill, prepared, comparison, limit)
            raise SmokeCheckError(
                "CompiledMismatch",
                comparison.mismatch
                or f"{self.hardware} differs from torch by {comparison.max_abs_diff:.3g} at "
                f"{comparison.worst_path} (limit at {skill.execution_precision}: {limit.atol:g} + "
                f"{limit.rtol:g} x {comparison.scale:.3g})",
            )
        if getattr(skill, "generative", False):
            self.compare_tokens(skill, prepared)

    def explain_by_attention(self, skill: Any, prepared: dict[str, Any],
                             comparison: outputs.Comparison, limit: Any) -> None:
        """Raise `TorchAttentionDisagrees` when the compiled model equals torch run with eager
        attention, and torch's sdpa and eager attention differ from each other.

        The trace sees the eager path's mask: transformers skips building the mask under sdpa
        outside a trace and lets the attention module's `is_causal` decide, and PaliGemma's
        (bidirectional) text config then attends both ways under sdpa, causally under eager
        and in the trace, 0.431 apart. The reference is then not one computation, and no
        conversion can match both; the model code is where to fix it. Runs only on a mismatch
        (two more torch forwards), and restores the model's attention implementation.
        """
        model = skill.model
        before = getattr(model.config, "_attn_implementation", None)
        if before in (None, "eager") or not hasattr(model, "set_attn_implementation"):
            return
        # Every config's own setting, put back as it was: setting `before` again through
        # transformers re-checks it per submodel (RT-DETR's backbone refuses sdpa).
        configs = {id(m.config): m.config for m in model.modules()
                   if hasattr(getattr(m, "config", None), "_attn_implementation_internal")}
        saved = {key: c._attn_implementation_internal for key, c in configs.items()}
        try:
            model.set_attn_implementation("eager")
            eager = _compare_with_torch(skill, prepared, self.options.seed)
        except (ValueError, ImportError, AttributeError):  # no eager path: nothing to tell
            return
        finally:
            for key, config in configs.items():
                config._attn_implementation_internal = saved[key]
        if not eager.within(limit.atol, limit.rtol):
            return
        self.result.details["compiled_vs_torch"]["eager"] = {
            "max_abs_diff": eager.max_abs_diff, "attention": before}
        raise SmokeCheckError(
            "TorchAttentionDisagrees",
            f"{self.hardware} equals torch with eager attention (by {eager.max_abs_diff:.3g}), "
            f"but torch with {before} attention differs from it by "
            f"{comparison.max_abs_diff:.3g} at {comparison.worst_path}: torch's own attention "
            "implementations disagree on this model, so there is no one reference to match",
        )

    def compare_tokens(self, skill: Any, prepared: dict[str, Any]) -> None:
        """The compiled backend's generated tokens against torch's greedy generate().

        The reference is torch's generate() with or without its KV cache as the compiled
        backend decodes: OpenVINO's encoder-decoders with past key values where their decoder
        with past converted and passed its check at load (`kv_cache`, recorded with
        `kv_cache_reason`), every other compiled generator without (the whole prefix each
        step). Whether torch's other mode gives the same tokens is recorded too
        (`torch_cache_agrees`): for a few models (ProphetNet) torch's own cached path moves
        logits enough to flip a near-tied token.
        Random tiny models can have near-tied logits where a difference within the limit
        flips a token; the message then names the first step that differs.
        """
        kv_cache, kv_cache_reason = skill.kv_cache
        torch.manual_seed(self.options.seed)
        compiled = _sequences(skill.run(prepared))
        torch.manual_seed(self.options.seed)
        reference = _sequences(skill.torch_run(prepared, use_cache=kv_cache))
        torch.manual_seed(self.options.seed)
        other = _sequences(skill.torch_run(prepared, use_cache=not kv_cache))
        equal = compiled.shape == reference.shape and torch.equal(compiled, reference)
        tokens: dict[str, Any] = {
            "equal": equal, "shape": list(reference.shape), "kv_cache": kv_cache,
            "torch_cache_agrees": other.shape == reference.shape
            and torch.equal(other, reference)}
        if kv_cache_reason:
            tokens["kv_cache_reason"] = kv_cache_reason
        self.result.details["compiled_vs_torch"]["tokens"] = tokens
        if equal:
            return
        differ = (compiled != reference).nonzero() if compiled.shape == reference.shape else None
        where = (f"first at sequence {int(differ[0][0])}, position {int(differ[0][1])}"
                 if differ is not None else
                 f"shapes {list(compiled.shape)} and {list(reference.shape)}")
        raise SmokeCheckError(
            "CompiledTokensMismatch",
            f"{self.hardware} generates other tokens than torch's greedy generate() "
            f"{'with' if kv_cache else 'without'} cache ({where}): "
            f"{compiled.tolist()} vs {reference.tolist()}")

    def roundtrip(self, skill: Any, batch: int, folder: str) -> dict[str, Any]:
        """save_pretrained (safetensors) to `folder`; load it back as a user would; same outputs.

        With a generated skillset file (`options.skillset_dir`) the folder is loaded through its
        `init_<hw>(model_name=folder)`, else through `load_skill(model_name=folder)`; loading
        uses another seed, so a weight that is not saved and loaded comes back different. The
        reloaded handler must give the same output on the same natural input; when it does not,
        `explain_roundtrip` says whether the weights or the preprocessing differ.
        """
        opts = self.options
        skill.model.save_pretrained(folder)
        files = sorted(p.name for p in Path(folder).iterdir())
        if not any(n.endswith(".safetensors") for n in files):
            raise SmokeCheckError(
                "RoundTripError", f"save_pretrained wrote no safetensors file: {files}"
            )
        _save_preprocessors(skill, folder)
        _copy_checkpoint_files(skill, folder)
        handler, reloaded, via = self.reload(folder)
        if not str(reloaded.weights).startswith("pretrained:"):
            raise SmokeCheckError(
                "RoundTripError",
                f"{via} did not load the saved folder (weights {reloaded.weights!r}): the "
                "weights-on-disk path was not taken",
            )
        torch.manual_seed(opts.seed)
        with torch.inference_mode():
            post = handler(self.natural[batch])
        if not isinstance(post, dict):
            raise SmokeCheckError(
                "RoundTripError", f"{via}'s handler returned {type(post).__name__}"
            )
        handled = outputs.compare(
            outputs.flatten(post), outputs.flatten(self.post[batch]), by_path=True
        )
        if not handled.within(opts.roundtrip_atol, opts.roundtrip_rtol):
            # Only now tell weights from preprocessing apart (one more run, on failure only).
            self.explain_roundtrip(reloaded, handled, via, batch)
        return {
            "files": files,
            "via": via,
            "identical": True,
            "bit_identical": handled.max_abs_diff == 0,
            "max_abs_diff": handled.max_abs_diff,
            "arrays": handled.compared,
        }

    def explain_roundtrip(
        self, reloaded: Any, handled: outputs.Comparison, via: str, batch: int
    ) -> None:
        """Raise the round trip's failure, saying whether weights or preprocessing differ."""
        same_tensors = outputs.flatten(_run(reloaded, self.prepared[batch], self.options.seed))
        opts = self.options
        weights = outputs.compare(same_tensors, self.raw[batch], by_path=True)
        if not weights.within(opts.roundtrip_atol, opts.roundtrip_rtol):
            raise SmokeCheckError(
                "RoundTripMismatch",
                f"{via}: on the same input tensors the reloaded model differs from the saved one "
                + (weights.mismatch or f"by {weights.max_abs_diff:.3g} at {weights.worst_path}")
                + ": a weight is not saved or not loaded",
            )
        inputs = outputs.compare(
            outputs.flatten(reloaded.prepare(self.natural[batch])),
            outputs.flatten(self.prepared[batch]),
            by_path=True,
        )
        cause = (
            "the reloaded preprocessing gives other tensors "
            f"({inputs.mismatch or inputs.worst_path})"
            if not inputs.within(opts.roundtrip_atol, opts.roundtrip_rtol)
            else "the post-processing differs"
        )
        raise SmokeCheckError(
            "RoundTripPreprocessingMismatch",
            f"{via}: the handler's output on the same natural input differs "
            + (handled.mismatch or f"by {handled.max_abs_diff:.3g} at {handled.worst_path}")
            + f"; {cause}",
        )

    def reload(self, folder: str) -> tuple[Any, Any, str]:
        """(handler, skill, description) over the saved folder; `handler(natural)` -> a dict."""
        seed = self.options.seed + 1
        cls = _generated_class(self.options.skillset_dir, self.model_type)
        if cls is None:
            from skillsets.runtime import load_skill

            skill = load_skill(self.model_type, self.hardware, model_name=folder, seed=seed)
            return skill, skill, "load_skill(model_name=folder)"
        from hardware.registry import get_backend

        init = get_backend(self.hardware).init_method
        instance = cls(metadata={"seed": seed})
        _, _, handler, _, _ = getattr(instance, init)(folder)
        return handler, instance.skill, f"{cls.__name__}.{init}(folder)"


def _model_code_frame(exc: BaseException) -> str | None:
    """`modeling_x.py:LINE` of the innermost transformers model-code frame `exc` passed, or
    None when it was raised elsewhere."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/transformers/models/" in f.filename.replace("\\", "/")]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else None


def _generated_class(skillset_dir: str | None, model_type: str) -> type | None:
    """The generated `hf_<type>` class from `skillset_dir`, imported by path; None without one."""
    if not skillset_dir:
        return None
    from skillsets.catalog import get_entry

    module_name = get_entry(model_type).module_name
    path = Path(skillset_dir) / f"{module_name}.py"
    if not path.is_file():
        raise SmokeCheckError(
            "RoundTripError", f"no generated skillset {path}; run `skillsets generate {model_type}`"
        )
    spec = importlib.util.spec_from_file_location(f"skillsets_generated_{module_name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, module_name)


def _run(skill: Any, prepared: dict[str, Any], seed: int, step: Any = None) -> Any:
    """`skill.run(prepared)` (or `step(prepared)`), seeded, without autograd."""
    torch.manual_seed(seed)
    with torch.inference_mode():
        return (step or skill.run)(prepared)


_BATCH_MAJOR_INPUTS = (
    "input_ids",
    "pixel_values",
    "input_features",
    "input_values",
    "past_values",
    "states",
)


def _check_inputs(prepared: dict[str, Any], batch: int) -> None:
    for name in _BATCH_MAJOR_INPUTS:
        value = prepared.get(name)
        if (
            torch.is_tensor(value)
            and value.ndim >= 2
            and value.shape[0] != batch
            and not _patch_major(name, prepared)
        ):
            raise SmokeCheckError(
                "InputShapeMismatch",
                f"{name} has shape {tuple(value.shape)} for batch size {batch}",
            )


def _patch_major(name: str, prepared: dict[str, Any]) -> bool:
    """Vision-language models that flatten every image into patches (`image_grid_thw`...).

    MiniCPM-V's towers read the patches of every image side by side in one row, with each
    image's patch grid in `target_sizes`; Gemma 4's read padded patches with their positions
    (`pixel_position_ids`, -1 on padding) and return the real images' tokens concatenated.
    """
    return name == "pixel_values" and any(
        k.endswith(("grid_thw", "grid_hws", "image_sizes", "spatial_shapes", "target_sizes",
                    "pixel_position_ids"))
        for k in prepared
    )


def _frame_packed(prepared: dict[str, Any], flat: list[tuple[str, Any]]) -> bool:
    """Audio encoders that pack every sample's real frames into one (frames, hidden) sequence
    (Qwen3-ASR's): frame-masked features in, and a 2-D main output without batch rows. Their
    batch consistency is checked on the packing (`_packed_consistency`)."""
    from skillsets.runtime.prepare import FRAME_MASKS

    features, main = prepared.get("input_features"), outputs.primary(flat)
    return (
        torch.is_tensor(features)
        and any(k in prepared for k in FRAME_MASKS)
        and main is not None
        and main[1].ndim == 2
        and not outputs.rows(flat, features.shape[0])
    )


def _packed_consistency(
    single_flat: list[tuple[str, Any]],
    batch_flat: list[tuple[str, Any]],
    n: int,
    options: SmokeOptions,
) -> dict[str, Any]:
    """A batch of `n` copies of the inputs must give their packed frames `n` times over."""
    expected = [
        (path, np.concatenate([a] * n))
        for path, a in single_flat
        if a.ndim >= 1 and path.split(".")[-1] not in outputs.NON_BATCH_FIELDS
    ]
    comparison = outputs.compare(batch_flat, expected, by_path=True)
    if comparison.mismatch or not comparison.within(options.batch_atol, options.batch_rtol):
        raise SmokeCheckError(
            "BatchInconsistent",
            f"{n} copies of the inputs do not give their packed frames {n} times over: "
            + (comparison.mismatch or f"they differ by {comparison.max_abs_diff:.3g} at "
               f"{comparison.worst_path}"),
        )
    how = "packed frames of every sample in one sequence"
    return {"checked": True, "how": how, "max_abs_diff": comparison.max_abs_diff}


def _input_shapes(prepared: dict[str, Any]) -> dict[str, Any]:
    return {
        k: list(v.shape) if torch.is_tensor(v) else type(v).__name__ for k, v in prepared.items()
    }


def _check_outputs(flat: list[tuple[str, Any]], batch: int, *, batch_folded: bool = False) -> None:
    """Outputs exist, are finite, and carry the batch dimension (unless the inputs fold the batch
    into one patch sequence, as vision towers with `image_grid_thw`/`image_sizes` do)."""
    if not flat:
        raise SmokeCheckError("NoOutput", "the run returned no tensor")
    bad = outputs.first_non_finite(flat)
    if bad:
        raise SmokeCheckError("NonFiniteOutput", f"non-finite values in {bad}")
    main = outputs.primary(flat)
    if main is None:
        raise SmokeCheckError(
            "OutputShapeMismatch", f"only scalar outputs: {outputs.describe(flat)}"
        )
    if not batch_folded and not outputs.rows(flat, batch):
        raise SmokeCheckError(
            "OutputShapeMismatch",
            f"no output has the batch dimension {batch}: {outputs.describe(flat)}",
        )


def _batch_consistency(
    skill: Any, prepared: dict[str, Any], flat: list[tuple[str, Any]], options: SmokeOptions
) -> dict[str, Any]:
    """Run a batch of two copies of the first sample; both rows must equal the sample's output.

    Generative tasks are checked on their forward pass over the prompt (`Skill.prefill`): one
    forward instead of a whole generate(), and a numeric difference instead of a flipped token.
    Where that forward cannot run alone (encoder-decoder models need decoder inputs that only
    generate() makes), the whole generate() is compared.
    """
    tensors = {k: v for k, v in prepared.items() if torch.is_tensor(v)}
    if (
        not tensors
        or any(v.ndim == 0 or v.shape[0] != 1 for v in tensors.values())
        or any(isinstance(v, (list, tuple, dict)) for v in prepared.values())
    ):
        return {"checked": False, "reason": "inputs are not all batch-major with batch size 1"}
    step, how = skill.run, "run"
    if getattr(skill, "generative", False) and hasattr(skill, "prefill"):
        try:
            flat = outputs.flatten(_run(skill, prepared, options.seed, skill.prefill))
            step, how = skill.prefill, "prefill"
        except Exception:  # no standalone forward for this model: compare generate() instead
            step, how = skill.run, "run (the prompt forward needs decoder inputs)"
    doubled = {k: _repeat(v, 2) for k, v in prepared.items()}
    pair = outputs.flatten(_run(skill, doubled, options.seed, step))
    return _consistency(skill, prepared, flat, pair, 2, options, step, how)


def _consistency(
    skill: Any,
    prepared: dict[str, Any],
    single_flat: list[tuple[str, Any]],
    batch_flat: list[tuple[str, Any]],
    n: int,
    options: SmokeOptions,
    step: Any,
    how: str,
) -> dict[str, Any]:
    """Check that every row of a batch of `n` copies of one sample equals that sample's output."""
    pair = outputs.rows(batch_flat, n)
    single = outputs.rows(single_flat, 1)
    if single:
        # Rows only of outputs that are batch-major at batch 1 too: a (layers, batch, ...) stack
        # whose layer count happens to be `n` has no batch rows along its first dimension.
        one_row = {path for path, _ in single}
        pair = [(path, a) for path, a in pair if path in one_row]
    if not pair:
        raise SmokeCheckError(
            "BatchInconsistent", f"a batch of {n} gave no output with batch dimension {n}"
        )
    comparisons = [
        outputs.compare(outputs.row(pair, i), outputs.row(pair, 0), by_path=True)
        for i in range(1, n)
    ]
    against = outputs.compare(outputs.row(pair, 0), single, by_path=True)
    usable = [c for c in (*comparisons, against) if not c.mismatch]
    worst = max(usable, key=lambda c: c.max_abs_diff, default=None)
    ok = all(c.within(options.batch_atol, options.batch_rtol) for c in comparisons) and (
        bool(against.mismatch) or against.within(options.batch_atol, options.batch_rtol)
    )
    if not ok:
        again = outputs.flatten(_run(skill, prepared, options.seed + 1, step))
        reseeded = outputs.compare(again, single_flat, by_path=True)
        if reseeded.mismatch or reseeded.max_abs_diff > 0:
            return {
                "checked": False,
                "reason": "the forward pass is stochastic (output changes with the seed)",
            }
        detail = next((c.mismatch for c in (*comparisons, against) if c.mismatch), "") or (
            f"rows differ by {worst.max_abs_diff:.3g} at {worst.worst_path}" if worst else ""
        )
        raise SmokeCheckError(
            "BatchInconsistent",
            f"{n} copies of one sample in a batch do not give that sample's output ({how}): "
            f"{detail}",
        )
    return {"checked": True, "how": how, "max_abs_diff": worst.max_abs_diff if worst else None}


def _repeat(value: Any, n: int) -> Any:
    """A batch-major tensor repeated `n` times along the batch dimension; anything else as is."""
    return torch.cat([value] * n) if torch.is_tensor(value) and value.ndim else value


def _same_layout(prepared: dict[str, Any], first: dict[str, Any], batch: int) -> bool:
    """Whether `prepared` (batch `batch`) is `first` (batch 1) but for the batch dimension."""
    if prepared.keys() != first.keys():
        return False
    for key, value in prepared.items():
        one = first[key]
        if torch.is_tensor(value) != torch.is_tensor(one):
            return False
        if not torch.is_tensor(value):
            if value != one:
                return False
            continue
        if value.ndim == 0 or one.ndim != value.ndim or one.shape[0] != 1:
            return False
        if value.shape[0] != batch or value.shape[1:] != one.shape[1:] or value.dtype != one.dtype:
            return False
    return True


def _compare_with_torch(skill: Any, prepared: dict[str, Any], seed: int) -> outputs.Comparison:
    """The compiled forward (`Skill.prefill`, the whole prompt at once) against torch's.

    Generative tasks are compared on that forward pass first, against the tolerance; their
    tokens next (`_SmokeRun.compare_tokens`). An encoder-decoder generator's prefill is the
    encoder plus the first decoder step, compared with torch's same prefill; a decoder
    conditioned on an image alone (GIT) runs it on generate()'s start ids.
    """
    from skillsets.runtime.decode import with_start_ids
    from skillsets.runtime.outputs import tensors_of
    from skillsets.runtime.prepare import forward_params

    torch.manual_seed(seed)
    compiled = skill.prefill(prepared)
    torch.manual_seed(seed)
    if getattr(skill, "generative", False) and getattr(skill.config, "is_encoder_decoder", False):
        reference = tensors_of(skill.torch_prefill(prepared))
    else:
        extra = {"use_cache": False} if "use_cache" in forward_params(skill.model) else {}
        if getattr(skill, "decoder_only", False):
            prepared = with_start_ids(skill.model, prepared)
        with torch.inference_mode():
            reference = tensors_of(skill.model(**prepared, **extra))
    return outputs.compare(outputs.flatten(compiled), outputs.flatten(reference), by_path=True)


def _sequences(raw: Any) -> torch.Tensor:
    """The token ids of a generate() output (a tensor, or an output with `sequences`)."""
    sequences = getattr(raw, "sequences", raw)
    if not torch.is_tensor(sequences):
        raise SmokeCheckError(
            "OutputError", f"generate() returned {type(raw).__name__}, not token ids")
    return sequences.cpu()


def _save_preprocessors(skill: Any, folder: str) -> None:
    """Save every preprocessing object next to the weights, as a user's checkpoint has them."""
    pre = getattr(skill, "preprocessors", None)
    candidates = (
        [
            getattr(pre, name, None)
            for name in ("tokenizer", "image_processor", "feature_extractor", "processor")
        ]
        if pre is not None
        else []
    )
    candidates.append(getattr(skill, "processor", None))
    saved: list[int] = []
    for obj in candidates:
        if obj is not None and id(obj) not in saved and hasattr(obj, "save_pretrained"):
            obj.save_pretrained(folder)
            saved.append(id(obj))


#: Weight files a checkpoint's round trip writes itself; everything else of the checkpoint's
#: folder is copied along.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt")


def _copy_checkpoint_files(skill: Any, folder: str) -> None:
    """A checkpoint's files beyond weights, config and preprocessors (sentence-transformers'
    `modules.json` and pooling folders) go to the round-trip folder too, as a user's copy of
    the checkpoint has them: without them the reloaded handler pools differently."""
    source = getattr(skill, "source", None)
    if source is None:
        return
    for path in Path(source).iterdir():
        target = Path(folder) / path.name
        if target.exists() or path.suffix in _WEIGHT_SUFFIXES:
            continue
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)


def _one_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__


def _short_traceback(tb: str, frames: int = 6) -> str:
    """The last `frames` frames and the error of a traceback: where it failed, not how."""
    lines = tb.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    cut = starts[-frames] if len(starts) > frames else 0
    return "\n".join(lines[cut:])[-3000:]
