"""Regression detection over the warehouse: nightly alerts, and the CI gate between two runs.

The statistics live in `warehouse.analysis` (pure); this module reads the history, keeps the
alert lifecycle and writes alerts:

- `detect_regressions(wh, run_id)`: every series the run measured is judged against its own
  history (`analysis.review_series`). One change raises one alert, whose first bad run is the
  first run at the new level; later runs refresh its numbers; a recovered series closes it.
- `check_gate(wh, baseline, current)`: every series of `current` against the same series of
  `baseline` (a run id, a branch, or a git sha), for a CI job to pass or fail.

An alert's message also says what else moved since its first bad run: on a raw `latency` series,
the `latency_calibrated` twin and the worker's `reference_time` (raw alone moving with the
reference means the host changed; the calibrated series moving means the model did), and the
series' own noise (`warehouse.noise`): a series too noisy to resolve a 10% step is marked so.

Series are keyed by `records.SERIES_KEY` across environments: a series keeps its history when the
git sha or a package version changes (that is what we want to catch), so keep one hardware label
per kind of machine.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple
from xml.etree import ElementTree

import numpy as np
import polars as pl

from hardware.fingerprint import REPO_ROOT
from warehouse.analysis import (
    DEFAULT_CONFIG,
    NOT_JUDGED,
    Comparison,
    DetectionConfig,
    Finding,
    SeriesReview,
    compare,
    higher_is_better,
    review_series,
    severity_for,
)
from warehouse.noise import RESOLVE_STEP, SeriesNoise, series_noise
from warehouse.queries import History
from warehouse.records import (
    CALIBRATED_METRICS,
    REFERENCE_BENCHMARK,
    REFERENCE_METRIC,
    REFERENCE_MODEL,
    SERIES_KEY,
    AlertRecord,
    Severity,
    utcnow,
)
from warehouse.store import Warehouse

log = logging.getLogger(__name__)

_KEY = ", ".join(SERIES_KEY)
_R_KEY = ", ".join(f"r.{name}" for name in SERIES_KEY)
#: Fewest raw samples on each side for the gate to compare samples with a rank test.
MIN_SAMPLES = 5
#: Newest commits of a branch searched for a measured run when BRANCH is resolved through git.
BRANCH_DEPTH = 500


class SeriesKey(NamedTuple):
    """One time series of measurements (the columns of `records.SERIES_KEY`)."""

    model_type: str
    hardware: str
    precision: str
    size: str
    batch_size: int
    benchmark: str
    metric: str

    @property
    def label(self) -> str:
        """Compact human name: `bert/cpu/fp32/reference/bs1/inference/latency`."""
        return (f"{self.model_type}/{self.hardware}/{self.precision}/{self.size}/"
                f"bs{self.batch_size}/{self.benchmark}/{self.metric}")

    @classmethod
    def of(cls, row: dict) -> SeriesKey:
        """The key of a row holding the series key columns."""
        return cls(*(row[name] for name in SERIES_KEY))


def alert_id(key: SeriesKey, first_bad_run_id: str) -> str:
    """Deterministic id of the alert for the change of `key` that starts at `first_bad_run_id`.

    A tiny series hashes without its size, as before size joined the key, so an alert opened
    before schema 4 keeps its id and is not opened a second time.
    """
    parts = [str(v) for f, v in zip(key._fields, key, strict=True)
             if not (f == "size" and v == "tiny")]
    digest = hashlib.sha1("\x1f".join([*parts, first_bad_run_id]).encode()).hexdigest()
    return f"reg-{digest[:16]}"


def _describe(key: SeriesKey, unit: str, comparison: Comparison, run_id: str,
              context: str = "") -> str:
    c = comparison
    text = (
        f"{key.label}: {c.change:+.1%} ({c.baseline_median:.4g} -> {c.current_median:.4g} {unit}; "
        f"95% CI {c.low:+.1%}..{c.high:+.1%}, p={c.p_value:.2g}, {c.n_current} runs vs "
        f"{c.n_baseline}) since run {run_id}"
    )
    return f"{text}. {context}" if context else text


class _Series(NamedTuple):
    """A series' analysed points: run ids and values, oldest first."""

    run_ids: list[str]
    values: np.ndarray


