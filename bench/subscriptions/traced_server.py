"""`graphql-petstore serve --workers 1` with tracemalloc on, for
subscription_memory_bench.py: on SIGUSR1 the server writes, to
$PETSTORE_TRACEMALLOC_OUT, the memory that Python has allocated and still
holds, and (from the second signal on) its growth since the first signal by
allocation site. Usage: python traced_server.py <graphql-petstore script> serve …"""

from __future__ import annotations

import gc
import json
import os
import runpy
import signal
import sys
import tracemalloc
from typing import Any

FRAMES = 5  # a site is the innermost frame of the project's own code, if any
TOP = 25


def main() -> None:
    tracemalloc.start(FRAMES)
    first: list[tracemalloc.Snapshot] = []

    def dump(*_: Any) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        report: dict[str, Any] = {"traced": sum(t.size for t in snapshot.traces)}
        if first:
            sites: dict[str, list[int]] = {}
            for stat in snapshot.compare_to(first[0], "traceback"):
                site = _site(stat.traceback)
                totals = sites.setdefault(site, [0, 0])
                totals[0] += stat.size_diff
                totals[1] += stat.count_diff
            top = sorted(sites.items(), key=lambda item: -item[1][0])[:TOP]
            report["top"] = [[site, size, count] for site, (size, count) in top]
        else:
            first.append(snapshot)
        with open(os.environ["PETSTORE_TRACEMALLOC_OUT"], "w") as out:
            json.dump(report, out)

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")


def _site(traceback: tracemalloc.Traceback) -> str:
    """The allocating line, and the innermost line of graphql_petstore that led to it."""
    frames = list(traceback)  # most recent first
    inner = f"{_short(frames[0].filename)}:{frames[0].lineno}"
    ours = next((f for f in frames if "graphql_petstore" in f.filename), None)
    if ours is None or ours is frames[0]:
        return inner
    return f"{inner} <- {_short(ours.filename)}:{ours.lineno}"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "src/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


if __name__ == "__main__":
    main()
