"""Great Expectations checks every batch before it is written; a failing batch is quarantined.

One ephemeral (in-memory) GX context per process, one pandas data asset per table. The suite is
built per batch because the allowed run and environment ids come from the warehouse itself.

pandas reads NaN as missing, so for optional float columns and sample lists the checked frame
gets two derived columns: `non_finite_count` (NaN or infinite values in the row's optional
statistics and samples) and `samples_min`.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from warehouse.records import (
    BENCHMARKS,
    COMPATIBILITY_KEY,
    COMPATIBILITY_STATUSES,
    RESULT_KEY,
    SIZES,
    UNITS,
)

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations import Expectation

#: Largest value a metric may have; anything larger is a unit mistake or an infinity.
MAX_VALUE = 1e18

_RESULT_STATISTICS = ("mean", "stdev", "p50", "p90", "p99", "min", "max")
_COMPATIBILITY_FLOATS = ("seconds", "max_abs_diff")
#: Optional float columns per table whose NaN/inf count goes into `non_finite_count`.
_OPTIONAL_FLOATS: dict[str, tuple[str, ...]] = {
    "results": _RESULT_STATISTICS,
    "compatibility": _COMPATIBILITY_FLOATS,
}
#: Columns GE never sees: lists and JSON text (checked through derived columns, or by pydantic).
_UNCHECKED: dict[str, frozenset[str]] = {
    "environments": frozenset({"packages", "hardware"}),
    "runs": frozenset({"packages", "parameters"}),
    "models": frozenset({"details"}),
    "results": frozenset({"samples"}),
    "compatibility": frozenset({"details"}),
    "testsuite_analyses": frozenset({"paths", "packages", "plan"}),
    "testsuite_classes": frozenset({"bases"}),
    "testsuite_tests": frozenset(
        {"fixtures", "parametrizations", "markers", "assertion_kinds", "calls"}
    ),
    "testsuite_clusters": frozenset({"members", "differences", "proposal"}),
}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation a batch did not meet."""

    name: str
    unexpected_count: int | None
    examples: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        count = "" if self.unexpected_count is None else f": {self.unexpected_count} row(s)"
        shown = f", e.g. {self.examples[:3]}" if self.examples else ""
        return f"{self.name}{count}{shown}"


@dataclass(frozen=True)
class ValidationOutcome:
    """What Great Expectations said about one batch."""

    table: str
    rows: int
    evaluated: int
    failed: tuple[FailedExpectation, ...]
    report: dict[str, Any]
    seconds: float

    @property
    def success(self) -> bool:
        """True when every expectation was met."""
        return not self.failed

    @property
    def failed_names(self) -> list[str]:
        """Names of the failed expectations, e.g. `expect_column_values_to_not_be_null(value)`."""
        return [failure.name for failure in self.failed]


class RejectedBatchError(ValueError):
    """A batch failed validation; nothing of it was loaded and it was written to quarantine."""

    def __init__(
        self,
        outcome: ValidationOutcome,
        quarantined_at: Path | None,
        *,
        hints: Collection[str] = (),
    ) -> None:
        self.outcome = outcome
        self.quarantined_at = quarantined_at
        lines = "\n  ".join(str(failure) for failure in outcome.failed)
        where = ""
        if quarantined_at:
            where = f" The batch and its validation report are in {quarantined_at}."
        todo = "; ".join([*hints, "fix the producer and load the batch again"])
        super().__init__(
            f"rejected a batch of {outcome.rows} {outcome.table} row(s): "
            f"{len(outcome.failed)} of {outcome.evaluated} expectations failed:\n  {lines}\n"
            f"Nothing of it was loaded.{where} To do: {todo}."
        )

    @property
    def failed_names(self) -> list[str]:
        """Names of the failed expectations."""
        return self.outcome.failed_names


def validate_batch(
    table: str, frame: pl.DataFrame, *, references: Mapping[str, Collection[str]] | None = None
) -> ValidationOutcome:
    """Check a conformed batch (`frames.conform`) of `table` with Great Expectations.

    Args:
        table: one of the tables in `warehouse.frames.FRAME_SCHEMAS`.
        frame: the batch, with exactly the table's columns.
        references: column -> the values it may take (e.g. `run_id` -> the runs the warehouse
            knows); each becomes an `expect_column_values_to_be_in_set`.

    Returns:
        The outcome; `outcome.success` is False when any expectation failed.
    """
    started = time.perf_counter()
    checked = _checked_frame(table, frame)
    expectations = _EXPECTATIONS[table]() + _reference_expectations(references or {})
    with _LOCK:
        import great_expectations as gx

        _, definitions = _gx_context()
        # The suite is built per batch and never stored: the context is only a runtime for it.
        suite = gx.ExpectationSuite(name=table, expectations=expectations)
        batch = definitions[table].get_batch(batch_parameters={"dataframe": checked})
        # Pass/fail is cheapest to compute; a failing batch is checked again for the report's
        # counts and examples (rejection is the rare path).
        result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        if not result.success:
            result = batch.validate(suite, result_format="SUMMARY")
    report = result.to_json_dict()
    failed = tuple(
        FailedExpectation(
            name=_name(item["expectation_config"]),
            unexpected_count=item["result"].get("unexpected_count"),
            examples=list(item["result"].get("partial_unexpected_list") or []),
        )
        for item in report["results"]
        if not item["success"]
    )
    return ValidationOutcome(
        table=table,
        rows=frame.height,
        evaluated=len(report["results"]),
        failed=failed,
        report=report,
        seconds=time.perf_counter() - started,
    )


