"""Errors that reach the client: GraphQL's own (syntax, validation), the ones
raised on purpose with an extensions code, and for everything else only
"internal error" and the request id; the details go to the log."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

logger = logging.getLogger("graphql_petstore.errors")

INTERNAL_ERROR = "internal error"


def _is_public(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not _is_public(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        logger.error(
            "request %s: unexpected error in %s",
            request_id,
            ".".join(str(p) for p in error.path or []) or "the operation",
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=INTERNAL_ERROR,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
