from __future__ import annotations

from graphql_petstore.caches import BoundedCache


def test_least_recently_used_entries_leave_when_the_entry_bound_is_reached() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=2, max_bytes=1_000)
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") == 1  # b is now the least recently used
    cache.put("c", 3, 10)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_entries_leave_until_the_byte_bound_holds() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=100, max_bytes=100)
    for i in range(10):
        cache.put(str(i), i, 30)
    assert len(cache) == 3
    assert cache.bytes == 90
    assert [cache.get(str(i)) for i in (6, 7, 8, 9)] == [None, 7, 8, 9]


def test_an_entry_larger_than_the_byte_bound_is_not_kept() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=100, max_bytes=100)
    cache.put("small", 1, 50)
    cache.put("huge", 2, 101)
    assert cache.get("huge") is None
    assert cache.get("small") == 1
    assert cache.bytes == 50


def test_replacing_an_entry_charges_its_new_size_only() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=100, max_bytes=100)
    cache.put("a", 1, 60)
    cache.put("a", 2, 70)
    assert cache.bytes == 70
    assert cache.get("a") == 2
