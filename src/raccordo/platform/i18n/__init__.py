"""Translations of every user-visible string, Italian and English.

Catalogs are plain JSON (``en.json``, ``it.json``) keyed by message id, formatted with
``str.format``. A tiny module instead of gettext/Babel because the catalogs must load at
run time with no compile step (no .mo files in the wheel) and be checked by a test for
completeness; Jinja2 pages will use the same ``translate`` function.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "it")
DEFAULT_LANGUAGE = "en"


@cache
def catalog(language: str) -> dict[str, str]:
    """``{language}.json`` plus one fragment per product area in ``{language}/*.json``.

    Fragments keep each area's strings together (and let areas be added without touching one
    big file); a key defined twice is an error, not a silent override.
    """
    folder = Path(__file__).parent
    merged: dict[str, str] = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
    for fragment in sorted((folder / language).glob("*.json")):
        for key, value in json.loads(fragment.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"translation key {key!r} is defined twice ({fragment.name})")
            merged[key] = value
    return merged


def pick_language(accept_language: str | None, preferred: str | None = None) -> str:
    """The user's own setting wins, then the first supported Accept-Language entry."""
    if preferred in LANGUAGES:
        return preferred
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


class _Missing(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(key: str, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    template = (
        catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE).get(key)
        or catalog(DEFAULT_LANGUAGE).get(key)
        or key
    )
    return template.format_map(_Missing(params))
