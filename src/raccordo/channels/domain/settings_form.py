"""A channel's settings form, declared by the channel: fields, Italian and English labels, secrets,
defaults and the checks a form can make by itself. Pure.

The admin page renders and reads any channel's inbox form from this declaration alone, and
``Channel.validate_settings`` uses it by default (unknown names refused, required ones present,
types, choices, defaults, generated secrets). A channel with richer rules (email's ports per
security mode, the widget's origins) overrides ``validate_settings`` and still declares its
form here, so nothing outside the channel's module knows its fields.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from raccordo.platform.errors import InvalidInput


@dataclass(frozen=True)
class Label:
    """A user-visible text in both languages of the product."""

    en: str
    it: str

    def get(self, language: str) -> str:
        return self.it if language == "it" else self.en


class FieldKind(enum.StrEnum):
    TEXT = "text"
    EMAIL = "email"
    URL = "url"
    PORT = "port"  # 1-65535
    INTEGER = "integer"
    CHOICE = "choice"  # one of ``choices``
    BOOLEAN = "boolean"
    SECRET = "secret"  # stored encrypted, write-only: never shown back
    LINES = "lines"  # a list of strings, one per line
    TEXTAREA = "textarea"
    COLOR = "color"  # #rrggbb
    JSON = "json"  # a JSON list or object


@dataclass(frozen=True)
class Choice:
    value: str
    label: Label


@dataclass(frozen=True)
class SettingsField:
    """One form field. ``path`` is where the value lives in the inbox settings (``("colors", "primary")``);
    by default the field's own name. A ``SECRET`` field lives in the inbox's secrets instead."""

    name: str
    label: Label
    kind: FieldKind = FieldKind.TEXT
    required: bool = False
    default: Any = None
    hint: Label | None = None
    choices: tuple[Choice, ...] = ()
    path: tuple[str, ...] = ()
    # A secret the server makes when none is given (e.g. a signing key); the form may leave it empty.
    generated: bool = False
    # For JSON fields: the JSON type the value must have.
    json_list: bool = False

    @property
    def where(self) -> tuple[str, ...]:
        return self.path or (self.name,)

    @property
    def secret(self) -> bool:
        return self.kind == FieldKind.SECRET


@dataclass(frozen=True)
class SettingsForm:
    """The inbox form of a channel. ``shown_once`` are generated secrets the integrator must copy:
    the page that answers the creation of an inbox shows them once."""

    fields: tuple[SettingsField, ...] = ()
    shown_once: tuple[SettingsField, ...] = ()
    # Settings a channel keeps that the form does not show (edited through the API), still accepted.
    extra_settings: tuple[str, ...] = ()

    def field(self, name: str) -> SettingsField | None:
        return next((f for f in self.fields if f.name == name), None)

    def field_for_error(self, error_field: str | None) -> str | None:
        """The form field a service error names: ``settings.colors.primary`` is the field whose path
        that is, ``settings.allowed_origins.2`` is ``allowed_origins``, ``secrets.imap_password`` its field."""
        parts = tuple((error_field or "").split("."))
        if parts[0] in ("settings", "secrets"):
            parts = parts[1:]
        best = None
        for item in self.fields:
            where = (item.name,) if item.secret else item.where
            if parts[: len(where)] == where and (best is None or len(where) > len(best[1])):
                best = (item.name, where)
        return best[0] if best else None

    def shown_values(self, settings: dict[str, Any]) -> dict[str, Any]:
        """What the form's fields show for stored settings (a secret: never)."""
        values: dict[str, Any] = {}
        for item in self.fields:
            if item.secret:
                values[item.name] = ""
                continue
            value = read_path(settings, item.where)
            if value is None:
                value = item.default
            values[item.name] = "" if value is None else value
        return values

    def validate(self, settings: dict[str, Any], secrets_: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """The declared checks and defaults; raises ``InvalidInput`` naming the field (``settings.<path>``)."""
        settings, secrets_ = dict(settings), dict(secrets_)
        known_tops = {f.where[0] for f in self.fields if not f.secret} | set(self.extra_settings)
        unknown = set(settings) - known_tops
        if unknown:
            raise InvalidInput("inbox.setting_unknown", field="settings", names=", ".join(sorted(unknown)))
        secret_names = {f.name for f in (*self.fields, *self.shown_once) if f.secret}
        unknown_secrets = set(secrets_) - secret_names
        if unknown_secrets:
            raise InvalidInput("inbox.setting_unknown", field="secrets", names=", ".join(sorted(unknown_secrets)))
        for item in (*self.fields, *self.shown_once):
            if item.secret:
                if item.generated and not secrets_.get(item.name):
                    secrets_[item.name] = secrets.token_urlsafe(32)
                elif item.required and not secrets_.get(item.name):
                    raise InvalidInput("ui.error.required", field=f"secrets.{item.name}")
                continue
            where = "settings." + ".".join(item.where)
            value = read_path(settings, item.where)
            if value is None or value == "":
                if item.required:
                    raise InvalidInput("ui.error.required", field=where)
                if item.default is not None:
                    write_path(settings, item.where, item.default)
                continue
            write_path(settings, item.where, _checked(item, value, where))
        return settings, secrets_


def _checked(item: SettingsField, value: Any, where: str) -> Any:
    kind = item.kind
    if kind in (FieldKind.PORT, FieldKind.INTEGER):
        low, high = (1, 65535) if kind == FieldKind.PORT else (-(2**53), 2**53)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidInput("ui.error.integer", field=where, low=low, high=high)
        return value
    if kind == FieldKind.BOOLEAN:
        if not isinstance(value, bool):
            raise InvalidInput("email.setting_bool", field=where)
        return value
    if kind == FieldKind.LINES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput("channel.setting_invalid", field=where)
        return value
    if kind == FieldKind.JSON:
        if not isinstance(value, list if item.json_list else dict):
            raise InvalidInput("ui.error.json_list" if item.json_list else "ui.error.json_object", field=where)
        return value
    if not isinstance(value, str):
        raise InvalidInput("channel.setting_invalid", field=where)
    if kind == FieldKind.CHOICE and value not in {c.value for c in item.choices}:
        raise InvalidInput("channel.setting_invalid", field=where)
    if kind == FieldKind.URL:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput("channel.setting_invalid", field=where)
    return value


def read_path(settings: dict[str, Any], where: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in where:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def write_path(settings: dict[str, Any], where: tuple[str, ...], value: Any) -> None:
    target = settings
    for key in where[:-1]:
        nested = target.get(key)
        target[key] = nested = dict(nested) if isinstance(nested, dict) else {}
        target = nested
    target[where[-1]] = value


def drop_path(settings: dict[str, Any], where: tuple[str, ...]) -> None:
    target: Any = settings
    for key in where[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target.pop(where[-1], None)
