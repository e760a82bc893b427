"""The IIN (and BIN) check-digit rule and what the digits say (SOURCES.md)."""

from __future__ import annotations

import re
from datetime import date

_TWELVE_DIGITS = re.compile(r"[0-9]{12}")
_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
# Digit 7: century and sex; odd = male, even = female.
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def check_digit(first_eleven: str) -> int | None:
    """The check digit for eleven digits, or None when both passes give 10 (no valid number)."""
    digits = [int(c) for c in first_eleven]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if remainder != 10:
            return remainder
    return None


def is_valid_iin(value: str) -> bool:
    """True when `value` is 12 ASCII digits with a valid check digit (also used for BIN)."""
    if not isinstance(value, str) or not _TWELVE_DIGITS.fullmatch(value):
        return False
    expected = check_digit(value[:11])
    return expected is not None and expected == int(value[11])


def birth_date_and_sex(iin: str) -> tuple[date | None, str | None]:
    """Birth date and sex ("MALE"/"FEMALE") encoded in an IIN; None for what it does not say."""
    if not isinstance(iin, str) or not _TWELVE_DIGITS.fullmatch(iin):
        return None, None
    century = _CENTURY.get(iin[6])
    if century is None:
        return None, None
    sex = "MALE" if int(iin[6]) % 2 == 1 else "FEMALE"
    try:
        born = date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        born = None
    return born, sex
