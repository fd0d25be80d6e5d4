"""Longest-first ordering and the makespan simulation, with exact answers."""

from __future__ import annotations

import pytest

from skillsets.bench.sweep import plan_sweep
from skillsets.plan import (
    WorkItem,
    config_size_estimate,
    longest_first,
    makespan,
    order_longest_first,
    with_durations,
)


def test_makespan_of_list_scheduling() -> None:
    # Two workers, plain order: w1 1,1,... the long job starts last and finishes at 2 + 4 = 6.
    assert makespan([1, 1, 1, 1, 4], workers=2) == 6.0
    # Longest first: 4 on one worker, the four 1s on the other: 4.
    assert makespan([4, 1, 1, 1, 1], workers=2) == 4.0
    assert makespan([], workers=3) == 0.0
    assert makespan([2, 3], workers=1) == 5.0


def test_makespan_rejects_no_workers() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        makespan([1.0], workers=0)


def test_history_wins_over_estimate() -> None:
    items = [("bert", "cpu", "fp32"), ("gpt2", "cpu", "fp32")]
    planned = with_durations(items, {("bert", "cpu", "fp32"): 7.5}, estimate=lambda m: 2.0)
    assert planned == [
        WorkItem("bert", "cpu", "fp32", 7.5, "history"),
        WorkItem("gpt2", "cpu", "fp32", 2.0, "estimate"),
    ]


def test_longest_first_is_stable() -> None:
    a, b, c = (
        WorkItem("a", "cpu", seconds=1),
        WorkItem("b", "cpu", seconds=3),
        WorkItem("c", "cpu", seconds=1),
    )
    assert longest_first([a, b, c]) == [b, a, c]


def test_size_estimate_orders_big_models_after_small_ones() -> None:
    assert config_size_estimate("llama") > config_size_estimate("bert") > 1.0
    assert config_size_estimate("not-a-model") == 1.0


def test_benchmark_specs_are_ordered_by_history_then_estimate() -> None:
    specs = plan_sweep("run-1", ["bert", "gpt2", "vit"], ["cpu"], ["fp32"])
    history = {("vit", "cpu", "fp32"): 30.0, ("bert", "cpu", "fp32"): 5.0}
    sizes = {"gpt2": 10.0}
    ordered = order_longest_first(specs, history, estimate=lambda m: sizes.get(m, 1.0))
    assert [s.model_type for s in ordered] == ["vit", "gpt2", "bert"]
    assert sorted(map(id, ordered)) == sorted(map(id, specs))  # the same specs, reordered
