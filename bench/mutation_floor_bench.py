"""Mutation floor: changePetPrice through the server, through the least app
that this stack can serve it with, and pgbench's ceiling, in one run.

    .venv/bin/python bench/mutation_floor_bench.py [--workers 1,2] [--clients 8,32] [--rounds 3]

Issue 10 asks for mutations at >= 0.35x the raw INSERT ceiling (pgbench,
batched: no NOTIFY per event, as the server's own sessions append). This
says how much of that ceiling the stack itself leaves: the floor
(bench/api/floor_app.py) is uvicorn with the server's HTTP protocol class,
uvloop and asyncpg running the statement the server compiled for the
bench's document (read from the server's PETSTORE_LOG_COMPILED_SQL line),
and nothing else. Its share of the ceiling is what any server on this
stack could reach; the server's share of the floor is what the server's own
per-request work (GraphQL, limits, metrics, access lines, the doorbell)
leaves of it.

On --server-url (an embedded PostgreSQL when unreachable) it makes one
database seeded through the triggers (10,000 pets, about 60,000 events).
For each --workers count it starts the server and the floor with that many
processes, checks that both answer one mutation alike, then in --rounds
rounds runs at each --clients count the three in an order drawn anew each
round: wrk (bench/api/graphql_post.lua, a warm-up run, then --seconds)
against each app, and pgbench appending price changes with as many clients.
A CHECKPOINT comes before every measured run. Every response of wrk must
have appended its event (api/wrk_load.py counts them).

It prints each run (rate, the app's CPU milliseconds per request), then per
workers and clients the median rates and the rounds' own ratios (median and
95 % bootstrap interval): server / ceiling (issue 10's figure), floor /
ceiling, server / floor; and the CPU per request that the server spends
beyond the floor. Needs wrk (Debian's package) and pgbench (embedded-
postgres ships it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from api.wrk_load import WrkLoad, have_wrk, write_pets_file
from harness.appends import PET_NUMBERS, PRICE_CHANGE_SCRIPT, pgbench, prepare_project
from harness.cli import add_keep_database, add_server_url, int_list
from harness.cpu import SampledCpu
from harness.database import connected, create_database, postgres_processes, postgres_server
from harness.documents import CHANGE_PRICE
from harness.http_client import HttpConnection, Requests, graphql_data
from harness.report import command_line, say, say_machine
from harness.rounds import median_interval
from harness.server import Server

FLOOR_APP = Path(__file__).resolve().parent / "api" / "floor_app.py"
VARIANTS = ("server", "floor", "ceiling")
APPS = ("server", "floor")
TARGET = 0.35  # issue 10: mutations / the raw INSERT ceiling


@dataclass(frozen=True)
class Run:
    workers: int
    clients: int
    variant: str
    rate: float  # requests (or pgbench transactions) per second
    ms_per_request: float  # the app's CPU; nan for pgbench
    errors: int


def compiled_statement(server: Server) -> str:
    """The INSERT that the server compiled for the bench's document, from its
    PETSTORE_LOG_COMPILED_SQL line (JSON: the log is not a terminal)."""
    marker = "compiled mutation ChangePrice:\n"
    for line in Path(server.log.name).read_text(errors="replace").splitlines():
        message = orjson.loads(line).get("message", "") if line.startswith("{") else ""
        if message.startswith(marker):
            return str(message[len(marker) :].split("\nor, through the append function:")[0])
    raise SystemExit(f"the server logged no compiled statement:\n{server.tail()}")


async def change_price(server: Server, token: str, pet: str) -> dict[str, object]:
    """One changePetPrice through `server`, checked; its `data`."""
    request = Requests("127.0.0.1", server.port, token).graphql(
        CHANGE_PRICE, {"id": pet, "price": "12.34"}
    )
    connection = HttpConnection("127.0.0.1", server.port)
    try:
        problem, data = graphql_data(*await connection.request(request))
    finally:
        await connection.close()
    if problem is None and data.get("changePetPrice", {}).get("userErrors"):
        problem = f"userErrors: {data['changePetPrice']['userErrors']}"
    if problem is not None:
        raise SystemExit(f"a check mutation failed: {problem}")
    return data


def without_ids(data: object) -> object:
    if isinstance(data, dict):
        return {key: None if key == "id" else without_ids(value) for key, value in data.items()}
    return data


async def measure_workers(
    args: argparse.Namespace,
    url: str,
    wrk: str,
    pets: list[str],
    pets_file: str,
    script: Path,
    sampler: SampledCpu | None,
    workers: int,
) -> list[Run]:
    token = uuid.uuid4().hex
    server = Server(url, workers, None, token, {"PETSTORE_LOG_COMPILED_SQL": "on"})
    floor: Server | None = None
    try:
        await server.wait_ready()
        answer = await change_price(server, token, pets[0])
        floor = Server(
            url,
            workers,
            None,
            token,
            {"PETSTORE_FLOOR_SQL": compiled_statement(server)},
            program=[sys.executable, str(FLOOR_APP)],
        )
        await floor.wait_ready()
        if without_ids(await change_price(floor, token, pets[1])) != without_ids(answer):
            raise SystemExit("the floor does not answer as the server does")
        group = await postgres_processes(url)
        apps = {"server": server, "floor": floor}
        loads = {
            name: WrkLoad(wrk, app, token, (pets_file, pets[0]), group)
            for name, app in apps.items()
        }
        runs: list[Run] = []
        draw = random.Random(workers)
        for round_no in range(1, args.rounds + 1):
            for clients in args.clients:
                order = list(VARIANTS)
                draw.shuffle(order)
                for variant in order:
                    runs.append(
                        await measure(args, url, loads, script, sampler, workers, clients, variant)
                    )
                    run = runs[-1]
                    cpu = "" if math.isnan(run.ms_per_request) else f"{run.ms_per_request:.3f}"
                    say(
                        f"  round {round_no} workers {workers} c{clients:<3} {variant:<8} "
                        f"{run.rate:9.0f}/s {cpu:>7} {run.errors or ''}"
                    )
        return runs
    finally:
        server.stop()
        if floor is not None:
            floor.stop()


async def measure(
    args: argparse.Namespace,
    url: str,
    loads: dict[str, WrkLoad],
    script: Path,
    sampler: SampledCpu | None,
    workers: int,
    clients: int,
    variant: str,
) -> Run:
    if variant != "ceiling":
        await loads[variant].run("warm-up", "changePetPrice", clients, args.warmup, 2, count=False)
    async with connected(url) as conn:
        await conn.execute("checkpoint")
    if variant == "ceiling":
        tps, _, failed, _ = await pgbench(url, script, clients, args.seconds, args.pets, sampler)
        return Run(workers, clients, variant, tps, math.nan, failed)
    run = await loads[variant].run(variant, "changePetPrice", clients, args.seconds, 2)
    return Run(workers, clients, variant, run.rate, run.server_ms_per_request, run.errors)


def report(runs: list[Run], workers_counts: list[int], clients_counts: list[int]) -> None:
    say(
        f"\nratios are the medians of each round's own (95 % bootstrap interval); "
        f"issue 10's target: server / ceiling >= {TARGET}"
    )
    for workers in workers_counts:
        for clients in clients_counts:
            of = {
                variant: [
                    r
                    for r in runs
                    if (r.workers, r.clients, r.variant) == (workers, clients, variant)
                ]
                for variant in VARIANTS
            }
            rates = {variant: [r.rate for r in found] for variant, found in of.items()}
            say(
                f"workers {workers}, c{clients}: "
                + ", ".join(f"{v} {statistics.median(rates[v]):.0f}/s" for v in VARIANTS)
            )
            for top, bottom in (("server", "ceiling"), ("floor", "ceiling"), ("server", "floor")):
                paired = [a / b for a, b in zip(rates[top], rates[bottom], strict=True) if b]
                low, high = median_interval(paired)
                mark = ""
                if bottom == "ceiling" and top == "server":
                    mark = (
                        "  meets the target" if statistics.median(paired) >= TARGET else "  BELOW"
                    )
                say(
                    f"  {top} / {bottom}: {statistics.median(paired):.3f} ({low:.3f}-{high:.3f}); "
                    f"rounds {' '.join(f'{p:.3f}' for p in paired)}{mark}"
                )
            cpu = {
                v: statistics.median(r.ms_per_request for r in of[v]) for v in ("server", "floor")
            }
            say(
                f"  CPU per request: server {1000 * cpu['server']:.0f} us, floor "
                f"{1000 * cpu['floor']:.0f} us: {1000 * (cpu['server'] - cpu['floor']):.0f} us "
                "beyond the floor"
            )


async def amain(args: argparse.Namespace) -> int:
    say(f"command: {command_line()}")
    say_machine()
    wrk = have_wrk()
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        name = f"petstore_floor_{os.getpid()}"
        url = await create_database(stack, admin_url, name, args.keep_database)
        say("seeding (through the triggers):")
        await prepare_project(url, None)
        async with connected(url) as conn:
            await conn.execute(PET_NUMBERS)
            pets = [str(row["id"]) for row in await conn.fetch("select id from bench.pet_ids")]
        random.Random(7).shuffle(pets)
        args.pets = len(pets)
        pets_file = write_pets_file(pets)
        stack.callback(os.unlink, pets_file)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="floor-bench-")))
        script = folder / "price_change.sql"
        script.write_text(PRICE_CHANGE_SCRIPT)
        group = await postgres_processes(url)
        sampler = SampledCpu(group) if group is not None else None
        say("\nrate: requests (pgbench: transactions) per second; the app's CPU ms per request")
        runs: list[Run] = []
        for workers in args.workers:
            runs += await measure_workers(args, url, wrk, pets, pets_file, script, sampler, workers)
        report(runs, args.workers, args.clients)
        return 1 if any(r.errors for r in runs) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    add_keep_database(parser)
    parser.add_argument("--workers", type=int_list, default=[1, 2], help="e.g. 1,2")
    parser.add_argument("--clients", type=int_list, default=[8, 32], help="e.g. 8,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of wrk before each")
    raise SystemExit(asyncio.run(amain(parser.parse_args())))


if __name__ == "__main__":
    main()
