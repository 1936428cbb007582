"""``@name`` mentions in internal notes: which users a note names. Pure.

A user is mentioned by ``@`` followed by their full name, their email's local part, or their first
name when no other user shares it; case and accents as written, the match must end at a word
boundary (``@mario`` does not mention "Mariolina")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable


def _candidates(name: str, email: str) -> list[str]:
    full = " ".join(name.split())
    return [c for c in (full, email.split("@", 1)[0]) if c]


def find_mentions(text: str, users: Iterable[tuple[int, str, str]]) -> list[int]:
    """The ids of the users (``(id, name, email)``) that ``text`` mentions, in id order."""
    if "@" not in text:
        return []
    people = list(users)
    firsts = Counter(name.split()[0].lower() for _, name, _ in people if name.split())
    found: set[int] = set()
    for user_id, name, email in people:
        names = _candidates(name, email)
        first = name.split()[0] if name.split() else ""
        if first and firsts[first.lower()] == 1:
            names.append(first)
        for candidate in sorted(set(names), key=len, reverse=True):
            if re.search(r"(?<![\w@])@" + re.escape(candidate) + r"(?![\w])", text, flags=re.IGNORECASE):
                found.add(user_id)
                break
    return sorted(found)
