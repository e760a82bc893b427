"""Source failures as values: ``SourceError(source, kind, detail)``, never bare exceptions.

Details are short and safe to log: no credentials, no upstream URLs, no IINs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import orjson
from authlib.common.errors import AuthlibBaseError

TIMEOUT = "timeout"
CONNECT = "connect"
UNAUTHORIZED = "unauthorized"
BAD_RESPONSE = "bad_response"
RATE_LIMITED = "rate_limited"
TOO_LARGE = "too_large"

_TWELVE_DIGITS = re.compile(r"\d{12}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_MAX_DETAIL = 200


class SourceError(Exception):
    """A source system failed: ``kind`` is timeout, connect, http_<status>, unauthorized,
    bad_response, rate_limited or too_large."""

    def __init__(
        self, source: str, kind: str, detail: str = "", retry_after_s: float | None = None
    ) -> None:
        self.source = source
        self.kind = kind
        self.detail = redact(detail)
        self.retry_after_s = retry_after_s
        super().__init__(f"{source}: {kind}" + (f": {self.detail}" if self.detail else ""))

    def __repr__(self) -> str:
        return f"SourceError({self.source!r}, {self.kind!r}, {self.detail!r})"


def http_kind(status: int) -> str:
    """The error kind of an HTTP status."""
    return f"http_{status}"


def redact(text: str) -> str:
    """Strip what must never be logged from upstream text: URLs and 12-digit numbers."""
    text = _URL.sub("<url>", text)
    text = _TWELVE_DIGITS.sub("<id>", text)
    return text[:_MAX_DETAIL]


def retry_after_seconds(value: str | None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _body_detail(body: bytes) -> str:
    """A short reason from an error body: OperationOutcome, {"code"}, {"error"} or nothing."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
    if data.get("resourceType") == "OperationOutcome":
        return operation_outcome_detail(data)
    for key in ("code", "error"):
        if isinstance(data.get(key), str):
            return data[key]
    return ""


def operation_outcome_detail(outcome: dict) -> str:
    """Summarise the first issue of a FHIR OperationOutcome."""
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues or not isinstance(issues[0], dict):
        return "OperationOutcome"
    issue = issues[0]
    parts = [str(issue.get(k)) for k in ("severity", "code") if issue.get(k)]
    text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
    if isinstance(text, str):
        parts.append(text)
    return " ".join(parts) or "OperationOutcome"


def error_for_status(
    source: str, status: int, headers: httpx.Headers, body: bytes
) -> SourceError | None:
    """The SourceError an HTTP answer stands for, or None when it is a success (2xx)."""
    if 200 <= status < 300:
        return None
    detail = _body_detail(body)
    if status in (401, 403):
        return SourceError(source, UNAUTHORIZED, detail or f"HTTP {status}")
    if status == 429:
        return SourceError(
            source, RATE_LIMITED, detail, retry_after_seconds(headers.get("retry-after"))
        )
    if status == 413:
        return SourceError(source, TOO_LARGE, detail or "HTTP 413")
    return SourceError(source, http_kind(status), detail)


def error_from_exception(source: str, exc: BaseException) -> SourceError:
    """Turn an httpx (or parsing) exception into a SourceError with a safe detail."""
    if isinstance(exc, SourceError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return SourceError(source, TIMEOUT, name)
    if isinstance(exc, httpx.NetworkError | httpx.ProxyError | httpx.UnsupportedProtocol):
        return SourceError(source, CONNECT, name)
    if isinstance(exc, httpx.TooManyRedirects):
        return SourceError(source, BAD_RESPONSE, name)
    if isinstance(exc, httpx.HTTPStatusError):
        found = error_for_status(source, exc.response.status_code, exc.response.headers, b"")
        return found or SourceError(source, BAD_RESPONSE, name)
    if isinstance(exc, httpx.HTTPError):  # protocol and decoding errors
        return SourceError(source, BAD_RESPONSE, name)
    if isinstance(exc, AuthlibBaseError):  # token endpoint refused us, or no token
        return SourceError(source, UNAUTHORIZED, name)
    # Anything else raised while reading an answer means the answer was not what the
    # contract promises (missing keys, wrong types, malformed numbers or XML).
    return SourceError(source, BAD_RESPONSE, name)


@contextlib.contextmanager
def source_errors(source: str) -> Iterator[None]:
    """Let only SourceError out of the block; everything else is translated."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:
        # `from None`: the original may carry URLs with IINs; keep it out of tracebacks.
        raise error_from_exception(source, exc) from None
