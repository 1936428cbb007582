"""What the SMS channel's modules read from an inbox's settings, and what it keeps on a message."""

from __future__ import annotations

from typing import Any

from raccordo.channels.base import InboxConfig
from raccordo.channels.sms.keywords import classify

# ``content_attributes`` of an inbound SMS: the provider's details (``sms``) and, while MMS files are
# still to download, this flag (the background pass looks for it).
DETAILS = "sms"
MEDIA_PENDING = "sms_media_pending"


def language_of(inbox: InboxConfig) -> str:
    """The language of the texts the channel writes on messages (delivery errors, media notes)."""
    return "en" if inbox.settings.get("language") == "en" else "it"


def provider_of(inbox: InboxConfig) -> str:
    return "vonage" if inbox.settings.get("provider") == "vonage" else "twilio"


def sms_metadata(
    inbox: InboxConfig, text: str, details: dict[str, Any], media: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The message's ``content_attributes``: provider details, the opt-out/opt-in keyword it is (read by
    ``consent.py`` once the message is stored) and the MMS files to fetch."""
    kept = {k: v for k, v in details.items() if v not in (None, "")}
    keyword = classify(text, inbox.settings)
    if keyword is not None:
        kept["keyword"] = {"action": keyword[0], "word": keyword[1]}
    if media:
        kept["media"] = media
    metadata: dict[str, Any] = {DETAILS: kept}
    if media:
        metadata[MEDIA_PENDING] = True
    return metadata
