"""The doorbell: per event for hand-written sessions, none for batched ones."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

ARRIVE = (
    "insert into pet_arrived_events (pet_id, name, species, price) values ($1, 'Fluffy', 'Cat', 10)"
)


async def _notifications_after(database_url: str, *setup: str) -> list[str]:
    listener = await asyncpg.connect(database_url)
    writer = await asyncpg.connect(database_url)
    received: list[str] = []
    try:
        await listener.add_listener(
            "petstore_events", lambda _c, _pid, _ch, payload: received.append(str(payload))
        )
        for statement in setup:
            await writer.execute(statement)
        await writer.execute(ARRIVE, uuid.uuid4())
        await asyncio.sleep(0.3)  # notifications arrive asynchronously
        return received
    finally:
        await writer.close()
        await listener.close()


async def test_a_hand_written_insert_notifies_with_the_event(database_url: str) -> None:
    received = await _notifications_after(database_url)
    assert len(received) == 1
    assert '"type" : "PET_ARRIVED"' in received[0]


async def test_a_batched_session_leaves_the_notify_to_its_doorbell(database_url: str) -> None:
    received = await _notifications_after(database_url, "set petstore.notify = 'batched'")
    assert received == []
