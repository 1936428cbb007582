"""Message templates in the WhatsApp sandbox: created as Meta's Business Management API takes them, and reviewed.

``POST /{version}/{waba-id}/message_templates`` (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates)
takes ``{"name", "language", "category", "components": [HEADER, BODY, FOOTER, BUTTONS]}`` and
answers ``{"id", "status": "PENDING", "category"}``; Meta's own checks are played here: the name
(lower-case letters, digits, underscores), one body of at most 1024 characters, an example for
each body variable (``example.body_text``), header and footer of at most 60 characters, at most
10 buttons (quick reply, URL, phone number), no second template of that name in that language
(subcode 2388024). Meta then reviews it; here a control endpoint does
(``POST /_sandbox/whatsapp/numbers/{phone-number-id}/templates/{name}/{language}``), or a person on
the review page (``/_sandbox/whatsapp/templates?lang=it|en``, linked from the customer phone page),
and the template sync shows the new status.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from raccordo.sandbox.whatsapp_state import SANDBOX, SandboxError

ROUTER = APIRouter(tags=["whatsapp sandbox"])
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_VERSION = re.compile(r"^v\d+\.\d+$")
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
REVIEW = ("APPROVED", "REJECTED", "PAUSED", "DISABLED", "PENDING")
_BUTTONS = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
_BODY = Body(...)


def _invalid(details: str, subcode: int | None = None) -> SandboxError:
    error = SandboxError(400, 100, "Invalid parameter", details)
    error.subcode = subcode  # type: ignore[attr-defined]
    return error


def _answer(exc: SandboxError) -> JSONResponse:
    body = exc.body()
    if getattr(exc, "subcode", None):
        body["error"]["error_subcode"] = exc.subcode  # type: ignore[attr-defined]
    return JSONResponse(body, status_code=exc.http_status)


def _check_components(components: Any) -> None:
    if not isinstance(components, list):
        raise _invalid("components must be a list")
    kinds = [str((c or {}).get("type", "")).upper() for c in components]
    if kinds.count("BODY") != 1:
        raise _invalid("a template has exactly one BODY component")
    for component, kind in zip(components, kinds, strict=True):
        text = str(component.get("text") or "")
        if kind == "BODY":
            if not 1 <= len(text) <= 1024:
                raise _invalid("the body has 1 to 1024 characters")
            variables = sorted({int(n) for n in _VARIABLE.findall(text)})
            if variables and variables != list(range(1, len(variables) + 1)):
                raise _invalid("body variables are numbered {{1}}, {{2}}... without gaps", 2388043)
            examples = ((component.get("example") or {}).get("body_text") or [[]])[0]
            if variables and (len(examples) != len(variables) or not all(str(e).strip() for e in examples)):
                raise _invalid("each body variable needs an example (example.body_text)", 2388043)
        elif kind in ("HEADER", "FOOTER"):
            if kind == "HEADER" and str(component.get("format", "TEXT")).upper() != "TEXT":
                raise _invalid("the sandbox takes text headers only")
            if not 1 <= len(text) <= 60 or _VARIABLE.search(text):
                raise _invalid(f"the {kind.lower()} has 1 to 60 characters and no variable")
        elif kind == "BUTTONS":
            buttons = component.get("buttons") or []
            if not 1 <= len(buttons) <= 10:
                raise _invalid("1 to 10 buttons")
            for button in buttons:
                kind_of = str(button.get("type", "")).upper()
                if kind_of not in _BUTTONS or not 1 <= len(str(button.get("text") or "")) <= 25:
                    raise _invalid("a button is QUICK_REPLY, URL or PHONE_NUMBER with a text of 1 to 25 characters")
                if kind_of == "URL" and not str(button.get("url") or "").startswith("https://"):
                    raise _invalid("a URL button needs an https:// url")
                if kind_of == "PHONE_NUMBER" and not re.fullmatch(r"\+?\d{6,15}", str(button.get("phone_number"))):
                    raise _invalid("a PHONE_NUMBER button needs a phone_number")
        else:
            raise _invalid(f"unknown component type {kind}")


def _template_id(name: str, language: str) -> str:
    return hashlib.sha1(f"{name}:{language}".encode()).hexdigest()[:15]


@ROUTER.post("/_sandbox/whatsapp/numbers/{phone_number_id}/templates/{name}/{language}")
def review(phone_number_id: str, name: str, language: str, data: dict[str, Any] = _BODY) -> Response:
    """Meta's review: ``{"status": "APPROVED" | "REJECTED" | "PAUSED" | "DISABLED", "rejected_reason"}``,
    applied to the template in every number of the account."""
    status = str(data.get("status") or "").upper()
    try:
        number = SANDBOX.number(phone_number_id)
        if status not in REVIEW:
            raise _invalid(f"status must be one of {', '.join(REVIEW)}")
        with SANDBOX.lock:
            found = [
                t
                for n in SANDBOX.numbers.values()
                if n.waba_id == number.waba_id
                for t in n.templates
                if t["name"] == name and t["language"] == language
            ]
            if not found:
                raise SandboxError(404, 100, "Unknown template", f"no template {name} in {language}")
            for template in found:
                template["status"] = status
                if status == "REJECTED":
                    template["rejected_reason"] = str(data.get("rejected_reason") or "INVALID_FORMAT")
    except SandboxError as exc:
        return _answer(exc)
    return JSONResponse({"name": name, "language": language, "status": status})


@ROUTER.post("/{version}/{waba_id}/message_templates")
async def create_template(
    version: str, waba_id: str, request: Request, authorization: str | None = Header(default=None)
) -> Response:
    try:
        if not _VERSION.match(version):
            raise SandboxError(400, 2500, "Unknown path components", f"/{version}")
        number = SANDBOX.by_waba(authorization, waba_id)
        try:
            data = await request.json()
        except ValueError:
            raise _invalid("The request body is not JSON") from None
        if not isinstance(data, dict):
            raise _invalid("The request body is not an object")
        name, language = str(data.get("name") or ""), str(data.get("language") or "")
        category = str(data.get("category") or "").upper()
        if not _NAME.match(name):
            raise _invalid("name: lower-case letters, digits and underscores only", 2388042)
        if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
            raise _invalid("language: a code such as it, en or en_US")
        if category not in CATEGORIES:
            raise _invalid(f"category must be one of {', '.join(CATEGORIES)}")
        _check_components(data.get("components"))
        template = {
            "name": name,
            "language": language,
            "status": "PENDING",
            "category": category,
            "components": data["components"],
        }
        with SANDBOX.lock:
            accounts = [n for n in SANDBOX.numbers.values() if n.waba_id == number.waba_id]
            if any(t["name"] == name and t["language"] == language for t in number.templates):
                raise _invalid("Content in this language already exists", 2388024)
            for account in accounts:
                account.templates.append(dict(template))
    except SandboxError as exc:
        return _answer(exc)
    return JSONResponse({"id": _template_id(name, language), "status": "PENDING", "category": category})


REVIEW_TEXTS = {
    "en": {
        "title": "Template review (WhatsApp sandbox)",
        "number": "Number",
        "name": "Template",
        "category": "Category",
        "status": "Status",
        "body": "Body",
        "approve": "Approve",
        "reject": "Reject",
    },
    "it": {
        "title": "Revisione dei modelli (sandbox WhatsApp)",
        "number": "Numero",
        "name": "Modello",
        "category": "Categoria",
        "status": "Stato",
        "body": "Testo",
        "approve": "Approva",
        "reject": "Rifiuta",
    },
}
_REVIEW_SCRIPT = """<script>
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-status]");
  if (!button) return;
  const row = button.closest("tr");
  const path = `/_sandbox/whatsapp/numbers/${row.dataset.number}/templates/${row.dataset.name}/${row.dataset.language}`;
  await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                     body: JSON.stringify({status: button.dataset.status})});
  location.reload();
});
</script>"""


@ROUTER.get("/_sandbox/whatsapp/templates", response_class=HTMLResponse)
def review_page(lang: str = "it") -> HTMLResponse:
    """Meta's review, played by a person: every number's templates with their status, approve or reject."""
    t = REVIEW_TEXTS[lang if lang in REVIEW_TEXTS else "it"]
    rows = []
    for number in SANDBOX.numbers.values():
        for template in number.templates:
            body = next((c.get("text", "") for c in template["components"] if c.get("type") == "BODY"), "")
            cells = (number.phone_number_id, template["name"], template["category"], template["status"], body)
            data = " ".join(
                f'data-{key}="{html.escape(str(value))}"'
                for key, value in (
                    ("number", number.phone_number_id),
                    ("name", template["name"]),
                    ("language", template["language"]),
                )
            )
            buttons = "".join(
                f'<button type="button" data-status="{status}">{html.escape(t[label])}</button>'
                for status, label in (("APPROVED", "approve"), ("REJECTED", "reject"))
            )
            rows.append(
                f"<tr {data}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + f"<td>{buttons}</td></tr>"
            )
    head = "".join(f"<th>{html.escape(t[k])}</th>" for k in ("number", "name", "category", "status", "body"))
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(t["title"])}</title>'
        "<style>body{font-family:sans-serif;margin:1rem}td,th{border-bottom:1px solid #ddd;padding:.3rem}</style>"
        f"</head><body><h1>{html.escape(t['title'])}</h1><table><thead><tr>{head}<th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{_REVIEW_SCRIPT}</body></html>"
    )
    return HTMLResponse(page)
