"""The timing core: warm-up, then repeat until a minimum count AND a minimum time are reached.

Modelled on optimum-benchmark's latency tracker: every iteration is timed on its own with
`time.perf_counter_ns` (synchronising the device first where it runs asynchronously), so the
result is a distribution, not one mean. The garbage collector is off during the timed loop so a
collection pause lands in no sample, and torch's intra-op thread count is pinned to the cores this
process may use, so two measurements never fight over a core.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class MeasureConfig:
    """How long to measure one callable.

    Attributes:
        warmup_runs: Untimed calls first (allocator, kernel selection, lazy init, caches).
        min_iterations: Timed calls at least this many...
        min_seconds: ...and for at least this long (summed sample time), whichever comes last.
        max_seconds: Stop after this much timed time even if `min_iterations` is not reached,
            so a pathologically slow model cannot hold a worker for ever (the sample count
            recorded with the result says how many were actually taken).
        reference_share: In a calibrated loop (`measure_calibrated`), a reference call follows
            a model call unless the reference has already taken this share of the model's
            timed time: one reference per model call for a slow model, one per few calls for a
            fast one, so calibration costs at most about this share of the loop.
    """

    warmup_runs: int = 3
    min_iterations: int = 10
    min_seconds: float = 1.0
    max_seconds: float = 120.0
    reference_share: float = 0.25

    def __post_init__(self) -> None:
        if self.warmup_runs < 0:
            raise ValueError(f"warmup_runs must be >= 0, got {self.warmup_runs}")
        if self.min_iterations < 1:
            raise ValueError(f"min_iterations must be >= 1, got {self.min_iterations}")
        if self.min_seconds < 0:
            raise ValueError(f"min_seconds must be >= 0, got {self.min_seconds}")
        if not 0.0 < self.reference_share <= 1.0:
            raise ValueError(
                f"reference_share must be in (0, 1], got {self.reference_share}"
            )
        if self.max_seconds < self.min_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds}) is below min_seconds ({self.min_seconds}); "
                "raise max_seconds or lower min_seconds"
            )


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one timed loop, in milliseconds.

    Percentiles are numpy's linear interpolation; `stdev` is the sample standard deviation
    (ddof=1; 0.0 for a single sample). `samples_ms` keeps every sample in call order.
    """

    samples_ms: tuple[float, ...]
    n: int
    mean: float
    stdev: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    total_seconds: float = field(default=0.0)

    @classmethod
    def from_samples_ns(cls, samples_ns: list[int] | np.ndarray) -> LatencyStats:
        """Statistics of nanosecond samples, reported in milliseconds."""
        if len(samples_ns) == 0:
            raise ValueError("no samples to summarise: the timed loop ran zero iterations")
        ms = np.asarray(samples_ns, dtype=np.float64) / _NS_PER_MS
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            samples_ms=tuple(float(x) for x in ms),
            n=int(ms.size),
            mean=float(ms.mean()),
            stdev=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
            p50=float(p50),
            p90=float(p90),
            p99=float(p99),
            min=float(ms.min()),
            max=float(ms.max()),
            total_seconds=float(ms.sum()) / 1000.0,
        )

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean); 0.0 when the mean is 0."""
        return self.stdev / self.mean if self.mean else 0.0


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), falling back to the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def pinned_threads(threads: int | None = None) -> Iterator[int]:
    """Pin torch's intra-op threads to `threads` (default: the usable cores) for the block.

    Yields the thread count in force. The previous count is restored on exit.
    """
    import torch

    wanted = threads or usable_cores()
    before = torch.get_num_threads()
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Collect once, then keep the garbage collector off for the block (restored on exit)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def measure_latency(
    fn: Callable[[], object],
    config: MeasureConfig = MeasureConfig(),
    *,
    synchronize: Callable[[], None] | None = None,
) -> LatencyStats:
    """Time `fn()` repeatedly: warm-up, then until `min_iterations` AND `min_seconds` are met.

    Args:
        fn: The work to time, with its inputs already bound (preparation is not timed).
        config: Warm-up and stopping rules.
        synchronize: Called after each call, inside the timed region, for devices that return
            before the work is done (e.g. `torch.cuda.synchronize`); None on the CPU.

    Returns:
        The distribution of per-call latencies in milliseconds.
    """
    samples, _, _ = _timed_loop(fn, config, synchronize, None)
    return LatencyStats.from_samples_ns(samples)


@dataclass(frozen=True)
class CalibratedStats:
    """A timed loop with a reference workload interleaved (`measure_calibrated`).

    Attributes:
        model: The model's samples, timed exactly as `measure_latency` times them.
        reference: The reference's samples, from the same loop.
        paired_with: For each model sample, the index of the reference sample timed right
            after it, or of the latest one before it when no reference call followed it.
    """

    model: LatencyStats
    reference: LatencyStats
    paired_with: tuple[int, ...]

    @property
    def ratio(self) -> float:
        """The calibrated latency: model p50 / reference p50 (unit `x_ref`).

        Chosen over the median of per-pair ratios (`pair_ratio`) because it needs no pairing
        and does not inherit a single slow reference call's noise into the model samples
        around it; `benchmarks/bench_stability.py` reports the CV of both.
        """
        return self.model.p50 / self.reference.p50

    @property
    def pair_ratio(self) -> float:
        """Median over model samples of (sample / its paired reference sample)."""
        ref = np.asarray(self.reference.samples_ms)[list(self.paired_with)]
        return float(np.median(np.asarray(self.model.samples_ms) / ref))


def measure_calibrated(
    fn: Callable[[], object],
    reference: Callable[[], object],
    config: MeasureConfig = MeasureConfig(),
    *,
    synchronize: Callable[[], None] | None = None,
) -> CalibratedStats:
    """`measure_latency`, with a reference workload timed between model calls.

    After each model call a reference call runs (timed on its own, never inside a model
    sample) unless the reference's summed time already exceeds `config.reference_share` of the
    model's; both see the same host state at a grain of milliseconds, so their ratio cancels
    much of the host's drift. The model's samples and the stopping rules (which count model
    time only) are those of `measure_latency`.

    Args:
        fn: The work to time, inputs bound.
        reference: The reference workload (`skillsets.bench.calibration.Reference`), called
            inside its `pinned()` block when it has one.
        config: Warm-up, stopping rules and the reference's share.
        synchronize: As for `measure_latency`.
    """
    pinned = getattr(reference, "pinned", contextlib.nullcontext)
    with pinned():
        samples, ref_samples, paired = _timed_loop(fn, config, synchronize, reference)
    return CalibratedStats(
        model=LatencyStats.from_samples_ns(samples),
        reference=LatencyStats.from_samples_ns(ref_samples),
        paired_with=tuple(paired),
    )


def _timed_call(fn: Callable[[], object], synchronize: Callable[[], None] | None) -> int:
    """Nanoseconds of one call of `fn`, synchronised when the device runs asynchronously."""
    start = time.perf_counter_ns()
    fn()
    if synchronize is not None:
        synchronize()
    return time.perf_counter_ns() - start


def _timed_loop(
    fn: Callable[[], object],
    config: MeasureConfig,
    synchronize: Callable[[], None] | None,
    reference: Callable[[], object] | None,
) -> tuple[list[int], list[int], list[int]]:
    """(model samples ns, reference samples ns, reference index paired with each model sample).

    The one timed loop of both `measure_latency` (no reference) and `measure_calibrated`.
    """
    for _ in range(config.warmup_runs):
        fn()
        if synchronize is not None:
            synchronize()
        if reference is not None:
            reference()
    min_ns = int(config.min_seconds * 1e9)
    max_ns = int(config.max_seconds * 1e9)
    samples: list[int] = []
    ref_samples: list[int] = []
    paired: list[int] = []
    total = 0
    ref_total = 0
    with gc_paused():
        while len(samples) < config.min_iterations or total < min_ns:
            elapsed = _timed_call(fn, synchronize)
            samples.append(elapsed)
            total += elapsed
            if reference is not None:
                if ref_total <= config.reference_share * total:
                    ref_elapsed = _timed_call(reference, None)
                    ref_samples.append(ref_elapsed)
                    ref_total += ref_elapsed
                paired.append(len(ref_samples) - 1)
            if total >= max_ns:
                break
    return samples, ref_samples, paired


@dataclass(frozen=True)
class PairedStats:
    """Two callables timed in alternation, and the per-pair difference of their times.

    Attributes:
        first: The first callable's samples.
        second: The second's, each taken right after the first's sample of the same index.
        difference_p50: Median over the pairs of (second - first), in ms. Both calls of a pair
            see the same host state, so a slow minute moves both and cancels here, where the
            difference of two p50s from separate blocks can even come out negative.
    """

    first: LatencyStats
    second: LatencyStats
    difference_p50: float


def measure_paired(
    first: Callable[[], object],
    second: Callable[[], object],
    config: MeasureConfig = MeasureConfig(),
    *,
    synchronize: Callable[[], None] | None = None,
) -> PairedStats:
    """Time `first()` then `second()`, pair after pair, until `config`'s rules are met.

    The stopping rules count pairs and the summed time of both calls. Used where the number
    wanted is a difference, e.g. a generator's decode time (generate minus prefill).
    """
    for _ in range(config.warmup_runs):
        for fn in (first, second):
            fn()
            if synchronize is not None:
                synchronize()
    min_ns = int(config.min_seconds * 1e9)
    max_ns = int(config.max_seconds * 1e9)
    samples: tuple[list[int], list[int]] = ([], [])
    total = 0
    with gc_paused():
        while len(samples[0]) < config.min_iterations or total < min_ns:
            for fn, taken in zip((first, second), samples, strict=True):
                elapsed = _timed_call(fn, synchronize)
                taken.append(elapsed)
                total += elapsed
            if total >= max_ns:
                break
    differences = np.subtract(samples[1], samples[0]) / _NS_PER_MS
    return PairedStats(
        first=LatencyStats.from_samples_ns(samples[0]),
        second=LatencyStats.from_samples_ns(samples[1]),
        difference_p50=float(np.median(differences)),
    )


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory while running one callable.

    Attributes:
        rss_delta_bytes: Highest process RSS seen during the call minus the RSS just before it.
        cuda_max_allocated_bytes: `torch.cuda.max_memory_allocated` over the call (peak stats
            reset first, so weights already resident count, as the device must hold them),
            None when CUDA is not in use.
    """

    rss_delta_bytes: int
    cuda_max_allocated_bytes: int | None = None


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field_name: str) -> int:
    match = re.search(rf"^{field_name}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{field_name} not in {_STATUS}")
    return int(match.group(1)) * 1024


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_bytes("VmHWM")
    except OSError:
        return False
    return True


