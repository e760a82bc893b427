"""Keys for the cache: parsing the configured key, keyed subject hashes, and AES-GCM sealing.

`cache.encryption_key` is 32 random bytes written either as 64 hex digits or as base64
(standard or URL-safe alphabet). A passphrase is refused on purpose: HKDF is not a password
hash, and a guessable key would make the encryption of cached health data decorative.
Generate one with `python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`.

From that one master key, HKDF derives separate keys for separate jobs (value encryption,
subject hashing), so every replica sharing the Redis cache computes the same cache keys.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12  # 96-bit random nonce per value, the size AES-GCM is built for
_FORMAT_V1 = b"\x01"

PURPOSE_VALUES = "ehp cache values v1"
PURPOSE_SUBJECTS = "ehp cache subject hash v1"


class CacheTampered(ValueError):
    """A sealed cache value did not authenticate: altered, truncated, or moved to another key."""


def parse_encryption_key(text: str | bytes) -> bytes:
    """Return the 32-byte key from 64 hex digits, base64 text, or 32 raw bytes."""
    if isinstance(text, bytes):
        if len(text) == KEY_BYTES:
            return text
        text = text.decode("ascii", errors="replace")
    text = text.strip()
    if len(text) == 2 * KEY_BYTES and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    raw = text.encode("ascii", errors="replace")
    padded = raw + b"=" * (-len(raw) % 4)
    for altchars in (None, b"-_"):  # standard, then URL-safe alphabet
        try:
            key = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(key) == KEY_BYTES:
            return key
    raise ValueError("cache.encryption_key must be 32 bytes written as 64 hex digits or base64")


def derive_key(master: bytes, purpose: str) -> bytes:
    """Derive a 32-byte key for one purpose from the master key (HKDF-SHA256)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(master)


def random_key() -> bytes:
    """A fresh random 32-byte key, for a process-local cache that no other replica reads."""
    return os.urandom(KEY_BYTES)


def subject_hash(secret: bytes, *parts: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of an IIN or of query parameters, for cache keys and logs."""
    message = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        # Length-prefixed so ("ab", "c") and ("a", "bc") never hash alike.
        message += len(data).to_bytes(4, "big")
        message += data
    return hmac.digest(secret, message, "sha256").hex()  # one C call: no HMAC object


class CacheCipher:
    """AES-256-GCM sealing of cache values, bound to their cache key as associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("the cache cipher needs a 32-byte key")
        self._aead = AESGCM(key)

    def seal(self, cache_key: str, plaintext: bytes) -> bytes:
        """Encrypt `plaintext` for storage under `cache_key`: version, nonce, ciphertext+tag."""
        nonce = os.urandom(NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, _aad(cache_key))

    def open(self, cache_key: str, sealed: bytes) -> bytes:
        """Decrypt a value read under `cache_key`; raise CacheTampered if it does not verify."""
        head = len(_FORMAT_V1) + NONCE_BYTES
        if len(sealed) < head + 16 or not sealed.startswith(_FORMAT_V1):
            raise CacheTampered("sealed value has an unknown format")
        nonce = sealed[len(_FORMAT_V1) : head]
        try:
            return self._aead.decrypt(nonce, sealed[head:], _aad(cache_key))
        except InvalidTag as exc:
            raise CacheTampered("sealed value does not verify for this key") from exc


def _aad(cache_key: str) -> bytes:
    # The format byte is authenticated too, so a downgrade to another format cannot pass.
    return _FORMAT_V1 + cache_key.encode("utf-8")
