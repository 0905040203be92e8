"""PetstoreExecutor's short path for plain data answers exactly as graphql-core.

Every document here runs twice: through PetstoreExecutor and through the
executor strawberry uses by default. The responses must be the same to the
byte (key order included) and the errors the same in message, path, location
and the context their tracebacks show. A small schema covers what stored data
cannot produce (a null in a non-null field, a value a scalar refuses, a
missing attribute); the petstore schema on a real database covers the API as
clients use it. Further tests show that the short path is taken, that plans
are kept only when variables cannot change them, and that a long subscription
does not hold on to what each event collected.
"""

from __future__ import annotations

import enum
import gc
import json
import tracemalloc
import uuid
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any, NewType

import pytest
import strawberry
from graphql import ExecutionResult
from graphql.execution import Executor
from starlette.applications import Starlette
from strawberry.extensions import ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_petstore.api.context import Context
from graphql_petstore.api.execution import PetstoreExecutor
from graphql_petstore.api.schema import create_schema
from graphql_petstore.settings import Settings
from tests.api.store import CONCRETE_EVENT_FIELDS, Store, settle
from tests.conftest import API_TOKEN

# --------------------------------------------------------------------------- a small schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


def _refuse(value: object) -> str:
    raise ValueError(f"cannot show {value!r}")


Fragile = NewType("Fragile", str)
SCALARS = {Fragile: strawberry.scalar(name="Fragile", serialize=_refuse, parse_value=str)}


@strawberry.type
class Item:
    name: str
    nickname: str | None
    colour: Colour
    count: int
    tags: list[str]
    fragile: Fragile | None = None

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


def _item(name: Any = "tom", **more: Any) -> Item:
    values: dict[str, Any] = {
        "nickname": None,
        "colour": Colour.RED,
        "count": 3,
        "tags": ["a", "b"],
        **more,
    }
    return Item(name=name, **values)


@strawberry.type
class Holder:
    items: list[Item]
    item: Item | None
    maybe_items: list[Item | None] | None = None
    grid: list[list[int | None]] = strawberry.field(default_factory=list)
    inner: Holder | None = None


@strawberry.type
class SmallQuery:
    @strawberry.field
    def good(self) -> Holder:
        items = [_item("tom"), _item("ann", nickname="Annie", colour=Colour.BLUE)]
        return Holder(items=items, item=_item())

    @strawberry.field
    def null_name(self) -> Holder:
        # The type says name is never null; this value breaks that promise.
        return Holder(items=[_item("tom")], item=_item(None))

    @strawberry.field
    def null_name_in_list(self) -> Holder:
        return Holder(items=[_item("tom"), _item(None)], item=None)

    @strawberry.field
    def refused(self) -> Holder:
        return Holder(items=[_item(fragile="x")], item=_item(count="many", colour="PURPLE"))

    @strawberry.field
    def partial(self) -> Item:
        # Not an Item: a stand-in without most of its attributes.
        return SimpleNamespace(name="half", colour=Colour.RED)  # type: ignore[return-value]

    @strawberry.field
    def gaps(self) -> Holder:
        maybe = [_item(), None, _item(None), _item("last", tags=["x", None])]
        inner = Holder(items=[_item("deep")], item=None, grid=[[1]])
        return Holder(
            items=[], item=None, maybe_items=maybe, grid=[[1, None], [], [3]], inner=inner
        )

    @strawberry.field
    def generated(self) -> Holder:
        # Any iterable is a list to graphql-core, a generator included.
        items: Any = (_item(name) for name in ("gen", "erated"))
        return Holder(items=items, item=None, grid=(range(2), [5]))  # type: ignore[arg-type]

    @strawberry.field
    def null_in_list(self) -> Holder | None:
        return Holder(items=[_item(), None], item=None)  # type: ignore[list-item]

    @strawberry.field
    def not_a_list(self) -> Holder:
        return Holder(items=_item(), item=None)  # type: ignore[arg-type]

    @strawberry.field
    async def later(self) -> list[Item]:
        return [_item("late"), _item("later", nickname="L")]


SMALL_DOCUMENTS = [
    "{ good { items { name nickname colour count tags } item { count name } } }",
    # aliases, a field asked twice, arguments, __typename, fragments, directives
    """
    query($no: Boolean = false) {
      good {
        items {
          n: name name __typename alias: colour name
          shout(times: 2) loud: shout
          ... on Item { count nickname }
          ...More
          tags @include(if: $no)
          nickname @skip(if: $no)
        }
      }
    }
    fragment More on Item { colour name }
    """,
    "{ nullName { items { name } item { count name colour } } }",
    "{ nullNameInList { items { count name } } }",
    "{ refused { items { name fragile } item { name count } } }",
    "{ refused { item { colour name } } }",
    "{ later { name nickname shout } }",
    "{ partial { name colour } }",
    "{ good { __typename items { __typename colour tags } item { __typename } } }",
    "{ gaps { maybeItems { name tags __typename } grid inner { items { name } grid } } }",
    "{ gaps { maybeItems { count } inner { item { name } inner { grid } } } }",
    "{ generated { items { name count } grid } }",
    "{ nullInList { items { name } } good { item { name } } }",
    "{ notAList { items { name } } }",
    "{ partial { name nickname } }",
    "{ good { item { name } } partial { count } }",
    "{ good { item { name } } later { count } nullName { item { name } } }",
]


