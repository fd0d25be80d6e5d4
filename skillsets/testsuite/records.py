"""An analysis as warehouse rows: one list of plain dicts per `testsuite_*` table.

The warehouse does not know this package; it receives these rows (see `warehouse.testsuite`).
Lists and mappings are JSON text, as in the other tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from skillsets.testsuite.analysis import SuiteAnalysis


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def analysis_rows(
    analysis: SuiteAnalysis,
    *,
    analysis_id: str,
    analyzed_at: datetime,
    git_sha: str,
    plan: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows for every `testsuite_*` table, the `testsuite_analyses` row first.

    Args:
        analysis: what `analyze_suite` returned.
        analysis_id: the id every row carries.
        analyzed_at: when the analysis ran (timezone-aware).
        git_sha: the commit of the code that analysed.
        plan: the Markdown plan (`plan.build_plan`), kept so the report can be rebuilt.
    """
    uses = analysis.fixture_uses()
    exact_of: dict[str, str] = {}
    near_of: dict[str, str] = {}
    for cluster in analysis.clusters:
        target = exact_of if cluster.kind == "exact" else near_of
        for member in cluster.members:
            target[member] = cluster.cluster_id
    head = {
        "analysis_id": analysis_id,
        "analyzed_at": analyzed_at,
        "paths": _json(list(analysis.paths)),
        "threshold": analysis.threshold,
        "modules": len(analysis.modules),
        "unparsable": len(analysis.unparsable),
        "tests": len(analysis.tests),
        "clusters": len(analysis.clusters),
        "smells": len(analysis.smells),
        "seconds": analysis.seconds,
        "packages": _json(analysis.packages),
        "git_sha": git_sha,
        "plan": plan,
    }
    key = {"analysis_id": analysis_id}
    return {
        "testsuite_analyses": [head],
        "testsuite_modules": [
            {
                **key, "path": m.path, "lines": m.lines, "tests": len(m.tests),
                "classes": len(m.classes), "fixtures": len(m.fixtures),
                "imports_pytest": m.imports_pytest, "error": m.error,
            }
            for m in analysis.modules
        ],
        "testsuite_classes": [
            {
                **key, "path": c.path, "qualname": c.qualname, "bases": _json(list(c.bases)),
                "lineno": c.lineno, "end_lineno": c.end_lineno, "is_unittest": c.is_unittest,
            }
            for m in analysis.modules
            for c in m.classes
        ],
        "testsuite_tests": [
            {
                **key, "path": t.path, "qualname": t.qualname, "class_name": t.class_name,
                "lineno": t.lineno, "end_lineno": t.end_lineno, "lines": t.lines,
                "fixtures": _json(list(t.fixtures)),
                "parametrizations": _json([asdict(p) for p in t.parametrizations]),
                "markers": _json([asdict(m) for m in t.markers]),
                "assertions": t.assertions,
                "assertion_kinds": _json(t.assertion_kinds),
                "calls": _json(list(t.calls)),
                "fingerprint": fp.digest,
                "exact_cluster": exact_of.get(t.test_id),
                "near_cluster": near_of.get(t.test_id),
            }
            for t, fp in zip(analysis.tests, analysis.fingerprints, strict=True)
        ],
        "testsuite_fixtures": [
            {
                **key, "path": f.path, "name": f.name, "scope": f.scope, "autouse": f.autouse,
                "lineno": f.lineno, "uses": uses[f.name],
            }
            for m in analysis.modules
            for f in m.fixtures
        ],
        "testsuite_clusters": [
            {
                **key, "cluster_id": c.cluster_id, "kind": c.kind, "size": len(c.members),
                "members": _json(list(c.members)), "similarity": c.similarity,
                "literal_only": c.literal_only,
                "differences": _json([asdict(d) for d in c.differences]),
                "lines": c.lines, "lines_removed": c.lines_removed, "proposal": c.proposal,
            }
            for c in analysis.clusters
        ],
        "testsuite_smells": [
            {
                **key, "rule_id": s.rule_id, "rule": s.rule, "path": s.path,
                "qualname": s.qualname, "lineno": s.lineno, "reason": s.reason,
            }
            for s in analysis.smells
        ],
    }

