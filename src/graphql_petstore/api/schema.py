"""The schema, with the limits and caches that keep it safe and fast."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, specified_rules
from graphql.execution import Executor as GraphQLExecutionContext
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

# strawberry adds these two to every validation (strawberry.schema.schema).
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from graphql_petstore.api.execution import PetstoreExecutor
from graphql_petstore.api.masking import MaskUnexpectedErrors
from graphql_petstore.api.mutations import Mutation
from graphql_petstore.api.queries import Query
from graphql_petstore.api.read_routing import ReadRouting
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


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The server's limits, as validation rules: strawberry's path and the
    compiled path validate with the same ones."""
    return [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]


def validation_rules(limits: list[type[ASTValidationRule]]) -> list[type[ASTValidationRule]]:
    """Every rule strawberry validates a document with, given the limits."""
    return [*specified_rules, *limits, MaybeNullValidationRule, OneOfInputValidationRule]


def create_schema(
    settings: Settings,
    executor: type[GraphQLExecutionContext[Any]] = PetstoreExecutor,
    limits: list[type[ASTValidationRule]] | None = None,
) -> strawberry.Schema:
    """The schema; `executor` is graphql-core's execution context class (the
    tests compare PetstoreExecutor with the one strawberry uses by default).
    `limits`: the limit rules, when the caller holds them already (they are
    classes made per call, and caches key on them)."""
    limit_rules_ = limits if limits is not None else limit_rules(settings)
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
            lambda: AddValidationRules(limit_rules_),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            MaskUnexpectedErrors,
            ReadRouting,
        ],
    )
