"""Coverage of a validation sweep, for people: pass rates by hardware, tier and family, the
compiled-vs-torch difference distribution, and the failures grouped by cause.

`build_report` is a pure function of compatibility records (no I/O); `render_markdown` and
`render_html` format its result.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillsets.validation.causes import CAUSES, OTHER, Cause, classify
from warehouse.records import CompatibilityRecord

#: Priority tiers, smallest first; each contains the ones before it.
TIERS: tuple[str, ...] = ("critical", "high", "medium", "all")
#: Upper edges of the max-abs-diff histogram buckets (the last bucket is everything above).
DIFF_EDGES: tuple[float, ...] = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
#: Timing keys summed in the breakdown, in the order a run goes through them.
TIMING_KEYS: tuple[str, ...] = (
    "process_start",
    "load",
    "forward_bs1",
    "forward_bs2",
    "batch_consistency",
    "compare",
    "roundtrip",
    "inventory",
    "isolated_total",
)

#: What to do about a failure, by error type (the message says the specifics).
HINTS: dict[str, str] = {
    "Timeout": "profile the model at its tiny config (the message names the frame it hung in); "
    "shrink the config in the runtime's tiny-config overrides or raise --timeout",
    "MemoryLimitExceeded": "the tiny config is not tiny: add an override that shrinks it",
    "Crash": "a native library crashed; reproduce with `skillsets validate TYPE --local` and "
    "report the signal and frame upstream, or exclude the op in the runtime",
    "ModuleNotFoundError": "add the missing package to the project's dependencies",
    "ImportError": "add the missing package to the project's dependencies, or record it as "
    "not installable",
    "NonFiniteOutput": "the random init produces NaN/inf: initialise the tiny model's weights "
    "(or the named output's layer) in the runtime",
    "BatchInconsistent": "rows of a batch depend on each other: check padding/attention masks "
    "or batch-dependent routing in the runtime's inputs",
    "RoundTripMismatch": "a weight is not saved or not loaded: compare state_dict keys with "
    "the safetensors file; fix tied or non-persistent weights",
    "TorchAttentionDisagrees": "torch's sdpa and eager attention disagree on this model and "
    "the compiled model equals eager: report it against the model's code in transformers",
    "CompiledMismatch": "the compiled model's outputs differ from torch's: check the op that "
    "produces the named output, or convert with example inputs of the same dtype",
    "HardwareFallback": "the runtime fell back to another backend: see why in the message",
    "RoundTripPreprocessingMismatch": "the reloaded checkpoint preprocesses the same input "
    "differently: make the runtime treat a saved-and-reloaded tokenizer/processor like the "
    "original",
    "RoundTripError": "the saved folder could not be loaded back through the skillset's "
    "weights-on-disk path: see the message",
    "SkillUnavailableError": "the runtime says why it cannot run the type: fix the runtime or "
    "install what the message names",
    "StaticCheckFailed": "fix the generator template (the message names the construct and line)",
    "WorkerError": "the Dask worker died or lost its task: check the worker log",
    "OutputShapeMismatch": "the task's output has no batch dimension: fix the runtime's "
    "run/postprocess",
    "InputShapeMismatch": "the runtime's synthetic inputs have the wrong batch size",
}


@dataclass(frozen=True)
class Rate:
    """Pass / fail / unsupported / skip counts; `rate` = pass / (pass + fail), None when nothing
    ran. An unsupported combination (the skill says why it has no path) is neither."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    unsupported: int = 0

    @property
    def ran(self) -> int:
        """Records that ran (pass + fail)."""
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        """Pass fraction of the records that ran (0..1; higher is better), None when none ran."""
        return self.passed / self.ran if self.ran else None

    def add(self, status: str) -> Rate:
        """A copy with one more record of `status`."""
        return Rate(
            self.passed + (status == "pass"),
            self.failed + (status == "fail"),
            self.skipped + (status == "skip"),
            self.unsupported + (status == "unsupported"),
        )

    def cell(self) -> str:
        """`pass/ran (pct)` or `skip` when nothing ran."""
        if not self.ran:
            return "unsupported" if self.unsupported else "skip" if self.skipped else "-"
        return f"{self.passed}/{self.ran} ({100 * self.passed / self.ran:.1f}%)"


