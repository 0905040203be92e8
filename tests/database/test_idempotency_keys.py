"""The database holds the idempotency rule itself (sql/0065): a key is
replayed only for a command of its event's type, whatever fingerprint the
caller sends, and a key always names a stored event of its type. All of it
as petstore_api, the role `serve` logs in as."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.api_login import api_database_url
from graphql_petstore.database.migrations import load_migrations, migrate
from graphql_petstore.settings import Settings
from tests.database.rules import arrive, assert_fails, store_contents

PRICE_CHANGE = (
    "select (r.event).id"
    " from petstore_append_pet_price_change($1, $2, $3, null, '{}', null, $4, $5) r"
)
SALE = "select (r.event).id from petstore_append_pet_sold($1, $2, $3, $4, '{}', null, $5, $6) r"
KEY = (
    "insert into idempotency_keys (key, fingerprint, event_id, event_type) values ($1, 'f', $2, $3)"
)


@pytest_asyncio.fixture(loop_scope="session")
async def api(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(await api_database_url(Settings(), database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _change_price(api: asyncpg.Connection, pet_id: uuid.UUID, key: str) -> uuid.UUID:
    event_id: uuid.UUID = await api.fetchval(
        PRICE_CHANGE, uuid.uuid4(), pet_id, Decimal("12.00"), key, "the same fingerprint"
    )
    return event_id


async def test_a_key_is_replayed_for_a_command_of_its_events_type(
    api: asyncpg.Connection,
) -> None:
    pet_id = await arrive(api)
    first = await _change_price(api, pet_id, "k-1")
    assert await _change_price(api, pet_id, "k-1") == first


async def test_a_key_is_refused_for_another_type_even_with_the_same_fingerprint(
    api: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """Before sql/0065 the sale was answered with the price change."""
    pet_id = await arrive(api)
    await _change_price(api, pet_id, "k-2")
    await assert_fails(
        api,
        "IDEMPOTENCY_KEY_REUSED",
        SALE,
        uuid.uuid4(),
        pet_id,
        uuid.uuid4(),
        Decimal("12.00"),
        "k-2",
        "the same fingerprint",
    )
    assert (await conn.fetchrow("select status from pets where id = $1", pet_id))[
        "status"
    ] == "AVAILABLE"


@pytest.mark.parametrize("named", ["no event", "an event of another type"])
async def test_a_key_that_names_no_stored_event_of_its_type_is_refused_at_commit(
    api: asyncpg.Connection, conn: asyncpg.Connection, named: str
) -> None:
    pet_id = await arrive(api)
    arrival = await conn.fetchval("select id from events where pet_id = $1", pet_id)
    event_id = uuid.uuid4() if named == "no event" else arrival
    before = await store_contents(conn)
    keys = await conn.fetchval("select count(*) from idempotency_keys")
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="names no stored"):
        await api.execute(KEY, "k-3", event_id, "PET_SOLD")
    assert await store_contents(conn) == before
    assert await conn.fetchval("select count(*) from idempotency_keys") == keys


async def test_a_key_inserted_with_its_event_in_one_transaction_is_kept(
    api: asyncpg.Connection,
) -> None:
    """The order the append functions use: the key first, its event after."""
    pet_id = await arrive(api)
    event_id = uuid.uuid4()
    async with api.transaction():
        await api.execute(KEY, "k-4", event_id, "PET_PRICE_CHANGE")
        await api.execute(
            "insert into pet_price_change_events (id, pet_id, new_price) values ($1, $2, 3)",
            event_id,
            pet_id,
        )
    assert await api.fetchval("select event_type from idempotency_keys where key = 'k-4'") == (
        "PET_PRICE_CHANGE"
    )


async def test_migrating_gives_each_stored_key_its_events_type_and_drops_a_key_naming_none(
    empty_database_url: str,
) -> None:
    migrations = load_migrations()
    at = next(i for i, m in enumerate(migrations) if m.name.startswith("0065_"))
    await migrate(empty_database_url, migrations[:at])
    owner = await asyncpg.connect(empty_database_url)
    try:
        pet_id = await arrive(owner)
        event_id = await owner.fetchval(
            "select (r.event).id from petstore_append_pet_price_change("
            "$1, $2, 5, null, '{}', null, 'kept', 'f') r",
            uuid.uuid4(),
            pet_id,
        )
        await owner.execute(
            "insert into idempotency_keys (key, fingerprint, event_id)"
            " values ('dangling', 'f', $1)",
            uuid.uuid4(),
        )
        await migrate(empty_database_url)
        rows = await owner.fetch("select key, event_id, event_type from idempotency_keys")
        assert [tuple(r) for r in rows] == [("kept", event_id, "PET_PRICE_CHANGE")]
    finally:
        await owner.close()
    # And the kept key replays as before, for the server's role.
    api = await asyncpg.connect(await api_database_url(Settings(), empty_database_url))
    try:
        assert (
            await api.fetchval(
                "select (r.event).id from petstore_append_pet_price_change("
                "$1, $2, 5, null, '{}', null, 'kept', 'f') r",
                uuid.uuid4(),
                pet_id,
            )
            == event_id
        )
    finally:
        await api.close()
