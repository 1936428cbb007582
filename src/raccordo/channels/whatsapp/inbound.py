"""The WhatsApp webhook's ``messages`` field turned into normalized events. Pure.

Payload shapes: Meta's messages webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages)
and its status reference (``.../reference/messages/status``). One app webhook may carry changes
for several phone numbers (one WhatsApp Business Account, or several): each inbox keeps only the
changes whose ``metadata.phone_number_id`` is its own.

Media never travels in the webhook: a media message names a media id, which the channel's
downloader fetches once the message is stored (``media.py``). The message's metadata lists what
is still to download (``whatsapp.media``), and its text says what it is until then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from raccordo.channels.base import DeliveryReport, InboundEvent, InboundIdentity
from raccordo.channels.whatsapp import errors
from raccordo.platform.i18n import translate

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
IDENTITY_KIND = "whatsapp"
# The message flag the media downloader looks for (``media.py``).
MEDIA_PENDING = "whatsapp_media_pending"


def changes_for(data: Any, phone_number_id: str) -> list[dict[str, Any]]:
    """The ``value`` of each ``messages`` change addressed to ``phone_number_id``."""
    if not isinstance(data, dict) or data.get("object") != "whatsapp_business_account":
        return []
    values = []
    for entry in data.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            if str((value.get("metadata") or {}).get("phone_number_id", "")) == phone_number_id:
                values.append(value)
    return values


def phone_number_ids(data: Any) -> set[str]:
    """Every phone number id a webhook body names (to find the inboxes of an app-level webhook)."""
    if not isinstance(data, dict):
        return set()
    found = set()
    for entry in data.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            metadata = ((change or {}).get("value") or {}).get("metadata") or {}
            if metadata.get("phone_number_id"):
                found.add(str(metadata["phone_number_id"]))
    return found


def parse_value(value: dict[str, Any], language: str) -> list[InboundEvent | DeliveryReport]:
    names = {
        str(c.get("wa_id")): (c.get("profile") or {}).get("name")
        for c in value.get("contacts") or []
        if isinstance(c, dict)
    }
    parsed: list[InboundEvent | DeliveryReport] = []
    for message in value.get("messages") or []:
        if isinstance(message, dict) and message.get("id") and message.get("from"):
            parsed.append(_message(message, names.get(str(message["from"])), language))
    for status in value.get("statuses") or []:
        report = _status(status, language) if isinstance(status, dict) else None
        if report is not None:
            parsed.append(report)
    return parsed


def wa_number(wa_id: str) -> str:
    """A ``wa_id`` (digits, country code first) as the E.164 number the record links with SMS and voice."""
    digits = "".join(ch for ch in wa_id if ch.isdigit())
    return f"+{digits}"


def _sent_at(timestamp: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(timestamp)), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _label(kind: str, language: str, **params: object) -> str:
    return translate(f"whatsapp.inbound.{kind}", language, **params)


def _message(message: dict[str, Any], name: str | None, language: str) -> InboundEvent:
    kind = str(message.get("type") or "unknown")
    given = message.get(kind)
    body: dict[str, Any] = given if isinstance(given, dict) else {}
    details: dict[str, Any] = {"type": kind}
    text = ""
    in_reply_to: tuple[str, ...] = ()
    context = message.get("context") or {}
    if context.get("id"):
        in_reply_to = (str(context["id"]),)
        details["context"] = {
            k: context[k] for k in ("id", "from", "forwarded", "frequently_forwarded") if k in context
        }
    if kind == "text":
        text = str(body.get("body", ""))
    elif kind in MEDIA_TYPES:
        caption = str(body.get("caption") or "")
        filename = body.get("filename")
        voice = kind == "audio" and bool(body.get("voice"))
        label = _label("voice" if voice else kind, language, filename=filename or "")
        text = caption or label
        details["media"] = [
            {
                "id": str(body.get("id", "")),
                "kind": kind,
                "mime_type": str(body.get("mime_type") or "application/octet-stream"),
                "sha256": body.get("sha256"),
                "filename": filename,
                "voice": voice,
                "status": "pending",
                "attempts": 0,
            }
        ]
    elif kind == "location":
        details["location"] = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url")}
        place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        text = _label("location", language, place=place, lat=body.get("latitude"), lon=body.get("longitude"))
    elif kind == "contacts":
        shared = message.get("contacts") or []
        details["contacts"] = shared
        people = []
        for person in shared:
            person_name = (person.get("name") or {}).get("formatted_name") or "?"
            phones = ", ".join(p.get("phone", "") for p in person.get("phones") or [] if p.get("phone"))
            people.append(f"{person_name} {phones}".strip())
        text = _label("contacts", language, people="; ".join(people))
    elif kind == "interactive":
        reply_kind = str(body.get("type") or "")
        reply = body.get(reply_kind) or {}
        details["interactive"] = {"type": reply_kind, "id": reply.get("id"), "title": reply.get("title")}
        text = str(reply.get("title") or "")
        if reply.get("description"):
            text = f"{text} — {reply['description']}"
    elif kind == "button":  # a quick-reply button of a template
        details["button"] = {"payload": body.get("payload"), "text": body.get("text")}
        text = str(body.get("text") or body.get("payload") or "")
    elif kind == "reaction":
        emoji = str(body.get("emoji") or "")
        details["reaction"] = {"message_id": body.get("message_id"), "emoji": emoji}
        if body.get("message_id"):
            in_reply_to = (str(body["message_id"]),)
        text = _label("reaction", language, emoji=emoji) if emoji else _label("reaction_removed", language)
    else:
        # "unsupported" (a type Meta does not pass on, e.g. a poll) or one newer than this code: shown, never dropped.
        problems = [errors.from_status(e) for e in message.get("errors") or []]
        details["errors"] = [{"code": p.code, "title": p.title, "details": p.details} for p in problems]
        text = _label("unsupported", language, type=kind)
    return InboundEvent(
        provider_message_id=str(message["id"]),
        identities=[InboundIdentity(IDENTITY_KIND, wa_number(str(message["from"])), verified=True)],
        text=text,
        contact_name=name,
        sent_at=_sent_at(message.get("timestamp")),
        in_reply_to=in_reply_to,
        metadata={"whatsapp": details, **({MEDIA_PENDING: True} if "media" in details else {})},
    )


def _status(status: dict[str, Any], language: str) -> DeliveryReport | None:
    """``sent``, ``delivered``, ``read`` and ``failed`` of one of our messages. They may arrive in any
    order, repeated, and before the outbox recorded the send: the record keeps the furthest state and
    holds reports for an id it does not know yet (``record/services/delivery_reports.py``)."""
    state, message_id = status.get("status"), status.get("id")
    if not message_id or state not in ("sent", "delivered", "read", "failed"):
        return None
    report_id = f"{message_id}:{state}:{status.get('timestamp', '')}"
    if state == "failed":
        problems = [errors.from_status(e) for e in status.get("errors") or []] or [errors.GraphError(None)]
        reason = "; ".join(p.explain(language) for p in problems)
        key, params = problems[0].reason()
        return DeliveryReport((str(message_id),), "failed", reason, report_id, reason_key=key, params=params)
    return DeliveryReport((str(message_id),), str(state), "", report_id)
