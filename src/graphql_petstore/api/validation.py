"""Early checks of mutation input, for clear field-level messages.

The database enforces every rule itself (sql/); these checks only say what is
wrong before a round trip, in the words of the GraphQL input fields.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from graphql_petstore.api.types import ErrorCode, UserError

MAX_PRICE = Decimal("99999999.99")  # numeric(10, 2)
MAX_NAME_LENGTH = 100
MAX_SPECIES_LENGTH = 50
MAX_LOCATION_LENGTH = 1_000
# The dates of events (lostDate, foundDate) lie between these and tomorrow in
# UTC, as sql/0040_event_date_range.sql has the database check.
EARLIEST_EVENT_DATE = date(1900, 1, 1)
# What the database trims from names and species (sql/0006_event_triggers.sql).
TRIMMED = " \t\n\r\f\v"


class InputErrors:
    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(
            UserError(code=ErrorCode.VALIDATION_FAILED, message=message, field=["input", field])
        )

    def price(self, field: str, value: Decimal | None) -> None:
        if value is None:
            return
        if not value.is_finite():
            self.add(field, f"{field} must be a number, not {value}")
        elif value < 0:
            self.add(field, f"{field} must be 0 or more")
        elif value > MAX_PRICE:
            self.add(field, f"{field} must be at most {MAX_PRICE}")
        elif value != value.quantize(Decimal("0.01")):
            self.add(field, f"{field} must have at most two decimals")

    def text(self, field: str, value: str | None, *, max_length: int, required: bool) -> None:
        if value is None:
            return
        if "\x00" in value:
            self.add(field, f"{field} must not contain NUL characters")
        elif required and not value.strip(TRIMMED):
            self.add(field, f"{field} must not be empty")
        elif len(value.strip(TRIMMED)) > max_length:
            self.add(field, f"{field} must be at most {max_length} characters")

    def event_date(self, field: str, value: date | None) -> None:
        if value is None:
            return
        latest = datetime.now(UTC).date() + timedelta(days=1)
        if not EARLIEST_EVENT_DATE <= value <= latest:
            self.add(
                field,
                f"{field} must lie between {EARLIEST_EVENT_DATE.isoformat()} and tomorrow "
                f"({latest.isoformat()}, UTC), not {value.isoformat()}",
            )

    def metadata(self, value: Any, max_bytes: int) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.add("metadata", "metadata must be a JSON object")
            return
        encoded = json.dumps(value, separators=(",", ":"))
        size = len(encoded.encode())
        if _has_nul(value):
            # PostgreSQL's jsonb cannot hold a NUL character.
            self.add("metadata", "metadata must not contain NUL characters")
        elif size > max_bytes:
            self.add("metadata", f"metadata must be at most {max_bytes} bytes of JSON, not {size}")


def trimmed(value: str | None) -> str | None:
    """A name as the database will store it: the database trims too, but only
    after checking the column's length, so send it trimmed."""
    return None if value is None else value.strip(TRIMMED)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
