"""The Prometheus metrics of a server process and the calls that record them.

Every path that serves GraphQL (strawberry's, and any faster one in front of
it) records through these functions, so that they all report alike. The
metric objects are module-level, as prometheus-client expects: with
`serve --workers N` its multiprocess mode keeps each worker's values in files
that /metrics adds up (graphql_petstore.observability.exposition).

Labels stay bounded: operation names and error codes are whatever the first
MAX_OPERATION_NAMES (MAX_CODES) distinct values were, the rest count as
"other", and nothing that identifies a pet, an event or a request is a label.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from graphql_petstore.api.library_internals import add_observations

# The text format would show each counter's and histogram's creation time as a
# series of its own (`…_created`): noise that doubles the series to store.
disable_created_metrics()  # type: ignore[no-untyped-call]

MAX_OPERATION_NAMES = 100
MAX_CODES = 100
OTHER = "other"
ANONYMOUS = "anonymous"

OK = "ok"
USER_ERROR = "user_error"
GRAPHQL_ERROR = "graphql_error"
INTERNAL_ERROR = "internal_error"
OUTCOMES = (OK, USER_ERROR, GRAPHQL_ERROR, INTERNAL_ERROR)
OPERATION_TYPES = ("query", "mutation", "subscription")
UNKNOWN_OPERATION = "unknown"  # the document did not parse, or named no operation

# From a cached read (about a millisecond) to the request time limits.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

OPERATIONS = Counter(
    "petstore_graphql_operations",
    "GraphQL operations, by type, name and outcome (ok, user_error, graphql_error, "
    "internal_error) with the error code",
    ["operation_type", "operation_name", "outcome", "code"],
)
OPERATION_SECONDS = Histogram(
    "petstore_graphql_operation_duration_seconds",
    "Time to answer a GraphQL query or mutation, from the request's arrival to its last byte",
    ["operation_type", "operation_name"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_APPENDED = Counter(
    "petstore_events_appended", "Events stored by this server, by event type", ["event_type"]
)
EVENT_REJECTIONS = Counter(
    "petstore_event_rejections",
    "Commands refused with nothing stored, by ErrorCode (rules and input checks)",
    ["code"],
)
WEBSOCKETS = Gauge(
    "petstore_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "petstore_subscriptions", "Live GraphQL subscriptions", multiprocess_mode="livesum"
)
SUBSCRIPTION_GROUPS = Gauge(
    "petstore_subscription_groups",
    "Distinct executions that live subscriptions share (equal to the subscriptions while "
    "each executes on its own)",
    multiprocess_mode="livesum",
)
SUBSCRIPTION_MESSAGES = Counter(
    "petstore_subscription_messages", "Results sent to subscribers (graphql-transport-ws next)"
)
STREAM_DELIVERED = Gauge(
    "petstore_stream_delivered_transaction_id",
    "Transaction id of the newest event that the server's stream reader has delivered "
    "(the reader follows the stream only while somebody subscribes)",
    multiprocess_mode="livemax",
)
STREAM_LAG = Histogram(
    "petstore_stream_delivery_lag_seconds",
    "From an event's created_at to the moment the stream reader delivers it to subscribers",
    buckets=LAG_BUCKETS,
)
# Two pools per process: "engine" (SQLAlchemy's: strawberry's reads and the
# event stream) and "requests" (the lean one: appends and compiled requests).
POOL_SIZE = Gauge(
    "petstore_db_pool_size",
    "Database connections the pool may hold",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "petstore_db_pool_in_use",
    "Database connections checked out",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "petstore_db_pool_waiting",
    "Callers waiting for a database connection (a free one, or one being opened)",
    ["pool"],
    multiprocess_mode="livesum",
)
DOORBELL_RECONNECTS = Counter(
    "petstore_doorbell_reconnects",
    "Times the LISTEN connection was lost or could not be opened (each is retried)",
)
DOORBELL_CONNECTED = Gauge(
    "petstore_doorbell_connected",
    "Server processes whose LISTEN connection is up",
    multiprocess_mode="livesum",
)
PROCESSES = Gauge(
    "petstore_server_processes", "Server processes serving requests", multiprocess_mode="livesum"
)

_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,127}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class BoundedLabel:
    """The value itself while fewer than `limit` distinct values were seen and
    it looks like one; OTHER beyond that."""

    def __init__(self, limit: int, pattern: re.Pattern[str]) -> None:
        self._limit = limit
        self._pattern = pattern
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self._limit and self._pattern.fullmatch(value):
            self._seen.add(value)
            return value
        return OTHER


# What this process counted since the last flush(): operations by (type,
# name, outcome, code) as the client wrote them, events by type, rejections
# by code. Plain Python numbers: a prometheus-client child takes a lock per
# inc() and a histogram walks its buckets in Python per observe(), which
# cost more than the rest of recording an operation. flush() adds them to
# the metric objects: at every scrape (so that one process answers exact
# counts), and with several workers every FLUSH_INTERVAL seconds and at exit
# (observability.sampler), since the other workers' counts reach a scrape
# only through their files. All of it runs on the event loop's thread.
# Bounded, since the names are the client's: beyond MAX_TALLIES keys an
# operation is recorded on its metric objects at once, as before.
MAX_TALLIES = 1_000
_LATENCY_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


class OperationTally:
    __slots__ = ("buckets", "count", "counter", "histogram", "seconds")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.counter = counter  # the label children that flush() adds to
        self.histogram = histogram
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(_LATENCY_BOUNDS)  # not cumulative, as prometheus-client's


_operation_tallies: dict[tuple[str, str | None, str, str], OperationTally] = {}
_counted: list[OperationTally] = []  # the tallies with counts since the last flush()
_appended: dict[str, int] = {}
_rejected: dict[str, int] = {}
_operation_names = BoundedLabel(MAX_OPERATION_NAMES, _NAME)
_codes = BoundedLabel(MAX_CODES, _CODE)
_enabled = True


def set_enabled(enabled: bool) -> None:
    """PETSTORE_METRICS=off makes every record_* call return at once."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    return _enabled


