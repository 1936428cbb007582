"""What an agent sends besides free text: an approved template or interactive buttons and lists. Pure.

The reply service hands the reply's ``content_attributes`` to ``WhatsAppChannel.prepare_content``,
which comes here: a template must be one the inbox synced from Meta (``templates.py``) and
approved, with every body variable given; its rendered body becomes the message's text, so the
timeline shows what the customer got. A marketing template asks for the contact's WhatsApp
marketing consent. Interactive content is checked with Meta's limits (``outbound.py``). The
outbox's send reads the same attributes back (``payload_for``).

Attribute shapes (the REST reply's ``content_attributes`` and the composer's template picker)::

    {"template": {"name": "ripresa_contatto", "language": "it", "variables": ["Giulia", "#123"]}}
    {"interactive": {"type": "button", "body": "...", "options": [{"id": "yes", "title": "Yes"}]}}
    {"interactive": {"type": "list", "body": "...", "button": "Choose", "options": [...]}}
"""

from __future__ import annotations

import re
from typing import Any

from raccordo.channels.base import MessageTemplate, PreparedContent
from raccordo.channels.whatsapp import outbound
from raccordo.platform.errors import InvalidInput

MARKETING_CONSENT = "marketing_whatsapp"
MAX_VARIABLE = 1024
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")
_FIELD = "content_attributes"


