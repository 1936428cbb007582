"""The Send API's payloads: text, one attachment, quick replies, and the messaging type. Pure.

Shapes from Meta's Send API reference (https://developers.facebook.com/docs/messenger-platform/reference/send-api/)
and quick replies (https://developers.facebook.com/docs/messenger-platform/send-messages/quick-replies/).
Inside the 24-hour window a reply is ``messaging_type: RESPONSE``; after it, an agent's reply
may still go as ``MESSAGE_TAG`` with ``tag: HUMAN_AGENT`` for 7 days when the page is approved
for that tag (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags/).
"""

from __future__ import annotations

from typing import Any

MAX_TEXT = {"messenger": 2000, "instagram": 1000}
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
HUMAN_AGENT = "HUMAN_AGENT"


class OutboundInvalid(ValueError):
    """A message the Send API would refuse; the text says which rule."""


def attachment_kind(content_type: str) -> str:
    """The Send API attachment type of a file (``file`` for anything that is not image, video or audio)."""
    main = content_type.split(";", 1)[0].strip().lower().split("/", 1)[0]
    return main if main in ("image", "video", "audio") else "file"


def quick_replies(given: object) -> list[dict[str, str]]:
    """``attributes["quick_replies"]`` (titles, or ``{"title", "payload"}``) as Send API quick replies."""
    if given is None:
        return []
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_QUICK_REPLIES:
        raise OutboundInvalid(f"quick replies: a list of 1 to {MAX_QUICK_REPLIES}")
    replies = []
    for item in given:
        title, payload = (item, item) if isinstance(item, str) else (item.get("title"), item.get("payload"))
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_QUICK_REPLY_TITLE:
            raise OutboundInvalid(f"a quick reply title has 1 to {MAX_QUICK_REPLY_TITLE} characters")
        replies.append({"content_type": "text", "title": title, "payload": str(payload or title)[:1000]})
    return replies


def envelope(psid: str, message: dict[str, Any], *, tag: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"recipient": {"id": psid}, "message": message}
    if tag:
        payload.update(messaging_type="MESSAGE_TAG", tag=tag)
    else:
        payload["messaging_type"] = "RESPONSE"
    return payload


def text(body: str, max_length: int, replies: list[dict[str, str]] | None = None) -> dict[str, Any]:
    if not body.strip():
        raise OutboundInvalid("a text message needs text")
    if len(body) > max_length:
        raise OutboundInvalid(f"a text message has at most {max_length} characters")
    message: dict[str, Any] = {"text": body}
    if replies:
        message["quick_replies"] = replies
    return message


def attachment(kind: str, attachment_id: str) -> dict[str, Any]:
    return {"attachment": {"type": kind, "payload": {"attachment_id": attachment_id}}}
