"""Messenger and Instagram Direct webhooks turned into normalized events. Pure.

Payload shapes are Meta's webhook references: Messenger ``messages``, ``messaging_postbacks``,
``message_reactions``, ``message_deliveries``, ``message_reads`` and ``message_echoes``
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events)
and Instagram messaging (https://developers.facebook.com/docs/instagram-platform/webhooks/examples/,
https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook/): an
``{"object": "page" | "instagram", "entry": [{"id": <page or account id>, "messaging": [...]}]}``
body where each messaging event names its ``sender`` and ``recipient``. One app webhook carries
every page of the app: each inbox keeps only the entries whose ``id`` is its own page/account.

Customer ids are page-scoped (PSID, IGSID): the identity value is ``<page id>:<scoped id>``, so
one person writing to two pages is two identities, never linked automatically. Attachments are
CDN URLs: the message lists them (``meta.media``, flag ``MEDIA_PENDING``) and the channel's
background service downloads them once the message is stored (``media.py``). Story mentions and
story replies keep the story's CDN URL only (Meta forbids storing story media: the agent opens it
while the story lives). Echoes of our own sends are dropped (``is_echo``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from raccordo.channels.base import DeliveryReport, InboundEvent, InboundIdentity
from raccordo.platform.i18n import translate

OBJECTS = {"messenger": "page", "instagram": "instagram"}
MEDIA_KINDS = ("image", "video", "audio", "file")
STORY_KINDS = ("story_mention",)
# The message flag the media downloader looks for (``media.py``).
MEDIA_PENDING = "meta_media_pending"


def identity_value(account_id: str, scoped_id: str) -> str:
    return f"{account_id}:{scoped_id}"


def scoped_id(identity: str) -> tuple[str, str]:
    """``(page or account id, PSID/IGSID)`` of an identity value; a bare id has no page."""
    page, _, scoped = identity.rpartition(":")
    return page, scoped


def recipient_for(kind: str, account_id: str, recipient: str | None, identities: list[dict[str, Any]]) -> str | None:
    """The PSID/IGSID to answer on this page: the reply's recipient when it is this page's (or a bare id),
    else another identity of the contact on this page (a contact merged from two pages has one per page)."""
    candidates = [recipient] if recipient else []
    candidates += [str(i.get("value")) for i in identities if i.get("kind") == kind and i.get("value")]
    for value in candidates:
        page, scoped = scoped_id(value)
        if page in ("", account_id) and scoped:
            return scoped
    return None


def account_ids(data: Any, kind: str) -> set[str]:
    """Every page/account id a webhook body names (to find the inboxes of an app-level webhook)."""
    if not isinstance(data, dict) or data.get("object") != OBJECTS[kind]:
        return set()
    return {str(entry["id"]) for entry in data.get("entry") or [] if isinstance(entry, dict) and entry.get("id")}


def parse(data: Any, kind: str, account_id: str, language: str) -> list[InboundEvent | DeliveryReport]:
    """The events of ``data`` addressed to ``account_id``, in the order Meta listed them."""
    parsed: list[InboundEvent | DeliveryReport] = []
    for entry in data.get("entry") or []:
        if not isinstance(entry, dict) or str(entry.get("id", "")) != account_id:
            continue
        for event in entry.get("messaging") or []:
            if isinstance(event, dict):
                found = _event(event, kind, account_id, language)
                if found is not None:
                    parsed.append(found)
    return parsed


def _at(timestamp: object) -> datetime | None:
    """Meta's millisecond timestamps (postbacks may carry seconds, as strings)."""
    try:
        value = int(str(timestamp))
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _label(name: str, language: str, **params: object) -> str:
    return translate(f"meta.inbound.{name}", language, **params)


