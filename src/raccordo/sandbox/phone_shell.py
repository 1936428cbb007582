"""What the sandbox's customer phone pages (WhatsApp, SMS, Messenger/Instagram, Telegram) share: the HTML
shell and its style, the Italian/English choice, and the script that shows the chat with each answer's
delivery status. Each provider's module keeps its own texts, form, routes and conversation.

The pages are the sandbox's own (no product code, no templates): plain strings, so a provider's script is
written as ordinary JavaScript and placed in the shell as it is.
"""

from __future__ import annotations

import html
import json

from fastapi.responses import HTMLResponse

DEFAULT_LANGUAGE = "it"

# Why a line of its own: Telegram styles its answer buttons where the others style the status.
STATUS_STYLE = ".status{color:#666;font-size:.8em}"

_HEAD = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:34rem;margin:1rem auto}}label{{display:block;margin:.4rem 0}}
#chat{{border:1px solid #ccc;min-height:12rem;padding:.5rem;margin:.5rem 0}}.agent{{text-align:right}}
"""


def language(lang: str, texts: dict[str, dict[str, str]]) -> str:
    """The page's language: the one asked for when the page has its texts, Italian otherwise."""
    return lang if lang in texts else DEFAULT_LANGUAGE


def page(
    *,
    lang: str,
    title: str,
    body: str,
    chat_texts: dict[str, str],
    script: str,
    style: str = STATUS_STYLE,
    links: str = "",
) -> HTMLResponse:
    """The whole page: ``title`` is escaped here, ``body`` and ``links`` are HTML the caller escaped; the
    script finds ``texts`` (who wrote each chat row) and ``$`` (an element by id) already defined."""
    shell = _HEAD.format(lang=lang, title=html.escape(title))
    return HTMLResponse(
        f"{shell}{style}</style></head><body>\n<h1>{html.escape(title)}</h1>{links}{body}\n<script>\n"
        f"const texts = {json.dumps(chat_texts)};\n"
        "const $ = (id) => document.getElementById(id);\n"
        f"{script}</script></body></html>"
    )


def status_chat_refresh(*, account: str, customer: str, conversation_url: str) -> str:
    """The script's ``refresh()``: it reads the picked account (the select ``account``) and customer (the
    input ``customer``) into the variables of those names and returns early when one is missing;
    ``conversation_url`` is the JavaScript template literal of the conversation to fetch; each message
    becomes a row, an answer's delivery status after it."""
    chosen = f'  const {account} = $("{account}").value, {customer} = $("customer").value;\n'
    chosen += f"  if (!{account} || !{customer}) return;\n"
    return (
        "async function refresh() {\n"
        f"{chosen}"
        f"  const answer = await fetch(`{conversation_url}`);\n"
        """  const data = await answer.json();
  const chat = $("chat"); chat.replaceChildren();
  for (const item of data.messages) {
    const row = document.createElement("p");
    row.className = item.from;
    row.textContent = `${texts[item.from]}: ${item.text} `;
    if (item.status) {
      const s = document.createElement("span");
      s.className = "status"; s.textContent = item.status; row.append(s);
    }
    chat.append(row);
  }
}
"""
    )


# A ``post(path, body)`` for the pages whose customer sends JSON to the sandbox's control API, the chat
# refreshed once the sandbox has answered.
POST_THEN_REFRESH = """async function post(path, body) {
  await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  await refresh();
}
"""


def write_and_read_script(*, path: str, account: str, customer: str, send: str, body: str) -> str:
    """The whole script of a page whose customer writes (``{path}/<account>/customers/<customer>/{send}``
    with ``body``, JavaScript) and reads the answers (``{path}/<account>/phone/<customer>/read``), the
    chat refreshed every 1.5 s from ``{path}/<account>/phone/<customer>``; see ``status_chat_refresh``."""
    picked = f'${{$("{account}").value}}'
    send_url = f'{path}/{picked}/customers/${{$("customer").value}}/{send}'
    read_url = f'{path}/{picked}/phone/${{$("customer").value}}/read'
    return (
        status_chat_refresh(
            account=account, customer=customer, conversation_url=f"{path}/${{{account}}}/phone/${{{customer}}}"
        )
        + POST_THEN_REFRESH
        + f"""$("write").addEventListener("submit", (event) => {{
  event.preventDefault();
  post(`{send_url}`,
       {body});
  $("text").value = "";
}});
$("read").addEventListener("click", () =>
  post(`{read_url}`, {{}}));
setInterval(refresh, 1500);
"""
    )
