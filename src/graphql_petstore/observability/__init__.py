"""Metrics, logs and traces.

What a path that answers GraphQL requests calls. Strawberry's path does it
through observability.operations (a schema extension); the compiled path
(graphql_petstore.compiled.http) through observability.direct:

    with answering("mutation", "SellPet", document) as answer:
        ...                                   # the statement, under the operation's span
        event_appended(event_type, event_id, pet_id, stored=True)
        answer.answered()                     # or answered(errors): the response was sent

Lower down, on the request's record (current_request()):

    record.note_operation("mutation", "SellPet", document)
    record.note_errors(errors, default_code)  # top-level errors, as objects or as sent
    event_rejected("PET_NOT_AVAILABLE")       # counts it and notes the user error

The envelope (graphql_petstore.envelope) then records the operation's metrics
and logs the access line when the response has been sent. A path that runs
outside it calls record_operation() and log_access() itself.
"""

from __future__ import annotations

from graphql_petstore.observability.current import current_request
from graphql_petstore.observability.direct import answering
from graphql_petstore.observability.events import event_appended, event_rejected
from graphql_petstore.observability.metrics import record_operation
from graphql_petstore.observability.requests import RequestRecord, log_access

__all__ = [
    "RequestRecord",
    "answering",
    "current_request",
    "event_appended",
    "event_rejected",
    "log_access",
    "record_operation",
]
