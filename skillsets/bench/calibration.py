"""A pinned reference workload, timed beside every model call, so latency can be calibrated.

On a shared host (a CI runner, a cloud VM) the speed of the machine drifts by several percent
between minutes and between nights, and a raw latency series carries that drift. A fixed
workload timed in the same loop as the model, at a fine grain, sees the same drift: the
latency in units of the reference (`x_ref`) cancels much of it. The reference shares no code
with what is measured: no torch, transformers or OpenVINO, only numpy (its own bundled BLAS,
pinned to one thread) and the Python interpreter. So a torch upgrade that slows its GEMM shows
in the calibrated series, instead of slowing the yardstick with it.

The work is fixed forever per `REFERENCE_VERSION`: every calibrated series is in units of one
version's reference, and a series measured with another version is a different series (the
version is in the calibration row's notes and in `REFERENCE_MODEL`'s rows). To change the
workload, add a new version; never edit an existing one.

Version 1, one call (a few milliseconds on one core: 2-5 ms on this project's 2-core VM):

* GEMM: float32 (256 x 256) @ (256 x 256), numpy's BLAS on one thread:
  2 x 256**3 = 33.6 MFLOP, operands resident in cache (768 KiB);
* streaming: float32 `a + b -> c` over 2**21 elements (8 MiB each): 24 MiB of memory traffic,
  more than a core's share of the last-level cache, so DRAM bandwidth is in the loop;
* interpreter: 3000 iterations of a pure-Python loop (dict lookups and stores, integer
  arithmetic): the dispatch-bound work that dominates a tiny model's call.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from warehouse.records import REFERENCE_BENCHMARK, REFERENCE_MODEL

#: Version of the workload below; part of every calibrated row (see the module docstring).
REFERENCE_VERSION = 1
#: Benchmark name of the reference's own rows (their model_type is `REFERENCE_MODEL`).
CALIBRATION_BENCHMARK = REFERENCE_BENCHMARK
__all__ = ["CALIBRATION_BENCHMARK", "REFERENCE_MODEL", "REFERENCE_VERSION", "REFERENCE_WORK",
           "Reference", "ReferenceWork", "reference"]

_GEMM_N = 256
_STREAM_ELEMENTS = 1 << 21
_PY_ITERATIONS = 3000
_SEED = 20260101


@dataclass(frozen=True)
class ReferenceWork:
    """What one call of a reference version does (fixed per version).

    Attributes:
        version: `REFERENCE_VERSION` of the workload.
        gemm_flops: Floating-point operations of the GEMM.
        stream_bytes: Bytes read and written by the streaming pass.
        python_iterations: Iterations of the interpreter loop.
    """

    version: int
    gemm_flops: int
    stream_bytes: int
    python_iterations: int


#: The work of one call of the current version.
REFERENCE_WORK = ReferenceWork(
    version=REFERENCE_VERSION,
    gemm_flops=2 * _GEMM_N**3,
    stream_bytes=3 * 4 * _STREAM_ELEMENTS,
    python_iterations=_PY_ITERATIONS,
)


def _interpreter_kernel(iterations: int) -> int:
    # Pure Python on purpose: this part must cost interpreter dispatch, as a tiny model's call
    # does; numpy would turn it into one C loop.
    table: dict[int, int] = {}
    acc = 0
    for i in range(iterations):
        k = i & 255
        table[k] = table.get(k, 0) + i
        acc ^= (i * 2654435761) & 0xFFFFFFFF
    return acc + len(table)


def _numpy_blas_controllers() -> list[object]:
    """threadpoolctl controllers of numpy's own BLAS (the wheel bundles it under `numpy.libs`);
    every BLAS when none is numpy's (a conda build linking a system BLAS)."""
    from threadpoolctl import ThreadpoolController

    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    own = [lib for lib in blas if "numpy" in lib.filepath]
    return own or blas


class Reference:
    """The reference workload of `REFERENCE_VERSION`: buffers allocated once, then one call
    (`__call__`) does exactly `REFERENCE_WORK` and allocates nothing.

    Call it inside `pinned()`, which holds numpy's BLAS to one thread: the GEMM then runs on
    the calling thread, as the interpreter part does, whatever the host's core count.
    """

    version = REFERENCE_VERSION
    work = REFERENCE_WORK

    def __init__(self) -> None:
        rng = np.random.default_rng(_SEED)
        self._a = rng.standard_normal((_GEMM_N, _GEMM_N), dtype=np.float32)
        self._b = rng.standard_normal((_GEMM_N, _GEMM_N), dtype=np.float32)
        self._c = np.empty((_GEMM_N, _GEMM_N), dtype=np.float32)
        self._x = rng.standard_normal(_STREAM_ELEMENTS, dtype=np.float32)
        self._y = rng.standard_normal(_STREAM_ELEMENTS, dtype=np.float32)
        self._z = np.empty(_STREAM_ELEMENTS, dtype=np.float32)
        self._acc = 0

    def __call__(self) -> None:
        """One call: the GEMM, the streaming pass, the interpreter loop."""
        np.matmul(self._a, self._b, out=self._c)
        np.add(self._x, self._y, out=self._z)
        self._acc = _interpreter_kernel(_PY_ITERATIONS)

    def checksum(self) -> tuple[float, float, int]:
        """What the last call computed: (sum of the GEMM, sum of the stream, loop result);
        equal for every call of one version on one build (a test of fixed work)."""
        return float(self._c.sum(dtype=np.float64)), float(self._z.sum(dtype=np.float64)), \
            self._acc

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """numpy's BLAS held to one thread for the block (restored on exit); torch's own
        thread pools are not touched, so the model's measurement is not changed."""
        controllers = _numpy_blas_controllers()
        before = [lib.num_threads for lib in controllers]
        for lib in controllers:
            lib.set_num_threads(1)
        try:
            yield
        finally:
            for lib, threads in zip(controllers, before, strict=True):
                lib.set_num_threads(threads)


@functools.cache
def reference() -> Reference:
    """The process's reference workload (its buffers are built once: 25 MiB)."""
    return Reference()
