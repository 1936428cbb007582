"""Telegram ``Update`` objects turned into normalized events. Pure.

Shapes: the Bot API's ``Update``, ``Message``, ``CallbackQuery`` and their parts
(https://core.telegram.org/bots/api#update, #message, #callbackquery). What arrives:

- ``message`` in a private chat with the bot: text with ``entities`` (rendered as HTML,
  ``entities.py``), photo (the largest size), document, voice, audio, video, video note, sticker,
  location and venue, contact; any other kind (a poll, a dice...) is shown as unsupported, never
  dropped. Media never travels in the update: it names a ``file_id``, which the channel's
  background service downloads with ``getFile`` once the message is stored (``media.py``).
- ``edited_message``: an ``InboundEvent`` with ``edit_id`` (the edit's ``edit_date``) naming the
  stored message, whose text it replaces (the record keeps the earlier text).
- ``callback_query``: the customer pressed an inline keyboard button of one of our messages; it
  becomes a message with the button's text, threaded to that message. The channel answers the
  query (``answerCallbackQuery``) so the customer's button stops spinning.
- A contact the customer shares that is their own (``contact.user_id`` is the sender's id) brings
  its phone number as a ``phone`` identity: the record links it to the contact.

Group chats and channels are not conversations with one customer: their updates are ignored (the
bot is asked for ``message``, ``edited_message`` and ``callback_query`` only, and private chats are
kept). A message's provider id is ``<chat id>:<message id>`` (message ids are unique per chat), so
a retried update, polled or pushed, is one message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from raccordo.channels.base import InboundEvent, InboundIdentity
from raccordo.channels.telegram.entities import render_html
from raccordo.platform.i18n import translate

IDENTITY_KIND = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
# The message flag the media downloader looks for (``media.py``).
MEDIA_PENDING = "telegram_media_pending"
_LANGUAGES = ("it", "en")


def provider_id(chat_id: object, message_id: object) -> str:
    return f"{chat_id}:{message_id}"


def _sent_at(timestamp: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(timestamp)), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _label(kind: str, language: str, **params: object) -> str:
    return translate(f"telegram.inbound.{kind}", language, **params)


def _name(user: dict[str, Any]) -> str | None:
    name = " ".join(str(user[k]) for k in ("first_name", "last_name") if user.get(k)).strip()
    return name or (f"@{user['username']}" if user.get("username") else None)


def _user_details(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "username", "first_name", "last_name", "language_code") if k in user}


def phone_of(contact: dict[str, Any]) -> str | None:
    """A shared contact's number in E.164 (Telegram sends the digits, with or without ``+``)."""
    digits = "".join(ch for ch in str(contact.get("phone_number") or "") if ch.isdigit())
    return f"+{digits}" if 8 <= len(digits) <= 15 else None


def parse_update(update: dict[str, Any], language: str) -> list[InboundEvent]:
    """The events of one update (none for the kinds and chats the channel does not take)."""
    if isinstance(update.get("message"), dict):
        event = _message(update["message"], language)
        return [event] if event is not None else []
    if isinstance(update.get("edited_message"), dict):
        event = _message(update["edited_message"], language, edited=True)
        return [event] if event is not None else []
    if isinstance(update.get("callback_query"), dict):
        event = _callback(update["callback_query"])
        return [event] if event is not None else []
    return []


def callback_query_ids(updates: list[dict[str, Any]]) -> list[str]:
    """The callback queries among ``updates``, which the channel answers."""
    return [
        str(u["callback_query"]["id"])
        for u in updates
        if isinstance(u.get("callback_query"), dict) and u["callback_query"].get("id")
    ]


def _identities(user: dict[str, Any], message: dict[str, Any]) -> list[InboundIdentity]:
    identities = [InboundIdentity(IDENTITY_KIND, str(user["id"]), verified=True)]
    contact = message.get("contact")
    if isinstance(contact, dict) and str(contact.get("user_id", "")) == str(user["id"]):
        phone = phone_of(contact)
        if phone is not None:
            # The customer shared their own number (Telegram sets user_id to the sender's): verified by Telegram.
            identities.append(InboundIdentity("phone", phone, verified=True))
    return identities


def _largest_photo(sizes: list[Any]) -> dict[str, Any]:
    candidates = [s for s in sizes if isinstance(s, dict) and s.get("file_id")]
    return max(
        candidates,
        key=lambda s: (int(s.get("file_size") or 0), int(s.get("width") or 0) * int(s.get("height") or 0)),
        default={},
    )


