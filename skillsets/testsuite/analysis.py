"""One analysis of a suite: inventory, fingerprints, clusters and smells, with its timing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from skillsets.testsuite.blocks import MIN_BLOCK_LINES, find_shared_blocks
from skillsets.testsuite.clusters import Cluster, find_clusters
from skillsets.testsuite.deprecations import DeprecatedApi
from skillsets.testsuite.fingerprint import Fingerprint, fingerprint
from skillsets.testsuite.inventory import TestFunction, TestModule, find_test_files, read_module
from skillsets.testsuite.smells import LONG_TEST_LINES, Rule, Smell, find_smells


@dataclass(frozen=True)
class SuiteAnalysis:
    """Everything `analyze_suite` found.

    Attributes:
        paths: the paths analysed, as given.
        modules: one inventory per file; unparsable files have `error` set.
        tests: every test, in suite order.
        fingerprints: `fingerprints[i]` is the fingerprint of `tests[i]`.
        clusters: exact, near and block clusters, most lines removed first.
        smells: every finding.
        threshold: the near-duplicate Jaccard threshold used.
        seconds: wall time of the analysis (reading to smells), in seconds.
        packages: versions of the packages whose deprecations were checked.
    """

    paths: tuple[str, ...]
    modules: tuple[TestModule, ...]
    tests: tuple[TestFunction, ...]
    fingerprints: tuple[Fingerprint, ...]
    clusters: tuple[Cluster, ...]
    smells: tuple[Smell, ...]
    threshold: float
    seconds: float
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def unparsable(self) -> list[TestModule]:
        """Modules that did not parse."""
        return [m for m in self.modules if m.error is not None]

    def fixture_uses(self) -> Counter[str]:
        """How many tests request each fixture name."""
        return Counter(name for test in self.tests for name in test.fixtures)


def _display_paths(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Each test file with the path it is shown and stored under: relative to the folder above
    the argument it was found from (`tests/test_x.py`, `sklearn/svm/tests/test_svm.py`)."""
    shown: dict[Path, str] = {}
    for raw in paths:
        root = Path(raw).resolve().parent
        for path in find_test_files([raw]):
            shown.setdefault(path, path.resolve().relative_to(root).as_posix())
    return sorted(shown.items(), key=lambda item: item[1])


def analyze_suite(
    paths: Sequence[str | Path],
    *,
    threshold: float = 0.8,
    deprecated: Mapping[str, DeprecatedApi] | None = None,
    packages: Mapping[str, str] | None = None,
    rules: Iterable[Rule] | None = None,
    long_lines: int = LONG_TEST_LINES,
    min_block_lines: int = MIN_BLOCK_LINES,
) -> SuiteAnalysis:
    """Read every test module under `paths` with `ast` and analyse it; nothing is imported or run.

    Args:
        paths: test files or folders (searched for `test_*.py`, `*_test.py`, `conftest.py`).
        threshold: Jaccard threshold of near-duplicate clusters, in (0, 1]; 1 = exact only.
        deprecated: short name -> deprecated API for the `deprecated-api` rule
            (`deprecations.installed_deprecations()`); None disables it.
        packages: the versions `deprecated` was read from, kept with the analysis.
        rules: the smell rules to apply (default all).
        long_lines: the line limit of the `long-test` rule.
        min_block_lines: shortest run of statements shared by tests that makes a `block`
            cluster (see `blocks.py`); 0 = no block clusters.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: the threshold is outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} is not in (0, 1]; try 0.8")
    started = time.perf_counter()
    modules = tuple(read_module(path, shown) for path, shown in _display_paths(paths))
    tests = tuple(test for module in modules for test in module.tests)
    prints = tuple(fingerprint(test.node) for test in tests)
    found = find_clusters(tests, prints, threshold)
    if min_block_lines:
        found += find_shared_blocks(tests, min_block_lines)
    clusters = tuple(sorted(found, key=lambda c: -c.lines_removed))
    smells = tuple(find_smells(modules, deprecated, rules=rules, long_lines=long_lines))
    return SuiteAnalysis(
        paths=tuple(str(p) for p in paths),
        modules=modules,
        tests=tests,
        fingerprints=prints,
        clusters=clusters,
        smells=smells,
        threshold=threshold,
        seconds=time.perf_counter() - started,
        packages=dict(packages or {}),
    )
