"""Awaiting a DataLoader's value so that cancelling one awaiter leaves it
to the others."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from strawberry.dataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")


async def load(loader: DataLoader[K, V], key: K) -> V:
    """loader.load(key), shielded: a DataLoader hands every resolver that asks
    for one key the same future, and graphql-core cancels the pending fields
    of a selection when one of them fails; without the shield, that would
    cancel the future under the resolvers of other selections too, and
    their request would end in CancelledError instead of an answer."""
    return await asyncio.shield(loader.load(key))