def quarantine(outcome: ValidationOutcome, frame: pl.DataFrame, folder: Path) -> Path:
    """Write a rejected batch as Parquet with its validation report; return the batch's folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{outcome.table}-{stamp}-{os.getpid()}"
    target.mkdir(parents=True, exist_ok=False)
    frame.write_parquet(target / "batch.parquet")
    summary = {
        "table": outcome.table,
        "rows": outcome.rows,
        "failed_expectations": [
            {"name": f.name, "unexpected_count": f.unexpected_count, "examples": f.examples}
            for f in outcome.failed
        ],
        "great_expectations": outcome.report,
    }
    (target / "validation.json").write_text(json.dumps(summary, indent=2, default=str))
    return target


def _checked_frame(table: str, frame: pl.DataFrame) -> pd.DataFrame:
    """The pandas frame GE sees: scalar columns plus the derived columns described above."""
    derived = []
    optional = _OPTIONAL_FLOATS.get(table, ())
    if optional:
        non_finite = [(~pl.col(c).is_finite()).fill_null(False).cast(pl.Int64) for c in optional]
        if table == "results":
            samples = pl.col("samples")
            non_finite.append(
                samples.list.eval((~pl.element().is_finite()).cast(pl.Int64)).list.sum().fill_null(0)
            )
            derived.append(samples.list.min().alias("samples_min"))
        derived.append(pl.sum_horizontal(non_finite).alias("non_finite_count"))
    unchecked = _UNCHECKED.get(table, frozenset())
    scalar = [name for name in frame.columns if name not in unchecked]
    checked = frame.select([*scalar, *derived]).with_columns(
        # Categorical strings make the pandas copy smaller and GE's null/set/duplicate checks
        # faster; GE's range check is vectorised for int64 and float64 only (element by element
        # in Python otherwise).
        pl.col(pl.String).cast(pl.Categorical),
        pl.col(pl.Int8, pl.Int16, pl.Int32).cast(pl.Int64),
    )
    return checked.to_pandas()


@functools.cache
def _gx_context() -> tuple[Any, dict[str, Any]]:
    """The process's ephemeral GX context and one whole-frame batch definition per table."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="warehouse")
    definitions = {
        table: source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("batch")
        for table in _EXPECTATIONS
    }
    return context, definitions


def _name(config: dict[str, Any]) -> str:
    kwargs = config["kwargs"]
    columns = kwargs.get("column") or kwargs.get("column_list")
    if columns is None and "column_A" in kwargs:
        columns = [kwargs["column_A"], kwargs["column_B"]]
    shown = ", ".join(columns) if isinstance(columns, list) else (columns or "")
    name = f"{config['type']}({shown})"
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and "column" in condition:
        column, operator = condition["column"]["name"], condition["operator"]
        condition = f"{column} {operator} {condition['parameter']!r}"
    return f"{name} where {condition}" if condition else name


def _not_null(*columns: str) -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToNotBeNull(column=name) for name in columns]


def _between(
    *columns: str, low: float | None = 0, high: float | None = MAX_VALUE
) -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=low, max_value=high) for c in columns
    ]


def _in_set(column: str, values: Collection[str]) -> Expectation:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values))


def _unique(*columns: str) -> Expectation:
    import great_expectations.expectations as gxe

    if len(columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=columns[0])
    return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))


def _ordered(larger: str, smaller: str) -> Expectation:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=larger, column_B=smaller, or_equal=True, ignore_row_if="either_value_is_missing"
    )


def _where(column: str, value: str) -> Any:
    """A GX row condition `column == value`."""
    from great_expectations.expectations.row_conditions import Column

    return Column(column) == value


def _no_non_finite() -> list[Expectation]:
    return _between("non_finite_count", low=0, high=0)


def _results() -> list[Expectation]:
    return [
        *_not_null(*RESULT_KEY, "environment_id", "value", "unit", "measured_at"),
        *_between("value", *_RESULT_STATISTICS, "samples_min"),
        *_between("batch_size", "n", low=1, high=None),
        _in_set("unit", UNITS),
        _in_set("benchmark", BENCHMARKS),
        _in_set("size", SIZES),
        *_between("parameters", low=1, high=None),
        _ordered("p90", "p50"),
        _ordered("p99", "p90"),
        _ordered("max", "min"),
        *_no_non_finite(),
        _unique(*RESULT_KEY),
    ]


