"""Kazakhstan's 12-digit IIN / BIN numbers as the emulators generate them (SOURCES.md).

The check digit is the weighted sum of the first 11 digits mod 11 (weights 1..11);
when that is 10 a second pass with weights 3..11,1,2 is used; 10 again = no valid number.
"""

from __future__ import annotations

from datetime import date

FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def check_digit(first11: str) -> tuple[int | None, bool]:
    """Return (check digit, or None when no valid number exists; whether pass two was used)."""
    digits = [ord(c) - 48 for c in first11]
    first = sum(w * d for w, d in zip(FIRST_WEIGHTS, digits, strict=True)) % 11
    if first != 10:
        return first, False
    second = sum(w * d for w, d in zip(SECOND_WEIGHTS, digits, strict=True)) % 11
    return (None, True) if second == 10 else (second, True)


def is_valid(number: str) -> bool:
    """Whether a 12-digit IIN or BIN carries a correct check digit."""
    if len(number) != 12 or not number.isdigit():
        return False
    digit, _ = check_digit(number[:11])
    return digit is not None and digit == int(number[11])


def century_sex_digit(birth: date, male: bool) -> int:
    """Digit 7 of an IIN: 1/2 for the 1800s, 3/4 for the 1900s, 5/6 for the 2000s; odd = male."""
    base = {18: 1, 19: 3, 20: 5}[birth.year // 100]
    return base if male else base + 1


def iin_prefix(birth: date, male: bool) -> str:
    """The first 7 digits of an IIN: YYMMDD and the century/sex digit."""
    return f"{birth:%y%m%d}{century_sex_digit(birth, male)}"


def make_number(first11: str) -> tuple[str | None, bool]:
    """Complete 11 digits into a 12-digit number; (None, _) when no check digit is valid."""
    digit, second_pass = check_digit(first11)
    if digit is None:
        return None, second_pass
    return f"{first11}{digit}", second_pass


def bin_prefix(registered: date, entity_type: int = 4, attribute: int = 0) -> str:
    """The first 6 digits of a BIN: YYMM registered, legal-entity type, head/branch flag."""
    return f"{registered:%y%m}{entity_type}{attribute}"
