"""Scale-out figures (docs/scaling.md): appends with and without PgBouncer,
reads with 0, 1 and 2 streaming replicas, all on this machine.

    .venv/bin/python bench/scale_bench.py [--rounds 3] [--duration 5]

It starts a PostgreSQL 18 primary with two hot standbys of its own (the
embedded server's binaries: initdb, pg_basebackup -R; the same code as
tests/scale starts) and PgBouncer in transaction-pooling mode in front of the
primary (Debian's 1.18; it must be installed), migrates and seeds a database,
and starts five `graphql-petstore serve` processes on it:

  * direct       the primary, sessions of its own, no replicas
  * pgbouncer    through PgBouncer (PETSTORE_DATABASE_POOLER=transaction), with
                 the default pool of 10 connections and with one of 32
  * 1 replica    reads routed to one standby
  * 2 replicas   reads routed to both, in turn

Then, in alternating rounds (so that drift falls on every variant alike):
changePetPrice at --append-concurrency on direct and pgbouncer; a pets page of
50 and pet(id) at --read-concurrency on the three read servers. It prints each
round, the means and the ratios, and the CPU of the client, the servers and
every PostgreSQL process (primary and standbys). Everything runs on this
machine's cores: a replica here takes CPU from the primary and the server,
which separate hosts would not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import psutil

# The cluster and PgBouncer that tests/scale starts are the bench's too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scale.cluster import Cluster, Postgres
from tests.scale.proxies import PgBouncer

from api.scenarios import Bench
from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.roles import API_ROLE
from harness.cpu import CpuMeter, processes
from harness.database import connected, pet_ids
from harness.http_client import Requests
from harness.load import run_async
from harness.report import HEADER, command_line, say, say_machine, say_result
from harness.results import Result
from harness.rounds import alternate, summarize
from harness.seeding import SeedPlan, seed
from harness.server import Server
from scale.raw_appends import raw_appends


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--pets", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--append-concurrency", type=int, default=32)
    parser.add_argument("--read-concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="processes per server")
    parser.add_argument(
        "--bouncer-pool", type=int, default=20, help="PgBouncer's server sessions per database"
    )
    return parser.parse_args(argv)


def postgres_tree(servers: Sequence[Postgres]) -> Callable[[], list[psutil.Process]]:
    """Every process of these servers (postmaster and children), by the pid
    in each data directory's postmaster.pid."""

    def tree() -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for server in servers:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
                postmaster = psutil.Process(pid)
                found += [postmaster, *postmaster.children()]
        return found

    return tree


