"""Run one validation in its own process, with a time and a memory limit, and say what happened.

A model that hangs, exhausts memory or crashes the interpreter must cost one record, not the
sweep. Each call therefore runs in a process of its own. Starting a Python interpreter and
importing torch + transformers takes 3-6 s on the reference 2-core machine, which over ~660 model
types would be most of a 10-minute budget, so the start is amortised with a *zygote*:

* `Zygote` starts one helper interpreter per caller process. It imports the heavy modules once
  (`preload`), then waits for jobs on a pipe. It runs no model code itself.
* For each job the zygote `fork()`s a fresh child (about 25 ms: the child shares the already
  imported modules copy-on-write). The child runs the target and writes its pickled result to a
  pipe; the zygote supervises it: wall-clock limit, resident-memory limit (polled with psutil
  every `poll_s`), exit status. A child that dies takes nothing with it; the next job gets a new
  one.

Memory is limited by watching the resident set size (RSS) of the child and its descendants
rather than with `RLIMIT_AS`: torch and OpenVINO reserve large virtual address ranges (thread
stacks, allocator arenas) they never touch, so an address-space limit kills healthy models while
RSS measures what actually exhausts a machine.

The child's stdout/stderr go to a log file whose tail is reported with a crash or a timeout, and
`faulthandler` writes the Python stack there on a fatal signal and shortly before the time limit,
so a hang is reported with the frame it hung in.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import psutil

#: What became of a call: returned, raised, killed by a signal / exited early, ran past its time
#: limit, or went over its memory limit.
OutcomeStatus = Literal["ok", "raised", "crashed", "timeout", "memory"]

#: What a zygote imports before its first job when the caller names nothing.
DEFAULT_PRELOAD: tuple[str, ...] = ("torch",)

_GIB = 1024**3
_REPO_ROOT = Path(__file__).resolve().parents[2]
#: Descendants of a child (rare: a model that starts processes) are looked up this often, in
#: seconds; the child itself is sampled every `poll_s` (listing descendants scans /proc).
_DESCENDANTS_EVERY_S = 1.0
_LOG_TAIL_CHARS = 4000
_PR_SET_PDEATHSIG = 1

_SIGNAL_MEANING = {
    signal.SIGSEGV: "segmentation fault (native code read invalid memory)",
    signal.SIGABRT: "aborted (a native library called abort(), e.g. a failed C++ assertion)",
    signal.SIGKILL: "killed with SIGKILL (the kernel OOM killer does this when memory runs out)",
    signal.SIGBUS: "bus error (invalid memory access in native code)",
    signal.SIGFPE: "floating-point exception in native code",
    signal.SIGILL: "illegal instruction (a kernel built for a CPU feature this machine lacks)",
    signal.SIGTERM: "terminated with SIGTERM",
}


#: Seconds one model type may take on one hardware in a sweep. A tiny random-weight model runs
#: every check in under a minute on one idle core; the limit leaves room for a loaded machine
#: (a sweep beside other work), past it a model is recorded as a timeout saying where it was.
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class IsolationLimits:
    """Limits one isolated call runs under.

    Attributes:
        timeout_s: Wall-clock seconds the call may run (from the fork to its result).
        memory_bytes: Resident memory the child (with its descendants) may hold; None = no limit.
        threads: Threads torch may use in the child (`torch.set_num_threads`) and
            `OMP_NUM_THREADS` of the zygote; keep it at the cores one worker owns.
        poll_s: How often the zygote samples the child's memory, in seconds.
    """

    timeout_s: float = 180.0
    memory_bytes: int | None = 4 * _GIB
    threads: int = 1
    poll_s: float = 0.1

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"memory_bytes must be > 0 or None, got {self.memory_bytes}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not 0 < self.poll_s <= 1:
            raise ValueError(f"poll_s must be in (0, 1] seconds, got {self.poll_s}")


@dataclass
class Outcome:
    """What one isolated call did.

    Attributes:
        status: `ok` (returned `value`), `raised` (an exception escaped the target),
            `crashed` (the process died: signal or early exit), `timeout`, `memory`.
        value: The target's return value when `ok`.
        error_type: Exception class name (`raised`), `Crash`, `Timeout` or `MemoryLimitExceeded`.
        message: One line a person can act on.
        traceback: Python traceback (`raised`), or the stack faulthandler dumped (crash, timeout).
        log_tail: Last lines the child wrote to stdout/stderr.
        seconds: Wall time from fork to the end of the child, in seconds.
        start_seconds: Time from the request to the child running the target (process start), s.
        peak_rss_bytes: Largest resident memory seen for the child and its descendants.
        exit_code: The child's exit code, or the negative signal number that killed it.
    """

    status: OutcomeStatus
    value: Any = None
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    log_tail: str = ""
    seconds: float = 0.0
    start_seconds: float = 0.0
    peak_rss_bytes: int | None = None
    exit_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the target returned normally."""
        return self.status == "ok"


