"""Ordering work for a sweep: longest-first from measured history, else from model size.

Longest-processing-time-first (LPT) is Graham's classic list-scheduling rule: with unequal task
lengths, starting the long ones first keeps one straggler from holding the whole sweep back.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar


@dataclass(frozen=True)
class WorkItem:
    """One unit of sweep work (one model x hardware x precision) and its expected duration."""

    model_type: str
    hardware: str
    precision: str = "fp32"
    seconds: float = 0.0
    source: Literal["history", "estimate"] = "estimate"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model_type, self.hardware, self.precision)


def with_durations(
    items: Sequence[tuple[str, str, str]],
    history: Mapping[tuple[str, str, str], float],
    estimate: Callable[[str], float],
) -> list[WorkItem]:
    """Attach a duration to each (model, hardware, precision): measured history where there is
    one, else `estimate(model_type)`."""
    planned = []
    for model_type, hardware, precision in items:
        measured = history.get((model_type, hardware, precision))
        if measured is not None and measured > 0:
            planned.append(WorkItem(model_type, hardware, precision, float(measured), "history"))
        else:
            planned.append(WorkItem(model_type, hardware, precision, float(estimate(model_type))))
    return planned


def longest_first(items: Sequence[WorkItem]) -> list[WorkItem]:
    """Items ordered by expected duration, longest first; ties keep their given order."""
    return sorted(items, key=lambda item: -item.seconds)


class _Keyed(Protocol):
    model_type: str
    hardware: str
    precision: str


Spec = TypeVar("Spec", bound=_Keyed)


def order_longest_first(
    specs: Sequence[Spec],
    history: Mapping[tuple[str, str, str], float],
    estimate: Callable[[str], float] | None = None,
) -> list[Spec]:
    """`specs` (anything with model_type, hardware and precision) ordered longest-first by
    their measured durations, else by `estimate` (default: `config_size_estimate`)."""
    planned = with_durations(
        [(s.model_type, s.hardware, s.precision) for s in specs],
        history,
        estimate or config_size_estimate,
    )
    order = sorted(range(len(specs)), key=lambda i: -planned[i].seconds)
    return [specs[i] for i in order]


def makespan(durations: Sequence[float], workers: int) -> float:
    """Finish time of the last item when `workers` identical workers take items in the given
    order, each starting the next item as soon as it is free (what a Dask scheduler does with
    one task per worker at a time).

    Raises:
        ValueError: if `workers` < 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    free_at = [0.0] * workers
    for duration in durations:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + duration)
    return max(free_at)


def config_size_estimate(model_type: str) -> float:
    """A relative cost for a model type from its default config, for types with no history.

    Roughly the parameter count of a transformer with the config's default sizes
    (12 * layers * hidden^2 + vocab * hidden), in millions; 1.0 when the config has no such sizes.
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.for_model(model_type)
    except (ValueError, KeyError, TypeError):
        return 1.0
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = getattr(text, "hidden_size", None) or getattr(text, "d_model", None) or 0
    layers = getattr(text, "num_hidden_layers", None) or getattr(text, "num_layers", None) or 0
    vocab = getattr(text, "vocab_size", None) or 0
    if not (isinstance(hidden, int) and isinstance(layers, int) and isinstance(vocab, int)):
        return 1.0
    params = 12 * layers * hidden * hidden + vocab * hidden
    return max(params / 1e6, 1.0)