def _change_since(series: _Series | None, first_bad: str, window: int) -> float | None:
    """Relative change of `series` from the runs before `first_bad` to the runs since (median
    shift, `analysis.compare`); None when either side has no value or it is not in them."""
    if series is None or first_bad not in series.run_ids:
        return None
    at = series.run_ids.index(first_bad)
    before, since = series.values[max(0, at - window):at], series.values[at:][:window]
    try:
        return compare(before, since, higher_is_better=False).change
    except ValueError:  # an empty side or a zero baseline: nothing to say
        return None


def _reference_series(key: SeriesKey, by_key: dict[SeriesKey, _Series]) -> _Series | None:
    """The reference workload's time on `key`'s backend, measured beside models of its size
    when there is such a series (the newest reference version)."""
    found = sorted(k for k in by_key if k.model_type == REFERENCE_MODEL
                   and k.hardware == key.hardware and k.benchmark == REFERENCE_BENCHMARK
                   and k.metric == REFERENCE_METRIC)
    same_size = [k for k in found if k.size == key.size]
    return by_key[(same_size or found)[-1]] if found else None


def _context(key: SeriesKey, first_bad: str, by_key: dict[SeriesKey, _Series],
             config: DetectionConfig) -> str:
    """What an alert's message adds: which of raw / calibrated / reference moved since
    `first_bad` (raw latency series only), and the series' noise (computed for alerts only:
    most series raise none)."""
    parts = []
    noise = _noise(by_key[key].values, config)
    twin_metric = CALIBRATED_METRICS.get(key.metric)
    if twin_metric is not None:
        twin = _change_since(by_key.get(key._replace(metric=twin_metric)), first_bad,
                             config.window)
        ref = _change_since(_reference_series(key, by_key), first_bad, config.window)
        shown = (f"{twin_metric} {'n/a' if twin is None else f'{twin:+.1%}'}, reference_time "
                 f"{'n/a' if ref is None else f'{ref:+.1%}'}")
        if twin is None:
            parts.append(f"No calibrated series to tell host from model ({shown})")
        elif abs(twin) >= config.min_effect:
            parts.append(f"The model changed: the calibrated series moved too ({shown})")
        elif ref is not None and abs(ref) >= config.min_effect:
            parts.append(f"The host changed, not the model: raw moved with the reference and "
                         f"the calibrated series did not ({shown})")
        else:
            parts.append(f"Neither the calibrated series nor the reference confirms it ({shown})")
    if not noise.known or noise.resolves(RESOLVE_STEP):
        parts.append(f"Noise: {noise.describe()}")
    else:
        parts.append(f"TOO NOISY to resolve a {RESOLVE_STEP:.0%} step: {noise.describe()}")
    return ". ".join(parts)


def _require_run(wh: History, run_id: str) -> None:
    if wh.query("SELECT 1 FROM runs WHERE run_id = $1", [run_id]).is_empty():
        raise ValueError(f"no run {run_id!r} in the warehouse; list runs with "
                         "`skillsets warehouse query 'SELECT run_id, started_at FROM runs'`")


def touched_history(wh: History, run_id: str, history: int) -> pl.DataFrame:
    """The last `history` points, up to and including `run_id`, of every series the run measured.

    One query for all series (a query per series costs seconds on a big warehouse).

    Returns:
        The series key, run_id, measured_at, value and unit, oldest first within each series.
    """
    return wh.query(
        f"""
        WITH target AS (
            SELECT {_KEY}, measured_at AS target_at FROM results WHERE run_id = $run_id
        ), points AS (
            SELECT {_R_KEY}, r.run_id, r.measured_at, r.value, r.unit,
                   row_number() OVER (
                       PARTITION BY {_R_KEY}
                       ORDER BY r.measured_at DESC, r.run_id DESC
                   ) AS back
            FROM results AS r JOIN target AS t USING ({_KEY})
            WHERE r.measured_at < t.target_at
               OR (r.measured_at = t.target_at AND r.run_id <= $run_id)
        )
        SELECT {_KEY}, run_id, measured_at, value, unit FROM points
        WHERE back <= $history
        ORDER BY {_KEY}, measured_at, run_id
        """,
        {"run_id": run_id, "history": history},
    )