@dataclass(frozen=True)
class _Job:
    payload: bytes  # pickled (target, args, kwargs): unpickled only in the forked child
    limits: IsolationLimits
    sys_path: tuple[str, ...]
    sent_at: float  # time.time() in the caller, so the child can measure process start


class ZygoteError(RuntimeError):
    """The helper interpreter could not be started or stopped answering."""


# --------------------------------------------------------------------------- caller side


class Zygote:
    """One helper interpreter that forks a supervised child per call.

    Not thread-safe: one caller thread at a time (use `ZygotePool` for several).

    Args:
        preload: Modules to import once in the helper before the first job; `module:function`
            also calls `function()` (to warm a cache the children inherit).
        threads: Sets `OMP_NUM_THREADS` of the helper (and so of every child).
        start_timeout_s: Seconds to wait for the helper to import `preload`.
    """

    def __init__(
        self,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        *,
        threads: int = 1,
        start_timeout_s: float = 300.0,
    ) -> None:
        self.preload = tuple(preload)
        self.threads = threads
        self.start_timeout_s = start_timeout_s
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    @property
    def alive(self) -> bool:
        """Whether the helper process is running."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the helper and wait until it has imported `preload`.

        Raises:
            ZygoteError: when a preload import fails or the helper does not answer in time.
        """
        if self.alive:
            return
        started = time.perf_counter()
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(self.threads)
        # The helper imports this module by name: make the checkout importable however we run.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO_ROOT), env.get("PYTHONPATH")) if p
        )
        code = "from skillsets.validation.isolate import zygote_main; zygote_main()"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, *self.preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._send = Connection(os.dup(self._proc.stdin.fileno()), readable=False)
        self._recv = Connection(os.dup(self._proc.stdout.fileno()), writable=False)
        self._proc.stdin.close()
        self._proc.stdout.close()
        if not self._recv.poll(self.start_timeout_s):
            self.close()
            raise ZygoteError(
                f"the validation helper did not finish importing {list(self.preload)} within "
                f"{self.start_timeout_s:.0f} s; the machine may be overloaded"
            )
        try:
            hello = self._recv.recv()
        except EOFError:
            code_ = self._proc.wait()
            self.close()
            raise ZygoteError(
                f"the validation helper exited with code {code_} while importing "
                f"{list(self.preload)}; "
                "run those imports in this venv to see why"
            ) from None
        if hello.get("error"):
            self.close()
            raise ZygoteError(
                f"the validation helper could not import its preload: {hello['error']}"
            )
        self.start_seconds = time.perf_counter() - started

    def call(
        self,
        target: Callable[..., Any],
        *args: Any,
        limits: IsolationLimits | None = None,
        **kwargs: Any,
    ) -> Outcome:
        """Run `target(*args, **kwargs)` in a fresh child forked from the helper.

        `target` must be importable by name (a module-level function); arguments and the return
        value must pickle. A helper that died (killed from outside) is restarted once.
        """
        limits = limits or IsolationLimits()
        payload = pickle.dumps((target, args, kwargs))
        for attempt in (1, 2):
            self.start()
            job = _Job(payload, limits, tuple(sys.path), time.time())
            try:
                return self._exchange(job)
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
                self.close()
                if attempt == 2:
                    raise ZygoteError(
                        "the validation helper died twice while supervising a call"
                    ) from None
        raise AssertionError("unreachable")

    def _exchange(self, job: _Job) -> Outcome:
        assert self._send is not None and self._recv is not None
        self._send.send(job)
        # The helper enforces the limit; this backstop only catches a helper that stopped answering.
        if not self._recv.poll(job.limits.timeout_s + 60.0):
            self.close()
            return Outcome(
                "timeout",
                error_type="Timeout",
                message=f"no answer from the validation helper {job.limits.timeout_s + 60:.0f} s "
                "after the call started; the helper was killed",
                seconds=job.limits.timeout_s + 60.0,
            )
        return self._recv.recv()

    def close(self) -> None:
        """Stop the helper (its children die with it)."""
        for conn in (self._send, self._recv):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._send = self._recv = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> Zygote:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZygotePool:
    """Zygotes shared by the threads of one process: a thread borrows one per call.

    A Dask worker with one task slot uses one; a thread pool of N uses N. Zygotes are started on
    first use and kept until `close()`.
    """

    def __init__(self, preload: tuple[str, ...] = DEFAULT_PRELOAD, *, threads: int = 1) -> None:
        self.preload = tuple(preload)
        self.threads = threads
        self._idle: list[Zygote] = []
        self._all: list[Zygote] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Zygote]:
        """A zygote for the calling thread, returned to the pool afterwards."""
        with self._lock:
            if self._idle:
                zygote = self._idle.pop()
            else:
                zygote = Zygote(self.preload, threads=self.threads)
                self._all.append(zygote)
        try:
            yield zygote
        finally:
            with self._lock:
                self._idle.append(zygote)

    def call(
        self,
        target: Callable[..., Any],
        *args: Any,
        limits: IsolationLimits | None = None,
        **kwargs: Any,
    ) -> Outcome:
        """`Zygote.call` on a borrowed zygote."""
        with self.borrow() as zygote:
            return zygote.call(target, *args, limits=limits, **kwargs)

    def close(self) -> None:
        """Stop every zygote of the pool."""
        with self._lock:
            for zygote in self._all:
                zygote.close()
            self._all.clear()
            self._idle.clear()


