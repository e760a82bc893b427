"""Logging that never carries an IIN in clear (ACCESS.md): 12-digit numbers become keyed hashes.

The filter sits on the handlers, so it also covers libraries that log URLs with an IIN in
the path (httpx logs every request at INFO).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


class RedactIdentifiers(logging.Filter):
    """Replace every 12-digit number (IIN or BIN) in a record with ``iin#<keyed hash>``."""

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self._key = key

    def pseudonym(self, number: str) -> str:
        """The stable keyed pseudonym of one number, so log lines can still be correlated."""
        digest = hmac.new(self._key, number.encode(), hashlib.sha256).hexdigest()[:12]
        return f"iin#{digest}"

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drops a record."""
        message = record.getMessage()
        redacted = _TWELVE_DIGITS.sub(lambda m: self.pseudonym(m.group()), message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = _TWELVE_DIGITS.sub(
                lambda m: self.pseudonym(m.group()),
                logging.Formatter().formatException(record.exc_info),
            )
        return True


def configure_logging(level: str = "INFO", key: bytes | None = None) -> RedactIdentifiers:
    """Log to stderr through the redacting filter; returns the filter (tests reuse it)."""
    redactor = RedactIdentifiers(key or secrets.token_bytes(32))
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx's request lines are useful at DEBUG only; they repeat every upstream URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
