"""People's names: Kazakh and Russian forms, patronymics, Kazakh-specific letters, birth cohorts."""

from __future__ import annotations

import random

from emulators import population_data as D

INVARIANT_ENDINGS = ("ұлы", "қызы")


def _with_letters(pools: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(n for pool in pools.values() for n in pool if D.KAZAKH_LETTERS & set(n))


KAZAKH_LETTER_GIVEN = {
    True: _with_letters(D.KAZAKH_MALE_BY_COHORT),
    False: _with_letters(D.KAZAKH_FEMALE_BY_COHORT),
}
FATHER_AGE = 28  # a father's name is drawn from the cohort born this many years earlier


def make_name(
    rng: random.Random, male: bool, kazakh_letters: bool, birth_year: int
) -> tuple[str, str, str | None]:
    """A (family, given, patronymic) in Kazakh or Russian form; the given name of its cohort."""
    father_year = birth_year - FATHER_AGE
    if kazakh_letters or rng.random() < 0.72:
        kazakh_form = kazakh_letters or rng.random() < 0.5
        pools = D.KAZAKH_MALE_BY_COHORT if male else D.KAZAKH_FEMALE_BY_COHORT
        own = D.cohort_pool(pools, birth_year)
        if kazakh_letters:
            # Some cohort name with a Kazakh letter; the cohort's own when it has one.
            own = tuple(n for n in own if D.KAZAKH_LETTERS & set(n)) or KAZAKH_LETTER_GIVEN[male]
        given = rng.choice(own)
        family = rng.choice(D.KAZAKH_FAMILY)
        if not male:
            family += "а"
        father = rng.choice(D.cohort_pool(D.KAZAKH_MALE_BY_COHORT, father_year))
        patronymic = kazakh_patronymic(father, male, kazakh_form)
        if not kazakh_form:
            family, given = family.translate(D.RUSSIFY), given.translate(D.RUSSIFY)
    else:
        father = rng.choice(D.cohort_pool(D.RUSSIAN_MALE_BY_COHORT, father_year))
        pools = D.RUSSIAN_MALE_BY_COHORT if male else D.RUSSIAN_FEMALE_BY_COHORT
        given = rng.choice(D.cohort_pool(pools, birth_year))
        family = rng.choice(D.RUSSIAN_FAMILY)
        if not male and family not in D.INVARIANT_FAMILY:
            family += "а"
        patronymic = D.RUSSIAN_PATRONYMIC[father][0 if male else 1]
    if not kazakh_letters and rng.random() < 0.07:
        return family, given, None
    return family, given, patronymic


def kazakh_patronymic(father: str, male: bool, kazakh_form: bool) -> str:
    """A patronymic from a Kazakh father's name: Нұрланұлы / Нурланович."""
    if kazakh_form:
        return father + ("ұлы" if male else "қызы")
    return father.translate(D.RUSSIFY) + ("ович" if male else "овна")


def patronymic_from(father: str, male: bool, like: str) -> str:
    """A child's patronymic from the father's given name, in the form of ``like`` (ұлы or -вич)."""
    if father in D.RUSSIAN_PATRONYMIC:
        return D.RUSSIAN_PATRONYMIC[father][0 if male else 1]
    return kazakh_patronymic(father, male, like.endswith(INVARIANT_ENDINGS))


def family_for(family: str, male: bool) -> str:
    """A family name in the form for a man or a woman (Ахметов / Ахметова; Ким stays)."""
    if family in D.INVARIANT_FAMILY:
        return family
    stem = family[:-1] if family.endswith(("ова", "ева", "ина")) else family
    return stem if male else stem + "а"
