"""The isolation layer: a call that crashes, hangs, raises or hogs memory is recorded, and the next
call still runs.

The targets below are test doubles standing in for a model validation: plain module-level
functions the isolated child imports by name. They run through the real zygote and fork.
"""

from __future__ import annotations

import ctypes
import os
import time

import pytest

from skillsets.validation.isolate import IsolationLimits, Outcome, Zygote, ZygotePool

LIMITS = IsolationLimits(timeout_s=3.0, memory_bytes=1024**3)


def double_returns(x: int) -> dict[str, int]:
    return {"doubled": 2 * x, "pid": os.getpid()}


def double_raises() -> None:
    raise ValueError("input 42 has the wrong shape")


def double_hangs() -> None:
    time.sleep(60)


def double_aborts() -> None:
    os.abort()


def double_segfaults() -> None:
    ctypes.string_at(0)


def double_exits() -> None:
    os._exit(3)


def double_hogs_memory() -> int:
    block = bytearray(3 * 1024**3)
    for i in range(0, len(block), 4096):  # touch every page so it is resident
        block[i] = 1
    return len(block)


@pytest.fixture(scope="module")
def zygote():
    with Zygote(preload=()) as z:
        yield z


def test_returns_value_from_another_process(zygote):
    outcome = zygote.call(double_returns, 21, limits=LIMITS)
    assert outcome.status == "ok"
    assert outcome.value["doubled"] == 42
    assert outcome.value["pid"] not in (os.getpid(), zygote._proc.pid)


def test_raise_is_recorded_with_type_message_and_traceback(zygote):
    outcome = zygote.call(double_raises, limits=LIMITS)
    assert outcome.status == "raised"
    assert outcome.error_type == "ValueError"
    assert outcome.message == "input 42 has the wrong shape"
    assert "double_raises" in outcome.traceback


def test_timeout_kills_the_child_and_names_where_it_hung(zygote):
    started = time.perf_counter()
    outcome = zygote.call(double_hangs, limits=IsolationLimits(timeout_s=1.5))
    assert outcome.status == "timeout"
    assert outcome.error_type == "Timeout"
    assert "1.5 s limit" in outcome.message and "double_hangs" in outcome.message
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    ("double", "signal_name"), [(double_aborts, "SIGABRT"), (double_segfaults, "SIGSEGV")]
)
def test_crash_is_recorded_with_the_signal(zygote, double, signal_name):
    outcome = zygote.call(double, limits=LIMITS)
    assert outcome.status == "crashed"
    assert outcome.error_type == "Crash"
    assert signal_name in outcome.message
    assert outcome.exit_code < 0


def test_early_exit_is_a_crash_with_its_code(zygote):
    outcome = zygote.call(double_exits, limits=LIMITS)
    assert outcome.status == "crashed"
    assert "exited with code 3" in outcome.message


def test_memory_limit_kills_the_child(zygote):
    outcome = zygote.call(
        double_hogs_memory, limits=IsolationLimits(timeout_s=30, memory_bytes=512 * 1024**2)
    )
    assert outcome.status == "memory"
    assert outcome.error_type == "MemoryLimitExceeded"
    assert outcome.peak_rss_bytes > 512 * 1024**2


def test_a_sweep_of_bad_calls_completes_and_records_each_status():
    """Crash, hang and raise among good calls: every call gets its record, in order."""
    # Imported here: the children import this module, and must not pay for torch to do so.
    from skillsets.validation.sweep import outcome_to_record

    doubles = [
        double_returns,
        double_aborts,
        double_returns,
        double_hangs,
        double_raises,
        double_segfaults,
        double_returns,
    ]
    pool = ZygotePool(preload=())
    try:
        outcomes: list[Outcome] = [
            pool.call(
                d, *((1,) if d is double_returns else ()), limits=IsolationLimits(timeout_s=1.5)
            )
            for d in doubles
        ]
    finally:
        pool.close()
    assert [o.status for o in outcomes] == [
        "ok",
        "crashed",
        "ok",
        "timeout",
        "raised",
        "crashed",
        "ok",
    ]
    records = [
        outcome_to_record(
            o, model_type=d.__name__, hardware="cpu", run_id="r1", environment_id="e1"
        )
        for d, o in zip(doubles, outcomes, strict=True)
    ]
    assert [r.status for r in records] == ["pass", "fail", "pass", "fail", "fail", "fail", "pass"]
    assert [r.error_type for r in records] == [
        None,
        "Crash",
        None,
        "Timeout",
        "ValueError",
        "Crash",
        None,
    ]
    assert all(r.message for r in records if r.status == "fail")


def test_helper_killed_from_outside_is_restarted():
    with Zygote(preload=()) as z:
        z._proc.kill()
        z._proc.wait()
        outcome = z.call(double_returns, 2, limits=LIMITS)
    assert outcome.status == "ok" and outcome.value["doubled"] == 4


def test_limits_reject_nonsense():
    with pytest.raises(ValueError, match="timeout_s"):
        IsolationLimits(timeout_s=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        IsolationLimits(memory_bytes=-1)


def double_check(model_type: str, hardware: str, *, options=None):
    """Stands in for `smoke_test` in a real sweep: the model type names what goes wrong."""
    from skillsets.validation.smoke import SmokeResult

    if model_type == "crashes":
        os.abort()
    if model_type == "hangs":
        time.sleep(60)
    if model_type == "raises":
        raise RuntimeError(f"{model_type} cannot run on {hardware}")
    return SmokeResult(model_type, hardware, timings={"load": 0.0})


DOUBLE_TYPES = ["first", "crashes", "second", "hangs", "raises", "third"]
EXPECTED = {
    "first": ("pass", None),
    "crashes": ("fail", "Crash"),
    "second": ("pass", None),
    "hangs": ("fail", "Timeout"),
    "raises": ("fail", "RuntimeError"),
    "third": ("pass", None),
}


def _double_plan():
    from skillsets.validation.sweep import SweepPlan

    return SweepPlan(
        check=double_check, limits=IsolationLimits(timeout_s=2.0, memory_bytes=1024**3)
    )


def test_sweep_on_threads_records_crash_timeout_and_raise_and_completes():
    from skillsets.validation.sweep import run_validation_sweep

    records = run_validation_sweep(
        None,
        DOUBLE_TYPES,
        ["cpu"],
        "r-threads",
        plan=_double_plan(),
        workers=2,
        environment_id="env-test",
        progress=False,
    )
    assert {r.model_type: (r.status, r.error_type) for r in records} == EXPECTED
    crashed = next(r for r in records if r.model_type == "crashes")
    assert "SIGABRT" in crashed.message and crashed.details["stage"] == "process"
    hung = next(r for r in records if r.model_type == "hangs")
    assert "double_check" in hung.message  # the frame it hung in


def test_sweep_on_dask_routes_by_resource_and_records_each_status():
    """The same through Dask: tasks annotated with resources={"cpu": 1} on a tagged worker."""
    from distributed import Client, LocalCluster

    from skillsets.validation.sweep import run_validation_sweep

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            resources={"cpu": 1},
            dashboard_address=None,
            host="127.0.0.1",
            protocol="tcp://",
        ) as cluster,
        Client(cluster) as client,
    ):
        records = run_validation_sweep(
            client,
            DOUBLE_TYPES,
            ["cpu"],
            "r-dask",
            plan=_double_plan(),
            environment_id="env-test",
            progress=False,
        )
    assert {r.model_type: (r.status, r.error_type) for r in records} == EXPECTED