async def amain(args: argparse.Namespace) -> int:
    say_machine()
    token = uuid.uuid4().hex
    async with contextlib.AsyncExitStack() as stack:
        cluster = Cluster()
        stack.callback(cluster.remove)
        cluster.start_primary()
        cluster.add_replica()
        cluster.add_replica()
        bouncer = PgBouncer(cluster.primary.url(), pool_size=args.bouncer_pool)
        stack.callback(bouncer.stop)
        name = "petstore_scale_bench"
        async with connected(cluster.primary.url()) as admin:
            await admin.execute(f'create database "{name}"')
            version = await admin.fetchval("show server_version")
        url = cluster.primary.url(name)
        await migrate(url)
        say(f"PostgreSQL {version}: a primary and 2 streaming replicas of this run's own")
        await seed(url, SeedPlan(args.pets, args.events))
        every_pet, changeable = await pet_ids(url)
        # serve works as petstore_api (made by migrate; the replicas have it too).
        replicas = [replica.url(name, API_ROLE) for replica in cluster.replicas]

        variants = {
            "direct": {},
            "pgbouncer": {
                "PETSTORE_API_DATABASE_URL": bouncer.url(name, API_ROLE),
                "PETSTORE_DATABASE_POOLER": "transaction",
            },
            # Client connections to PgBouncer are cheap: as many as requests.
            "pgbouncer, pool 32": {
                "PETSTORE_API_DATABASE_URL": bouncer.url(name, API_ROLE),
                "PETSTORE_DATABASE_POOLER": "transaction",
                "PETSTORE_POOL_SIZE": str(args.append_concurrency),
            },
            "1 replica": {"PETSTORE_READ_REPLICA_URLS": replicas[0]},
            "2 replicas": {"PETSTORE_READ_REPLICA_URLS": ",".join(replicas)},
        }
        servers: dict[str, Server] = {}
        for variant, environment in variants.items():
            server = Server(url, args.workers, None, token, environment)
            stack.callback(server.stop)
            await server.wait_ready()
            servers[variant] = server

        meter = CpuMeter()
        meter.add("client", lambda: processes([os.getpid()]))
        meter.add("server", lambda: [p for s in servers.values() for p in s.processes()])
        meter.add("pg", postgres_tree([cluster.primary, *cluster.replicas]))
        meter.add("pgbouncer", lambda: processes([bouncer.process.pid]))

        def bench_of(variant: str) -> Bench:
            server = servers[variant]
            return Bench(
                args,
                url,
                Requests("127.0.0.1", server.port, token),
                meter,
                f"srv={args.workers}",
                every_pet,
                changeable,
                worker_processes=server.processes,
            )

        say(HEADER)
        figures: dict[str, dict[str, list[Result]]] = {}

        def measure(
            scenario: Callable[[Bench, str], Awaitable[Result]],
        ) -> Callable[[int, str], Awaitable[Result]]:
            return lambda round_no, variant: scenario(bench_of(variant), f" [{variant}]")

        figures["changePetPrice"] = await alternate(
            args.rounds,
            ["direct", "pgbouncer", "pgbouncer, pool 32"],
            measure(lambda b, label: b.change_price(args.append_concurrency, label)),
        )
        # The same appends without the HTTP server: what the pooler costs the
        # database path, with the statement cache's share apart.
        raw_variants = {
            "direct": (url, True, True),
            "direct, no statement cache": (url, False, True),
            "pgbouncer": (bouncer.url(name, API_ROLE), False, False),
        }

        async def raw(round_no: int, variant: str) -> Result:
            target, cache, settings = raw_variants[variant]
            result = Result(
                f"raw append() [{variant}]", "raw", args.append_concurrency, "cli=1", args.duration
            )
            await raw_appends(
                target,
                statement_cache=cache,
                session_settings=settings,
                pet_ids=changeable,
                result=result,
                warmup=args.warmup,
                meter=meter,
            )
            say_result(result)
            return result

        figures["raw append()"] = await alternate(args.rounds, list(raw_variants), raw)
        readers = ["direct", "1 replica", "2 replicas"]  # direct: no replicas
        figures["pets(first: 50)"] = await alternate(
            args.rounds,
            readers,
            measure(lambda b, label: b.pets_page(args.read_concurrency, label)),
        )
        figures["pet(id)"] = await alternate(
            args.rounds,
            readers,
            measure(lambda b, label: b.point_read(args.read_concurrency, label)),
        )
        errors = sum(r.errors for rows in figures.values() for rs in rows.values() for r in rs)

        say("\nmeans over the rounds (req/s, low-high), p50 ms, CPU % of one core:")
        for scenario, by_variant in figures.items():
            summaries = {variant: summarize(results) for variant, results in by_variant.items()}
            baseline = next(iter(summaries.values()))
            for variant, s in summaries.items():
                cpu = " ".join(f"{k}={v:.0f}" for k, v in sorted(s.cpu.items()) if k != "idle")
                say(
                    f"  {scenario:<16} {variant:<26} {s.mean:8.1f}  ({s.low:.0f}-{s.high:.0f})"
                    f"  p50 {s.p50:6.2f}  x{s.ratio(baseline):.2f}  {cpu}"
                )
        say(f"command: {command_line()}; errors: {errors}")
    return 0 if errors == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
