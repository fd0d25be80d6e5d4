"""Our duplicate clusters against pylint's duplicate-code checker (`symilar`) on one suite.

    python -m venv .peer/pylint && .peer/pylint/bin/pip install pylint==4.1.4
    python benchmarks/compare_symilar.py                      # scikit-learn's shipped tests
    python benchmarks/compare_symilar.py --suite tests --threshold 0.8

symilar reports blocks of at least four identical lines (comments, docstrings and imports
ignored here) shared by files. For each block, the occurrences that lie inside test functions
are mapped to the tests that hold them; the block "falls in one of our clusters" when every such
test is a member of one cluster. The other direction: a cluster symilar misses is one for which
no block has two occurrences inside two of its members; those differ by names or literals (or
shape), which a line comparison cannot see.

pylint is a peer tool, not a dependency: it lives in its own venv under the gitignored .peer/.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from skillsets.testsuite.analysis import analyze_suite
from skillsets.testsuite.fingerprint import shingles
from skillsets.testsuite.inventory import TestFunction, find_test_files

_HEADER = re.compile(r"^(\d+) similar lines in (\d+) files$")
_OCCURRENCE = re.compile(r"^==(.+):\[(\d+):(\d+)\]$")


@dataclass(frozen=True)
class Block:
    """One symilar report: its length and its occurrences (path, first line, last line; 1-based)."""

    lines: int
    occurrences: tuple[tuple[str, int, int], ...]


def parse_symilar(text: str) -> list[Block]:
    """The blocks of symilar's report. It prints `[start:end]` as 0-based start, exclusive end."""
    blocks: list[Block] = []
    current: list[tuple[str, int, int]] | None = None
    length = 0
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            if current:
                blocks.append(Block(length, tuple(current)))
            current, length = [], int(header.group(1))
            continue
        occurrence = _OCCURRENCE.match(line)
        if occurrence and current is not None:
            current.append(
                (occurrence.group(1), int(occurrence.group(2)) + 1, int(occurrence.group(3)))
            )
    if current:
        blocks.append(Block(length, tuple(current)))
    return blocks


def _test_at(tests: list[TestFunction], first: int, last: int) -> TestFunction | None:
    """The test whose lines hold the block (a trailing blank line may follow the test)."""
    for test in tests:
        start = test.end_lineno - test.lines + 1
        if start <= first and last <= test.end_lineno + 1:
            return test
    return None


def main() -> None:
    """Run symilar and our analysis on one suite and print the comparison."""
    import sklearn

    default_suite = Path(sklearn.__file__).parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=default_suite)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--symilar", type=Path, default=Path(".peer/pylint/bin/symilar"))
    parser.add_argument("--show", type=int, default=5, help="uncovered blocks to print")
    args = parser.parse_args()
    if not args.symilar.exists():
        sys.exit(f"no symilar at {args.symilar}; install the peer: python -m venv .peer/pylint "
                 "&& .peer/pylint/bin/pip install pylint==4.1.4")
    suite = args.suite.resolve()
    root = suite.parent
    files = [p.relative_to(root).as_posix() for p in find_test_files([suite])]
    print(f"{suite}: {len(files)} files; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")

    started = time.perf_counter()
    done = subprocess.run(
        [str(args.symilar.resolve()), "-i", "--ignore-docstrings", "--ignore-imports", *files],
        cwd=root, capture_output=True, text=True, timeout=1800, check=False,
    )
    symilar_seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or "TOTAL lines" not in done.stdout:
        sys.exit(f"symilar failed ({done.returncode}): {done.stderr[-2000:]}")
    blocks = parse_symilar(done.stdout)

    analysis = analyze_suite([suite], threshold=args.threshold)
    by_path: dict[str, list[TestFunction]] = defaultdict(list)
    for test in analysis.tests:
        by_path[test.path].append(test)
    clusters_of: dict[str, set[str]] = defaultdict(set)
    for cluster in analysis.clusters:
        for member in cluster.members:
            clusters_of[member].add(cluster.cluster_id)
    prints = dict(zip((t.test_id for t in analysis.tests), analysis.fingerprints, strict=True))

    in_tests = covered = 0
    seen: set[str] = set()
    uncovered = []
    for block in blocks:
        tests = {
            found.test_id
            for path, first, last in block.occurrences
            if (found := _test_at(by_path.get(path, []), first, last)) is not None
        }
        if len(tests) < 2:
            continue  # not a duplicate between two tests (module-level code, helpers, one test)
        in_tests += 1
        shared = set.intersection(*(clusters_of[t] for t in tests))
        for cluster_id in set.union(*(clusters_of[t] for t in tests)):
            members = [t for t in tests if cluster_id in clusters_of[t]]
            if len(members) >= 2:
                seen.add(cluster_id)
        if shared:
            covered += 1
        else:
            uncovered.append((block, sorted(tests)))

    missed = [c for c in analysis.clusters if c.cluster_id not in seen]
    kinds = Counter(
        "literals only" if c.literal_only
        else "literals and names" if c.proposal is not None
        else f"{c.kind}: other differences"
        for c in missed
    )
    print(f"symilar: {len(blocks)} blocks in {symilar_seconds:.1f} s; "
          f"ours: {len(analysis.clusters)} clusters in {analysis.seconds:.1f} s "
          f"(threshold {args.threshold})")
    print(f"blocks between two or more tests: {in_tests}; inside one of our clusters: {covered}; "
          f"not: {len(uncovered)}")
    print(f"our clusters symilar reports no block for: {len(missed)} of {len(analysis.clusters)} "
          f"({dict(kinds)})")
    for block, tests in uncovered[: args.show]:
        a, b = (shingles(prints[t].tokens) for t in tests[:2])
        print(f"\nnot in a cluster: {block.lines} lines shared by {len(tests)} tests; "
              f"shape Jaccard of the first two {len(a & b) / len(a | b):.2f}")
        for path, first, last in block.occurrences:
            print(f"  {path}:{first}-{last}")


if __name__ == "__main__":
    main()
