"""Database errors translated into DomainError, once, at the boundary.

The SQLSTATEs are those of sql/0004_rejections.sql; constraint violations are
validation failures on the column that they name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError

from graphql_petstore.errors import DomainError

RULE_CODES: dict[str, str] = {
    "PS000": "VALIDATION_FAILED",
    "PS001": "PET_NOT_FOUND",
    "PS002": "PET_ALREADY_EXISTS",
    "PS003": "MOTHER_NOT_FOUND",
    "PS004": "MOTHER_NOT_IN_STORE",
    "PS005": "SPECIES_MISMATCH",
    "PS006": "PET_NOT_AVAILABLE",
    "PS007": "PET_ALREADY_SOLD",
    "PS008": "PET_NOT_LOST",
    "PS009": "OLD_PRICE_MISMATCH",
    "PS010": "FOUND_BEFORE_LOST",
    "PS011": "VERSION_CONFLICT",
    "PS012": "IDEMPOTENCY_KEY_REUSED",
}

_VALIDATION_SQLSTATES = {
    "23502": "is required",  # not_null_violation
    "23514": "is not valid",  # check_violation
    "22001": "is too long",  # string_data_right_truncation
    "22003": "is out of range",  # numeric_value_out_of_range
    "22021": "contains a character that is not allowed",  # character_not_in_repertoire
    "22P05": "contains a character that is not allowed",  # untranslatable_character
}


def domain_error(exc: DBAPIError) -> DomainError | None:
    """The DomainError that a database error (as SQLAlchemy wraps it) stands
    for, or None when it is not a rule violation."""
    original: Any = exc.orig.__cause__ if exc.orig is not None else None
    return domain_error_of(original if original is not None else exc.orig)


def domain_error_of(original: Any) -> DomainError | None:
    """The DomainError that an asyncpg error stands for, or None when it is
    not a rule violation (and so an unexpected failure)."""
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is None:
        return None
    if sqlstate in RULE_CODES:
        code = RULE_CODES[sqlstate]
        message = str(getattr(original, "message", "") or original)
        prefix = f"{code}: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
        detail = str(getattr(original, "detail", None) or "")
        actual = int(detail) if code == "VERSION_CONFLICT" and detail.isdigit() else None
        return DomainError(code, message, getattr(original, "column_name", None) or None, actual)
    if sqlstate in _VALIDATION_SQLSTATES:
        field = getattr(original, "column_name", None) or _column_of_constraint(
            getattr(original, "table_name", None), getattr(original, "constraint_name", None)
        )
        what = field or "a value"
        return DomainError("VALIDATION_FAILED", f"{what} {_VALIDATION_SQLSTATES[sqlstate]}", field)
    return None


def _column_of_constraint(table: str | None, constraint: str | None) -> str | None:
    # Constraints are named <table>_<column>_<rule> in sql/, e.g.
    # pet_sold_events_sale_price_not_negative -> sale_price.
    if not table or not constraint or not constraint.startswith(table + "_"):
        return None
    rest = constraint[len(table) + 1 :]
    for suffix in ("_not_negative", "_not_blank", "_not_too_long"):
        if rest.endswith(suffix):
            return rest[: -len(suffix)]
    return None
