"""Consistency tokens: what a client presents to read its own write from a
replica.

A mutation's token names the event it stored. A replica "has replayed past
the token" when a statement on it sees that event's row: the event, the
`pets` row its fold wrote and everything committed before it arrive on a
standby with one commit record, and a standby's snapshots only grow, so
every later statement on that replica sees the write too.

Why the row and not a WAL position or a transaction id:

  * An LSN read inside the appending transaction precedes its commit
    record: a replica that has replayed up to it may not have the commit.
    The LSN after the commit takes a second round trip per append, and the
    token must also be the same when strawberry renders an event that was
    stored already (its read-back knows only the event).
  * pg_xact_status(xid) on a standby reports 'committed' as soon as the
    commit is marked in pg_xact, a moment before the standby's snapshots
    stop counting the transaction as running (xact_redo_commit marks clog,
    then expires the xid from KnownAssignedXids); and pg_current_snapshot()
    on a standby lists no running transactions at all, so
    pg_visible_in_snapshot() cannot close that window.
  * A row that a statement sees is, by definition, visible to it.

The token is opaque to clients ("v1." and the event id's hex): the server
may change what it encodes under another version prefix.
"""

from __future__ import annotations

import uuid

TOKEN_VERSION = "v1."
# The HTTP header a request presents its token in, and the key of the
# WebSocket connection_init payload.
TOKEN_HEADER = "petstore-consistency-token"
TOKEN_INIT_KEY = "consistencyToken"


class MalformedTokenError(ValueError):
    """Not a consistency token that this server makes."""


def token_of(event_id: uuid.UUID) -> str:
    return TOKEN_VERSION + event_id.hex


def token_sql(event_id: str) -> str:
    """SQL of the token's text, given SQL of the event id (a uuid)."""
    return f"('{TOKEN_VERSION}' || replace({event_id}::text, '-', ''))"


def parse_token(text: str) -> uuid.UUID:
    """The event id a token names."""
    if not text.startswith(TOKEN_VERSION):
        raise MalformedTokenError(text)
    digits = text[len(TOKEN_VERSION) :]
    if len(digits) != 32 or not all(c in "0123456789abcdef" for c in digits):
        raise MalformedTokenError(text)
    return uuid.UUID(hex=digits)
