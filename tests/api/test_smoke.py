from __future__ import annotations

from tests.conftest import GraphQLClient

ARRIVE = """
mutation($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) {
    event { id type petId petVersion cursor metadata ... on PetArrived { name species price } }
    pet { id name species price status version }
    userErrors { code message field }
  }
}
"""


async def test_arrival_then_read_back(gql: GraphQLClient) -> None:
    result = await gql.write(
        ARRIVE, {"input": {"name": " Fluffy ", "species": "Cat", "price": "100.00"}}
    )
    assert "errors" not in result, result
    payload = result["data"]["recordPetArrival"]
    assert payload["userErrors"] == []
    assert payload["pet"]["name"] == "Fluffy"
    assert payload["pet"]["price"] == "100.00"
    pet_id = payload["pet"]["id"]
    read = await gql.query(
        """query($id: UUID!) { pet(id: $id) { name status history { edges { node { type } } } }
           pets(first: 5) { edges { node { id } } pageInfo { hasNextPage } }
           events(first: 5) { edges { cursor node { type pet { name } } } } }""",
        {"id": pet_id},
    )
    assert "errors" not in read, read
    print(read)
