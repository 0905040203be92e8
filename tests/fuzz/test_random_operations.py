"""Property: any query or mutation that hypothesis-graphql makes from the
live server's own schema (read by introspection over HTTP), valid or with
one schema violation, sent with or without the write token, gets an answer
that is neither a 5xx nor a masked internal error; the store verifies after.

Scalars are drawn from what the history holds (its ids, instants, cursors)
as well as from sane values of each type: values at the edges of their
types (NUL, lone surrogates, the ends of the calendar, huge numbers, deep
JSON) are the malformed classes of test_malformed_*.py, kept apart so that
a failure here is a different bug. Derandomized, so CI draws the same
documents every run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from graphql import NameNode, NullValueNode, ObjectFieldNode
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, nodes, queries

from tests.fuzz.target import FuzzTarget, History

pytestmark = pytest.mark.once

SANE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", min_codepoint=1, exclude_categories=["Cs"]),
    max_size=12,
)
SANE_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
).map(lambda moment: moment.isoformat())


def json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        SANE_TEXT,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(SANE_TEXT, children, max_size=3)
        ),
        max_leaves=8,
    )


def json_node(value: object) -> object:
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([json_node(item) for item in value])  # type: ignore[misc]
    assert isinstance(value, dict)
    return nodes.Object(
        [
            ObjectFieldNode(name=NameNode(value=f"k{index}"), value=json_node(item))
            for index, item in enumerate(value.values())
        ]
    )


def scalars(history: History) -> dict[str, st.SearchStrategy[object]]:
    uuids = st.one_of(st.sampled_from(history.pet_ids + history.event_ids), st.uuids().map(str))
    return {
        "UUID": uuids.map(nodes.String),
        "DateTime": st.one_of(st.sampled_from(history.instants), SANE_INSTANTS).map(nodes.String),
        "Date": st.dates(
            min_value=datetime(1900, 1, 1).date(), max_value=datetime(2100, 1, 1).date()
        ).map(nodes.String),
        "Decimal": st.one_of(
            st.decimals(allow_nan=False, places=2, min_value=-10, max_value=10**6).map(str),
            st.sampled_from(["", "1e3", "-0.001", "1.005", "NaN", "Infinity", "12,50"]),
        ).map(nodes.String),
        "JSON": json_values().map(json_node),
        "String": st.one_of(st.sampled_from([*history.cursors, "0", "Cat", "Dog"]), SANE_TEXT).map(
            nodes.String
        ),
        "Int": st.one_of(st.integers(-3, 600), st.integers(-(2**31), 2**31 - 1)).map(nodes.Int),
    }


async def documents(target: FuzzTarget, kind: str, mode: Mode) -> st.SearchStrategy[str]:
    """One strategy per kind and mode for the module's server (made once:
    hypothesis-graphql walks the whole schema to make one)."""
    key = ("documents", kind, mode)
    if key not in target.cache:
        make = {"query": queries, "mutation": mutations, "either": from_schema}[kind]
        target.cache[key] = make(
            await target.schema(),
            custom_scalars=scalars(target.history),
            allow_x00=False,
            codec="utf-8",
            mode=mode,
        )
    strategy: st.SearchStrategy[str] = target.cache[key]
    return strategy


FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def outcome(response: httpx.Response) -> str:
    """What kind of answer it was (for --hypothesis-show-statistics)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    body = response.json()
    codes = sorted({(e.get("extensions") or {}).get("code", "?") for e in body.get("errors") or []})
    payloads = [v for v in (body.get("data") or {}).values() if isinstance(v, dict)]
    user_errors = [e for p in payloads for e in p.get("userErrors") or []]
    if codes:
        return "errors: " + ",".join(codes)
    if user_errors:
        return "userErrors"
    return "data"


@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "token"])
@pytest.mark.parametrize("kind", ["query", "mutation"])
@FUZZ_SETTINGS
@given(data=st.data())
async def test_random_valid_operations_never_fault(
    target: FuzzTarget, kind: str, token: bool, data: st.DataObject
) -> None:
    document = data.draw(await documents(target, kind, Mode.POSITIVE), "document")
    response = await target.graphql(document, token=token)
    label(outcome(response))
    fault = await target.fault(response)
    assert fault is None, (document, fault)


@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "token"])
@settings(FUZZ_SETTINGS, max_examples=50)
@given(data=st.data())
async def test_random_invalid_operations_never_fault(
    target: FuzzTarget, token: bool, data: st.DataObject
) -> None:
    document = data.draw(await documents(target, "either", Mode.NEGATIVE), "document")
    response = await target.graphql(document, token=token)
    fault = await target.fault(response)
    assert fault is None, (document, fault)
