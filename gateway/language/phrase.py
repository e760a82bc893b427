"""Words whose language is chosen later: an English template with its values.

The clinical rules and the errors say what they mean as a ``Phrase`` (the English template is
its identity, as in gettext); the shaping of an answer says it in the reader's language
(``Words.say``). A value may itself be a ``Phrase``, a ``Term`` (a code said by its display),
or a tuple of them (said comma-separated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from string import Formatter


@dataclass(frozen=True, slots=True)
class Term:
    """A coded concept, said by its display in the reader's language (else ``fallback``)."""

    system: str
    code: str
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words to be said in the reader's language: an English template and its values."""

    template: str
    values: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, template: str, **values: object) -> Phrase:
        """The phrase of ``template`` with ``values`` for its placeholders."""
        return cls(template, tuple(values.items()))

    def __str__(self) -> str:
        return self.english()

    def english(self) -> str:
        """The phrase in English, its own template (terms by their fallback display)."""
        return self.render(lambda template, values: template, lambda term: None)

    def render(
        self,
        template_of: Callable[[str, dict[str, object]], str],
        display_of: Callable[[Term], str | None],
    ) -> str:
        """The phrase said with ``template_of`` (the template to use for these values) and
        ``display_of`` (a term's display), values said the same way first."""
        values = {name: _said(value, template_of, display_of) for name, value in self.values}
        return template_of(self.template, values).format_map(values)


def placeholders(template: str) -> frozenset[str]:
    """The names a template fills in (``{cap:g}`` names ``cap``)."""
    return frozenset(name for _, name, _, _ in Formatter().parse(template) if name)


def _said(
    value: object,
    template_of: Callable[[str, dict[str, object]], str],
    display_of: Callable[[Term], str | None],
) -> object:
    if isinstance(value, Phrase):
        return value.render(template_of, display_of)
    if isinstance(value, Term):
        return display_of(value) or value.fallback or value.code
    if isinstance(value, tuple | list):  # several said one after another, comma-separated
        return ", ".join(str(_said(item, template_of, display_of)) for item in value)
    return value
