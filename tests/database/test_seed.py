"""`graphql-petstore seed`: a history spread over past days, written through
the rules (the fold agrees with it), that a second run extends."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from graphql_petstore.database.replay import verify
from graphql_petstore.database.seed import seed

CLI = str(Path(sys.executable).with_name("graphql-petstore"))


async def test_seed_writes_every_kind_of_event_over_the_past_days(
    database_url: str, conn: asyncpg.Connection
) -> None:
    result = await seed(database_url, pets=300, days=6)

    assert result.pets == 300
    counts = dict(await conn.fetch("select event_type, count(*) from events group by 1"))
    assert set(counts) == {
        "PET_ARRIVED",
        "PET_BORN",
        "PET_PRICE_CHANGE",
        "PET_SOLD",
        "PET_LOST",
        "PET_FOUND_AGAIN",
    }, counts
    assert counts["PET_ARRIVED"] + counts["PET_BORN"] == 300
    assert result.events == sum(counts.values())

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = await conn.fetch(
        "select distinct date_trunc('day', created_at at time zone 'utc') d from events"
    )
    assert len(days) == 6
    first, last = await conn.fetchrow("select min(created_at), max(created_at) from events")
    assert first >= today - timedelta(days=6)
    assert last < today

    # Kits are the mother's species; a pet's events are in time order.
    mismatched = await conn.fetchval(
        "select count(*) from pets kit join pets mother on mother.id = kit.mother_id "
        "where kit.species <> mother.species"
    )
    assert mismatched == 0
    disorder = await conn.fetchval(
        "select count(*) from (select created_at < lag(created_at) over "
        "(partition by pet_id order by pet_version) as back from pet_event_log) t where back"
    )
    assert disorder == 0
    assert await verify(database_url, progress=False) == []


async def test_seed_run_again_adds_more_without_breaking_a_rule(
    database_url: str, conn: asyncpg.Connection
) -> None:
    first = await seed(database_url, pets=200, days=3)
    second = await seed(database_url, pets=200, days=5)
    assert (first.pets, second.pets) == (200, 200)
    assert await conn.fetchval("select count(*) from pets") == 400
    assert await conn.fetchval("select count(*) from events") == first.events + second.events
    assert await verify(database_url, progress=False) == []


async def test_events_written_outside_a_seed_are_stamped_now(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await seed(database_url, pets=20, days=2)
    before = await conn.fetchval("select now()")
    stamped = await conn.fetchval(
        "insert into pet_arrived_events (pet_id, name, species, price) "
        "values (uuid_generate_v7(), 'Rex', 'Dog', 10) returning created_at"
    )
    assert stamped >= before


def test_seed_command_reports_what_it_added(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETSTORE_")}
    env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [CLI, "seed", "--pets", "40", "--days", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 40 pets and "), result.stdout
    assert "events/s" in result.stdout