_PROCESS_POOLS: dict[tuple[tuple[str, ...], int], ZygotePool] = {}
_PROCESS_POOLS_LOCK = threading.Lock()


def process_pool(preload: tuple[str, ...] = DEFAULT_PRELOAD, *, threads: int = 1) -> ZygotePool:
    """The pool of this process for `preload`/`threads` (a Dask worker keeps one across tasks)."""
    key = (tuple(preload), threads)
    with _PROCESS_POOLS_LOCK:
        if key not in _PROCESS_POOLS:
            _PROCESS_POOLS[key] = ZygotePool(preload, threads=threads)
        return _PROCESS_POOLS[key]


def run_isolated(
    target: Callable[..., Any],
    *args: Any,
    limits: IsolationLimits | None = None,
    preload: tuple[str, ...] = DEFAULT_PRELOAD,
    **kwargs: Any,
) -> Outcome:
    """Run `target(*args, **kwargs)` in its own process under `limits`; never raises for the target.

    Uses this process's zygote pool, so only the first call pays the interpreter start.
    """
    limits = limits or IsolationLimits()
    return process_pool(preload, threads=limits.threads).call(
        target, *args, limits=limits, **kwargs
    )


# --------------------------------------------------------------------------- helper side


def zygote_main() -> None:
    """Entry point of the helper interpreter: preload, then supervise one forked child per job.

    The protocol runs over the original stdin/stdout; both are moved aside first so that output
    from imported modules cannot corrupt it (stdout then goes to stderr).
    """
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    recv = Connection(proto_in, writable=False)
    send = Connection(proto_out, readable=False)
    _die_with_parent()
    try:
        for name in sys.argv[1:]:
            _preload(name)
    except Exception as exc:  # reported to the caller, which raises ZygoteError with it
        send.send({"error": f"{name}: {type(exc).__name__}: {exc}"})
        return
    send.send({"ready": True, "pid": os.getpid()})
    while True:
        try:
            job = recv.recv()
        except EOFError:
            return
        send.send(_supervise(job))


