"""Errors as values with the codes of ACCESS.md, turned into GraphQL errors in one place.

A message is an English template and its values: each face says it in the request's language
(``gateway.language`` looks translations up by the template), and ``message`` is the English.
"""

from __future__ import annotations

from typing import ClassVar

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
RESTRICTED_BY_PATIENT = "RESTRICTED_BY_PATIENT"
BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
RATE_LIMITED = "RATE_LIMITED"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
INTERNAL = "INTERNAL"

ERROR_CODES = frozenset(
    {
        UNAUTHENTICATED,
        FORBIDDEN,
        RESTRICTED_BY_PATIENT,
        BAD_USER_INPUT,
        NOT_FOUND,
        SOURCE_UNAVAILABLE,
        QUERY_TOO_COMPLEX,
        RATE_LIMITED,
        PERSISTED_QUERY_NOT_FOUND,
        INTERNAL,
    }
)


class GatewayError(Exception):
    """An error the caller may see: a code from ACCESS.md and a message safe to send."""

    code: ClassVar[str] = INTERNAL
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, **values: object) -> None:
        # `message` is a literal English template (never built with an f-string: it is the
        # key of its translations); `values` fill its placeholders.
        self.template = message or self.default_message
        self.values = values
        self.message = self.template.format(**values) if values else self.template
        super().__init__(self.message)

    @property
    def extensions(self) -> dict[str, str]:
        """The GraphQL `extensions` of this error."""
        return {"code": self.code}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Unauthenticated(GatewayError):
    """No token, or one that does not verify (HTTP 401)."""

    code = UNAUTHENTICATED
    default_message = "authentication required"


class Forbidden(GatewayError):
    """The principal's role or relationship does not allow this read."""

    code = FORBIDDEN
    default_message = "not allowed"


class RestrictedByPatient(GatewayError):
    """The patient has hidden this section from nurses and doctors."""

    code = RESTRICTED_BY_PATIENT
    default_message = "restricted by the patient"


class BadUserInput(GatewayError):
    """An argument is invalid: IIN, break-glass reason, dates, region."""

    code = BAD_USER_INPUT
    default_message = "invalid input"


class NotFound(GatewayError):
    """No such person in the register."""

    code = NOT_FOUND
    default_message = "not found"


class SourceUnavailable(GatewayError):
    """A source system failed or timed out and no cached copy may be served."""

    code = SOURCE_UNAVAILABLE

    def __init__(self, source: str, reason: str) -> None:
        # `reason` is a short word ("timeout", "http 503"), never an upstream URL or body.
        self.source = source
        self.reason = reason
        super().__init__("source {source} unavailable: {reason}", source=source, reason=reason)


class QueryTooComplex(GatewayError):
    """The query exceeds a depth, alias, token or cost limit."""

    code = QUERY_TOO_COMPLEX
    default_message = "query too complex"


class RateLimited(GatewayError):
    """A rate or distinct-patient limit of the caller is exhausted (HTTP 429, Retry-After)."""

    code = RATE_LIMITED

    def __init__(self, message: str, retry_after_s: int, **values: object) -> None:
        self.retry_after_s = retry_after_s  # whole seconds until the limit lets one more in
        super().__init__(message, **values)


class PersistedQueryNotFound(GatewayError):
    """Trusted documents are required and the request names none the gateway knows."""

    code = PERSISTED_QUERY_NOT_FOUND
    # Apollo's message: its clients recognise it (and would retry with the full text).
    default_message = "PersistedQueryNotFound"


class Internal(GatewayError):
    """Anything else; the details go to the log, never to the caller."""

    code = INTERNAL
    default_message = "internal error"
