"""Demo data: a realistic history written through the same rules as every write.

`graphql-petstore seed --pets N --days D` walks D past days; each day some
pets arrive, some are born to mothers in the store (same species), prices
change, pets are sold, lost and found again. Every event is an INSERT into
its own table, so the triggers check each one and fold it into `pets`
exactly as they do for the API (a refused event would abort the seed; none
is written that the rules refuse, because each step picks its pets by the
state the rules ask for). Each statement writes many events, one per pet at
most (the fold of a statement's events runs at its end, so two events of
one pet in one statement would see a stale version): set-based SQL is what
gets tens of thousands of events per second through the triggers.

The day's events are stamped within that day (sql/0060_seed_backdating.sql),
so `events(filter: {since, until})` and `pet(asOf:)` have a history to show.
Running it again adds more pets and events; nothing already there changes
except by new events.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg
from asyncpg.transaction import Transaction

from graphql_petstore.database.doorbell import CHANNEL
from graphql_petstore.database.roles import connect_as_owner

DEFAULT_PETS = 1_000
DEFAULT_DAYS = 30
# Events per statement and transaction, at most.
CHUNK = 5_000
# Per transaction: where sql/0060 reads a seeding session's day ('' stamps
# events now); no NOTIFY per event (sql/0006: it serialises commits) but one
# per transaction, as the server's own appends ring the doorbell; and no
# wait for the WAL to reach the disk at each commit (a crash may lose the
# last days written, never a rule: each transaction is still all or nothing).
_SESSION = (
    "select set_config('petstore.backdate', $1, true), "
    "set_config('petstore.backdate_span', '1 day', true), "
    "set_config('petstore.notify', 'batched', true), "
    "set_config('synchronous_commit', 'off', true)"
)

_NAMES = (
    "Luna",
    "Milo",
    "Bella",
    "Oliver",
    "Coco",
    "Max",
    "Daisy",
    "Charlie",
    "Nala",
    "Simba",
    "Rocky",
    "Pepper",
    "Ziggy",
    "Mochi",
    "Biscuit",
    "Clover",
    "Hazel",
    "Juniper",
    "Olive",
    "Pickles",
    "Pumpkin",
    "Sage",
    "Sunny",
    "Tofu",
    "Waffles",
    "Willow",
    "Noodle",
    "Pebble",
    "Maple",
    "Cricket",
)
# species, lowest and highest price
_SPECIES = (
    ("Cat", 40, 400),
    ("Dog", 80, 900),
    ("Rabbit", 20, 120),
    ("Parrot", 60, 1500),
    ("Hamster", 8, 30),
    ("Guinea Pig", 15, 60),
    ("Turtle", 25, 250),
)
_PLACES = (
    "the park",
    "the parking lot",
    "aisle 3",
    "the back yard",
    "Elm Street",
    "the bus stop",
    "the market",
    "the river path",
)

_NAME_SQL = "(array[{}])[1 + floor(random() * {})::int]".format(
    ", ".join(f"'{n}'" for n in _NAMES), len(_NAMES)
)
_SPECIES_ROWS = ", ".join(f"({i}, '{s}', {lo}, {hi})" for i, (s, lo, hi) in enumerate(_SPECIES))
_PLACE_SQL = "(array[{}])[1 + floor(random() * {})::int]".format(
    ", ".join(f"'{p}'" for p in _PLACES), len(_PLACES)
)

ARRIVALS = f"""
insert into pet_arrived_events (pet_id, name, species, price, metadata)
select uuid_generate_v7(), {_NAME_SQL}, s.species,
       round((s.low + random() * (s.high - s.low))::numeric, 0) - 0.01,
       '{{"source": "seed"}}'
from generate_series(1, $1::int) g
join (values {_SPECIES_ROWS}) s (n, species, low, high) on s.n = (g + $2::int) % {len(_SPECIES)}
"""
# Mothers: pets in the store; each gives birth to one kit per statement.
BIRTHS = f"""
insert into pet_born_events (pet_id, name, species, mother_id, price, metadata)
select uuid_generate_v7(), {_NAME_SQL}, m.species, m.id,
       round((m.current_price * (0.5 + random() * 0.3))::numeric, 2), '{{"source": "seed"}}'
from (select id, species, current_price from pets where status = 'AVAILABLE'
      order by random() limit $1) m
"""
PRICE_CHANGES = """
insert into pet_price_change_events (pet_id, new_price, metadata)
select id, greatest(round((current_price * (0.8 + random() * 0.35))::numeric, 2), 1.00),
       '{"source": "seed"}'
