"""Open-loop load: operations started at a fixed rate whatever the server's
speed (arrivals from many independent clients, not a few users that wait for
each answer), at most `max_in_flight` at once. An arrival that finds them all
busy is not started and is counted as such, so that "achieved against offered"
shows when the server fell behind."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# One operation: what came of it ("ok", "userErrors", "HTTP 503", …).
Operation = Callable[[], Awaitable[str]]


@dataclass
class Paced:
    name: str
    rate: float  # operations offered per second
    offered: int = 0
    not_started: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of completed ones

    @property
    def completed(self) -> int:
        return sum(self.outcomes.values())


async def run_paced(paced: Paced, operation: Operation, seconds: float, max_in_flight: int) -> None:
    """Offers `paced.rate` operations per second for `seconds`, then waits
    for those in flight."""
    if paced.rate <= 0:
        return
    in_flight: set[asyncio.Task[None]] = set()

    async def one() -> None:
        t0 = time.perf_counter()
        try:
            outcome = await operation()
        except Exception as exc:
            outcome = f"{type(exc).__name__}"
        paced.latencies.append(time.perf_counter() - t0)
        paced.outcomes[outcome] += 1

    start = time.perf_counter()
    total = int(paced.rate * seconds)
    for i in range(total):
        delay = start + i / paced.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        paced.offered += 1
        if len(in_flight) >= max_in_flight:
            paced.not_started += 1
            continue
        task = asyncio.create_task(one())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)
