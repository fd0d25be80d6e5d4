"""Running a skill's forward pass through OpenVINO: convert the torch model, compile on CPU.

The torch model is traced with `openvino.convert_model(example_input=...)` on the skill's own
prepared inputs, so the IR sees exactly what the benchmark will feed it. It is compiled with an
explicit `INFERENCE_PRECISION_HINT` and the hint the compiled model reports is read back as its
`execution_precision`: OpenVINO's CPU plugin would otherwise pick bf16 on CPUs that have it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from typing import Any

from skillsets.runtime.errors import SkillUnavailableError, UnsupportedPrecisionError
from skillsets.runtime.outputs import tensors_of
from skillsets.runtime.precision import OPENVINO_HINTS, openvino_precision_problem
from skillsets.runtime.quantize import (
    WEIGHT_ONLY_LABELS,
    compress_openvino,
    openvino_weight_bytes,
    openvino_weight_label,
)

#: The OpenVINO device skills compile for.
DEVICE = "CPU"

#: Input or output shapes, one tuple per tensor in order.
Shapes = tuple[tuple[int, ...], ...]

#: Conversions one executor makes at other input shapes before it refuses. A trace that keeps
#: its example's sequence length needs one per generated token and batch size (dbrx, mamba:
#: 3-6 s each on the tiny models, and 16 of them passed the 4 GiB a validation may use).
MAX_CONVERSIONS = 4


def _histc(input: Any, bins: int = 100, min: float = 0, max: float = 0, **_: Any) -> Any:
    """`torch.histc` out of ops OpenVINO's PyTorch frontend converts (it has no `aten::histc`).

    Same semantics: `bins` equal-width bins over [min, max] (the data's own range when
    min == max, widened by 1 each side when that range is empty), values outside ignored, the
    maximum counted in the last bin; the bin index is computed in torch's kernel's order,
    `(x - lo) / (hi - lo) * bins`, so integer inputs (MoE expert ids) fall in the same bins.
    """
    import torch

    x = input.reshape(-1)
    if min == max:
        lo, hi = x.min(), x.max()
        same = lo == hi
        lo, hi = torch.where(same, lo - 1, lo), torch.where(same, hi + 1, hi)
    else:
        lo, hi = x.new_tensor(min), x.new_tensor(max)
    index = ((x - lo) / (hi - lo) * bins).floor().long().clamp(0, bins - 1)
    inside = (x >= lo) & (x <= hi)
    hits = (index[:, None] == torch.arange(bins, device=x.device)[None, :]) & inside[:, None]
    return hits.sum(0).to(input.dtype)


def _nan_to_num(input: Any, nan: float = 0.0, posinf: float | None = None,
                neginf: float | None = None, **_: Any) -> Any:
    """`torch.nan_to_num` out of `torch.where` (OpenVINO's frontend has no `aten::nan_to_num`)."""
    import torch

    if not input.is_floating_point():
        return input
    info = torch.finfo(input.dtype)
    out = torch.where(torch.isnan(input), input.new_tensor(nan), input)
    out = torch.where(out == float("inf"), input.new_tensor(info.max if posinf is None
                                                            else posinf), out)
    return torch.where(out == float("-inf"), input.new_tensor(info.min if neginf is None
                                                              else neginf), out)


def _unfold(self: Any, dimension: int, size: int, step: int) -> Any:
    """`Tensor.unfold` as an `index_select` of an arange-built window index (OpenVINO's
    `aten::unfold` rule fails on inputs of unknown rank: PatchTST's patchifier, Inkling2's
    short convolution).

    Exactly torch's result: window `i` along `dimension` holds elements `i * step` to
    `i * step + size - 1`, the windows replace that dimension and their elements form a new
    last one. The number of windows is computed from the traced size, so the index follows the
    input's length at run time instead of being baked in.
    """
    import torch

    if self.dim() == 0:
        if size > 1:
            raise RuntimeError(f"maximum size for tensor at dimension 0 is 1 but size is {size}")
        return self.reshape(1)
    d = dimension % self.dim()
    length = self.shape[d]
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {d} is {length} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    windows = (length - size) // step + 1
    index = (torch.arange(windows, device=self.device) * step)[:, None] + torch.arange(
        size, device=self.device)
    picked = self.index_select(d, index.reshape(-1))
    return picked.unflatten(d, (windows, size)).movedim(d + 1, -1)


def _cat(tensors: Any, dim: int = 0, **kwargs: Any) -> Any:
    """`torch.cat` without the empty 1-D tensors torch skips and OpenVINO's `Concat` rejects.

    torch concatenates a tensor of shape `(0,)` with tensors of any rank (a legacy rule); a
    transformers `DynamicLayer` starts every layer's cache that way and concatenates the first
    keys onto it (`torch.cat([torch.tensor([]), keys], dim=-2)`), and the frontend then fails
    on the rank (`Axis -2 out of the tensor rank range [-1, 0]`, reported as a `SequenceMark`
    list value) in models that build a cache even for one forward pass (XLM, Granite-MoE,
    CLVP...). Dropping them gives torch's result: the skipped tensors still take part in the
    dtype promotion, so the result is cast to the dtype torch would return.
    """
    import torch

    dim = kwargs.pop("axis", dim)  # torch.cat takes numpy's name too
    tensors = list(tensors)
    kept = [t for t in tensors if not (t.dim() == 1 and t.shape[0] == 0)]
    if not kept or len(kept) == len(tensors):
        return torch._C._VariableFunctions.cat(tensors, dim, **kwargs)
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))
    out = torch._C._VariableFunctions.cat(kept, dim, **kwargs)
    return out if out.dtype == dtype else out.to(dtype)


