"""The benchmark sweep: one Dask task per (model, hardware, precision), routed by resource tag.

Each task is annotated with `resources={hardware: 1}`, so it can only run on a worker that
carries that tag, and holds the tag while it runs: one measurement per backend per worker at a
time. The task reports the worker it ran on and the sweep checks the tag before accepting its
rows. Rows are written by the one writer, in the client process, as each task finishes; the
warehouse load is idempotent on (run_id, series key), so a task re-run after its worker died
(Dask reschedules it) writes its rows once. A JSON file per run goes to the output folder too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dask
from distributed import Client, as_completed

from hardware.cluster import require_hardware
from hardware.fingerprint import environment_fingerprint
from skillsets.bench.measure import MeasureConfig
from skillsets.bench.rows import is_reference_row, pool_reference_rows
from skillsets.bench.spec import BenchmarkKind, BenchmarkOutcome, BenchmarkSpec
from skillsets.bench.task import run_benchmark
from warehouse.records import RunRecord, utcnow

log = logging.getLogger(__name__)

TaskFunction = Callable[[BenchmarkSpec], BenchmarkOutcome]


def plan_sweep(
    run_id: str,
    models: Sequence[str],
    hardware: Sequence[str],
    precisions: Sequence[str],
    *,
    batch_sizes: Sequence[int] = (1,),
    kinds: Sequence[BenchmarkKind] = ("inference",),
    measure: MeasureConfig | None = None,
    concurrent_workers: int = 2,
    throughput_calls: int = 5,
    measure_import: bool = True,
    size: str = "tiny",
    checkpoints: Sequence[tuple[str, str]] = (),
    memory_budget: float = 0.8,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
) -> list[BenchmarkSpec]:
    """Every (model, hardware, precision) as a spec, hardware-major so backends interleave.

    `models` are measured at `size` (`tiny` or `reference`); each `(model_type, checkpoint)` of
    `checkpoints` is measured as well, at size `checkpoint`. Unsupported (hardware, precision)
    pairs stay in the plan: their task records them as such.
    """
    if size == "checkpoint":
        raise ValueError("models are measured at size tiny or reference; name checkpoints apart")
    common = {
        "batch_sizes": tuple(batch_sizes),
        "kinds": tuple(kinds),
        "measure": measure or MeasureConfig(),
        "concurrent_workers": concurrent_workers,
        "throughput_calls": throughput_calls,
        "measure_import": measure_import,
        "memory_budget": memory_budget,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
    }
    targets = [(model, size, None) for model in models]
    targets += [(model, "checkpoint", name) for model, name in checkpoints]
    return [
        BenchmarkSpec(
            run_id=run_id, model_type=model, hardware=hw, precision=precision, size=what,
            model_name=name, **common,
        )
        for model, what, name in targets
        for precision in precisions
        for hw in hardware
    ]


@dataclass
class SweepResult:
    """Every outcome of a sweep, with where its JSON went."""

    run_id: str
    outcomes: list[BenchmarkOutcome] = field(default_factory=list)
    json_path: Path | None = None
    wall_seconds: float = 0.0

    @property
    def rows(self) -> list[Any]:
        """All result rows, in completion order (the tasks' reference times pooled, last)."""
        return pool_reference_rows([row for outcome in self.outcomes for row in outcome.rows])

    @property
    def errors(self) -> list[BenchmarkOutcome]:
        """Outcomes whose task failed (unsupported combinations are not errors)."""
        return [o for o in self.outcomes if o.status == "error"]


def _verified(outcome: BenchmarkOutcome) -> BenchmarkOutcome:
    """The outcome, or an error outcome when it did not run on a worker with its tag."""
    placement = outcome.placement
    if placement is None:
        return outcome
    try:
        placement.require(outcome.spec.hardware)
    except RuntimeError as exc:
        return BenchmarkOutcome(
            spec=outcome.spec,
            status="error",
            reason=str(exc),
            placement=placement,
            environment=outcome.environment,
        )
    return outcome


def outcome_json(outcome: BenchmarkOutcome) -> dict[str, Any]:
    """JSON-ready form of one outcome (rows included, raw samples too)."""
    spec = asdict(outcome.spec)
    return {
        "spec": spec,
        "status": outcome.status,
        "reason": outcome.reason,
        "placement": asdict(outcome.placement) if outcome.placement else None,
        "environment_id": outcome.environment.environment_id if outcome.environment else None,
        "wall_seconds": outcome.wall_seconds,
        "measured_seconds": outcome.measured_seconds,
        "notes": outcome.notes,
        "rows": [row.model_dump(mode="json") for row in outcome.rows],
    }


def write_json(result: SweepResult, output_dir: Path, parameters: dict[str, Any]) -> Path:
    """Write `bench-<run_id>.json` (parameters, environments, outcomes) and return its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    environments = {
        o.environment.environment_id: o.environment.model_dump(mode="json")
        for o in result.outcomes
        if o.environment is not None
    }
    payload = {
        "run_id": result.run_id,
        "parameters": parameters,
        "wall_seconds": result.wall_seconds,
        "environments": environments,
        "outcomes": [outcome_json(o) for o in result.outcomes],
    }
    path = output_dir / f"bench-{result.run_id}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def _failed(spec: BenchmarkSpec, exc: BaseException) -> BenchmarkOutcome:
    return BenchmarkOutcome(
        spec=spec,
        status="error",
        reason=f"task failed: {type(exc).__name__}: {exc}",
    )


def run_benchmark_sweep(
    client: Client,
    plan: Sequence[BenchmarkSpec],
    run_id: str,
    *,
    warehouse_path: Path | None = None,
    output_dir: Path | None = None,
    parameters: dict[str, Any] | None = None,
    on_outcome: Callable[[BenchmarkOutcome], None] | None = None,
    task: TaskFunction = run_benchmark,
) -> SweepResult:
    """Run every spec on a worker tagged with its hardware; write rows once; return outcomes.

    Args:
        client: Client of a cluster whose workers carry hardware resource tags.
        plan: The work (see `plan_sweep`); every spec must carry `run_id`.
        run_id: Identifies the run's rows in the warehouse.
        warehouse_path: DuckDB file to load rows into as tasks finish; None = do not store.
        output_dir: Folder for `bench-<run_id>.json`; None = no JSON.
        parameters: What the run was asked (stored with the run record and the JSON).
        on_outcome: Called in the client process with each outcome as it arrives (progress).
        task: The function run on the worker (tests wrap it to kill a worker mid-task).

    Raises:
        ValueError: when a spec belongs to another run.
        RuntimeError: when no worker carries a tag the plan needs (before anything is submitted).
    """
    foreign = [s.key for s in plan if s.run_id != run_id]
    if foreign:
        raise ValueError(f"specs from another run than {run_id!r}: {foreign[:3]}")
    require_hardware(client, sorted({s.hardware for s in plan}))
    started = utcnow()
    result = SweepResult(run_id=run_id)
    futures = {}
    for spec in plan:
        with dask.annotate(resources={spec.hardware: 1}):
            future = client.submit(task, spec, key=spec.key, pure=False)
        futures[future] = spec

    writer = None
    if warehouse_path is not None:
        quarantine = output_dir / "quarantine" if output_dir is not None else None
        writer = _Writer(warehouse_path, run_id, parameters or {}, started, quarantine)
    completed = False
    try:
        for future in as_completed(futures):
            spec = futures[future]
            try:
                outcome = _verified(future.result())
            except Exception as exc:  # a task that died with every worker it was tried on
                outcome = _failed(spec, exc)
            result.outcomes.append(outcome)
            if writer is not None:
                writer.write(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        completed = True
    finally:
        result.wall_seconds = (utcnow() - started).total_seconds()
        if writer is not None:
            writer.finish(failed=not completed)
    if output_dir is not None:
        result.json_path = write_json(result, output_dir, parameters or {})
    return result


class _Writer:
    """The one warehouse writer of a sweep: run record, environments, idempotent result loads.

    The file is opened per write, not held for the whole sweep, so readers (a report, a
    dashboard) get in between tasks.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        parameters: dict[str, Any],
        started: datetime,
        quarantine_dir: Path | None,
    ) -> None:
        fp = environment_fingerprint()
        self.path = path
        self.run_id = run_id
        self.quarantine_dir = quarantine_dir
        self.seen_environments = {fp.environment_id}
        run = RunRecord(
            run_id=run_id,
            flow="bench",
            started_at=started,
            git_sha=fp.git_sha,
            environment_id=fp.environment_id,
            packages=fp.packages,
            parameters=parameters,
        )
        self.references: list[Any] = []
        with self._open() as wh:
            wh.record_environment(fp)
            wh.record_run(run)

    def _open(self) -> Any:
        from warehouse.store import Warehouse  # DuckDB + Polars only when results are stored

        return Warehouse.open(self.path, quarantine_dir=self.quarantine_dir)

    def write(self, outcome: BenchmarkOutcome) -> None:
        """Load an outcome's rows (and its worker's environment, the first time it is seen);
        its reference-time rows wait for `finish`, which loads them pooled per backend."""
        self.references += [row for row in outcome.rows if is_reference_row(row)]
        rows = [row for row in outcome.rows if not is_reference_row(row)]
        if not rows:
            return
        with self._open() as wh:
            env = outcome.environment
            if env is not None and env.environment_id not in self.seen_environments:
                wh.record_environment(env)
                self.seen_environments.add(env.environment_id)
            wh.load_results(rows)

    def finish(self, failed: bool) -> None:
        """Close the run record: `failed` when the sweep itself broke off (a failed model is a
        row-less outcome in a completed run)."""
        with self._open() as wh:
            if self.references:
                wh.load_results(pool_reference_rows(self.references))
            wh.finish_run(self.run_id, "failed" if failed else "completed")
