"""A new message template as an admin writes it, checked and turned into Meta's create payload. Pure.

The rules are Meta's (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
and its components guide): a name of lower-case letters, digits and underscores; a category
(marketing, utility, authentication); a language (the product offers Italian and English); an
optional text header and footer of at most 60 characters; a body of at most 1024 characters whose
variables are ``{{1}}``, ``{{2}}``... without gaps, each with an example (Meta reviews the
template with them); up to ``MAX_BUTTONS`` buttons: quick reply, a URL (https) or a phone number.
Each refusal names the form field, so the admin page shows it next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from raccordo.platform.errors import InvalidInput

CATEGORIES = ("utility", "marketing", "authentication")
LANGUAGES = ("it", "en")
BUTTON_KINDS = ("quick_reply", "url", "phone_number")
MAX_BUTTONS = 3
MAX_BODY = 1024
MAX_SHORT = 60
MAX_BUTTON_TEXT = 25
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")
_PHONE = re.compile(r"^\+\d{6,15}$")


@dataclass(frozen=True)
class ButtonDraft:
    kind: str
    text: str
    value: str = ""  # the URL or the phone number


@dataclass(frozen=True)
class TemplateDraft:
    name: str
    category: str
    language: str
    body: str
    examples: list[str] = field(default_factory=list)
    header: str = ""
    footer: str = ""
    buttons: list[ButtonDraft] = field(default_factory=list)


def variables_of(body: str) -> list[int]:
    return sorted({int(n) for n in _VARIABLE.findall(body)})


def build(draft: TemplateDraft) -> dict[str, Any]:
    """Meta's ``POST /{waba-id}/message_templates`` body; raises ``InvalidInput`` naming the field."""
    if not _NAME.match(draft.name):
        raise InvalidInput("whatsapp.authoring.name", field="name")
    if draft.category not in CATEGORIES:
        raise InvalidInput("whatsapp.authoring.category", field="category")
    if draft.language not in LANGUAGES:
        raise InvalidInput("whatsapp.authoring.language", field="language")
    components: list[dict[str, Any]] = []
    if draft.header:
        _short(draft.header, "header")
        components.append({"type": "HEADER", "format": "TEXT", "text": draft.header})
    if not draft.body.strip() or len(draft.body) > MAX_BODY:
        raise InvalidInput("whatsapp.authoring.body", field="body", limit=MAX_BODY)
    numbers = variables_of(draft.body)
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidInput("whatsapp.authoring.variables_gap", field="body")
    examples = [e.strip() for e in draft.examples if e.strip()]
    if len(examples) != len(numbers):
        raise InvalidInput("whatsapp.authoring.examples", field="examples", expected=len(numbers), given=len(examples))
    body: dict[str, Any] = {"type": "BODY", "text": draft.body}
    if examples:
        body["example"] = {"body_text": [examples]}
    components.append(body)
    if draft.footer:
        _short(draft.footer, "footer")
        components.append({"type": "FOOTER", "text": draft.footer})
    if draft.buttons:
        components.append({"type": "BUTTONS", "buttons": [_button(b, i) for i, b in enumerate(draft.buttons)]})
    return {
        "name": draft.name,
        "language": draft.language,
        "category": draft.category.upper(),
        "components": components,
    }


def _short(text: str, where: str) -> None:
    if len(text) > MAX_SHORT or _VARIABLE.search(text):
        raise InvalidInput("whatsapp.authoring.short", field=where, limit=MAX_SHORT)


def _button(button: ButtonDraft, index: int) -> dict[str, Any]:
    where = f"button_text_{index + 1}"
    if button.kind not in BUTTON_KINDS:
        raise InvalidInput("whatsapp.authoring.button_kind", field=f"button_kind_{index + 1}")
    if not 1 <= len(button.text) <= MAX_BUTTON_TEXT:
        raise InvalidInput("whatsapp.authoring.button_text", field=where, limit=MAX_BUTTON_TEXT)
    if button.kind == "url":
        if not button.value.startswith("https://") or len(button.value) > 2000:
            raise InvalidInput("whatsapp.authoring.button_url", field=f"button_value_{index + 1}")
        return {"type": "URL", "text": button.text, "url": button.value}
    if button.kind == "phone_number":
        if not _PHONE.match(button.value):
            raise InvalidInput("whatsapp.authoring.button_phone", field=f"button_value_{index + 1}")
        return {"type": "PHONE_NUMBER", "text": button.text, "phone_number": button.value}
    return {"type": "QUICK_REPLY", "text": button.text}