def _avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                ceil_mode: bool = False, count_include_pad: bool = True,
                divisor_override: int | None = None) -> Any:
    """`F.avg_pool2d`, with a window that covers the whole unpadded input computed as its mean.

    EfficientNet's pooler (and ALIGN's, built on it) is `AvgPool2d(hidden_dim, ceil_mode=True)`:
    a 1280-wide window over a 7x7 map. torch clips the window to the input and averages the
    49 values; OpenVINO's AvgPool rejects a kernel larger than its input. Every other call is
    torch's own.
    """
    import torch

    def pair(value: Any) -> tuple[int, int]:
        return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]

    kernel = pair(kernel_size)
    strides = kernel if stride is None or stride == [] else pair(stride)
    height, width = input.shape[-2], input.shape[-1]
    whole = (pair(padding) == (0, 0) and divisor_override is None
             and kernel[0] >= height and kernel[1] >= width
             and strides[0] >= kernel[0] and strides[1] >= kernel[1]
             and (ceil_mode or kernel == (height, width)))
    if whole:
        return input.mean(dim=(-2, -1), keepdim=True)
    return torch._C._nn.avg_pool2d(input, kernel, strides, pair(padding), ceil_mode,
                                   count_include_pad, divisor_override)


def _round(self: Any, ndigits: int | None = None) -> Any:
    """Python's `round()` of a tensor, which `torch.Tensor` does not define (no `__round__`).

    Under tracing a size is a 0-d tensor, so arithmetic on sizes that eager code does on ints
    meets `round()`: LLaVA-NeXT's `unpad_image` computes `int(round(height * scale, 7))`
    from the traced feature map's shape. `torch.round` with `decimals` is the same rounding
    (half to even, as Python's); the `int()` around it then bakes the value into the trace,
    which `OpenVinoExecutor`'s checks for kept sizes handle.
    """
    import torch

    return torch.round(self) if ndigits is None else torch.round(self, decimals=ndigits)


#: torch functions that OpenVINO's PyTorch frontend cannot convert (or converts only for some
#: inputs), replaced while tracing by equivalents made of ops it can (`traceable_ops`). The
#: compiled model is then compared with the unpatched torch model by validation, so a
#: replacement that is not equivalent fails there.
TRACEABLE_REPLACEMENTS: dict[str, Any] = {
    "histc": _histc, "nan_to_num": _nan_to_num, "unfold": _unfold, "cat": _cat}

#: The same for `torch.nn.functional` (its `unfold` is im2col, not `Tensor.unfold`).
TRACEABLE_FUNCTIONAL: dict[str, Any] = {"avg_pool2d": _avg_pool2d}

#: Methods `torch.Tensor` lacks that traced code needs, added while tracing only.
TRACEABLE_ADDED: dict[str, Any] = {"__round__": _round}