def measure_memory(
    fn: Callable[[], object], *, cuda: bool = False, interval_s: float = 0.001
) -> MemoryPeak:
    """Run `fn()` once and report the process's peak RSS above the RSS just before it.

    On Linux the kernel's own high-water mark is reset before the call and read after it
    (`/proc/self/clear_refs`, `VmHWM`): exact, and free. Elsewhere a sampler thread polls RSS
    every `interval_s`, which can miss a peak shorter than that. Memory is measured in its own
    untimed call, never inside the latency loop.
    """
    gc.collect()
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if _reset_peak_rss():
        baseline = _status_bytes("VmRSS")
        fn()
        if cuda:
            torch.cuda.synchronize()
        peak = _status_bytes("VmHWM")
    else:
        baseline, peak = _sampled_peak(fn, cuda, interval_s)
    cuda_peak = int(torch.cuda.max_memory_allocated()) if cuda else None
    return MemoryPeak(rss_delta_bytes=max(0, peak - baseline), cuda_max_allocated_bytes=cuda_peak)


def _sampled_peak(fn: Callable[[], object], cuda: bool, interval_s: float) -> tuple[int, int]:
    """(RSS before, highest RSS seen) while a sampler thread polls during `fn()`."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(interval_s)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        fn()
        if cuda:
            import torch

            torch.cuda.synchronize()
    finally:
        done.set()
        sampler.join()
    return baseline, max(peak, process.memory_info().rss)
