"""The chat widget's own rules, shared by the channel, its endpoints and its services: the inbox
settings, the visitor token and the host site's identity hash, the message a visitor's socket
stores raw, and the attachment limits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from raccordo.channels.base import InboxConfig
from raccordo.platform.errors import InvalidInput

KIND = "widget"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
DEFAULT_ATTACHMENT_BYTES = 5 * 1024 * 1024
DEFAULT_ATTACHMENT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain")
DEFAULT_COLORS = {"primary": "#1f6feb", "on_primary": "#ffffff"}
BUILTIN_FIELDS = ("name", "email", "phone")
FIELD_TYPES = ("text", "email", "tel")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MIME = re.compile(r"^[a-z]+/[a-z0-9.+*-]+$")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SETTINGS = {
    "allowed_origins",
    "greeting",
    "title",
    "colors",
    "prechat_fields",
    "max_attachment_bytes",
    "attachment_types",
    "offline_inbox_id",
    "visitor_messages_per_minute",
    "ip_messages_per_minute",
}


def _text_or_translations(value: Any, where: str, limit: int) -> Any:
    """A plain string for every language, or ``{"it": ..., "en": ...}``."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= limit:
        return value
    if (
        isinstance(value, dict)
        and value
        and all(k in ("it", "en") and isinstance(v, str) and len(v) <= limit for k, v in value.items())
    ):
        return dict(value)
    raise InvalidInput("widget.setting_text", field=where, limit=limit)


def localized(value: Any, language: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.get(language) or value.get("en") or value.get("it")


def _origin(value: Any, where: str) -> str:
    if value == "*":
        return value
    parsed = urlparse(str(value))
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.netloc
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
    ):
        raise InvalidInput("widget.origin_invalid", field=where, value=str(value))
    return f"{parsed.scheme}://{parsed.netloc.lower()}"


def origin_allowed(settings: dict[str, Any], origin: str | None) -> bool:
    allowed = settings.get("allowed_origins") or []
    if not origin:
        return False
    return "*" in allowed or origin.rstrip("/").lower() in allowed


def _sign(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)


def visitor_token(config: InboxConfig, visitor_id: str) -> str:
    """``<visitor id>.<HMAC-SHA256(visitor_secret, identifier:visitor id)>``: only this server can make one."""
    return f"{visitor_id}.{_sign(config.secrets['visitor_secret'], f'{config.identifier}:{visitor_id}')}"


def verify_visitor_token(config: InboxConfig, token: str | None) -> str | None:
    """The visitor id the token was issued for on this inbox, or None for a forged or foreign token."""
    if not token or token.count(".") != 1:
        return None
    visitor_id, signature = token.split(".")
    if not _VISITOR_ID.match(visitor_id):
        return None
    expected = _sign(config.secrets.get("visitor_secret", ""), f"{config.identifier}:{visitor_id}")
    return visitor_id if hmac.compare_digest(expected, signature) else None


def identity_hash(hmac_secret: str, user_id: str) -> str:
    """What a host site's server computes for its logged-in user: hex HMAC-SHA256(inbox hmac_secret, user id)."""
    return _sign(hmac_secret, user_id)


def verify_identity(config: InboxConfig, user_id: str, given_hash: str) -> bool:
    expected = identity_hash(config.secrets.get("hmac_secret", ""), user_id)
    return bool(given_hash) and hmac.compare_digest(expected, given_hash.strip().lower())


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=300)
    content_type: str = Field(max_length=200)
    data_base64: str


class VisitorPayload(BaseModel):
    """What the visitor's socket stores raw for one message (after authenticating the visitor)."""

    model_config = ConfigDict(extra="forbid")
    visitor_id: str = Field(pattern=_VISITOR_ID.pattern)
    client_message_id: str = Field(min_length=1, max_length=100)
    text: str = Field(default="", max_length=10_000)
    attachments: list[_Attachment] = Field(default_factory=list, max_length=5)
    page_url: str | None = Field(default=None, max_length=2000)
    referrer: str | None = Field(default=None, max_length=2000)
    attributes: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=8)
    user_agent: str | None = Field(default=None, max_length=500)