_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def traceable_ops() -> Iterator[None]:
    """Within the block, `torch.histc`/`Tensor.histc`, `Tensor.unfold` (and the other
    `TRACEABLE_REPLACEMENTS`, and `TRACEABLE_FUNCTIONAL` in `torch.nn.functional`) are the
    traceable equivalents, so `torch.jit.trace` records ops
    OpenVINO converts; `TRACEABLE_ADDED` methods exist on `torch.Tensor`.

    Patching torch's module attributes is process-wide, so conversions hold a lock; the
    originals are restored on exit, also when the conversion raises.
    """
    import torch

    functional = torch.nn.functional
    with _PATCH_LOCK:
        saved = [(owner, name, getattr(owner, name)) for name in TRACEABLE_REPLACEMENTS
                 for owner in (torch, torch.Tensor) if hasattr(owner, name)]
        saved += [(functional, name, getattr(functional, name)) for name in TRACEABLE_FUNCTIONAL]
        added = [name for name in TRACEABLE_ADDED if not hasattr(torch.Tensor, name)]
        try:
            for owner, name, _ in saved:
                table = TRACEABLE_FUNCTIONAL if owner is functional else TRACEABLE_REPLACEMENTS
                setattr(owner, name, table[name])
            for name in added:
                setattr(torch.Tensor, name, TRACEABLE_ADDED[name])
            yield
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)
            for name in added:
                delattr(torch.Tensor, name)


def conversion_cause(exc: BaseException) -> str:
    """One line saying what `openvino.convert_model` could not do, from its exception.

    The PyTorch frontend's message starts with the C++ check that failed (`Check 'false' failed
    at src/frontends/.../unconverted_ops_report.cpp:151:`), the same line for every model; what
    differs is its `Summary:` block (`-- No conversion rule found for operations: aten::diff`,
    `-- Conversion is failed for: prim::Constant`) and, per failed operation, the detailed log
    (`-- prim::Constant with a message:` and the reason on the next line). This returns the
    summary with each failed operation's first reason; other errors (torch.jit.trace's own) give
    their first line that is not such a check header.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    reasons: dict[str, str] = {}
    for i, line in enumerate(lines[:-1]):
        found = re.fullmatch(r"-- (\S+) with a message:", line)
        if found and found.group(1) not in reasons:
            reasons[found.group(1)] = lines[i + 1]
    if "Summary:" in lines:
        parts = []
        for line in lines[lines.index("Summary:") + 1 :]:
            if not line.startswith("-- "):
                break
            rule = re.fullmatch(r"-- No conversion rule found for operations: (.+)", line)
            failed = re.fullmatch(r"-- Conversion is failed for: (.+)", line)
            if rule:
                parts.append(f"no conversion rule for {rule.group(1)}")
            elif failed:
                ops = [op.strip() for op in failed.group(1).split(",")]
                parts.append(
                    "conversion failed for "
                    + ", ".join(f"{op} ({reasons[op]})" if op in reasons else op for op in ops)
                )
            else:
                parts.append(line[3:])
        if parts:
            return "; ".join(parts)
    headers = re.compile(r"^(Check '.*' failed at |FrontEnd API failed with |Exception from )")
    meaningful = [line for line in lines if not headers.match(line)]
    first = (meaningful or lines or [type(exc).__name__])[0]
    inner = exc.__cause__ or exc.__context__
    if inner is not None and "by tracing" in first:
        # The frontend wraps torch.jit.trace's own error; that one says what could not be traced.
        return f"{first} {type(inner).__name__}: {conversion_cause(inner)}"
    return first


def _shapes(tensors: dict[str, Any]) -> Shapes:
    """The shapes of `tensors`, in their order: the key of a conversion's input shapes."""
    return tuple(tuple(v.shape) for v in tensors.values())


def kept_sizes(traced_in: Shapes, traced_out: Shapes, new_in: Shapes, new_out: Shapes) -> bool:
    """Whether outputs computed at inputs of new shapes kept a size of the traced example.

    A trace can bake an input size into the graph without making the compiled model reject
    other sizes (a Python loop over the sequence unrolled to the traced length, as Mamba's
    reference scan; an attention mask built from Python ints): it runs, and returns the traced
    sizes. Kept means an output's batch dimension held the traced batch of an input whose
    batch changed, or the sequence dimension of an output shaped (batch, sequence, features)
    held the traced size (above 1, too common to tell) of another input dimension that
    changed, and still holds it. A false positive costs a conversion at the new shapes, never
    a wrong output.
    """
    pairs = [(t, n) for t, n in zip(traced_in, new_in, strict=True) if len(t) == len(n) and t]
    batches = {t[0] for t, n in pairs if t[0] != n[0]}
    sizes = {v for t, n in pairs for v, w in zip(t[1:], n[1:], strict=True) if v != w and v > 1}
    return any(
        (len(t) == len(n) and t and t[0] == n[0] and t[0] in batches)
        or (len(t) == len(n) >= 3 and t[1] == n[1] and t[1] in sizes)
        for t, n in zip(traced_out, new_out, strict=True)
    )


