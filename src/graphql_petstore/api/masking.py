"""Errors that reach the client, each with an `extensions.code` from
graphql_petstore.error_codes: GraphQL's own (syntax, validation, coercion),
the ones raised on purpose with a code, and for everything else only
"internal error" and the request id; the details go to the log.

    syntax error                      GRAPHQL_PARSE_FAILED (TOO_MANY_TOKENS)
    validation error                  GRAPHQL_VALIDATION_FAILED, unless its
                                      rule gave one (QUERY_TOO_DEEP, …)
    other errors of the whole request BAD_USER_INPUT: variables that do not
    (no path)                         fit their types
    raised with a code                as raised
    a retryable database failure      its code, retryable (api/retryable.py)
    anything else                     INTERNAL_SERVER_ERROR, masked

Errors reach a response by two ways in strawberry: those of execution pass
the MaskErrors extension; those raised before it (parse errors, which
ParserCache raises from its own hook, and anything else that escapes
parsing and validation) only pass Schema.process_errors, where
`code_request_errors` gives them theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors

from graphql_petstore import error_codes
from graphql_petstore.api import retryable
from graphql_petstore.api.library_internals import is_token_limit

logger = logging.getLogger("graphql_petstore.errors")

INTERNAL_ERROR = "internal error"


def _code(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def _with_code(error: GraphQLError, code: str) -> None:
    error.extensions = {**(error.extensions or {}), "code": code}


def _is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def _give_code(error: GraphQLError) -> bool:
    """Gives a public error its code; False when the error is to be masked."""
    if _is_unexpected(error):
        return retryable.give_code(error)
    if _code(error):
        return True
    if isinstance(error, GraphQLSyntaxError):
        limit = is_token_limit(error)
        _with_code(
            error, error_codes.TOO_MANY_TOKENS if limit else error_codes.GRAPHQL_PARSE_FAILED
        )
        return True
    if not error.path:
        _with_code(error, error_codes.BAD_USER_INPUT)
        return True
    # graphql-core's own errors during execution (a null where the schema
    # says non-null, a value a scalar cannot serialise) are the server's
    # fault: masked like any other unexpected error.
    return False


def masked(error: GraphQLError, request_id: str | None) -> GraphQLError:
    logger.error(
        "request %s: unexpected error in %s: %s",
        request_id,
        ".".join(str(p) for p in error.path or []) or "the operation",
        error.message,
        exc_info=error.original_error,
    )
    return GraphQLError(
        message=INTERNAL_ERROR,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": error_codes.INTERNAL_SERVER_ERROR, "requestId": request_id},
    )


def code_request_errors(errors: list[GraphQLError], context: Any) -> None:
    """Codes (or masks, in place) the errors of a request that failed
    before execution; execution's own errors are left to the extension."""
    for index, error in enumerate(errors):
        if error.path:
            continue
        if not _give_code(error):
            errors[index] = masked(error, getattr(context, "request_id", None))


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not _give_code(error))

    def on_validate(self) -> Iterator[None]:
        yield
        # Validation errors are told from other path-less errors here, where
        # they are made (or taken from the validation cache).
        for error in self.execution_context.pre_execution_errors or ():
            if not _code(error) and not isinstance(error, GraphQLSyntaxError):
                _with_code(error, error_codes.GRAPHQL_VALIDATION_FAILED)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error, getattr(self.execution_context.context, "request_id", None))