def _compatibility() -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [
        *_not_null(*COMPATIBILITY_KEY, "environment_id", "status", "checked_at"),
        _in_set("status", COMPATIBILITY_STATUSES),
        gxe.ExpectColumnValuesToNotBeNull(
            column="error_type", row_condition=_where("status", "fail")
        ),
        *_between(*_COMPATIBILITY_FLOATS),
        *_no_non_finite(),
        _unique(*COMPATIBILITY_KEY),
    ]


def _alerts() -> list[Expectation]:
    import great_expectations.expectations as gxe

    required = ("alert_id", "model_type", "hardware", "precision", "size", "batch_size",
                "benchmark")
    return [
        *_not_null(*required, "metric", "first_bad_run_id", "severity", "change", "confidence"),
        *_not_null("p_value", "status", "opened_at"),
        _in_set("severity", ("low", "medium", "high", "critical")),
        _in_set("status", ("open", "closed")),
        _in_set("benchmark", BENCHMARKS),
        *_between("confidence", "p_value", low=0, high=1),
        *_between("change", low=-1),
        gxe.ExpectColumnValuesToNotBeNull(
            column="closed_at", row_condition=_where("status", "closed")
        ),
        _unique("alert_id"),
    ]


def _runs() -> list[Expectation]:
    return [
        *_not_null("run_id", "flow", "started_at", "status", "git_sha", "environment_id"),
        _in_set("status", ("running", "completed", "failed")),
        _unique("run_id"),
    ]


def _environments() -> list[Expectation]:
    return [
        *_not_null("environment_id", "hostname", "cpu_model", "os", "python", "git_sha"),
        *_between("cpu_cores", "memory_bytes", low=0, high=None),
        _unique("environment_id"),
    ]


def _models() -> list[Expectation]:
    return [*_not_null("model_type", "recorded_at"), _unique("model_type")]


def _testsuite_analyses() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "analyzed_at", "threshold", "seconds", "git_sha"),
        *_between("threshold", low=0, high=1),
        *_between("modules", "unparsable", "tests", "clusters", "smells", "seconds", high=None),
        _unique("analysis_id"),
    ]


def _testsuite_modules() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "path", "lines", "tests", "classes", "fixtures"),
        *_between("lines", "tests", "classes", "fixtures", high=None),
        _unique("analysis_id", "path"),
    ]


def _testsuite_classes() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "path", "qualname", "lineno", "end_lineno", "is_unittest"),
        _ordered("end_lineno", "lineno"),
        _unique("analysis_id", "path", "qualname", "lineno"),
    ]


def _testsuite_tests() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "path", "qualname", "lineno", "end_lineno", "fingerprint"),
        *_between("lines", low=1, high=None),
        *_between("assertions", high=None),
        _ordered("end_lineno", "lineno"),
        _unique("analysis_id", "path", "qualname", "lineno"),
    ]


def _testsuite_fixtures() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "path", "name", "scope", "autouse", "lineno", "uses"),
        _in_set("scope", ("function", "class", "module", "package", "session", "dynamic")),
        *_between("uses", high=None),
        _unique("analysis_id", "path", "name", "lineno"),
    ]


def _testsuite_clusters() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "cluster_id", "kind", "size", "similarity"),
        _in_set("kind", ("exact", "near", "block")),
        *_between("size", low=2, high=None),
        *_between("similarity", low=0, high=1),
        *_between("lines", "lines_removed", high=None),
        _unique("analysis_id", "cluster_id"),
    ]


def _testsuite_smells() -> list[Expectation]:
    return [
        *_not_null("analysis_id", "rule_id", "rule", "path", "qualname", "lineno", "reason"),
        _unique("analysis_id", "rule_id", "path", "qualname", "lineno", "reason"),
    ]


def _reference_expectations(references: Mapping[str, Collection[str]]) -> list[Expectation]:
    return [_in_set(column, values) for column, values in references.items()]


#: Table -> its expectations (without the reference checks, which depend on the warehouse).
_EXPECTATIONS = {
    "environments": _environments,
    "runs": _runs,
    "models": _models,
    "results": _results,
    "compatibility": _compatibility,
    "alerts": _alerts,
    "testsuite_analyses": _testsuite_analyses,
    "testsuite_modules": _testsuite_modules,
    "testsuite_classes": _testsuite_classes,
    "testsuite_tests": _testsuite_tests,
    "testsuite_fixtures": _testsuite_fixtures,
    "testsuite_clusters": _testsuite_clusters,
    "testsuite_smells": _testsuite_smells,
}
