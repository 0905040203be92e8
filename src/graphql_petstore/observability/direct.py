"""What a path that answers GraphQL without strawberry (the compiled path)
reports: the operation on the request's record, and, with tracing on, the
operation's span around its statements, like strawberry's path
(observability.operations).

    with answering("mutation", "SellPet", document) as answer:
        body = ...  # run the statement; event_appended(...) annotates the span
        if body is not None:
            answer.answered()  # or answered(errors) for top-level errors sent
    # not answered: strawberry answers, and reports it itself
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError

from graphql_petstore.observability import tracing
from graphql_petstore.observability.current import current_request
from graphql_petstore.observability.logs import cut
from graphql_petstore.observability.metrics import INTERNAL_ERROR, OK


class Answer:
    def __init__(self) -> None:
        self.given = False
        self.errors: Sequence[GraphQLError | Mapping[str, Any]] = ()

    def answered(self, errors: Sequence[GraphQLError | Mapping[str, Any]] = ()) -> None:
        """This path sent the response (with these top-level errors)."""
        self.given = True
        self.errors = errors


class answering:
    """A context manager (a class, not a generator: it runs on every request)."""

    def __init__(self, operation_type: str, operation_name: str | None, document: str) -> None:
        self._operation = (operation_type, operation_name, document)
        self._answer = Answer()
        self._span = tracing.start_operation()

    def __enter__(self) -> Answer:
        if self._span is not None:
            self._span.enter()
        return self._answer

    def __exit__(self, *exc_info: object) -> None:
        operation_type, operation_name, document = self._operation
        answer = self._answer
        record = current_request()
        if answer.given and record is not None:
            record.note_operation(operation_type, operation_name, document)
            if answer.errors:
                record.note_errors(answer.errors, "")
        if self._span is not None:
            self._span.exit()
            _finish(self._span, answer, operation_type, operation_name, document, record)


def _finish(
    span: tracing.OperationSpan,
    answer: Answer,
    operation_type: str,
    operation_name: str | None,
    document: str,
    record: Any,
) -> None:
    name = f"{operation_type} {operation_name}" if operation_name else operation_type
    attributes: dict[str, tracing.AttributeValue] = {
        "graphql.operation.type": operation_type,
        "graphql.document": cut(document, tracing.MAX_ATTRIBUTE_TEXT),
        "petstore.compiled": True,
    }
    if operation_name:
        attributes["graphql.operation.name"] = cut(operation_name, 100)
    if record is not None:
        attributes["petstore.request_id"] = record.request_id
    if not answer.given:
        # Strawberry answers instead, under an operation span of its own.
        span.finish(attributes, f"{name} (passed on)", failed=False)
        return
    outcome = (record.outcome if record is not None else None) or OK
    attributes["petstore.outcome"] = outcome
    if record is not None and record.code:
        attributes["petstore.error_code"] = record.code
    span.finish(attributes, name, failed=outcome == INTERNAL_ERROR)
