"""Load levels: a fixed number of requests at a fixed concurrency or at Poisson arrivals."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from skillsets.api.client import (
    Endpoint,
    RequestResult,
    RequestSpec,
    new_event_loop,
    new_session,
    open_connections,
    send,
)

#: Words prompts are drawn from: common short English words, so that any tokenizer makes
#: about one token of each (the server's `usage.prompt_tokens` says exactly how many).
_WORDS = ("the of and to in is was for on that with as by at from this have are not but one "
          "all had can her were there been has more will would their when who said each which "
          "time about many then them these some like into make two see way could people than "
          "first water long down day did get come made may part over new").split()


@dataclass(frozen=True)
class Load:
    """One load level: at most `concurrency` requests in flight, or Poisson arrivals.

    Attributes:
        concurrency: Requests in flight at once (a closed loop); with `rate`, a cap
            (None = no cap).
        rate: Mean arrivals per second (Poisson: exponential gaps, seeded); None = send each
            request as soon as a slot frees.
    """

    concurrency: int | None = None
    rate: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency is None and self.rate is None:
            raise ValueError("a load level needs a concurrency or a request rate")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"request rate must be > 0 per second, got {self.rate}")

    @property
    def label(self) -> str:
        """`concurrency 4`, `rate 2/s`, or both."""
        parts = []
        if self.rate is not None:
            parts.append(f"rate {self.rate:g}/s")
        if self.concurrency is not None:
            parts.append(f"concurrency {self.concurrency}")
        return ", ".join(parts)


def make_prompts(n: int, input_tokens: int, seed: int) -> list[str]:
    """`n` distinct seeded prompts of `input_tokens` words each (no shared prefix to cache)."""
    if input_tokens < 1:
        raise ValueError(f"input tokens must be >= 1, got {input_tokens}")
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(_WORDS, size=input_tokens)) for _ in range(n)]


def arrival_gaps(n: int, rate: float, seed: int) -> list[float]:
    """Seconds to wait before each of `n` requests: exponential with mean 1/rate (Poisson)."""
    rng = np.random.default_rng(seed)
    return [float(g) for g in rng.exponential(1.0 / rate, size=n)]


async def run_level(
    base_url: str,
    endpoint: Endpoint,
    model: str,
    specs: list[RequestSpec],
    load: Load,
    *,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    seed: int = 0,
) -> tuple[list[RequestResult], float]:
    """Send every spec under `load`; return the results (in spec order) and the wall time.

    The pool's connections are opened before the clock starts (see `open_connections`), and
    kept alive between requests. Every request is bounded by `timeout_s`, so a level ends
    within about len(specs) / concurrency * timeout_s (and the opening of the connections
    within min(timeout_s, 10 s) more) even against an endpoint that never answers.
    """
    slots = min(load.concurrency or len(specs), len(specs))
    semaphore = asyncio.Semaphore(slots)

    async with new_session(slots, api_key, timeout_s) as session:
        await open_connections(session, base_url, slots, min(timeout_s, 10.0))

        async def one(spec: RequestSpec) -> RequestResult:
            async with semaphore:
                return await send(session, base_url, endpoint, model, spec, timeout_s)

        start = time.perf_counter()
        if load.rate is None:
            results = await asyncio.gather(*(one(s) for s in specs))
        else:
            tasks = []
            for spec, gap in zip(specs, arrival_gaps(len(specs), load.rate, seed), strict=True):
                await asyncio.sleep(gap)
                tasks.append(asyncio.create_task(one(spec)))
            results = await asyncio.gather(*tasks)
        duration = time.perf_counter() - start
    return list(results), duration


def run_level_sync(
    base_url: str,
    endpoint: Endpoint,
    model: str,
    specs: list[RequestSpec],
    load: Load,
    *,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    seed: int = 0,
) -> tuple[list[RequestResult], float]:
    """`run_level` on an event loop of its own: uvloop's where installed (`new_event_loop`)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_level(base_url, endpoint, model, specs, load, api_key=api_key,
                                    timeout_s=timeout_s, seed=seed))
