"""SQLAlchemy Core descriptions of the tables that sql/ creates.

sql/ is the source of truth; these only tell SQLAlchemy the names and types it
needs to build statements. tests/database/test_tables.py checks them against
the migrated database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    cast,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

metadata = MetaData()


class _Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id; only used in casts."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


XID8 = _Xid8()

MONEY = Numeric(10, 2, asdecimal=True)


def _event_columns(*, stored: bool = True) -> list[Column[object]]:
    """The columns every event has; `stored`: those of the tables, which also
    keep the writer's expected_version (the pet_event_log view does not)."""
    columns: list[Column[object]] = [
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("created_at", DateTime(timezone=True)),
        Column("event_type", String(100)),
        Column("metadata", JSONB),
        Column("pet_id", UUID(as_uuid=True)),
        Column("pet_version", Integer),
        # xid8 has no SQLAlchemy type; it is only ever read as text or compared.
        Column("tx_id", Text),
        Column("seq", BigInteger),
    ]
    if stored:
        columns.append(Column("expected_version", Integer))
    return columns


pet_arrived_events = Table(
    "pet_arrived_events",
    metadata,
    *_event_columns(),
    Column("name", String(100)),
    Column("species", String(50)),
    Column("price", MONEY),
)

pet_born_events = Table(
    "pet_born_events",
    metadata,
    *_event_columns(),
    Column("name", String(100)),
    Column("species", String(50)),
    Column("mother_id", UUID(as_uuid=True)),
    Column("price", MONEY),
)

pet_sold_events = Table(
    "pet_sold_events",
    metadata,
    *_event_columns(),
    Column("customer_id", UUID(as_uuid=True)),
    Column("sale_price", MONEY),
)

pet_price_change_events = Table(
    "pet_price_change_events",
    metadata,
    *_event_columns(),
    Column("new_price", MONEY),
    Column("old_price", MONEY),
)

pet_lost_events = Table(
    "pet_lost_events",
    metadata,
    *_event_columns(),
    Column("lost_date", Date),
    Column("last_seen_location", Text),
)

pet_found_events = Table(
    "pet_found_events",
    metadata,
    *_event_columns(),
    Column("found_date", Date),
    Column("found_location", Text),
)

# Every event with its payload, as one row type (a view over the six children).
pet_event_log = Table(
    "pet_event_log",
    metadata,
    *_event_columns(stored=False),
    Column("name", String(100)),
    Column("species", String(50)),
    Column("price", MONEY),
    Column("mother_id", UUID(as_uuid=True)),
    Column("customer_id", UUID(as_uuid=True)),
    Column("sale_price", MONEY),
    Column("new_price", MONEY),
    Column("old_price", MONEY),
    Column("lost_date", Date),
    Column("last_seen_location", Text),
    Column("found_date", Date),
    Column("found_location", Text),
)

pets = Table(
    "pets",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(100)),
    Column("species", String(50)),
    Column("current_price", MONEY),
    Column("status", String(20)),
    Column("customer_id", UUID(as_uuid=True)),
    Column("mother_id", UUID(as_uuid=True)),
    Column("last_event_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("version", Integer),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text),
    Column("event_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("event_type", String(100)),  # sql/0065
)

EVENT_TABLES: dict[str, Table] = {
    "PET_ARRIVED": pet_arrived_events,
    "PET_BORN": pet_born_events,
    "PET_SOLD": pet_sold_events,
    "PET_PRICE_CHANGE": pet_price_change_events,
    "PET_LOST": pet_lost_events,
    "PET_FOUND_AGAIN": pet_found_events,
}


def as_read(table: Table) -> list[ColumnElement[Any]]:
    """The table's columns as statements return them: tx_id as text, since
    xid8 has no Python type. Statements must still order by the table's own
    tx_id column: a bare "tx_id" in ORDER BY would name this text column."""
    return [cast(c, Text).label("tx_id") if c.name == "tx_id" else c for c in table.c]
