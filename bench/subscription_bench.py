"""Subscription benchmark: the cost of the per-event NOTIFY, and commit-to-receipt
latency of the `events` subscription at 1, 100 and 1,000 subscribers.

One command (see bench/README.md), under 3 minutes:

    .venv/bin/python bench/subscription_bench.py [--round 3] [--rounds 4] [--rate 20]

It runs on a fresh database petstore_bench_<pid> (bench/harness: database,
seeding, `graphql-petstore serve` as a subprocess, CPU accounting).

Part 1, NOTIFY cost (design §4): raw asyncpg INSERTs into pet_price_change_events
at concurrency 32 (one pooled connection per task, autocommit, each task on its
own pets), with the server not running, in alternating rounds of four variants:

  a. as migrated: events_apply() sends pg_notify with a distinct JSON payload per event;
  b. no notify: events_apply() replaced, in the bench database only, by its own
     body (pg_get_functiondef) minus the `perform pg_notify(...)` statement;
  c. one constant payload: pg_notify('petstore_events', '') instead;
  d. as a, with a LISTEN connection attached and draining the notifications.

Part 2, latency (without --cases): `graphql-petstore serve --workers 1`; S subscriptions
`subscription { events { id } }` over graphql-transport-ws from separate client
processes (S/--subs-per-connection WebSocket connections); once every subscription
has received a priming event, events are INSERTed at --rate per second for
--write-seconds; each event's commit time is taken when its INSERT returns, and
each message's receipt time when the client reads it (time.perf_counter is
CLOCK_MONOTONIC, shared by all processes). Every subscription must receive every
measured event: any loss, duplicate or GraphQL error makes the run exit 1.

With --cases (instead of --subscribers), each case runs on a fresh server:
KIND:SUBSCRIBERS:WORKERS:RATE, KIND "events" (every subscriber on `events`) or
"pets" (each on `petChanged(id:)` of a pet of its own; the events fall on those
pets), e.g. the cases of issue 11:

    .venv/bin/python bench/subscription_bench.py --skip-notify --pets 12000 \
        --client-processes 4 --cases events:1000:1:20,events:10000:2:2,pets:10000:1:200

--server-src DIR runs the server from another checkout's src/ (PYTHONPATH),
e.g. the code before a change, with the same bench and the same database
(`git worktree add /tmp/before main`; `--server-src /tmp/before/src`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
import time
import uuid

from graphql_petstore.database.migrations import migrate
from harness.cli import add_keep_database, add_server_url, int_list
from harness.cpu import CpuMeter, Processes, processes, rss_mib
from harness.database import (
    connected,
    create_database,
    pet_ids,
    postgres_processes,
    postgres_server,
)
from harness.load import run_async
from harness.report import command_line, disturbed, say, say_machine
from harness.results import Result
from harness.seeding import SeedPlan, seed
from harness.server import Server
from subscriptions.latency import LatencyRun, latency_run, say_case_table, say_latency_table
from subscriptions.notify import notify_cost, say_notify_table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--pets", type=int, default=2_000, help="pets to seed")
    parser.add_argument("--round", type=float, default=3.0, help="seconds per NOTIFY round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of a,b,c,d")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before each round")
    parser.add_argument("--subscribers", default="1,100,1000", help="S values")
    parser.add_argument("--subs-per-connection", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="events/s during latency runs")
    parser.add_argument("--write-seconds", type=float, default=5.0)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--skip-notify", action="store_true", help="only part 2")
    parser.add_argument(
        "--cases",
        default="",
        help="KIND:SUBSCRIBERS:WORKERS:RATE,... (KIND events or pets), each on a fresh server",
    )
    parser.add_argument(
        "--server-src", default="", help="run the server from this src/ (another checkout)"
    )
    add_keep_database(parser)
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    say_machine()
    failures: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(
            stack, admin_url, f"petstore_bench_{os.getpid()}", args.keep_database
        )
        await migrate(url)
        await seed(url, SeedPlan(args.pets, args.pets * 2))
        _, pets = await pet_ids(url)
        pg = await postgres_processes(url)

        # ---- part 1
        notify: dict[str, list[Result]] = {}
        if not args.skip_notify:
            meter = CpuMeter()
            meter.add("client", lambda: processes([os.getpid()]))
            if pg is not None:
                meter.add("pg", pg)
            say(
                f"\nPart 1: NOTIFY cost; raw INSERT at concurrency 32, {args.rounds} rounds of "
                f"a,b,c,d, each {args.warmup:g} s warm-up + {args.round:g} s measured "
                "(server not running)"
            )
            notify = await notify_cost(args, url, pets, meter)
            # Part 1 appended tens of thousands of events: settle the tables (as
            # the seed does) so that autovacuum does not run during part 2.
            async with connected(url) as conn:
                t0 = time.perf_counter()
                await conn.execute("vacuum analyze")
                total = await conn.fetchval("select count(*) from events")
            say(f"  vacuum analyze after part 1: {time.perf_counter() - t0:.2f} s; {total} events")
            for results in notify.values():
                for r in results:
                    if r.errors:
                        failures.append(f"{r.name}: {r.errors} insert errors")

        # ---- part 2
        token = uuid.uuid4().hex
        environment = {"PYTHONPATH": args.server_src} if args.server_src else {}
        if args.cases:
            await run_cases(args, url, token, pets, pg, environment, failures)
            say(f"command: {command_line()}")
            for failure in failures:
                say(f"FAILURE: {failure}")
            say(f"total time {time.perf_counter() - began:.0f} s")
            return 1 if failures else 0
        server = Server(url, 1, None, token, environment)
        stack.callback(server.stop)
        await server.wait_ready()
        await asyncio.sleep(1.0)
        idle_rss = rss_mib(server.processes)
        say(
            f"\nPart 2: latency; server: {shlex.join(server.command)}; idle RSS "
            f"{idle_rss:.1f} MiB ({len(server.processes())} process(es)); writes at "
            f"{args.rate:g} events/s for {args.write_seconds:g} s per S"
        )
        groups: dict[str, Processes] = {
            "writer": lambda: processes([os.getpid()]),
            "server": server.processes,
        }
        if pg is not None:
            groups["pg"] = pg
        runs: list[LatencyRun] = []
        for s in int_list(args.subscribers):
            run = await latency_run(args, url, server, pets, s, groups)
            runs.append(run)
            say(
                f"  S={s:<5} {run.layout}: connected in {run.connect_seconds:.1f} s; "
                f"{run.received}/{run.expected} messages, p50 {run.percentile(0.5):.1f} ms, "
                f"p99 {run.percentile(0.99):.1f} ms, drain {run.drain_seconds:.2f} s, "
                f"server RSS {run.rss_mib:.1f} MiB"
            )
            if run.lost or run.duplicates or run.errors:
                failures.append(
                    f"S={s}: lost {run.lost}, duplicates {run.duplicates}, "
                    f"errors {len(run.errors)} {run.errors[:2]}"
                )
            if server.process.poll() is not None:
                failures.append(f"the server exited:\n{server.tail()}")
                break

        # ---- report
        say("\n" + "=" * 100)
        if notify:
            say_notify_table(notify)
        say("")
        say_latency_table(runs, idle_rss, args.rate)
        cpus = [r.cpu for r in runs] + [r.cpu for rs in notify.values() for r in rs]
        bad = sum(disturbed(cpu) for cpu in cpus)
        if bad:
            say(
                f"WARNING: other programs used over 25% of a core during "
                f"{bad} measurement(s): figures disturbed"
            )
        say(f"command: {command_line()}")
        for failure in failures:
            say(f"FAILURE: {failure}")
        say(
            f"total time {time.perf_counter() - began:.0f} s; "
            + ("no loss, no errors" if not failures else "INVALID RUN")
        )
    return 1 if failures else 0


async def run_cases(
    args: argparse.Namespace,
    url: str,
    token: str,
    pets: list[str],
    pg: Processes | None,
    environment: dict[str, str],
    failures: list[str],
) -> None:
    runs: list[LatencyRun] = []
    idle: dict[int, float] = {}
    for case in args.cases.split(","):
        kind, subscribers, workers, rate = case.split(":")
        server = Server(url, int(workers), None, token, environment)
        try:
            await server.wait_ready()
            await asyncio.sleep(1.0)
            idle_rss = rss_mib(server.processes)
            idle.setdefault(int(workers), idle_rss)
            groups: dict[str, Processes] = {
                "writer": lambda: processes([os.getpid()]),
                "server": server.processes,
            }
            if pg is not None:
                groups["pg"] = pg
            say(f"\ncase {case}: server {shlex.join(server.command)}; idle RSS {idle_rss:.1f} MiB")
            run = await latency_run(
                args, url, server, pets, int(subscribers), groups, kind, float(rate)
            )
            runs.append(run)
            say(
                f"  {run.layout}: connected in {run.connect_seconds:.1f} s; "
                f"{run.received}/{run.expected} messages, p50 {run.percentile(0.5):.1f} ms, "
                f"p99 {run.percentile(0.99):.1f} ms, drain {run.drain_seconds:.2f} s"
            )
            if run.lost or run.duplicates or run.errors:
                failures.append(
                    f"{case}: lost {run.lost}, duplicates {run.duplicates}, "
                    f"errors {len(run.errors)} {run.errors[:2]}"
                )
            if server.process.poll() is not None:
                failures.append(f"{case}: the server exited:\n{server.tail()}")
        finally:
            server.stop()
    say("\n" + "=" * 100)
    say(f"server code: {args.server_src or 'this checkout'}")
    say_case_table(runs, idle)
    bad = sum(disturbed(run.cpu) for run in runs)
    if bad:
        say(f"WARNING: other programs used over 25% of a core during {bad} case(s)")


def main(argv: list[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
