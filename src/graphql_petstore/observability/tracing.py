"""OpenTelemetry tracing, on when the `otel` extra is installed and the
standard OTEL_* variables ask for it (an exporter endpoint, or
OTEL_TRACES_EXPORTER).

This module imports nothing of OpenTelemetry, so that a server without the
extra neither needs nor loads it: graphql_petstore.observability.otel does,
and is imported only once tracing is asked for. Until then every call here
is a cheap no-op.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.middleware import Middleware

logger = logging.getLogger(__name__)

# Any of these set (and OTEL_SDK_DISABLED not true) turns tracing on.
ASKING_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)
# Span attributes are cut like log lines: a client decides how long a document is.
MAX_ATTRIBUTE_TEXT = 200

AttributeValue = str | int | float | bool


class OperationSpan(Protocol):
    def enter(self) -> None:
        """Makes the span current (the SQL statements nest under it)."""

    def exit(self) -> None: ...

    def finish(self, attributes: Mapping[str, AttributeValue], name: str, failed: bool) -> None:
        """Names the span, sets its attributes and ends it."""


class Tracing(Protocol):
    def middleware(self) -> Middleware: ...

    def instrument(self) -> None: ...

    def untraced(self) -> contextlib.AbstractContextManager[None]: ...

    def start_operation(self) -> OperationSpan: ...

    def annotate(self, attributes: Mapping[str, AttributeValue]) -> None: ...

    def trace_id(self) -> str | None: ...

    def flush(self) -> None:
        """Exports the spans ended so far (the exporters shut down at exit)."""


_active: Tracing | None = None


def requested(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return any(env.get(name, "").strip() for name in ASKING_VARIABLES)


def start() -> Tracing | None:
    """Turns tracing on in this process when the environment asks for it and
    the extra is installed; the same object on later calls."""
    global _active
    if _active is not None or not requested():
        return _active
    try:
        from graphql_petstore.observability import otel
    except ImportError as exc:
        logger.warning(
            "OTEL_* variables ask for tracing, but the otel extra is not installed "
            "(pip install 'graphql-petstore[otel]'): tracing stays off (%s)",
            exc,
        )
        return None
    _active = otel.OpenTelemetryTracing.from_environment()
    _active.instrument()
    # From now on every access line carries its trace id: none is made from
    # a template (access_lines), which has no place for one.
    from graphql_petstore.observability import access_lines

    access_lines.templates.clear()
    return _active


def enabled() -> bool:
    return _active is not None


def start_operation() -> OperationSpan | None:
    return None if _active is None else _active.start_operation()


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """What runs inside (and the tasks it starts) makes no spans: for the
    server's own background work, which no request asked for."""
    if _active is None:
        yield
        return
    with _active.untraced():
        yield


def annotate(**attributes: AttributeValue) -> None:
    """Attributes on the current span (the GraphQL operation's, in a resolver)."""
    if _active is not None:
        _active.annotate(attributes)


def current_trace_id() -> str | None:
    return None if _active is None else _active.trace_id()
