"""Running a skill's forward pass through OpenVINO: convert the torch model, compile on CPU.

The torch model is traced with `openvino.convert_model(example_input=...)` on the skill's own
prepared inputs, so the IR sees exactly what the benchmark will feed it. It is compiled with an
explicit `INFERENCE_PRECISION_HINT` and the hint the compiled model reports is read back as its
`execution_precision`: OpenVINO's CPU plugin would otherwise pick bf16 on CPUs that have it.
"""

from __future__ import annotations

import threading
from typing import Any

from skillsets.runtime.errors import SkillUnavailableError, UnsupportedPrecisionError
from skillsets.runtime.outputs import tensors_of
from skillsets.runtime.precision import OPENVINO_HINTS, openvino_precision_problem
from skillsets.runtime.quantize import WEIGHT_ONLY_LABELS, compress_openvino, openvino_weight_bytes

#: The OpenVINO device skills compile for.
DEVICE = "CPU"


class _TensorOutputs:
    """Wraps a model so tracing sees keyword inputs in a fixed order and a tuple of tensors."""

    def __init__(
        self, model: Any, names: list[str], output_names: list[str], no_cache: bool
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
                return tuple(out[n] for n in output_names)

        self.module = Wrapper().eval()


class OpenVinoExecutor:
    """A compiled OpenVINO model that takes and returns the same tensors as the torch forward.

    Attributes:
        execution_precision: The inference precision the compiled model reports (`f32`,
            `bf16`, `f16`): what runs, read back rather than assumed; for weight-only
            precisions (f32 activations) `int8-wo` or `int4-wo:g128`.
        weight_memory: Bytes of the model's constants as compiled (after NNCF compression).
        matmul_weight_memory: Of those, the bytes feeding MatMul weights (what NNCF compresses).
    """

    def __init__(
        self, model: Any, example: dict[str, Any], params: frozenset[str], precision: str = "fp32"
    ) -> None:
        """Convert `model` traced on `example` and compile it at `precision`.

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
        self.output_names = [k for k, v in reference.items() if isinstance(v, torch.Tensor)]
        self.input_names = list(example)
        wrapper = _TensorOutputs(model, self.input_names, self.output_names, no_cache).module
        try:
            ov_model = ov.convert_model(wrapper, example_input=tuple(example.values()))
        except Exception as exc:  # the frontend's error names the unsupported op; pass it on
            raise SkillUnavailableError(
                f"openvino could not convert {type(model).__name__}: {type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            ) from exc
        if precision in WEIGHT_ONLY_LABELS:
            ov_model = compress_openvino(ov_model, precision)
        self.weight_memory, self.matmul_weight_memory = openvino_weight_bytes(ov_model)
        self.compiled = core.compile_model(ov_model, DEVICE, {"INFERENCE_PRECISION_HINT": hint})
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
            self.execution_precision = WEIGHT_ONLY_LABELS[precision]
        # An infer request serves one call at a time ("Infer Request is busy" otherwise), so each
        # calling thread gets its own: concurrent callers (the throughput benchmark, a server's
        # thread pool) then run in parallel on one compiled model, as OpenVINO intends.
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def __call__(self, prepared: dict[str, Any]) -> dict[str, Any]:
        import torch

        inputs = [prepared[name].numpy() for name in self.input_names]
        result = self._request().infer(inputs)
        return {name: torch.from_numpy(result[i].copy())
                for i, name in enumerate(self.output_names)}
