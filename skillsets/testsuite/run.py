"""Analyse, store and report in one call: what `skillsets analyze-tests` and the flow both do."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hardware.fingerprint import git_sha
from skillsets.testsuite.analysis import SuiteAnalysis, analyze_suite
from skillsets.testsuite.blocks import MIN_BLOCK_LINES
from skillsets.testsuite.deprecations import DEFAULT_PACKAGES, installed_deprecations
from skillsets.testsuite.plan import build_plan
from skillsets.testsuite.records import analysis_rows
from skillsets.testsuite.smells import LONG_TEST_LINES, select_rules
from warehouse.store import Warehouse
from warehouse.testsuite import store_analysis
from warehouse.testsuite_report import build_testsuite_report


@dataclass(frozen=True)
class AnalysisOutcome:
    """What one stored analysis produced."""

    analysis_id: str
    analysis: SuiteAnalysis
    plan: Path
    report: Path
    rows: dict[str, int]


def analyze_and_store(
    paths: Sequence[str | Path],
    warehouse: str | Path,
    output_dir: str | Path,
    *,
    threshold: float = 0.8,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    rules: Iterable[str] | None = None,
    long_lines: int = LONG_TEST_LINES,
    min_block_lines: int = MIN_BLOCK_LINES,
    analysis_id: str | None = None,
    cache_dir: Path | None = None,
    quarantine_dir: Path | None = None,
) -> AnalysisOutcome:
    """Analyse the suite under `paths`, store it, and write the plan and the HTML report.

    Args:
        paths: test files or folders.
        warehouse: the DuckDB file; opened for writing once, after the analysis.
        output_dir: folder for `testsuite-plan.md` and `testsuite-report.html`.
        threshold: near-duplicate Jaccard threshold in (0, 1].
        packages: installed packages whose deprecated APIs the `deprecated-api` rule checks;
            empty = none.
        rules: smell rule ids or names (default all).
        long_lines: the `long-test` limit.
        min_block_lines: shortest shared run of statements that makes a block cluster; 0 = none.
        analysis_id: the id stored with every row; default a new UUID (the flow passes its
            run id).
        cache_dir: where deprecation scans are cached per package version.
        quarantine_dir: where a rejected batch goes (default: the warehouse's setting).

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a bad threshold.
        hardware.names.UnknownNameError: an unknown smell rule.
    """
    picked = select_rules(list(rules) if rules is not None else None)
    deprecated, versions = installed_deprecations(packages, cache_dir) if packages else ({}, {})
    analysis = analyze_suite(
        paths, threshold=threshold, deprecated=deprecated, packages=versions, rules=picked,
        long_lines=long_lines, min_block_lines=min_block_lines,
    )
    analysis_id = analysis_id or uuid.uuid4().hex
    plan = build_plan(analysis)
    rows = analysis_rows(
        analysis, analysis_id=analysis_id, analyzed_at=datetime.now(UTC), git_sha=git_sha(),
        plan=plan,
    )
    with Warehouse.open(warehouse, quarantine_dir=quarantine_dir) as wh:
        reports = store_analysis(wh, rows)
        html = build_testsuite_report(wh, analysis_id, output_dir=output_dir)
    return AnalysisOutcome(
        analysis_id=analysis_id,
        analysis=analysis,
        plan=Path(output_dir) / "testsuite-plan.md",
        report=html,
        rows={table: report.inserted for table, report in reports.items()},
    )