def _event(event: dict[str, Any], kind: str, account_id: str, language: str) -> InboundEvent | DeliveryReport | None:
    sender = str((event.get("sender") or {}).get("id") or "")
    if not sender or sender == account_id:
        return None  # an echo of the page's own message, or a user_ref without a PSID yet
    who = InboundIdentity(kind, identity_value(account_id, sender), verified=True)
    if isinstance(event.get("delivery"), dict):
        return _report(event["delivery"], "delivered", kind, who)
    if isinstance(event.get("read"), dict):
        return _report(event["read"], "read", kind, who)
    details: dict[str, Any] = {"type": "message"}
    sent_at = _at(event.get("timestamp"))
    if isinstance(event.get("reaction"), dict):
        reaction = event["reaction"]
        mid = str(reaction.get("mid") or "")
        action = str(reaction.get("action") or "react")
        emoji = str(reaction.get("emoji") or reaction.get("reaction") or "")
        details.update(type="reaction", reaction={"mid": mid, "action": action, "emoji": emoji})
        text = _label("reaction", language, emoji=emoji) if action == "react" else _label("unreaction", language)
        # Each react/unreact is its own event: the id says which, so a retry of one stays one message.
        event_id = f"{mid}:{action}:{emoji}:{event.get('timestamp', '')}"
        return _inbound(event_id, who, text, sent_at, (mid,) if mid else (), details)
    if isinstance(event.get("postback"), dict):
        postback = event["postback"]
        details.update(type="postback", postback={"title": postback.get("title"), "payload": postback.get("payload")})
        event_id = str(postback.get("mid") or f"postback:{sender}:{event.get('timestamp', '')}")
        text = str(postback.get("title") or postback.get("payload") or "")
        return _inbound(event_id, who, text or _label("postback", language), sent_at, (), details)
    message = event.get("message")
    if not isinstance(message, dict) or not message.get("mid") or message.get("is_echo"):
        return None
    return _message(message, who, sent_at, language)


def _report(body: dict[str, Any], state: str, kind: str, who: InboundIdentity) -> DeliveryReport | None:
    mids = tuple(str(m) for m in body.get("mids") or [] if m)
    if body.get("mid"):  # Instagram's messaging_seen names the one message read
        mids = (*mids, str(body["mid"]))
    watermark = _at(body.get("watermark"))
    if not mids and watermark is None:
        return None
    report_id = f"{kind}:{who.value}:{state}:{body.get('watermark') or ','.join(mids)}"
    return DeliveryReport(mids, state, "", report_id[:300], watermark=watermark, recipient=who)


def _message(message: dict[str, Any], who: InboundIdentity, sent_at: datetime | None, language: str) -> InboundEvent:
    mid = str(message["mid"])
    details: dict[str, Any] = {"type": "message"}
    parts: list[str] = [str(message["text"])] if message.get("text") else []
    in_reply_to: tuple[str, ...] = ()
    if message.get("is_deleted"):
        details["type"] = "deleted"
        # The deletion is its own record (the original stays for the agent who already read it).
        return _inbound(f"{mid}:deleted", who, _label("deleted", language), sent_at, (mid,), details)
    if isinstance(message.get("quick_reply"), dict):
        details["quick_reply"] = {"payload": message["quick_reply"].get("payload")}
    given_reply = message.get("reply_to")
    reply_to: dict[str, Any] = given_reply if isinstance(given_reply, dict) else {}
    if reply_to.get("mid"):
        in_reply_to = (str(reply_to["mid"]),)
    given_story = reply_to.get("story")
    story: dict[str, Any] | None = given_story if isinstance(given_story, dict) else None
    if story is not None:
        details["story"] = {"kind": "reply", "id": story.get("id"), "url": story.get("url")}
        parts.insert(0, _label("story_reply", language, url=story.get("url") or "-"))
    media: list[dict[str, Any]] = []
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "")
        given_payload = attachment.get("payload")
        payload: dict[str, Any] = given_payload if isinstance(given_payload, dict) else {}
        url = payload.get("url")
        if kind in STORY_KINDS:
            details["story"] = {"kind": "mention", "url": url}
            parts.append(_label("story_mention", language, url=url or "-"))
        elif kind in MEDIA_KINDS and url:
            media.append({"url": str(url), "kind": kind, "status": "pending", "attempts": 0})
            if not message.get("text"):
                parts.append(_label(kind, language))
        elif kind == "location":
            point = payload.get("coordinates") or {}
            parts.append(_label("location", language, lat=point.get("lat"), lon=point.get("long")))
        else:  # fallback (a shared link), template, or a kind newer than this code: shown, never dropped
            title = attachment.get("title") or payload.get("title") or url or kind
            parts.append(_label("other", language, kind=kind or "?", title=title))
    if message.get("is_unsupported"):
        parts.append(_label("unsupported", language))
    if media:
        details["media"] = media
    flags = {MEDIA_PENDING: True} if media else {}
    return _inbound(mid, who, "\n".join(parts), sent_at, in_reply_to, details, flags)


def _inbound(
    event_id: str,
    who: InboundIdentity,
    text: str,
    sent_at: datetime | None,
    in_reply_to: tuple[str, ...],
    details: dict[str, Any],
    flags: dict[str, Any] | None = None,
) -> InboundEvent:
    return InboundEvent(
        provider_message_id=event_id[:300],
        identities=[who],
        text=text,
        sent_at=sent_at,
        in_reply_to=in_reply_to,
        metadata={"meta": details, **(flags or {})},
    )
