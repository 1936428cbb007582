"""Full-text search, the pure part: how text is folded into index words and how a typed query
becomes a backend query (PostgreSQL ``to_tsquery('simple', …)``, SQLite FTS5 ``MATCH``).

Folding happens here, in Python, for both backends: case folded, accents removed (NFKD without
combining marks, so ``perché`` and ``perche`` are the same word), everything that is not a letter
or a digit is a separator. The backends then only see plain space-separated words, so the
``simple`` configuration (no stemming, no stop words: Italian and English alike) and FTS5's
``unicode61`` tokenizer split them the same way, and no database extension (``unaccent``) is
needed. Stemming is deliberately left out: an inbox is searched for names, numbers and words
the agent remembers, and prefix matching of the last word covers "as you type".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_BODY_CHARS = 20_000  # one message's indexed text; longer emails are indexed by their start
MAX_WORD_CHARS = 64  # longer runs (base64, hashes) are noise, and PostgreSQL refuses words over 2 KB
MAX_QUERY_WORDS = 8
MIN_PHONE_DIGITS = 6

_WORD = re.compile(r"\w+", re.UNICODE)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")


def fold(text: str) -> str:
    """Lower case, no accents, ``ß`` → ``ss`` (casefold), compatibility forms unified."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The folded words of ``text`` (letters and digits; ``_`` is a separator too)."""
    return [w for part in _WORD.findall(fold(text)) for w in part.split("_") if w and len(w) <= MAX_WORD_CHARS]


def index_body(parts: Iterable[str | None]) -> str:
    """The text stored for the index: folded words separated by spaces, capped in length."""
    out: list[str] = []
    size = 0
    for part in parts:
        if not part:
            continue
        for word in words(part):
            size += len(word) + 1
            if size > MAX_BODY_CHARS:
                return " ".join(out)
            out.append(word)
    return " ".join(out)


def phone_forms(e164: str, national: str | None) -> list[str]:
    """Digits of an E.164 number, and of its national form, so ``333 123`` finds ``+39333123…``."""
    forms = ["".join(ch for ch in e164 if ch.isdigit())]
    if national:
        forms.append("".join(ch for ch in national if ch.isdigit()))
    return forms


@dataclass(frozen=True)
class SearchQuery:
    """Folded words to find (all of them); the last one is a prefix while the user types."""

    terms: tuple[str, ...]
    prefix_last: bool = True

    def __bool__(self) -> bool:
        return bool(self.terms)

    def tsquery(self) -> str:
        """For ``to_tsquery('simple', …)``: words are ``\\w`` only, so nothing needs quoting."""
        parts = list(self.terms)
        if self.prefix_last:
            parts[-1] += ":*"
        return " & ".join(parts)

    def fts5(self) -> str:
        """For FTS5 ``MATCH``: each word a quoted string (no operator can slip in), the last with ``*``."""
        parts = [f'"{term}"' for term in self.terms]
        if self.prefix_last:
            parts[-1] += "*"
        return " ".join(parts)


def parse_query(text: str | None) -> SearchQuery:
    """What the user typed → the words to match. A phone-looking query (``+39 333 123 4567``)
    becomes one run of digits; a trailing space means the last word is complete."""
    raw = (text or "").strip()
    if not raw:
        return SearchQuery(())
    digits = "".join(ch for ch in raw if ch.isdigit())
    if (
        _PHONE_LIKE.match(raw)
        and len(digits) >= MIN_PHONE_DIGITS
        and (" " in raw or "+" in raw or "-" in raw or "." in raw or "(" in raw or "/" in raw)
    ):
        return SearchQuery((digits,), True)
    found = words(raw)[:MAX_QUERY_WORDS]
    complete = (text or "")[-1:].isspace()
    return SearchQuery(tuple(found), prefix_last=not complete)
