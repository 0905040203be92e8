"""What every resolver of one request can reach (info.context)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_petstore.api.loaders import Loaders
from graphql_petstore.auth import bearer_name, token_name
from graphql_petstore.database.doorbell import Doorbell
from graphql_petstore.database.pool import ConnectionPool
from graphql_petstore.database.routing import Route, Router
from graphql_petstore.database.stream import EventStream
from graphql_petstore.settings import DEFAULT_PAGE_SIZE, Settings

T = TypeVar("T")


@dataclass
class Context:
    engine: AsyncEngine  # the primary's
    pool: ConnectionPool  # appends, and the compiled path
    settings: Settings
    request_id: str
    stream: EventStream
    doorbell: Doorbell
    router: Router
    authorization: str | None = None
    # The client's X-Request-ID, when sane (envelope.py): its access lines
    # carry it.
    client_request_id: str | None = None
    # Set when the compiled path has stored this request's event already and
    # strawberry is only to answer with it (compiled/http.py).
    appended_event_id: uuid.UUID | None = None
    # The event the request's Petstore-Consistency-Token names.
    consistency_token: uuid.UUID | None = None
    # Where this request reads (api/read_routing.py decides before execution);
    # None: the primary.
    route: Route | None = None
    # What a WebSocket's connection_init carried (strawberry sets it).
    connection_params: Any = None
    # Where a subscription resolver reads its rows (graphql_petstore.sharing.feeds);
    # None: the stream itself.
    subscription_feed: Any = None

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.read)

    async def read(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`query` on a connection of the node this request reads from."""
        return await self.router.read(self.route, query)

    def reset_loaders(self) -> None:
        """Forget what was loaded: each subscription event reads afresh."""
        self.__dict__.pop("loaders", None)

    def page_size(self, first: int | None) -> int:
        return page_size(first, self.settings)

    def writer(self) -> str:
        return writer(self.settings, self.authorization)

    @cached_property
    def reads_audit(self) -> bool:
        """Whether the caller presented a valid token: only then are an
        event's actor, requestId and metadata shown (null otherwise)."""
        return bearer_name(self.settings, self.authorization) is not None


def anonymous_read_refused(settings: Settings, header: str | None) -> GraphQLError | None:
    """With PETSTORE_ANONYMOUS_READS=off, the error for a caller without a
    valid token; None when the caller may go on."""
    if settings.anonymous_reads or bearer_name(settings, header) is not None:
        return None
    return GraphQLError(
        "this server serves only callers with a token (PETSTORE_ANONYMOUS_READS=off): "
        "send Authorization: Bearer <token>",
        extensions={"code": "UNAUTHENTICATED"},
    )


def page_size(first: int | None, settings: Settings) -> int:
    """`first` checked against the limits (default DEFAULT_PAGE_SIZE)."""
    if first is None:
        return min(DEFAULT_PAGE_SIZE, settings.max_page_size)
    if first < 0 or first > settings.max_page_size:
        raise GraphQLError(
            f"first must be between 0 and {settings.max_page_size}, not {first}",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return first


def writer(settings: Settings, header: str | None) -> str:
    """The name of the API token that authorises a write, or a top-level
    UNAUTHENTICATED error."""
    name = bearer_name(settings, header)
    if name is not None:
        return name
    if not header:
        raise GraphQLError(
            "writes need an Authorization: Bearer <token> header",
            extensions={"code": "UNAUTHENTICATED"},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphQLError(
            "the Authorization header must be: Bearer <token>",
            extensions={"code": "UNAUTHENTICATED"},
        )
    name = token_name(settings, token.strip())
    if name is None:
        raise GraphQLError(
            "this API token is not valid for writes", extensions={"code": "FORBIDDEN"}
        )
    return name
