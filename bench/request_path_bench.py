"""What the server spends per request on the compiled path, for one or more
versions of its code, compared in one run.

For each source tree given with --src (a checkout's `src`, e.g. a git
worktree of an older commit; default: this checkout's), a fresh `serve
--workers 1` runs that code (PYTHONPATH) on the same database, and for each
scenario — pet(id), changePetPrice, a pets page of 50 — this measures:

  * instructions per request (callgrind, --instructions): deterministic, not
    disturbed by other programs, without the kernel's share;
  * server CPU per request (user + system, psutil) under load at
    --concurrency (--cpu): includes system calls, disturbed by other
    programs, so rounds alternate the trees (--rounds).

It prints each round, then the medians and the ratio of every tree to the
first. Example, this checkout against an older commit:

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/request_path_bench.py --src /tmp/before/src --src src

Needs valgrind for --instructions (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid
from pathlib import Path

import psutil

from harness.callgrind import Callgrind, have_callgrind
from harness.cli import add_server_url
from harness.database import create_database, postgres_server
from harness.documents import Scenario, scenarios
from harness.http_client import HttpConnection, graphql_data
from harness.report import command_line, say, say_machine
from harness.server import Server

SCENARIOS = ("pet(id)", "changePetPrice", "pets page")
THIS_SOURCE = str(Path(__file__).resolve().parent.parent / "src")


async def instructions(url: str, source: str, args: argparse.Namespace) -> dict[str, float]:
    token = uuid.uuid4().hex
    server = Callgrind(url, token, {"PYTHONPATH": source})
    try:
        await server.server.wait_ready(within=300)
        made = await scenarios(server.server.port, token)
        counts = {}
        for name, send in made.items():
            # plans cached, pools filled:
            await server.count(args.warmup, send, concurrency=args.concurrency)
            counts[name] = await server.count(args.requests, send, concurrency=args.concurrency)
        return counts
    finally:
        server.stop()


async def cpu(url: str, source: str, args: argparse.Namespace) -> dict[str, float]:
    token = uuid.uuid4().hex
    server = Server(url, 1, None, token, environment={"PYTHONPATH": source})
    try:
        await server.wait_ready()
        made = await scenarios(server.port, token)
        process = psutil.Process(server.process.pid)
        spent = {}
        for name, send in made.items():
            await load(server.port, send, args.concurrency, args.warmup)
            before = process.cpu_times()
            started = time.perf_counter()
            done = await load(server.port, send, args.concurrency, args.requests)
            after = process.cpu_times()
            seconds = after.user - before.user + after.system - before.system
            spent[name] = seconds / done * 1e6
            say(f"    {name}: {done / (time.perf_counter() - started):,.0f} req/s")
        return spent
    finally:
        server.stop()


async def load(port: int, send: Scenario, concurrency: int, requests: int) -> int:
    each = max(requests // concurrency, 1)

    async def one_connection(number: int) -> None:
        connection = HttpConnection("127.0.0.1", port)
        try:
            for request in range(each):
                status, body = await connection.request(send(number * each + request))
                problem, _ = graphql_data(status, body)
                if problem:
                    raise SystemExit(f"request failed: {problem}")
        finally:
            await connection.close()

    await asyncio.gather(*(one_connection(n) for n in range(concurrency)))
    return each * concurrency


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument(
        "--src", action="append", help="a source tree to run (repeat; default: this checkout's)"
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--instructions", action="store_true", help="count (default)")
    what.add_argument("--cpu", action="store_true", help="server CPU µs per request under load")
    parser.add_argument("--rounds", type=int, default=None, help="default: 1, with --cpu 3")
    parser.add_argument("--requests", type=int, default=None, help="default: 256, with --cpu 4000")
    parser.add_argument("--warmup", type=int, default=64, help="requests before measuring")
    parser.add_argument("--concurrency", type=int, default=1, help="connections at once")
    args = parser.parse_args()
    args.src = [str(Path(s).resolve()) for s in args.src or [THIS_SOURCE]]
    args.rounds = args.rounds or (3 if args.cpu else 1)
    args.requests = args.requests or (4000 if args.cpu else 256)
    return args


async def main() -> None:
    args = arguments()
    sources, rounds = args.src, args.rounds
    if not args.cpu and not have_callgrind():
        raise SystemExit("needs valgrind (apt-get install valgrind), or --cpu")
    unit = "µs of server CPU" if args.cpu else "instructions"
    measure = cpu if args.cpu else instructions
    say_machine()
    say(command_line())
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(stack, admin_url, f"petstore_request_path_{os.getpid()}")
        results: dict[str, list[dict[str, float]]] = {source: [] for source in sources}
        for round_number in range(rounds):
            order = sources if round_number % 2 == 0 else list(reversed(sources))
            for source in order:
                say(f"  round {round_number + 1}: {source}")
                figures = await measure(url, source, args)
                results[source].append(figures)
                say("    " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()))
    say("")
    say(f"{unit} per request (median of {rounds} round(s)), concurrency {args.concurrency}:")
    first = sources[0]
    for scenario in SCENARIOS:
        base = statistics.median(r[scenario] for r in results[first])
        cells = []
        for source in sources:
            value = statistics.median(r[scenario] for r in results[source])
            cells.append(f"{source}: {value:,.0f} ({value / base:.3f})")
        say(f"  {scenario}: " + " | ".join(cells))


if __name__ == "__main__":
    asyncio.run(main())
