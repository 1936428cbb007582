"""The sandbox's Messenger/Instagram customer page: pick a page (or Instagram account) and a customer id,
write as that customer, see the agent's answers, and read them (which sends the delivery and read events).

``/_sandbox/meta/phone?lang=it|en``: a page of its own (no product code), its texts in Italian and English
below; it drives the control API of ``messenger.py``.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from raccordo.sandbox import messenger_customer as customer
from raccordo.sandbox import phone_shell
from raccordo.sandbox.messenger_state import SANDBOX, SandboxError

ROUTER = APIRouter(tags=["messenger sandbox"])

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer on Messenger and Instagram (sandbox)",
        "page": "Page or Instagram account",
        "customer": "Customer id (PSID / IGSID)",
        "message": "Message",
        "send": "Send",
        "read": "Mark the answers read",
        "none": "No page is registered: POST /_sandbox/meta/pages first.",
        "you": "Customer",
        "agent": "Agent",
    },
    "it": {
        "title": "Cliente su Messenger e Instagram (sandbox)",
        "page": "Pagina o account Instagram",
        "customer": "ID del cliente (PSID / IGSID)",
        "message": "Messaggio",
        "send": "Invia",
        "read": "Segna le risposte come lette",
        "none": "Nessuna pagina registrata: prima POST /_sandbox/meta/pages.",
        "you": "Cliente",
        "agent": "Operatore",
    },
}

_LINKS = '<p><a href="/_sandbox/whatsapp/phone?lang={lang}">WhatsApp</a></p>'

# What the customer's message posts: the sandbox's control API fields.
_SENT = '{type: "text", text: $("text").value}'
_SCRIPT = phone_shell.write_and_read_script(
    path="/_sandbox/meta/pages", account="page", customer="psid", send="events", body=_SENT
)


@ROUTER.get("/_sandbox/meta/phone", response_class=HTMLResponse)
def phone_page(lang: str = "it") -> HTMLResponse:
    lang = phone_shell.language(lang, TEXTS)
    t = TEXTS[lang]
    pages = "".join(
        f'<option value="{html.escape(p.page_id)}">{html.escape(p.kind.title())}: {html.escape(p.name)} '
        f"({html.escape(p.account_id)})</option>"
        for p in SANDBOX.pages.values()
    )
    if not pages:
        body = f'<p>{html.escape(t["none"])}</p><form id="write"></form><select id="page"></select>'
        body += '<input id="customer" type="hidden"><input id="text" type="hidden">'
        body += '<div id="chat"></div><button id="read" hidden></button>'
    else:
        body = (
            f'<label>{html.escape(t["page"])} <select id="page">{pages}</select></label>'
            f"<label>{html.escape(t['customer'])}"
            ' <input id="customer" value="1254477777772919" inputmode="numeric"></label>'
            '<div id="chat" aria-live="polite"></div>'
            f'<form id="write"><label>{html.escape(t["message"])} <input id="text" required></label>'
            f"<button>{html.escape(t['send'])}</button></form>"
            f'<button id="read" type="button">{html.escape(t["read"])}</button>'
        )
    return phone_shell.page(
        lang=lang,
        title=t["title"],
        links=_LINKS.format(lang=lang),
        body=body,
        chat_texts={"customer": t["you"], "agent": t["agent"]},
        script=_SCRIPT,
    )


def _written(event: dict[str, Any]) -> str:
    message = event.get("message") or {}
    if message.get("text"):
        return str(message["text"])
    for name in ("postback", "reaction"):
        if event.get(name):
            return f"[{name}] {event[name].get('title') or event[name].get('emoji') or ''}".strip()
    attachments = message.get("attachments") or [{}]
    return f"[{attachments[0].get('type') or ('deleted' if message.get('is_deleted') else 'message')}]"


def _conversation(page_id: str, psid: str) -> list[dict[str, Any]]:
    page = SANDBOX.page(page_id)
    mine = [
        {"from": "customer", "text": _written(m["event"]), "at": m["at"], "status": ""}
        for m in page.received
        if m["psid"] == psid
    ]
    answers = []
    for sent in page.sent:
        if sent["psid"] != psid:
            continue
        message = sent["payload"].get("message") or {}
        text = message.get("text") or f"[{(message.get('attachment') or {}).get('type', 'file')}]"
        if sent["payload"].get("tag"):
            text += f" ({sent['payload']['tag']})"
        answers.append({"from": "agent", "text": str(text), "at": sent["at"], "status": sent.get("read", "")})
    return sorted(mine + answers, key=lambda m: m["at"])


@ROUTER.get("/_sandbox/meta/pages/{page_id}/phone/{psid}")
def phone_conversation(page_id: str, psid: str) -> Response:
    try:
        return JSONResponse({"messages": _conversation(page_id, psid)})
    except SandboxError as exc:
        return JSONResponse(exc.body(), status_code=exc.http_status)


@ROUTER.post("/_sandbox/meta/pages/{page_id}/phone/{psid}/read")
def read_answers(page_id: str, psid: str) -> Response:
    """The customer opens the chat: every unread answer is reported delivered, then read."""
    try:
        page = SANDBOX.page(page_id)
    except SandboxError as exc:
        return JSONResponse(exc.body(), status_code=exc.http_status)
    unread = [s for s in page.sent if s["psid"] == psid and not s.get("read")]
    for sent in unread:
        sent["read"] = "read"
    if unread:
        mids, watermark = [s["mid"] for s in unread], customer.now_ms()
        for state in ("delivered", "read"):
            event = customer.status_event(page, psid, state, mids, watermark)
            customer.deliver(page, customer.envelope(page, [event]))
    return JSONResponse({"read": [s["mid"] for s in unread]})