from pets where status <> 'SOLD'
order by random() limit $1
"""
SALES = """
insert into pet_sold_events (pet_id, customer_id, sale_price, metadata)
select id, gen_random_uuid(), current_price, '{"source": "seed"}'
from pets where status = 'AVAILABLE'
order by random() limit $1
"""
LOSSES = f"""
insert into pet_lost_events (pet_id, lost_date, last_seen_location, metadata)
select id, $2::date, {_PLACE_SQL}, '{{"source": "seed"}}'
from pets where status = 'AVAILABLE'
order by random() limit $1
"""
# Found on the day being written, among the pets lost by then (an earlier
# seed may have lost some on a later day).
FINDS = f"""
insert into pet_found_events (pet_id, found_date, found_location, metadata)
select p.id, $2::date, {_PLACE_SQL}, '{{"source": "seed"}}'
from pets p
where p.status = 'LOST'
  and (select l.lost_date from pet_lost_events l where l.pet_id = p.id
       order by l.pet_version desc limit 1) <= $2::date
order by random() limit $1
"""


@dataclass(frozen=True)
class DayPlan:
    """How many events of each kind one day gets: of `pets` new pets over
    `days` days, a tenth are born to mothers in the store and the rest
    arrive; prices change about three times per pet, a third of the pets
    are sold, one in twenty is lost and half of those are found again."""

    arrivals: int
    births: int
    price_changes: int
    sales: int
    losses: int
    finds: int

    @classmethod
    def of(cls, pets: int, days: int, day: int) -> DayPlan:
        """Day `day` (0 to days - 1): the totals shared out evenly, so that
        exactly `pets` pets are new at the end."""

        def share(total: float) -> int:
            return math.floor(total * (day + 1) / days) - math.floor(total * day / days)

        births = pets // 10
        return cls(
            arrivals=share(pets - births),
            births=share(births),
            price_changes=share(pets * 3),
            sales=share(pets * 0.3),
            losses=share(pets * 0.05),
            finds=share(pets * 0.025),
        )


@dataclass(frozen=True)
class SeedResult:
    pets: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def seed(
    url: str,
    pets: int = DEFAULT_PETS,
    days: int = DEFAULT_DAYS,
    progress: Callable[[int], object] | None = None,
    backdate: bool = True,
) -> SeedResult:
    """Writes `pets` new pets and their histories over the `days` days before
    today; `progress(1)` after each day. Returns what was written.
    backdate=False leaves every event stamped now (for bench/seed_bench.py,
    which measures what the stamping costs)."""
    if pets < 1 or days < 1:
        raise ValueError("pets and days must be 1 or more")
    # As the owner, like verify and rebuild; the API's role never backdates.
    conn = await connect_as_owner(url)
    try:
        before = await _counts(conn)
        started = time.perf_counter()
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for day in range(days):
            start = today - timedelta(days=days - day)
            await _day(conn, DayPlan.of(pets, days, day), start, before[0] + day, backdate)
            if progress is not None:
                progress(1)
        seconds = time.perf_counter() - started
        after = await _counts(conn)
    finally:
        await conn.close()
    return SeedResult(after[0] - before[0], after[1] - before[1], seconds)


async def _day(
    conn: asyncpg.Connection, plan: DayPlan, start: datetime, offset: int, backdate: bool
) -> None:
    """One day's events, in one transaction when they are at most CHUNK;
    `offset` varies the species."""
    day: date = start.date()
    window = start.isoformat() if backdate else ""
    steps: list[tuple[str, int, tuple[object, ...]]] = [
        (ARRIVALS, plan.arrivals, (offset,)),
        (BIRTHS, plan.births, ()),
        (PRICE_CHANGES, plan.price_changes, ()),
        (SALES, plan.sales, ()),
        (LOSSES, plan.losses, (day,)),
        (FINDS, plan.finds, (day,)),
    ]
    # Each new pet takes an advisory lock until its transaction ends
    # (max_locks_per_transaction): a day of more than CHUNK events commits
    # after every statement, and a statement writes at most CHUNK events.
    large = sum(count for _, count, _ in steps) > CHUNK
    transaction = await _begin(conn, window)
    try:
        for sql, count, arguments in steps:
            while count > 0:
                status = await conn.execute(sql, min(count, CHUNK), *arguments)
                written = int(status.split()[-1])
                count = 0 if written == 0 else count - written  # 0: no pet qualifies
                if large:
                    await _commit(conn, transaction)
                    transaction = await _begin(conn, window)
        await _commit(conn, transaction)
    except BaseException:
        with contextlib.suppress(asyncpg.InterfaceError):  # committed already
            await transaction.rollback()
        raise


async def _begin(conn: asyncpg.Connection, window: str) -> Transaction:
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute(_SESSION, window)
    return transaction


async def _commit(conn: asyncpg.Connection, transaction: Transaction) -> None:
    await conn.execute(f"notify {CHANNEL}")
    await transaction.commit()


async def _counts(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "select (select count(*) from pets) as pets, (select count(*) from events) as events"
    )
    assert row is not None
    return int(row["pets"]), int(row["events"])
