"""One subscriber's side of a group, whatever its protocol: join (or catch
up first), send what the group queues, catch up again after an overflow.

`serve` returns COMPLETE when the stream ended (the protocol handler sends
its `complete`), or FALLBACK when the subscription is to run on its own, as
strawberry runs it (the group could not execute its document: strawberry's
own path then reports why, exactly as without sharing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from graphql_petstore.api.library_internals import next_payload
from graphql_petstore.json_output import encode
from graphql_petstore.observability.operations import BAD_USER_INPUT
from graphql_petstore.observability.requests import RequestRecord, finish
from graphql_petstore.sharing.feeds import UNKNOWN, CatchUpFeed
from graphql_petstore.sharing.groups import Group, Member
from graphql_petstore.sharing.keys import Plan
from graphql_petstore.sharing.registry import SubscriptionGroups

COMPLETE = "complete"
FALLBACK = "fallback"

SendText = Callable[[str], Awaitable[None]]


async def serve(
    groups: SubscriptionGroups,
    plan: Plan,
    context: Any,
    variables: Any,
    member: Member,
    send_text: SendText,
) -> str:
    record = RequestRecord.over_websocket(member.request_id, context)
    record.note_operation(OperationType.SUBSCRIPTION.value, plan.operation_name, plan.query)
    outcome = None  # cancelled, or the socket went
    groups.serving += 1
    try:
        outcome = await _serve(groups, plan, context, variables, member, send_text)
        return outcome
    finally:
        groups.serving -= 1
        if outcome != FALLBACK:  # else strawberry's own path logs it
            record.messages = member.sent
            record.note_errors(member.errors, BAD_USER_INPUT)
            finish(record, context.settings)


async def _serve(
    groups: SubscriptionGroups,
    plan: Plan,
    context: Any,
    variables: Any,
    member: Member,
    send_text: SendText,
) -> str:
    group = groups.group_for(plan, context)
    resume: Any = UNKNOWN
    if plan.catch_up:
        group.reserve(member)
    else:
        group.admit(member)
    try:
        while True:
            if member.group is not group or member.fell_behind:
                outcome = await _alone(
                    groups, group, plan, context, variables, member, resume, send_text
                )
                if outcome is not None:
                    return outcome
            outcome = await _live(groups, group, member, send_text)
            if outcome is not None:
                return outcome
            resume = member.resume
    finally:
        group.leave(member)
        groups.gone(member)
        groups.release(group)


async def _live(
    groups: SubscriptionGroups, group: Group, member: Member, send_text: SendText
) -> str | None:
    """Sends the member's frames until the stream ends (its outcome), or
    until the member fell behind (None)."""
    while True:
        frames = member.frames
        while frames:
            # Taken off once sent: the group writes to the socket itself only
            # while the queue is empty, so never ahead of a frame in flight.
            await send_text(frames[0])
            frames.popleft()
            groups.sent()
            member.sent += 1
        if member.fell_behind:
            return None
        if member.ended:
            return FALLBACK if group.failed_over else COMPLETE
        member.wake.clear()
        await member.wake.wait()


async def _alone(
    groups: SubscriptionGroups,
    group: Group,
    plan: Plan,
    context: Any,
    variables: Any,
    member: Member,
    resume: Any,
    send_text: SendText,
) -> str | None:
    """The member's own reading, from its start (`after:`) or from where it
    fell behind, until it meets its group (None) or the stream ends."""
    feed = CatchUpFeed(group, member, resume)
    own_context = dataclasses.replace(context, subscription_feed=feed)
    groups.alone += 1
    try:
        source = await groups.schema.subscribe(
            plan.query,
            variable_values=variables,
            context_value=own_context,
            operation_name=plan.operation_name,
        )
        first = True
        async with aclosing(source):
            async for result in source:
                if first and (
                    isinstance(result, PreExecutionError) or not isinstance(result, ExecutionResult)
                ):
                    return FALLBACK
                first = False
                payload = next_payload(result)
                await send_text(f"{member.prefix}{encode(payload)}}}")
                groups.sent()
                member.sent += 1
                if payload.get("errors") and not member.errors:
                    member.errors = payload["errors"]
    finally:
        groups.alone -= 1
    return None if feed.joined else COMPLETE
