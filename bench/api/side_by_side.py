"""Both servers under load at once (api_bench.py --compare-metrics ROUNDS
--load wrk --side-by-side).

Alternating rounds compare runs made seconds apart, and on a shared machine
of two cores whatever else runs changes within seconds: rounds of the same
variant differ by ±15%, more than the few per cent to be measured. Here each
round loads both servers at once, each with its own wrk at the same
concurrency, so that what disturbs the machine disturbs both alike and each
round's ratio is free of it. The servers then share the cores (the scheduler
gives each the same share while both are busy), so the ratio of their
throughputs is the inverse ratio of their CPU per request insofar as they,
not PostgreSQL, are the bottleneck; each one's CPU per request, measured in
the same window, does not depend on that and bounds the cost from above.
"""

from __future__ import annotations

import asyncio

from api.wrk_load import WrkLoad, WrkRun, count_events
from harness.report import say


async def side_by_side(
    rounds: int,
    loads: dict[str, WrkLoad],
    scenario: str,
    concurrency: int,
    warmup: float,
    duration: float,
    threads: int,
) -> dict[str, list[WrkRun]]:
    """{variant: its runs}, each round a warm-up and a measured run of every
    variant at once."""
    runs: dict[str, list[WrkRun]] = {variant: [] for variant in loads}
    mutation = scenario == "changePetPrice"
    url = next(iter(loads.values())).server.url  # one database for all
    for round_no in range(1, rounds + 1):
        if warmup > 0:
            await asyncio.gather(
                *(
                    load.run("warm-up", scenario, concurrency, warmup, threads, count=False)
                    for load in loads.values()
                )
            )
        before = await count_events(url) if mutation else 0
        measured = await asyncio.gather(
            *(
                load.run(
                    f"{scenario} metrics {variant} r{round_no}",
                    scenario,
                    concurrency,
                    duration,
                    threads,
                    count=False,
                )
                for variant, load in loads.items()
            )
        )
        if mutation:
            # Every response one event, both servers' together (up to one per
            # connection still out when each warm-up or run stopped).
            appended = await count_events(url) - before
            answered = sum(run.requests for run in measured)
            slack = 2 * concurrency * len(measured)
            if not answered <= appended <= answered + slack:
                measured[0].errors += abs(appended - answered)
                measured[0].notes.append(f"{appended} events appended for {answered} responses")
        for variant, run in zip(loads, measured, strict=True):
            say(run.row())
            for note in run.notes:
                say(f"      {note}")
            runs[variant].append(run)
    return runs
