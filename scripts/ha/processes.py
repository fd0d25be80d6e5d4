"""Start long-running processes detached, with a PID file and a log each; stop only those.

A PID file holds the PID and the process's start time (field 22 of /proc/PID/stat), so a stop
never signals an unrelated process that was given a recycled PID. Hand-written because the
supervisors that do this (systemd, supervisord) are not what a developer's `make ha-up` can rely
on, and these few functions are all the stack needs.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Recorded:
    """A process started by this stack, as its PID file recorded it."""

    name: str
    pid: int
    start_time: str


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if it is gone/zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def pid_file(pid_dir: Path, name: str) -> Path:
    return pid_dir / f"{name}.pid"


def read(pid_dir: Path, name: str) -> Recorded | None:
    """The recorded process `name` if it is still the very process that was started, else None."""
    path = pid_file(pid_dir, name)
    if not path.is_file():
        return None
    pid_text, _, start = path.read_text().strip().partition(" ")
    pid = int(pid_text)
    if _start_time(pid) != start:
        return None
    return Recorded(name, pid, start)


def start(
    name: str,
    argv: Sequence[str],
    *,
    pid_dir: Path,
    log_dir: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
) -> Recorded:
    """Start `argv` in its own session (so a stop reaches its children); log to <name>.log.

    Args:
        user: run as this user (PostgreSQL refuses to run as root).

    Raises:
        RuntimeError: `name` is already running (stop it first), or it exited at once (the
            message names its log).
    """
    if (running := read(pid_dir, name)) is not None:
        raise RuntimeError(f"{name} is already running (pid {running.pid}); stop it first")
    pid_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    start_time = None
    for _ in range(50):
        start_time = _start_time(process.pid)
        if start_time is not None:
            break
        time.sleep(0.02)
    if start_time is None or process.poll() is not None:
        raise RuntimeError(f"{name} exited at once (code {process.poll()}); see {log_path}")
    pid_file(pid_dir, name).write_text(f"{process.pid} {start_time}\n")
    return Recorded(name, process.pid, start_time)


def _reap(pid: int) -> None:
    """Collect `pid` if this process is its parent, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def _descendants(pid: int) -> list[psutil.Process]:
    """Every live descendant of `pid`, including those in sessions of their own (a Prefect
    worker starts each flow run in a new session, so its process group does not reach them)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def stop(
    pid_dir: Path, name: str, *, sig: signal.Signals = signal.SIGTERM, group: bool = True,
    timeout: float = 30.0,
) -> bool:
    """Stop the recorded process `name` (and, when `group`, its process group and every
    descendant left after it exits), SIGKILL after `timeout`; remove its PID file. Returns
    whether a live process was stopped."""
    recorded = read(pid_dir, name)
    pid_file(pid_dir, name).unlink(missing_ok=True)
    if recorded is None:
        return False
    descendants = _descendants(recorded.pid) if group else []
    send = os.killpg if group else os.kill
    try:
        send(recorded.pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(recorded.pid)
        if _start_time(recorded.pid) != recorded.start_time:
            break
        time.sleep(0.1)
    else:
        send(recorded.pid, signal.SIGKILL)
    if group:
        # Children that outlived their leader (a flow run and its Dask workers) go with it.
        try:
            os.killpg(recorded.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _kill_all([p for p in descendants if p.is_running()])
    _reap(recorded.pid)
    return True


def kill(pid_dir: Path, name: str, *, tree: bool = False) -> Recorded:
    """SIGKILL the recorded process `name` without cleanup (a failover drill), with every
    descendant when `tree` (a machine lost); keep no PID file.

    Raises:
        RuntimeError: `name` is not running.
    """
    recorded = read(pid_dir, name)
    if recorded is None:
        raise RuntimeError(f"{name} is not running; nothing to kill")
    descendants = _descendants(recorded.pid) if tree else []
    os.kill(recorded.pid, signal.SIGKILL)
    _kill_all(descendants)
    for _ in range(100):
        _reap(recorded.pid)
        if _start_time(recorded.pid) is None:
            break
        time.sleep(0.05)
    pid_file(pid_dir, name).unlink(missing_ok=True)
    return recorded


def wait_http(
    url: str, *, timeout: float, headers: Mapping[str, str] | None = None, name: str = "",
    log: Path | None = None,
) -> None:
    """Poll `url` until it answers 200.

    Raises:
        TimeoutError: it did not within `timeout` seconds; names the log to read.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                if response.status == 200:
                    return
                last = response.status
        except urllib.error.HTTPError as exc:
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    where = f"; see {log}" if log else ""
    raise TimeoutError(f"{name or url} did not answer 200 at {url} within {timeout:.0f}s "
                       f"(last: {last}){where}")
