"""Who a notification is for, kept sealed: the patient's IIN encrypted in the outbox.

A real notifier reaches a citizen by IIN, so the IIN must travel with the notification; the
outbox (in the audit database, beside the keyed patient hashes) holds it only encrypted with
AES-256-GCM under a key from the configuration (``notifications.recipient_key``, else derived
from ``notifications.secret``), bound to its event id, so a copied row cannot be moved to
another event and nobody with the database alone reads who was notified.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.config import NotificationSettings

_VERSION = "v1"
_NONCE_BYTES = 12
_PURPOSE = b"ehp notifications v1: recipient"


class RecipientUnreadable(ValueError):
    """A sealed recipient did not open with this key (another key, or an altered row)."""


class RecipientCipher:
    """Seals and opens the patient's IIN of an outbox row."""

    def __init__(self, secret: bytes) -> None:
        """A cipher whose key is derived (HKDF-SHA256) from ``secret``."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE)
        self._aead = AESGCM(hkdf.derive(secret))

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> RecipientCipher:
        """The cipher of ``recipient_key``, or of ``secret`` when no recipient key is set."""
        secret = settings.recipient_key or settings.secret
        if not secret:
            raise ValueError("notifications need a secret (or recipient_key) to seal recipients")
        return cls(secret.encode("utf-8"))

    def seal(self, event_id: str, iin: str) -> str:
        """``v1.<base64url(nonce | ciphertext | tag)>`` of ``iin``, bound to ``event_id``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, iin.encode("ascii"), _aad(event_id))
        return f"{_VERSION}.{base64.urlsafe_b64encode(sealed).decode('ascii')}"

    def open(self, event_id: str, sealed: str) -> str:
        """The IIN sealed for ``event_id``; RecipientUnreadable when it does not verify."""
        version, _, body = sealed.partition(".")
        try:
            if version != _VERSION:
                raise ValueError("unknown format")
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            nonce, ciphertext = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, ciphertext, _aad(event_id)).decode("ascii")
        except (InvalidTag, ValueError, UnicodeError) as exc:
            raise RecipientUnreadable("the recipient of this notification cannot be read") from exc


def _aad(event_id: str) -> bytes:
    return f"{_VERSION}:{event_id}".encode()
