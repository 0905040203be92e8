"""The operations of bench-peer (../shared/bench-peer, PostGraphile on the
same database) and of the instruction counts: a pet by id, a price change,
a page of 50 available pets; and an arrival that makes the pet they use."""

from __future__ import annotations

from collections.abc import Callable

from harness.http_client import HttpConnection, Requests, graphql_data

# The requests of a scenario: the n-th request's bytes.
Scenario = Callable[[int], bytes]

ARRIVAL = (
    'mutation { recordPetArrival(input: {name: "Cg", species: "Cat", price: "1.00"}) '
    "{ pet { id } } }"
)
POINT = "query Pet($id: UUID!) { pet(id: $id) { id name species price status } }"
CHANGE_PRICE = (
    "mutation ChangePrice($id: UUID!, $price: Decimal!) { changePetPrice(input: "
    "{petId: $id, newPrice: $price}) { event { id } userErrors { code } } }"
)
PETS_PAGE = (
    "query PetsPage { pets(first: 50, filter: {status: [AVAILABLE]}) "
    "{ nodes { id name species price status } } }"
)


async def scenarios(port: int, token: str) -> dict[str, Scenario]:
    """pet(id), changePetPrice (a new price each time) and the pets page,
    on a pet made for them on the server at `port`."""
    requests = Requests("127.0.0.1", port, token)
    connection = HttpConnection("127.0.0.1", port)
    status, body = await connection.request(requests.graphql(ARRIVAL))
    await connection.close()
    problem, data = graphql_data(status, body)
    if problem:
        raise SystemExit(problem)
    pet = data["recordPetArrival"]["pet"]["id"]
    page = requests.graphql(PETS_PAGE)

    def change_price(number: int) -> bytes:
        price = f"{number % 1000}.{number % 100:02d}"
        return requests.graphql(CHANGE_PRICE, {"id": pet, "price": price})

    return {
        "pet(id)": lambda _: requests.graphql(POINT, {"id": pet}),
        "changePetPrice": change_price,
        "pets page": lambda _: page,
    }
