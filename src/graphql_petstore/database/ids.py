"""Ids the server makes: UUIDv7 (RFC 9562), as uuid6's UUID type.

Not uuid6.uuid7(). To keep its ids increasing, that function moves an id's
timestamp one millisecond past the last id's whenever the clock has not
passed it yet, so past 1,000 ids a second its timestamps run ahead of the
clock for as long as the rate lasts (uuid6 2025.0.1: 9.7 s ahead after
25 s of 1,400 appends a second). Such ids no longer sort by creation time
against ids PostgreSQL makes (uuid_generate_v7()), nor against the same
server's ids after a restart, which design §4 relies on.

So the timestamp here is RFC 9562's method 3: the millisecond, then its
fraction in the 12 bits of rand_a (steps of about 0.24 µs), both from the
clock. Only an id made in the same step as the one before it is moved on
past it, by one step: the ids of one process increase, and stay within
microseconds of the clock below 4 million ids a second. The database's
uuid_generate_v7() lays its ids out the same way (sql/0001, PostgreSQL 18's
uuidv7()). The other 62 bits are random.
"""

from __future__ import annotations

import os
import time
import uuid

import uuid6

_STEPS = 4096  # of a millisecond, in rand_a's 12 bits

# The last id's millisecond and step, as one number (ms * _STEPS + step).
_last = 0


def new_id() -> uuid.UUID:
    """A UUIDv7 made by the server (design §2): uuid6's UUID, a uuid.UUID."""
    global _last
    milliseconds, nanoseconds = divmod(time.time_ns(), 1_000_000)
    stamp = milliseconds * _STEPS + nanoseconds * _STEPS // 1_000_000
    if stamp <= _last:
        stamp = _last + 1
    _last = stamp
    milliseconds, step = divmod(stamp, _STEPS)
    random = int.from_bytes(os.urandom(8)) >> 2  # rand_b, 62 bits
    # uuid6's UUID sets the version and variant bits (RFC 9562, 5.7).
    made: uuid.UUID = uuid6.UUID(int=(milliseconds << 80) | (step << 64) | random, version=7)
    return made