def attachment_limits(settings: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    return int(settings.get("max_attachment_bytes") or DEFAULT_ATTACHMENT_BYTES), tuple(
        settings.get("attachment_types") or DEFAULT_ATTACHMENT_TYPES
    )


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    content_type = content_type.split(";", 1)[0].strip().lower()
    return any(content_type == a or (a.endswith("/*") and content_type.startswith(a[:-1])) for a in allowed)


def validate_settings(settings: dict[str, Any], secrets_: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    unknown = set(settings) - _SETTINGS
    if unknown:
        raise InvalidInput("inbox.setting_unknown", field="settings", names=", ".join(sorted(unknown)))
    origins = settings.get("allowed_origins")
    if not isinstance(origins, list) or not origins or len(origins) > 50:
        raise InvalidInput("widget.origins_required", field="settings.allowed_origins")
    clean: dict[str, Any] = {
        "allowed_origins": sorted({_origin(o, f"settings.allowed_origins.{i}") for i, o in enumerate(origins)})
    }
    for name, limit in (("greeting", 500), ("title", 100)):
        if settings.get(name) is not None:
            clean[name] = _text_or_translations(settings[name], f"settings.{name}", limit)
    colors = settings.get("colors") or {}
    if not isinstance(colors, dict) or set(colors) - set(DEFAULT_COLORS):
        raise InvalidInput("widget.color_invalid", field="settings.colors", value=str(colors)[:100])
    for key, value in colors.items():
        if not isinstance(value, str) or not _HEX.match(value):
            raise InvalidInput("widget.color_invalid", field=f"settings.colors.{key}", value=str(value)[:100])
    clean["colors"] = {**DEFAULT_COLORS, **{k: v.lower() for k, v in colors.items()}}
    fields = settings.get("prechat_fields") or []
    if not isinstance(fields, list) or len(fields) > 10:
        raise InvalidInput("widget.field_invalid", field="settings.prechat_fields")
    clean_fields = []
    for index, item in enumerate(fields):
        where = f"settings.prechat_fields.{index}"
        if (
            not isinstance(item, dict)
            or set(item) - {"name", "label", "type", "required"}
            or not _FIELD_NAME.match(str(item.get("name", "")))
        ):
            raise InvalidInput("widget.field_invalid", field=where)
        name = item["name"]
        kind = item.get("type") or ("email" if name == "email" else "tel" if name == "phone" else "text")
        if kind not in FIELD_TYPES:
            raise InvalidInput("widget.field_invalid", field=f"{where}.type")
        if name not in BUILTIN_FIELDS and not item.get("label"):
            raise InvalidInput("widget.field_label_required", field=f"{where}.label", name=name)
        clean_fields.append(
            {
                "name": name,
                "label": _text_or_translations(item.get("label"), f"{where}.label", 100),
                "type": kind,
                "required": bool(item.get("required", False)),
            }
        )
    clean["prechat_fields"] = clean_fields
    size = settings.get("max_attachment_bytes", DEFAULT_ATTACHMENT_BYTES)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_ATTACHMENT_BYTES:
        raise InvalidInput(
            "widget.attachment_limit_invalid", field="settings.max_attachment_bytes", limit=MAX_ATTACHMENT_BYTES
        )
    clean["max_attachment_bytes"] = size
    types = settings.get("attachment_types", list(DEFAULT_ATTACHMENT_TYPES))
    if not isinstance(types, list) or not all(isinstance(t, str) and _MIME.match(t.lower()) for t in types):
        raise InvalidInput("widget.attachment_types_invalid", field="settings.attachment_types")
    clean["attachment_types"] = [t.lower() for t in types]
    offline = settings.get("offline_inbox_id")
    if offline is not None and (not isinstance(offline, int) or isinstance(offline, bool) or not 0 < offline < 2**63):
        raise InvalidInput("widget.offline_inbox_invalid", field="settings.offline_inbox_id")
    clean["offline_inbox_id"] = offline
    for name, default in (("visitor_messages_per_minute", 20), ("ip_messages_per_minute", 120)):
        value = settings.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
            raise InvalidInput("widget.rate_invalid", field=f"settings.{name}")
        clean[name] = value
    secrets_ = dict(secrets_)
    if set(secrets_) - {"hmac_secret", "visitor_secret"}:
        raise InvalidInput(
            "inbox.setting_unknown",
            field="secrets",
            names=", ".join(sorted(set(secrets_) - {"hmac_secret", "visitor_secret"})),
        )
    secrets_.setdefault("hmac_secret", secrets.token_urlsafe(32))
    secrets_.setdefault("visitor_secret", secrets.token_urlsafe(32))
    return clean, secrets_
