"""Replaying the history into the read model: verify and rebuild.

Both fold every pet's events with pet_fold() (sql/0012_replay.sql), in
batches of pets so that a progress bar can follow a long history. Both run
as petstore_owner: only the owner may rewrite `pets` (and call the replay
functions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from tqdm import tqdm

from graphql_petstore.database.roles import connect_as_owner

BATCH_SIZE = 1_000


@dataclass(frozen=True)
class Drift:
    """A pet whose row in `pets` differs from what its history says."""

    pet_id: str
    fields: dict[str, tuple[Any, Any]]  # field -> (in pets, from the history)

    def __str__(self) -> str:
        changes = ", ".join(
            f"{name}: {actual} in pets, {expected} from history"
            for name, (actual, expected) in sorted(self.fields.items())
        )
        return f"pet {self.pet_id}: {changes}"


def _batches(ids: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(ids), BATCH_SIZE):
        yield ids[start : start + BATCH_SIZE]


async def _pet_ids(conn: asyncpg.Connection) -> list[Any]:
    return [row[0] for row in await conn.fetch("select pet_ids_in_history()")]


def _progress(total: int, what: str, show: bool) -> tqdm[Any]:
    return tqdm(total=total, desc=what, unit=" pets", disable=not show, leave=False)


async def rebuild(url: str, *, progress: bool = True) -> int:
    """Replaces `pets` with the replayed history in one transaction; returns
    the number of pets. Appends wait until it commits; readers see the old
    rows until then."""
    conn = await connect_as_owner(url)
    try:
        async with conn.transaction():
            await conn.execute("select pets_rebuild_begin()")
            ids = await _pet_ids(conn)
            with _progress(len(ids), "rebuild", progress) as bar:
                for batch in _batches(ids):
                    await conn.execute("insert into pets select * from pets_replayed($1)", batch)
                    bar.update(len(batch))
        return len(ids)
    finally:
        await conn.close()


async def verify(url: str, *, progress: bool = True) -> list[Drift]:
    """Every pet whose row in `pets` differs from its replayed history
    (missing or extra rows included)."""
    conn = await connect_as_owner(url)
    try:
        # One snapshot for the history and the read model alike.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            ids = await _pet_ids(conn)
            drifts: list[Drift] = []
            with _progress(len(ids), "verify", progress) as bar:
                for batch in _batches(ids):
                    drifts += await _compare(conn, batch)
                    bar.update(len(batch))
            extra = await conn.fetch(
                "select to_jsonb(p) as actual from pets p"
                " where p.id not in (select pet_ids_in_history())"
            )
            for row in extra:
                actual = json.loads(row["actual"])
                drifts.append(
                    Drift(actual["id"], {"(row)": ("present", "no such pet in the history")})
                )
        return drifts
    finally:
        await conn.close()


async def _compare(conn: asyncpg.Connection, ids: list[Any]) -> list[Drift]:
    rows = await conn.fetch(
        """
        select r.id::text as id, to_jsonb(p) as actual, to_jsonb(r) as expected
        from pets_replayed($1) r left join pets p on p.id = r.id
        where p is distinct from r
        """,
        ids,
    )
    drifts = []
    for row in rows:
        expected = json.loads(row["expected"], parse_float=Decimal)
        if row["actual"] is None:
            drifts.append(Drift(row["id"], {"(row)": ("missing", "present")}))
            continue
        actual = json.loads(row["actual"], parse_float=Decimal)
        fields = {
            name: (actual.get(name), value)
            for name, value in expected.items()
            if actual.get(name) != value
        }
        drifts.append(Drift(row["id"], fields))
    return drifts
