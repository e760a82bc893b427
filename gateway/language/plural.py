"""CLDR plural categories of a count, for the gateway's three languages.

Unicode CLDR plural rules (https://www.unicode.org/cldr/charts/latest/supplemental/
language_plural_rules.html): Russian has one/few/many for whole numbers and other for
fractions; Kazakh and English have one/other.
"""

from __future__ import annotations


def plural_category(language: str, count: float) -> str:
    """The CLDR category of ``count`` in ``language``: one, few, many or other."""
    whole = float(count).is_integer()
    if language == "ru":
        if not whole:
            return "other"
        n = abs(int(count))
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if whole and abs(count) == 1 else "other"
