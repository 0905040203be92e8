"""Checks every input value passes before any resolver or compiled statement
sees it: values that no column, no jsonb and no timestamptz of PostgreSQL can
hold are refused as the client's mistake, with a code, instead of failing in
the driver or the database as an internal error.

- Strings (every String argument and input field, and every string of a JSON
  value, keys included) must not hold NUL (PostgreSQL's text and jsonb refuse
  it) nor a lone surrogate (not UTF-8: asyncpg cannot encode it).
- JSON values nest at most MAX_JSON_DEPTH deep, and their numbers are
  finite with at most MAX_INTEGER_DIGITS digits (jsonb has no infinity, and
  Python cannot write a longer integer as text).
- Integers written in the document have at most MAX_INTEGER_DIGITS digits
  (graphql-core's Int would fail converting a longer one, internally).
- Date-times must be instants of the years 1 to 9999 in UTC: a zone's offset
  can push the edges of the calendar outside what Python (and so asyncpg)
  can convert.

library_internals.guard_scalars applies them to the schema's scalars, so that
graphql-core's coercion runs them for variables and literals alike, on
strawberry's path, the compiled path and over WebSockets.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError

from graphql_petstore import error_codes

MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 4_300  # sys.get_int_max_str_digits()'s default
_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS


def number_out_of_range() -> GraphQLError:
    return GraphQLError(
        f"numbers must be finite and have at most {MAX_INTEGER_DIGITS:,} digits",
        extensions={"code": error_codes.BAD_USER_INPUT},
    )


def unsupported_character(text: str) -> str | None:
    """What in `text` PostgreSQL cannot store, or None."""
    if "\x00" in text:
        return "a NUL character (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate (not UTF-8)"
    return None


def check_string(value: Any) -> Any:
    if isinstance(value, str):
        found = unsupported_character(value)
        if found is not None:
            raise GraphQLError(
                f"strings must not contain {found}",
                extensions={"code": error_codes.UNSUPPORTED_CHARACTER},
            )
    return value


def check_json(value: Any) -> Any:
    """`value` (a JSON value), if it is not nested too deeply and holds no
    string that cannot be stored; walked without recursion."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            check_string(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise number_out_of_range()
        elif isinstance(item, int):
            if not -_INTEGER_BOUND < item < _INTEGER_BOUND:
                raise number_out_of_range()
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise GraphQLError(
                    f"JSON values must not nest deeper than {MAX_JSON_DEPTH} levels",
                    extensions={"code": error_codes.JSON_TOO_DEEP},
                )
            if isinstance(item, dict):
                for key, member in item.items():
                    check_string(key)
                    pending.append((member, depth + 1))
            else:
                pending.extend((member, depth + 1) for member in item)
    return value


def check_instant(value: Any) -> Any:
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise GraphQLError(
                "date-times must lie between 0001-01-01T00:00:00Z and "
                f"9999-12-31T23:59:59.999999Z; {value.isoformat()} does not",
                extensions={"code": error_codes.DATE_OUT_OF_RANGE},
            ) from None
    return value


def integer_conversion(coerce: Any) -> Any:
    """`coerce` (an Int scalar's), answering an integer literal too long for
    int() as the client's mistake."""

    def coerced(*args: Any) -> Any:
        try:
            return coerce(*args)
        except ValueError as error:
            if "integer string conversion" not in str(error):
                raise
            raise number_out_of_range() from None

    return coerced
