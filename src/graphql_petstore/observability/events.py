"""What a write path reports about the events it appends or is refused:
counts by event type and ErrorCode, the user error on the request's record,
and the event and pet ids on the operation's span."""

from __future__ import annotations

import uuid

from graphql_petstore.observability import metrics, tracing
from graphql_petstore.observability.current import current_request


def event_appended(
    event_type: str, event_id: uuid.UUID, pet_id: uuid.UUID | None, stored: bool
) -> None:
    """`stored` False: an idempotent retry answered with the event stored before."""
    if stored:
        metrics.record_event_appended(event_type)
    if tracing.enabled():
        attributes: dict[str, tracing.AttributeValue] = {
            "petstore.event_type": event_type,
            "petstore.event_id": str(event_id),
            "petstore.pet_id": str(pet_id) if pet_id is not None else "",
            "petstore.event_stored": stored,
        }
        tracing.annotate(**attributes)


def event_rejected(code: str) -> None:
    """A command refused with nothing stored (a rule of the database, or an input check)."""
    metrics.record_rejection(code)
    record = current_request()
    if record is not None:
        record.note_user_error(code)
    if tracing.enabled():
        tracing.annotate(**{"petstore.rejection": code})
