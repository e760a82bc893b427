"""Logging that never carries an IIN in clear (ACCESS.md): 12-digit numbers become keyed hashes.

The filter sits on the handlers, so it also covers libraries that log URLs with an IIN in
the path (httpx logs every request at INFO). Every line carries the request id and, when
tracing is on, the trace and span ids; lines are JSON objects (`[telemetry] log_format`) or
text for a terminal.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson
from opentelemetry import trace

_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")
# Set by the edge for each request; log lines made while serving it carry it.
REQUEST_ID: ContextVar[str | None] = ContextVar("ehp_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s]: %(message)s"


def carries_identifier(text: str) -> bool:
    """Whether ``text`` holds a 12-digit number (an IIN or a BIN)."""
    return _TWELVE_DIGITS.search(text) is not None


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


class RequestFields(logging.Filter):
    """Put the request id and the current trace and span ids on every record ("-" if none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        record.request_id = REQUEST_ID.get() or "-"
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        else:
            record.trace_id = record.span_id = "-"
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line, with a fixed set of fields: the redacted message and
    exception, never a record's other attributes (nothing reaches a line unredacted)."""

    def format(self, record: logging.LogRecord) -> str:
        """The line of one record (run after ``RedactIdentifiers`` and ``RequestFields``)."""
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "trace_id", "span_id"):
            value = getattr(record, name, "-")
            if value != "-":
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()


def configure_logging(
    level: str = "INFO", key: bytes | None = None, log_format: str = "text"
) -> RedactIdentifiers:
    """Log to stderr through the redacting filter, as ``"json"`` lines or ``"text"``;
    returns the filter (tests reuse it)."""
    redactor = RedactIdentifiers(key or secrets.token_bytes(32))
    handler = logging.StreamHandler()
    formatter = JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(redactor)
    handler.addFilter(RequestFields())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx's request lines are useful at DEBUG only; they repeat every upstream URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