def _outcome(result: Any) -> tuple[str, list[tuple[str, Any, Any, str]]]:
    errors = [
        (
            error.message,
            error.path,
            [(loc.line, loc.column) for loc in error.locations or []],
            # What the logged traceback shows as "during handling of …".
            repr(getattr(error.original_error, "__context__", None)),
        )
        for error in result.errors or []
    ]
    return json.dumps(result.data), errors


class CountingExecutor(PetstoreExecutor):
    """Counts the fields that take graphql-core's own path."""

    calls = 0

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        return super().execute_field(*args, **kwargs)


def _small_schema(
    executor: type[Executor], *, cached: bool = False, subscription: type | None = None
) -> strawberry.Schema:
    """The small schema on `executor`; `cached`: with a parser cache, as the
    petstore has, which gives each request of one query text the same nodes."""
    return strawberry.Schema(
        query=SmallQuery,
        subscription=subscription,
        execution_context_class=executor,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[lambda: ParserCache(maxsize=16)] if cached else [],
    )


@pytest.mark.parametrize("document", SMALL_DOCUMENTS)
async def test_the_short_path_answers_as_graphql_core_does(document: str) -> None:
    ours = await _small_schema(PetstoreExecutor).execute(document)
    reference = await _small_schema(StrawberryGraphQLCoreExecutionContext).execute(document)
    assert _outcome(ours) == _outcome(reference)


async def test_the_unusual_values_are_reported_as_errors() -> None:
    # So that the comparisons above compare errors, not two empty lists.
    result = await _small_schema(PetstoreExecutor).execute(SMALL_DOCUMENTS[2])
    assert result.data == {"nullName": {"items": [{"name": "tom"}], "item": None}}
    assert [e.path for e in result.errors or []] == [["nullName", "item", "name"]]
    refused = await _small_schema(PetstoreExecutor).execute(SMALL_DOCUMENTS[4])
    assert refused.data == {"refused": {"items": [{"name": "tom", "fragile": None}], "item": None}}
    assert sorted(str(e.path) for e in refused.errors or []) == [
        "['refused', 'item', 'count']",
        "['refused', 'items', 0, 'fragile']",
    ]


async def test_plain_leaf_fields_skip_graphql_cores_field_machinery() -> None:
    CountingExecutor.calls = 0
    items = ", ".join(f"i{n}: good {{ items {{ name nickname colour count }} }}" for n in range(5))
    result = await _small_schema(CountingExecutor).execute(f"{{ {items} }}")
    assert result.errors is None
    # good (a resolver), under 5 aliases, goes through graphql-core; its items
    # and their leaves do not.
    assert CountingExecutor.calls == 5


class PlanCounter(PetstoreExecutor):
    """Counts the fields it plans."""

    planned = 0

    def _plain(self, *args: Any, **kwargs: Any) -> Any:
        type(self).planned += 1
        return super()._plain(*args, **kwargs)


async def test_a_documents_plans_are_kept_across_requests() -> None:
    schema = _small_schema(PlanCounter, cached=True)
    document = "{ good { items { name tags } item { count } } later { name } }"
    PlanCounter.planned = 0
    first = await schema.execute(document)
    assert PlanCounter.planned > 0
    PlanCounter.planned = 0
    again = await schema.execute(document)
    assert PlanCounter.planned == 0
    assert _outcome(again) == _outcome(first)


async def test_a_selection_that_variables_decide_is_planned_for_each_request() -> None:
    ours = _small_schema(PlanCounter, cached=True)
    reference = _small_schema(StrawberryGraphQLCoreExecutionContext, cached=True)
    document = """
    query($tags: Boolean!, $skipItem: Boolean!) {
      good {
        items { name tags @include(if: $tags) ...Counted }
        item @skip(if: $skipItem) { name }
      }
    }
    fragment Counted on Item { count @include(if: $tags) }
    """
    outcomes = set()
    for tags, skip_item in [(True, False), (False, True), (True, True), (False, False)]:
        variables = {"tags": tags, "skipItem": skip_item}
        PlanCounter.planned = 0
        result = await ours.execute(document, variable_values=variables)
        assert PlanCounter.planned > 0
        expected = await reference.execute(document, variable_values=variables)
        assert _outcome(result) == _outcome(expected)
        outcomes.add(_outcome(result)[0])
    assert len(outcomes) == 4