def render(body: str, variables: list[str]) -> str:
    """A template body with ``{{n}}`` replaced by the n-th value (a missing one stays as written)."""

    def value(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return variables[index] if 0 <= index < len(variables) else match.group(0)

    return _VARIABLE.sub(value, body)


def find_template(settings: dict[str, Any], name: str, language: str) -> dict[str, Any] | None:
    """The synced template of that name and language, whatever its status."""
    return next(
        (t for t in settings.get("templates") or [] if t.get("name") == name and t.get("language") == language), None
    )


def has_marketing_consent(contact: dict[str, Any]) -> bool:
    decision = (contact.get("consent") or {}).get(MARKETING_CONSENT)
    return isinstance(decision, dict) and bool(decision.get("granted"))


def prepare(settings: dict[str, Any], attributes: dict[str, Any], contact: dict[str, Any]) -> PreparedContent | None:
    unknown = sorted(set(attributes) - {"template", "interactive"})
    if unknown:
        raise InvalidInput("reply.content_unsupported", field=f"{_FIELD}.{unknown[0]}", channel="whatsapp")
    if "template" in attributes and "interactive" in attributes:
        raise InvalidInput("whatsapp.content_one_kind", field=_FIELD)
    if "template" in attributes:
        return _template(settings, attributes["template"], contact)
    if "interactive" in attributes:
        return _interactive(attributes["interactive"])
    return None


def _template(settings: dict[str, Any], given: object, contact: dict[str, Any]) -> PreparedContent:
    where = f"{_FIELD}.template"
    if not isinstance(given, dict):
        raise InvalidInput("whatsapp.template_shape", field=where)
    name, language = str(given.get("name") or ""), str(given.get("language") or "")
    raw = given.get("variables") or []
    if not isinstance(raw, list) or not all(isinstance(v, (str, int, float)) for v in raw):
        raise InvalidInput("whatsapp.template_shape", field=f"{where}.variables")
    variables = [str(v).strip() for v in raw]
    template = find_template(settings, name, language)
    if template is None:
        raise InvalidInput("whatsapp.template_unknown", field=f"{where}.name", name=name, code=language)
    if template.get("status") != "approved":
        raise InvalidInput(
            "whatsapp.template_not_approved", field=f"{where}.name", name=name, status=template.get("status") or "?"
        )
    expected = int(template.get("variables") or 0)
    if len(variables) != expected:
        raise InvalidInput(
            "whatsapp.template_variable_count", field=f"{where}.variables", expected=expected, given=len(variables)
        )
    for index, value in enumerate(variables):
        if not value:
            raise InvalidInput("whatsapp.template_variable_empty", field=f"{where}.variables.{index}", n=index + 1)
        if len(value) > MAX_VARIABLE or "\n" in value:
            raise InvalidInput("whatsapp.template_variable_invalid", field=f"{where}.variables.{index}", n=index + 1)
    category = str(template.get("category") or "")
    marketing = category == "marketing"
    if marketing and not has_marketing_consent(contact):
        raise InvalidInput("whatsapp.template_marketing_consent", field=f"{where}.name", name=name)
    text = render(str(template.get("body") or ""), variables)
    if template.get("header"):
        text = f"{template['header']}\n\n{text}"
    if template.get("footer"):
        text = f"{text}\n\n{template['footer']}"
    stored = {"name": name, "language": language, "variables": variables, "category": category}
    return PreparedContent(
        text=text,
        attributes={"template": stored},
        outside_window=True,
        consent_purpose=MARKETING_CONSENT if marketing else None,
    )


def _options(raw: object, where: str) -> list[outbound.Option]:
    if not isinstance(raw, list):
        raise InvalidInput("whatsapp.interactive_shape", field=where)
    options = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not str(item.get("title") or "").strip():
            raise InvalidInput("whatsapp.interactive_shape", field=f"{where}.{index}")
        title = str(item["title"]).strip()
        options.append(
            outbound.Option(str(item.get("id") or f"option-{index + 1}"), title, str(item.get("description") or ""))
        )
    return options


def _interactive(given: object) -> PreparedContent:
    where = f"{_FIELD}.interactive"
    if not isinstance(given, dict):
        raise InvalidInput("whatsapp.interactive_shape", field=where)
    kind = given.get("type")
    body = str(given.get("body") or "").strip()
    if kind not in ("button", "list") or not body:
        raise InvalidInput("whatsapp.interactive_shape", field=f"{where}.type" if body else f"{where}.body")
    options = _options(given.get("options"), f"{where}.options")
    button = str(given.get("button") or "").strip()
    try:
        if kind == "button":
            outbound.buttons("0", body, options)
        else:
            if not button:
                raise InvalidInput("whatsapp.interactive_shape", field=f"{where}.button")
            outbound.list_message("0", body, button, options)
    except outbound.OutboundInvalid as exc:
        raise InvalidInput("whatsapp.interactive_invalid", field=f"{where}.options", rule=str(exc)) from None
    stored: dict[str, Any] = {
        "type": kind,
        "body": body,
        "options": [
            {"id": o.id, "title": o.title, **({"description": o.description} if o.description else {})} for o in options
        ],
    }
    if kind == "list":
        stored["button"] = button
    listed = "\n".join(f"• {o.title}" for o in options)
    return PreparedContent(text=f"{body}\n\n{listed}", attributes={"interactive": stored})


# Examples that say a variable is the customer's first name (the admin writes one per variable).
_FIRST_NAME_EXAMPLES = ("nome", "first name", "first_name", "name", "nome cliente", "customer name", "giulia", "mario")
_REFERENCE_MARKERS = ("#", "pratica", "richiesta", "ticket", "request", "case", "conversation", "conversazione")


def prefill(examples: list[str], count: int, contact: dict[str, Any]) -> tuple[str, ...]:
    """Values for a template's variables from the contact and the conversation, where the example says
    what the variable is: a first name, or the conversation's reference (``#<id>``); "" for the agent."""
    values = []
    for index in range(count):
        example = (examples[index] if index < len(examples) else "").strip().lower()
        if example and any(example == word or example.startswith(word + " ") for word in _FIRST_NAME_EXAMPLES):
            values.append(str(contact.get("first_name") or ""))
        elif example and contact.get("conversation_id") and any(m in example for m in _REFERENCE_MARKERS):
            values.append(f"#{contact['conversation_id']}")
        else:
            values.append("")
    return tuple(values)


def pickable(settings: dict[str, Any], contact: dict[str, Any]) -> list[MessageTemplate]:
    """The inbox's approved templates for the composer's picker; a marketing one says why it is unavailable."""
    rows = []
    for template in settings.get("templates") or []:
        if template.get("status") != "approved":
            continue
        count = int(template.get("variables") or 0)
        examples = [str(e) for e in template.get("examples") or []]
        marketing = template.get("category") == "marketing"
        rows.append(
            MessageTemplate(
                name=str(template.get("name")),
                language=str(template.get("language")),
                category=str(template.get("category") or ""),
                body=str(template.get("body") or ""),
                prefill=prefill(examples, count, contact),
                hints=tuple(examples[i] if i < len(examples) else "" for i in range(count)),
                attributes={"template": {"name": template.get("name"), "language": template.get("language")}},
                unavailable="whatsapp.template_marketing_consent"
                if marketing and not has_marketing_consent(contact)
                else None,
            )
        )
    rows.sort(key=lambda t: (t.unavailable is not None, t.name, t.language))
    return rows


def payload_for(to: str, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The Cloud API payload for a message's stored template or interactive attributes; None for text."""
    template = attributes.get("template")
    if isinstance(template, dict):
        return outbound.template(
            to,
            str(template.get("name") or ""),
            str(template.get("language") or ""),
            list(template.get("variables") or []),
        )
    interactive = attributes.get("interactive")
    if isinstance(interactive, dict):
        options = [
            outbound.Option(str(o.get("id")), str(o.get("title")), str(o.get("description") or ""))
            for o in interactive.get("options") or []
        ]
        if interactive.get("type") == "list":
            return outbound.list_message(to, str(interactive.get("body")), str(interactive.get("button")), options)
        return outbound.buttons(to, str(interactive.get("body")), options)
    return None
