"""The schema, with the limits and caches that keep it safe and fast."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, specified_rules
from graphql.execution import Executor as GraphQLExecutionContext
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)

# strawberry adds these two to every validation (strawberry.schema.schema).
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from graphql_petstore.api.cost import CostModels, QueryCostLimit
from graphql_petstore.api.descriptions import describe
from graphql_petstore.api.document_limits import alias_rule, depth_rule
from graphql_petstore.api.execution import PetstoreExecutor
from graphql_petstore.api.library_internals import locate_scalar_errors
from graphql_petstore.api.masking import MaskUnexpectedErrors, code_request_errors
from graphql_petstore.api.mutations import Mutation
from graphql_petstore.api.queries import Query
from graphql_petstore.api.read_routing import ReadRouting
from graphql_petstore.api.subscriptions import Subscription
from graphql_petstore.api.types import ALL_EVENT_TYPES
from graphql_petstore.observability.operations import ObserveOperations
from graphql_petstore.persisted import PersistedDocuments, trusted_documents_rule
from graphql_petstore.settings import Settings

# Distinct documents remembered, parsed and validated, per process.
DOCUMENT_CACHE_SIZE = 512
MAX_ALIASES = 30


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The server's limits, as validation rules: strawberry's path and the
    compiled path validate with the same ones."""
    return [depth_rule(settings.max_depth), alias_rule(MAX_ALIASES)]


def validation_rules(limits: list[type[ASTValidationRule]]) -> list[type[ASTValidationRule]]:
    """Every rule strawberry validates a document with, given the limits."""
    return [*specified_rules, *limits, MaybeNullValidationRule, OneOfInputValidationRule]


class PetstoreSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Gives each error its code, and logs nothing: strawberry would log
        every error at ERROR with its traceback, client mistakes included.
        Here a client's mistake is its request's access line
        (graphql_petstore.observability.requests), and an unexpected error is
        logged once, with the request id, where it is masked
        (MaskUnexpectedErrors)."""
        code_request_errors(errors, execution_context.context if execution_context else None)


def create_schema(
    settings: Settings,
    executor: type[GraphQLExecutionContext[Any]] = PetstoreExecutor,
    limits: list[type[ASTValidationRule]] | None = None,
    documents: PersistedDocuments | None = None,
) -> strawberry.Schema:
    """The schema; `executor` is graphql-core's execution context class (the
    tests compare PetstoreExecutor with the one strawberry uses by default).
    `limits`: the limit rules, when the caller holds them already (they are
    classes made per call, and caches key on them). `documents`: in trusted
    documents mode, only its documents run."""
    limit_rules_ = limits if limits is not None else limit_rules(settings)
    if documents is not None and documents.trusted_only:
        limit_rules_ = [*limit_rules_, trusted_documents_rule(documents)]
    costs = CostModels(settings)
    schema = PetstoreSchema(
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
            lambda: QueryCostLimit(models=costs, limit=settings.max_query_cost),
            MaskUnexpectedErrors,
            ReadRouting,
        ],
    )
    locate_scalar_errors(schema._schema)
    describe(schema._schema)
    return schema
