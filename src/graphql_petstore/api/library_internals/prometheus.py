"""What the metrics rely on in prometheus-client beyond its documented API
(see the package's docstring).

- prometheus-client's Histogram observes one value at a time, in Python,
  under a lock per bucket. observability.metrics counts an operation's
  latencies in plain numbers and adds them in bulk (`add_observations`): a
  histogram child keeps `_sum` and, in `_buckets`, one value per bound of
  `_upper_bounds` (counts not cumulative: observe() adds 1 to the first
  bucket whose bound is not below the value), each with `inc(amount)`; in
  multiprocess mode those values are the ones written to the worker's file.
"""

from __future__ import annotations

from typing import Any


def add_observations(histogram: Any, buckets: list[int], total: float) -> None:
    """What observe() of each value would add to a histogram's label child:
    `buckets[i]` values in the bucket of `_upper_bounds[i]` (not cumulative),
    summing to `total`."""
    histogram._sum.inc(total)
    values = histogram._buckets
    for index, count in enumerate(buckets):
        if count:
            values[index].inc(count)
