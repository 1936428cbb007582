"""What the channel sends and how Telegram's refusals reach the outbox. Pure, but for the calls in ``send``.

Text goes as ``sendMessage`` without a ``parse_mode`` (the agent's text arrives as typed: no
character needs escaping); ``escape_markdown_v2`` is there for text put into a MarkdownV2 message.
One file goes as ``sendPhoto`` (JPEG, PNG, WebP up to 10 MB) or ``sendDocument`` (anything up to
50 MB), multipart, with the text as its caption when it fits (1024 characters), else the text first
(https://core.telegram.org/bots/api#sendmessage, #sendphoto, #senddocument). An inline keyboard is
read from the message's attributes: ``{"telegram": {"inline_keyboard": [[{"text", "callback_data"
| "url"}]]}}`` (https://core.telegram.org/bots/api#inlinekeyboardmarkup).

Errors (https://core.telegram.org/bots/api#making-requests): 429 carries
``parameters.retry_after``, which the outbox waits at least; 5xx and an unreachable API are
retried; 403 (the customer blocked the bot, or never started it) and 400 "chat not found" are
permanent, with a reason the agent reads; a 401 is the inbox's token, permanent until an admin fixes it.
"""

from __future__ import annotations

import re
from typing import Any

from raccordo.channels.base import DeliveryError
from raccordo.channels.telegram.botapi import BotApiFailure

MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
_MARKDOWN_V2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


class OutboundInvalid(ValueError):
    """The message cannot be sent as it is (a malformed keyboard): permanent."""


def escape_markdown_v2(text: str) -> str:
    """Text shown literally inside a MarkdownV2 message (every special character escaped with ``\\``)."""
    return _MARKDOWN_V2_SPECIAL.sub(r"\\\1", text)


def inline_keyboard(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """``reply_markup`` for the message's inline keyboard, checked as Telegram checks it."""
    given = (attributes.get("telegram") or {}).get("inline_keyboard") if isinstance(attributes, dict) else None
    if not given:
        return None
    if not isinstance(given, list) or not all(isinstance(row, list) and row for row in given):
        raise OutboundInvalid("inline_keyboard must be a list of non-empty rows")
    rows = []
    for row in given:
        buttons = []
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise OutboundInvalid("every inline keyboard button needs a text")
            data, url = button.get("callback_data"), button.get("url")
            if (data is None) == (url is None):
                raise OutboundInvalid("an inline keyboard button has either callback_data or url")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise OutboundInvalid("callback_data must be 1-64 bytes")
            if url is not None and not str(url).startswith(("https://", "http://", "tg://")):
                raise OutboundInvalid("an inline keyboard url must be http(s) or tg")
            buttons.append({"text": str(button["text"]), **({"callback_data": str(data)} if data else {"url": url})})
        rows.append(buttons)
    return {"inline_keyboard": rows}


def is_photo(content_type: str, size: int) -> bool:
    return content_type.lower() in PHOTO_TYPES and size <= MAX_PHOTO_BYTES


def delivery_error(failure: BotApiFailure) -> DeliveryError:
    """Telegram's refusal as the outbox reads it: retry (when, how soon) or permanent, and why, for the agent."""
    code, description = failure.error_code, failure.description
    message = f"Telegram {failure.method}: {code or 'unreachable'} {description}".strip()
    if code is None or code >= 500:
        return DeliveryError(message, reason="telegram.error.unavailable")
    if code == 429:
        return DeliveryError(
            message,
            retry_after=failure.retry_after,
            reason="telegram.error.rate_limited",
            params={"seconds": str(int(failure.retry_after or 0))},
        )
    if code == 403:
        return DeliveryError(message, permanent=True, reason="telegram.error.blocked")
    if code == 401 or code == 404:
        return DeliveryError(message, permanent=True, reason="telegram.error.token")
    if code == 400 and "chat not found" in description.lower():
        return DeliveryError(message, permanent=True, reason="telegram.error.chat_not_found")
    return DeliveryError(message, permanent=True, reason="telegram.error.refused", params={"description": description})
