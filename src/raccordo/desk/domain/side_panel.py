"""Side-panel apps: which URLs may be framed, what part of the context an app receives, the
message it gets, and the signed token in it. Pure functions, no I/O.

The token is a standard JWT (HS256, RFC 7519) made with PyJWT; integrators verify it with any
JWT library (see ``docs/side-panel-apps.md``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import jwt

from raccordo.platform.errors import InvalidInput

MESSAGE_TYPE = "raccordo.context"
MESSAGE_VERSION = 1
TOKEN_SECONDS = 600
# Optional parts of the context; ids, the conversation's status and channel, and the agent's id always go.
SHAREABLE = (
    "contact.name",
    "contact.identities",
    "contact.attributes",
    "conversation.subject",
    "conversation.attributes",
    "conversation.assignee",
    "agent.name",
)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
MAX_NAME = 100
MAX_URL = 2000
# Host names only (letters, digits, dots, dashes): the origin goes into the page's CSP header.
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def app_origin(url: str) -> str:
    """The exact origin (``scheme://host[:port]``) a valid app URL is served from."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def check_url(value: object) -> str:
    """An https URL, or http on localhost / 127.0.0.1 / [::1] for development; no credentials, no fragment."""
    url = str(value or "").strip()
    if not url:
        raise InvalidInput("apps.url_required", field="url")
    if len(url) > MAX_URL or any(ch.isspace() for ch in url):
        raise InvalidInput("apps.url_invalid", field="url", value=url[:200])
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("apps.url_invalid", field="url", value=url[:200]) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password or parts.fragment:
        raise InvalidInput("apps.url_invalid", field="url", value=url[:200])
    if not _HOST.match(host):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput("apps.url_invalid", field="url", value=url[:200]) from None
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise InvalidInput("apps.url_not_https", field="url", value=url[:200])
    if port == 0:
        raise InvalidInput("apps.url_invalid", field="url", value=url[:200])
    try:
        if parts.scheme == "https" and ipaddress.ip_address(host.strip("[]")).is_unspecified:
            raise InvalidInput("apps.url_invalid", field="url", value=url[:200])
    except ValueError:
        pass
    return url


def check_name(value: object) -> str:
    name = str(value or "").strip()
    if not name:
        raise InvalidInput("apps.name_required", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput("apps.name_long", field="name", limit=MAX_NAME)
    return name


def check_share(value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("apps.share_invalid", field="share", value=str(value)[:100], known=", ".join(SHAREABLE))
    unknown = [v for v in value if v not in SHAREABLE]
    if unknown:
        raise InvalidInput("apps.share_invalid", field="share", value=", ".join(unknown), known=", ".join(SHAREABLE))
    return [v for v in SHAREABLE if v in value]


def applies(
    inbox_ids: list[int], queue_ids: list[int], conversation_inbox_ids: set[int], conversation_queue_ids: set[int]
) -> bool:
    """Whether an app filtered by inboxes / queues (empty: any) is shown for a conversation."""
    if inbox_ids and not set(inbox_ids) & conversation_inbox_ids:
        return False
    if queue_ids and not set(queue_ids) & conversation_queue_ids:
        return False
    return True


def context_message(
    share: list[str], contact: dict[str, Any], conversation: dict[str, Any], agent: dict[str, Any], token: str
) -> dict[str, Any]:
    """The ``raccordo.context`` message with only the parts ``share`` names (plus the ids)."""
    allowed = set(share)
    return {
        "type": MESSAGE_TYPE,
        "version": MESSAGE_VERSION,
        "contact": {
            "id": contact["id"],
            "name": contact.get("name") if "contact.name" in allowed else None,
            "identities": contact.get("identities", []) if "contact.identities" in allowed else [],
            "attributes": contact.get("attributes", {}) if "contact.attributes" in allowed else {},
        },
        "conversation": {
            "id": conversation["id"],
            "status": conversation.get("status"),
            "channel": conversation.get("channel"),
            "subject": conversation.get("subject") if "conversation.subject" in allowed else None,
            "attributes": conversation.get("attributes", {}) if "conversation.attributes" in allowed else {},
            "assignee": conversation.get("assignee") if "conversation.assignee" in allowed else None,
        },
        "agent": {
            "id": agent["id"],
            "name": agent.get("name") if "agent.name" in allowed else None,
            "language": agent.get("language"),
        },
        "token": token,
    }


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """A JWT (HS256) of ``claims``."""
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, now: float, audience: str | None = None) -> dict[str, Any] | None:
    """The claims of a token signed with ``secret`` and not expired at ``now`` (and for ``audience``,
    ``side-panel-app:<id>``, when given), else None: what an app does."""
    options = {"verify_exp": False, "verify_aud": audience is not None, "require": ["exp"]}
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=audience, options=options)  # type: ignore[arg-type]
    except jwt.PyJWTError:
        return None
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now:
        return None
    return claims