@strawberry.type
class SmallSubscription:
    @strawberry.subscription
    async def items(self, count: int) -> AsyncGenerator[Item, None]:
        for n in range(count):
            yield _item(f"item {n}", count=n)


async def _retained_during_subscription(executor: type[Executor], events: int) -> int:
    """Bytes still held, while the subscription is live, that its events from
    the 200th to the last allocated."""
    schema = _small_schema(executor, subscription=SmallSubscription)
    stream = await schema.subscribe(
        "subscription($n: Int!) { items(count: $n) { name count colour } }",
        variable_values={"n": events},
    )
    assert not isinstance(stream, ExecutionResult), stream
    seen = 0
    before = after = None
    tracemalloc.start()
    try:
        async for result in stream:
            assert not result.errors, result.errors
            seen += 1
            if seen == 200:
                gc.collect()
                before = tracemalloc.take_snapshot()
            elif seen == events - 1:
                gc.collect()
                after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert seen == events
    assert before is not None
    assert after is not None
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


async def test_a_long_subscription_does_not_keep_what_each_event_collected() -> None:
    events = 1_200
    # graphql-core's own executor keeps about 1 KB per event (its sub-field
    # memo is shared by every event of a subscription): the measure can see it.
    assert await _retained_during_subscription(StrawberryGraphQLCoreExecutionContext, events) > (
        500 * (events - 200)
    )
    assert await _retained_during_subscription(PetstoreExecutor, events) < 100_000


# --------------------------------------------------------------------------- the petstore schema

EVENT_FIELDS = (
    """
  __typename id type petId petVersion createdAt metadata cursor actor requestId
  correlationId causationId
"""
    + CONCRETE_EVENT_FIELDS
)
PET_FIELDS = (
    "id name species price status customerId motherId version lastEventId createdAt updatedAt"
)
PETSTORE_DOCUMENTS = [
    f"""
    {{
      pets(first: 20) {{
        edges {{
          cursor
          node {{
            {PET_FIELDS} __typename n: name
            mother {{ id name }}
            offspring {{ id status }}
            history(first: 10) {{
              edges {{ cursor node {{ {EVENT_FIELDS} }} }}
              pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
            }}
          }}
        }}
        nodes {{ id price }}
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
      }}
    }}
    """,
    f"""
    {{
      events(first: 50, after: "0") {{
        edges {{ cursor node {{ {EVENT_FIELDS} pet {{ {PET_FIELDS} }} }} }}
        nodes {{ id type }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
    """,
    """
    query($status: [PetStatus!]) {
      sold: pets(filter: {status: $status}) { nodes { id status customerId price } }
      all: pets(first: 3) { nodes { id status } }
    }
    """,
]


async def record_every_kind(store: Store) -> None:
    mother = (await store.arrive(name="Mother", metadata={"note": "first"}))["pet"]["id"]
    kitten = (await store.birth(mother, name="Kitten"))["pet"]["id"]
    await store.change_price(mother, "120.50", correlationId=str(uuid.uuid4()))
    await store.lose(kitten, lastSeenLocation="the garden")
    await store.find(kitten, foundLocation="the shed")
    await store.sell(mother)
    await store.arrive(name="Solo", species="Dog", price="0.00")


# What each document's answer must hold, so that the comparison is of data.
PETSTORE_EXPECTED = [
    ['"Mother"', '"Kitten"', '"Solo"', '"PetSold"', '"PetFoundAgain"'],
    [f'"{name}"' for name in ("PetArrived", "PetBorn", "PetSold", "PetPriceChange", "PetLost")]
    + ['"PetFoundAgain"', '"the shed"'],
    ['"SOLD"', '"AVAILABLE"'],
]


@pytest.mark.parametrize("index", range(len(PETSTORE_DOCUMENTS)))
async def test_the_petstore_answers_the_same_through_either_executor(
    index: int, store: Store, app: Starlette, settings: Settings, conn: Any
) -> None:
    await record_every_kind(store)
    await settle(conn)
    document = PETSTORE_DOCUMENTS[index]
    variables = {"status": ["SOLD"]}
    outcomes = []
    for executor in (PetstoreExecutor, StrawberryGraphQLCoreExecutionContext):
        context = Context(
            engine=app.state.engine,
            pool=app.state.pool,
            settings=settings,
            request_id="compare",
            stream=app.state.stream,
            doorbell=app.state.doorbell,
            router=app.state.router,
            authorization=f"Bearer {API_TOKEN}",
        )
        schema = create_schema(settings, executor)
        result = await schema.execute(document, variable_values=variables, context_value=context)
        assert result.errors is None, result.errors
        outcomes.append(json.dumps(result.data))
    assert outcomes[0] == outcomes[1]
    for expected in PETSTORE_EXPECTED[index]:
        assert expected in outcomes[0], (expected, outcomes[0][:500])
