"""The pieces of the notification delivery: backoff bounds, the sealed recipient, the signing
key, and the `[notifications]` settings a gateway refuses to start with."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.config import ConfigError, parse_settings
from gateway.notify.recipient import RecipientCipher, RecipientUnreadable
from gateway.notify.signing import Signer, signing_key
from gateway.notify.worker import backoff_s

IIN = "900101300007"


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_doubles_with_jitter_over_the_upper_half_and_is_capped(attempts: int) -> None:
    step = min(60.0, 2.0 * 2 ** (attempts - 1))
    low = backoff_s(attempts, 2.0, 60.0, lambda: 0.0)
    high = backoff_s(attempts, 2.0, 60.0, lambda: 1.0)
    assert (low, high) == (step / 2, step)


def test_the_recipient_is_sealed_per_event_and_key() -> None:
    cipher = RecipientCipher(b"a-notification-secret-of-32-byte")
    sealed = cipher.seal("event-1", IIN)
    assert IIN not in sealed and sealed != cipher.seal("event-1", IIN)  # a fresh nonce
    assert cipher.open("event-1", sealed) == IIN
    for event_id, key in (("event-2", b"a-notification-secret-of-32-byte"), ("event-1", b"x" * 32)):
        with pytest.raises(RecipientUnreadable):
            RecipientCipher(key).open(event_id, sealed)
    with pytest.raises(RecipientUnreadable):
        cipher.open("event-1", sealed[:-4] + "AAAA")


def test_a_whsec_secret_is_its_decoded_bytes_else_its_utf8() -> None:
    raw = b"\x00\x01secret-bytes-of-the-standard"
    assert signing_key("whsec_" + base64.b64encode(raw).decode()) == raw
    assert signing_key("plain-text-secret-123") == b"plain-text-secret-123"
    with pytest.raises(ValueError):
        signing_key("whsec_not base64!")


def test_the_signature_headers_name_the_event() -> None:
    headers = Signer(b"k" * 32).headers("event-9", b'{"a":1}')
    assert headers["webhook-id"] == "event-9"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["webhook-timestamp"].isdigit()


def _settings(**notifications: Any) -> Any:
    return parse_settings(
        {
            "auth": {"issuer": "i", "audience": "a", "jwks_file": "j.json"},
            "sources": [{"name": "r", "kind": "fhir-register", "base_url": "http://r/fhir"}],
            "notifications": notifications,
        },
        {},
    )


@pytest.mark.parametrize(
    ("notifications", "named"),
    [
        ({"webhook_url": "https://n.example.kz/ehp"}, "notifications.secret"),
        ({"webhook_url": "ftp://n.example.kz", "secret": "s" * 16}, "notifications.webhook_url"),
        ({"secret": "short"}, "notifications.secret"),
        ({"max_attempts": 0}, "notifications.max_attempts"),
        ({"backoff_base_s": 0}, "notifications.backoff_base_s"),
        ({"backoff_cap_s": 1, "backoff_base_s": 2}, "notifications.backoff_cap_s"),
        ({"lease_s": 5, "timeout_ms": 5000}, "notifications.lease_s"),
        ({"webhook": "https://typo"}, "notifications.webhook"),
    ],
)
def test_bad_notification_settings_stop_start_up_naming_the_key(
    notifications: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        _settings(**notifications)


def test_notifications_are_off_without_a_webhook() -> None:
    assert _settings().notifications.webhook_url is None
