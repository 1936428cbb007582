"""The isolated view of a message's sanitized HTML: a whole document for a sandboxed frame.

Remote images are blocked unless the agent allows them: their ``src`` is replaced by a
local placeholder and kept in ``data-remote-src`` (a tracking pixel must not tell the
sender that the mail was read, nor leak the agent's address). ``cid:`` images are
resolved to the message's inline attachments as ``data:`` URIs, so the frame needs no
cookie and no request to our origin. The HTML given here has already been through
``content.sanitize_html`` (nh3), whose output quotes every attribute with ``"``: the
rewriting below relies on that normal form and runs on nothing else.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

# A grey picture placeholder; no quote or ampersand in it, so it is the same escaped or not.
BLOCKED_IMAGE = (
    "data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27"
    " width=%2724%27 height=%2724%27 viewBox=%270 0 24 24%27%3E"
    "%3Crect width=%2724%27 height=%2724%27 fill=%27%23eee%27/%3E"
    "%3Cpath d=%27M4 18l5-6 4 4 3-3 4 5z%27 fill=%27%23bbb%27/%3E%3C/svg%3E"
)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_SRC = re.compile(r'\ssrc="([^"]*)"', re.I)


def count_remote_images(html: str | None) -> int:
    if not html:
        return 0
    return sum(
        1
        for tag in _IMG.findall(html)
        if (m := _SRC.search(tag)) and html_lib.unescape(m.group(1)).lower().startswith(("http:", "https:", "//"))
    )


def isolate_images(html: str, *, allow_remote: bool, resolve_cid: Callable[[str], str | None]) -> str:
    """Rewrite ``<img src>``: remote ones blocked (unless allowed), ``cid:`` ones resolved or blanked."""

    def rewrite(match: re.Match[str]) -> str:
        tag = match.group(0)
        src_match = _SRC.search(tag)
        if not src_match:
            return tag
        src = html_lib.unescape(src_match.group(1))
        lowered = src.lower()
        if lowered.startswith("cid:"):
            resolved = resolve_cid(src[4:].strip("<>"))
            replacement = f' src="{html_lib.escape(resolved or BLOCKED_IMAGE)}" data-cid="{html_lib.escape(src[4:])}"'
        elif lowered.startswith(("http:", "https:", "//")):
            if allow_remote:
                return tag
            replacement = f' src="{BLOCKED_IMAGE}" data-remote-src="{src_match.group(1)}"'
        else:
            replacement = f' src="{BLOCKED_IMAGE}"'
        return tag[: src_match.start()] + replacement + tag[src_match.end() :]

    return _IMG.sub(rewrite, html)


def document(body_html: str, *, language: str = "en") -> str:
    """A complete HTML document around the message body; links open outside the frame."""
    return (
        f'<!DOCTYPE html><html lang="{html_lib.escape(language)}"><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"><base target="_blank">'
        "<style>body{font-family:system-ui,sans-serif;font-size:14px;line-height:1.45;margin:8px;color:#222;"
        "word-wrap:break-word}"
        "img{max-width:100%;height:auto}"
        "blockquote{margin:0 0 0 .8em;padding-left:.8em;border-left:2px solid #ccc;color:#555}"
        "table{border-collapse:collapse;max-width:100%}</style></head>"
        f"<body>{body_html}</body></html>"
    )


def content_security_policy(allow_remote: bool) -> str:
    """Nothing runs, nothing is fetched but inline images (and remote ones when allowed)."""
    images = "data: https: http:" if allow_remote else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
    )
