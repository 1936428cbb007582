"""What the channel's modules read from an inbox's settings: the Graph client and the agents' language."""

from __future__ import annotations

from raccordo.channels.base import InboxConfig
from raccordo.channels.whatsapp.graph import DEFAULT_BASE_URL, Graph


def graph_for(inbox: InboxConfig) -> Graph:
    return Graph(str(inbox.settings.get("graph_base_url") or DEFAULT_BASE_URL), inbox.secrets.get("access_token", ""))


def language_of(inbox: InboxConfig) -> str:
    """The language of the texts the channel writes on messages (delivery errors, media notes)."""
    return "en" if inbox.settings.get("language") == "en" else "it"
