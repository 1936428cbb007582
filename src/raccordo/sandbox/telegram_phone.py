"""The sandbox's Telegram customer page: pick a bot and a customer, write as that customer (text, a
shared contact, a location), press the buttons of the bot's answers, edit the last message.

``/_sandbox/telegram/phone?lang=it|en``: a page of its own (no product code), its texts in Italian and
English below; it drives the control API of ``telegram.py``. Linked from the WhatsApp phone page.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from raccordo.sandbox import phone_shell
from raccordo.sandbox.telegram_state import SANDBOX, BotApiError

ROUTER = APIRouter(tags=["telegram sandbox"])

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer phone (Telegram sandbox)",
        "bot": "Bot",
        "user": "Customer's Telegram id",
        "name": "Customer's first name",
        "message": "Message",
        "send": "Send",
        "edit": "Edit my last message",
        "contact": "Share my phone number",
        "phone": "Phone number",
        "location": "Send my location",
        "none": "No bot is registered: POST /_sandbox/telegram/bots first.",
        "you": "Customer",
        "agent": "Bot",
    },
    "it": {
        "title": "Telefono del cliente (sandbox Telegram)",
        "bot": "Bot",
        "user": "Id Telegram del cliente",
        "name": "Nome del cliente",
        "message": "Messaggio",
        "send": "Invia",
        "edit": "Modifica il mio ultimo messaggio",
        "contact": "Condividi il mio numero",
        "phone": "Numero di telefono",
        "location": "Invia la mia posizione",
        "none": "Nessun bot registrato: prima POST /_sandbox/telegram/bots.",
        "you": "Cliente",
        "agent": "Bot",
    },
}

_STYLE = ".buttons button{margin:.2rem}"

_SCRIPT = """let last = null;
const base = () => `/_sandbox/telegram/bots/${$("bot").value}`;
async function post(body) {
  const answer = await fetch(`${base()}/users/${$("user").value}/messages`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({first_name: $("name").value, ...body})});
  const data = await answer.json();
  if (data.message_id && body.type !== "edit" && body.type !== "callback") last = data.message_id;
  await refresh();
}
async function refresh() {
  if (!$("bot").value || !$("user").value) return;
  const answer = await fetch(`/_sandbox/telegram/phone/${$("bot").value}/${$("user").value}`);
  const data = await answer.json();
  const chat = $("chat"); chat.replaceChildren();
  for (const item of data.messages) {
    const row = document.createElement("p");
    row.className = item.from;
    row.textContent = `${texts[item.from]}: ${item.text}`;
    if (item.buttons && item.buttons.length) {
      const box = document.createElement("div"); box.className = "buttons";
      for (const button of item.buttons) {
        const b = document.createElement("button"); b.type = "button"; b.textContent = button.text;
        b.addEventListener("click", () => post({type: "callback", message_id: item.message_id, data: button.data}));
        box.append(b);
      }
      row.append(box);
    }
    chat.append(row);
  }
}
$("write").addEventListener("submit", (event) => {
  event.preventDefault(); post({type: "text", text: $("text").value}); $("text").value = "";
});
$("edit").addEventListener("click", () => {
  if (last) post({type: "edit", message_id: last, text: $("text").value});
});
$("contact").addEventListener("click", () => post({type: "contact", phone_number: $("phone").value, own: true}));
$("location").addEventListener("click", () => post({type: "location", latitude: 45.4642, longitude: 9.19}));
setInterval(refresh, 1500);
"""


@ROUTER.get("/_sandbox/telegram/phone", response_class=HTMLResponse)
def phone_page(lang: str = "it") -> HTMLResponse:
    lang = phone_shell.language(lang, TEXTS)
    t = {key: html.escape(value) for key, value in TEXTS[lang].items()}
    bots = "".join(
        f'<option value="{bot.id}">@{html.escape(bot.username)} ({bot.id})</option>' for bot in SANDBOX.bots.values()
    )
    controls = (
        f'<form id="write"><label>{t["message"]} <input id="text" required></label><button>{t["send"]}</button></form>'
        f'<button id="edit" type="button">{t["edit"]}</button>'
        f'<label>{t["phone"]} <input id="phone" value="+393471234567"></label>'
        f'<button id="contact" type="button">{t["contact"]}</button>'
        f'<button id="location" type="button">{t["location"]}</button>'
    )
    if not bots:
        body = f'<p>{t["none"]}</p><select id="bot" hidden></select><input id="user" type="hidden">'
        body += f'<input id="name" type="hidden"><div id="chat" hidden></div><div hidden>{controls}</div>'
    else:
        body = (
            f'<label>{t["bot"]} <select id="bot">{bots}</select></label>'
            f'<label>{t["user"]} <input id="user" value="424242424" inputmode="numeric"></label>'
            f'<label>{t["name"]} <input id="name" value="Giulia"></label>'
            f'<div id="chat" aria-live="polite"></div>{controls}'
        )
    return phone_shell.page(
        lang=lang,
        title=TEXTS[lang]["title"],
        body=body,
        chat_texts={"customer": TEXTS[lang]["you"], "agent": TEXTS[lang]["agent"]},
        script=_SCRIPT,
        style=_STYLE,
    )


def _buttons(markup: Any) -> list[dict[str, str]]:
    rows = (markup or {}).get("inline_keyboard") or [] if isinstance(markup, dict) else []
    return [
        {"text": str(b.get("text")), "data": str(b.get("callback_data"))}
        for row in rows
        for b in row
        if isinstance(b, dict) and b.get("callback_data")
    ]


@ROUTER.get("/_sandbox/telegram/phone/{bot_id}/{user_id}")
def phone_conversation(bot_id: int, user_id: int) -> Response:
    try:
        bot = SANDBOX.bot_by_id(bot_id)
    except BotApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.error_code)
    mine = [{"from": "customer", "text": m["text"], "at": m["at"]} for m in bot.received if m["user_id"] == user_id]
    answers = [
        {
            "from": "agent",
            "text": s["text"],
            "at": s["at"],
            "message_id": s["message_id"],
            "buttons": _buttons(s.get("reply_markup")),
        }
        for s in bot.sent
        if s["chat_id"] == user_id
    ]
    return JSONResponse({"messages": sorted(mine + answers, key=lambda m: m["at"])})
