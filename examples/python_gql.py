"""Python with gql: a query, a mutation with the token, and a subscription
that resumes from its last cursor after a disconnect.

    pip install "gql[httpx,websockets]"
    PETSTORE_URL=http://127.0.0.1:8000/graphql TOKEN=… python examples/python_gql.py
"""

from __future__ import annotations

import asyncio
import os

from gql import Client, gql
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

URL = os.environ.get("PETSTORE_URL", "http://127.0.0.1:8000/graphql")
TOKEN = os.environ["TOKEN"]

ARRIVE = """
mutation Arrive($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) {
    pet { id name status }
    userErrors { code message field }
  }
}
"""
PETS = "query Pets { pets(first: 100) { edges { node { id name } } } }"
EVENTS = """
subscription Events($after: String) {
  events(after: $after) { cursor type ... on PetArrived { name } }
}
"""


async def arrive(name: str) -> None:
    # Writes need the token; reads do not.
    transport = HTTPXAsyncTransport(url=URL, headers={"Authorization": f"Bearer {TOKEN}"})
    async with Client(transport=transport) as session:
        request = gql(ARRIVE)
        request.variable_values = {"input": {"name": name, "species": "Cat", "price": "120.00"}}
        payload = (await session.execute(request))["recordPetArrival"]
    # A rule that refuses the write is a userError, and nothing is stored.
    assert payload["userErrors"] == [], payload["userErrors"]
    print(f"wrote: {payload['pet']['name']} ({payload['pet']['status']})")


async def count_pets() -> int:
    # A read: no token.
    async with Client(transport=HTTPXAsyncTransport(url=URL)) as session:
        result = await session.execute(gql(PETS))
    return len(result["pets"]["edges"])


async def events_until(cursor: str, name: str) -> list[dict[str, str]]:
    """The events of the stream after `cursor` ("0": from the beginning), up
    to the arrival of a pet called `name`."""
    transport = WebsocketsTransport(
        url=URL.replace("http", "ws", 1),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
    )
    received: list[dict[str, str]] = []
    async with Client(transport=transport) as session:
        request = gql(EVENTS)
        request.variable_values = {"after": cursor}
        async for result in session.subscribe(request):
            received.append(result["events"])
            if result["events"].get("name") == name:
                break
    # Leaving the client closes the WebSocket: the subscription is gone.
    return received


async def main() -> None:
    print(f"query: {await count_pets()} pets")
    await arrive("Mochi")

    # Read the stream from the beginning, up to the event just written.
    seen = await events_until("0", "Mochi")
    last = seen[-1]
    print(f"subscribed: {len(seen)} events, the last {last['type']} {last['name']}")
    print("disconnected")

    # While no one is listening, another pet arrives...
    await arrive("Olive")
    # ...and a subscription that resumes after the last cursor it saw gets
    # exactly what it missed.
    missed = await events_until(last["cursor"], "Olive")
    print("resumed after the last cursor: " + ", ".join(f"{e['type']} {e['name']}" for e in missed))


if __name__ == "__main__":
    asyncio.run(main())
