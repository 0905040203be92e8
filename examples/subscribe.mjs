// A subscription with graphql-ws (the graphql-transport-ws protocol) in Node.
//
//   npm ci    (once, at the repository's root)
//   PETSTORE_URL=http://127.0.0.1:8000/graphql TOKEN=… node examples/subscribe.mjs
//
// Subscribes to new events, records an arrival with the token (an ordinary
// POST), prints the event the subscription receives for it, and stops.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.PETSTORE_URL ?? "http://127.0.0.1:8000/graphql";
const token = process.env.TOKEN;

const client = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket, // Node 20 has no WebSocket of its own
});

const events = client.iterate({
  query: `subscription {
    events {
      cursor
      type
      ... on PetArrived { name species price }
    }
  }`,
});

// Write once the subscription is running; the server sends events from then on.
async function arrive(name) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($input: RecordPetArrivalInput!) {
        recordPetArrival(input: $input) { pet { id } userErrors { code message } }
      }`,
      variables: { input: { name, species: "Parrot", price: "150.00" } },
    }),
  });
  const { data, errors } = await response.json();
  if (errors) throw new Error(JSON.stringify(errors));
  console.log(`wrote: ${name} (${data.recordPetArrival.pet.id})`);
}

const writing = new Promise((resolve) => setTimeout(resolve, 500)).then(() => arrive("Kiwi"));
for await (const { data } of events) {
  const event = data.events;
  console.log(`received: ${event.type} ${event.name} the ${event.species} at ${event.price}`);
  break; // ends the subscription (graphql-ws sends "complete")
}
await writing;
await client.dispose();