@dataclass(frozen=True)
class CauseGroup:
    """Failures sharing one cause.

    Attributes:
        error_type: The error type (`Timeout`, `ModuleNotFoundError`...).
        stage: Where the runs failed (`load`, `forward`, `process`...).
        cause: The normalised message (numbers, class names and paths abstracted).
        example: One full message.
        hardware: Backends it occurred on.
        model_types: The failing model types, sorted.
        hint: What to do about it.
    """

    error_type: str
    stage: str
    cause: str
    example: str
    hardware: tuple[str, ...]
    model_types: tuple[str, ...]
    hint: str

    @property
    def count(self) -> int:
        """Number of model types with this cause."""
        return len(self.model_types)


@dataclass(frozen=True)
class CategoryGroup:
    """Failed and unsupported records sharing one broad cause (`skillsets.validation.causes`).

    Attributes:
        cause: The cause (name, title, what to do).
        hardware: Backends it occurred on.
        model_types: The model types, sorted.
        failed: Records of it that failed.
        unsupported: Records of it the runtime stated unsupported.
        details: The distinct normalised messages under it, most frequent first.
    """

    cause: Cause
    hardware: tuple[str, ...]
    model_types: tuple[str, ...]
    failed: int
    unsupported: int
    details: tuple[str, ...]

    @property
    def count(self) -> int:
        """Number of model types with this cause."""
        return len(self.model_types)


@dataclass
class CoverageReport:
    """Everything the rendered reports show. Built by `build_report`."""

    run_ids: tuple[str, ...]
    hardware: tuple[str, ...]
    overall: dict[str, Rate]
    by_tier: dict[str, dict[str, Rate]]
    by_family: dict[str, dict[str, Rate]]
    causes: list[CauseGroup]
    diff_stats: dict[str, dict[str, float | int | None]]
    diff_histogram: dict[str, list[tuple[str, int]]]
    timings: dict[str, dict[str, float]]
    inventory: dict[str, int] = field(default_factory=dict)
    categories: list[CategoryGroup] = field(default_factory=list)
    #: Per backend other than cpu: (types passing there and on cpu, types passing on cpu).
    versus_cpu: dict[str, tuple[int, int]] = field(default_factory=dict)