def operation_name_label(name: str | None) -> str:
    return _operation_names(name) if name else ANONYMOUS


def code_label(code: str) -> str:
    return _codes(code) if code else ""


def record_operation(
    operation_type: str,
    operation_name: str | None,
    outcome: str,
    code: str = "",
    seconds: float | None = None,
) -> None:
    """One GraphQL operation answered. `seconds` None: not timed (subscriptions)."""
    if not _enabled:
        return
    key = (operation_type, operation_name, outcome, code)
    tally = _operation_tallies.get(key)
    if tally is None:
        tally = _new_tally(key)
        if tally is None:  # beyond the bound: on the metric objects at once
            _record_now(key, seconds)
            return
    if not tally.count:
        _counted.append(tally)
    tally.count += 1
    if seconds is not None:
        tally.seconds += seconds
        tally.buckets[bisect_left(_LATENCY_BOUNDS, seconds)] += 1


def _children(key: tuple[str, str | None, str, str]) -> tuple[Any, Any]:
    operation_type, operation_name, outcome, code = key
    kind = operation_type if operation_type in OPERATION_TYPES else UNKNOWN_OPERATION
    name = operation_name_label(operation_name)
    return (
        OPERATIONS.labels(kind, name, outcome, code_label(code)),
        OPERATION_SECONDS.labels(kind, name),
    )


def _new_tally(key: tuple[str, str | None, str, str]) -> OperationTally | None:
    if len(_operation_tallies) >= MAX_TALLIES:
        return None
    tally = _operation_tallies[key] = OperationTally(*_children(key))
    return tally


def _record_now(key: tuple[str, str | None, str, str], seconds: float | None) -> None:
    counter, histogram = _children(key)
    counter.inc()
    if seconds is not None:
        histogram.observe(seconds)


# Event types and ErrorCodes come from the schema, never from the client.
def record_event_appended(event_type: str) -> None:
    if _enabled:
        _appended[event_type] = _appended.get(event_type, 0) + 1


def record_rejection(code: str) -> None:
    if _enabled:
        _rejected[code] = _rejected.get(code, 0) + 1


def flush() -> None:
    """Adds what was counted since the last flush to the metric objects."""
    global _counted, _appended, _rejected
    counted, appended, rejected = _counted, _appended, _rejected
    _counted, _appended, _rejected = [], {}, {}
    for tally in counted:
        tally.counter.inc(tally.count)
        tally.count = 0
        if tally.seconds or any(tally.buckets):
            add_observations(tally.histogram, tally.buckets, tally.seconds)
            tally.seconds = 0.0
            tally.buckets = [0] * len(_LATENCY_BOUNDS)
    for event_type, count in appended.items():
        EVENTS_APPENDED.labels(event_type).inc(count)
    for code, count in rejected.items():
        EVENT_REJECTIONS.labels(code).inc(count)


def record_websocket(opened: bool) -> None:
    if _enabled:
        WEBSOCKETS.inc() if opened else WEBSOCKETS.dec()


def record_doorbell_reconnect() -> None:
    if _enabled:
        DOORBELL_RECONNECTS.inc()


def record_stream_delivery(created_at: Iterable[datetime]) -> None:
    """The stream reader took these events (their created_at) from the tables."""
    if not _enabled:
        return
    now = time.time()
    for stamp in created_at:
        STREAM_LAG.observe(max(0.0, now - stamp.timestamp()))
