"""The schema, with the limits and caches that keep it safe and fast."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution import Executor as GraphQLExecutionContext
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from graphql_petstore.api.execution import PetstoreExecutor
from graphql_petstore.api.masking import MaskUnexpectedErrors
from graphql_petstore.api.mutations import Mutation
from graphql_petstore.api.queries import Query
from graphql_petstore.api.subscriptions import Subscription
from graphql_petstore.api.types import ALL_EVENT_TYPES
from graphql_petstore.observability.operations import ObserveOperations
from graphql_petstore.settings import Settings

# Distinct documents remembered, parsed and validated, per process.
DOCUMENT_CACHE_SIZE = 512
MAX_ALIASES = 30


class PetstoreSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Logs nothing: strawberry logs every error at ERROR with its traceback,
        client mistakes included. Here a client's mistake is its request's
        access line (graphql_petstore.observability.requests), and an
        unexpected error is logged once, with the request id, where it is
        masked (MaskUnexpectedErrors)."""


def create_schema(
    settings: Settings, executor: type[GraphQLExecutionContext[Any]] = PetstoreExecutor
) -> strawberry.Schema:
    """The schema; `executor` is graphql-core's execution context class (the
    tests compare PetstoreExecutor with the one strawberry uses by default)."""
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    return PetstoreSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=ALL_EVENT_TYPES,
        execution_context_class=executor,
        # Factories: extensions hold per-request state, so each request gets
        # its own; the parser and validation caches live at module level and
        # are shared by every request. The validation cache is keyed by the
        # rule classes too, and the limiters make a new class each time they
        # are built: build them once, here, and hand every request those.
        extensions=[
            ObserveOperations,
            lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
            lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: AddValidationRules(limit_rules),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            MaskUnexpectedErrors,
        ],
    )