def _preload(name: str) -> None:
    """Import `module`, or import `module` and call its `function` for `module:function`.

    A call warms a cache every child then inherits (e.g. a catalog read from disk). It must not
    start threads: the zygote forks, and a fork copies only the calling thread.
    """
    module_name, _, function = name.partition(":")
    module = importlib.import_module(module_name)
    if function:
        getattr(module, function)()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _supervise(job: _Job) -> Outcome:
    """Fork a child for `job`, enforce its limits, and turn how it ended into an `Outcome`."""
    limits = job.limits
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile(prefix="skillsets-validate-")
    forked = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(job, write_fd, log.fileno())
    os.close(write_fd)
    result = bytearray()
    peak = 0
    killed: OutcomeStatus | None = None
    status = None
    try:
        child = psutil.Process(pid)
    except psutil.NoSuchProcess:
        child = None
    deadline = forked + limits.timeout_s
    eof = False
    rss = _RssSampler(child)
    while True:
        if not eof:
            ready, _, _ = select.select([read_fd], [], [], limits.poll_s)
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if chunk:
                    result += chunk
                else:
                    eof = True
        else:
            time.sleep(min(limits.poll_s, 0.01))
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        now_rss = rss.sample()
        peak = max(peak, now_rss)
        if limits.memory_bytes is not None and now_rss > limits.memory_bytes:
            killed = "memory"
        elif time.perf_counter() > deadline:
            killed = "timeout"
        if killed:
            _kill_tree(child, pid)
            _, status = os.waitpid(pid, 0)
            break
    seconds = time.perf_counter() - forked
    if not killed:
        result += _drain(read_fd)
    os.close(read_fd)
    log.seek(0)
    log_text = log.read().decode("utf-8", "replace")
    log.close()
    return _classify(job, bytes(result), status, killed, seconds, peak or None, log_text)


def _child(job: _Job, write_fd: int, log_fd: int) -> None:
    """Body of the forked child: run the target, write the pickled result, `_exit`."""
    code = 0
    try:
        _die_with_parent()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        faulthandler.enable(file=sys.stderr, all_threads=True)
        # Dump the stack just before the supervisor's deadline, so a hang names its frame.
        faulthandler.dump_traceback_later(max(job.limits.timeout_s * 0.95 - 0.2, 0.05), exit=False)
        for path in reversed(job.sys_path):
            if path not in sys.path:
                sys.path.insert(0, path)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(job.limits.threads)
        started = time.time()
        try:
            target, args, kwargs = pickle.loads(job.payload)
            value = target(*args, **kwargs)
            reply: dict[str, Any] = {"ok": True, "value": value}
        except BaseException as exc:  # everything the target raises is the result, not a crash
            reply = {
                "ok": False,
                "error_type": type(exc).__qualname__,
                "message": _first_line(str(exc)) or type(exc).__qualname__,
                "traceback": traceback.format_exc(),
            }
        reply["start_seconds"] = max(started - job.sent_at, 0.0)
        faulthandler.cancel_dump_traceback_later()
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # an unpicklable value is the target's defect: say so
            data = pickle.dumps(
                {
                    "ok": False,
                    "error_type": "PicklingError",
                    "message": "the result of the call could not be pickled: "
                    f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "start_seconds": reply["start_seconds"],
                }
            )
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # the child must never fall back into the zygote's loop
        code = 70
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        os._exit(code)


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class _RssSampler:
    """Resident memory of a process and its descendants; descendants re-listed once a second."""

    def __init__(self, proc: psutil.Process | None) -> None:
        self.proc = proc
        self.descendants: list[psutil.Process] = []
        self.listed_at = time.perf_counter()

    def sample(self) -> int:
        if self.proc is None:
            return 0
        now = time.perf_counter()
        if now - self.listed_at >= _DESCENDANTS_EVERY_S:
            with contextlib.suppress(psutil.Error):
                self.descendants = self.proc.children(recursive=True)
            self.listed_at = now
        total = 0
        for p in (self.proc, *self.descendants):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total


