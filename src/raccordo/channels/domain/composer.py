"""A channel's rules for what an agent may send on it: length, SMS segments, attachments, message
window and the templates allowed outside it. Pure.

Each channel module declares one ``ComposerRules`` (``Channel.composer``, narrowed per inbox by
``Channel.composer_rules``); the reply service enforces them with ``check_reply`` and the
composer shows them (counter, attach button, window banner) from ``as_data``. Nothing else
decides what a channel accepts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from raccordo.platform.errors import InvalidInput

# GSM 03.38 basic set (plus the extension table, whose characters count twice) for SMS segments.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class ComposerRules:
    """What one channel (one inbox of it) accepts from an agent; ``None`` means no limit of its own."""

    max_length: int | None = None
    attachments: bool = True
    max_attachments: int | None = None
    max_attachment_bytes: int | None = None
    # MIME types accepted (``image/*`` patterns allowed); empty means any type.
    attachment_types: tuple[str, ...] = ()
    # Free-form replies only this long after the customer's last message on the inbox (WhatsApp, Messenger: 24 h).
    reply_window_seconds: int | None = None
    # When an inbox's window is extended for agents' replies (Messenger's HUMAN_AGENT tag: 7 days), the
    # provider's standard window inside it: the composer then says which window applies and until when.
    standard_window_seconds: int | None = None
    # Characters per SMS segment are counted in the composer when set (GSM-7 160 / UCS-2 70).
    sms_segments: bool = False
    # At most this many SMS segments per message (an SMS inbox's setting: each segment is billed).
    max_sms_segments: int | None = None
    # Outside the window the provider still accepts its pre-approved message templates (WhatsApp):
    # the refusal says so instead of sending the agent to another channel.
    templates_outside_window: bool = False

    def limited(self, max_attachment_bytes: int) -> ComposerRules:
        """These rules under the installation's own upload limit (``RACCORDO_MAX_ATTACHMENT_BYTES``)."""
        own = self.max_attachment_bytes
        return replace(self, max_attachment_bytes=min(own, max_attachment_bytes) if own else max_attachment_bytes)

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachment_types"] = list(self.attachment_types)
        return data


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    size: int


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    """``image/png`` against ``("image/*", "application/pdf")``; an empty tuple allows every type."""
    if not allowed:
        return True
    content_type = content_type.split(";", 1)[0].strip().lower()
    return any(content_type == a or (a.endswith("/*") and content_type.startswith(a[:-1])) for a in allowed)


def window_closes_at(rules: ComposerRules, last_inbound_at: datetime | None) -> datetime | None:
    """When free-form replies stop being allowed; ``None`` when the channel has no window or no message opened it."""
    if rules.reply_window_seconds is None or last_inbound_at is None:
        return None
    return last_inbound_at + timedelta(seconds=rules.reply_window_seconds)


def window_open(rules: ComposerRules, last_inbound_at: datetime | None, now: datetime) -> bool:
    if rules.reply_window_seconds is None:
        return True
    closes = window_closes_at(rules, last_inbound_at)
    return closes is not None and now < closes


GSM7 = "gsm7"
UCS2 = "ucs2"


def sms_encoding(text: str) -> str:
    """``gsm7`` when every character is in the GSM 03.38 basic or extension table, else ``ucs2``
    (one emoji or a character such as ``ł`` makes the whole message UCS-2)."""
    return GSM7 if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text) else UCS2


def sms_segments(text: str) -> int:
    """SMS parts needed for ``text``: 160/153 GSM-7 characters per part, or 70/67 UCS-2 ones
    (a multi-part message gives 7 or 3 characters of each part to the concatenation header)."""
    if not text:
        return 0
    if sms_encoding(text) == GSM7:
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return 1 if units <= 70 else -(-units // 67)


def check_reply(
    rules: ComposerRules,
    *,
    channel: str,
    text: str,
    files: list[OutgoingFile],
    last_inbound_at: datetime | None,
    now: datetime,
) -> None:
    """Raise ``InvalidInput`` naming the first rule the reply breaks (``composer.*`` keys, with the limit)."""
    if rules.reply_window_seconds is not None and not window_open(rules, last_inbound_at, now):
        hours = round(rules.reply_window_seconds / 3600, 1)
        closed = window_closes_at(rules, last_inbound_at)
        suffix = "_template" if rules.templates_outside_window else ""
        if closed is None:
            raise InvalidInput(
                f"composer.window_never_opened{suffix}", field="inbox_id", channel=channel, hours=f"{hours:g}"
            )
        raise InvalidInput(
            f"composer.window_closed{suffix}",
            field="inbox_id",
            channel=channel,
            hours=f"{hours:g}",
            closed_at=closed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    if rules.max_length is not None and len(text) > rules.max_length:
        raise InvalidInput("composer.too_long", field="text", channel=channel, limit=rules.max_length, length=len(text))
    if rules.sms_segments and rules.max_sms_segments is not None:
        parts = sms_segments(text.replace("\r\n", "\n"))
        if parts > rules.max_sms_segments:
            raise InvalidInput(
                "composer.too_many_segments",
                field="text",
                channel=channel,
                limit=rules.max_sms_segments,
                segments=parts,
                encoding="GSM-7" if sms_encoding(text) == GSM7 else "Unicode (UCS-2)",
            )
    if files and not rules.attachments:
        raise InvalidInput("composer.attachments_not_allowed", field="attachments", channel=channel)
    if rules.max_attachments is not None and len(files) > rules.max_attachments:
        raise InvalidInput(
            "composer.too_many_attachments",
            field="attachments",
            channel=channel,
            limit=rules.max_attachments,
            count=len(files),
        )
    for index, item in enumerate(files):
        if rules.max_attachment_bytes is not None and item.size > rules.max_attachment_bytes:
            raise InvalidInput(
                "composer.attachment_too_large",
                field=f"attachments.{index}",
                filename=item.filename,
                limit=rules.max_attachment_bytes,
                size=item.size,
            )
        if not type_allowed(item.content_type, rules.attachment_types):
            raise InvalidInput(
                "composer.attachment_type",
                field=f"attachments.{index}",
                filename=item.filename,
                content_type=item.content_type or "?",
                allowed=", ".join(rules.attachment_types),
            )
