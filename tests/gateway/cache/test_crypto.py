"""Cache key material: key parsing, keyed subject hashes, AES-GCM sealing bound to the key."""

from __future__ import annotations

import base64
import os

import pytest

from gateway.sources.crypto import (
    PURPOSE_SUBJECTS,
    PURPOSE_VALUES,
    CacheCipher,
    CacheTampered,
    derive_key,
    parse_encryption_key,
    subject_hash,
)

IIN = "900101300123"


def test_key_parses_from_hex_and_both_base64_alphabets() -> None:
    raw = bytes(range(256))[200:232]  # contains bytes that differ in the URL-safe alphabet
    assert parse_encryption_key(raw.hex()) == raw
    assert parse_encryption_key(base64.b64encode(raw).decode()) == raw
    assert parse_encryption_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert parse_encryption_key(raw) == raw


@pytest.mark.parametrize(
    "bad",
    [
        "correct horse battery staple",  # a passphrase is refused, not stretched
        "00" * 16,  # 16 bytes: too short
        base64.b64encode(os.urandom(31)).decode(),
        "zz" * 32,
        "",
    ],
)
def test_key_that_is_not_32_bytes_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_encryption_key(bad)


def test_subject_hash_is_keyed_and_hides_the_iin() -> None:
    secret_a, secret_b = os.urandom(32), os.urandom(32)
    digest = subject_hash(secret_a, IIN)
    assert IIN not in digest
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert subject_hash(secret_a, IIN) == digest  # stable: replicas agree
    assert subject_hash(secret_b, IIN) != digest  # keyed: no secret, no dictionary attack


def test_subject_hash_parts_cannot_be_regrouped() -> None:
    secret = os.urandom(32)
    assert subject_hash(secret, "ab", "c") != subject_hash(secret, "a", "bc")
    assert subject_hash(secret, "abc") != subject_hash(secret, "ab", "c")


def test_derived_keys_differ_by_purpose() -> None:
    master = os.urandom(32)
    assert derive_key(master, PURPOSE_VALUES) != derive_key(master, PURPOSE_SUBJECTS)
    assert derive_key(master, PURPOSE_VALUES) == derive_key(master, PURPOSE_VALUES)


def test_seal_round_trips_and_hides_the_plaintext() -> None:
    cipher = CacheCipher(os.urandom(32))
    plaintext = b'{"marker": "PLAINTEXT-MARKER", "iin": "900101300123"}'
    sealed = cipher.seal("ehp:v1:lis:orders:ab", plaintext)
    assert b"PLAINTEXT-MARKER" not in sealed and IIN.encode() not in sealed
    assert cipher.open("ehp:v1:lis:orders:ab", sealed) == plaintext
    # A fresh nonce per value: the same plaintext never seals to the same bytes.
    assert cipher.seal("ehp:v1:lis:orders:ab", plaintext) != sealed


def test_tampered_value_does_not_open() -> None:
    cipher = CacheCipher(os.urandom(32))
    sealed = bytearray(cipher.seal("k", b"value"))
    sealed[-1] ^= 0x01
    with pytest.raises(CacheTampered):
        cipher.open("k", bytes(sealed))
    with pytest.raises(CacheTampered):
        cipher.open("k", b"\x01short")
    with pytest.raises(CacheTampered):
        cipher.open("k", b"")


def test_value_moved_to_another_key_does_not_open() -> None:
    cipher = CacheCipher(os.urandom(32))
    sealed = cipher.seal("ehp:v1:lis:orders:aaaa", b"person A's lab results")
    with pytest.raises(CacheTampered):
        cipher.open("ehp:v1:lis:orders:bbbb", sealed)


def test_value_sealed_with_another_key_does_not_open() -> None:
    sealed = CacheCipher(os.urandom(32)).seal("k", b"value")
    with pytest.raises(CacheTampered):
        CacheCipher(os.urandom(32)).open("k", sealed)
