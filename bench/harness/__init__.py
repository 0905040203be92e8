"""What the benchmarks under bench/ share (see bench/README.md).

database   the PostgreSQL server to use, a fresh bench database, pet ids
seeding    pets and events through the real triggers, with set-based SQL
server     `graphql-petstore serve` as a subprocess on a free port
http_client a minimal HTTP/1.1 keep-alive client and GraphQL request bytes
workers    keep-alive connections spread evenly over the server's workers
load       virtual users for a warm-up plus a measured window
raw        raw asyncpg ceilings (INSERT, the API's transaction, a pets page)
cpu        CPU of groups of processes (client, server, PostgreSQL), RSS
results    one measured scenario: latencies, errors, CPU
rounds     alternating A/B rounds and their summary
report     printing: machine, result tables, ratios
profiling  py-spy over the server and a summary of its hot spots
cli        command-line options every benchmark spells the same way
"""
