"""Alternating A/B rounds: every round measures each variant once, in turn, so
that whatever drifts during a run (other load, autovacuum, growing tables)
falls on every variant alike instead of on the last one measured."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.results import Result

K = TypeVar("K", bound=Hashable)


async def alternate(
    rounds: int, variants: Sequence[K], measure: Callable[[int, K], Awaitable[Result]]
) -> dict[K, list[Result]]:
    """{variant: its results, one per round}; `measure(round_no, variant)`
    runs with round_no from 1."""
    results: dict[K, list[Result]] = {variant: [] for variant in variants}
    for round_no in range(1, rounds + 1):
        for variant in variants:
            results[variant].append(await measure(round_no, variant))
    return results


@dataclass(frozen=True)
class Summary:
    """One variant over its rounds."""

    mean: float  # operations/s
    low: float
    high: float
    p50: float  # the median of the rounds' p50, ms
    cpu: dict[str, float]  # the mean of the rounds' CPU per group, % of one core

    def ratio(self, baseline: Summary) -> float:
        return self.mean / baseline.mean if baseline.mean else math.nan


def summarize(results: Sequence[Result]) -> Summary:
    rates = [r.rate for r in results]
    groups = {name for r in results for name in r.cpu}
    return Summary(
        mean=statistics.fmean(rates),
        low=min(rates),
        high=max(rates),
        p50=statistics.median(r.percentile(0.5) for r in results),
        cpu={g: statistics.fmean(r.cpu.get(g, math.nan) for r in results) for g in groups},
    )


def median_interval(
    paired: Sequence[float], confidence: float = 0.95, resamples: int = 10_000
) -> tuple[float, float]:
    """A percentile-bootstrap interval of the median of per-round ratios:
    how far the median could move were the rounds run again. A handful of
    rounds on a shared machine gives a wide one, and that width is the
    answer to whether a few per cent were measured at all. Seeded, so that
    the same rounds print the same interval."""
    if len(paired) < 2:
        return (math.nan, math.nan)
    draw = random.Random(len(paired)).choices
    medians = sorted(statistics.median(draw(paired, k=len(paired))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return medians[int(tail * resamples)], medians[int((1 - tail) * resamples) - 1]
