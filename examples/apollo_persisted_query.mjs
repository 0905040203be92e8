// Apollo Client with automatic persisted queries, by GET.
//
//   npm ci    (once, at the repository's root)
//   PETSTORE_URL=http://127.0.0.1:8000/graphql node examples/apollo_persisted_query.mjs
//
// Apollo's persisted-query link sends only the query's SHA-256, by GET (a
// short URL that caches can keep). The first time, the server does not know
// the hash and answers PERSISTED_QUERY_NOT_FOUND; the link sends the query
// once with its hash, and from then on the hash alone is enough.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = process.env.PETSTORE_URL ?? "http://127.0.0.1:8000/graphql";

// Log what goes over the wire: the method, and whether the document was sent.
let sent = 0;
async function loggingFetch(input, init = {}) {
  const request = new Request(input, init);
  const target = new URL(request.url);
  const body = request.method === "POST" ? await request.clone().text() : "";
  const withQuery = target.searchParams.has("query") || body.includes('"query"');
  const response = await fetch(request);
  const answer = await response.clone().json();
  const code = answer.errors?.[0]?.extensions?.code;
  sent += 1;
  console.log(
    `request ${sent}: ${request.method} ${withQuery ? "hash and query" : "hash only"}` +
      (code ? ` -> ${code}` : ""),
  );
  return response;
}

const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new PersistedQueryLink({
    sha256: (document) => createHash("sha256").update(document).digest("hex"),
    useGETForHashedQueries: true,
  }).concat(new HttpLink({ uri: url, fetch: loggingFetch })),
});

const AVAILABLE_PETS = gql`
  query AvailablePets {
    pets(filter: { status: [AVAILABLE] }, first: 5) {
      edges { node { id name species price } }
    }
  }
`;

for (let round = 1; round <= 2; round++) {
  // network-only: ask the server each time, not Apollo's cache.
  const { data } = await client.query({ query: AVAILABLE_PETS, fetchPolicy: "network-only" });
  console.log(`round ${round}: ${data.pets.edges.length} available pets`);
}
