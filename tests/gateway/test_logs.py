"""Log lines never carry an IIN in clear."""

from __future__ import annotations

import logging

from gateway.logs import RedactIdentifiers

IIN = "900101300007"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, message, args, None)


def test_iin_in_a_url_is_replaced_by_a_stable_keyed_pseudonym() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    record = _record('HTTP Request: GET %s "%s"', f"http://lis/api/v2/patients/{IIN}/orders", 200)
    assert redactor.filter(record)
    message = record.getMessage()
    assert IIN not in message
    assert redactor.pseudonym(IIN) in message
    assert redactor.pseudonym(IIN) == RedactIdentifiers(b"k" * 32).pseudonym(IIN)
    assert redactor.pseudonym(IIN) != RedactIdentifiers(b"x" * 32).pseudonym(IIN)


def test_longer_numbers_and_other_text_are_left_alone() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    record = _record("order LIS-2026-000123 took 1234567890123 us")
    redactor.filter(record)
    assert record.getMessage() == "order LIS-2026-000123 took 1234567890123 us"


def test_iin_in_a_traceback_is_redacted() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    try:
        raise ValueError(f"no patient {IIN}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "gateway", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    redactor.filter(record)
    assert IIN not in (record.exc_text or "")
    assert "ValueError" in record.exc_text
