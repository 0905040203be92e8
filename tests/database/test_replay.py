"""verify and rebuild: the read model against a replay of the history."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from graphql_petstore.database.replay import rebuild, verify


async def _store_some_history(conn: asyncpg.Connection) -> list[uuid.UUID]:
    mother, kid, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for pet_id, name in ((mother, "Mia"), (other, "Rex")):
        await conn.execute(
            "insert into pet_arrived_events (pet_id, name, species, price)"
            " values ($1, $2, 'Cat', 10)",
            pet_id,
            name,
        )
    await conn.execute(
        "insert into pet_born_events (pet_id, name, mother_id, price) values ($1, 'Kit', $2, 5)",
        kid,
        mother,
    )
    await conn.execute(
        "insert into pet_price_change_events (pet_id, new_price) values ($1, 12)", mother
    )
    await conn.execute(
        "insert into pet_sold_events (pet_id, customer_id, sale_price) values ($1, $2, 12)",
        mother,
        uuid.uuid4(),
    )
    await conn.execute("insert into pet_lost_events (pet_id) values ($1)", other)
    return [mother, kid, other]


async def _plant_drift(conn: asyncpg.Connection, changed: uuid.UUID, gone: uuid.UUID) -> None:
    # A superuser bypassing the triggers: exactly what verify is there to catch.
    await conn.execute("set session_replication_role = replica")
    await conn.execute("update pets set current_price = 1, name = 'Max' where id = $1", changed)
    await conn.execute("delete from pets where id = $1", gone)
    await conn.execute("set session_replication_role = origin")


async def test_verify_finds_nothing_when_pets_matches_the_history(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await _store_some_history(conn)
    assert await verify(database_url, progress=False) == []


async def test_verify_reports_every_differing_pet_and_field_and_rebuild_repairs_them(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mother, kid, _ = await _store_some_history(conn)
    before = [dict(row) for row in await conn.fetch("select * from pets order by id")]
    await _plant_drift(conn, changed=mother, gone=kid)

    drifts = {d.pet_id: d.fields for d in await verify(database_url, progress=False)}

    assert set(drifts) == {str(mother), str(kid)}
    assert set(drifts[str(mother)]) == {"current_price", "name"}
    assert drifts[str(mother)]["name"] == ("Max", "Mia")
    assert drifts[str(kid)] == {"(row)": ("missing", "present")}

    assert await rebuild(database_url, progress=False) == 3
    assert await verify(database_url, progress=False) == []
    assert [dict(row) for row in await conn.fetch("select * from pets order by id")] == before


async def test_verify_reports_a_pet_that_has_no_history(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await _store_some_history(conn)
    await conn.execute("set session_replication_role = replica")
    stray = uuid.uuid4()
    await conn.execute(
        "insert into pets (id, name, species, current_price, status, last_event_id,"
        " created_at, updated_at, version)"
        " values ($1, 'Ghost', 'Cat', 1, 'AVAILABLE', $1, now(), now(), 1)",
        stray,
    )
    await conn.execute("set session_replication_role = origin")
    drifts = await verify(database_url, progress=False)
    assert [d.pet_id for d in drifts] == [str(stray)]


async def test_pets_stays_read_only_outside_a_rebuild(conn: asyncpg.Connection) -> None:
    await _store_some_history(conn)
    with pytest.raises(asyncpg.PostgresError) as raised:
        await conn.execute("delete from pets")
    assert raised.value.sqlstate == "PS021"


async def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _cli() -> str:
    found = shutil.which("graphql-petstore", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the graphql-petstore console script is not installed next to python")
    return found


async def test_the_verify_and_rebuild_commands_exit_1_on_drift_then_0(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mother, kid, _ = await _store_some_history(conn)
    await _plant_drift(conn, changed=mother, gone=kid)
    env = {**os.environ, "DATABASE_URL": database_url}

    drifted = await _run(_cli(), "verify", env=env)
    assert drifted.returncode == 1, drifted.stderr
    assert f"pet {mother}: current_price: 1.00 in pets, 12.00 from history" in drifted.stdout
    assert f"pet {kid}: (row): missing in pets, present from history" in drifted.stdout

    rebuilt = await _run(_cli(), "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 3 pet(s)" in rebuilt.stdout

    clean = await _run(_cli(), "verify", env=env)
    assert clean.returncode == 0, clean.stderr
    assert "pets matches the history" in clean.stdout
