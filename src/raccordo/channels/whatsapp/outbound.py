"""The Cloud API's send payloads: text, media, interactive buttons and lists, templates. Pure.

Shapes from Meta's messages reference (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages)
and its interactive and template guides; the limits checked here are Meta's (4096 characters of
text, 1024 of caption, 3 reply buttons of 20 characters, 10 list rows), so a wrong message is
refused before it is sent and its error names the rule, not a Graph error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24

_IMAGE = ("image/jpeg", "image/png")
_VIDEO = ("video/mp4", "video/3gpp")


class OutboundInvalid(ValueError):
    """A message the Cloud API would refuse; the text says which rule."""


def media_kind(content_type: str) -> str:
    """Which media message carries a file of this type (anything else travels as a document)."""
    content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type in _IMAGE:
        return "image"
    if content_type in _VIDEO:
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    if content_type == "image/webp":
        return "sticker"
    return "document"


def _envelope(to: str, kind: str, body: dict[str, Any], reply_to: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind}
    payload[kind] = body
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    return payload


def recipient(value: str) -> str:
    """An E.164 identity as the Cloud API's ``to`` (digits only)."""
    return "".join(ch for ch in value if ch.isdigit())


def text(to: str, body: str, *, reply_to: str | None = None, preview_url: bool = False) -> dict[str, Any]:
    if not body.strip():
        raise OutboundInvalid("a text message needs text")
    if len(body) > MAX_TEXT:
        raise OutboundInvalid(f"a text message has at most {MAX_TEXT} characters")
    return _envelope(to, "text", {"body": body, "preview_url": preview_url}, reply_to)


def media(
    to: str,
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str = "",
    filename: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A media message by uploaded media id or by a public link (one of the two)."""
    if (media_id is None) == (link is None):
        raise OutboundInvalid("a media message needs either a media id or a link")
    body: dict[str, Any] = {"id": media_id} if media_id else {"link": link}
    if caption:
        if kind in ("audio", "sticker"):
            raise OutboundInvalid(f"a {kind} message has no caption")
        if len(caption) > MAX_CAPTION:
            raise OutboundInvalid(f"a caption has at most {MAX_CAPTION} characters")
        body["caption"] = caption
    if kind == "document" and filename:
        body["filename"] = filename
    return _envelope(to, kind, body, reply_to)


@dataclass(frozen=True)
class Option:
    """A reply button or a list row: the id comes back in the customer's ``button_reply``/``list_reply``."""

    id: str
    title: str
    description: str = ""


def buttons(to: str, body: str, options: list[Option], *, reply_to: str | None = None) -> dict[str, Any]:
    if not 1 <= len(options) <= MAX_BUTTONS:
        raise OutboundInvalid(f"reply buttons: 1 to {MAX_BUTTONS}")
    if any(len(o.title) > MAX_BUTTON_TITLE for o in options):
        raise OutboundInvalid(f"a button title has at most {MAX_BUTTON_TITLE} characters")
    action = {"buttons": [{"type": "reply", "reply": {"id": o.id, "title": o.title}} for o in options]}
    return _envelope(to, "interactive", {"type": "button", "body": {"text": body}, "action": action}, reply_to)


def list_message(
    to: str, body: str, button: str, options: list[Option], *, section: str = "", reply_to: str | None = None
) -> dict[str, Any]:
    if not 1 <= len(options) <= MAX_LIST_ROWS:
        raise OutboundInvalid(f"a list has 1 to {MAX_LIST_ROWS} rows")
    if any(len(o.title) > MAX_ROW_TITLE for o in options):
        raise OutboundInvalid(f"a list row title has at most {MAX_ROW_TITLE} characters")
    rows = [
        {"id": o.id, "title": o.title, **({"description": o.description} if o.description else {})} for o in options
    ]
    sections = [{"title": section or button, "rows": rows}]
    action = {"button": button, "sections": sections}
    return _envelope(to, "interactive", {"type": "list", "body": {"text": body}, "action": action}, reply_to)


def template(to: str, name: str, language: str, variables: list[str] | None = None) -> dict[str, Any]:
    """An approved template by name and language, its body variables ``{{1}}``, ``{{2}}``... in order."""
    if not name or not language:
        raise OutboundInvalid("a template message needs the template's name and language")
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if variables:
        body["components"] = [{"type": "body", "parameters": [{"type": "text", "text": v} for v in variables]}]
    return _envelope(to, "template", body, None)
