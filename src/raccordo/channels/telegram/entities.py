"""A Telegram message's ``entities`` (bold, italic, links...) rendered as HTML. Pure.

Entities are ranges of the text measured in UTF-16 code units (https://core.telegram.org/bots/api#messageentity):
an emoji outside the Basic Multilingual Plane counts two, so the text is sliced as UTF-16, never as
Python characters. Entities nest but do not overlap partially; a range that overlaps anyway is
clipped to its parent. Every piece of text is escaped, only the tags below are written, and a
link keeps its URL only for http(s), mailto and tg schemes; the record sanitizes the HTML again
when it stores it.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlparse

_TAGS = {
    "bold": "strong",
    "italic": "em",
    "underline": "u",
    "strikethrough": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
}
_LINK_SCHEMES = ("http", "https", "mailto", "tg")


def _safe_url(url: str) -> str | None:
    scheme = urlparse(url.strip()).scheme.lower()
    if scheme in _LINK_SCHEMES:
        return url.strip()
    if not scheme and url.strip():
        return f"https://{url.strip()}"  # "example.com" as Telegram shows it: a link
    return None


def _ranges(entities: list[dict[str, Any]], total: int) -> list[tuple[int, int, dict[str, Any]]]:
    found = []
    for entity in entities:
        try:
            start, length = int(entity["offset"]), int(entity["length"])
        except (KeyError, TypeError, ValueError):
            continue
        end = min(start + length, total)
        if 0 <= start < end:
            found.append((start, end, entity))
    # Outer ranges first: by start, then the longest.
    return sorted(found, key=lambda r: (r[0], -(r[1] - r[0])))


def render_html(text: str, entities: list[dict[str, Any]] | None) -> str | None:
    """The text with its formatting as HTML, or None when it has no entity that formats or links."""
    if not text or not entities:
        return None
    units = text.encode("utf-16-le")
    total = len(units) // 2
    ranges = _ranges([e for e in entities if isinstance(e, dict)], total)
    if not any(e.get("type") in _TAGS or e.get("type") in ("text_link", "url") for _, _, e in ranges):
        return None

    def piece(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le", errors="replace")

    def render(start: int, end: int, inner: list[tuple[int, int, dict[str, Any]]]) -> str:
        out: list[str] = []
        position = start
        index = 0
        while index < len(inner):
            child_start, child_end, entity = inner[index]
            child_start, child_end = max(child_start, position), min(child_end, end)
            # The children of this range: those inside it, in order.
            nested = []
            index += 1
            while index < len(inner) and inner[index][0] < child_end:
                nested.append(inner[index])
                index += 1
            if child_start >= child_end:
                continue
            out.append(html.escape(piece(position, child_start)))
            out.append(_wrap(entity, piece(child_start, child_end), render(child_start, child_end, nested)))
            position = child_end
        out.append(html.escape(piece(position, end)))
        return "".join(out)

    return render(0, total, ranges)


def _wrap(entity: dict[str, Any], plain: str, inner: str) -> str:
    kind = entity.get("type")
    if kind in _TAGS:
        tag = _TAGS[str(kind)]
        return f"<{tag}>{inner}</{tag}>"
    if kind in ("text_link", "url"):
        url = _safe_url(str(entity.get("url") or "") if kind == "text_link" else plain)
        if url is not None:
            return f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{inner}</a>'
    return inner
