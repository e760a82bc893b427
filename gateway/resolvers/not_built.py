"""The error for a contract field whose feature is not built yet: said plainly, never faked."""

from __future__ import annotations

from gateway.errors import GatewayError


class NotAvailableYet(GatewayError):
    """A field of the contract that has no implementation yet."""

    code = "NOT_IMPLEMENTED"
    default_message = "not available yet"
