"""One benchmark task: a model type on one backend at one precision, run where it was routed.

This is the function a Dask worker runs. It proves where it ran (`worker_hardware`), pins torch
to the worker's cores, loads the skill once and measures everything asked of it: the inference
benchmark (import, instantiation, init, per-batch latency, memory, generation) and the
throughput benchmark (concurrent threads against sequential calls). It never raises for a model
that fails: the outcome says `error` with the reason, so one broken model costs one outcome.
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from hardware.cluster import WorkerPlacement, worker_hardware
from hardware.fingerprint import environment_fingerprint
from skillsets.bench.imports import (
    STACK_MODEL,
    STACK_PRECISION,
    StackImport,
    import_here,
    import_on_stack,
    skill_modules,
    stack_delivered,
    stack_modules,
)
from skillsets.bench.inference import Measured, fit_prompt, measure_batches, synchronizer
from skillsets.bench.measure import measure_memory, pinned_threads
from skillsets.bench.precision import precision_support
from skillsets.bench.quality import load_reference, measure_quality
from skillsets.bench.rows import RowMaker
from skillsets.bench.spec import BenchmarkOutcome, BenchmarkSpec
from skillsets.bench.throughput import measure_throughput

if TYPE_CHECKING:
    from skillsets.runtime import Skill
    from warehouse.records import ResultRecord

log = logging.getLogger(__name__)


def _placement() -> WorkerPlacement | None:
    try:
        return worker_hardware()
    except ValueError:  # not inside a Dask worker: a direct call (fidelity script, tests)
        return None


def load_phases(spec: BenchmarkSpec, rows: RowMaker, *, first: str) -> tuple[Skill, Measured]:
    """Load the skill, timing each phase; returns the skill and the phase rows.

    * `import_time`: the skillset's own modules imported by a fresh child of a process that
      has imported the stack (`skillsets.bench.imports`); the first task of a run on this
      worker also gives the stack's cold import, a `stack_import_time` row of model type
      `_stack`. Then stack and modules are imported in this process, untimed, so no later
      phase pays for them (`import_here`, which also takes the stack out of the garbage
      collector's scans);
    * `instantiation_time`: building the model object alone (config -> model class with seeded
      random weights, or weights from disk), timed inside `load_skill`
      (`Skill.instantiation_seconds`), so the model is built once per task;
    * `init_time`: `load_skill` end to end (instantiation, device, precision, preprocessors,
      OpenVINO compile): the wait before the first call;
    * `load_memory`: peak RSS above the starting RSS during `load_skill`;
    * `weight_memory`, `matmul_weight_memory`: the bytes of the weights as the skill holds them,
      all and linear/MatMul only (`skillsets.runtime.quantize`).
    """
    from skillsets.catalog import get_entry
    from skillsets.runtime import load_skill

    out = Measured()
    entry = get_entry(spec.model_type)
    stack = stack_modules(spec.hardware)
    modules = skill_modules(entry.model_type, entry.module_name)
    if spec.measure_import:
        timing = import_on_stack(modules, stack, spec.run_id)
        out.rows.append(rows.scalar(first, "import_time", timing.seconds))
        out.notes.append(f"import_time covers {', '.join(modules)} on top of {', '.join(stack)}")
        if timing.stack is not None:
            out.rows.append(_stack_row(rows, timing.stack))
            steps = ", ".join(f"{k} {v:.2f} s" for k, v in timing.stack.cumulative.items())
            out.notes.append(f"stack_import_time: cold import in a fresh interpreter ({steps})")
    seconds = import_here(stack, modules)
    if seconds >= 1.0:  # a worker's first task: where its share of `other` overhead goes
        out.notes.append(f"stack and modules imported into this worker in {seconds:.1f} s")
    holder: dict[str, Skill] = {}

    def load() -> None:
        holder["skill"] = load_skill(
            spec.model_type, spec.hardware, spec.precision, spec.model_name, seed=spec.seed,
            size=spec.size, memory_budget=spec.memory_budget,
        )

    start = time.perf_counter_ns()
    memory = measure_memory(load)
    seconds = (time.perf_counter_ns() - start) / 1e9
    skill = holder["skill"]
    out.rows.append(rows.scalar(first, "instantiation_time", skill.instantiation_seconds))
    out.rows.append(rows.scalar(first, "init_time", seconds))
    out.rows.append(rows.scalar(first, "load_memory", memory.rss_delta_bytes))
    out.rows.append(rows.scalar(first, "weight_memory", skill.weight_memory))
    out.rows.append(rows.scalar(first, "matmul_weight_memory", skill.matmul_weight_memory))
    if spec.output_tokens is not None and skill.generative:
        skill.max_new_tokens = spec.output_tokens
        if getattr(skill.model, "generation_config", None) is not None:
            skill.model.generation_config.max_new_tokens = spec.output_tokens
    return skill, out


def _stack_row(rows: RowMaker, stack: StackImport) -> ResultRecord:
    """The stack's cold import as its own series: model type `_stack` on this backend, one per
    run (the stack does not depend on the model, precision or size)."""
    maker = RowMaker(rows.run_id, rows.environment_id, STACK_MODEL, rows.hardware,
                     STACK_PRECISION)
    return maker.scalar("inference", "stack_import_time", stack.seconds)


def _throughput(skill: Skill, spec: BenchmarkSpec, rows: RowMaker) -> Measured:
    """Sequential vs concurrent items/s per batch size (see `skillsets.bench.throughput`)."""
    out = Measured()
    sync = synchronizer(spec.hardware)
    for batch_size in spec.batch_sizes:
        prepared = skill.prepare(skill.example_inputs(batch_size))

        def call(prepared: dict[str, Any] = prepared) -> None:
            skill.run(prepared)
            if sync is not None:
                sync()

        result = measure_throughput(
            call,
            batch_size=batch_size,
            workers=spec.concurrent_workers,
            calls_per_worker=spec.throughput_calls,
            warmup_runs=spec.measure.warmup_runs,
        )
        out.measured_seconds += result.sequential_seconds + result.concurrent_seconds
        out.rows += [
            rows.scalar(
                "throughput", "sequential_throughput", result.sequential_items_per_s, batch_size
            ),
            rows.scalar(
                "throughput", "concurrent_throughput", result.concurrent_items_per_s, batch_size
            ),
            rows.scalar("throughput", "speedup", result.speedup, batch_size),
            rows.scalar("throughput", "concurrent_workers", result.workers, batch_size),
        ]
    return out


def _throughput_or_reason(
    skill: Skill, spec: BenchmarkSpec, rows: RowMaker, measured: Measured
) -> None:
    """Add the throughput rows to `measured`, or a `supported` = 0 throughput row and the reason
    (in `measured.problems`) when the skill cannot be called concurrently (e.g. OpenVINO's
    "Infer Request is busy").

    The inference rows already measured are kept either way.
    """
    try:
        throughput = _throughput(skill, spec, rows)
    except Exception as exc:  # a skill that cannot serve concurrent calls; recorded, not hidden
        reason = f"throughput not measured: {type(exc).__name__}: {exc}"
        log.warning("%s: %s", spec.key, reason)
        measured.rows.append(rows.scalar("throughput", "supported", 0))
        measured.problems.append(reason)
        return
    measured.rows.append(rows.scalar("throughput", "supported", 1))
    measured.extend(throughput)


def _quality(skill: Skill, spec: BenchmarkSpec, rows: RowMaker) -> Measured:
    """Quality rows against the same weights at fp32 (`skillsets.bench.quality`), measured after
    the timed and memory loops so the reference model costs none of their numbers."""
    reference = load_reference(spec.model_type, spec.model_name, spec.seed, spec.size)
    encoder_decoder = bool(getattr(skill.config, "is_encoder_decoder", False))
    prompt = spec.prompt_tokens
    adjust = (
        (lambda prepared: fit_prompt(prepared, prompt))
        if skill.generative and prompt is not None and not encoder_decoder else None
    )
    try:
        return measure_quality(skill, reference, spec.batch_sizes, rows, adjust=adjust)
    finally:
        del reference
        gc.collect()


#: How torch names each reduced precision in "... not implemented for 'X'" errors.
_TORCH_DTYPE_NAMES = {"bf16": "'BFloat16'", "fp16": "'Half'", "int8": "'QInt8'"}


def _missing_kernel(exc: Exception, precision: str) -> bool:
    """Whether `exc` is torch saying an op has no kernel for this reduced precision: the model
    does not support the precision, which is recorded as unsupported rather than as a failure.
    torch has no exception type for it, so its message is the only signal."""
    name = _TORCH_DTYPE_NAMES.get(precision)
    return (
        name is not None
        and isinstance(exc, RuntimeError)
        and ("not implemented for" in str(exc) and name in str(exc))
    )


def _unsupported(
    spec: BenchmarkSpec, rows: RowMaker, reason: str, **context: Any
) -> BenchmarkOutcome:
    return BenchmarkOutcome(
        spec=spec,
        status="unsupported",
        reason=reason,
        rows=[rows.scalar(kind, "supported", 0) for kind in spec.kinds],
        **context,
    )


def run_benchmark(spec: BenchmarkSpec) -> BenchmarkOutcome:
    """Run one benchmark task here (on a Dask worker, or in this process when called directly).

    Returns:
        The outcome: rows and status `ok` (with a reason when the throughput benchmark could not
        run concurrently, its `supported` row then 0); a `supported` = 0 row per benchmark kind
        and status `unsupported` for a combination that cannot run (precision, a backend that
        would fall back to cpu, or a skill that says it cannot run there); or status `error`
        with the exception's last line for anything else.
    """
    from skillsets.runtime import SkillUnavailableError, UnsupportedPrecisionError

    started = time.perf_counter_ns()
    placement = _placement()
    environment = environment_fingerprint()
    rows = RowMaker(
        spec.run_id, environment.environment_id, spec.model_type, spec.hardware, spec.precision,
        spec.size,
    )
    context: dict[str, Any] = {"placement": placement, "environment": environment}

    def elapsed() -> float:
        return (time.perf_counter_ns() - started) / 1e9

    support = precision_support(spec.hardware, spec.precision)
    if not support.supported:
        return _unsupported(spec, rows, support.reason, wall_seconds=elapsed(), **context)
    first = spec.kinds[0]
    try:
        with pinned_threads():
            skill, measured = load_phases(spec, rows, first=first)
            if skill.fallback_from is not None:
                reason = f"{spec.hardware} fell back to {skill.hardware}: {skill.fallback_reason}"
                return _unsupported(spec, rows, reason, wall_seconds=elapsed(), **context)
            if "inference" in spec.kinds:
                measured.rows.append(rows.scalar("inference", "supported", 1))
                measured.extend(
                    measure_batches(
                        skill,
                        spec.batch_sizes,
                        spec.measure,
                        rows,
                        generative=skill.generative,
                        encoder_decoder=bool(getattr(skill.config, "is_encoder_decoder", False)),
                        prompt_tokens=spec.prompt_tokens,
                    )
                )
                if spec.precision != "fp32":
                    measured.extend(_quality(skill, spec, rows))
            if "throughput" in spec.kinds:
                _throughput_or_reason(skill, spec, rows, measured)
            for row in measured.rows:  # what was measured, and what ran, as reported
                if row.model_type != spec.model_type:
                    continue  # a row of the run, not of this model (the stack's import)
                row.execution_precision = skill.execution_precision or None
                row.weights = skill.weights
                row.parameters = skill.parameters or None
    except (UnsupportedPrecisionError, SkillUnavailableError) as exc:
        # The skill says it cannot run this combination (a precision, a backend without the
        # task's generate loop, a library that is not installed): recorded with its reason.
        return _unsupported(spec, rows, str(exc), wall_seconds=elapsed(), **context)
    except Exception as exc:  # one model's failure is its outcome, not the sweep's
        if _missing_kernel(exc, spec.precision):
            reason = f"{spec.precision}: a layer of this model has no kernel for it: {exc}"
            return _unsupported(spec, rows, reason, wall_seconds=elapsed(), **context)
        log.warning("benchmark %s failed: %s", spec.key, exc)
        last = traceback.format_exception_only(exc)[-1].strip()
        return BenchmarkOutcome(
            spec=spec, status="error", reason=last, wall_seconds=elapsed(), **context
        )
    if any(row.model_type == STACK_MODEL for row in measured.rows):
        stack_delivered(spec.run_id, stack_modules(spec.hardware))
    wall = elapsed()
    # Stored so the next sweep can order its tasks longest-first (skillsets.plan).
    measured.rows.append(rows.scalar(first, "task_time", wall))
    return BenchmarkOutcome(
        spec=spec,
        status="ok",
        reason="; ".join(measured.problems),
        rows=measured.rows,
        wall_seconds=wall,
        measured_seconds=measured.measured_seconds,
        notes=measured.notes,
        **context,
    )
