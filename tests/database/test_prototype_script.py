"""The prototype's habits keep working: its plain SQL script, typed into psql,
and `SELECT * FROM pets; SELECT * FROM events;` (design §2)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from graphql_petstore.database.embedded import psql_executable
from tests.database.rules import EVENT_TYPES, record_one_of_each

PROTOTYPE_SCRIPT = """\
INSERT INTO pet_arrived_events (pet_id, name, species, price, event_type) VALUES (uuid_generate_v7(), 'Fluffy', 'Cat', 100.00, 'PET_ARRIVED');
INSERT INTO pet_price_change_events (pet_id, old_price, new_price, event_type) VALUES ((select id from pets where name = 'Fluffy'), 100.00, 120.00, 'PET_PRICE_CHANGE');
INSERT INTO pet_sold_events (pet_id, customer_id, sale_price, event_type) VALUES ((select id from pets where name = 'Fluffy'), uuid_generate_v7(), 120.00, 'PET_SOLD');
SELECT name, species, current_price, status, version FROM pets;
"""  # noqa: E501 - the script as a person types it

# Columns of the event tables that only a child has: none of them may show in
# `SELECT * FROM events`.
CHILD_ONLY_COLUMNS = {
    "name",
    "species",
    "price",
    "mother_id",
    "customer_id",
    "sale_price",
    "new_price",
    "old_price",
    "lost_date",
    "last_seen_location",
    "found_date",
    "found_location",
}


async def test_prototype_script_in_psql_leaves_fluffy_sold_at_120(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "prototype.sql"
    script.write_text(PROTOTYPE_SCRIPT)
    psql = await asyncio.create_subprocess_exec(
        *(psql_executable(), "-X", "-v", "ON_ERROR_STOP=1", "-f", str(script), database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(psql.communicate(), timeout=60)
    assert psql.returncode == 0, stderr.decode()
    output = stdout.decode()
    assert output.count("INSERT 0 1") == 3
    assert " Fluffy | Cat     |        120.00 | SOLD   |       3" in output

    fluffy = await conn.fetchrow("select * from pets where name = 'Fluffy'")
    assert fluffy is not None
    assert (fluffy["species"], fluffy["current_price"], fluffy["status"], fluffy["version"]) == (
        "Cat",
        Decimal("120.00"),
        "SOLD",
        3,
    )
    assert uuid.UUID(str(fluffy["id"])).version == 7
    history = await conn.fetch(
        "select event_type, pet_version from events where pet_id = $1 order by pet_version",
        fluffy["id"],
    )
    assert [tuple(row) for row in history] == [
        ("PET_ARRIVED", 1),
        ("PET_PRICE_CHANGE", 2),
        ("PET_SOLD", 3),
    ]
    sale = await conn.fetchrow("select * from pet_sold_events where pet_id = $1", fluffy["id"])
    assert sale is not None
    assert (sale["sale_price"], sale["customer_id"]) == (Decimal("120.00"), fluffy["customer_id"])
    assert fluffy["last_event_id"] == sale["id"]


async def test_prototype_script_as_one_query_string_gives_the_same_result(
    conn: asyncpg.Connection,
) -> None:
    await conn.execute(PROTOTYPE_SCRIPT)
    rows = await conn.fetch("select name, species, current_price, status, version from pets")
    assert [tuple(row) for row in rows] == [("Fluffy", "Cat", Decimal("120.00"), "SOLD", 3)]


async def test_select_star_from_events_lists_every_type_in_order_with_base_columns(
    conn: asyncpg.Connection,
) -> None:
    recorded = await record_one_of_each(conn)
    result = await conn.fetch("SELECT * FROM events ORDER BY id")

    base_columns = [
        row["attname"]
        for row in await conn.fetch(
            "select attname from pg_attribute where attrelid = 'events'::regclass"
            " and attnum > 0 and not attisdropped order by attnum"
        )
    ]
    assert base_columns[:4] == ["id", "created_at", "event_type", "metadata"]
    assert list(result[0].keys()) == base_columns
    assert not CHILD_ONLY_COLUMNS & set(result[0].keys())

    assert [row["id"] for row in result] == [event["id"] for event in recorded]
    assert [row["event_type"] for row in result] == list(EVENT_TYPES.values())

    children = await conn.fetch(
        "SELECT tableoid::regclass::text AS child, event_type FROM events ORDER BY id"
    )
    assert [(row["child"], row["event_type"]) for row in children] == list(EVENT_TYPES.items())


async def test_uuid_generate_v7_makes_increasing_version_7_uuids(
    conn: asyncpg.Connection,
) -> None:
    in_one_statement = [
        row[0]
        for row in await conn.fetch("select uuid_generate_v7() from generate_series(1, 2000)")
    ]
    one_by_one = [await conn.fetchval("select uuid_generate_v7()") for _ in range(50)]
    for ids in (in_one_statement, one_by_one):
        assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
        assert all(a < b for a, b in itertools.pairwise(ids))
    assert in_one_statement[-1] < one_by_one[0]


async def test_uuid_generate_v7_carries_the_current_unix_time_in_milliseconds(
    conn: asyncpg.Connection,
) -> None:
    row = await conn.fetchrow(
        "select (extract(epoch from clock_timestamp()) * 1000)::bigint as before_ms,"
        " uuid_generate_v7() as id,"
        " (extract(epoch from clock_timestamp()) * 1000)::bigint as after_ms"
    )
    assert row is not None
    embedded_ms = row["id"].int >> 80
    assert row["before_ms"] - 1 <= embedded_ms <= row["after_ms"] + 1


async def test_event_ids_made_by_the_default_are_version_7(conn: asyncpg.Connection) -> None:
    recorded = await record_one_of_each(conn)
    assert {event["id"].version for event in recorded} == {7}