def _alerts_of_touched(wh: History, run_id: str) -> pl.DataFrame:
    return wh.query(
        f"""
        SELECT a.* FROM alerts AS a
        JOIN (SELECT DISTINCT {_KEY} FROM results WHERE run_id = $1) USING ({_KEY})
        ORDER BY a.opened_at
        """,
        [run_id],
    )


def _alert(row: dict) -> AlertRecord:
    return AlertRecord(**{name: row[name] for name in AlertRecord.model_fields})


def _update(alert: AlertRecord, finding: Finding, unit: str, run_id: str,
            now: datetime, context: str = "") -> AlertRecord:
    comparison = finding.comparison
    fields: dict[str, object] = {
        "change": comparison.change,
        "confidence": comparison.confidence,
        "p_value": comparison.p_value,
    }
    key = SeriesKey.of(alert.model_dump())
    if finding.severity is None:
        fields.update(status="closed", closed_at=now, closed_by_run_id=run_id,
                      message=f"recovered at run {run_id}: " + _describe(key, unit, comparison,
                                                                       alert.first_bad_run_id))
    else:
        fields.update(severity=finding.severity,
                      message=_describe(key, unit, comparison, alert.first_bad_run_id, context))
    return alert.model_copy(update=fields)


class ReviewJob(NamedTuple):
    """One series to judge: its values (oldest first), direction and open alerts' starts."""

    values: np.ndarray
    higher_is_better: bool
    open_starts: tuple[int, ...]


#: Judges a batch of series with thresholds: a review per job, or why it could not be judged.
Reviewer = Callable[[Sequence[ReviewJob], DetectionConfig], list[SeriesReview | str]]


def review_batch(jobs: Sequence[ReviewJob], config: DetectionConfig) -> list[SeriesReview | str]:
    """`analysis.review_series` for each job, in order; a series it refuses (a zero baseline has
    no relative change) gives the refusal's message instead, so one bad series does not stop
    the batch. Pure, so a Dask worker can run any slice of a run's series."""
    reviews: list[SeriesReview | str] = []
    for job in jobs:
        try:
            reviews.append(review_series(job.values, higher_is_better=job.higher_is_better,
                                         open_starts=job.open_starts, config=config))
        except ValueError as exc:
            reviews.append(str(exc))
    return reviews


