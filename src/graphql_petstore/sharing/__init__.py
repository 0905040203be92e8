"""Subscriptions at scale: those whose results are necessarily the same
execute once per event, in groups, and share the payload's bytes.

keys.py     which subscriptions may share, and their group key
feeds.py    where a resolver reads its rows; how a catch-up meets its group
index.py    petChanged(id:) groups, indexed by pet: one reader hands each row
            to its pet's groups only
groups.py   a group: one execution per event, a bounded queue per member
members.py  a subscriber's side: join, send, fall behind, catch up
registry.py the process's groups, their counts, the slow-subscriber watch

The strawberry protocol handlers that hand subscriptions to a group are in
graphql_petstore.api.library_internals (they override strawberry internals).
"""
