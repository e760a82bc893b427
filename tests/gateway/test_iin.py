"""The IIN check-digit rule and birth date / sex, from SOURCES.md's examples and the population."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.iin import birth_date_and_sex, is_valid_iin

# SOURCES.md: valid examples (the second one needs the second weighting pass) and an invalid one.
VALID = ["900101300007", "900101300811", "061211600012"]
INVALID_CHECK_DIGIT = ["900101300008"]


@pytest.mark.parametrize("iin", VALID)
def test_contract_examples_are_valid(iin: str) -> None:
    assert is_valid_iin(iin)


@pytest.mark.parametrize("iin", INVALID_CHECK_DIGIT)
def test_contract_invalid_example_is_rejected(iin: str) -> None:
    assert not is_valid_iin(iin)


def test_second_pass_example_fails_the_first_pass_alone() -> None:
    # First pass for 90010130081: weights 1..11, sum mod 11 must be 10 so the second pass decides.
    digits = [int(c) for c in "90010130081"]
    assert sum(d * w for d, w in zip(digits, range(1, 12), strict=True)) % 11 == 10
    assert is_valid_iin("900101300811")
    assert not is_valid_iin("900101300810")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "90010130000",  # 11 digits
        "9001013000070",  # 13 digits
        "90010130000a",
        " 900101300007",
        "900101300007\n",
        "9001013OOOO7",
        "٩00101300007",  # Arabic-Indic nine: a Unicode digit, not an ASCII one
        "900101-300007",
    ],
)
def test_malformed_values_are_rejected(value: str) -> None:
    assert not is_valid_iin(value)


def test_non_strings_are_rejected() -> None:
    assert not is_valid_iin(900101300007)  # type: ignore[arg-type]
    assert not is_valid_iin(None)  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_at_most_one_check_digit_fits_eleven_digits(first_eleven: str) -> None:
    fitting = [d for d in "0123456789" if is_valid_iin(first_eleven + d)]
    assert len(fitting) <= 1


@pytest.mark.parametrize(
    ("iin", "born", "sex"),
    [
        ("900101300007", date(1990, 1, 1), "MALE"),  # digit 7 = 3: 1900s, odd = male
        ("061211600012", date(2006, 12, 11), "FEMALE"),  # digit 7 = 6: 2000s, even = female
        ("850615100000", date(1885, 6, 15), "MALE"),  # digit 7 = 1: 1800s
        ("850615400000", date(1985, 6, 15), "FEMALE"),
        ("010229500000", None, "MALE"),  # 29 Feb 2001 does not exist
    ],
)
def test_birth_date_and_sex(iin: str, born: date | None, sex: str) -> None:
    assert birth_date_and_sex(iin) == (born, sex)


@pytest.mark.parametrize("iin", ["900101000007", "900101700007", "abc", "90010130000"])
def test_birth_date_and_sex_unknown(iin: str) -> None:
    assert birth_date_and_sex(iin) == (None, None)


def test_population_iins_match_ground_truth(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("emulators.population")
    truth = request.getfixturevalue("ground_truth")
    for iin, person in truth["people"].items():
        assert is_valid_iin(iin), iin
        born, sex = birth_date_and_sex(iin)
        assert born is not None and born.isoformat() == person["identity"]["birthDate"], iin
        assert sex == person["identity"]["sex"], iin
    for iin in truth["edgeCases"]["secondPassIin"]:
        assert is_valid_iin(iin)
    for org in truth["organizations"]:
        assert is_valid_iin(org["bin"]), org["bin"]
