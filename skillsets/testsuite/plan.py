"""The refactoring plan as Markdown: the suite's shape, the merges in order, the smells by rule."""

from __future__ import annotations

from collections import Counter
from typing import Any

from skillsets.testsuite.analysis import SuiteAnalysis
from skillsets.testsuite.clusters import Cluster
from skillsets.testsuite.smells import RULES

#: Clusters written out in full (members, differences, proposal) in the plan.
DETAILED_CLUSTERS = 20
#: Findings listed per smell rule (the counts cover all).
LISTED_SMELLS = 10


def suite_shape(analysis: SuiteAnalysis) -> dict[str, Any]:
    """Counts that describe the suite, in the order the plan shows them."""
    tests = analysis.tests
    markers = Counter(m.name for t in tests for m in t.markers)
    kinds = Counter()
    for test in tests:
        kinds.update(test.assertion_kinds)
    return {
        "modules": len(analysis.modules),
        "modules that do not parse": len(analysis.unparsable),
        "test classes": sum(len(m.classes) for m in analysis.modules),
        "unittest.TestCase classes": sum(
            c.is_unittest for m in analysis.modules for c in m.classes
        ),
        "tests": len(tests),
        "parametrized tests": sum(bool(t.parametrizations) for t in tests),
        "lines in tests": sum(t.lines for t in tests),
        "fixtures defined": sum(len(m.fixtures) for m in analysis.modules),
        "fixture uses": sum(len(t.fixtures) for t in tests),
        "assertions": sum(t.assertions for t in tests),
        "tests without assertion": sum(t.assertions == 0 for t in tests),
        "skip/skipif/xfail markers": sum(markers[n] for n in ("skip", "skipif", "xfail")),
        "exact clusters": sum(c.kind == "exact" for c in analysis.clusters),
        "near clusters": sum(c.kind == "near" for c in analysis.clusters),
        "shared-block clusters": sum(c.kind == "block" for c in analysis.clusters),
        "tests in clusters": len({m for c in analysis.clusters for m in c.members}),
        "lines a merge of every cluster removes": sum(c.lines_removed for c in analysis.clusters),
        "smells": len(analysis.smells),
        "analysis seconds": round(analysis.seconds, 2),
        "assertion kinds": dict(kinds.most_common(8)),
    }


def _action(cluster: Cluster) -> str:
    if cluster.proposal is not None and cluster.literal_only:
        return "parametrize over the literals (table below)"
    if cluster.proposal is not None:
        return "parametrize over the literals and names (table below)"
    if cluster.kind == "exact" and not cluster.differences:
        return "identical: keep one"
    if cluster.kind == "exact":
        return "same shape, different attributes/arguments: a shared helper"
    if cluster.kind == "block":
        return "the same statements in each (locations below): extract a helper or fixture"
    return f"similar shapes (Jaccard >= {cluster.similarity}): a shared helper or fixture"


def _differences(cluster: Cluster) -> list[str]:
    lines = []
    for difference in cluster.differences[:12]:
        values = ", ".join(f"`{v}`" if v else "(absent)" for v in difference.values[:8])
        more = " ..." if len(difference.values) > 8 else ""
        lines.append(f"- {difference.kind}: {values}{more}")
    if len(cluster.differences) > 12:
        lines.append(f"- ... {len(cluster.differences) - 12} more")
    return lines


def build_plan(analysis: SuiteAnalysis, *, detailed: int = DETAILED_CLUSTERS) -> str:
    """The plan as Markdown.

    Args:
        analysis: the suite's analysis.
        detailed: how many clusters (most lines removed first) get members, differences and the
            proposed test written out; the step list names all that remove lines.
    """
    shape = suite_shape(analysis)
    out = [f"# Test-suite plan: {', '.join(analysis.paths)}", "", "## Shape", ""]
    out += ["| | |", "| --- | --: |"]
    out += [f"| {k} | {v} |" for k, v in shape.items() if k != "assertion kinds"]
    kinds = ", ".join(f"{k} {v}" for k, v in shape["assertion kinds"].items())
    out += ["", f"Assertion kinds: {kinds or 'none'}."]
    if analysis.unparsable:
        out += ["", "## Modules that do not parse", ""]
        out += [f"- `{m.path}`: {m.error}" for m in analysis.unparsable]
    steps = [c for c in analysis.clusters if c.lines_removed > 0]
    out += ["", "## Steps, most lines removed first", ""]
    if not steps:
        out.append("No cluster whose merge removes lines.")
    for number, cluster in enumerate(steps, 1):
        out.append(
            f"{number}. **{cluster.cluster_id}** ({len(cluster.members)} tests, "
            f"-{cluster.lines_removed} lines): {_action(cluster)}"
        )
    out += ["", "## Clusters", ""]
    for cluster in analysis.clusters[:detailed]:
        out += [
            f"### {cluster.cluster_id}: {len(cluster.members)} tests, {cluster.lines} lines, "
            f"-{cluster.lines_removed} if merged",
            "",
            f"Action: {_action(cluster)}.",
            "",
            "Members:",
            "",
            *(f"- `{member}`" for member in cluster.members),
        ]
        if cluster.differences:
            out += ["", "What differs (one value per member, in member order):", ""]
            out += _differences(cluster)
        if cluster.proposal is not None:
            out += ["", "Proposed test:", "", "```python", cluster.proposal.rstrip(), "```"]
        out.append("")
    if len(analysis.clusters) > detailed:
        out += [f"... and {len(analysis.clusters) - detailed} more clusters (all are stored).", ""]
    legacy = [c for m in analysis.modules for c in m.classes if c.is_unittest]
    if legacy:
        out += ["## unittest classes to move to pytest style", ""]
        out += [f"- `{c.path}::{c.qualname}` ({', '.join(c.bases)})" for c in legacy[:20]]
        if len(legacy) > 20:
            out.append(f"- ... {len(legacy) - 20} more")
        out.append("")
    out += ["## Smells by rule", "", "| rule | name | findings | what |"]
    out.append("| --- | --- | --: | --- |")
    counts = Counter(s.rule_id for s in analysis.smells)
    out += [
        f"| {rule.rule_id} | {rule.name} | {counts[rule.rule_id]} | {rule.description} |"
        for rule in RULES.values()
    ]
    for rule in RULES.values():
        found = [s for s in analysis.smells if s.rule_id == rule.rule_id]
        if not found:
            continue
        out += ["", f"### {rule.rule_id} {rule.name} ({len(found)})", ""]
        out += [
            f"- `{s.path}:{s.lineno}` `{s.qualname}`: {s.reason}" for s in found[:LISTED_SMELLS]
        ]
        if len(found) > LISTED_SMELLS:
            out.append(f"- ... {len(found) - LISTED_SMELLS} more")
    return "\n".join(out) + "\n"