class _TensorOutputs:
    """Wraps a model so tracing sees keyword inputs in a fixed order and a tuple of tensors."""

    def __init__(
        self, model: Any, names: list[str], outputs: list[tuple[str, int | None]], no_cache: bool
    ) -> None:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *args: Any) -> tuple[Any, ...]:
                kwargs = dict(zip(names, args, strict=True))
                if no_cache:
                    kwargs["use_cache"] = False
                out = tensors_of(self.model(**kwargs))
                # A list of tensors (a backbone's feature maps) cannot be a compiled model's
                # output: each of its tensors is one, put back into a list by `__call__`.
                return tuple(out[n] if i is None else out[n][i] for n, i in outputs)

        self.module = Wrapper().eval()


class OpenVinoExecutor:
    """A compiled OpenVINO model that takes and returns the same tensors as the torch forward.

    Attributes:
        execution_precision: The inference precision the compiled model reports (`f32`,
            `bf16`, `f16`): what runs, read back rather than assumed; for weight-only
            precisions (f32 activations) `int8-wo`, `int4-wo:g32` or `int4-wo:g32+gptq`.
        weight_memory: Bytes of the model's constants as compiled (after NNCF compression).
        matmul_weight_memory: Of those, the bytes feeding MatMul weights (what NNCF compresses).
    """

    def __init__(
        self, model: Any, example: dict[str, Any], params: frozenset[str], precision: str = "fp32",
        calibration: list[dict[str, Any]] | None = None,
    ) -> None:
        """Convert `model` traced on `example` and compile it at `precision`.

        `calibration`: prepared inputs like `example` (other samples) that int4-wo's GPTQ
        calibrates on (`skillsets.runtime.quantize.compress_openvino`); none: data-free.

        Raises:
            UnsupportedPrecisionError: the device cannot run `precision` (checked before the
                conversion, and again on what the compiled model reports).
            SkillUnavailableError: the model cannot be converted.
        """
        import openvino as ov
        import torch

        core = ov.Core()
        problem = openvino_precision_problem(
            precision, list(core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))
        )
        if problem:
            raise UnsupportedPrecisionError(problem)
        hint = OPENVINO_HINTS[precision][0]

        bad = [k for k, v in example.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise SkillUnavailableError(
                f"openvino conversion needs tensor inputs; {', '.join(bad)} are not tensors"
            )
        no_cache = "use_cache" in params
        with torch.inference_mode():
            kwargs = dict(example, **({"use_cache": False} if no_cache else {}))
            reference = tensors_of(model(**kwargs))
        self.output_names = [k for k, v in reference.items() if isinstance(v, torch.Tensor | list)]
        #: One (name, index in the name's list or None) per compiled output.
        self.outputs: list[tuple[str, int | None]] = [
            (k, None) if isinstance(reference[k], torch.Tensor) else (k, i)
            for k in self.output_names
            for i in (range(len(reference[k])) if isinstance(reference[k], list) else [0])
        ]
        self.input_names = list(example)
        self._out_shapes: Shapes = tuple(
            tuple((reference[n] if i is None else reference[n][i]).shape) for n, i in self.outputs)
        wrapper = _TensorOutputs(model, self.input_names, self.outputs, no_cache).module
        try:
            with traceable_ops():
                ov_model = ov.convert_model(wrapper, example_input=tuple(example.values()))
        except Exception as exc:  # the frontend's error names the unsupported op; pass it on
            raise SkillUnavailableError(
                f"openvino could not convert {type(model).__name__}: {type(exc).__name__}: "
                f"{conversion_cause(exc)}"
            ) from exc
        if precision in WEIGHT_ONLY_LABELS:
            calls = [tuple(c[n].numpy() for n in self.input_names) for c in calibration or []]
            ov_model = compress_openvino(ov_model, precision, calls)
        self.weight_memory, self.matmul_weight_memory = openvino_weight_bytes(ov_model)
        # The converted model shares the torch weights' memory (convert_model's default), so
        # keeping it for a recompilation (`_recompile`) costs little.
        self._compile = functools.partial(
            core.compile_model, ov_model, DEVICE, {"INFERENCE_PRECISION_HINT": hint})
        self.compiled = self._compile()
        self.execution_precision = self.compiled.get_property(
            "INFERENCE_PRECISION_HINT"
        ).get_type_name()
        if self.execution_precision != hint:
            raise UnsupportedPrecisionError(
                f"{precision} is not supported on openvino here: asked for {hint}, the compiled "
                f"model runs {self.execution_precision}"
            )
        if precision in WEIGHT_ONLY_LABELS:
            # f32 activations checked above; the weights are what NNCF compressed.
            self.execution_precision = openvino_weight_label(precision, bool(calibration))
        # An infer request serves one call at a time ("Infer Request is busy" otherwise), so each
        # calling thread gets its own: concurrent callers (the throughput benchmark, a server's
        # thread pool) then run in parallel on one compiled model, as OpenVINO intends.
        self._local = threading.local()
        # What a re-conversion at other input shapes needs (`__call__`).
        self._source = (model, params, precision)
        self._shapes = _shapes(example)
        self._by_shapes: dict[Shapes, OpenVinoExecutor] = {}
        #: Conversions at other batch sizes, for a trace that baked its batch in.
        self._by_batch: dict[int, OpenVinoExecutor] = {}
        #: Whether the trace mixes the rows of other batch sizes (`_bakes_batch`).
        self.batch_baked = self._bakes_batch(example, hint)

    def _bakes_batch(self, example: dict[str, Any], hint: str) -> bool:
        """Whether a batch of two copies of the batch-1 example gives rows other than the
        example's own output, on this compiled model.

        Some traces read the batch as a Python int and bake it into a reshape that still
        accepts other batches, so a batch of 2 runs and returns right-shaped, wrong rows
        (Longformer's sliding-window chunks: 0.019 off; LED). Neither a rejection nor
        `kept_sizes` shows that. Both runs are of the compiled model, so a weight-only
        precision's own error cancels; the limit is float rounding of the precision executed.
        A compiled model that rejects the batch is left to `__call__`.
        """
        import numpy as np
        import torch

        if not all(v.dim() and v.shape[0] == 1 for v in example.values()):
            return False
        # detach: an example can hold a tensor that requires grad (a field of
        # Moonshine-Streaming's encoder output), which numpy() refuses.
        single = [v.detach().numpy() for v in example.values()]
        doubled = [torch.cat([v, v]).detach().numpy() for v in example.values()]
        try:
            one = self._request().infer(single)
            one = [np.array(one[i], dtype=np.float64) for i in range(len(self.outputs))]
            two = self._request().infer(doubled)
            two = [np.array(two[i], dtype=np.float64) for i in range(len(self.outputs))]
        except RuntimeError:  # rejected; the plugin needs a fresh compilation afterwards
            self._recompile()
            return False
        limit = 1e-4 if hint == "f32" else 2e-2
        for want, got in zip(one, two, strict=True):
            if want.ndim == 0 or want.shape[0] != 1 or got.shape != (2, *want.shape[1:]):
                continue  # not an output along the batch
            scale = 1.0 + (float(np.abs(want).max()) if want.size else 0.0)
            if want.size and float(np.abs(got - want).max()) > limit * scale:
                return True
        return False

    def _request(self) -> Any:
        compiled, request = getattr(self._local, "request", (None, None))
        if compiled is not self.compiled:  # none yet on this thread, or made before a recompile
            request = self.compiled.create_infer_request()
            self._local.request = (self.compiled, request)
        return request

    def _recompile(self) -> None:
        """Compile the converted model anew, for a compiled model that rejected inputs.

        OpenVINO's CPU plugin (2026.4) leaves a compiled model that rejected inputs broken: its
        requests, new ones too, then reject the shapes it ran before (measured on llava: a
        batch of 2 rejected by a trace of batch 1, then the batch of 1 rejected by the same
        reshape node; a fresh compilation runs it). Each thread's next call makes its request
        on the new one.
        """
        self.compiled = self._compile()

    def _named(self, shapes: Shapes) -> dict[str, tuple[int, ...]]:
        """`shapes` by input name, for messages."""
        return dict(zip(self.input_names, shapes, strict=True))

    def conversion_at(self, prepared: dict[str, Any]) -> OpenVinoExecutor:
        """The conversion traced at exactly `prepared`'s input shapes: this one at the traced
        shapes, else one converted at them (once per distinct shapes, kept).

        For inputs the compiled model rejects, and for outputs that kept the traced sizes
        (`kept_sizes`). Each conversion is a trace, a conversion and a compilation.

        Raises:
            SkillUnavailableError: `MAX_CONVERSIONS` were made already.
        """
        shapes = _shapes({name: prepared[name] for name in self.input_names})
        if shapes == self._shapes:
            return self
        other = self._by_shapes.get(shapes)
        if other is None:
            other = self._converted_at(prepared, shapes)
            self._by_shapes[shapes] = other
        return other

    def _for_batch(self, prepared: dict[str, Any], shapes: Shapes, batch: int
                   ) -> OpenVinoExecutor:
        """The conversion that runs batch size `batch` of a trace that baked its batch in
        (`batch_baked`): one per batch size, traced at the first inputs of that size
        (`shapes`), which then serves every shape of that batch size."""
        other = self._by_batch.get(batch)
        if other is None:
            other = self._converted_at(prepared, shapes)
            self._by_batch[batch] = other
        return other

    def _converted_at(self, prepared: dict[str, Any], shapes: Shapes) -> OpenVinoExecutor:
        """A new conversion traced at `prepared`, counted against `MAX_CONVERSIONS`."""
        import torch

        if len(self._by_shapes) + len(self._by_batch) >= MAX_CONVERSIONS:
            raise SkillUnavailableError(
                f"openvino's trace of {type(self._source[0]).__name__} keeps sizes of its "
                f"example {self._named(self._shapes)}: each new input shape needs its own "
                f"conversion, and {MAX_CONVERSIONS} were made (inputs now "
                f"{self._named(shapes)}); a Python loop over the sequence or a size read as "
                "an int in the traced code")
        model, params, precision = self._source
        # Callers run under inference_mode, whose tensors torch.jit.trace cannot trace.
        with torch.inference_mode(False):
            example = {name: prepared[name].clone() for name in self.input_names}
            return OpenVinoExecutor(model, example, params, precision)

    def __call__(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Run the compiled model on `prepared`'s tensors (named as at conversion).

        Some traces bake the example's shapes into the graph (a reshape to a size read from a
        tensor: the vision towers that pack every image's patches into one sequence, sized by
        `grid_thw`). When the compiled model rejects inputs of other shapes, or runs them and
        returns outputs that kept the traced sizes (`kept_sizes`), the model is converted
        again at those shapes (`conversion_at`), and that one runs them. A trace that mixes the
        rows of other batches (`batch_baked`) gets one conversion per batch size.
        """
        import torch

        shapes = _shapes({name: prepared[name] for name in self.input_names})
        other = self._by_shapes.get(shapes)
        if other is not None:
            return other(prepared)
        if self.batch_baked:
            batches = {shape[0] for shape in shapes if shape}
            if len(batches) == 1 and batches != {1}:
                return self._for_batch(prepared, shapes, batches.pop())(prepared)
        inputs = [prepared[name].detach().numpy() for name in self.input_names]
        try:
            # share_inputs: OpenVINO reads the arrays in place instead of copying them first;
            # a decoder with past takes every layer's cache each step (whisper tiny's cross-
            # attention: 1500 frames), and the copies were a third of its time per token.
            result = self._request().infer(inputs, share_inputs=True)
        except RuntimeError as exc:  # the plugin's first line is its source file; say more
            self._recompile()
            if shapes != self._shapes:
                return self.conversion_at(prepared)(prepared)
            raise RuntimeError(
                f"openvino inference rejected the inputs {self._named(shapes)}: "
                f"{conversion_cause(exc)}"
            ) from exc
        if shapes != self._shapes and kept_sizes(  # a benchmark's traced shapes skip this
                self._shapes, self._out_shapes, shapes,
                tuple(tuple(result[i].shape) for i in range(len(self.outputs)))):
            # checked before the outputs are copied out, which would then be thrown away
            return self.conversion_at(prepared)(prepared)
        out: dict[str, Any] = {}
        for position, (name, index) in enumerate(self.outputs):
            tensor = torch.from_numpy(result[position].copy())
            if index is None:
                out[name] = tensor
            else:
                out.setdefault(name, []).append(tensor)
        return out