def detect_regressions(
    wh: Warehouse,
    run_id: str,
    *,
    config: DetectionConfig = DEFAULT_CONFIG,
    now: datetime | None = None,
    reviewer: Reviewer | None = None,
) -> list[AlertRecord]:
    """Judge every series `run_id` measured; open, refresh and close alerts; write them.

    For each series: its last `config.history` points up to this run, the open alerts of the
    series, and `analysis.review_series`. A new regression (a change point followed by runs
    significantly and at least 5% worse than the runs before it) opens an alert whose
    `first_bad_run_id` is the first run at the new level and whose severity comes from the
    relative change (low >= 5%, medium >= 10%, high >= 20%, critical >= 30%). An open alert is
    refreshed while the series stays worse than before its first bad run, and closed (with
    `closed_by_run_id`) once it is not. Running it twice for a run changes nothing more.

    Run it for runs in time order: it judges the history up to `run_id`. Metrics in
    `analysis.NOT_JUDGED` and units without a known direction are skipped (logged). An open
    alert whose first bad run is older than the analysed history is left as it is.

    Args:
        wh: The warehouse, open for writing.
        run_id: The run whose series to judge.
        config: Thresholds (significance, minimum effect, segment size, windows).
        now: Clock for opened_at / closed_at (default: now, UTC).
        reviewer: Judges all series at once (default `review_batch`, here, one after the
            other); the detect flow passes one that spreads them over Dask workers.

    Returns:
        The alerts this run opened, refreshed or closed, as written.

    Raises:
        ValueError: no such run.
    """
    _require_run(wh, run_id)
    now = now or utcnow()
    reviewer = reviewer or review_batch
    points = touched_history(wh, run_id, config.history)
    stored = _alerts_of_touched(wh, run_id)
    alerts_by_key: dict[SeriesKey, list[AlertRecord]] = {}
    for row in stored.iter_rows(named=True):
        alerts_by_key.setdefault(SeriesKey.of(row), []).append(_alert(row))
    series: list[tuple[SeriesKey, str, list[str], list[AlertRecord], list[AlertRecord]]] = []
    jobs: list[ReviewJob] = []
    by_key: dict[SeriesKey, _Series] = {}
    for group in points.partition_by(list(SERIES_KEY), maintain_order=True):
        key = SeriesKey.of(group.row(0, named=True))
        unit = str(group["unit"][-1])
        by_key[key] = _Series(group["run_id"].to_list(), group["value"].to_numpy())
        if key.metric in NOT_JUDGED:
            continue
        try:
            better_high = higher_is_better(key.metric, unit)
        except ValueError as exc:
            log.warning("skipping %s: %s", key.label, exc)
            continue
        run_ids = group["run_id"].to_list()
        position = {rid: i for i, rid in enumerate(run_ids)}
        known = alerts_by_key.get(key, [])
        open_alerts = [a for a in known if a.status == "open" and a.first_bad_run_id in position]
        series.append((key, unit, run_ids, known, open_alerts))
        jobs.append(ReviewJob(group["value"].to_numpy(), better_high,
                              tuple(position[a.first_bad_run_id] for a in open_alerts)))
    written: list[AlertRecord] = []
    for (key, unit, run_ids, known, open_alerts), review in zip(
        series, reviewer(jobs, config), strict=True
    ):
        if isinstance(review, str):  # e.g. a zero baseline: no relative change exists
            log.warning("skipping %s: %s", key.label, review)
            continue
        position = {rid: i for i, rid in enumerate(run_ids)}
        for alert in open_alerts:
            finding = review.reviewed.get(position[alert.first_bad_run_id])
            if finding is not None:
                context = _context(key, alert.first_bad_run_id, by_key, config)
                written.append(_update(alert, finding, unit, run_id, now, context))
        if review.new is not None and review.new.severity is not None:
            first_bad = run_ids[review.new.start]
            new_id = alert_id(key, first_bad)
            if all(a.alert_id != new_id for a in known):
                comparison = review.new.comparison
                context = _context(key, first_bad, by_key, config)
                written.append(
                    AlertRecord(
                        alert_id=new_id, **key._asdict(), first_bad_run_id=first_bad,
                        severity=review.new.severity, change=comparison.change,
                        confidence=comparison.confidence, p_value=comparison.p_value,
                        opened_at=now,
                        message=_describe(key, unit, comparison, first_bad, context),
                    )
                )
    if written:
        wh.upsert_alerts(written)
    return written


def _noise(values: np.ndarray, config: DetectionConfig) -> SeriesNoise:
    """The series' noise; a series with a non-positive value has no CV (its step is unknown)."""
    try:
        return series_noise(values, config)
    except ValueError:
        return SeriesNoise(cv=float("nan"), runs=int(values.size), detectable_step=float("inf"))


def open_alerts(wh: History) -> pl.DataFrame:
    """Every open alert, worst first (severity, then size of the change)."""
    return wh.query(
        """
        SELECT * FROM alerts WHERE status = 'open'
        ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                 ELSE 3 END, abs(change) DESC, alert_id
        """
    )


# The CI gate

GateStatus = Literal["regression", "improvement", "unchanged", "insufficient-data", "new",
                     "missing", "not-judged"]


@dataclass(frozen=True)
class ResolvedRun:
    """A run picked for the gate, and how the reference given named it."""

    run_id: str
    reference: str
    how: Literal["run id", "branch parameter", "git branch", "git sha"]


