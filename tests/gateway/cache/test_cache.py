"""Cache keys and entries, the bounded memory store, and the sealing wrapper."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest

from gateway.sources.cache import CacheEntry, CacheKey, MemoryStore, SealedStore
from gateway.sources.crypto import CacheCipher, subject_hash

HASH = subject_hash(b"k" * 32, "900101300123")


def test_cache_key_renders_source_kind_and_hash() -> None:
    key = CacheKey("ehr-astana", "passport", HASH)
    assert key.render("ehp") == f"ehp:v1:ehr-astana:passport:{HASH}"


@pytest.mark.parametrize(
    ("source", "kind", "subject"),
    [
        ("lis", "orders", "900101300123"),  # an IIN in clear is refused
        ("lis", "orders", HASH.upper()),
        ("lis", "orders", "abc"),  # too short to be a keyed hash
        ("lis:x", "orders", HASH),  # a separator inside a name
        ("lis", "", HASH),
    ],
)
def test_cache_key_refuses_clear_identifiers_and_bad_names(
    source: str, kind: str, subject: str
) -> None:
    with pytest.raises(ValueError):
        CacheKey(source, kind, subject)


def test_entry_packs_and_unpacks_with_its_fetch_time() -> None:
    fetched_at = datetime(2026, 11, 25, 7, 30, 1, 123456, tzinfo=UTC)
    entry = CacheEntry(fetched_at, b'{"a": 1}')
    back = CacheEntry.unpack(entry.pack())
    assert back == entry
    assert back.age_s(datetime(2026, 11, 25, 7, 31, 1, 123456, tzinfo=UTC)) == 60.0
    with pytest.raises(ValueError):
        CacheEntry.unpack(b"1234")


async def test_memory_store_evicts_least_recently_used() -> None:
    store = MemoryStore(max_items=3)
    for name in ("a", "b", "c"):
        await store.set(name, name.encode(), ttl_s=60)
    assert await store.get("a") == b"a"  # a is now more recent than b
    await store.set("d", b"d", ttl_s=60)
    assert len(store) == 3
    assert await store.get("b") is None
    assert [await store.get(n) for n in ("a", "c", "d")] == [b"a", b"c", b"d"]


async def test_memory_store_expires_entries() -> None:
    store = MemoryStore(max_items=10)
    await store.set("short", b"x", ttl_s=0.01)
    await store.set("long", b"y", ttl_s=60)
    await asyncio.sleep(0.02)
    assert await store.get("short") is None
    assert await store.get("long") == b"y"
    assert len(store) == 1


def test_memory_store_needs_a_positive_bound() -> None:
    with pytest.raises(ValueError):
        MemoryStore(max_items=0)


async def test_sealed_store_keeps_only_ciphertext_and_reads_it_back() -> None:
    inner = MemoryStore(max_items=10)
    store = SealedStore(inner, CacheCipher(os.urandom(32)))
    await store.set("ehp:v1:lis:orders:aa", b"MARKER glucose 5.4", ttl_s=60)
    raw = await inner.get("ehp:v1:lis:orders:aa")
    assert raw is not None and b"MARKER" not in raw
    assert await store.get("ehp:v1:lis:orders:aa") == b"MARKER glucose 5.4"


async def test_sealed_store_reads_tampered_or_moved_values_as_missing() -> None:
    inner = MemoryStore(max_items=10)
    store = SealedStore(inner, CacheCipher(os.urandom(32)))
    await store.set("key-a", b"person A", ttl_s=60)
    await store.set("key-b", b"person B", ttl_s=60)
    sealed_a = await inner.get("key-a")
    assert sealed_a is not None
    await inner.set("key-b", sealed_a, ttl_s=60)  # A's value moved under B's key
    assert await store.get("key-b") is None
    flipped = bytearray(sealed_a)
    flipped[20] ^= 0x80
    await inner.set("key-a", bytes(flipped), ttl_s=60)
    assert await store.get("key-a") is None
