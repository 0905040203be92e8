"""The malformed-input classes of issue 9, one bad value at a time in each
argument (and each input field, filters included) of every query and
mutation, as a variable and as a literal: the answer must be a typed error
(or data), never a 5xx or a masked internal error.

Each class is its own test, so that a run says which classes still fail;
the assertion lists every place that failed, with the server's exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fuzz.arguments import Leaf as ArgumentLeaf
from tests.fuzz.arguments import Raw, arguments, document, encode, leaves
from tests.fuzz.target import FuzzTarget

pytestmark = pytest.mark.once

HUGE = "9" * 4_301
DEEP = 900


def text_values(alone: str, inside: str) -> Callable[[ArgumentLeaf], list[Any]]:
    """Bad characters in each string-like argument, alone and after valid
    text; in JSON as a value and as a key."""

    def values(leaf: ArgumentLeaf) -> list[Any]:
        if leaf.type.name == "JSON":
            return [{"note": alone}, {inside: 1}]
        if leaf.type.name in ("Int", "Boolean"):
            return []
        if leaf.type.name != "String":
            return [alone]  # their parsers refuse both alike
        return [alone, f"Fuzz{inside}"]

    return values


def calendar_ends(leaf: ArgumentLeaf) -> list[Any]:
    if leaf.type.name == "DateTime":
        return [
            "0001-01-01T00:00:00+00:00",
            "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
            "9999-12-31T23:59:59.999999+00:00",
            "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
            "4714-11-24T00:00:00+00:00",
            "294276-12-31T23:59:59+00:00",
        ]
    if leaf.type.name == "Date":
        return ["0001-01-01", "9999-12-31", "1970-01-01"]
    return []


def huge_numbers(leaf: ArgumentLeaf) -> list[Any]:
    if leaf.type.name in ("Int", "Decimal"):
        return [Raw.number(HUGE), Raw.number("-" + HUGE), Raw.number("1e400")]
    if leaf.type.name == "JSON":
        return [
            {"n": Raw.number(HUGE)},
            [Raw.number("1" + "0" * 5_000)],
            {"f": Raw.number("1e400")},
        ]
    if leaf.type.name == "String" or leaf.type.name == "Decimal":
        return [HUGE]
    return []


def deep_json(leaf: ArgumentLeaf) -> list[Any]:
    if leaf.type.name != "JSON":
        return []
    return [Raw.nested(DEEP), Raw.nested(DEEP, '"x"'), {"deep": Raw.nested(DEEP // 2)}]


def huge_json(leaf: ArgumentLeaf) -> list[Any]:
    if leaf.type.name != "JSON":
        return []
    # Below the 1 MB body limit, far above the metadata limit.
    return [{"blob": "x" * 900_000}, {f"k{n}": n for n in range(50_000)}]


# Class -> its bad values for one argument (none: the class does not apply).
CLASSES: dict[str, Callable[[ArgumentLeaf], list[Any]]] = {
    "nul": text_values("\x00", "\x00"),
    "lone_surrogate": text_values("\ud800", "\udfff"),
    "calendar_ends": calendar_ends,
    "huge_numbers": huge_numbers,
    "deep_json": deep_json,
    "huge_json": huge_json,
}


def describe(value: Any) -> str:
    text = value.json if isinstance(value, Raw) else repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} chars)"


# Queries take no JSON arguments.
CASES = [
    (bad_class, operation)
    for bad_class in CLASSES
    for operation in ("query", "mutation")
    if operation == "mutation" or "json" not in bad_class
]


@pytest.mark.parametrize(("bad_class", "operation"), CASES)
async def test_bad_values_in_every_argument_are_typed_errors(
    target: FuzzTarget, bad_class: str, operation: str
) -> None:
    schema = await target.schema()
    failures: list[str] = []
    tried = 0
    for leaf in leaves(schema, operation):
        for bad in CLASSES[bad_class](leaf):
            values = arguments(schema, leaf, bad, target.history)
            for inline in (False, True):
                if inline and _key_is_not_a_name(bad):
                    continue
                text, variables = document(schema, leaf, values, inline=inline)
                payload: dict[str, Any] = {"query": text}
                if variables is not None:
                    payload["variables"] = variables
                fault = await target.probe(encode(payload))
                tried += 1
                if fault:
                    way = "literal" if inline else "variable"
                    failures.append(f"{leaf} = {describe(bad)} as {way}: {fault}")
    assert tried, f"no argument of a {operation} takes {bad_class} values"
    assert not failures, f"{len(failures)} of {tried} requests faulted:\n" + "\n".join(failures)


def _key_is_not_a_name(value: Any) -> bool:
    return isinstance(value, dict) and any(not key.isidentifier() for key in value)
