"""Which of the gateway's languages a request prefers (RFC 9110 ``Accept-Language``)."""

from __future__ import annotations

LANGUAGES = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "kk"  # CONFIG.md [app] default_language; the demo's too


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The offered language the header prefers most (q-values; earlier items win ties);
    ``default`` when it names none of them."""
    best, best_q = default if default in LANGUAGES else DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = _quality(parameters)
        score = quality - position * 1e-6
        if primary in LANGUAGES and quality > 0 and score > best_q:
            best, best_q = primary, score
    return best


def _quality(parameters: str) -> float:
    """The q-value of one Accept-Language item (1 when absent, 0 when malformed)."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
