"""The precision trade-off chart: per model, the weights' memory against the output quality kept,
one point per (hardware, precision), from the benchmarks' `weight_memory` and quality rows.

A pure function from the results frame to an Altair chart, like `warehouse/charts.py`. Quality is
`quality_cosine` (encoders) or `top1_agreement` (generators) against the same weights at fp32
(`skillsets/bench/quality.py`); an fp32 row is that reference, so it is drawn at quality 1.0 by
definition and marked as such. A point up and to the left is the better trade.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse.charts import HEIGHT, WIDTH, latest_per_series, placeholder

#: Quality metrics, first found per series wins (a model has one or the other).
QUALITY_METRICS = ("quality_cosine", "top1_agreement")
MEMORY_METRIC = "weight_memory"
#: Precisions that are the quality reference (compared to themselves).
REFERENCE_PRECISION = "fp32"
TITLE = "Weight memory against output quality, per precision"
_KEY = ["model_type", "hardware", "precision", "size"]


def quality_memory_frame(results: pl.DataFrame) -> pl.DataFrame:
    """The latest weight memory and quality of each (model, hardware, precision, size).

    Only the `inference` benchmark at batch size 1 is read (quality rows exist per batch size;
    memory is per model, stored at batch size 1).

    Returns:
        Columns model_type, hardware, precision, size, execution_precision, weight_mb,
        quality, quality_metric (`quality_cosine`, `top1_agreement`, or `reference` for fp32),
        run_id; only models with at least one measured quality; empty without such rows.
    """
    rows = results.filter(
        (pl.col("benchmark") == "inference") & (pl.col("batch_size") == 1)
        & pl.col("metric").is_in([MEMORY_METRIC, *QUALITY_METRICS])
    )
    empty = pl.DataFrame(schema={
        "model_type": pl.String, "hardware": pl.String, "precision": pl.String,
        "size": pl.String, "execution_precision": pl.String, "weight_mb": pl.Float64,
        "quality": pl.Float64, "quality_metric": pl.String, "run_id": pl.String,
    })
    if rows.is_empty():
        return empty
    latest = latest_per_series(rows)
    memory = latest.filter(pl.col("metric") == MEMORY_METRIC).select(
        *_KEY, "execution_precision", (pl.col("value") / 1e6).alias("weight_mb"), "run_id",
    )
    quality = (
        latest.filter(pl.col("metric").is_in(list(QUALITY_METRICS)))
        .sort(pl.col("metric").replace_strict({m: i for i, m in enumerate(QUALITY_METRICS)}))
        .group_by(_KEY, maintain_order=True).first()
        .select(*_KEY, pl.col("value").alias("quality"), pl.col("metric").alias("quality_metric"))
    )
    measured = quality["model_type"].unique()
    frame = memory.join(quality, on=_KEY, how="left").filter(
        pl.col("model_type").is_in(measured.implode())
    ).with_columns(
        pl.when(pl.col("precision") == REFERENCE_PRECISION).then(pl.lit(1.0))
        .otherwise(pl.col("quality")).alias("quality"),
        pl.when(pl.col("precision") == REFERENCE_PRECISION).then(pl.lit("reference"))
        .otherwise(pl.col("quality_metric")).alias("quality_metric"),
    ).filter(pl.col("quality").is_not_null())
    if frame.is_empty():
        return empty
    return frame.select(empty.columns).sort("model_type", "size", "hardware", "weight_mb")


def quality_memory_chart(results: pl.DataFrame) -> alt.Chart:
    """Weight memory (MB, x) against quality kept (y), colour = precision, shape = hardware; a
    control picks the model (and size). Up and left is better: less memory, closer to fp32."""
    frame = quality_memory_frame(results).with_columns(
        pl.format("{} ({})", pl.col("model_type"), pl.col("size")).alias("model")
    )
    if frame.is_empty():
        return placeholder(TITLE, "no quality rows stored yet (bench a non-fp32 precision)")
    models = frame["model"].unique(maintain_order=True).to_list()
    model = alt.param(name="quality_model", value=models[0],
                      bind=alt.binding_select(options=models, name="model "))
    return (
        alt.Chart(frame, title=TITLE, width=WIDTH, height=HEIGHT)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("weight_mb:Q", title="weight memory (MB)", scale=alt.Scale(zero=False)),
            y=alt.Y("quality:Q", title="quality kept (cosine or top-1 agreement vs fp32)",
                    scale=alt.Scale(zero=False)),
            color=alt.Color("precision:N", title="precision"),
            shape=alt.Shape("hardware:N", title="hardware"),
            tooltip=[
                "model:N", "hardware:N", "precision:N", "execution_precision:N",
                alt.Tooltip("weight_mb:Q", format=".2f", title="weights MB"),
                alt.Tooltip("quality:Q", format=".5f"), "quality_metric:N", "run_id:N",
            ],
        )
        .transform_filter(f"datum.model === {model.name}")
        .add_params(model)
    )