def _kill_tree(proc: psutil.Process | None, pid: int) -> None:
    descendants: list[psutil.Process] = []
    if proc is not None:
        with contextlib.suppress(psutil.Error):
            descendants = proc.children(recursive=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for p in descendants:
        with contextlib.suppress(psutil.Error):
            p.kill()


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _tail(text: str) -> str:
    return text[-_LOG_TAIL_CHARS:]


def _faulthandler_stack(log_text: str) -> str:
    """The last stack faulthandler dumped into the log, or empty."""
    marker = max(
        log_text.rfind("Thread 0x"),
        log_text.rfind("Current thread 0x"),
        log_text.rfind("Fatal Python error"),
    )
    return log_text[marker:] if marker >= 0 else ""


def _innermost_frame(stack: str) -> str:
    """`file, line N in function` of the current thread's innermost frame in a faulthandler dump."""
    section = stack
    current = stack.find("Current thread")
    if current >= 0:
        section = stack[current:]
    for line in section.splitlines():
        line = line.strip()
        if line.startswith("File "):
            return line.removeprefix("File ").replace('"', "")
    return ""


def _classify(
    job: _Job,
    result: bytes,
    status: int | None,
    killed: OutcomeStatus | None,
    seconds: float,
    peak: int | None,
    log_text: str,
) -> Outcome:
    exit_code = None
    if status is not None:
        exit_code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    stack = _faulthandler_stack(log_text)
    common = {
        "seconds": seconds,
        "peak_rss_bytes": peak,
        "exit_code": exit_code,
        "log_tail": _tail(log_text),
    }
    if killed == "timeout":
        where = _innermost_frame(stack)
        return Outcome(
            "timeout",
            error_type="Timeout",
            message=f"ran past the {job.limits.timeout_s:g} s limit"
            + (f"; it was in {where}" if where else ""),
            traceback=stack or None,
            **common,
        )
    if killed == "memory":
        assert job.limits.memory_bytes is not None
        return Outcome(
            "memory",
            error_type="MemoryLimitExceeded",
            message=f"resident memory passed the {job.limits.memory_bytes / _GIB:.1f} GiB limit "
            f"(peak seen {(peak or 0) / _GIB:.2f} GiB); the process was killed",
            **common,
        )
    reply = None
    if result:
        try:
            reply = pickle.loads(result)
        except Exception as exc:  # a truncated result is a crash mid-write, reported as such
            log_text += f"\n[the child's result could not be read: {type(exc).__name__}: {exc}]"
    if reply is not None and exit_code == 0:
        start = reply.get("start_seconds", 0.0)
        if reply["ok"]:
            return Outcome("ok", value=reply["value"], start_seconds=start, **common)
        status_: OutcomeStatus = "memory" if reply["error_type"] == "MemoryError" else "raised"
        return Outcome(
            status_,
            error_type=reply["error_type"],
            message=reply["message"],
            traceback=reply["traceback"],
            start_seconds=start,
            **common,
        )
    if exit_code is not None and exit_code < 0:
        signum = -exit_code
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        meaning = _SIGNAL_MEANING.get(signum, f"killed by {name}")
        where = _innermost_frame(stack)
        message = f"process died: {name}, {meaning}" + (f"; in {where}" if where else "")
    else:
        last = _first_line("\n".join(log_text.strip().splitlines()[-1:]))
        message = f"process exited with code {exit_code} before returning a result" + (
            f"; last output: {last}" if last else ""
        )
    return Outcome(
        "crashed", error_type="Crash", message=message, traceback=stack or None, **common
    )
