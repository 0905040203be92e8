"""Pets and events seeded through the real triggers with set-based SQL."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal

from harness.database import connected
from harness.report import say

# SQL expressions for a random price and a species, for seeding statements.
PRICE_SQL = "round((5 + random() * 995)::numeric, 2)"
SPECIES_SQL = "(array['Cat', 'Dog', 'Rabbit', 'Parrot', 'Hamster', 'Ferret', 'Turtle'])"


def random_price(rng: random.Random, old: Decimal | None = None) -> Decimal:
    """A price from 1.00 to 999.99 that differs from `old`."""
    while True:
        new = Decimal(rng.randint(100, 99_999)).scaleb(-2)
        if new != old:
            return new


@dataclass(frozen=True)
class SeedPlan:
    pets: int
    events: int

    @property
    def births(self) -> int:
        return self.pets // 10

    @property
    def arrivals(self) -> int:
        return self.pets - self.births

    @property
    def sales(self) -> int:
        return self.pets // 20

    @property
    def losses(self) -> int:
        return self.pets // 20

    @property
    def finds(self) -> int:
        return self.losses // 2

    @property
    def price_changes(self) -> int:
        return self.events - self.pets - self.sales - self.losses - self.finds


# Each statement inserts at most one event per pet: the BEFORE trigger of every
# row locks its pet and reads its version, and the AFTER triggers (the fold) run
# at the end of the statement, so a second event on one pet in the same
# statement would read a stale version.
SEED_ARRIVALS = f"""
insert into pet_arrived_events (pet_id, name, species, price, metadata)
select uuid_generate_v7(), 'Pet ' || g, {SPECIES_SQL}[1 + g % 7], {PRICE_SQL}, '{{"seed": true}}'
from generate_series(1, $1::int) g
"""
SEED_BIRTHS = f"""
insert into pet_born_events (pet_id, name, species, mother_id, price)
select uuid_generate_v7(), 'Kit of ' || m.name, m.species, m.id, {PRICE_SQL}
from (select id, name, species from pets where status = 'AVAILABLE' order by id limit $1) m
"""
SEED_SALES = """
insert into pet_sold_events (pet_id, customer_id, sale_price)
select id, gen_random_uuid(), current_price
from pets where status = 'AVAILABLE' order by md5(id::text) limit $1
"""
SEED_LOSSES = """
insert into pet_lost_events (pet_id, last_seen_location)
select id, 'aisle ' || (1 + abs(hashtext(id::text)) % 12)
from pets where status = 'AVAILABLE' order by md5(id::text) desc limit $1
"""
SEED_FINDS = """
insert into pet_found_events (pet_id, found_location)
select id, 'the parking lot' from pets where status = 'LOST' order by id limit $1
"""
SEED_PRICE_CHANGES = f"""
insert into pet_price_change_events (pet_id, new_price)
select id, {PRICE_SQL} from pets where status <> 'SOLD'
order by md5(id::text || $2::int::text) limit $1
"""


async def seed(url: str, plan: SeedPlan) -> float:
    """Seeds through the real triggers with set-based SQL; returns the seconds taken."""
    if plan.price_changes < 0:
        raise SystemExit(f"--events must be at least {plan.events - plan.price_changes}")
    async with connected(url) as conn:
        started = time.perf_counter()

        async def step(label: str, sql: str, *params: object) -> int:
            t0 = time.perf_counter()
            status = await conn.execute(sql, *params)
            rows = int(status.split()[-1])
            elapsed = time.perf_counter() - t0
            say(f"  {label:<32} {rows:>7} events {elapsed:7.2f} s  {rows / elapsed:8.0f} events/s")
            return rows

        await step("arrivals", SEED_ARRIVALS, plan.arrivals)
        await step("births", SEED_BIRTHS, plan.births)
        await step("sales", SEED_SALES, plan.sales)
        await step("losses", SEED_LOSSES, plan.losses)
        await step("found again", SEED_FINDS, plan.finds)
        changeable = plan.pets - plan.sales
        remaining, round_no = plan.price_changes, 0
        t0 = time.perf_counter()
        while remaining > 0:
            round_no += 1
            status = await conn.execute(SEED_PRICE_CHANGES, min(changeable, remaining), round_no)
            remaining -= int(status.split()[-1])
        elapsed = time.perf_counter() - t0
        say(
            f"  {f'price changes ({round_no} rounds)':<32} {plan.price_changes:>7} events "
            f"{elapsed:7.2f} s  {plan.price_changes / elapsed:8.0f} events/s"
        )
        seed_time = time.perf_counter() - started
        t0 = time.perf_counter()
        await conn.execute("vacuum analyze")
        say(f"  vacuum analyze {time.perf_counter() - t0:.2f} s")
        counts = await conn.fetchrow(
            "select (select count(*) from pets) as pets, (select count(*) from events) as events"
        )
        assert counts is not None
        pets, events = counts["pets"], counts["events"]
        say(
            f"  seeded {pets} pets and {events} events in {seed_time:.1f} s "
            f"({events / seed_time:.0f} events/s through the triggers)"
        )
        return seed_time
