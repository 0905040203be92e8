"""What metrics and access logs cost (api_bench.py --compare-metrics ROUNDS).

Two servers on one database: "off" runs with PETSTORE_METRICS=off and
PETSTORE_LOG_LEVEL=warning, so it records no metrics and writes no access
lines, as the server did before it had either; "on" runs as shipped, with
metrics on and one JSON access line per request. changePetPrice (at the top
mutation concurrency) and the pets page run against each in alternating
rounds, and the ratio on/off of their throughput is the cost.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import uuid

from api.scenarios import Bench
from api.side_by_side import side_by_side
from api.wrk_load import compare_with_wrk
from harness.cpu import CpuMeter, processes
from harness.database import postgres_processes
from harness.http_client import Requests
from harness.report import HEADER, say
from harness.results import Result
from harness.rounds import alternate, summarize
from harness.server import Server

VARIANTS: dict[str, dict[str, str]] = {
    "off": {"PETSTORE_METRICS": "off", "PETSTORE_LOG_LEVEL": "warning"},
    "on": {},
}


def cpu_per_request(results: list[Result]) -> float:
    """The server's CPU milliseconds per request: what a CPU-bound server's
    throughput is the inverse of, and less disturbed than the throughput by
    other programs that take turns on the same cores."""
    return statistics.median(
        r.cpu.get("server", math.nan) / 100 * r.duration / r.count * 1000
        for r in results
        if r.count
    )


async def compare_metrics(
    args: argparse.Namespace,
    stack: contextlib.AsyncExitStack,
    url: str,
    every_pet: list[str],
    changeable: list[str],
    mutation_concurrency: int,
) -> int:
    """Runs the rounds and prints each scenario's on/off ratio; returns the
    number of errors."""
    token = uuid.uuid4().hex
    pg = await postgres_processes(url)
    servers: dict[str, Server] = {}
    for name, env in VARIANTS.items():
        server = servers[name] = Server(
            url, args.workers, args.pool_size, token, environment=dict(env)
        )
        stack.callback(server.stop)
        await server.wait_ready()
    if args.load == "wrk":
        say(
            "\nmetrics off (PETSTORE_METRICS=off, PETSTORE_LOG_LEVEL=warning) against on "
            "(as shipped), load from wrk"
        )
        return await compare_with_wrk(
            args.compare_metrics,
            servers,
            token,
            changeable,
            pg,
            sorted({args.read_concurrency, mutation_concurrency}, reverse=True),
            args.warmup,
            args.duration,
            args.wrk_threads,
            measure=side_by_side if args.side_by_side else None,
        )
    benches: dict[str, Bench] = {}
    for name, server in servers.items():
        meter = CpuMeter()
        meter.add("client", lambda: processes([os.getpid()]))
        meter.add("server", server.processes)
        if pg is not None:
            meter.add("pg", pg)
        benches[name] = Bench(
            args,
            url,
            Requests("127.0.0.1", server.port, token),
            meter,
            f"srv={args.workers}",
            every_pet,
            changeable,
            worker_processes=server.processes,
        )
    say(
        f"\nmetrics off (PETSTORE_METRICS=off, PETSTORE_LOG_LEVEL=warning) against on "
        f"(as shipped), {args.compare_metrics} alternating rounds of "
        f"{args.warmup:g} s warm-up + {args.duration:g} s each"
    )
    say(HEADER)
    rows: list[Result] = []
    scenarios = {
        f"changePetPrice c{mutation_concurrency}": lambda bench, label: bench.change_price(
            mutation_concurrency, label
        ),
        f"pets(first: 50) c{args.read_concurrency}": lambda bench, label: bench.pets_page(
            args.read_concurrency, label
        ),
    }
    lines = []
    for scenario, run in scenarios.items():
        results = await alternate(
            args.compare_metrics,
            list(VARIANTS),
            lambda round_no, variant, run=run: run(  # type: ignore[misc]
                benches[variant], f" metrics {variant} r{round_no}"
            ),
        )
        off, on = summarize(results["off"]), summarize(results["on"])
        ratio = on.ratio(off)
        cpu_off, cpu_on = cpu_per_request(results["off"]), cpu_per_request(results["on"])
        lines.append(
            f"{scenario}: off {off.mean:.0f} req/s ({off.low:.0f}-{off.high:.0f}), "
            f"on {on.mean:.0f} req/s ({on.low:.0f}-{on.high:.0f}); on/off {ratio:.3f} "
            f"= {100 * (1 - ratio):+.1f}% of throughput"
        )
        paired = statistics.median(
            b.rate / a.rate for a, b in zip(results["off"], results["on"], strict=True) if a.rate
        )
        lines.append(
            f"  median of each round's on/off: {paired:.3f}; server CPU per request "
            f"(median of rounds): off {cpu_off:.3f} ms, on {cpu_on:.3f} ms "
            f"= {100 * (cpu_on / cpu_off - 1):+.1f}%"
        )
        rows += [*results["off"], *results["on"]]
    say("")
    for line in lines:
        say(line)
    return sum(r.errors for r in rows)
