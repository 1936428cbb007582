"""Quoted history and signatures in Italian and English mail clients (Gmail, Outlook, Apple Mail,
Thunderbird), split from the new text, with no I/O: ``email-reply-parser`` is unmaintained since
2020, handles only English plain text and drops what it removes, while we keep both parts. Every
pattern is linear on its input (hostile mail is in the tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUOTE_HEADERS = [
    re.compile(
        r"^\s*(On|Il giorno|Il|Le|Am|El|Em|Op)\s.{4,300}"
        r"(wrote|ha scritto|a écrit|schrieb|escribió|escreveu|schreef)\s*:\s*$",
        re.I,
    ),
    re.compile(
        r"^\s*-{2,}\s*(Original Message|Messaggio originale|Forwarded message|Messaggio inoltrato"
        r"|Ursprüngliche Nachricht)\s*-{2,}\s*$",
        re.I,
    ),
    re.compile(r"^\s*_{20,}\s*$"),
    re.compile(r"^\s*(From|Da|De|Von)\s*:\s*.+$", re.I),
]
_SIGNATURE_LINES = re.compile(
    r"^\s*(sent from my|inviato da(l mio)? (iphone|ipad|android|samsung|outlook|smartphone)"
    r"|get outlook for|scarica outlook per|envoyé de mon)",
    re.I,
)


@dataclass(frozen=True)
class SplitText:
    main: str
    quoted: str
    signature: str


def split_reply(text: str) -> SplitText:
    """Split a plain-text reply into what the customer wrote now, their signature, and the quoted history."""
    lines = text.replace("\r\n", "\n").split("\n")
    quote_at = len(lines)
    # Where the '>' lines that run (with blank lines) to the end begin: found once, so the loop stays linear.
    quoted_tail = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith(">"):
            break
        if stripped:
            quoted_tail = index
    for index, line in enumerate(lines):
        two = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if _QUOTE_HEADERS[3].match(line):
            # An Outlook header block: From:, then Sent:/Date:/Inviato: within the next lines.
            following = "\n".join(lines[index + 1 : index + 4])
            if re.search(r"(?im)^\s*(Sent|Date|Inviato|Data|Envoyé|Gesendet)\s*:", following):
                quote_at = index
                break
            continue
        if any(p.match(line) for p in _QUOTE_HEADERS[:3]) or (
            _QUOTE_HEADERS[0].match(two) and not line.startswith(">")
        ):
            quote_at = index
            break
        if line.startswith(">") and index >= quoted_tail:
            # A block of '>' lines that runs (with blank lines) to the end is the quoted history.
            quote_at = index
            break
    head, quoted = lines[:quote_at], lines[quote_at:]
    signature_at = len(head)
    for index, line in enumerate(head):
        if line.rstrip() in ("--", "-- ") or _SIGNATURE_LINES.match(line):
            signature_at = index
            break
    main = "\n".join(head[:signature_at]).strip()
    signature = "\n".join(head[signature_at:]).strip()
    return SplitText(main, "\n".join(quoted).strip(), signature)


# Matched against one opening tag at a time (at most _MAX_TAG characters), never across the document.
_HTML_QUOTE_MARKERS = re.compile(
    r"<(div|blockquote)[^>]*\b(class|id|type|name)\s*=\s*[\"']?(gmail_quote|divRplyFwdMsg|moz-cite-prefix|appendonsend|yahoo_quoted|cite|messageReplySection|OutlookMessageHeader|x_divRplyFwdMsg|protonmail_quote|zmail_extra)\b"
    r"|<hr[^>]*\bid\s*=\s*[\"']?stopSpelling"
    r"|<div[^>]*style\s*=\s*[\"'][^\"']*border-top:\s*solid\s*#(E1E1E1|B5C4DF)",
    re.I,
)
_HTML_QUOTE_TAG = re.compile(r"<(?:div|blockquote|hr)\b", re.I)
_MAX_TAG = 2000


def split_html_reply(html: str) -> tuple[str, str] | None:
    """Raw (unsanitized) HTML split at the first quoted-history marker of a known client, or None."""
    tag_end = -1
    for start in _HTML_QUOTE_TAG.finditer(html):
        position = start.start()
        if tag_end < position:
            tag_end = html.find(">", position)
            if tag_end < 0:
                return None  # no tag is closed after here
        if tag_end - position > _MAX_TAG or not _HTML_QUOTE_MARKERS.match(html, position, tag_end + 1):
            continue
        return (html[:position], html[position:]) if position else None
    return None
