"""api_bench.py's scenarios: the GraphQL API over HTTP and its raw SQL ceilings."""
