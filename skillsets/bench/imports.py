"""Import times: a skillset's own import on top of an imported stack, and the stack's cold import.

A user's process pays two import costs: the stack (torch, transformers and its shared model
machinery, OpenVINO on that backend), the same for every skillset, and the skillset's own
modules (the generated skillset or the shared runtime, the model's transformers modeling
module). The stack dominates (10-25 s on a loaded 2-core VM against ~1 s for a skillset), so
timing both in a fresh interpreter per task spent most of a sweep's wall time re-measuring
the stack, and hid a skillset's own import in the stack's noise.

So each worker process keeps one *import server* per stack: a fresh interpreter that imports
the stack once (that import, timed, is the stack's cold import: stored once per run per
worker as `stack_import_time` of model type `_stack`) and then, per request, forks a child
that imports the skillset's modules and reports their time (`import_time`). A child is fresh
for every task, so the figure does not depend on which skillsets were imported before it.

Why a hand-rolled fork server and not `multiprocessing`'s forkserver: Dask worker processes
are daemonic (`distributed.worker.daemon` defaults to True) and `multiprocessing` refuses to
start children from a daemonic process; its forkserver is also one per process with a preload
fixed at its first start (a cpu and an OpenVINO stack cannot live side by side) and it ignores
a preload module that fails to import, which would silently move the stack into the figure.
A `subprocess` has none of these limits, and a fresh interpreter is what the stack's cold
import must be measured in anyway. POSIX only (`os.fork`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Seconds a cold import (of the stack, or of a skillset on top of it) may take before it is
#: reported as a failure.
IMPORT_TIMEOUT_S = 300.0
#: An import server with no request for this long exits (a long-lived worker between runs
#: should not hold an interpreter with torch imported); the next request starts a new one.
IDLE_EXIT_S = 900.0
#: model_type of the stack's own rows: never a real model type.
STACK_MODEL = "_stack"
#: precision of the stack's rows: the stack is imported the same way for every precision.
STACK_PRECISION = "none"

#: Every stack: torch, transformers and the model machinery every modeling module imports
#: (`transformers` itself is lazy; `modeling_utils` is where its import cost lies).
_BASE_STACK: tuple[str, ...] = ("torch", "transformers", "transformers.modeling_utils")
#: Backends whose SDK is part of the stack a skillset runs on.
_BACKEND_SDKS: dict[str, tuple[str, ...]] = {"openvino": ("openvino",)}

# The server's program. It writes its protocol to a duplicate of stdout and points fd 1 at
# stderr first, so a module that prints while being imported cannot corrupt a reply.
_SERVER = r"""
import importlib, json, os, select, sys, time, traceback
channel = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
idle = float(sys.argv[1])
stack = sys.argv[2:]
start = time.perf_counter_ns()
cumulative = {}
for name in stack:
    importlib.import_module(name)
    cumulative[name] = (time.perf_counter_ns() - start) / 1e9
channel.write(json.dumps({"seconds": (time.perf_counter_ns() - start) / 1e9,
                          "cumulative": cumulative, "pid": os.getpid()}) + "\n")
