"""How far a compiled backend may differ from torch, by the precision it executed.

The reference is always torch in fp32. A backend that really ran f32 must agree to float
rounding; one that ran bf16 (8 significant bits, a relative step of 2^-8) or f16 (11 bits, 2^-11)
differs by its rounding compounded over the model's layers, so its limit is looser and named
after it. The limit that applied is recorded with every compatibility row.

Validation loads every skill at fp32 (`smoke_test` passes no precision), so weight-only
precisions (`int8-wo`, `int4-wo:g128`) never reach `parity_limit`; their quality against fp32 is
the benchmark's measurement, not a validation limit. A validation run at those precisions would
need limits stated here first, and `parity_limit` raises, naming the stated ones, until then.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hardware.names import UnknownNameError


@dataclass(frozen=True)
class ParityLimit:
    """The largest accepted |compiled - torch|: `atol + rtol * (largest |torch| value)`.

    Attributes:
        atol: Absolute part.
        rtol: Relative part, times the largest magnitude of torch's output.
    """

    atol: float
    rtol: float

    def __post_init__(self) -> None:
        if self.atol < 0 or self.rtol < 0:
            raise ValueError(f"parity limits must be >= 0, got atol={self.atol} rtol={self.rtol}")


#: Limit per execution precision (as backends report it: `f32`, `bf16`, `f16`). f32 allows
#: reordered sums and fused kernels (~1e-6 relative per op) with room for deep models; bf16 and
#: f16 allow a few units of their last place (2^-8 = 3.9e-3, 2^-11 = 4.9e-4) compounded.
PARITY_LIMITS: dict[str, ParityLimit] = {
    "f32": ParityLimit(atol=1e-3, rtol=1e-3),
    "bf16": ParityLimit(atol=5e-2, rtol=5e-2),
    "f16": ParityLimit(atol=1e-2, rtol=1e-2),
}


def parity_limit(execution_precision: str, limits: dict[str, ParityLimit] | None = None
                 ) -> ParityLimit:
    """The limit for a backend that reported `execution_precision`.

    Raises:
        UnknownNameError: a precision with no stated limit (the message lists the stated ones).
    """
    table = PARITY_LIMITS if limits is None else limits
    if execution_precision not in table:
        raise UnknownNameError("execution precision", execution_precision, table)
    return table[execution_precision]


def tolerance_details(execution_precision: str, limit: ParityLimit) -> dict[str, Any]:
    """The `details["tolerance"]` entry of a compatibility row: which limit applied."""
    return {"execution_precision": execution_precision, **asdict(limit)}