def normalise_message(message: str, model_type: str = "") -> str:
    """A message with its run-specific parts abstracted, so one cause groups many model types.

    The model type's own name becomes `{type}`, numbers `N`, memory addresses `0x…`, file paths
    their last component, temporary folders `{tmp}`, and class names of a model
    (`BertForMaskedLM`, `Qwen3_5VisionModel`, `hf_bert`) `{Class}`; the `[stage]` prefix is
    dropped.
    """
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = re.sub(r"^\[[a-z_]+\]\s*", "", text)
    text = re.sub(r"\S*skillsets-[\w.\-]+", "{tmp}", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    text = re.sub(r"(?:/[\w.\-]+)+/([\w.\-]+)", r"\1", text)
    if model_type:
        text = re.sub(rf"(?<![\w-]){re.escape(model_type)}(?![\w-])", "{type}", text)
    text = re.sub(r"\bhf_\w+", "{Class}", text)
    text = re.sub(
        r"\b[A-Z]\w*?(Model|For[A-Z]\w*|Config|Processor|Tokenizer|Attention|Layer|Encoder|"
        r"Decoder|Embeddings|Block|Backbone|Head)\b",
        "{Class}",
        text,
    )
    text = re.sub(r"(?<![\w.])-?\d+(\.\d+)?(e-?\d+)?\b", "N", text)
    return text[:200]


def build_report(
    records: Iterable[CompatibilityRecord | Mapping[str, Any]],
    entries: Mapping[str, Any] | None = None,
) -> CoverageReport:
    """Summarise compatibility records.

    Args:
        records: Records of one or more runs (objects or dicts with the record's fields).
        entries: Catalog entries by model type, for family and tier when a record's details
            lack them.

    Returns:
        The report; rates are pass / (pass + fail), skips counted apart.
    """
    rows = [r.model_dump() if isinstance(r, CompatibilityRecord) else dict(r) for r in records]
    entries = entries or {}
    hardware = tuple(sorted({r["hardware"] for r in rows}))
    overall: dict[str, Rate] = defaultdict(Rate)
    by_tier: dict[str, dict[str, Rate]] = {t: defaultdict(Rate) for t in TIERS}
    by_family: dict[str, dict[str, Rate]] = defaultdict(lambda: defaultdict(Rate))
    failures: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    diffs: dict[str, list[float]] = defaultdict(list)
    timing_sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    inventory: Counter[str] = Counter()
    broad: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for r in rows:
        details = _details(r)
        hw, status = r["hardware"], r["status"]
        entry = entries.get(r["model_type"])
        tier = details.get("tier") or getattr(entry, "tier", None) or "all"
        family = details.get("family") or getattr(entry, "family", None) or "unknown"
        overall[hw] = overall[hw].add(status)
        for t in TIERS[TIERS.index(tier) if tier in TIERS else len(TIERS) - 1 :]:
            by_tier[t][hw] = by_tier[t][hw].add(status)
        by_family[family][hw] = by_family[family][hw].add(status)
        if status == "fail":
            stage = str(details.get("stage") or "")
            key = (
                r.get("error_type") or "Unknown",
                stage,
                normalise_message(r.get("message") or "", r["model_type"]),
            )
            failures[key].append(r)
        if status in ("fail", "unsupported"):
            message = normalise_message(r.get("message") or "", r["model_type"])
            cause = classify(r.get("error_type") or "Unknown", hw, message)
            broad[cause.name].append((r, message))
        diff = r.get("max_abs_diff")
        if status != "skip" and diff is not None and math.isfinite(diff):
            diffs[hw].append(float(diff))
        if status != "skip":
            for name, seconds in (details.get("timings") or {}).items():
                if isinstance(seconds, int | float):
                    timing_sums[hw][name] += float(seconds)
            timing_sums[hw]["records"] += 1
        inv = details.get("inventory")
        if isinstance(inv, Mapping):
            for k in ("heads", "loaded", "ran"):
                inventory[k] += int(inv.get(k, 0))
    causes = [
        CauseGroup(
            error_type=et,
            stage=stage,
            cause=cause,
            example=group[0].get("message") or "",
            hardware=tuple(sorted({g["hardware"] for g in group})),
            model_types=tuple(sorted({g["model_type"] for g in group})),
            hint=HINTS.get(et, "read the traceback in the record's details"),
        )
        for (et, stage, cause), group in failures.items()
    ]
    causes.sort(key=lambda c: (-c.count, c.error_type, c.cause))
    return CoverageReport(
        run_ids=tuple(sorted({r["run_id"] for r in rows})),
        hardware=hardware,
        overall=dict(overall),
        by_tier={t: dict(v) for t, v in by_tier.items()},
        by_family={f: dict(v) for f, v in sorted(by_family.items())},
        causes=causes,
        diff_stats={hw: diff_statistics(v) for hw, v in sorted(diffs.items())},
        diff_histogram={hw: diff_histogram(v) for hw, v in sorted(diffs.items())},
        timings={hw: dict(v) for hw, v in timing_sums.items()},
        inventory=dict(inventory),
        categories=_categories(broad),
        versus_cpu=versus_cpu(rows),
    )


def versus_cpu(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """For each backend other than cpu: how many of the types that pass on cpu pass there too.

    Returns:
        `{hardware: (passing there and on cpu, passing on cpu)}`; backends whose records are all
        `skip` are left out. The issue-18 goal is the ratio >= 0.9 for openvino.
    """
    passed: dict[str, set[str]] = defaultdict(set)
    ran: set[str] = set()
    for r in rows:
        if r["status"] != "skip":
            ran.add(r["hardware"])
        if r["status"] == "pass":
            passed[r["hardware"]].add(r["model_type"])
    cpu = passed.get("cpu", set())
    return {hw: (len(passed[hw] & cpu), len(cpu)) for hw in sorted(ran - {"cpu"})} if cpu else {}


def _categories(broad: Mapping[str, list[tuple[dict[str, Any], str]]]) -> list[CategoryGroup]:
    """Category groups, most model types first."""
    by_name = {c.name: c for c in (*CAUSES, OTHER)}
    groups = [
        CategoryGroup(
            cause=by_name[name],
            hardware=tuple(sorted({r["hardware"] for r, _ in members})),
            model_types=tuple(sorted({r["model_type"] for r, _ in members})),
            failed=sum(r["status"] == "fail" for r, _ in members),
            unsupported=sum(r["status"] == "unsupported" for r, _ in members),
            details=tuple(m for m, _ in Counter(m for _, m in members).most_common()),
        )
        for name, members in broad.items()
    ]
    groups.sort(key=lambda g: (-g.count, g.cause.name))
    return groups


def _details(row: Mapping[str, Any]) -> dict[str, Any]:
    details = row.get("details") or {}
    if isinstance(details, str):
        import json

        details = json.loads(details)
    return dict(details)


def diff_statistics(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, min, median, p90, p99 and max of max-abs-diff values (None when empty).

    Percentiles are nearest-rank on the sorted values.
    """
    if not values:
        return {"n": 0, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "min": ordered[0],
        "p50": rank(0.5),
        "p90": rank(0.9),
        "p99": rank(0.99),
        "max": ordered[-1],
    }


def diff_histogram(values: Sequence[float]) -> list[tuple[str, int]]:
    """Counts per bucket of `DIFF_EDGES`: `== 0`, `<= 1e-07`, ..., `> 0.1`."""
    labels = ["== 0"] + [f"<= {edge:g}" for edge in DIFF_EDGES[1:]] + [f"> {DIFF_EDGES[-1]:g}"]
    counts = [0] * len(labels)
    for v in values:
        if v == 0:
            counts[0] += 1
            continue
        for i, edge in enumerate(DIFF_EDGES[1:], start=1):
            if v <= edge:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return list(zip(labels, counts, strict=True))


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3g}"


def _tables(report: CoverageReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables as (title, header, rows) of plain strings."""
    hw = list(report.hardware)
    tables = [
        (
            "Pass rate by hardware",
            ["hardware", "pass", "fail", "unsupported", "skip", "pass rate"],
            [
                [h, str(r.passed), str(r.failed), str(r.unsupported), str(r.skipped), _pct(r.rate)]
                for h, r in report.overall.items()
            ],
        ),
        (
            "By tier (each tier includes the ones above it)",
            ["tier", *hw],
            [
                [t, *(report.by_tier[t].get(h, Rate()).cell() for h in hw)]
                for t in TIERS
                if report.by_tier.get(t)
            ],
        ),
        (
            "By family",
            ["family", *hw],
            [
                [f, *(rates.get(h, Rate()).cell() for h in hw)]
                for f, rates in report.by_family.items()
            ],
        ),
    ]
    if report.versus_cpu:
        tables.append(
            (
                "Of the types that pass on cpu",
                ["hardware", "pass there too", "pass on cpu", "share"],
                [
                    [h, str(both), str(cpu), _pct(both / cpu if cpu else None)]
                    for h, (both, cpu) in report.versus_cpu.items()
                ],
            )
        )
    if report.diff_stats:
        tables.append(
            (
                "Max abs difference vs torch",
                ["hardware", "n", "min", "p50", "p90", "p99", "max"],
                [
                    [h, *(_fmt(s[k]) for k in ("n", "min", "p50", "p90", "p99", "max"))]
                    for h, s in report.diff_stats.items()
                ],
            )
        )
        labels = [label for label, _ in next(iter(report.diff_histogram.values()))]
        counts = {h: dict(buckets) for h, buckets in report.diff_histogram.items()}
        tables.append(
            (
                "Max abs difference histogram (model types per bucket)",
                ["max abs diff", *counts],
                [[label, *(str(c[label]) for c in counts.values())] for label in labels],
            )
        )
    ran = {h: sums for h, sums in sorted(report.timings.items()) if sums.get("records")}
    tables.append(
        (
            "Time spent, summed over runs, seconds (mean per run)",
            ["stage", *ran],
            [
                [
                    k,
                    *(
                        f"{s.get(k, 0.0):.0f} ({s.get(k, 0.0) / s['records']:.2f})"
                        for s in ran.values()
                    ),
                ]
                for k in TIMING_KEYS
            ],
        )
    )
    if report.inventory:
        inv = report.inventory
        tables.append(
            (
                "Model class inventory (task heads transformers maps)",
                ["heads", "built", "ran"],
                [[str(inv.get("heads", 0)), str(inv.get("loaded", 0)), str(inv.get("ran", 0))]],
            )
        )
    return tables


def _shown(model_types: Sequence[str], count: int, types_shown: int) -> str:
    """The first `types_shown` types, and how many more there are."""
    more = f" (+{count - types_shown})" if count > types_shown else ""
    return ", ".join(model_types[:types_shown]) + more


def _cause_rows(report: CoverageReport, types_shown: int) -> list[list[str]]:
    rows = []
    for c in report.causes:
        shown = _shown(c.model_types, c.count, types_shown)
        rows.append(
            [str(c.count), c.error_type, c.stage, c.cause, ", ".join(c.hardware), shown, c.hint]
        )
    return rows


_CAUSE_HEADER = ["n", "error", "stage", "cause", "hardware", "model types", "what to do"]
_CATEGORY_HEADER = [
    "types",
    "fail",
    "unsupported",
    "cause",
    "hardware",
    "example types",
    "example message",
    "what to do",
]


def _category_rows(report: CoverageReport, types_shown: int) -> list[list[str]]:
    rows = []
    for g in report.categories:
        shown = _shown(g.model_types, g.count, types_shown)
        rows.append(
            [
                str(g.count),
                str(g.failed),
                str(g.unsupported),
                f"{g.cause.name}: {g.cause.title}",
                ", ".join(g.hardware),
                shown,
                g.details[0] if g.details else "",
                g.cause.hint,
            ]
        )
    return rows


def render_markdown(report: CoverageReport, *, types_shown: int = 12) -> str:
    """The report as GitHub-flavoured markdown (for the terminal and issues)."""

    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        esc = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        return [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in esc),
        ]

    lines = [f"# Validation coverage — run {', '.join(report.run_ids)}", ""]
    for title, header, rows in _tables(report):
        lines += [f"## {title}", "", *table(header, rows), ""]
    if report.categories:
        lines += ["## Failures and unsupported types by cause", ""]
        lines += table(_CATEGORY_HEADER, _category_rows(report, types_shown))
        lines.append("")
    lines += [f"## Failures by cause ({sum(c.count for c in report.causes)})", ""]
    for c in report.causes:
        shown = ", ".join(c.model_types[:types_shown]) + (
            f" (+{c.count - types_shown} more)" if c.count > types_shown else ""
        )
        lines.append(
            f"- **{c.count} x {c.error_type}** at {c.stage or '?'} on {', '.join(c.hardware)}: "
            f"`{c.cause}`  \n  {shown}  \n  _{c.hint}_"
        )
    if not report.causes:
        lines.append("No failures.")
    return "\n".join(lines) + "\n"


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;
margin:0 0 1.5em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.c{font-family:ui-monospace,monospace;font-size:12px}"""


def render_html(report: CoverageReport, *, types_shown: int = 1000) -> str:
    """The report as one self-contained HTML page."""

    def table(header: list[str], rows: list[list[str]], mono: int | None = None) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{' class=c' if i == mono else ''}>{html.escape(c)}</td>"
                for i, c in enumerate(r)
            )
            + "</tr>"
            for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    title = f"Validation coverage — run {', '.join(report.run_ids)}"
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for name, header, rows in _tables(report):
        parts.append(f"<h2>{html.escape(name)}</h2>{table(header, rows)}")
    if report.categories:
        parts.append("<h2>Failures and unsupported types by cause</h2>")
        parts.append(table(_CATEGORY_HEADER, _category_rows(report, types_shown), mono=6))
    parts.append(f"<h2>Failures by cause ({sum(c.count for c in report.causes)})</h2>")
    parts.append(
        table(_CAUSE_HEADER, _cause_rows(report, types_shown), mono=3)
        if report.causes
        else "<p>No failures.</p>"
    )
    parts.append("</body></html>")
    return "".join(parts)
