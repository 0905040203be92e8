"""What strawberry's path reports about each GraphQL operation: a schema
extension (strawberry's public extension hooks) that notes the operation on
its RequestRecord, counts live subscriptions and the results sent to them,
and, with tracing on, opens the operation's span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import Token
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graphql_petstore.observability import tracing
from graphql_petstore.observability.current import CURRENT_REQUEST, current_request
from graphql_petstore.observability.logs import cut
from graphql_petstore.observability.metrics import INTERNAL_ERROR, UNKNOWN_OPERATION
from graphql_petstore.observability.requests import INTERNAL_SERVER_ERROR, RequestRecord, finish

# The code of an error that carries none, by the step that raised it.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"  # e.g. variables that do not fit their types
# What strawberry raises out of the operation for a request it answers with 400.
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class SubscriptionCounts:
    """Live subscriptions and the results sent to them, in this process, as
    strawberry runs them: each subscription executes on its own, so there
    are as many groups as subscriptions. The sampler reads the properties
    (observability.sampler.SubscriptionStats); an object that shares
    executions between subscriptions offers the same three."""

    def __init__(self) -> None:
        self._live = 0
        self._sent = 0

    @property
    def live_subscriptions(self) -> int:
        return self._live

    @property
    def distinct_groups(self) -> int:
        return self._live

    @property
    def messages_sent(self) -> int:
        return self._sent

    def started(self) -> None:
        self._live += 1

    def ended(self) -> None:
        self._live -= 1

    def sent(self) -> None:
        self._sent += 1


SUBSCRIPTION_COUNTS = SubscriptionCounts()


class ObserveOperations(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        self._default_code = PARSE_FAILED
        self._subscription = False
        self._counted = False
        self._sent = 0
        self._span: tracing.OperationSpan | None = None
        self._type: str | None = None  # known once the document is parsed

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        record = current_request()
        own: Token[RequestRecord | None] | None = None
        if record is None or record.transport != "http" or record.operation_type is not None:
            # Over a WebSocket: the operation is a request of its own.
            record = RequestRecord.over_websocket(getattr(context, "request_id", ""), context)
            own = CURRENT_REQUEST.set(record)
        self._span = tracing.start_operation()
        try:
            yield
        except GraphQLError as error:
            # Raised by an extension's hook (the parser cache, the token limit):
            # strawberry answers it after the operation has ended.
            record.note_errors([error], self._default_code)
            raise
        except _REQUEST_ERRORS:
            raise  # answered with 400; the middleware counts it by status
        except Exception:
            record.note_outcome(INTERNAL_ERROR, INTERNAL_SERVER_ERROR)
            raise
        finally:
            self._note(record)
            if self._counted:
                SUBSCRIPTION_COUNTS.ended()
            if self._subscription:
                record.messages = self._sent
            if self._span is not None:
                self._finish_span(record)
            if own is not None:
                with contextlib.suppress(ValueError):  # closed from another context
                    CURRENT_REQUEST.reset(own)
                # A shared subscription's access line is its member's, logged
                # by graphql_petstore.sharing.members; its group's execution
                # and its own catch-up readings have none.
                if getattr(context, "subscription_feed", None) is None:
                    finish(record, context.settings)

    def on_validate(self) -> Iterator[None]:
        self._default_code = VALIDATION_FAILED
        yield
        if not self.execution_context.pre_execution_errors:
            self._default_code = BAD_USER_INPUT

    def on_execute(self) -> Iterator[None]:
        self._subscription = self._operation_type() == OperationType.SUBSCRIPTION.value
        # Shared subscriptions (graphql_petstore.sharing: a group's one
        # execution, a member's catch-up) are counted by the group registry.
        feed = getattr(self.execution_context.context, "subscription_feed", None)
        self._counted = self._subscription and feed is None
        if self._counted:
            SUBSCRIPTION_COUNTS.started()
        elif self._span is not None:
            # A subscription's span is not made current: it outlives this
            # step, and the reads that feed it run in other tasks.
            self._span.enter()
        try:
            yield
        finally:
            if self._span is not None and not self._subscription:
                self._span.exit()

    def on_stream_result(self, result: Any) -> Iterator[None]:
        if self._subscription:
            if self._counted:
                SUBSCRIPTION_COUNTS.sent()
            self._sent += 1
        errors = getattr(result, "errors", None)
        record = current_request()
        if errors and record is not None:
            record.note_errors(map(_unmasked, errors), self._default_code)
        yield

    def _operation_type(self) -> str:
        if self._type is None:
            try:
                self._type = self.execution_context.operation_type.value
            except Exception:  # no document, or no operation of that name in it
                return UNKNOWN_OPERATION
        return self._type

    def _note(self, record: RequestRecord) -> None:
        execution = self.execution_context
        record.note_operation(self._operation_type(), execution.operation_name, execution.query)
        result = execution.result
        if isinstance(result, ExecutionResult | GraphQLExecutionResult) and result.errors:
            record.note_errors(map(_unmasked, result.errors), self._default_code)

    def _finish_span(self, record: RequestRecord) -> None:
        assert self._span is not None
        kind = record.operation_type or UNKNOWN_OPERATION
        attributes: dict[str, tracing.AttributeValue] = {
            "graphql.operation.type": kind,
            "petstore.request_id": record.request_id,
            "petstore.outcome": record.outcome or "ok",
        }
        if record.operation_name:
            attributes["graphql.operation.name"] = cut(record.operation_name, 100)
        if record.document:
            attributes["graphql.document"] = cut(record.document, tracing.MAX_ATTRIBUTE_TEXT)
        if record.code:
            attributes["petstore.error_code"] = record.code
        name = f"{kind} {record.operation_name}" if record.operation_name else kind
        self._span.finish(attributes, name, failed=record.outcome == INTERNAL_ERROR)


def _unmasked(error: GraphQLError) -> GraphQLError:
    """An error that MaskUnexpectedErrors will mask (or has), as INTERNAL_SERVER_ERROR,
    whichever extension runs first."""
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return GraphQLError(error.message, extensions={"code": INTERNAL_SERVER_ERROR})
    return error
