"""The webhook's signature: Standard Webhooks (https://www.standardwebhooks.com), HMAC-SHA256.

Headers ``webhook-id`` (the audit event id: the receiver drops duplicates by it),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``), where body is the exact bytes
sent (UTF-8 JSON). The key is ``notifications.secret``: its UTF-8 bytes, or, written as
``whsec_<base64>`` (the standard's form), the decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from standardwebhooks import Webhook

WHSEC_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a configured secret (``whsec_<base64>`` decoded, else its UTF-8 bytes)."""
    if secret.startswith(WHSEC_PREFIX):
        try:
            return base64.b64decode(secret[len(WHSEC_PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("notifications.secret: whsec_ must be followed by base64") from exc
    return secret.encode("utf-8")


class Signer:
    """Signs notification bodies for the webhook."""

    def __init__(self, key: bytes) -> None:
        """A signer with the HMAC key ``key``."""
        self._webhook = Webhook(key)

    def headers(self, event_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt to deliver ``body``."""
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        signature = self._webhook.sign(event_id, moment, body.decode("utf-8"))
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        }
