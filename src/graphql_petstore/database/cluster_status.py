"""What the scale-out parts know about the database servers, for metrics.

One object per process (app.state.cluster_status) with read-only
properties: each replica's health and lag (kept by database/routing.py) and
whether an open transaction holds the event stream back, and whose it is
(kept by database/horizon.py). An exporter reads it; nothing here changes
what the server does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicaState:
    name: str  # "replica-1", … in the order of PETSTORE_READ_REPLICA_URLS
    up: bool  # answering, and still a standby
    # Seconds the replica's replay is behind the primary, as last measured
    # (0 when it has replayed everything it received); None: unknown.
    lag_seconds: float | None


@dataclass(frozen=True)
class HorizonBlocker:
    """The oldest running transaction, which holds the stream back."""

    xid: int
    pid: int | None  # its backend; None for a prepared transaction
    database: str | None
    application: str | None
    state: str | None  # e.g. "idle in transaction"


class ClusterStatus:
    def __init__(self) -> None:
        self._replicas: dict[str, ReplicaState] = {}
        self._held_since: float | None = None
        self._blocker: HorizonBlocker | None = None

    @property
    def replicas(self) -> tuple[ReplicaState, ...]:
        return tuple(self._replicas.values())

    @property
    def horizon_held_seconds(self) -> float:
        """How long committed events have been waiting behind the oldest
        running transaction (0: the stream is not held back)."""
        if self._held_since is None:
            return 0.0
        return time.monotonic() - self._held_since

    @property
    def horizon_blocker(self) -> HorizonBlocker | None:
        """The transaction that holds the stream back, while it does."""
        return self._blocker

    # --- kept by the router and the horizon watch

    def _replica(self, state: ReplicaState) -> None:
        self._replicas[state.name] = state

    def _horizon(self, held_since: float | None, blocker: HorizonBlocker | None) -> None:
        self._held_since = held_since
        self._blocker = blocker
