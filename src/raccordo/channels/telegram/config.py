"""What the channel's modules read from an inbox's settings: the Bot API client, the mode, the agents' language."""

from __future__ import annotations

from raccordo.channels.base import InboxConfig
from raccordo.channels.telegram.botapi import DEFAULT_BASE_URL, BotApi

WEBHOOK, POLLING = "webhook", "polling"


def bot_for(inbox: InboxConfig) -> BotApi:
    return BotApi(str(inbox.settings.get("api_base_url") or DEFAULT_BASE_URL), inbox.secrets.get("bot_token", ""))


def mode_of(inbox: InboxConfig) -> str:
    return POLLING if inbox.settings.get("mode") == POLLING else WEBHOOK


def language_of(inbox: InboxConfig) -> str:
    """The language of the texts the channel writes on messages (media labels, download notes)."""
    return "en" if inbox.settings.get("language") == "en" else "it"
