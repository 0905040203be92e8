"""Rebuild benchmark: `graphql-petstore rebuild` against the raw INSERT rate.

One command (see bench/README.md):

    .venv/bin/python bench/rebuild_bench.py [--events 1000000] [--pets 20000]

On a fresh database (petstore_rebuild_<pid>) on --server-url it

  1. seeds --events events through the real triggers with set-based
     INSERT ... SELECT: --pets arrivals, then rounds of price changes (each
     statement at most one event per pet and at most 5,000
     pets, for max_locks_per_transaction), timed: the INSERT rate through the
     triggers;
  2. inserts the same price-change rows with the same INSERT ... SELECT shape
     into `scratch` (like pet_price_change_events including all, so no
     triggers), timed: the plain INSERT rate, for reference;
  3. runs `vacuum analyze`, then times rebuild() and verify()
     (graphql_petstore.database.replay) and checks that verify() finds no
     drift and that rebuild() replayed every pet;
  4. prints a table with PostgreSQL's CPU per phase and drops the database
     (also on failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.replay import rebuild, verify
from harness.cli import add_server_url
from harness.cpu import SampledCpu
from harness.database import connected, create_database, postgres_processes, postgres_server
from harness.report import command_line, say, say_machine
from harness.seeding import PRICE_SQL, SPECIES_SQL

T = TypeVar("T")

ARRIVALS = f"""
insert into pet_arrived_events (pet_id, name, species, price)
select uuid_generate_v7(), 'Pet ' || g, {SPECIES_SQL}[1 + g % 7], {PRICE_SQL}
from generate_series(1, $1::int) g
"""
# One event per pet per statement: the BEFORE trigger locks the pet and reads
# its version; the fold runs at the end of the statement.
PRICE_CHANGES = f"""
insert into pet_price_change_events (pet_id, new_price)
select id, {PRICE_SQL} from pets
where id >= $2::uuid and ($3::uuid is null or id < $3::uuid) order by id limit $1
"""
# The same shape into a table without triggers: the columns that the triggers
# would derive (old_price, pet_version) are given from the same read of pets.
SCRATCH = "create table scratch (like pet_price_change_events including all)"
PLAIN_CHANGES = f"""
insert into scratch (pet_id, new_price, old_price, pet_version, event_type)
select id, {PRICE_SQL}, current_price, version + $4::int, 'PET_PRICE_CHANGE'
from pets
where id >= $2::uuid and ($3::uuid is null or id < $3::uuid) order by id limit $1
"""
# Every row of a statement takes a lock on its pet (until the commit): at most
# CHUNK pets per statement keeps within max_locks_per_transaction.
CHUNK = 5_000


class Phase:
    def __init__(self, name: str, count: int, unit: str, seconds: float, cpu: float) -> None:
        self.name, self.count, self.unit, self.seconds, self.cpu = name, count, unit, seconds, cpu

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("nan")


async def timed(
    meter: SampledCpu | None, work: Callable[[], Awaitable[T]]
) -> tuple[T, float, float]:
    """The result, the seconds taken and PostgreSQL's CPU (% of one core)."""
    if meter:
        return await meter.measure(work)
    t0 = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - t0, float("nan")


async def chunks(conn: asyncpg.Connection) -> list[tuple[Any, Any]]:
    """[lower, upper) bounds of pet ids, CHUNK pets each (upper None: the end)."""
    ids = [row[0] for row in await conn.fetch("select id from pets order by id")]
    lowers = ids[::CHUNK]
    return list(zip(lowers, [*lowers[1:], None], strict=True))


async def seed(conn: asyncpg.Connection, pets: int, events: int) -> int:
    inserted = 0
    for start in range(0, pets, CHUNK):
        status = await conn.execute(ARRIVALS, min(CHUNK, pets - start))
        inserted += int(status.split()[-1])
    bounds = await chunks(conn)
    while inserted < events:
        for lower, upper in bounds:
            if inserted >= events:
                break
            status = await conn.execute(PRICE_CHANGES, events - inserted, lower, upper)
            inserted += int(status.split()[-1])
    return inserted


async def plain(conn: asyncpg.Connection, rows: int) -> int:
    inserted, round_no = 0, 0
    bounds = await chunks(conn)
    while inserted < rows:
        round_no += 1
        for lower, upper in bounds:
            if inserted >= rows:
                break
            status = await conn.execute(PLAIN_CHANGES, rows - inserted, lower, upper, round_no)
            inserted += int(status.split()[-1])
    return inserted


async def run(args: argparse.Namespace) -> None:
    say(f"command: {command_line()}")
    say_machine()
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(stack, admin_url, f"petstore_rebuild_{os.getpid()}")
        await migrate(url)
        processes = await postgres_processes(url)
        # rebuild() and verify() open their own connections: sampled, so that
        # backends which come and go within a phase are counted.
        meter = SampledCpu(processes) if processes is not None else None

        conn = await stack.enter_async_context(connected(url))
        phases: list[Phase] = []

        events, seconds, cpu = await timed(meter, lambda: seed(conn, args.pets, args.events))
        phases.append(Phase("seed through triggers", events, "events", seconds, cpu))
        say(f"  seeded {events} events in {seconds:.1f} s")

        await conn.execute(SCRATCH)
        changes = events - args.pets
        rows, seconds, cpu = await timed(meter, lambda: plain(conn, changes))
        phases.append(Phase("plain insert (no triggers)", rows, "rows", seconds, cpu))
        say(f"  plain insert {rows} rows in {seconds:.1f} s")
        await conn.execute("drop table scratch")

        t0 = time.perf_counter()
        await conn.execute("vacuum analyze")
        say(f"  vacuum analyze {time.perf_counter() - t0:.1f} s")
        total = await conn.fetchval("select count(*) from events")
        assert total == events, (total, events)

        pets, seconds, cpu = await timed(meter, lambda: rebuild(url, progress=False))
        assert pets == args.pets, (pets, args.pets)
        phases.append(Phase("rebuild", events, "events", seconds, cpu))
        say(f"  rebuild {pets} pets in {seconds:.1f} s")
        rebuild_pets_rate = pets / seconds

        drifts: Any
        drifts, seconds, cpu = await timed(meter, lambda: verify(url, progress=False))
        assert drifts == [], drifts[:5]
        phases.append(Phase("verify", events, "events", seconds, cpu))
        say(f"  verify {seconds:.1f} s, no drift")

        say()
        say(f"{'phase':<28} {'count':>9} {'unit':<7} {'seconds':>8} {'rate/s':>10} {'pg CPU':>7}")
        for p in phases:
            say(
                f"{p.name:<28} {p.count:>9} {p.unit:<7} {p.seconds:>8.2f} {p.rate:>10.0f}"
                f" {p.cpu:>6.0f}%"
            )
        seed_rate, plain_rate, rebuild_rate = phases[0].rate, phases[1].rate, phases[2].rate
        say(f"rebuild: {rebuild_rate:.0f} events/s, {rebuild_pets_rate:.0f} pets/s")
        say(f"ratio rebuild/seed (events/s): {rebuild_rate / seed_rate:.2f}")
        say(f"ratio seed/plain insert: {seed_rate / plain_rate:.2f}")
        say("(pg CPU: PostgreSQL processes, % of one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pets", type=int, default=20_000)
    add_server_url(parser)
    args = parser.parse_args()
    if args.events <= args.pets:
        raise SystemExit("--events must exceed --pets")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
