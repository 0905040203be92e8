"""Opaque pagination cursors.

Clients must treat cursors as opaque; inside, each names the key that keyset
pagination resumes after: a pet id, a pet version, or a stream position.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from graphql import GraphQLError

from graphql_petstore.database.reads import StreamPosition

MAX_TX_ID = 2**64 - 1  # xid8
MAX_SEQ = 2**63 - 1  # bigint
MAX_VERSION = 2**31 - 1  # integer

# The cursor of the very beginning of the event stream, before every event:
# events(after: "0") and the events subscription replay everything from it.
BEGINNING = "0"


def _encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(kind: str, cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, value = raw.partition(":")
    if prefix != kind or not value:
        raise GraphQLError(
            f"after: {cursor[:40]!r} is not a cursor of this list",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return value


def pet_cursor(pet_id: uuid.UUID) -> str:
    return _encode("pet", str(pet_id))


def parse_pet_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(_decode("pet", cursor))
    except ValueError:
        raise GraphQLError(
            "after: not a pet cursor", extensions={"code": "BAD_USER_INPUT"}
        ) from None


def version_cursor(version: int) -> str:
    return _encode("version", str(version))


def parse_version_cursor(cursor: str) -> int:
    value = _decode("version", cursor)
    if not (value.isdigit() and int(value) <= MAX_VERSION):
        raise GraphQLError("after: not a history cursor", extensions={"code": "BAD_USER_INPUT"})
    return int(value)


def stream_cursor(position: StreamPosition) -> str:
    return _encode("stream", f"{position.tx_id}.{position.seq}")


def parse_stream_cursor(cursor: str) -> StreamPosition | None:
    """None for BEGINNING."""
    if cursor == BEGINNING:
        return None
    tx, _, seq = _decode("stream", cursor).partition(".")
    if not (tx.isdigit() and seq.isdigit() and int(tx) <= MAX_TX_ID and int(seq) <= MAX_SEQ):
        raise GraphQLError("after: not an event cursor", extensions={"code": "BAD_USER_INPUT"})
    return StreamPosition(int(tx), int(seq))
