"""The reply-address token: a conversation's id signed into the plus-address and the Message-ID
of what we send, so a customer's answer finds its conversation even when a client drops the
References header. Pure: HMAC over the id with the inbox's secret."""

from __future__ import annotations

import hashlib
import hmac
import re

_TOKEN = re.compile(r"\+r-(\d{1,18})-([0-9a-f]{12})@", re.I)
_ID_TOKEN = re.compile(r"^<raccordo\.[0-9a-zA-Z]+\.(\d{1,18})-([0-9a-f]{12})@", re.I)


def conversation_token(secret: str, conversation_id: int) -> str:
    digest = hmac.new(secret.encode(), f"conversation:{conversation_id}".encode(), hashlib.sha256).hexdigest()[:12]
    return f"{conversation_id}-{digest}"


def reply_address(address: str, secret: str, conversation_id: int) -> str:
    """``support@x`` → ``support+r-<conversation>-<signature>@x``: replies find their conversation
    even without headers."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}+r-{conversation_token(secret, conversation_id)}@{domain}"


def outbound_message_id(key: str, secret: str, conversation_id: int, domain: str) -> str:
    """The Message-ID of a reply: fixed by the outbox key (a retry reuses it) and carrying the signed
    conversation token."""
    return f"<raccordo.{re.sub(r'[^0-9a-zA-Z]', '', key)[:20]}.{conversation_token(secret, conversation_id)}@{domain}>"


def conversation_from_tokens(secret: str, addresses: list[str], referenced_ids: list[str]) -> int | None:
    """The conversation named by a correctly signed token in a recipient address or a referenced Message-ID."""
    candidates = [m.groups() for a in addresses if (m := _TOKEN.search(a))]
    candidates += [m.groups() for r in referenced_ids if (m := _ID_TOKEN.match(r))]
    for conversation, signature in candidates:
        expected = conversation_token(secret, int(conversation)).split("-", 1)[1]
        if hmac.compare_digest(expected, signature.lower()):
            return int(conversation)
    return None
