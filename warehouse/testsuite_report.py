"""The HTML report of a stored test-suite analysis: its shape, largest clusters, smells, plan.

The page is self-contained (Vega inlined with `warehouse.report.javascript_bundle`, so it opens
offline); the plan is the Markdown stored with the analysis, rendered with markdown-it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import altair as alt
import jinja2
import polars as pl
import vl_convert
from markdown_it import MarkdownIt

from warehouse.report import TEMPLATES, javascript_bundle, vegalite_version
from warehouse.store import Warehouse
from warehouse.testsuite import latest_analysis_id, read_analysis

#: Bars in the module and cluster charts (the largest first).
TOP_MODULES = 30
TOP_CLUSTERS = 20


def shape_chart(modules: pl.DataFrame) -> alt.Chart:
    """Tests per module, the largest modules first; modules that do not parse are marked."""
    data = (
        modules.with_columns(parses=pl.col("error").is_null())
        .sort("tests", descending=True)
        .head(TOP_MODULES)
        .select("path", "tests", "lines", "parses")
    )
    return (
        alt.Chart(data.to_pandas(), title=f"Suite shape: tests per module (top {TOP_MODULES})")
        .mark_bar()
        .encode(
            x=alt.X("tests:Q", title="tests"),
            y=alt.Y("path:N", sort="-x", title=None),
            color=alt.Color("parses:N", title="parses"),
            tooltip=["path", "tests", "lines", "parses"],
        )
    )


def clusters_chart(clusters: pl.DataFrame) -> alt.Chart:
    """Lines a merge removes per cluster, most first (the plan's order)."""
    data = (
        clusters.with_columns(
            action=pl.when(pl.col("proposal").is_not_null())
            .then(pl.lit("parametrize"))
            .otherwise(pl.lit("helper/keep one"))
        )
        .sort("lines_removed", descending=True)
        .head(TOP_CLUSTERS)
        .select("cluster_id", "kind", "size", "lines_removed", "similarity", "action")
    )
    return (
        alt.Chart(data.to_pandas(), title=f"Largest clusters by lines removed (top {TOP_CLUSTERS})")
        .mark_bar()
        .encode(
            x=alt.X("lines_removed:Q", title="lines removed by the merge"),
            y=alt.Y("cluster_id:N", sort="-x", title=None),
            color=alt.Color("action:N", title="proposed"),
            tooltip=["cluster_id", "kind", "size", "lines_removed", "similarity", "action"],
        )
    )


def smells_chart(smells: pl.DataFrame) -> alt.Chart:
    """Findings per smell rule."""
    data = smells.group_by("rule_id", "rule").len("findings").sort("rule_id")
    return (
        alt.Chart(data.to_pandas(), title="Smells by rule")
        .mark_bar()
        .encode(
            x=alt.X("findings:Q"),
            y=alt.Y("rule:N", sort="-x", title=None),
            tooltip=["rule_id", "rule", "findings"],
        )
    )


def build_testsuite_report(
    wh: Warehouse, analysis_id: str | None = None, *, output_dir: str | Path
) -> Path:
    """Write `testsuite-report.html` (and the plan as `testsuite-plan.md`) for one analysis.

    Args:
        wh: the warehouse (read-only is enough).
        analysis_id: the analysis; default the newest.
        output_dir: the folder to write into; created if missing.

    Returns:
        The HTML file's path.

    Raises:
        ValueError: no such analysis (or none at all).
    """
    analysis_id = analysis_id or latest_analysis_id(wh)
    frames = read_analysis(wh, analysis_id)
    head: dict[str, Any] = frames["testsuite_analyses"].row(0, named=True)
    head["paths"] = ", ".join(json.loads(head["paths"]))
    head["lines_removed"] = int(frames["testsuite_clusters"]["lines_removed"].sum() or 0)
    charts = {
        "shape": shape_chart(frames["testsuite_modules"]),
        "clusters": clusters_chart(frames["testsuite_clusters"]),
        "smells": smells_chart(frames["testsuite_smells"]),
    }
    plan = head.get("plan") or ""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("testsuite.html.j2").render(
        title="hf-skillsets test-suite analysis",
        head=head,
        charts=[{"name": name, "spec": chart.to_dict()} for name, chart in charts.items()],
        # Plain CommonMark with tables; raw HTML in the plan (from test names) is escaped.
        plan_html=MarkdownIt("commonmark", {"html": False}).enable("table").render(plan),
        vega_js=javascript_bundle(),
        versions={"vega_lite": vegalite_version(), "vega": vl_convert.get_vega_version()},
    )
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "testsuite-plan.md").write_text(plan, encoding="utf-8")
    path = out / "testsuite-report.html"
    path.write_text(html, encoding="utf-8")
    return path
