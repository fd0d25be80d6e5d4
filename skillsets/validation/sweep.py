"""The validation sweep: every (model type, hardware) smoke run, isolated, spread over workers.

Each run is a task routed to a worker tagged for its hardware with
`dask.annotate(resources={hw: 1})`; the task runs the smoke test in a child process forked from
the worker's zygote (`skillsets.validation.isolate`), so a model that hangs, exhausts memory or
crashes is one failed record and the sweep goes on. Hardware that is absent here gets `skip`
records with the probe's reason, without running anything. Without a Dask client the same tasks
run on a local thread pool, one zygote per thread.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import as_completed as threads_as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hardware.registry import probe, resolve_hardware
from skillsets.validation.isolate import (
    DEFAULT_TIMEOUT_S,
    IsolationLimits,
    Outcome,
    run_isolated,
)
from skillsets.validation.smoke import PRELOAD, SmokeOptions, SmokeResult, smoke_test
from skillsets.validation.static import StaticReport, check_file
from skillsets.validation.store import ENVIRONMENT_DETAIL
from warehouse.records import COMPATIBILITY_STATUSES, CompatibilityRecord

_GIB = 1024**3


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs, and under which limits.

    Attributes:
        options: What each smoke run checks.
        limits: Time and memory limit of each run (threads are set per worker).
        static: Static-check reports by model type (`skillsets.validation.static`); a failed
            report fails the type's records on every hardware.
        check: What runs in each isolated process: `check(model_type, hardware, options=...)`
            returning a `SmokeResult`. `smoke_test` unless a test swaps in a double to
            exercise the sweep's handling of crashes, hangs and raises. It must be importable
            by name (a module-level function) where the tasks run.
    """

    options: SmokeOptions = field(default_factory=SmokeOptions)
    limits: IsolationLimits = field(
        default_factory=lambda: IsolationLimits(timeout_s=DEFAULT_TIMEOUT_S, memory_bytes=4 * _GIB)
    )
    static: dict[str, StaticReport] = field(default_factory=dict)
    check: Callable[..., Any] = smoke_test


def generate_and_check(entries: Sequence[Any], folder: str | Path) -> dict[str, StaticReport]:
    """Generate each entry's skillset file into `folder` and run the static checks on it.

    Returns:
        The static report of each model type. Pass `folder` as `SmokeOptions.skillset_dir` so
        the round trip loads through the generated classes.
    """
    from skillsets.generator import generate

    generate(list(entries), folder)
    return {
        e.model_type: check_file(Path(folder) / f"{e.module_name}.py", e.module_name)
        for e in entries
    }


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def validate_one(
    model_type: str,
    hardware: str,
    run_id: str,
    plan: SweepPlan,
    *,
    environment_id: str | None = None,
    threads: int | None = None,
    context: dict[str, Any] | None = None,
) -> CompatibilityRecord:
    """Run one smoke test in its own process and return its compatibility record.

    This is the Dask task: on a worker started by `hardware.cluster` it checks that the worker
    carries the `hardware` tag, and uses the worker's cores as torch threads.

    Args:
        model_type: Catalog model type.
        hardware: Backend to run on.
        run_id: The run the record belongs to.
        plan: Options and limits.
        environment_id: The environment fingerprint id; None = this process's (a remote worker
            is another machine, so its own fingerprint is the right one), handed back in
            `details["environment"]` for `store.store_validation_run` to record.
        threads: torch threads of the run; None = the cores this process may use.
        context: Extra details stored with the record (family, tier, task).
    """
    from hardware.fingerprint import environment_fingerprint

    if _on_dask_worker():
        from hardware.cluster import worker_hardware

        worker_hardware().require(hardware)
    limits = IsolationLimits(
        timeout_s=plan.limits.timeout_s,
        memory_bytes=plan.limits.memory_bytes,
        threads=threads or usable_cores(),
        poll_s=plan.limits.poll_s,
    )
    outcome = run_isolated(
        plan.check, model_type, hardware, options=plan.options, limits=limits, preload=PRELOAD
    )
    here = environment_fingerprint() if environment_id is None else None
    record = outcome_to_record(
        outcome,
        model_type=model_type,
        hardware=hardware,
        run_id=run_id,
        environment_id=environment_id or here.environment_id,
    )
    if here is not None:  # handed back so the caller can store the worker's environment
        record.details[ENVIRONMENT_DETAIL] = here.model_dump(mode="json")
    record.details.update(context or {})
    record.details["threads"] = limits.threads
    return record


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def outcome_to_record(
    outcome: Outcome, *, model_type: str, hardware: str, run_id: str, environment_id: str
) -> CompatibilityRecord:
    """The compatibility record of one isolated run.

    A returned `SmokeResult` gives its own status; any other returned value is a pass; a raise,
    crash, timeout or memory kill is a failure whose error type and message say which.
    """
    timings = {
        "process_start": round(outcome.start_seconds, 4),
        "isolated_total": round(outcome.seconds, 4),
    }
    details: dict[str, Any] = {"timings": timings, "peak_rss_bytes": outcome.peak_rss_bytes}
    if outcome.ok and isinstance(outcome.value, SmokeResult):
        smoke = outcome.value
        timings.update(smoke.timings)
        details.update(smoke.details)
        details["timings"] = timings
        details["stage"] = smoke.stage
        max_diff = (
            smoke.max_abs_diff
            if smoke.max_abs_diff is not None and math.isfinite(smoke.max_abs_diff)
            else None
        )
        return CompatibilityRecord(
            run_id=run_id,
            environment_id=environment_id,
            model_type=model_type,
            hardware=hardware,
            status=smoke.status,
            error_type=smoke.error_type,
            message=smoke.message,
            seconds=outcome.seconds,
            max_abs_diff=max_diff,
            execution_precision=smoke.execution_precision,
            details=details,
        )
    if outcome.ok:
        return CompatibilityRecord(
            run_id=run_id,
            environment_id=environment_id,
            model_type=model_type,
            hardware=hardware,
            status="pass",
            seconds=outcome.seconds,
            details=details,
        )
    details["stage"] = "process"
    details["isolation"] = outcome.status
    details["exit_code"] = outcome.exit_code
    if outcome.traceback:
        details["traceback"] = outcome.traceback[-3000:]
    if outcome.log_tail and outcome.status != "raised":
        details["log_tail"] = outcome.log_tail[-2000:]
    return CompatibilityRecord(
        run_id=run_id,
        environment_id=environment_id,
        model_type=model_type,
        hardware=hardware,
        status="fail",
        error_type=outcome.error_type,
        message=outcome.message,
        seconds=outcome.seconds,
        details=details,
    )


