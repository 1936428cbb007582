"""Answer templates: which body fits a language, and filling in ``{{contact.first_name}}``-style variables.

Written by hand on purpose: template bodies are written by admins and rendered in agents'
browsers, so they must not be a programming language. Jinja2 (even sandboxed) evaluates
expressions, attribute lookups and filters; here a variable is only a dotted name looked up in
a flat dictionary of strings that the service builds. Nothing is evaluated, an unknown or
undefined variable renders empty, and any other ``{{ ... }}`` text stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from raccordo.platform.errors import InvalidInput

VARIABLE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\s*\}\}")
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LANGUAGES = ("it", "en")
# The variables the desktop fills in; others render empty.
KNOWN_VARIABLES = (
    "contact.name",
    "contact.first_name",
    "contact.last_name",
    "contact.email",
    "contact.phone",
    "agent.name",
    "agent.first_name",
    "conversation.id",
    "conversation.subject",
)
MAX_BODY = 10_000


def render(body: str, values: Mapping[str, str | None]) -> str:
    """Replace each ``{{ dotted.name }}`` with ``values[name]`` (empty when missing or None)."""
    return VARIABLE.sub(lambda match: str(values.get(match.group(1)) or ""), body)


def variables(body: str) -> list[str]:
    """The variable names a body uses, in order of first use."""
    return list(dict.fromkeys(VARIABLE.findall(body)))


def variant_order(language: str | None, channel: str | None) -> list[str]:
    """The ``bodies`` keys that fit, most specific first: ``email:it``, ``email``, ``it``.

    A template is written once and may be varied per language (the contact's) and per channel
    (the one the agent answers on: a formal email with a sign-off, a short chat line); the
    default ``body`` is used when no variant fits.
    """
    lang = language.split("-")[0].lower() if language else None
    keys = []
    if channel and lang:
        keys.append(f"{channel}:{lang}")
    if channel:
        keys.append(channel)
    if lang:
        keys.append(lang)
    return keys


def pick_variant(
    body: str, bodies: Mapping[str, str] | None, language: str | None, channel: str | None = None
) -> tuple[str, str | None]:
    """The best fitting body and its key (None: the default body)."""
    for key in variant_order(language, channel):
        chosen = (bodies or {}).get(key)
        if chosen and chosen.strip():
            return chosen, key
    return body, None


def pick_body(body: str, bodies: Mapping[str, str] | None, language: str | None, channel: str | None = None) -> str:
    """The body for ``language`` (and ``channel``) when the template has one, else the default body."""
    return pick_variant(body, bodies, language, channel)[0]


def validate(
    name: str | None,
    shortcut: str | None,
    body: str | None,
    bodies: Mapping[str, str] | None,
    channels: Iterable[str] = (),
) -> dict[str, str]:
    """Clean bodies (keys: a language ``it``/``en``, a channel of ``channels``, or ``channel:language``;
    empty ones dropped); raises ``InvalidInput`` naming the field."""
    if name is not None and not name.strip():
        raise InvalidInput("template.name_required", field="name")
    if shortcut is not None and not SHORTCUT.match(shortcut):
        raise InvalidInput("template.shortcut_invalid", field="shortcut", value=shortcut)
    if body is not None and (not body.strip() or len(body) > MAX_BODY):
        raise InvalidInput("template.body_required", field="body", limit=MAX_BODY)
    known_channels = set(channels)
    clean: dict[str, str] = {}
    for key, text in (bodies or {}).items():
        if ":" in key:
            channel, _, language = key.partition(":")
            fits = channel in known_channels and language in LANGUAGES
        else:
            fits = key in LANGUAGES or key in known_channels
        if not fits:
            raise InvalidInput(
                "template.variant_unknown",
                field="bodies",
                value=key,
                languages=", ".join(LANGUAGES),
                channels=", ".join(sorted(known_channels)),
            )
        if not isinstance(text, str) or len(text) > MAX_BODY:
            raise InvalidInput("template.body_required", field=f"bodies.{key}", limit=MAX_BODY)
        if text.strip():
            clean[key] = text
    return clean


def first_name(name: str | None) -> str:
    return (name or "").strip().split(" ")[0] if name else ""


def last_name(name: str | None) -> str:
    parts = (name or "").strip().split(" ")
    return " ".join(parts[1:]) if len(parts) > 1 else ""
