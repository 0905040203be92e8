"""The request being served, for whatever runs on its behalf (resolvers, the
log filter): a context variable that the HTTP middleware or, for operations
over a WebSocket, the operation sets."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphql_petstore.observability.requests import RequestRecord

CURRENT_REQUEST: ContextVar[RequestRecord | None] = ContextVar("petstore_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request (or WebSocket operation) being served, if any."""
    return CURRENT_REQUEST.get()
