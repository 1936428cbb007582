"""The sandbox's customer phone page: pick a business number and a customer, write as that customer,
see the agent's answers, and read them (which sends the ``read`` status back, as the phone would).

``/_sandbox/whatsapp/phone?lang=it|en``: a page of its own (no product code), its texts in Italian and
English below; it drives the control API of ``whatsapp.py``.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from raccordo.sandbox import phone_shell
from raccordo.sandbox import whatsapp_customer as customer
from raccordo.sandbox.whatsapp_state import SANDBOX, SandboxError

ROUTER = APIRouter(tags=["whatsapp sandbox"])

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer phone (WhatsApp sandbox)",
        "number": "Business number",
        "customer": "Customer number (wa_id)",
        "name": "Customer name",
        "message": "Message",
        "send": "Send",
        "read": "Mark the answers read",
        "none": "No business number is registered: POST /_sandbox/whatsapp/numbers first.",
        "you": "Customer",
        "agent": "Agent",
        "review": "Review the business's message templates",
    },
    "it": {
        "title": "Telefono del cliente (sandbox WhatsApp)",
        "number": "Numero aziendale",
        "customer": "Numero del cliente (wa_id)",
        "name": "Nome del cliente",
        "message": "Messaggio",
        "send": "Invia",
        "read": "Segna le risposte come lette",
        "none": "Nessun numero aziendale registrato: prima POST /_sandbox/whatsapp/numbers.",
        "you": "Cliente",
        "agent": "Operatore",
        "review": "Esamina i modelli di messaggio dell'azienda",
    },
}

_LINKS = """<p><a href="/_sandbox/whatsapp/templates?lang={lang}">{review}</a>
· <a href="/_sandbox/telegram/phone?lang={lang}">Telegram</a> · <a href="/_sandbox/sms/phone?lang={lang}">SMS</a>
· <a href="/_sandbox/meta/phone?lang={lang}">Messenger / Instagram</a></p>"""

# What the customer's message posts: the sandbox's control API fields.
_SENT = '{type: "text", text: $("text").value, name: $("name").value}'
_SCRIPT = phone_shell.write_and_read_script(
    path="/_sandbox/whatsapp/numbers", account="number", customer="wa", send="messages", body=_SENT
)


@ROUTER.get("/_sandbox/whatsapp/phone", response_class=HTMLResponse)
def phone_page(lang: str = "it") -> HTMLResponse:
    lang = phone_shell.language(lang, TEXTS)
    t = TEXTS[lang]
    numbers = "".join(
        f'<option value="{html.escape(n.phone_number_id)}">{html.escape(n.display_phone_number)} '
        f"({html.escape(n.phone_number_id)})</option>"
        for n in SANDBOX.numbers.values()
    )
    if not numbers:
        body = f'<p>{html.escape(t["none"])}</p><form id="write"></form><select id="number"></select>'
        body += '<input id="customer" type="hidden"><input id="name" type="hidden"><input id="text" type="hidden">'
        body += '<div id="chat"></div><button id="read" hidden></button>'
    else:
        body = (
            f'<label>{html.escape(t["number"])} <select id="number">{numbers}</select></label>'
            f"<label>{html.escape(t['customer'])}"
            ' <input id="customer" value="393471234567" inputmode="numeric"></label>'
            f'<label>{html.escape(t["name"])} <input id="name" value="Giulia Bianchi"></label>'
            '<div id="chat" aria-live="polite"></div>'
            f'<form id="write"><label>{html.escape(t["message"])} <input id="text" required></label>'
            f"<button>{html.escape(t['send'])}</button></form>"
            f'<button id="read" type="button">{html.escape(t["read"])}</button>'
        )
    return phone_shell.page(
        lang=lang,
        title=t["title"],
        links=_LINKS.format(lang=lang, review=html.escape(t["review"])),
        body=body,
        chat_texts={"customer": t["you"], "agent": t["agent"]},
        script=_SCRIPT,
    )


def _conversation(phone_number_id: str, wa_id: str) -> list[dict[str, Any]]:
    number = SANDBOX.number(phone_number_id)
    mine = [
        {"from": "customer", "text": m["text"], "at": m["at"], "status": ""}
        for m in number.received
        if m["wa_id"] == wa_id
    ]
    answers = []
    for sent in number.sent:
        if sent["to"] != wa_id:
            continue
        payload = sent["payload"]
        kind = payload.get("type", "text")
        body = payload.get(kind) or {}
        if kind == "interactive":
            text = (body.get("body") or {}).get("text")
        elif kind == "template":
            text = f"[{body.get('name')}]"
        else:
            text = body.get("body") or body.get("caption") or body.get("filename")
        answers.append(
            {"from": "agent", "text": str(text or f"[{kind}]"), "at": sent["at"], "status": sent.get("read", "")}
        )
    return sorted(mine + answers, key=lambda m: m["at"])


@ROUTER.get("/_sandbox/whatsapp/numbers/{phone_number_id}/phone/{wa_id}")
def phone_conversation(phone_number_id: str, wa_id: str) -> Response:
    try:
        return JSONResponse({"messages": _conversation(phone_number_id, wa_id)})
    except SandboxError as exc:
        return JSONResponse(exc.body(), status_code=exc.http_status)


@ROUTER.post("/_sandbox/whatsapp/numbers/{phone_number_id}/phone/{wa_id}/read")
def read_answers(phone_number_id: str, wa_id: str) -> Response:
    """The customer opens the chat: every unread answer is reported ``delivered`` then ``read``."""
    try:
        number = SANDBOX.number(phone_number_id)
    except SandboxError as exc:
        return JSONResponse(exc.body(), status_code=exc.http_status)
    unread = [s for s in number.sent if s["to"] == wa_id and not s.get("read")]
    for sent in unread:
        sent["read"] = "read"
        for payload in customer.statuses(number, sent["id"], ["delivered", "read"]):
            customer.deliver(number, payload)
    return JSONResponse({"read": [s["id"] for s in unread]})
