"""People's names: Kazakh and Russian forms, patronymics, Kazakh-specific letters."""

from __future__ import annotations

import random

from emulators import population_data as D

KAZAKH_LETTER_GIVEN = {
    True: tuple(n for n in D.KAZAKH_MALE if D.KAZAKH_LETTERS & set(n)),
    False: tuple(n for n in D.KAZAKH_FEMALE if D.KAZAKH_LETTERS & set(n)),
}


def make_name(rng: random.Random, male: bool, kazakh_letters: bool) -> tuple[str, str, str | None]:
    """A (family, given, patronymic) name in Kazakh or Russian form; patronymic sometimes absent."""
    if kazakh_letters or rng.random() < 0.72:
        kazakh_form = kazakh_letters or rng.random() < 0.5
        pool = (
            KAZAKH_LETTER_GIVEN[male]
            if kazakh_letters
            else (D.KAZAKH_MALE if male else D.KAZAKH_FEMALE)
        )
        given = rng.choice(pool)
        family = rng.choice(D.KAZAKH_FAMILY)
        if not male:
            family += "а"
        father = rng.choice(D.KAZAKH_MALE)
        if kazakh_form:
            patronymic = father + ("ұлы" if male else "қызы")
        else:
            patronymic = father.translate(D.RUSSIFY) + ("ович" if male else "овна")
            family, given = family.translate(D.RUSSIFY), given.translate(D.RUSSIFY)
    else:
        _, patronymic_male, patronymic_female = rng.choice(D.RUSSIAN_MALE)
        given = rng.choice(D.RUSSIAN_MALE)[0] if male else rng.choice(D.RUSSIAN_FEMALE)
        family = rng.choice(D.RUSSIAN_FAMILY)
        if not male and family not in D.INVARIANT_FAMILY:
            family += "а"
        patronymic = patronymic_male if male else patronymic_female
    if not kazakh_letters and rng.random() < 0.07:
        return family, given, None
    return family, given, patronymic
