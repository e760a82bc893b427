"""Stats input and scoping: periods, ICD-10 categories, regions, roles (no source is asked)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from gateway.auth.principal import Principal, Role
from gateway.errors import BadUserInput, Forbidden
from gateway.language import words_for
from gateway.resolvers.periods import MAX_MONTHS, managers_months
from gateway.resolvers.stats import check_icd10_category, region_label, scope
from gateway.schema.stats import Stats, open_stats

REGIONS = ("astana", "almaty", "shymkent")


def context(role: Role, region: str | None = None) -> SimpleNamespace:
    """Just what scoping reads: the principal and the configured EHR regions."""
    return SimpleNamespace(
        principal=Principal(subject="s", role=role, region=region),
        services=SimpleNamespace(sources=SimpleNamespace(regions=REGIONS)),
    )


TODAY = date(2026, 12, 3)


def test_periods_are_whole_months() -> None:
    assert managers_months(date(2026, 1, 1), date(2026, 1, 31), TODAY) == (date(2026, 1, 1),)
    assert managers_months(date(2025, 11, 1), date(2026, 2, 28), TODAY) == (
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    )
    assert managers_months(date(2024, 2, 1), date(2024, 2, 29), TODAY) == (
        date(2024, 2, 1),
    )  # leap
    longest = managers_months(date(2023, 12, 1), date(2026, 11, 30), TODAY)
    assert len(longest) == MAX_MONTHS == 36


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 2, 1), date(2026, 1, 31)),  # from after to
        (date(2024, 1, 1), date(2027, 1, 31)),  # 37 months
        (date(1990, 1, 1), date(2026, 1, 31)),
        (date(2026, 6, 1), date(2026, 11, 19)),  # the differencing hole: a day short
        (date(2026, 6, 1), date(2026, 11, 20)),
        (date(2026, 6, 2), date(2026, 6, 30)),  # not from the first day
        (date(2026, 1, 1), date(2026, 1, 1)),  # one day
        (date(2026, 12, 1), date(2026, 12, 31)),  # the current month is not over
        (date(2026, 11, 1), date(2027, 1, 31)),  # nor is the future
    ],
)
def test_other_periods_are_bad_user_input(start: date, end: date) -> None:
    with pytest.raises(BadUserInput):
        managers_months(start, end, TODAY)


def test_the_refusal_says_what_a_period_must_be() -> None:
    with pytest.raises(BadUserInput, match="whole calendar months"):
        managers_months(date(2026, 6, 1), date(2026, 11, 19), TODAY)
    assert managers_months(date(2025, 2, 1), date(2025, 2, 28), TODAY) == (date(2025, 2, 1),)


@pytest.mark.parametrize(("given", "category"), [("E11", "E11"), (" i10 ", "I10"), ("Z34", "Z34")])
def test_icd10_categories(given: str, category: str) -> None:
    assert check_icd10_category(given) == category


@pytest.mark.parametrize(
    "given",
    ["", "E1", "E111", "11E", "E11.9", "E11.", "EE1", "E1A", "E11%", "E11|x", "Е11", "E11,I10"],
)
def test_bad_icd10_is_bad_user_input(given: str) -> None:
    # Subcodes too: E11 minus E11.9 would publish an unsuppressed difference.
    with pytest.raises(BadUserInput):
        check_icd10_category(given)


def test_national_manager_sees_all_or_filters_by_a_known_region() -> None:
    assert scope(context(Role.MANAGER), None) is None
    assert scope(context(Role.MANAGER), "almaty") == "almaty"


def test_regional_manager_is_held_to_the_region() -> None:
    ctx = context(Role.MANAGER, region="astana")
    assert scope(ctx, None) == "astana"
    assert scope(ctx, "astana") == "astana"
    with pytest.raises(Forbidden):
        scope(ctx, "almaty")


def test_unknown_region_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput):
        scope(context(Role.MANAGER), "karaganda")
    with pytest.raises(BadUserInput):
        scope(context(Role.MANAGER), "")


@pytest.mark.parametrize("role", [Role.PATIENT, Role.EMERGENCY, Role.NURSE, Role.DOCTOR])
def test_only_managers_open_stats(role: Role) -> None:
    with pytest.raises(Forbidden):
        open_stats(context(role))  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        scope(context(role), None)


def test_manager_opens_stats() -> None:
    ctx = context(Role.MANAGER, region="shymkent")
    stats = open_stats(ctx)  # type: ignore[arg-type]
    assert isinstance(stats, Stats)
    assert stats.context is ctx


def test_region_labels() -> None:
    english, russian, kazakh = (words_for(language) for language in ("en", "ru", "kk"))
    assert region_label("astana", english) == "Astana"
    assert region_label("north-kazakhstan", english) == "North Kazakhstan Region"
    assert region_label("north-kazakhstan", russian) == "Северо-Казахстанская область"
    assert region_label("north-kazakhstan", kazakh) == "Солтүстік Қазақстан облысы"
    # A region code the label table lacks is made readable, in every language.
    assert region_label("lake-balkhash_coast", kazakh) == "Lake Balkhash Coast"
