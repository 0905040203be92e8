"""The GraphQL layer: types, queries, mutations and the schema."""