@dataclass(frozen=True)
class GateRow:
    """One series in the gate.

    Attributes:
        key: The series.
        unit: Its unit.
        status: regression / improvement / unchanged (judged); insufficient-data (too few
            samples and too little history to test); new (no baseline value); missing (in the
            baseline, not in the current run); not-judged (not a performance metric).
        baseline: Baseline run's value (None when new).
        current: Current run's value (None when missing).
        comparison: The test behind a judged status (the more cautious of the two).
        severity: Tier of a regression.
    """

    key: SeriesKey
    unit: str
    status: GateStatus
    baseline: float | None = None
    current: float | None = None
    comparison: Comparison | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class GateResult:
    """The CI gate's answer: every series of the current run against the baseline."""

    baseline: ResolvedRun
    current_run_id: str
    rows: tuple[GateRow, ...]
    config: DetectionConfig

    @property
    def regressions(self) -> list[GateRow]:
        """Rows that fail the gate, worst first."""
        order = {"critical": 0, "high": 1, "medium": 2, "low": 3, None: 4}
        rows = [r for r in self.rows if r.status == "regression"]
        return sorted(rows, key=lambda r: (order[r.severity], -abs(r.comparison.change)
                                           if r.comparison else 0.0))

    @property
    def failed(self) -> bool:
        """True when any series regressed."""
        return any(r.status == "regression" for r in self.rows)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def to_markdown(self) -> str:
        """A summary fit for a CI job summary (GitHub `$GITHUB_STEP_SUMMARY`, GitLab, Jenkins)."""
        counts = self.counts()
        verdict = (f"FAIL: {len(self.regressions)} regression(s)" if self.failed
                   else "PASS: no regression")
        lines = [
            f"## {'❌' if self.failed else '✅'} Performance gate — {verdict}",
            "",
            f"Current run `{self.current_run_id}` against baseline `{self.baseline.run_id}` "
            f"({self.baseline.how} `{self.baseline.reference}`).",
            "",
            "Series: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + ".",
            f"A regression needs p < {self.config.alpha:g} and a change of at least "
            f"{self.config.min_effect:.0%} in the worse direction, in every test that can run: "
            "Mann-Whitney U on the two runs' raw samples, and a robust z-score of the current "
            "value against the baseline's history.",
            "",
        ]
        header = ["| severity | series | baseline | current | change | 95% CI | p | test |",
                  "|---|---|---:|---:|---:|---|---:|---|"]

        def table(rows: Iterable[GateRow]) -> list[str]:
            out = list(header)
            for r in rows:
                c = r.comparison
                assert c is not None
                out.append(
                    f"| {r.severity or ''} | `{r.key.label}` | {_fmt(r.baseline)} {r.unit} | "
                    f"{_fmt(r.current)} {r.unit} | {c.change:+.1%} | {c.low:+.1%}..{c.high:+.1%} "
                    f"| {c.p_value:.2g} | {c.test} |"
                )
            return out

        if self.regressions:
            lines += ["### Regressions", "", *table(self.regressions), ""]
        improvements = [r for r in self.rows if r.status == "improvement"]
        if improvements:
            lines += ["### Improvements", "", *table(improvements), ""]
        others = [r for r in self.rows if r.status not in ("regression", "improvement")]
        if others:
            lines += ["<details><summary>Other series</summary>", "",
                      "| series | status | baseline | current | change |",
                      "|---|---|---:|---:|---:|"]
            for r in others:
                change = f"{r.comparison.change:+.1%}" if r.comparison else ""
                lines.append(f"| `{r.key.label}` | {r.status} | {_fmt(r.baseline)} {r.unit} | "
                             f"{_fmt(r.current)} {r.unit} | {change} |")
            lines += ["", "</details>", ""]
        return "\n".join(lines)

    def to_junit_xml(self) -> str:
        """JUnit XML: one test case per series; a regression is a failure, untestable is skipped."""
        failures = sum(r.status == "regression" for r in self.rows)
        skipped = sum(r.status in ("insufficient-data", "new", "missing", "not-judged")
                      for r in self.rows)
        counts = {"tests": str(len(self.rows)), "failures": str(failures), "errors": "0",
                  "skipped": str(skipped)}
        suites = ElementTree.Element("testsuites", name="skillsets check", **counts)
        suite = ElementTree.SubElement(
            suites, "testsuite",
            name=f"performance gate {self.current_run_id} vs {self.baseline.run_id}", **counts,
        )
        properties = ElementTree.SubElement(suite, "properties")
        for name, value in (("baseline_run_id", self.baseline.run_id),
                            ("baseline_reference", self.baseline.reference),
                            ("current_run_id", self.current_run_id),
                            ("alpha", f"{self.config.alpha:g}"),
                            ("min_effect", f"{self.config.min_effect:g}")):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        for r in self.rows:
            case = ElementTree.SubElement(
                suite, "testcase", classname=f"skillsets.{r.key.model_type}.{r.key.hardware}",
                name=f"{r.key.precision} bs{r.key.batch_size} {r.key.benchmark} {r.key.metric}",
                time="0",
            )
            c = r.comparison
            summary = (f"{r.key.label} {c.change:+.1%} ({_fmt(r.baseline)} -> {_fmt(r.current)} "
                       f"{r.unit}), 95% CI {c.low:+.1%}..{c.high:+.1%}, p={c.p_value:.2g}"
                       if c else r.key.label)
            if r.status == "regression":
                failure = ElementTree.SubElement(case, "failure", type=f"regression.{r.severity}",
                                                 message=f"{r.severity} regression: {summary}")
                failure.text = summary
            elif r.status in ("insufficient-data", "new", "missing", "not-judged"):
                ElementTree.SubElement(case, "skipped", message=f"{r.status}: {summary}")
            else:
                ElementTree.SubElement(case, "system-out").text = f"{r.status}: {summary}"
        ElementTree.indent(suites)
        return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _git_branch_commits(branch: str) -> list[str]:
    """Newest-first commits of `branch` in the repository, or [] where git cannot say."""
    try:
        done = subprocess.run(
            ["git", "rev-list", f"--max-count={BRANCH_DEPTH}", branch, "--"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("git cannot resolve %r: %s", branch, exc)
        return []
    return done.stdout.split() if done.returncode == 0 else []


def resolve_run(wh: History, reference: str, *, exclude: str | None = None) -> ResolvedRun:
    """The run a gate reference names: a run id, a branch, or a git sha.

    In order:
    1. a run whose `run_id` is `reference`;
    2. BRANCH: the latest completed run whose `runs.parameters` has `branch` or `git_branch`
       equal to `reference` (record it from CI, e.g. `GITHUB_REF_NAME`, `CI_COMMIT_REF_NAME`);
    3. BRANCH through git: the completed run measured at the newest of the branch's last 500
       commits in this repository (`git rev-list`), the latest such run if several;
    4. a git sha (7+ hex characters): the latest completed run whose `git_sha` starts with it.
    `exclude` (the current run) is never picked for 2-4.

    Raises:
        ValueError: nothing matches; the message lists the branches the warehouse knows.
    """
    if not wh.query("SELECT 1 FROM runs WHERE run_id = $1", [reference]).is_empty():
        return ResolvedRun(reference, reference, "run id")
    exclude = exclude or ""
    tagged = wh.query(
        """
        SELECT run_id FROM runs
        WHERE status = 'completed' AND run_id <> $exclude
          AND coalesce(json_extract_string(parameters, '$.branch'),
                       json_extract_string(parameters, '$.git_branch')) = $ref
        ORDER BY started_at DESC, run_id DESC LIMIT 1
        """,
        {"ref": reference, "exclude": exclude},
    )
    if tagged.height:
        return ResolvedRun(tagged["run_id"][0], reference, "branch parameter")
    commits = _git_branch_commits(reference)
    if commits:
        measured = wh.query(
            """
            SELECT run_id, git_sha FROM runs
            WHERE status = 'completed' AND run_id <> $exclude AND list_contains($shas, git_sha)
            ORDER BY started_at DESC, run_id DESC
            """,
            {"shas": commits, "exclude": exclude},
        )
        if measured.height:
            rank = {sha: i for i, sha in enumerate(commits)}
            best = min(measured.iter_rows(named=True), key=lambda r: rank[r["git_sha"]])
            return ResolvedRun(best["run_id"], reference, "git branch")
    if len(reference) >= 7 and all(ch in "0123456789abcdef" for ch in reference.lower()):
        by_sha = wh.query(
            """
            SELECT run_id FROM runs
            WHERE status = 'completed' AND run_id <> $exclude AND starts_with(git_sha, $ref)
            ORDER BY started_at DESC, run_id DESC LIMIT 1
            """,
            {"ref": reference.lower(), "exclude": exclude},
        )
        if by_sha.height:
            return ResolvedRun(by_sha["run_id"][0], reference, "git sha")
    branches = wh.query(
        """
        SELECT DISTINCT coalesce(json_extract_string(parameters, '$.branch'),
                                 json_extract_string(parameters, '$.git_branch')) AS branch
        FROM runs WHERE branch IS NOT NULL ORDER BY branch
        """
    )["branch"].to_list()
    raise ValueError(
        f"{reference!r} is no run id, no branch with a completed run (runs.parameters.branch: "
        f"{', '.join(branches) or 'none recorded'}; nor a git branch with a measured commit) and "
        "no git sha of a completed run; pass a run id from `skillsets warehouse query "
        "'SELECT run_id, started_at, git_sha FROM runs ORDER BY started_at DESC'`"
    )


def _run_results(wh: History, run_id: str) -> dict[SeriesKey, dict]:
    frame = wh.query(
        f"SELECT {_KEY}, value, unit, samples, measured_at FROM results WHERE run_id = $1 "
        f"ORDER BY {_KEY}",
        [run_id],
    )
    return {SeriesKey.of(row): row for row in frame.iter_rows(named=True)}


def _history_values(wh: History, run_id: str, history: int) -> dict[SeriesKey, np.ndarray]:
    frame = touched_history(wh, run_id, history)
    return {
        SeriesKey.of(group.row(0, named=True)): group["value"].to_numpy()
        for group in frame.partition_by(list(SERIES_KEY), maintain_order=True)
    }


def _samples(row: dict) -> Sequence[float]:
    return row.get("samples") or []


def check_gate(
    wh: History,
    baseline: str,
    current: str,
    *,
    config: DetectionConfig = DEFAULT_CONFIG,
) -> GateResult:
    """Compare every series of run `current` with the same series of the `baseline` run.

    Per series, with `analysis.compare` (p < `config.alpha` and >= `config.min_effect` worse),
    up to two tests that must agree:

    - samples: when both runs stored at least `MIN_SAMPLES` raw samples, Mann-Whitney U between
      them (how the two runs differ);
    - history: the current value as a robust z-score against the baseline run's history (its
      last `config.window` points up to and including the baseline run; needs 5), so a
      difference within the usual night-to-night noise (which samples of one run cannot show)
      does not fail the gate.

    A series is a regression only when every test that could run says so; the reported
    comparison is the more cautious one (the larger p-value). Neither test possible:
    insufficient-data, reported and not failed.

    Args:
        wh: The warehouse (read-only is enough).
        baseline: A run id, a branch or a git sha (see `resolve_run`).
        current: The run id under test.
        config: Thresholds.

    Raises:
        ValueError: an unknown current run, or a baseline that resolves to nothing.
    """
    _require_run(wh, current)
    resolved = resolve_run(wh, baseline, exclude=current)
    base_rows = _run_results(wh, resolved.run_id)
    cur_rows = _run_results(wh, current)
    base_history = _history_values(wh, resolved.run_id, config.window)
    rows: list[GateRow] = []
    for key in sorted(set(base_rows) | set(cur_rows)):
        b, c = base_rows.get(key), cur_rows.get(key)
        unit = str((c or b)["unit"])
        values = {"baseline": b["value"] if b else None, "current": c["value"] if c else None}
        if b is None or c is None:
            rows.append(GateRow(key, unit, "new" if b is None else "missing", **values))
            continue
        if key.metric in NOT_JUDGED:
            rows.append(GateRow(key, unit, "not-judged", **values))
            continue
        try:
            better_high = higher_is_better(key.metric, unit)
        except ValueError:
            rows.append(GateRow(key, unit, "not-judged", **values))
            continue
        pairs = [(base_history.get(key, np.array([b["value"]])), [c["value"]])]
        if len(_samples(b)) >= MIN_SAMPLES and len(_samples(c)) >= MIN_SAMPLES:
            pairs.insert(0, (_samples(b), _samples(c)))
        try:
            tests = [compare(reference, measured, higher_is_better=better_high,
                             alpha=config.alpha, min_effect=config.min_effect)
                     for reference, measured in pairs]
        except ValueError as exc:
            log.warning("cannot compare %s: %s", key.label, exc)
            rows.append(GateRow(key, unit, "insufficient-data", **values))
            continue
        judged = [t for t in tests if t.test != "insufficient-data"]
        if not judged:
            rows.append(GateRow(key, unit, "insufficient-data", comparison=tests[0], **values))
            continue
        comparison = max(judged, key=lambda t: t.p_value)
        verdicts = {t.verdict for t in judged}
        status: GateStatus = verdicts.pop() if len(verdicts) == 1 else "unchanged"
        severity = (severity_for(comparison.change, higher_is_better=better_high)
                    if status == "regression" else None)
        rows.append(GateRow(key, unit, status, comparison=comparison, severity=severity, **values))
    return GateResult(baseline=resolved, current_run_id=current, rows=tuple(rows), config=config)