def _static_failure(record: CompatibilityRecord, report: StaticReport) -> CompatibilityRecord:
    """Fail a record whose skillset file failed its static checks (the smoke result is kept)."""
    record.details["static"] = {"passed": False, "issues": [vars(i) for i in report.issues]}
    if record.status == "skip":
        return record
    first = report.issues[0]
    record.details["smoke_status"] = record.status
    return record.model_copy(
        update={
            "status": "fail",
            "error_type": "StaticCheckFailed",
            "message": f"[static] {first.check}: {first.message}"
            + (f" (+{len(report.issues) - 1} more)" if len(report.issues) > 1 else ""),
        }
    )


def run_validation_sweep(
    client: Any | None,
    entries: Sequence[Any],
    hardware: Sequence[str],
    run_id: str,
    *,
    plan: SweepPlan | None = None,
    workers: int | None = None,
    environment_id: str | None = None,
    progress: bool = True,
    console: Console | None = None,
    on_record: Callable[[CompatibilityRecord], None] | None = None,
) -> list[CompatibilityRecord]:
    """Validate every entry on every hardware backend; one record per pair.

    Args:
        client: A `distributed.Client` whose workers carry hardware resource tags
            (`hardware.cluster.start_local_cluster`), or None to run on a local thread pool.
        entries: Catalog entries (`CatalogEntry`) or bare model type names.
        hardware: Backend names; `auto` = every available one. Absent ones give `skip` records.
        run_id: Stored with every record.
        plan: Options, limits, static-check reports and the function each run calls.
        workers: Threads of the local pool (client None); default: one per usable core.
        environment_id: Stored with every record; None = each worker's own fingerprint.
        progress: Show a rich progress bar (on stderr).
        console: Where the progress bar goes.
        on_record: Called with each record as it completes (e.g. to print or store it).

    Returns:
        Records sorted by (model type, hardware).
    """
    plan = plan or SweepPlan()
    present, absent = resolve_hardware(list(hardware))
    records: list[CompatibilityRecord] = []
    from hardware.fingerprint import environment_fingerprint

    context = {_type_of(e): _context_of(e) for e in entries}
    types = list(context)
    local_env = environment_id or environment_fingerprint().environment_id
    counts = dict.fromkeys(COMPATIBILITY_STATUSES, 0)

    def finish(record: CompatibilityRecord) -> None:
        record = apply_static(record, plan.static)
        records.append(record)
        counts[record.status] += 1
        if on_record is not None:
            on_record(record)

    for hw in absent:
        for model_type in types:
            finish(skip_record(model_type, hw, run_id, local_env, context[model_type]))
    pairs = [(t, hw) for hw in present for t in types]
    # Static reports are applied here, where they were made; workers need none of them.
    worker_plan = replace(plan, static={})
    bar = Progress(
        TextColumn("[bold]{task.description:<36.36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[passed]} pass[/] [red]{task.fields[failed]} fail[/]"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not (progress and pairs),
    )
    with bar:
        task = bar.add_task("validating", total=len(pairs), passed=0, failed=0)

        def advance(record: CompatibilityRecord) -> None:
            finish(record)
            bar.update(
                task,
                advance=1,
                description=f"{record.model_type} on {record.hardware}",
                passed=counts["pass"],
                failed=counts["fail"],
            )

        if client is None:
            _run_threads(pairs, run_id, worker_plan, environment_id, context, workers, advance)
        else:
            _run_dask(client, pairs, run_id, worker_plan, environment_id, context, advance)
    return sorted(records, key=lambda r: (r.model_type, r.hardware))


_Advance = Callable[[CompatibilityRecord], None]


def _run_threads(
    pairs: list[tuple[str, str]],
    run_id: str,
    plan: SweepPlan,
    environment_id: str | None,
    context: dict[str, dict[str, Any]],
    workers: int | None,
    advance: _Advance,
) -> None:
    workers = workers or usable_cores()
    threads = max(1, usable_cores() // workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="validate") as pool:
        futures: dict[Future, tuple[str, str]] = {
            pool.submit(
                validate_one,
                t,
                hw,
                run_id,
                plan,
                environment_id=environment_id,
                threads=threads,
                context=context[t],
            ): (t, hw)
            for t, hw in pairs
        }
        for future in threads_as_completed(futures):
            t, hw = futures[future]
            advance(_result_or_failure(future, t, hw, run_id, environment_id, context[t]))


def _run_dask(
    client: Any,
    pairs: list[tuple[str, str]],
    run_id: str,
    plan: SweepPlan,
    environment_id: str | None,
    context: dict[str, dict[str, Any]],
    advance: _Advance,
) -> None:
    import dask
    from distributed import as_completed

    futures = {}
    for t, hw in pairs:
        with dask.annotate(resources={hw: 1}):
            future = client.submit(
                validate_one,
                t,
                hw,
                run_id,
                plan,
                environment_id=environment_id,
                context=context[t],
                key=f"validate-{run_id}-{hw}-{t}",
                pure=False,
            )
        futures[future] = (t, hw)
    for future in as_completed(futures):
        t, hw = futures[future]
        advance(_result_or_failure(future, t, hw, run_id, environment_id, context[t]))


def _result_or_failure(
    future: Any,
    model_type: str,
    hardware: str,
    run_id: str,
    environment_id: str | None,
    context: dict[str, Any],
) -> CompatibilityRecord:
    """The task's record, or a failure record when the task itself failed (e.g. its worker died)."""
    try:
        return future.result()
    except Exception as exc:  # the worker, not the model, failed: recorded so the sweep completes
        from hardware.fingerprint import environment_fingerprint

        return CompatibilityRecord(
            run_id=run_id,
            environment_id=environment_id or environment_fingerprint().environment_id,
            model_type=model_type,
            hardware=hardware,
            status="fail",
            error_type="WorkerError",
            message=f"the validation task failed outside the model: {type(exc).__name__}: {exc}",
            details={**context, "stage": "worker"},
        )


def _type_of(entry: Any) -> str:
    return entry if isinstance(entry, str) else entry.model_type


def _context_of(entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        return {}
    return {
        k: getattr(entry, k) for k in ("family", "tier", "task", "modality") if hasattr(entry, k)
    }


def summarise(records: Iterable[CompatibilityRecord]) -> dict[str, dict[str, int]]:
    """`{hardware: {"pass": n, "fail": n, "unsupported": n, "skip": n}}`."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        out.setdefault(r.hardware, dict.fromkeys(COMPATIBILITY_STATUSES, 0))[r.status] += 1
    return out


def apply_static(
    record: CompatibilityRecord, static: dict[str, StaticReport]
) -> CompatibilityRecord:
    """The record with its skillset file's static-check result applied (a failed check fails it)."""
    report = static.get(record.model_type)
    if report is None:
        return record
    if not report.passed:
        return _static_failure(record, report)
    record.details["static"] = {"passed": True, "issues": []}
    return record


def skip_record(
    model_type: str,
    hardware: str,
    run_id: str,
    environment_id: str,
    context: dict[str, Any] | None = None,
) -> CompatibilityRecord:
    """The `skip` record of a model type on a backend absent here, with the probe's reason."""
    return CompatibilityRecord(
        run_id=run_id,
        environment_id=environment_id,
        model_type=model_type,
        hardware=hardware,
        status="skip",
        error_type="HardwareAbsent",
        message=f"{hardware} is not available here: {probe(hardware).reason}",
        details=dict(context or {}),
    )
