"""End-to-end API benchmark: the real server over loopback against raw SQL ceilings.

One command (see bench/README.md):

    .venv/bin/python bench/api_bench.py [--duration 6] [--workers 1]

It creates a fresh database (petstore_bench_<pid>) on the PostgreSQL server at
--server-url (else an embedded PostgreSQL under /tmp), migrates it, seeds pets
and events through the real triggers with set-based SQL, starts
`graphql-petstore serve` as a subprocess, and then measures, each scenario for
--warmup + --duration seconds:

  * the load generator itself against /healthz (its capacity: no API scenario
    may come near it, or the generator would be the bottleneck);
  * the API: changePetPrice at several concurrencies, a pets page of 50, one pet
    by id, a nested page (20 pets with mother and history), one pet with its
    history, an events page of 50;
  * with --against-strawberry, the same server with its compiled path off
    (PETSTORE_COMPILED_OPERATIONS=off) as well, in alternating rounds;
  * with --persisted-queries ROUNDS, pet(id) and the nested page as automatic
    persisted queries by GET against the same queries POSTed as text;
  * the raw ceilings through asyncpg: the same INSERT the API makes, in its own
    implicit transaction (and the API's exact transaction, for reference); the
    pets page's SQL, from several client processes so that the client is not
    the limit.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio (uvloop
when installed): one connection per concurrent user, every response parsed and
checked. Any non-200, GraphQL error or userError counts as an error, and the run
exits 1 if any scenario had one. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import shlex
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from api.observability import VARIANTS, compare_metrics
from api.persisted import persisted_queries
from api.scenarios import Bench
from graphql_petstore.database.migrations import migrate
from harness.cli import add_keep_database, add_server_url, int_list
from harness.cpu import CpuMeter, processes
from harness.database import create_database, pet_ids, postgres_processes, postgres_server
from harness.http_client import Requests
from harness.load import run_async
from harness.profiling import profiled, py_spy
from harness.report import (
    HEADER,
    command_line,
    disturbed,
    format_row,
    ratio_line,
    say,
    say_machine,
)
from harness.results import Result, find
from harness.seeding import SeedPlan, seed
from harness.server import Server


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the GraphQL API end to end against raw SQL ceilings."
    )
    add_server_url(parser)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument(
        "--pool-size", type=int, default=None, help="PETSTORE_POOL_SIZE for the server"
    )
    parser.add_argument("--pets", type=int, default=10_000, help="pets to seed")
    parser.add_argument("--events", type=int, default=100_000, help="events to seed")
    parser.add_argument(
        "--mutation-concurrency", default="1,8,32", help="changePetPrice concurrencies"
    )
    parser.add_argument(
        "--read-concurrency", type=int, default=8, help="concurrency of the query scenarios"
    )
    parser.add_argument(
        "--raw-processes",
        type=int,
        default=None,
        help="client processes of the raw pets-page ceiling (default: as many as the "
        "server has workers, so that both sides have the same number of processes)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="afterwards, rerun changePetPrice and the pets page under py-spy "
        "(needs py-spy) and print the server's hot spots; raw profiles go to DIR",
    )
    parser.add_argument(
        "--metrics",
        choices=sorted(VARIANTS),
        default="on",
        help="off: the server runs with PETSTORE_METRICS=off and without access lines",
    )
    parser.add_argument(
        "--compare-metrics",
        type=int,
        default=None,
        metavar="ROUNDS",
        help="instead of the scenarios, changePetPrice and the pets page against a server "
        "with metrics off and one with them on, in ROUNDS alternating rounds",
    )
    parser.add_argument(
        "--load",
        choices=("python", "wrk"),
        default="python",
        help="with --compare-metrics: the load generator; wrk costs the machine a few per cent "
        "of a core, so that the server is the bottleneck (bench/api/wrk_load.py)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk's threads (--load wrk)")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="with --compare-metrics and --load wrk: load both servers at once in every round, "
        "so that other load on the machine falls on both alike (bench/api/side_by_side.py)",
    )
    parser.add_argument(
        "--against-strawberry",
        action="store_true",
        help="also measure a server whose compiled path is off (strawberry answers "
        "everything), in alternating rounds, and print the ratios",
    )
    parser.add_argument(
        "--persisted-queries",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also measure reads as automatic persisted queries by GET against the same "
        "queries POSTed as text, in ROUNDS alternating rounds (bench/api/persisted.py)",
    )
    add_keep_database(parser)
    args = parser.parse_args(argv)
    if args.side_by_side and (args.compare_metrics is None or args.load != "wrk"):
        parser.error("--side-by-side goes with --compare-metrics ROUNDS --load wrk")
    if args.raw_processes is None:
        args.raw_processes = args.workers
    return args


async def amain(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    mutation_levels = int_list(args.mutation_concurrency)
    say_machine()
    async with contextlib.AsyncExitStack() as stack:
        admin_url, where = await postgres_server(stack, args.server_url)
        url = await create_database(
            stack, admin_url, f"petstore_bench_{os.getpid()}", args.keep_database
        )
        t0 = time.perf_counter()
        await migrate(url)
        say(
            f"migrated in {time.perf_counter() - t0:.2f} s; seeding {args.pets} pets, "
            f"{args.events} events through the triggers:"
        )
        seed_time = await seed(url, SeedPlan(args.pets, args.events))
        every_pet, changeable = await pet_ids(url)
        if args.compare_metrics is not None:
            errors = await compare_metrics(
                args, stack, url, every_pet, changeable, max(mutation_levels)
            )
            say(f"command: {command_line()};  errors: {errors}")
            return 0 if errors == 0 else 1

        token = uuid.uuid4().hex
        t0 = time.perf_counter()
        server = Server(
            url, args.workers, args.pool_size, token, environment=dict(VARIANTS[args.metrics])
        )
        stack.callback(server.stop)
        await server.wait_ready()
        say(
            f"server: {shlex.join(server.command)}  (ready in {time.perf_counter() - t0:.1f} s; "
            f"{len(server.processes())} process(es) in its tree, {args.workers} worker(s); "
            f"pool size per worker {server.pool_size})"
        )

        plain: Server | None = None
        if args.against_strawberry:
            plain = Server(
                url, args.workers, args.pool_size, token, {"PETSTORE_COMPILED_OPERATIONS": "off"}
            )
            stack.callback(plain.stop)
            await plain.wait_ready()
        meter = CpuMeter()
        meter.add("client", lambda: processes([os.getpid()]))
        meter.add("server", lambda: server.processes() + (plain.processes() if plain else []))
        pg = await postgres_processes(url)
        if pg is not None:
            meter.add("pg", pg)
        bench = Bench(
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
            f"\neach scenario: {args.warmup:g} s warm-up + {args.duration:g} s measured; "
            "cpu columns: % of one core used by the client (load generator or raw client "
            "processes), the server's processes, PostgreSQL's, and anything else on the "
            "machine (other: should be near 0); idle: % of the whole machine"
        )
        say(HEADER)
        await bench.healthz(args.read_concurrency)
        for concurrency in mutation_levels:
            await bench.change_price(concurrency)
        await bench.pets_page(args.read_concurrency)
        await bench.point_read(args.read_concurrency)
        await bench.nested_page(args.read_concurrency)
        await bench.pet_with_history(args.read_concurrency)
        await bench.events_page(args.read_concurrency)
        if plain is not None:
            await against_strawberry(args, bench, plain, token, max(mutation_levels))
        if args.persisted_queries:
            await persisted_queries(bench, args.read_concurrency, args.persisted_queries)
        if args.profile is not None:
            await run_profiles(args, bench, server, max(mutation_levels))
        # The raw ceilings run with the server stopped: an idle server still
        # follows every event (its LISTEN doorbell and stream tail), which would
        # take CPU from PostgreSQL on a small machine. This row shows that cost.
        await bench.raw(
            "insert",
            max(mutation_levels),
            name="(ref) raw INSERT, server up and idle (doorbell+tail)",
        )
        server.stop()
        for concurrency in mutation_levels:
            await bench.raw("insert", concurrency)
        await bench.raw("api_txn", max(mutation_levels))
        await bench.raw("pets", args.read_concurrency, args.raw_processes)
        errors = summary(args, bench, mutation_levels)
        say(f"seed: {seed_time:.1f} s for {args.events} events;  postgres: {where}")
        say(f"command: {command_line()}")
        bad = [r.name for r in bench.results if disturbed(r.cpu)]
        if bad:
            say(
                f"WARNING: other programs used over 25% of a core during {len(bad)} "
                "scenario(s): the figures are disturbed; rerun on a quiet machine"
            )
        say(
            f"total time {time.perf_counter() - began:.0f} s; errors: {errors}"
            + ("" if errors == 0 else "  (INVALID RUN)")
        )
    return 0 if errors == 0 else 1


async def against_strawberry(
    args: argparse.Namespace, bench: Bench, plain: Server, token: str, top: int
) -> None:
    """Each scenario on the compiled server and on strawberry's, in two
    rounds of opposite order; prints compiled / strawberry per scenario."""
    other = dataclasses.replace(
        bench,
        requests=Requests("127.0.0.1", plain.port, token),
        worker_processes=plain.processes,
        results=bench.results,
    )
    say(f"\n--against-strawberry: compiled path vs strawberry alone, alternating\n{HEADER}")
    rates: dict[str, list[float]] = {}
    scenarios: dict[str, Callable[[Bench, str], Awaitable[Result]]] = {
        "changePetPrice": lambda b, label: b.change_price(top, label),
        "pets(first: 50)": lambda b, label: b.pets_page(args.read_concurrency, label),
        "pet(id)": lambda b, label: b.point_read(args.read_concurrency, label),
        "nested page": lambda b, label: b.nested_page(args.read_concurrency, label),
    }
    for name, run in scenarios.items():
        for round_ in range(2):
            order = [(bench, " [compiled]"), (other, " [strawberry]")]
            for target, label in order if round_ == 0 else order[::-1]:
                result = await run(target, label)
                rates.setdefault(name + label, []).append(result.rate)
    for name in scenarios:
        compiled = sum(rates[name + " [compiled]"]) / 2
        reference = sum(rates[name + " [strawberry]"]) / 2
        say(
            f"compiled / strawberry, {name}: {compiled:.0f} / {reference:.0f} = "
            f"{compiled / reference if reference else math.nan:.2f}x"
        )


def summary(args: argparse.Namespace, bench: Bench, mutation_levels: list[int]) -> int:
    """Prints the table again, the ratios and the load generator's capacity;
    returns the number of errors."""
    results = bench.results
    top = max(mutation_levels)
    say("\n" + "=" * len(HEADER))
    say(HEADER)
    for result in results:
        say(format_row(result))
    say("=" * len(HEADER))
    say(
        ratio_line(
            f"API/raw changePetPrice at concurrency {top}",
            find(results, "API changePetPrice", top),
            find(results, "raw INSERT", top),
            0.25,
        )
    )
    say(
        ratio_line(
            f"API/raw pets page at concurrency {args.read_concurrency}",
            find(results, "API pets", args.read_concurrency),
            find(results, "raw select", args.read_concurrency),
            0.06,
        )
    )
    api_top = find(results, "API changePetPrice", top)
    txn = find(results, "raw API's txn", top)
    if api_top and txn and txn.rate:
        say(
            f"(for reference) API changePetPrice / raw API's txn at {top}: "
            f"{api_top.rate / txn.rate:.3f}"
        )
    gen = results[0]
    client_cpu = gen.cpu.get("client", math.nan)
    capacity = gen.rate / (client_cpu / 100) if client_cpu and client_cpu > 0 else math.nan
    api_max = max((r.rate for r in results if r.kind == "api"), default=0.0)
    say(
        f"load generator: {gen.rate:.0f} req/s on /healthz using {client_cpu:.0f}% of a core "
        f"(~{capacity:.0f} req/s per core); fastest API scenario {api_max:.0f} req/s"
    )
    say(
        f"processes: server {args.workers} worker(s) (uvicorn --workers {args.workers}); "
        f"raw ceilings run with the server stopped; raw INSERT ceilings: 1 client "
        f"process, one pooled connection per task; "
        f"raw pets page: {args.raw_processes} client processes sharing "
        f"{args.read_concurrency} connections"
    )
    return sum(r.errors for r in results)


async def run_profiles(
    args: argparse.Namespace, bench: Bench, server: Server, concurrency: int
) -> None:
    spy = py_spy()
    if spy is None:
        say("\n--profile: py-spy is not installed (pip install py-spy); skipped")
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    seconds = args.warmup + args.duration
    say(f"\nprofiles (py-spy, {seconds:g} s each; these runs are not in the table):")
    say(HEADER)
    await profiled(
        spy,
        server,
        seconds,
        args.profile / "change_pet_price.txt",
        bench.change_price(concurrency, " (under py-spy)", keep=False),
    )
    say(HEADER)
    await profiled(
        spy,
        server,
        seconds,
        args.profile / "pets_page.txt",
        bench.pets_page(args.read_concurrency, " (under py-spy)", keep=False),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
