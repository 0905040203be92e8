"""The response's JSON: compact UTF-8, with stored JSON embedded as stored.

Both request paths must write the same bytes: the compiled path has
PostgreSQL build the response, so strawberry's path writes JSON the way
PostgreSQL does — compact, non-ASCII as UTF-8, and a jsonb value (an event's
metadata) as PostgreSQL's own text of it. Parsing stored JSON into Python and
writing it out again would change it (1.10 becomes 1.1, 0.000001 becomes
1e-06): a StoredJson keeps its text, and the encoder embeds that text
untouched (orjson.Fragment).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class StoredJson(dict[str, Any]):
    """A JSON object read from the database, with its text as stored."""

    __slots__ = ("text",)
    text: str


def stored_json(text: str) -> Any:
    """Decodes jsonb as read from the database: objects keep their text."""
    value = json.loads(text)
    if isinstance(value, dict):
        stored = StoredJson(value)
        stored.text = text
        return stored
    return value


def _default(value: Any) -> Any:
    # With OPT_PASSTHROUGH_SUBCLASS orjson asks here about every subclass of
    # a JSON type; only StoredJson is written differently from its base.
    if isinstance(value, StoredJson):
        return orjson.Fragment(value.text)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(data: object) -> str:
    try:
        return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_SUBCLASS).decode()
    except (TypeError, orjson.JSONEncodeError):
        # What orjson refuses (an integer beyond 64 bits, a lone surrogate in
        # an error message that echoes the document) the standard library
        # still writes, stored JSON included (re-encoded from its values).
        return json.dumps(data, separators=(",", ":"))
