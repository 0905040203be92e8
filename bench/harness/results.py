"""One measured scenario: the latencies of the operations that completed in
its window, its errors and the CPU used meanwhile."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of latencies in seconds, in milliseconds."""
    if not latencies:
        return math.nan
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000.0


@dataclass
class Result:
    name: str
    kind: str  # "api", "raw", "ref" or "gen"
    concurrency: int
    processes: str  # "srv=1" (server workers) or "cli=2" (client processes)
    duration: float
    latencies: list[float] = field(default_factory=list)  # seconds, completed in window
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # group -> % of one core
    note: str = ""
    ready_at: float = 0.0  # time.time() when its users were connected

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.duration if self.duration else 0.0

    def percentile(self, q: float) -> float:
        return percentile_ms(self.latencies, q)

    def add_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(message[:300])


def find(results: Sequence[Result], name_start: str, concurrency: int) -> Result | None:
    for result in results:
        if result.name.startswith(name_start) and result.concurrency == concurrency:
            return result
    return None
