"""Custom scalars of the contract beyond strawberry's built-in Date, DateTime and Decimal."""

from __future__ import annotations

from typing import NewType

import strawberry

from gateway.errors import BadUserInput
from gateway.iin import is_valid_iin


def parse_iin(value: object) -> str:
    """Accept a 12-digit IIN with a valid check digit, or raise BAD_USER_INPUT."""
    if not isinstance(value, str) or not is_valid_iin(value):
        raise BadUserInput("IIN must be 12 digits with a valid check digit")
    return value


IIN = NewType("IIN", str)

IIN_SCALAR = strawberry.scalar(
    name="IIN",
    description=(
        "Individual identification number: 12 digits with a valid check digit. Anything else "
        "is rejected with BAD_USER_INPUT before any source is asked."
    ),
    serialize=str,
    parse_value=parse_iin,
)
