"""What the Meta channels read from an inbox's settings: the Graph client, the ids and the agents' language."""

from __future__ import annotations

from raccordo.channels.base import InboxConfig
from raccordo.channels.messenger.graph import DEFAULT_BASE_URL, Graph


def graph_for(inbox: InboxConfig) -> Graph:
    return Graph(str(inbox.settings.get("graph_base_url") or DEFAULT_BASE_URL), inbox.secrets.get("access_token", ""))


def page_id(inbox: InboxConfig) -> str:
    """The Facebook page the Send API is called for (Instagram: the page linked to the account)."""
    return str(inbox.settings.get("page_id") or "")


def account_id(inbox: InboxConfig) -> str:
    """The id webhook entries and customer identities are scoped by: the page, or the Instagram account."""
    return account_id_of(inbox.settings)


def account_id_of(settings: dict[str, object]) -> str:
    """``account_id`` from an inbox's settings alone."""
    return str(settings.get("account_id") or settings.get("page_id") or "")


def language_of(inbox: InboxConfig) -> str:
    return "en" if inbox.settings.get("language") == "en" else "it"


def human_agent_allowed(settings: dict[str, object]) -> bool:
    return settings.get("human_agent") is True
