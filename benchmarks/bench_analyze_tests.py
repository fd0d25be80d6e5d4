"""Test-suite analysis speed (issue #22 goal: 10k test functions in under a minute).

    python benchmarks/bench_analyze_tests.py                  # a synthetic suite of 10k tests
    python benchmarks/bench_analyze_tests.py --tests 2000     # a smaller one
    python benchmarks/bench_analyze_tests.py --paths tests SKLEARN_DIR   # real suites

The synthetic suite (seeded) has 100 modules of 100 tests: families of five copies that differ
only in literals, families of near copies (one statement added or removed), and tests built
from random statements. The analysis is timed from reading the files to the smell rules (the
deprecated-API list is read first, from the installed transformers and torch, and timed apart),
then the rows are stored in a temporary warehouse through the validated load path.

With --paths the script prints what the issue's "Show" asks for on each suite: the counts, the
five largest clusters, the five largest with a proposed parametrization (written out), and the
time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

from skillsets.testsuite.analysis import SuiteAnalysis, analyze_suite  # noqa: E402
from skillsets.testsuite.deprecations import installed_deprecations  # noqa: E402
from skillsets.testsuite.plan import suite_shape  # noqa: E402
from skillsets.testsuite.records import analysis_rows  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402
from warehouse.testsuite import store_analysis  # noqa: E402

_STATEMENTS = (
    "result = model_{a}(inputs, size={n})",
    "assert result.shape == ({n}, {m})",
    "frame = load('{s}', rows={n})",
    "for row in frame:\n        assert row['{s}'] >= {n}",
    "with pytest.raises(ValueError, match='{s}'):\n        check({n})",
    "values = [x * {n} for x in range({m})]",
    "assert sum(values) == {n}",
    "config = Config(name='{s}', layers={n}, hidden={m})",
    "if config.layers > {n}:\n        config = config.replace(layers={m})",
    "output = run_{a}(config, seed={n})",
    "assert output.loss < {n}.5",
    "np.testing.assert_allclose(output.logits, expected_{a}, rtol=1e-{n})",
)


def _statement(rng: random.Random) -> str:
    template = rng.choice(_STATEMENTS)
    return template.format(
        a=rng.choice("abcdef"), n=rng.randint(1, 9), m=rng.randint(10, 99),
        s=rng.choice(["bert", "gpt2", "t5", "vit", "clip", "whisper"]),
    )


def _function(name: str, lines: list[str]) -> str:
    return f"def {name}(tmp_path):\n" + "\n".join(f"    {line}" for line in lines) + "\n"


def synthetic_suite(folder: Path, tests: int, seed: int = 0) -> int:
    """Write `tests` test functions into modules of 100; return the number written."""
    rng = random.Random(seed)
    written = 0
    module = 0
    while written < tests:
        chunks = ["import numpy as np\nimport pytest\n"]
        in_module = 0
        while in_module < 100 and written < tests:
            kind = rng.random()
            base = [_statement(rng) for _ in range(rng.randint(4, 12))]
            if kind < 0.3:  # five copies differing only in literals
                for copy in range(min(5, tests - written)):
                    lines = [line.replace("1", str(copy + 1)) for line in base]
                    chunks.append(_function(f"test_family_{written}", lines))
                    written += 1
                    in_module += 1
            elif kind < 0.45:  # two near copies
                chunks.append(_function(f"test_near_{written}", base))
                chunks.append(_function(f"test_near_{written + 1}", [*base, _statement(rng)]))
                written += 2
                in_module += 2
            else:
                chunks.append(_function(f"test_single_{written}", base))
                written += 1
                in_module += 1
        (folder / f"test_module_{module:03d}.py").write_text("\n\n".join(chunks))
        module += 1
    return written


def show(analysis: SuiteAnalysis, store_seconds: float, largest: int) -> None:
    """Print the counts, the largest clusters with their proposals, and the times."""
    shape = suite_shape(analysis)
    print(json.dumps({k: v for k, v in shape.items()}, indent=1))
    print(f"analysis {analysis.seconds:.2f} s, "
          f"{len(analysis.tests) / analysis.seconds:.0f} tests/s; store {store_seconds:.2f} s")
    for cluster in analysis.clusters[:largest]:
        print(f"largest: {cluster.cluster_id} ({cluster.kind}, {len(cluster.members)} tests, "
              f"-{cluster.lines_removed} lines)")
    proposed = [c for c in analysis.clusters if c.proposal is not None]
    print(f"\n{len(proposed)} clusters with a proposed parametrization; the largest:")
    for cluster in proposed[:largest]:
        print(f"\n## {cluster.cluster_id} ({cluster.kind}, {len(cluster.members)} tests, "
              f"-{cluster.lines_removed} lines, similarity {cluster.similarity})")
        for member in cluster.members[:8]:
            print(f"  {member}")
        if len(cluster.members) > 8:
            print(f"  ... {len(cluster.members) - 8} more")
        for difference in cluster.differences[:6]:
            print(f"  differs ({difference.kind}): {', '.join(difference.values[:6])}")
        print(cluster.proposal)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000, help="synthetic suite size")
    parser.add_argument("--paths", nargs="*", help="analyse these suites instead, one by one")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--largest", type=int, default=5, help="clusters to print in full")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    deprecated, versions = installed_deprecations()
    print(f"deprecated APIs: {len(deprecated)} from {versions} "
          f"in {time.perf_counter() - started:.2f} s (a scan, no cache)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.paths:
            suites = [[path] for path in args.paths]
        else:
            (root / "suite").mkdir()
            count = synthetic_suite(root / "suite", args.tests)
            print(f"synthetic suite: {count} tests")
            suites = [[str(root / "suite")]]
        for number, paths in enumerate(suites):
            print(f"\n# {', '.join(paths)}")
            cpu = time.process_time()
            analysis = analyze_suite(
                paths, threshold=args.threshold, deprecated=deprecated, packages=versions
            )
            # CPU seconds too: on a machine shared with other jobs the wall time is mostly
            # waiting for a core.
            cpu = time.process_time() - cpu
            rows = analysis_rows(
                analysis, analysis_id=f"bench-{number}", analyzed_at=datetime.now(UTC),
                git_sha="bench",
            )
            stored = time.perf_counter()
            with Warehouse.open(root / "wh.duckdb", quarantine_dir=root / "q") as wh:
                store_analysis(wh, rows)
            print(f"analysis CPU {cpu:.2f} s, load average now {os.getloadavg()[0]:.2f}")
            show(analysis, time.perf_counter() - stored, args.largest)


if __name__ == "__main__":
    main()
