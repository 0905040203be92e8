#!/bin/sh
# curl against a running server: a read, a write with the token, a refused
# write, and a query by GET as an automatic persisted query.
#
#   export TOKEN=$(graphql-petstore token)
#   PETSTORE_URL=http://127.0.0.1:8000/graphql sh examples/curl.sh
set -eu
URL=${PETSTORE_URL:-http://127.0.0.1:8000/graphql}

echo "# a read: no token needed"
curl -sS "$URL" -H 'Content-Type: application/json' \
  -d '{"query": "{ pets(first: 3) { edges { node { name status } } } }"}'
echo

echo "# a write: needs the token"
curl -sS "$URL" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
  -d '{"query": "mutation { recordPetArrival(input: {name: \"Rex\", species: \"Dog\", price: \"80.00\"}) { pet { name status } userErrors { code } } }"}'
echo

echo "# a write the rules refuse: a userError, nothing stored"
curl -sS "$URL" -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
  -d '{"query": "mutation { recordPetArrival(input: {name: \"Rex\", species: \"Dog\", price: \"-1\"}) { pet { name } userErrors { code field } } }"}'
echo

# An automatic persisted query: the document's SHA-256, then the hash alone.
QUERY='{ pets(first: 1) { edges { node { name } } } }'
HASH=$(printf '%s' "$QUERY" | sha256sum | cut -d' ' -f1)
EXTENSIONS="{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"$HASH\"}}"
echo "# by GET, the hash alone: the server does not know it yet"
curl -sS -G "$URL" --data-urlencode "extensions=$EXTENSIONS"
echo
echo "# the hash with its query, once"
curl -sS "$URL" -H 'Content-Type: application/json' \
  -d "{\"query\": \"$QUERY\", \"extensions\": $EXTENSIONS}"
echo
echo "# by GET, the hash alone again: now it runs"
curl -sS -G "$URL" --data-urlencode "extensions=$EXTENSIONS"
echo