def _media(message: dict[str, Any]) -> dict[str, Any] | None:
    """The one file of a media message, as the downloader needs it."""
    if message.get("photo"):
        photo = _largest_photo(list(message["photo"]))
        if not photo:
            return None
        return {"kind": "photo", "file_id": photo["file_id"], "mime_type": "image/jpeg", "filename": None}
    for kind, default_type in (
        ("document", "application/octet-stream"),
        ("video", "video/mp4"),
        ("voice", "audio/ogg"),
        ("audio", "audio/mpeg"),
        ("video_note", "video/mp4"),
        ("animation", "video/mp4"),
        ("sticker", "image/webp"),
    ):
        item = message.get(kind)
        if isinstance(item, dict) and item.get("file_id"):
            mime = str(item.get("mime_type") or default_type)
            if kind == "sticker":
                mime = (
                    "video/webm"
                    if item.get("is_video")
                    else "application/x-tgsticker"
                    if item.get("is_animated")
                    else mime
                )
            return {"kind": kind, "file_id": item["file_id"], "mime_type": mime, "filename": item.get("file_name")}
    return None


def _content(message: dict[str, Any], language: str) -> tuple[str, str | None, dict[str, Any]]:
    """The message's text, HTML and the details kept on it."""
    details: dict[str, Any] = {}
    if "text" in message:
        details["type"] = "text"
        text = str(message.get("text") or "")
        return text, render_html(text, message.get("entities")), details
    media = _media(message)
    caption = str(message.get("caption") or "")
    caption_html = render_html(caption, message.get("caption_entities"))
    if media is not None:
        details["type"] = media["kind"]
        details["media"] = [{**media, "status": "pending", "attempts": 0}]
        if media["kind"] == "sticker":
            emoji = str((message.get("sticker") or {}).get("emoji") or "")
            return _label("sticker", language, emoji=emoji), None, details
        label = _label(media["kind"], language, filename=media.get("filename") or "")
        return caption or label, caption_html, details
    if isinstance(message.get("venue"), dict) or isinstance(message.get("location"), dict):
        venue = message.get("venue") if isinstance(message.get("venue"), dict) else {}
        location = (venue or {}).get("location") or message.get("location") or {}
        details["type"] = "location"
        details["location"] = {
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
            "title": (venue or {}).get("title"),
            "address": (venue or {}).get("address"),
        }
        place = ", ".join(str(venue[k]) for k in ("title", "address") if venue and venue.get(k))
        text = _label("location", language, place=place, lat=location.get("latitude"), lon=location.get("longitude"))
        return text, None, details
    if isinstance(message.get("contact"), dict):
        contact = message["contact"]
        details["type"] = "contact"
        details["contact"] = {
            k: contact.get(k) for k in ("phone_number", "first_name", "last_name", "user_id") if k in contact
        }
        person = " ".join(str(contact[k]) for k in ("first_name", "last_name") if contact.get(k)) or "?"
        return _label("contact", language, person=person, phone=contact.get("phone_number") or ""), None, details
    kind = next((k for k in ("poll", "dice", "game", "story", "invoice") if k in message), "unknown")
    details["type"] = "unsupported"
    details["unsupported"] = kind
    return _label("unsupported", language, type=kind), None, details


def _message(message: dict[str, Any], language: str, *, edited: bool = False) -> InboundEvent | None:
    chat, user = message.get("chat") or {}, message.get("from") or {}
    if chat.get("type") != "private" or not user.get("id") or user.get("is_bot") or message.get("message_id") is None:
        return None
    text, html, details = _content(message, language)
    details["user"] = _user_details(user)
    reply_to = message.get("reply_to_message")
    in_reply_to: tuple[str, ...] = ()
    if isinstance(reply_to, dict) and reply_to.get("message_id") is not None:
        in_reply_to = (provider_id(chat.get("id"), reply_to["message_id"]),)
    pending = "media" in details and not edited
    given_language = str(user.get("language_code") or "")[:2]
    return InboundEvent(
        provider_message_id=provider_id(chat.get("id"), message["message_id"]),
        identities=_identities(user, message),
        text=text,
        html=html,
        contact_name=_name(user),
        contact_language=given_language if given_language in _LANGUAGES else None,
        sent_at=_sent_at(message.get("edit_date") if edited else message.get("date")),
        in_reply_to=in_reply_to,
        metadata={"telegram": details, **({MEDIA_PENDING: True} if pending else {})},
        edit_id=str(message.get("edit_date") or "edited") if edited else None,
    )


def _button_text(message: dict[str, Any], data: str) -> str | None:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    for row in keyboard:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                return str(button.get("text") or "")
    return None


def _callback(query: dict[str, Any]) -> InboundEvent | None:
    user = query.get("from") or {}
    if not query.get("id") or not user.get("id") or user.get("is_bot"):
        return None
    data = str(query.get("data") or "")
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat_id = ((message or {}).get("chat") or {}).get("id", user["id"])
    in_reply_to = (provider_id(chat_id, message["message_id"]),) if message and message.get("message_id") else ()
    text = _button_text(message or {}, data) or data
    return InboundEvent(
        provider_message_id=f"callback:{query['id']}",
        identities=[InboundIdentity(IDENTITY_KIND, str(user["id"]), verified=True)],
        text=text,
        contact_name=_name(user),
        in_reply_to=in_reply_to,
        metadata={
            "telegram": {
                "type": "callback_query",
                "callback_query": {"id": str(query["id"]), "data": data},
                "user": _user_details(user),
            }
        },
    )
