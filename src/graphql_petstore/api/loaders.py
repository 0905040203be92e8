"""DataLoaders: each gathers the loads of one request's resolvers into one
statement. A Loaders object lives for one request (or one subscription event),
never longer, so nothing read in one request is served to another."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from graphql_petstore.api.types import Pet
from graphql_petstore.database import reads

HistoryKey = tuple[uuid.UUID, int, int]  # (pet id, page size, after version)
# Runs a query on a connection of the node the request reads from.
Read = Callable[[Callable[[AsyncConnection], Awaitable[Any]]], Awaitable[Any]]


class Loaders:
    def __init__(self, read: Read) -> None:
        self._read = read
        self.pet: DataLoader[uuid.UUID, Pet | None] = DataLoader(self._load_pets)
        self.offspring: DataLoader[uuid.UUID, list[Pet]] = DataLoader(self._load_offspring)
        self.history: DataLoader[HistoryKey, list[RowMapping]] = DataLoader(self._load_histories)

    async def _load_pets(self, ids: Sequence[uuid.UUID]) -> list[Pet | None]:
        rows = await self._read(lambda conn: reads.pets_by_id(conn, ids))
        found = {row["id"]: Pet.from_row(row) for row in rows}
        return [found.get(pet_id) for pet_id in ids]

    async def _load_offspring(self, mother_ids: Sequence[uuid.UUID]) -> list[list[Pet]]:
        rows = await self._read(lambda conn: reads.offspring(conn, mother_ids))
        children: dict[uuid.UUID, list[Pet]] = defaultdict(list)
        for row in rows:
            pet = Pet.from_row(row)
            children[row["mother_id"]].append(pet)
            self.pet.prime(pet.id, pet)
        return [children.get(mother_id, []) for mother_id in mother_ids]

    async def _load_histories(self, keys: Sequence[HistoryKey]) -> list[list[RowMapping]]:
        # Keys that share a page size and cursor are one statement; a page of
        # pets asking for the same history(first:) makes exactly one.
        groups: dict[tuple[int, int], list[uuid.UUID]] = defaultdict(list)
        for pet_id, first, after in keys:
            groups[(first, after)].append(pet_id)

        async def read_all(conn: AsyncConnection) -> dict[HistoryKey, list[RowMapping]]:
            found: dict[HistoryKey, list[RowMapping]] = defaultdict(list)
            for (first, after), pet_ids in groups.items():
                for row in await reads.histories(conn, pet_ids, first, after):
                    found[(row["pet_id"], first, after)].append(row)
            return found

        found: dict[HistoryKey, list[RowMapping]] = await self._read(read_all)
        return [found.get(key, []) for key in keys]
