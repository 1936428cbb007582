"""The sandbox's SMS customer phone: pick a Twilio or Vonage account the sandbox plays and a customer
number, text as that customer, and see the agent's answers with their delivery status.

``/_sandbox/sms/phone?lang=it|en``: a page of its own (no product code), its texts in Italian and
English below; it drives the control APIs of ``twilio.py`` and ``vonage.py``.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from raccordo.sandbox import phone_shell
from raccordo.sandbox.sms_state import SANDBOX

ROUTER = APIRouter(tags=["sms sandbox"])

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer phone (SMS sandbox)",
        "account": "Business number",
        "customer": "Customer number",
        "message": "Text message",
        "send": "Send",
        "none": "No SMS account is registered: POST /_sandbox/twilio/accounts or /_sandbox/vonage/accounts first.",
        "customer_says": "Customer",
        "agent": "Agent",
    },
    "it": {
        "title": "Telefono del cliente (sandbox SMS)",
        "account": "Numero aziendale",
        "customer": "Numero del cliente",
        "message": "SMS",
        "send": "Invia",
        "none": "Nessun account SMS registrato: prima POST /_sandbox/twilio/accounts o /_sandbox/vonage/accounts.",
        "customer_says": "Cliente",
        "agent": "Operatore",
    },
}

_SCRIPT = (
    phone_shell.status_chat_refresh(
        account="account",
        customer="number",
        conversation_url="/_sandbox/sms/phone/${account}/${encodeURIComponent(number)}",
    )
    + """$("write").addEventListener("submit", async (event) => {
  event.preventDefault();
  const [provider, id] = $("account").value.split("/");
  const customer = encodeURIComponent($("customer").value);
  await fetch(`/_sandbox/${provider}/accounts/${id}/customers/${customer}/messages`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({text: $("text").value}),
  });
  $("text").value = "";
  await refresh();
});
setInterval(refresh, 1500);
"""
)


@ROUTER.get("/_sandbox/sms/phone", response_class=HTMLResponse)
def phone_page(lang: str = "it") -> HTMLResponse:
    lang = phone_shell.language(lang, TEXTS)
    t = TEXTS[lang]
    accounts = "".join(
        f'<option value="{html.escape(a.provider)}/{html.escape(a.account_id)}">'
        f"{html.escape(', '.join(a.numbers))} ({html.escape(a.provider.title())})</option>"
        for a in SANDBOX.accounts.values()
    )
    if not accounts:
        body = f'<p>{html.escape(t["none"])}</p><form id="write"></form><select id="account"></select>'
        body += '<input id="customer" type="hidden"><input id="text" type="hidden"><div id="chat"></div>'
    else:
        body = (
            f'<label>{html.escape(t["account"])} <select id="account">{accounts}</select></label>'
            f'<label>{html.escape(t["customer"])} <input id="customer" value="+393471234567" inputmode="tel"></label>'
            '<div id="chat" aria-live="polite"></div>'
            f'<form id="write"><label>{html.escape(t["message"])} <input id="text" required></label>'
            f"<button>{html.escape(t['send'])}</button></form>"
        )
    return phone_shell.page(
        lang=lang,
        title=t["title"],
        body=body,
        chat_texts={"customer": t["customer_says"], "agent": t["agent"]},
        script=_SCRIPT,
    )


@ROUTER.get("/_sandbox/sms/phone/{provider}/{account_id}/{number}")
def phone_conversation(provider: str, account_id: str, number: str) -> Response:
    """What the customer ``number`` texted and the answers they got, oldest first."""
    account = SANDBOX.get(provider, account_id)
    if account is None:
        return JSONResponse({"messages": []}, status_code=404)
    digits = number.lstrip("+")
    rows: list[dict[str, Any]] = [
        {"from": "customer", "text": m["text"], "at": m["at"]}
        for m in account.received
        if str(m["from"]).lstrip("+") == digits
    ]
    rows += [
        {"from": "agent", "text": m.get("body") or m.get("text", ""), "status": m.get("status"), "at": m.get("at", 0)}
        for m in account.sent
        if str(m["to"]).lstrip("+") == digits
    ]
    rows.sort(key=lambda row: row["at"])
    return JSONResponse({"messages": rows})