while select.select([sys.stdin], [], [], idle)[0]:
    line = sys.stdin.readline()
    if not line:
        break
    modules = json.loads(line)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            begin = time.perf_counter_ns()
            for name in modules:
                importlib.import_module(name)
            reply = {"seconds": (time.perf_counter_ns() - begin) / 1e9}
        except BaseException:
            reply = {"error": traceback.format_exc()}
        os.write(write_end, json.dumps(reply).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if not data:
        data = json.dumps({"error": f"the import child ended (wait status {status}) "
                                    "before replying"})
    channel.write(data + "\n")
"""


def stack_modules(hardware: str) -> tuple[str, ...]:
    """The modules every skillset on `hardware` imports before its own: the stack."""
    return _BASE_STACK + _BACKEND_SDKS.get(hardware, ())


def skill_modules(model_type: str, module_name: str) -> list[str]:
    """A skillset's own modules, in import order: the generated skillset (or, when none is
    generated, the shared runtime's `load_skill`, which a generated skillset imports) and the
    model's transformers modeling module. The stack (`stack_modules`) is not among them."""
    generated = f"skillsets.generated.{module_name}"
    try:
        has_generated = importlib.util.find_spec(generated) is not None
    except ModuleNotFoundError:
        has_generated = False
    modules = [generated if has_generated else "skillsets.runtime.skill"]
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    package = model_type_to_module_name(model_type)
    modeling = f"transformers.models.{package}.modeling_{package}"
    if importlib.util.find_spec(modeling.rsplit(".", 1)[0]) is not None:
        modules.append(modeling)
    return modules


@dataclass(frozen=True)
class StackImport:
    """The stack's cold import, timed in a fresh interpreter.

    Attributes:
        modules: The stack, in import order.
        seconds: Wall time of importing all of them.
        cumulative: Seconds from the start to the end of each module's import.
    """

    modules: tuple[str, ...]
    seconds: float
    cumulative: dict[str, float] = field(default_factory=dict)


class ImportServer:
    """A fresh interpreter that imported `stack` and forks a child per timed skillset import.

    It inherits this process's environment and CPU affinity, so it (and every child) runs on
    the measuring worker's cores.

    Raises:
        RuntimeError: when this platform has no `fork`, or the stack fails to import or takes
            longer than `timeout` (with the server's last error lines).
    """

    def __init__(
        self, stack: tuple[str, ...], *, timeout: float = IMPORT_TIMEOUT_S,
        idle_exit: float = IDLE_EXIT_S,
    ) -> None:
        if not hasattr(os, "fork"):
            raise RuntimeError(
                "timing a skillset's import on top of its stack needs os.fork (POSIX); "
                "run without import timing here (measure_import=False, `--skip-import-time`)"
            )
        self.stack = tuple(stack)
        self._stderr = tempfile.TemporaryFile()
        self._buffer = b""
        # Its own session, so a timed-out server is killed with the child it may have forked.
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(idle_exit), *self.stack],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=dict(os.environ), start_new_session=True, bufsize=0,
        )
        try:
            first = self._reply(f"the stack {list(self.stack)}", timeout)
        except BaseException:
            self.close()
            raise
        self.stack_import = StackImport(self.stack, first["seconds"], first["cumulative"])

    @property
    def alive(self) -> bool:
        """Whether the server process still runs (it exits after `idle_exit` idle seconds)."""
        return self._proc.poll() is None

    def import_seconds(self, modules: list[str], timeout: float = IMPORT_TIMEOUT_S) -> float:
        """Seconds a fresh child forked from the server takes to import `modules`, in order.

        Raises:
            RuntimeError: when the import fails (the server stays up) or times out, or the
                server has ended (it is then closed).
        """
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write((json.dumps(list(modules)) + "\n").encode())
        except (BrokenPipeError, OSError):
            self.close()
            raise RuntimeError(
                f"the import server for {list(self.stack)} ended before importing {modules}:"
                f"\n{self._stderr_tail()}"
            ) from None
        try:
            return float(self._reply(str(modules), timeout)["seconds"])
        except RuntimeError:
            if not self.alive:  # timed out (killed) or ended: release its pipes and file
                self.close()
            raise

    def close(self, wait: float = 5.0) -> None:
        """Stop the server: its stdin closes and it exits, or is killed after `wait` seconds."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._kill()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()

    def _stderr_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(ValueError, OSError):  # closed already: nothing to show
            self._stderr.seek(0)
            return "\n".join(self._stderr.read().decode(errors="replace").splitlines()[-lines:])
        return ""

    def _reply(self, what: str, timeout: float) -> dict[str, Any]:
        """The server's next reply line, within `timeout` seconds."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        # select + os.read on the raw pipe, not readline: a reply that never comes must time
        # out instead of blocking the worker for ever.
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._kill()
                raise RuntimeError(f"importing {what} took over {timeout:.0f} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self._proc.wait()
                raise RuntimeError(
                    f"importing {what} failed (the import server exited {code}):\n"
                    f"{self._stderr_tail()}"
                )
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            tail = "\n".join(reply["error"].strip().splitlines()[-5:])
            raise RuntimeError(f"importing {what} failed:\n{tail}")
        return reply


@dataclass(frozen=True)
class ImportTiming:
    """A skillset's import on top of its stack, and the stack's cold import of this run while
    no task of this process has delivered it yet (`stack_delivered`); else None."""

    seconds: float
    stack: StackImport | None


_lock = threading.Lock()
#: stack -> (run id it was started for, server), per process.
_servers: dict[tuple[str, ...], tuple[str, ImportServer]] = {}
#: (run id, stack) whose cold import a task of this process has stored in its rows.
_delivered: set[tuple[str, tuple[str, ...]]] = set()
#: Stacks imported into this process and frozen out of the garbage collector's scans.
_frozen: set[tuple[str, ...]] = set()


def import_here(stack: tuple[str, ...], modules: Sequence[str]) -> float:
    """Import `stack` and then `modules` into this process, outside every timed phase (so the
    load phases that follow pay for no import), and the first time a stack is imported here
    freeze what is alive (`gc.collect()`, then `gc.freeze()`). Returns the seconds it took
    (worker overhead, not a stored metric: the first task of a worker pays the stack).

    Why freeze: the stack is ~400k objects that live as long as the process, and every
    explicit `gc.collect()` of a task (before each timed loop, each memory pass) would rescan
    them: 0.75 s a collection on a loaded 2-core VM, ~3 s of a tiny gpt2 task, against under
    a millisecond once frozen. The timed loops run with the collector off either way, so no
    figure changes; what is frozen is never collected, so this is done once per process, when
    nearly everything alive is module state.
    """
    started = time.perf_counter()
    for name in (*stack, *modules):
        importlib.import_module(name)
    with _lock:
        if stack not in _frozen:
            gc.collect()
            gc.freeze()
            _frozen.add(stack)
    return time.perf_counter() - started


def import_on_stack(
    modules: list[str], stack: tuple[str, ...], run_id: str, *,
    timeout: float = IMPORT_TIMEOUT_S,
) -> ImportTiming:
    """Time `modules` imported by a fresh child of this process's import server for `stack`.

    The server is started when there is none for `stack`, when it exited, or when it was
    started for another run: each run measures the stack's cold import afresh, once per
    process. `ImportTiming.stack` carries it until a task says it stored it
    (`stack_delivered`): a task that fails after this call leaves it to the next one.

    Raises:
        RuntimeError: see `ImportServer`.
    """
    with _lock:
        held = _servers.get(stack)
        if held is None or held[0] != run_id or not held[1].alive:
            if held is not None:
                held[1].close()
                del _servers[stack]
            _servers[stack] = (run_id, ImportServer(stack, timeout=timeout))
        server = _servers[stack][1]
        pending = (run_id, stack) not in _delivered
        return ImportTiming(
            server.import_seconds(modules, timeout), server.stack_import if pending else None
        )


def stack_delivered(run_id: str, stack: tuple[str, ...]) -> None:
    """Record that a task of this process stored the cold import of `stack` for `run_id`."""
    with _lock:
        _delivered.add((run_id, stack))


@atexit.register
def close_import_servers() -> None:
    """Stop every import server of this process, at once: at exit nothing waits for them (a
    Dask nanny kills a worker that takes over 4 s to close)."""
    with _lock:
        for _, server in _servers.values():
            server.close(wait=0)
        _servers.clear()
